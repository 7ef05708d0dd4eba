/**
 * The analysis paths around a run: detection and heatmap outputs checked
 * against small fixture models, auto-run on import (the ai.autoRunOnImport
 * setting), and study deletion (library.deleteStudy) removing the study's rows,
 * its unshared managed copies, its results and result files — never a file
 * another instance references, never a referenced original.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InferenceRunner } from '../../electron/services/ai/inference-runner';
import type { ModelManifest } from '../../electron/services/ai/model-manifest';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { buildOnnxModel, tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const STUDY_A = '1.2.826.0.1.3680043.10.1138.700';
const STUDY_B = '1.2.826.0.1.3680043.10.1138.800';

let root: string;
let services: VigilServices;

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** heat = 2 * image: a heatmap output over the input grid. */
function heatmapModel(): Buffer {
  return buildOnnxModel({
    inputs: [{ name: 'image', shape: [1, 1, 'H', 'W'] }],
    outputs: [{ name: 'heat', shape: [1, 1, 'H', 'W'] }],
    initializers: [{ name: 'two', dims: [1], data: [2] }],
    nodes: [{ op: 'Mul', inputs: ['image', 'two'], outputs: ['heat'] }],
  });
}

/** Constant detections [1, 1, 3, 6] (x0, y0, x1, y1, score, class) in model-input pixels, tied to the input. */
const BOXES = [
  [0, 0, 2, 2, 0.9, 0], // kept
  [0, 0, 2, 1.8, 0.8, 0], // same class, IoU 0.9 with the first: suppressed by NMS
  [2, 2, 4, 4, 0.3, 1], // below the score threshold
];
function detectionModel(): Buffer {
  return buildOnnxModel({
    inputs: [{ name: 'image', shape: [1, 1, 'H', 'W'] }],
    outputs: [{ name: 'boxes', shape: [1, 1, 3, 6] }],
    initializers: [
      { name: 'zero', dims: [1], data: [0] },
      { name: 'const', dims: [1, 3, 6], data: BOXES.flat() },
    ],
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['image'], outputs: ['pooled'] },
      { op: 'Mul', inputs: ['pooled', 'zero'], outputs: ['z'] },
      { op: 'Add', inputs: ['z', 'const'], outputs: ['boxes'] },
    ],
  });
}

function installModels(): { classifier: ModelManifest; heatmap: ModelManifest; detector: ModelManifest } {
  const cls = tinyClassifierModel();
  const classifier = classifierManifest(cls);
  writeModelPackage(join(root, 'models', 'cls'), cls, classifier);
  const heat = heatmapModel();
  const heatmap = classifierManifest(heat, {
    id: 'test-heatmap',
    name: 'Test heatmap',
    outputs: [{ kind: 'heatmap', tensor: 'heat', label: 'brightness', normalize: 'minmax' }],
  });
  writeModelPackage(join(root, 'models', 'heat'), heat, heatmap);
  const det = detectionModel();
  const detector = classifierManifest(det, {
    id: 'test-detector',
    name: 'Test detector',
    outputs: [{ kind: 'detection', tensor: 'boxes', boxFormat: 'xyxy', normalized: false, labels: ['nodule', 'mass'], scoreThreshold: 0.5, nmsIouThreshold: 0.5 }],
  });
  writeModelPackage(join(root, 'models', 'det'), det, detector);
  return { classifier, heatmap, detector };
}

function writeStudy(dir: string, study: string, n: number, opts: { rows?: number } = {}): void {
  mkdirSync(join(root, 'in', dir), { recursive: true });
  const rows = opts.rows ?? 8;
  for (let i = 1; i <= n; i++) {
    const pixels = Uint16Array.from({ length: rows * rows }, (_, k) => k * 10 + i);
    writeFileSync(
      join(root, 'in', dir, `${i}.dcm`),
      syntheticDicom({ rows, columns: rows, pixels, studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.${i}`, instanceNumber: i }),
    );
  }
}

async function open(storageMode: 'copy' | 'reference' = 'copy'): Promise<VigilServices> {
  return openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, storageMode, inferenceThreads: 1 });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-analysis-'));
});
afterEach(async () => {
  await services?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('referenced originals', () => {
  it('refuses to analyse a referenced file changed since import, and analyses it again once re-imported', async () => {
    const { classifier } = installModels();
    services = await open('reference');
    writeStudy('a', STUDY_A, 2);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    // The file rewritten in place (other pixels, same size, a later mtime): until it is recorded again, its
    // findings must not be filed under this patient.
    const replaced = join(root, 'in', 'a', '2.dcm');
    const pixels = Uint16Array.from({ length: 8 * 8 }, (_, k) => 4000 - k);
    writeFileSync(replaced, syntheticDicom({ rows: 8, columns: 8, pixels, studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.2`, instanceNumber: 2 }));
    const later = new Date(Date.now() + 5000);
    utimesSync(replaced, later, later);
    await services.analysis.analyze({ studyInstanceUid: STUDY_A, modelId: classifier.id, provider: 'cpu' });
    await services.analysis.queue.whenIdle();
    const failed = services.analysis.queue.list().find((j) => j.modelId === classifier.id)!;
    expect(failed.status).toBe('failed');
    expect(failed.reason).toBe(`the referenced file ${replaced} changed since it was imported (size/modification time differ); re-import it to analyse it if it still holds this image, or delete the study if the original is gone`);
    expect(services.analysis.resultsForStudy(STUDY_A).filter((r) => r.modelId === classifier.id && r.status === 'done')).toEqual([]);

    // The file still holds this instance (same UIDs, re-saved): importing it again records it again, and it is analysed.
    const again = await services.library.import({ paths: [replaced] });
    expect(again).toMatchObject({ imported: 0, duplicates: 1, rejected: [] });
    await services.analysis.analyze({ studyInstanceUid: STUDY_A, modelId: classifier.id, provider: 'cpu' });
    await services.analysis.queue.whenIdle();
    const done = services.analysis.resultsForStudy(STUDY_A).filter((r) => r.modelId === classifier.id && r.status === 'done');
    expect(done).toHaveLength(1);
    expect(done[0]!.inputSopInstanceUids).toContain(`${STUDY_A}.1.2`);
  });

  it('refuses a referenced file replaced after the job was handed to the runner, before the job reads it', async () => {
    const { classifier } = installModels();
    services = await open('reference');
    writeStudy('a', STUDY_A, 2);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    const replaced = join(root, 'in', 'a', '2.dcm');
    // Whatever the service checked before handing the job on, the file is another one when the job reads it.
    const run = InferenceRunner.prototype.run;
    let handed = 0;
    const spy = vi.spyOn(InferenceRunner.prototype, 'run').mockImplementation(function (this: InferenceRunner, ...args: Parameters<InferenceRunner['run']>) {
      handed++;
      const pixels = Uint16Array.from({ length: 16 * 16 }, (_, k) => 4000 - k);
      writeFileSync(replaced, syntheticDicom({ rows: 16, columns: 16, pixels, studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.2`, instanceNumber: 2 }));
      return run.apply(this, args);
    });
    try {
      await services.analysis.analyze({ studyInstanceUid: STUDY_A, modelId: classifier.id, provider: 'cpu' });
      await services.analysis.queue.whenIdle();
    } finally {
      spy.mockRestore();
    }
    expect(handed).toBe(1);
    expect(services.analysis.queue.list().find((j) => j.modelId === classifier.id)).toMatchObject({
      status: 'failed',
      reason: `the referenced file ${replaced} changed since it was imported (size/modification time differ); re-import it to analyse it if it still holds this image, or delete the study if the original is gone`,
    });
    expect(services.analysis.resultsForStudy(STUDY_A).filter((r) => r.modelId === classifier.id && r.status === 'done')).toEqual([]);
  });
});

describe('detection and heatmap outputs', () => {
  it('decodes, thresholds and suppresses boxes, mapped to source pixels; writes a normalised heatmap on the source grid', async () => {
    const { heatmap, detector } = installModels();
    services = await open();
    writeStudy('a', STUDY_A, 1);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    await services.analysis.analyze({ studyInstanceUid: STUDY_A, provider: 'cpu' });
    await services.analysis.queue.whenIdle();
    const results = services.analysis.resultsForStudy(STUDY_A);

    const det = results.find((r) => r.modelId === detector.id)!;
    expect(det.status, det.reason ?? '').toBe('done');
    const boxes = det.outputs.find((o) => o.kind === 'detection');
    expect(boxes?.kind).toBe('detection');
    if (boxes?.kind !== 'detection') return;
    // 8×8 source resized to 4×4: model box [0,0]-[2,2] covers source pixels [0,0]-[4,4].
    expect(boxes.boxes).toHaveLength(1);
    expect(boxes.boxes[0]).toMatchObject({ label: 'nodule', slice: 0, sopInstanceUid: `${STUDY_A}.1.1` });
    expect(boxes.boxes[0]!.score).toBeCloseTo(0.9, 6);
    for (const [k, v] of Object.entries({ x0: 0, y0: 0, x1: 4, y1: 4 })) expect(boxes.boxes[0]![k as 'x0'], k).toBeCloseTo(v, 6);
    expect(det.findings).toEqual([
      { label: 'nodule', score: expect.closeTo(0.9, 6), positive: true, threshold: 0.5 },
      { label: 'mass', score: 0, positive: false, threshold: 0.5 },
    ]);

    const heat = results.find((r) => r.modelId === heatmap.id)!;
    expect(heat.status, heat.reason ?? '').toBe('done');
    const map = heat.outputs.find((o) => o.kind === 'heatmap');
    if (map?.kind !== 'heatmap') throw new Error('no heatmap output');
    expect(map.map).toMatchObject({ dtype: 'float32', shape: [1, 8, 8] });
    const file = walk(join(root, 'data', 'ai-results')).find((f) => f.endsWith(map.map.file));
    expect(file, `heatmap file ${map.map.file}`).toBeDefined();
    const raw = gunzipSync(readFileSync(file!));
    const values = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    expect(values).toHaveLength(64);
    // Pixels rise along the image: the normalised map runs from 0 (top-left) to 1 (bottom-right).
    expect(values[0]!).toBeCloseTo(0, 5);
    expect(values[63]!).toBeCloseTo(1, 5);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThanOrEqual(1 + 1e-6);
    expect(values[9]!).toBeLessThan(values[54]!);
  });
});

describe('auto-run on import', () => {
  it('analyses newly imported studies with every applicable model when the setting is on, and not when it is off', async () => {
    installModels();
    services = await open();
    expect(services.analysis.autoRunOnImport).toBe(false);
    writeStudy('a', STUDY_A, 1);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    await new Promise((r) => setTimeout(r, 200));
    await services.analysis.queue.whenIdle();
    expect(services.analysis.resultsForStudy(STUDY_A)).toEqual([]);

    services.analysis.setAutoRunOnImport(true);
    writeStudy('b', STUDY_B, 1);
    await services.library.import({ paths: [join(root, 'in', 'b')] });
    const deadline = Date.now() + 20_000;
    while (services.analysis.resultsForStudy(STUDY_B).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      await services.analysis.queue.whenIdle();
    }
    const results = services.analysis.resultsForStudy(STUDY_B);
    expect(results.map((r) => r.modelId).sort()).toEqual(['test-detector', 'test-heatmap', 'test-mean-classifier']);
    expect(results.every((r) => r.status === 'done')).toBe(true);
    // Study A was imported before the setting was on: auto-run covers the series not yet analysed.
    expect(services.analysis.resultsForStudy(STUDY_A).length === 0 || services.analysis.resultsForStudy(STUDY_A).length === 3).toBe(true);
  });

  it('reads a series\' facts once for all the models it still lacks, and not at all once every model has a job', async () => {
    installModels();
    services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, startAnalysisQueue: false });
    writeStudy('a', STUDY_A, 2);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    const facts = vi.spyOn(services.analysis, 'seriesFacts');

    await services.analysis.analyzeUnanalysed();
    expect(facts).toHaveBeenCalledTimes(1);
    expect(facts).toHaveBeenCalledWith(`${STUDY_A}.1`);
    const jobs = services.analysis.queue.list();
    expect(jobs.map((j) => j.modelId).sort()).toEqual(['test-detector', 'test-heatmap', 'test-mean-classifier']);
    expect(jobs.every((j) => j.status === 'pending' && j.studyUid === STUDY_A && j.seriesUid === `${STUDY_A}.1` && j.provider === 'auto' && j.priority === 0)).toBe(true);

    facts.mockClear();
    await services.analysis.analyzeUnanalysed();
    expect(facts).not.toHaveBeenCalled();
    expect(services.analysis.queue.list()).toHaveLength(3);
  });
});

describe('library.deleteStudy', () => {
  it('deletes rows, unshared managed copies, results and result files; keeps shared copies and other studies', async () => {
    installModels();
    services = await open('copy');
    writeStudy('a', STUDY_A, 3);
    writeStudy('b', STUDY_B, 2);
    await services.library.import({ paths: [join(root, 'in')] });
    await services.analysis.analyze({ studyInstanceUid: STUDY_A, provider: 'cpu' });
    await services.analysis.analyze({ studyInstanceUid: STUDY_B, provider: 'cpu' });
    await services.analysis.queue.whenIdle();
    const db = services.library.studyIndex.db;
    const copiesOf = (study: string) =>
      db
        .prepare<[string], { sop: string; path: string }>("SELECT i.sop_instance_uid AS sop, i.path FROM instances i JOIN series m ON m.id = i.series_ref JOIN studies s ON s.id = m.study_ref WHERE s.study_uid = ? AND i.storage = 'copy' ORDER BY i.sop_instance_uid")
        .all(study);
    const a = copiesOf(STUDY_A);
    const b = copiesOf(STUDY_B);
    expect(a).toHaveLength(3);
    for (const c of [...a, ...b]) expect(existsSync(join(root, 'data', c.path)), c.path).toBe(true);
    // A managed file of A that an instance of B also references (shared storage): it must survive.
    db.prepare('UPDATE instances SET path = ? WHERE sop_instance_uid = ?').run(a[0]!.path, b[0]!.sop);
    const resultFilesA = walk(join(root, 'data', 'ai-results')).filter((f) => f.includes(STUDY_A));
    expect(resultFilesA.length).toBeGreaterThan(0);
    expect(services.analysis.resultsForStudy(STUDY_A)).toHaveLength(3);
    const resultsB = services.analysis.resultsForStudy(STUDY_B).length;

    const deleted = await services.router.dispatch('library.deleteStudy', { studyInstanceUid: STUDY_A });
    expect(deleted).toEqual({ ok: true, value: { deleted: true } });

    expect(services.library.listStudies({}).studies.map((s) => s.studyInstanceUid)).toEqual([STUDY_B]);
    expect(db.prepare("SELECT count(*) AS n FROM instances WHERE sop_instance_uid LIKE ?").get(`${STUDY_A}.%`)).toEqual({ n: 0 });
    expect(existsSync(join(root, 'data', a[0]!.path))).toBe(true); // shared with B
    expect(existsSync(join(root, 'data', a[1]!.path))).toBe(false);
    expect(existsSync(join(root, 'data', a[2]!.path))).toBe(false);
    for (const c of b.slice(1)) expect(existsSync(join(root, 'data', c.path))).toBe(true);
    expect(services.analysis.resultsForStudy(STUDY_A)).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM ai_jobs WHERE study_uid = ?').get(STUDY_A)).toEqual({ n: 0 });
    for (const f of resultFilesA) expect(existsSync(f), f).toBe(false);
    expect(services.analysis.resultsForStudy(STUDY_B)).toHaveLength(resultsB);
    // The patient goes with their last study; unknown studies say so.
    expect(await services.router.dispatch('library.deleteStudy', { studyInstanceUid: STUDY_A })).toEqual({ ok: true, value: { deleted: false } });
    expect(await services.router.dispatch('library.deleteStudy', { studyInstanceUid: STUDY_B })).toEqual({ ok: true, value: { deleted: true } });
    expect(db.prepare('SELECT count(*) AS n FROM patients').get()).toEqual({ n: 0 });
  });

  it('never touches referenced originals (storage "reference")', async () => {
    services = await open('reference');
    writeStudy('a', STUDY_A, 2);
    await services.library.import({ paths: [join(root, 'in', 'a')] });
    const before = readdirSync(join(root, 'in', 'a')).map((f) => statSync(join(root, 'in', 'a', f)).size);
    expect(await services.router.dispatch('library.deleteStudy', { studyInstanceUid: STUDY_A })).toEqual({ ok: true, value: { deleted: true } });
    expect(readdirSync(join(root, 'in', 'a')).map((f) => statSync(join(root, 'in', 'a', f)).size)).toEqual(before);
    expect(services.library.listStudies({}).studies).toEqual([]);
  });
});
