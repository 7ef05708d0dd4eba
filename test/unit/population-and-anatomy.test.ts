/**
 * Applicability and population through the services, from what an import
 * indexed: a US image without Body Part Examined is matched through its
 * Anatomic Region Sequence code; an image with none says which sources were
 * missing; a patient outside the manifest's intended population is analysed
 * and the run carries a warning (stored, and over the IPC contract); an
 * unknown age gives no warning but is recorded as unknown; per-image scores
 * are stored with their labels (the viewer's jump to the strongest image).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AnalysisResultSchema } from '../../contract/ipc-contract';
import { useAnalysedLibrary } from '../fixtures/analysed-library';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec, syntheticDicom } from '../fixtures/synthetic-dicom';

const ROOT_UID = '1.2.826.0.1.3680043.10.1138.950';
const library = useAnalysedLibrary('vigil-population-');

const breastCode: DicomElementSpec = {
  tag: 0x00082218, // Anatomic Region Sequence
  vr: 'SQ',
  value: [
    [
      { tag: 0x00080100, vr: 'SH', value: '76752008' },
      { tag: 0x00080102, vr: 'SH', value: 'SCT' },
      { tag: 0x00080104, vr: 'LO', value: 'Breast' },
    ],
  ],
};
const age = (value: string): DicomElementSpec => ({ tag: 0x00101010, vr: 'AS', value });

/** A US study of `images` images (instance k brighter than k-1) with the given extra attributes. */
function writeStudy(n: number, images: number, extra: DicomElementSpec[], over: { birthDate?: string; studyDate?: string } = {}): string {
  const study = `${ROOT_UID}.${n}`;
  const dir = join(library.root, 'in', String(n));
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= images; i++) {
    const pixels = Uint16Array.from({ length: 64 }, (_, k) => (k < 8 * i ? 1000 : 0));
    writeFileSync(
      join(dir, `${i}.dcm`),
      syntheticDicom({ modality: 'US', patientId: `P${n}`, birthDate: '', studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.${i}`, instanceNumber: i, pixels, extra, ...over }),
    );
  }
  return study;
}

beforeEach(() => {
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  writeModelPackage(
    join(library.root, 'models', 'breast'),
    onnx,
    classifierManifest(onnx, {
      schemaVersion: 3,
      id: 'test-breast-us',
      applicability: { modalities: ['US'], bodyParts: ['BREAST'] },
      intendedPopulation: { ageYears: { min: 25, max: 75 }, note: 'Test population.' },
    }),
  );
});
describe('applicability from the Anatomic Region Sequence, and the intended population', () => {
  it('analyses a coded breast image, warns for a patient outside the population, and says which sources were missing', async () => {
    const elderly = writeStudy(1, 3, [breastCode, age('082Y')]);
    const unknownAge = writeStudy(2, 1, [breastCode]);
    const uncoded = writeStudy(3, 1, [age('054Y')]);
    const inside = writeStudy(4, 1, [breastCode], { birthDate: '19800101', studyDate: '20240601' });
    const s = await library.analyse([join(library.root, 'in')]);
    const only = (study: string) => {
      const [r, ...more] = s.analysis.resultsForStudy(study);
      expect(more).toEqual([]);
      return r!;
    };

    const warned = only(elderly);
    expect(warned.status, warned.reason ?? '').toBe('done');
    expect(warned.warnings).toEqual([
      { code: 'OUTSIDE_INTENDED_POPULATION', message: 'Outside intended population: patient 82 y; model intended for 25–75 y', patientAgeYears: 82, intendedAgeYears: { min: 25, max: 75 } },
    ]);
    expect(warned.population).toEqual({ patientAgeYears: 82, ageSource: 'PatientAge', intendedAgeYears: { min: 25, max: 75 }, note: 'Test population.' });
    // Three images: the per-image scores are stored with the labels of their columns.
    const cls = warned.outputs.find((o) => o.kind === 'classification') as { perImage?: number[][]; labels?: string[]; normalLabels?: string[] } | undefined;
    expect(cls?.perImage).toHaveLength(3);
    expect(cls).toMatchObject({ labels: ['bright'], normalLabels: [] });

    const unknown = only(unknownAge);
    expect(unknown.status).toBe('done');
    expect(unknown.warnings).toEqual([]);
    expect(unknown.population).toMatchObject({ patientAgeYears: null, ageSource: null, intendedAgeYears: { min: 25, max: 75 } });

    const fromDates = only(inside);
    expect(fromDates.warnings).toEqual([]);
    expect(fromDates.population).toMatchObject({ patientAgeYears: expect.closeTo(44.4, 1), ageSource: 'PatientBirthDate' });

    const refused = only(uncoded);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs BREAST', warnings: [] });

    // Over the IPC contract: the warning and the population reach the renderer as validated values.
    const ipc = await s.router.dispatch('analysis.results', { studyInstanceUid: elderly });
    expect(ipc.ok).toBe(true);
    if (!ipc.ok) return;
    const [result] = (ipc.value as { results: unknown[] }).results;
    const parsed = AnalysisResultSchema.parse(result);
    expect(parsed.warnings).toEqual(warned.warnings);
    expect(parsed.population).toEqual(warned.population);
  });
});
