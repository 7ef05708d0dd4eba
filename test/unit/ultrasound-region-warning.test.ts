/**
 * A model that crops ultrasound captures to their B-mode region (manifest op
 * cropUltrasoundRegion) analyses an image without a usable Sequence of
 * Ultrasound Regions whole: the run says so with a warning (how many images of
 * how many), stored with the result beside the population warning and carried
 * over the IPC contract. Images with a region, and models without the op, get none.
 * `vigil validate` keeps it per case and counts such cases (analysedWhole) in its JSON and text output, and
 * models.validate carries the count to the Validate-model page.
 * Then real US files with the shipped breast model (which crops to the region).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AnalysisResultSchema, RunWarningSchema, ValidationResultSchema } from '../../contract/ipc-contract';
import { analysedWholeLine, validateCommand } from '../../electron/cli/validate-command';
import { noUltrasoundRegionWarning, runInferenceJob } from '../../electron/services/ai/inference-job';
import { type ModelManifest, parseManifest } from '../../electron/services/ai/model-manifest';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { useAnalysedLibrary } from '../fixtures/analysed-library';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec, syntheticDicom, ultrasoundRegionItem, ultrasoundRegions, US_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';

const ROOT_UID = '1.2.826.0.1.3680043.10.1138.951';
const library = useAnalysedLibrary('vigil-us-region-warning-');

/** Sequence of Ultrasound Regions with one 2D tissue region (PS3.3 C.8.5.5), pixel columns x0..x1, rows y0..y1. */
const regions = (x0: number, y0: number, x1: number, y1: number): DicomElementSpec => ultrasoundRegions([ultrasoundRegionItem({ x0, y0, x1, y1 }, { flags: 2 })]);
const age = (value: string): DicomElementSpec => ({ tag: 0x00101010, vr: 'AS', value });

/** A US study; image k gets extra[k] (e.g. a region sequence). */
function writeStudy(n: number, perImage: DicomElementSpec[][], patientAge: string): string {
  const study = `${ROOT_UID}.${n}`;
  const dir = join(library.root, 'in', String(n));
  mkdirSync(dir, { recursive: true });
  perImage.forEach((extra, k) => {
    const i = k + 1;
    writeFileSync(
      join(dir, `${i}.dcm`),
      syntheticDicom({
        modality: 'US',
        sopClassUid: US_IMAGE_STORAGE,
        patientId: `P${n}`,
        studyInstanceUid: study,
        seriesInstanceUid: `${study}.1`,
        sopInstanceUid: `${study}.1.${i}`,
        instanceNumber: i,
        extra: [age(patientAge), ...extra],
      }),
    );
  });
  return study;
}

beforeEach(() => {
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  const common: Partial<ModelManifest> = { schemaVersion: 4, applicability: { modalities: ['US'] }, intendedPopulation: { ageYears: { min: 25, max: 75 } } };
  writeModelPackage(
    join(library.root, 'models', 'cropped'),
    onnx,
    classifierManifest(onnx, {
      ...common,
      id: 'test-us-cropped',
      preprocessing: [{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }, { op: 'resize', size: [4, 4], interpolation: 'linear' }, { op: 'normalize', method: 'minmax' }],
    }),
  );
  writeModelPackage(join(library.root, 'models', 'whole'), onnx, classifierManifest(onnx, { ...common, id: 'test-us-whole' }));
});
describe('a run that analysed ultrasound images without their B-mode region', () => {
  it('warns with how many images were analysed whole, stores it with the result, and carries it over IPC', async () => {
    const noSequence = writeStudy(1, [[]], '054Y');
    const withRegion = writeStudy(2, [[regions(1, 1, 6, 6)]], '054Y');
    const mixed = writeStudy(3, [[regions(1, 1, 6, 6)], [], []], '082Y');
    const s = await library.analyse([join(library.root, 'in')]);
    const run = (study: string, modelId: string) => {
      const r = s.analysis.resultsForStudy(study).find((x) => x.modelId === modelId);
      expect(r?.status, r?.reason ?? 'no result').toBe('done');
      return r!;
    };

    expect(run(noSequence, 'test-us-cropped').warnings).toEqual([
      {
        code: 'NO_ULTRASOUND_REGION',
        message: 'no B-mode region (Sequence of Ultrasound Regions) for 1 of 1 images: analysed whole, so text and scale bars around the image reach the model',
        units: 1,
        of: 1,
      },
    ]);
    expect(run(withRegion, 'test-us-cropped').warnings).toEqual([]);
    // A model that does not crop to the region has nothing to warn about.
    expect(run(noSequence, 'test-us-whole').warnings).toEqual([]);

    // Per image (unit "image"): two of three had no region; the population warning is kept, first.
    const both = run(mixed, 'test-us-cropped');
    expect(both.warnings.map((w) => w.code)).toEqual(['OUTSIDE_INTENDED_POPULATION', 'NO_ULTRASOUND_REGION']);
    expect(both.warnings[1]).toEqual(noUltrasoundRegionWarning(2, 3));
    expect(both.warnings[1]?.message).toContain('for 2 of 3 images');

    // Over the IPC contract: validated, the same values.
    const ipc = await s.router.dispatch('analysis.results', { studyInstanceUid: mixed });
    expect(ipc.ok).toBe(true);
    if (!ipc.ok) return;
    const parsed = (ipc.value as { results: unknown[] }).results.map((r) => AnalysisResultSchema.parse(r)).find((r) => r.modelId === 'test-us-cropped');
    expect(parsed?.warnings).toEqual(both.warnings);
  });
});

describe('RunWarningSchema', () => {
  it('still reads the population warning as stored before the union, and reads the region warning', () => {
    const stored = { code: 'OUTSIDE_INTENDED_POPULATION', message: 'Outside intended population: patient 54 y; model intended for 1–5 y', patientAgeYears: 54.3, intendedAgeYears: { min: 1, max: 5 } };
    expect(RunWarningSchema.parse(stored)).toEqual(stored);
    expect(RunWarningSchema.parse(noUltrasoundRegionWarning(1, 4))).toEqual({ code: 'NO_ULTRASOUND_REGION', message: expect.stringContaining('for 1 of 4 images') as string, units: 1, of: 4 });
    // Each code needs its own fields.
    expect(RunWarningSchema.safeParse({ code: 'NO_ULTRASOUND_REGION', message: 'x', patientAgeYears: 54, intendedAgeYears: {} }).success).toBe(false);
    expect(RunWarningSchema.safeParse({ code: 'OUTSIDE_INTENDED_POPULATION', message: 'x', units: 1, of: 1 }).success).toBe(false);
  });
});

describe('vigil validate on cases without a B-mode region', () => {
  it('keeps the warning per case and counts the cases analysed whole, in the CLI and over IPC', async () => {
    const cases = join(library.root, 'cases', 'bright');
    mkdirSync(cases, { recursive: true });
    mkdirSync(join(library.root, 'bundled'));
    writeFileSync(join(cases, 'whole.dcm'), syntheticDicom({ modality: 'US', sopClassUid: US_IMAGE_STORAGE, seriesInstanceUid: `${ROOT_UID}.9.1`, sopInstanceUid: `${ROOT_UID}.9.1.1`, extra: [age('054Y')] }));
    writeFileSync(join(cases, 'cropped.dcm'), syntheticDicom({ modality: 'US', sopClassUid: US_IMAGE_STORAGE, seriesInstanceUid: `${ROOT_UID}.9.2`, sopInstanceUid: `${ROOT_UID}.9.2.1`, extra: [age('054Y'), regions(1, 1, 6, 6)] }));
    const validate = async (json: boolean) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await validateCommand({ modelId: 'test-us-cropped', cases: join(library.root, 'cases'), json, provider: 'cpu', bundledModelsDir: join(library.root, 'bundled'), modelsDir: join(library.root, 'models'), out: (l) => out.push(l), err: (l) => err.push(l) });
      expect(code, err.join('\n')).toBe(0);
      return { out, err };
    };

    const json = JSON.parse((await validate(true)).out.join('\n')) as { n: number; analysedWhole: number; cases: { file: string; status: string; warnings?: unknown[] }[] };
    expect(json.n).toBe(2);
    expect(json.analysedWhole).toBe(1);
    const byName = (name: string) => json.cases.find((c) => c.file.endsWith(name));
    expect(byName('whole.dcm')).toMatchObject({ status: 'done', warnings: [noUltrasoundRegionWarning(1, 1)] });
    expect(byName('cropped.dcm')?.status).toBe('done');
    expect(byName('cropped.dcm')?.warnings).toBeUndefined();

    const text = await validate(false);
    expect(text.err).toContain(analysedWholeLine(1, 2));
    expect(analysedWholeLine(1, 2)).toMatch(/^! 1 of 2 case\(s\) analysed whole: no B-mode region/);

    // models.validate (the Validate-model page) carries the count, and each case's warning codes (not the messages).
    const s = await library.analyse([cases]);
    const validateOverIpc = async (modelId: string) => {
      const r = await s.router.dispatch('models.validate', { modelId, casesPath: join(library.root, 'cases') });
      if (!r.ok) throw new Error(r.error.message);
      return ValidationResultSchema.parse(r.value);
    };
    const overIpc = await validateOverIpc('test-us-cropped');
    expect(overIpc).toMatchObject({ n: 2, analysedWhole: 1 });
    expect(overIpc.cases.find((c) => c.file.endsWith('whole.dcm'))?.warnings).toEqual(['NO_ULTRASOUND_REGION']);
    expect(overIpc.cases.find((c) => c.file.endsWith('cropped.dcm'))?.warnings).toBeUndefined();
    // A model that does not crop to the region analyses every case whole by design: nothing to warn about.
    expect(await validateOverIpc('test-us-whole')).toMatchObject({ n: 2, analysedWhole: 0 });
  });
});

const REPO = resolve(__dirname, '../..');
const SHARED = resolve(REPO, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
/** Regions as test/integration/crops-ultrasound-region.test.ts checks them against dcmdump. */
const REAL_FILES: { file: string; warning: ReturnType<typeof noUltrasoundRegionWarning> | null; why: string }[] = [
  { file: 'dicom-pydicom/pydicom-data/data/OBXXXX1A.dcm', warning: null, why: 'a tissue region inside the image: cropped' },
  { file: 'dicom-pydicom/pydicom/test_files/examples_palette.dcm', warning: noUltrasoundRegionWarning(1, 1), why: 'its region runs past the 350 rows: analysed whole' },
  { file: 'dicom-pydicom/pydicom/test_files/examples_ybr_color.dcm', warning: noUltrasoundRegionWarning(30, 30), why: '30 frames, a region of a larger capture: every frame analysed whole' },
];
const realPresent = REAL_FILES.filter((f) => existsSync(join(SHARED, f.file)));
if (realPresent.length < REAL_FILES.length) {
  console.warn(`\n*** [ultrasound-region-warning] SKIPPING ${REAL_FILES.length - realPresent.length} of ${REAL_FILES.length} real US files: missing under ${SHARED} ***\n`);
}

describe.skipIf(realPresent.length === 0)('real US files with the shipped breast model (pydicom test data)', () => {
  const shipped = join(REPO, 'models', 'us-breast-malignancy');
  for (const { file, warning, why } of realPresent) {
    it(`${file}: ${why}`, async () => {
      const parsed = parseManifest(JSON.parse(readFileSync(join(shipped, 'manifest.json'), 'utf8')));
      if (!parsed.ok) throw new Error(parsed.reason);
      const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
      try {
        const m = parsed.manifest;
        const r = await runInferenceJob({ jobId: 'real', model: { id: m.id, modelPath: join(shipped, 'model.onnx'), manifest: m }, files: [join(SHARED, file)], provider: 'cpu', outputDir: join(library.root, 'out') }, sessions);
        expect(r.status, r.reason).toBe('done');
        expect(r.warnings).toEqual(warning ? [warning] : undefined);
      } finally {
        await sessions.close();
      }
    });
  }
});
