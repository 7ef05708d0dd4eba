/**
 * Human review of AI findings and the AI triage of the worklist: decisions
 * are stored with the reviewer's name and time beside the unchanged model
 * output, survive reopening the data directory, and drive the study list's
 * AI status, priority sort and "AI positive, not yet reviewed" filter.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel, tinySegmenterModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const BRIGHT = '1.2.826.0.1.3680043.10.1138.910';
const DARK = '1.2.826.0.1.3680043.10.1138.920';
const NEVER = '1.2.826.0.1.3680043.10.1138.930';

let root: string;
let services: VigilServices | undefined;

function writeStudy(study: string, value: number, date: string): void {
  const dir = join(root, 'in', study);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, '1.dcm'),
    syntheticDicom({ rows: 8, columns: 8, pixels: new Uint16Array(64).fill(value), studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.1`, instanceNumber: 1, studyDate: date }),
  );
}

async function open(): Promise<VigilServices> {
  return openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, inferenceThreads: 1 });
}

async function dispatch<T>(s: VigilServices, channel: Parameters<VigilServices['router']['dispatch']>[0], payload: unknown): Promise<T> {
  const r = await s.router.dispatch(channel, payload);
  if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.message}`);
  return r.value as T;
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'vigil-review-'));
  // score = sigmoid(4 × mean − 2): a bright image (mean 1) is positive, a dark one (0) negative at 0.5.
  const onnx = tinyClassifierModel();
  writeModelPackage(join(root, 'models', 'cls'), onnx, classifierManifest(onnx, { preprocessing: [{ op: 'modalityRescale' }] }));
  writeStudy(BRIGHT, 1, '20240101');
  writeStudy(DARK, 0, '20240301');
  writeStudy(NEVER, 0, '20240201');
  services = await open();
  await services.library.import({ paths: [join(root, 'in')] });
  for (const study of [BRIGHT, DARK]) await services.analysis.analyze({ studyInstanceUid: study, provider: 'cpu' });
  await services.analysis.queue.whenIdle();
});

afterEach(async () => {
  await services?.close();
  services = undefined;
  rmSync(root, { recursive: true, force: true });
});

describe('review of findings', () => {
  it('needs a reviewer name, stores decisions beside the unchanged output, and keeps them across a restart', async () => {
    const s = services!;
    const [result] = s.analysis.resultsForStudy(BRIGHT);
    expect(result?.status, result?.reason ?? '').toBe('done');
    expect(result!.findings).toEqual([{ label: 'bright', score: expect.closeTo(1 / (1 + Math.exp(-2)), 5), positive: true, threshold: 0.5 }]);

    const refused = await s.router.dispatch('review.set', { resultId: result!.id, findingLabel: 'bright', decision: 'accepted' });
    expect(refused.ok).toBe(false);
    expect(await dispatch(s, 'settings.update', { reviewerName: '  Dr Ada Reader ' })).toMatchObject({ reviewerName: 'Dr Ada Reader' });

    const unknown = await s.router.dispatch('review.set', { resultId: result!.id, findingLabel: 'nope', decision: 'accepted' });
    expect(unknown.ok ? null : unknown.error.code).toBe('NOT_FOUND');
    const corrected = await s.router.dispatch('review.set', { resultId: result!.id, findingLabel: 'bright', decision: 'corrected' });
    expect(corrected.ok ? null : corrected.error.code).toBe('BAD_REQUEST');

    const before = Date.now();
    await dispatch(s, 'review.set', { resultId: result!.id, findingLabel: 'bright', decision: 'rejected' });
    const accepted = await dispatch<{ decision: string; reviewer: string; reviewedAt: string }>(s, 'review.set', { resultId: result!.id, findingLabel: 'bright', decision: 'accepted', note: 'agree' });
    expect(accepted).toMatchObject({ decision: 'accepted', reviewer: 'Dr Ada Reader' });
    expect(Date.parse(accepted.reviewedAt)).toBeGreaterThanOrEqual(before - 1000);

    const list = await dispatch<{ reviews: { decision: string }[]; allReviewed: boolean; findings: number; reviewed: number }>(s, 'review.list', { studyInstanceUid: BRIGHT });
    expect(list.reviews.map((r) => r.decision)).toEqual(['accepted']);
    expect(list).toMatchObject({ findings: 1, reviewed: 1, allReviewed: true });
    expect(s.reviews.history(result!.id, 'bright').map((r) => r.decision)).toEqual(['rejected', 'accepted']);
    // The model's own output is untouched.
    expect(s.analysis.results.get(result!.id)!.findings).toEqual(result!.findings);

    expect(list).toMatchObject({ accepted: 1, rejected: 0, corrected: 0 });
    // A negative call is shown, not reviewed: nothing to decide on the DARK study, and a review of it is refused.
    const [dark] = s.analysis.resultsForStudy(DARK);
    expect(dark!.findings).toEqual([expect.objectContaining({ label: 'bright', positive: false })]);
    const darkList = await dispatch<{ allReviewed: boolean; reviewed: number; findings: number }>(s, 'review.list', { studyInstanceUid: DARK });
    expect(darkList).toMatchObject({ allReviewed: false, reviewed: 0, findings: 0 });
    const negative = await s.router.dispatch('review.set', { resultId: dark!.id, findingLabel: 'bright', decision: 'accepted' });
    expect(negative.ok ? null : negative.error).toEqual({ code: 'BAD_REQUEST', message: '"bright" is below its threshold: only positive findings are reviewed.' });

    await s.close();
    services = await open();
    const again = await dispatch<{ reviews: { decision: string; reviewer: string; note: string | null }[]; allReviewed: boolean }>(services, 'review.list', { studyInstanceUid: BRIGHT });
    expect(again.allReviewed).toBe(true);
    expect(again.reviews[0]).toMatchObject({ decision: 'accepted', reviewer: 'Dr Ada Reader', note: 'agree' });
    expect(await dispatch(services, 'settings.get', {})).toMatchObject({ reviewerName: 'Dr Ada Reader' });
  });
});

describe('AI triage of the study list', () => {
  it('reports AI status per study, sorts positive studies first, and filters unreviewed positives', async () => {
    const s = services!;
    const byDate = s.library.listStudies({});
    expect(byDate.studies.map((x) => x.studyInstanceUid)).toEqual([DARK, NEVER, BRIGHT]);
    const ai = Object.fromEntries(byDate.studies.map((x) => [x.studyInstanceUid, x.ai]));
    const idle = { active: false, failedRuns: 0, accepted: 0, rejected: 0, corrected: 0 };
    expect(ai[BRIGHT]).toEqual({ status: 'positive', priority: true, unreviewedPositive: true, triage: 'positive-unreviewed', toReview: 1, ...idle });
    expect(ai[DARK]).toEqual({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0, ...idle });
    expect(ai[NEVER]).toEqual({ status: null, priority: false, unreviewedPositive: false, triage: 'none', toReview: 0, ...idle });
    expect(byDate.aiCounts).toEqual({ flagged: 1, unreviewed: 1 });

    const triaged = s.library.listStudies({ sortBy: 'aiPriority', sortDir: 'desc' });
    expect(triaged.studies.map((x) => x.studyInstanceUid)).toEqual([BRIGHT, DARK, NEVER]);

    const filtered = s.library.listStudies({ aiFilter: 'positive-unreviewed' });
    expect(filtered.studies.map((x) => x.studyInstanceUid)).toEqual([BRIGHT]);
    expect(filtered.total).toBe(1);
    expect(s.library.listStudies({ aiFilter: 'positive' }).studies.map((x) => x.studyInstanceUid)).toEqual([BRIGHT]);

    s.reviews.setReviewerName('R');
    const [result] = s.analysis.resultsForStudy(BRIGHT);
    s.reviews.set({ resultId: result!.id, findingLabel: 'bright', decision: 'accepted' });
    const afterReview = s.library.listStudies({ aiFilter: 'positive-unreviewed' });
    expect(afterReview.studies).toEqual([]);
    expect(afterReview.total).toBe(0);
    // The flagged count still knows the study (the AI filter does not narrow the counts).
    expect(afterReview.aiCounts).toEqual({ flagged: 1, unreviewed: 0 });
    // Still a priority study once reviewed, shown as reviewed with the decision counted.
    expect(s.library.listStudies({ sortBy: 'aiPriority' }).studies[0]?.ai).toMatchObject({ status: 'positive', priority: true, unreviewedPositive: false, triage: 'positive-reviewed', toReview: 1, accepted: 1 });
    expect(s.library.listStudies({ aiFilter: 'positive' }).studies.map((x) => x.studyInstanceUid)).toEqual([BRIGHT]);
  });
});

describe('"nothing found" labels', () => {
  it('marks a positive normalLabels finding as normal, so it never raises AI priority', async () => {
    const { classificationFindings } = await import('../../electron/services/ai/postprocessing');
    const spec = { kind: 'classification' as const, tensor: 'logits', labels: ['normal', 'pneumonia'], activation: 'softmax' as const, thresholds: [0.8, 0.2], normalLabels: ['normal'] };
    expect(classificationFindings(spec, [0.9, 0.1])).toEqual([
      { label: 'normal', score: 0.9, positive: true, threshold: 0.8, normal: true },
      { label: 'pneumonia', score: 0.1, positive: false, threshold: 0.2 },
    ]);
    const s = services!;
    // The BRIGHT study's only label, declared "normal", no longer makes it a priority.
    const [result] = s.analysis.resultsForStudy(BRIGHT);
    s.library.studyIndex.db.prepare('UPDATE ai_results SET findings = ? WHERE id = ?').run(JSON.stringify([{ ...result!.findings[0], normal: true }]), result!.id);
    expect(s.library.listStudies({}).studies.find((x) => x.studyInstanceUid === BRIGHT)?.ai).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });
    // ...and it is not reviewable.
    const normal = await s.router.dispatch('review.set', { resultId: result!.id, findingLabel: 'bright', decision: 'accepted' });
    expect(normal.ok ? null : normal.error.code).toBe('BAD_REQUEST');
  });
});

/** Reopens the services with a one-label volume segmenter installed, analyses `study` with it and returns its mask. */
async function segmentStudy(study: string) {
  await services!.close();
  const seg = tinySegmenterModel();
  writeModelPackage(
    join(root, 'models', 'seg'),
    seg,
    classifierManifest(seg, {
      id: 'test-segmenter',
      name: 'Test segmenter',
      applicability: { modalities: ['CT'] },
      input: { unit: 'volume', tensors: [{ name: 'input', dtype: 'float32', shape: [1, 1, 'D', 'H', 'W'], layout: 'NCDHW' }] },
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'segmentation', tensor: 'logits', method: 'argmax', labels: [{ index: 0, name: 'background', color: [0, 0, 0] }, { index: 1, name: 'bright', color: [255, 0, 0] }] }],
    }),
  );
  services = await open();
  await services.analysis.analyze({ studyInstanceUid: study, modelId: 'test-segmenter', provider: 'cpu' });
  await services.analysis.queue.whenIdle();
  const result = services.analysis.resultsForStudy(study).find((r) => r.modelId === 'test-segmenter')!;
  expect(result.status, result.reason ?? '').toBe('done');
  const out = result.outputs.find((o) => o.kind === 'segmentation');
  if (out?.kind !== 'segmentation') throw new Error('no mask');
  return { s: services, result, out };
}

describe('label map edits (brush / eraser)', () => {
  it('keeps the model mask unchanged, writes a reviewed mask with the edited slices, recounts voxels, and survives a restart', async () => {
    const { s, result, out } = await segmentStudy(BRIGHT);
    const originalPath = join(result.filesDir, out.mask.file);
    const original = readFileSync(originalPath);
    expect([...gunzipSync(original)].every((v) => v === 1)).toBe(true); // all 64 voxels bright

    const plane = new Uint8Array(64).fill(1);
    plane.fill(0, 0, 8); // erase the first row
    const planeGz = gzipSync(plane).toString('base64');
    const refused = await s.router.dispatch('review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: planeGz }] });
    expect(refused.ok ? null : refused.error.code).toBe('BAD_REQUEST'); // no reviewer yet
    s.reviews.setReviewerName('Dr Brush');
    const bad = await s.router.dispatch('review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: gzipSync(new Uint8Array(64).fill(7)).toString('base64') }] });
    expect(bad.ok ? null : bad.error.code).toBe('BAD_REQUEST'); // label 7 is not the model's
    const wrongFile = await s.router.dispatch('review.saveMaskEdits', { resultId: result.id, file: 'other.u8.gz', slices: [{ slice: 0, planeGzBase64: planeGz }] });
    expect(wrongFile.ok ? null : wrongFile.error.code).toBe('NOT_FOUND');

    const saved = await dispatch<{ reviewedFile: string; voxels: Record<string, number> }>(s, 'review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: planeGz }] });
    expect(saved.voxels).toEqual({ '0': 8, '1': 56 });
    expect(readFileSync(originalPath)).toEqual(original);
    const reviewedPath = s.resultFile(result.id, saved.reviewedFile);
    expect(reviewedPath && existsSync(reviewedPath)).toBe(true);
    expect([...gunzipSync(readFileSync(reviewedPath!))]).toEqual([...plane]);
    expect(s.resultFile(result.id, '../x')).toBeNull();

    await s.close();
    services = await open();
    const list = await dispatch<{ maskEdits: { resultId: number; file: string; reviewedFile: string; voxels: Record<string, number>; reviewer: string }[] }>(services, 'review.list', { studyInstanceUid: BRIGHT });
    expect(list.maskEdits).toEqual([expect.objectContaining({ resultId: result.id, file: out.mask.file, reviewedFile: saved.reviewedFile, voxels: { '0': 8, '1': 56 }, reviewer: 'Dr Brush' })]);
  });

  it('lands every stroke of a quick succession, each on the copy the one before it wrote, without holding the event loop', async () => {
    const study = '1.2.826.0.1.3680043.10.1138.940';
    const dir = join(root, 'in-volume');
    mkdirSync(dir, { recursive: true });
    for (let k = 1; k <= 3; k++) {
      const pixels = new Uint16Array(64).fill(1);
      writeFileSync(join(dir, `${k}.dcm`), syntheticDicom({ rows: 8, columns: 8, pixels, studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.${k}`, instanceNumber: k }));
    }
    await services!.library.import({ paths: [dir] });
    const { s, result, out } = await segmentStudy(study);
    expect(out.mask.shape).toEqual([3, 8, 8]);
    s.reviews.setReviewerName('Dr Brush');
    const erased = (rows: number) => gzipSync(new Uint8Array(64).fill(1).fill(0, 0, rows * 8)).toString('base64');
    // Sent together, as a renderer sends strokes: without one edit at a time, each would start from the model's mask
    // and the last written would drop the others.
    let turned = false;
    setImmediate(() => (turned = true));
    const saves = [0, 2, 1].map((slice) => s.router.dispatch('review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice, planeGzBase64: erased(slice + 1) }] }));
    const settled = await Promise.all(saves);
    expect(turned).toBe(true);
    expect(settled.map((r) => r.ok)).toEqual([true, true, true]);
    const last = settled[2]!;
    if (!last.ok) throw new Error('not saved');
    const { reviewedFile, voxels } = last.value as { reviewedFile: string; voxels: Record<string, number> };
    // 8 + 24 + 16 voxels erased, one slice per stroke.
    expect(voxels).toEqual({ '0': 48, '1': 144 });
    const reviewedPath = s.resultFile(result.id, reviewedFile)!;
    const mask = gunzipSync(readFileSync(reviewedPath));
    expect([0, 1, 2].map((slice) => mask.subarray(slice * 64, (slice + 1) * 64).filter((v) => v === 0).length)).toEqual([8, 16, 24]);
    const list = await dispatch<{ maskEdits: { voxels: Record<string, number> }[] }>(s, 'review.list', { studyInstanceUid: study });
    expect(list.maskEdits.map((e) => e.voxels)).toEqual([{ '0': 48, '1': 144 }]);

    // A reviewed mask that no longer matches its result (more voxels than its grid, fewer, or not gzip at all): a clear
    // error, and nothing written over it.
    const edit = { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: erased(1) }] };
    for (const [content, message] of [
      [gzipSync(new Uint8Array(200)), /holds more than the 192 voxels of its 3×8×8 grid/],
      [gzipSync(new Uint8Array(100)), /holds 100 voxels, not the 192 voxels/],
      [Buffer.from('not gzip'), /cannot be read \(.*\): nothing was saved/],
    ] as const) {
      writeFileSync(reviewedPath, content);
      const refused = await s.router.dispatch('review.saveMaskEdits', edit);
      expect(refused.ok ? null : [refused.error.code, refused.error.message]).toEqual(['IO_ERROR', expect.stringMatching(message)]);
      expect(readFileSync(reviewedPath)).toEqual(content);
    }
  });

  it('stores neither the record nor the file of a save answered as failed (the reader\u2019s screen undoes it)', async () => {
    const { s, result, out } = await segmentStudy(BRIGHT);
    s.reviews.setReviewerName('Dr Brush');
    const plane = (rows: number) => gzipSync(new Uint8Array(64).fill(1).fill(0, 0, rows * 8)).toString('base64');
    const first = await dispatch<{ reviewedFile: string }>(s, 'review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: plane(1) }] });
    const reviewedPath = s.resultFile(result.id, first.reviewedFile)!;
    const stored = readFileSync(reviewedPath);
    // The record cannot be written (as with a full or locked database).
    const db = s.library.studyIndex.db;
    db.exec("CREATE TRIGGER refuse_edit BEFORE INSERT ON ai_mask_edits BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    const refused = await s.router.dispatch('review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: plane(3) }] });
    expect(refused.ok ? null : [refused.error.code, refused.error.message]).toEqual(['IO_ERROR', 'The reviewed mask could not be stored (database or disk is full): nothing was saved.']);
    expect(readFileSync(reviewedPath)).toEqual(stored);
    expect(existsSync(`${reviewedPath}.tmp`)).toBe(false);
    db.exec('DROP TRIGGER refuse_edit');
    // The next save starts from what was stored: the refused plane is in neither.
    const next = await dispatch<{ voxels: Record<string, number> }>(s, 'review.saveMaskEdits', { resultId: result.id, file: out.mask.file, slices: [{ slice: 0, planeGzBase64: plane(2) }] });
    expect(next.voxels).toEqual({ '0': 16, '1': 48 });
    const list = await dispatch<{ maskEdits: { voxels: Record<string, number> }[] }>(s, 'review.list', { studyInstanceUid: BRIGHT });
    expect(list.maskEdits.map((e) => e.voxels)).toEqual([{ '0': 16, '1': 48 }]);
  });
});
