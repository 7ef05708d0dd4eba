/**
 * Segmentation findings follow the manifest's declared rule (schema v2
 * `findings`): an anatomy parcellation (or an output that declares nothing)
 * gives per-label volumes as measurements that never flag a study; a lesion
 * label is positive when its volume reaches the stated minimum. The study
 * list's AI status and priority follow, and results stored before the rule
 * existed are re-read as measurements (library migration v5).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MANIFEST_SCHEMA_VERSION, type ModelManifest, parseManifest } from '../../electron/services/ai/model-manifest';
import { segmentationFindings, voxelVolumeMl } from '../../electron/services/ai/postprocessing';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinySegmenterModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

type SegmentationSpec = Extract<ModelManifest['outputs'][number], { kind: 'segmentation' }>;

const LABELS: SegmentationSpec['labels'] = [
  { index: 0, name: 'background', color: [0, 0, 0] },
  { index: 1, name: 'bright', color: [255, 0, 0] },
];

function segmenterManifest(onnx: Uint8Array, id: string, findings?: SegmentationSpec['findings']): ModelManifest {
  return classifierManifest(onnx, {
    schemaVersion: 2,
    id,
    name: `Test segmenter (${id})`,
    input: { unit: 'volume', tensors: [{ name: 'input', dtype: 'float32', shape: [1, 1, 'D', 'H', 'W'], layout: 'NCDHW' }] },
    preprocessing: [{ op: 'modalityRescale' }],
    outputs: [{ kind: 'segmentation', tensor: 'logits', method: 'argmax', labels: LABELS, ...(findings ? { findings } : {}) }],
  });
}

describe('manifest: the segmentation findings rule', () => {
  const onnx = tinySegmenterModel();
  const withOutput = (output: Record<string, unknown>, schemaVersion = 2) => ({ ...segmenterManifest(onnx, 'seg'), schemaVersion, outputs: [{ kind: 'segmentation', tensor: 'logits', method: 'argmax', labels: LABELS, ...output }] });

  it('came with schema version 2 (now 5), and a version-1 manifest without it still loads', () => {
    expect(MANIFEST_SCHEMA_VERSION).toBe(5);
    const v1 = parseManifest(withOutput({}, 1));
    expect(v1.ok).toBe(true);
    if (v1.ok) expect(v1.manifest.outputs[0]).not.toHaveProperty('findings');
  });

  it('accepts anatomy, and lesion with a minimum volume and optional labels', () => {
    expect(parseManifest(withOutput({ findings: { role: 'anatomy' } })).ok).toBe(true);
    expect(parseManifest(withOutput({ findings: { role: 'lesion', minVolumeMl: 0.5 } })).ok).toBe(true);
    expect(parseManifest(withOutput({ findings: { role: 'lesion', minVolumeMl: 0, labels: ['bright'] } })).ok).toBe(true);
  });

  it('refuses a rule it cannot apply, with the reason', () => {
    const reason = (output: Record<string, unknown>, version?: number) => {
      const r = parseManifest(withOutput(output, version));
      return r.ok ? null : r.reason;
    };
    expect(reason({ findings: { role: 'lesion' } })).toContain('outputs.0.findings.minVolumeMl');
    expect(reason({ findings: { role: 'lesion', minVolumeMl: -1 } })).toContain('minVolumeMl');
    expect(reason({ findings: { role: 'lesion', minVolumeMl: 1, labels: ['tumour'] } })).toContain('"tumour" is not one of the output\'s labels');
    expect(reason({ findings: { role: 'lesion', minVolumeMl: 1, labels: ['background'] } })).toContain('background (index 0)');
    expect(reason({ findings: { role: 'organ' } })).toContain('outputs.0.findings.role');
    expect(reason({ findings: { role: 'anatomy', minVolumeMl: 1 } })).toContain('outputs.0.findings');
    expect(reason({ findings: { role: 'anatomy' } }, 1)).toContain('findings needs schemaVersion 2');
  });

  it('names the versions it reads when refusing a newer one', () => {
    const r = parseManifest({ ...withOutput({}), schemaVersion: 6 });
    expect(r).toEqual({ ok: false, reason: 'manifest schemaVersion 6 is not supported (this Vigil reads versions 1, 2, 3, 4 and 5)' });
  });
});

describe('segmentationFindings', () => {
  const spec = (findings?: SegmentationSpec['findings']): SegmentationSpec => ({
    kind: 'segmentation',
    tensor: 'logits',
    method: 'argmax',
    labels: [...LABELS, { index: 2, name: 'edema', color: [0, 255, 0] }],
    ...(findings ? { findings } : {}),
  });
  // 1,000 voxels of which label 1 has 300 and label 2 has 20; 0.002 mL per voxel: 0.6 mL and 0.04 mL.
  const counts = [680, 300, 20];

  it('declares nothing: measurements with voxels and volume, never positive', () => {
    expect(segmentationFindings(spec(), counts, 1000, 0.002)).toEqual([
      { label: 'bright', score: 0.3, voxels: 300, volumeMl: expect.closeTo(0.6, 12), positive: false, measurement: true },
      { label: 'edema', score: 0.02, voxels: 20, volumeMl: expect.closeTo(0.04, 12), positive: false, measurement: true },
    ]);
  });

  it('anatomy: the same measurements', () => {
    expect(segmentationFindings(spec({ role: 'anatomy' }), counts, 1000, 0.002)).toEqual(segmentationFindings(spec(), counts, 1000, 0.002));
  });

  it('lesion: positive at or above the minimum volume, negative below it or when empty', () => {
    const f = segmentationFindings(spec({ role: 'lesion', minVolumeMl: 0.04 }), [980, 0, 20], 1000, 0.002);
    expect(f).toEqual([
      { label: 'bright', score: 0, voxels: 0, volumeMl: 0, positive: false, minVolumeMl: 0.04 },
      // 20 × 0.002 = 0.04000000000000001 or 0.039999…: exactly the minimum counts.
      { label: 'edema', score: 0.02, voxels: 20, volumeMl: expect.closeTo(0.04, 12), positive: true, minVolumeMl: 0.04 },
    ]);
    const small = segmentationFindings(spec({ role: 'lesion', minVolumeMl: 0.05 }), counts, 1000, 0.002);
    expect(small.map((x) => [x.label, x.positive])).toEqual([
      ['bright', true],
      ['edema', false],
    ]);
  });

  it('lesion with listed labels: only those can be positive, the others are measurements', () => {
    const f = segmentationFindings(spec({ role: 'lesion', minVolumeMl: 0, labels: ['edema'] }), counts, 1000, 0.002);
    expect(f.map((x) => ({ label: x.label, positive: x.positive, measurement: x.measurement ?? false }))).toEqual([
      { label: 'bright', positive: false, measurement: true },
      { label: 'edema', positive: true, measurement: false },
    ]);
  });

  it('lesion without geometry: the volume is unknown, so any voxel is positive', () => {
    const f = segmentationFindings(spec({ role: 'lesion', minVolumeMl: 100 }), [999, 1, 0], 1000, null);
    expect(f).toEqual([
      { label: 'bright', score: 0.001, voxels: 1, positive: true, minVolumeMl: 100 },
      { label: 'edema', score: 0, voxels: 0, positive: false, minVolumeMl: 100 },
    ]);
  });

  it('voxel volume from the index -> patient affine: oblique and anisotropic, none for one slice or no geometry', () => {
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    // Slice step 2.5 mm along z; rows 0.8 mm and columns 0.6 mm, rotated in-plane.
    const affine = [0, -s * 0.8, c * 0.6, 10, 0, c * 0.8, s * 0.6, -5, 2.5, 0, 0, 40, 0, 0, 0, 1];
    expect(voxelVolumeMl(affine, 10)).toBeCloseTo((2.5 * 0.8 * 0.6) / 1000, 12);
    expect(voxelVolumeMl(affine, 1)).toBeNull();
    expect(voxelVolumeMl(null, 10)).toBeNull();
  });
});

// Study list AI triage with real runs of the tiny segmenter (labels voxels above 0.5) on 4-slice CT series
// with geometry: 0.5 × 0.5 mm pixels, 4 mm apart, so each voxel is 1 mm³ = 0.001 mL.
const ANATOMY = '1.2.826.0.1.3680043.10.1138.940';
const LESION_LARGE = '1.2.826.0.1.3680043.10.1138.950';
const LESION_SMALL = '1.2.826.0.1.3680043.10.1138.960';
const UNDECLARED = '1.2.826.0.1.3680043.10.1138.970';
const ONE_PLACE = '1.2.826.0.1.3680043.10.1138.980';
const TWICE = '1.2.826.0.1.3680043.10.1138.990';

let root: string;
let services: VigilServices | undefined;

/** A 4 × 8 × 8 series whose first `bright` voxels (slice-major) are 1, the rest 0. */
/**
 * Four 8×8 slices 4 mm apart, the first `bright` voxels of the series at 1; `onePlace`: all at one position; `twice`:
 * each position sent twice (0, 0, 4, 4 mm).
 */
function writeSeries(study: string, bright: number, at: 'apart' | 'onePlace' | 'twice' = 'apart'): void {
  const dir = join(root, 'in', study);
  mkdirSync(dir, { recursive: true });
  for (let slice = 0; slice < 4; slice++) {
    const pixels = new Uint16Array(64);
    for (let i = 0; i < 64; i++) pixels[i] = slice * 64 + i < bright ? 1 : 0;
    writeFileSync(
      join(dir, `${slice + 1}.dcm`),
      syntheticDicom({
        rows: 8,
        columns: 8,
        pixels,
        studyInstanceUid: study,
        seriesInstanceUid: `${study}.1`,
        sopInstanceUid: `${study}.1.${slice + 1}`,
        instanceNumber: slice + 1,
        extra: [
          { tag: 0x00200032, vr: 'DS', value: `-2\\-2\\${at === 'onePlace' ? 0 : at === 'twice' ? Math.floor(slice / 2) * 4 : slice * 4}` },
          { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
        ],
      }),
    );
  }
}

function open(): Promise<VigilServices> {
  return openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, inferenceThreads: 1 });
}

async function analyse(s: VigilServices, study: string, modelId: string): Promise<void> {
  await s.analysis.analyze({ studyInstanceUid: study, modelId, provider: 'cpu' });
  await s.analysis.queue.whenIdle();
}

function aiOf(s: VigilServices, study: string) {
  return s.library.listStudies({}).studies.find((x) => x.studyInstanceUid === study)?.ai;
}

describe('study list AI status from segmentation findings', () => {
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'vigil-segfind-'));
    const onnx = tinySegmenterModel();
    writeModelPackage(join(root, 'models', 'anatomy'), onnx, segmenterManifest(onnx, 'seg-anatomy', { role: 'anatomy' }));
    writeModelPackage(join(root, 'models', 'lesion'), onnx, segmenterManifest(onnx, 'seg-lesion', { role: 'lesion', minVolumeMl: 0.05 }));
    writeModelPackage(join(root, 'models', 'undeclared'), onnx, { ...segmenterManifest(onnx, 'seg-undeclared'), schemaVersion: 1 });
    writeSeries(ANATOMY, 200);
    writeSeries(LESION_LARGE, 64);
    writeSeries(LESION_SMALL, 16);
    writeSeries(UNDECLARED, 100);
    writeSeries(ONE_PLACE, 16, 'onePlace');
    writeSeries(TWICE, 16, 'twice');
    services = await open();
    await services.library.import({ paths: [join(root, 'in')] });
  });

  afterEach(async () => {
    await services?.close();
    services = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it('an anatomy segmentation is "done" with volumes; a lesion above its minimum is "positive", below it "done"', async () => {
    const s = services!;
    await analyse(s, ANATOMY, 'seg-anatomy');
    await analyse(s, LESION_LARGE, 'seg-lesion');
    await analyse(s, LESION_SMALL, 'seg-lesion');

    const anatomy = s.analysis.resultsForStudy(ANATOMY)[0]!;
    expect(anatomy.status, anatomy.reason ?? '').toBe('done');
    expect(anatomy.findings).toEqual([{ label: 'bright', score: 200 / 256, voxels: 200, volumeMl: expect.closeTo(0.2, 9), positive: false, measurement: true }]);
    expect(aiOf(s, ANATOMY)).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });

    expect(s.analysis.resultsForStudy(LESION_LARGE)[0]!.findings).toEqual([{ label: 'bright', score: 0.25, voxels: 64, volumeMl: expect.closeTo(0.064, 9), positive: true, minVolumeMl: 0.05 }]);
    expect(aiOf(s, LESION_LARGE)).toMatchObject({ status: 'positive', priority: true, unreviewedPositive: true, triage: 'positive-unreviewed', toReview: 1 });

    expect(s.analysis.resultsForStudy(LESION_SMALL)[0]!.findings).toEqual([{ label: 'bright', score: 16 / 256, voxels: 16, volumeMl: expect.closeTo(0.016, 9), positive: false, minVolumeMl: 0.05 }]);
    expect(aiOf(s, LESION_SMALL)).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });

    const triaged = s.library.listStudies({ sortBy: 'aiPriority', sortDir: 'desc' }).studies.map((x) => x.studyInstanceUid);
    expect(triaged[0]).toBe(LESION_LARGE);
    expect(s.library.listStudies({ aiFilter: 'positive-unreviewed' }).studies.map((x) => x.studyInstanceUid)).toEqual([LESION_LARGE]);
  });

  it('slices that share one position make no volume: no mL (not a made-up 1 mm spacing), so any voxel of a lesion is positive', async () => {
    const s = services!;
    await analyse(s, ONE_PLACE, 'seg-lesion');
    const r = s.analysis.resultsForStudy(ONE_PLACE)[0]!;
    expect(r.status, r.reason ?? '').toBe('done');
    expect(r.findings).toEqual([{ label: 'bright', score: 16 / 256, voxels: 16, positive: true, minVolumeMl: 0.05 }]);
    const mask = r.outputs.find((o) => o.kind === 'segmentation');
    expect(mask?.kind === 'segmentation' ? mask.mask.sourceToPatient : 'no mask').toBeNull();
    // Positions that repeat but span a depth (each slice sent twice) keep a volume: the mean step, 4 mm over 3 steps.
    await analyse(s, TWICE, 'seg-lesion');
    const twice = s.analysis.resultsForStudy(TWICE)[0]!;
    expect(twice.findings).toEqual([{ label: 'bright', score: 16 / 256, voxels: 16, volumeMl: expect.closeTo((16 * 0.5 * 0.5 * (4 / 3)) / 1000, 9), positive: false, minVolumeMl: 0.05 }]);
  });

  it('a version-1 segmentation that declares nothing is measured, not flagged', async () => {
    const s = services!;
    await analyse(s, UNDECLARED, 'seg-undeclared');
    expect(s.analysis.resultsForStudy(UNDECLARED)[0]!.findings).toEqual([{ label: 'bright', score: 100 / 256, voxels: 100, volumeMl: expect.closeTo(0.1, 9), positive: false, measurement: true }]);
    expect(aiOf(s, UNDECLARED)).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });
  });

  it('migration v5: a stored "non-empty is positive" segmentation finding becomes a measurement; classification findings are untouched', async () => {
    let s = services!;
    await analyse(s, UNDECLARED, 'seg-undeclared');
    const id = s.analysis.resultsForStudy(UNDECLARED)[0]!.id;
    const classification = { label: 'nodule', score: 0.9, positive: true, threshold: 0.5 };
    await s.close();
    services = undefined;

    // Put the database back to schema v4 with the row as Vigil stored it then (no voxels, volume or rule).
    const db = new Database(join(root, 'data', 'library.sqlite'));
    db.prepare('UPDATE ai_results SET findings = ? WHERE id = ?').run(JSON.stringify([{ label: 'bright', score: 100 / 256, positive: true }, classification]), id);
    db.prepare('UPDATE schema_version SET version = 4').run();
    // v6's, v7's and v8's columns did not exist at v4 (migrating again adds them).
    db.exec(
      'ALTER TABLE studies DROP COLUMN patient_age; ALTER TABLE series DROP COLUMN anatomic_region; ALTER TABLE instances DROP COLUMN patient_key; ALTER TABLE instances DROP COLUMN anatomic_region; ALTER TABLE ai_jobs DROP COLUMN reader_vouch;',
    );
    const flaggedBefore = db
      .prepare<[number], { n: number }>("SELECT count(*) AS n FROM ai_results r, json_each(r.findings) f WHERE r.id = ? AND json_extract(f.value, '$.positive')")
      .get(id)!.n;
    expect(flaggedBefore).toBe(2);
    db.close();

    services = s = await open();
    const [result] = s.analysis.resultsForStudy(UNDECLARED);
    expect(result!.findings).toEqual([{ label: 'bright', score: 100 / 256, positive: false, measurement: true, voxels: 100, volumeMl: expect.closeTo(0.1, 9) }, classification]);
    // The classification finding still flags the study; the segmentation no longer does on its own.
    expect(aiOf(s, UNDECLARED)).toMatchObject({ status: 'positive', priority: true, unreviewedPositive: true, triage: 'positive-unreviewed', toReview: 1 });
    s.library.studyIndex.db.prepare('UPDATE ai_results SET findings = json_remove(findings, \'$[1]\') WHERE id = ?').run(id);
    expect(aiOf(s, UNDECLARED)).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });
    const version = s.library.studyIndex.db.prepare<[], { version: number }>('SELECT version FROM schema_version').get()!.version;
    expect(version).toBe(8);
  });
});
