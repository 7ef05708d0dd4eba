/**
 * A volume job's large arrays (source volume, label map, mask) are handed on to the next job of
 * the same size without clearing, and with a second thread they live in shared memory, which
 * ONNX Runtime refuses as an input. Jobs on two different series of one size, alternating,
 * must each give exactly their own mask, on one thread and with a (here in-thread) split helper;
 * the tiny segmenter's input is the source volume itself, so the shared-memory input is copied out.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSplitTask, type SecondThread, type SplitTask } from '../../electron/services/ai/grid-geometry';
import { runInferenceJob } from '../../electron/services/ai/inference-job';
import type { ModelManifest } from '../../electron/services/ai/model-manifest';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinySegmenterModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

// 1M voxels: pooled arrays, and loops large enough to split.
const SLICES = 32;
const ROWS = 128;
const COLUMNS = 256;
const STUDY = '1.2.826.0.1.3680043.10.1138.910';

/** The worker's helper protocol run on this thread (each task at join). */
class InThreadHelper implements SecondThread {
  tasks = 0;
  private pending: SplitTask | null = null;
  start(task: SplitTask): void {
    this.pending = task;
  }
  join(): [number, number] {
    const task = this.pending!;
    this.pending = null;
    this.tasks++;
    return runSplitTask(task);
  }
  sharedScratch(bytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(bytes);
  }
}

describe('volume jobs reuse their large arrays', () => {
  let root: string;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  const onnx = tinySegmenterModel();
  const manifest: ModelManifest = classifierManifest(onnx, {
    schemaVersion: 2,
    id: 'scratch-seg',
    input: { unit: 'volume', tensors: [{ name: 'input', dtype: 'float32', shape: [1, 1, 'D', 'H', 'W'], layout: 'NCDHW' }] },
    preprocessing: [{ op: 'modalityRescale' }, { op: 'normalize', method: 'minmax' }],
    outputs: [{ kind: 'segmentation', tensor: 'logits', method: 'argmax', labels: [{ index: 0, name: 'background', color: [0, 0, 0] }, { index: 1, name: 'bright', color: [255, 0, 0] }], findings: { role: 'anatomy' } }],
  });
  /** Per series: its files and, per SOP Instance UID, the pixels. */
  const series = new Map<string, { files: string[]; pixels: Map<string, Uint16Array> }>();

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-scratch-'));
    writeModelPackage(join(root, 'model'), onnx, manifest);
    for (const [name, seed] of [['a', 3], ['b', 17]] as const) {
      const dir = join(root, name);
      mkdirSync(dir);
      const pixels = new Map<string, Uint16Array>();
      const files = Array.from({ length: SLICES }, (_, s) => {
        const uid = `${STUDY}.${seed}.${s + 1}`;
        // Different bright regions per series: a stale array from the other series would show.
        const p = Uint16Array.from({ length: ROWS * COLUMNS }, (_, i) => ((i % COLUMNS) * seed + Math.floor(i / COLUMNS) * (s + 1)) % 1000);
        pixels.set(uid, p);
        const file = join(dir, `${s + 1}.dcm`);
        writeFileSync(file, syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.${seed}`, sopInstanceUid: uid, instanceNumber: s + 1, rows: ROWS, columns: COLUMNS, pixels: p }));
        return file;
      });
      series.set(name, { files, pixels });
    }
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function check(name: 'a' | 'b', second: SecondThread | null, run: number) {
    const s = series.get(name)!;
    const r = await runInferenceJob({ jobId: `${name}${run}`, model: { id: manifest.id, modelPath: join(root, 'model', 'model.onnx'), manifest }, files: s.files, provider: 'cpu', outputDir: join(root, 'out', `${run}`) }, sessions, undefined, second);
    expect(r.status, r.reason).toBe('done');
    const seg = r.outputs.find((o) => o.kind === 'segmentation');
    if (seg?.kind !== 'segmentation') throw new Error('no segmentation output');
    const mask = gunzipSync(readFileSync(join(root, 'out', `${run}`, seg.mask.file)));
    // Expected: min-max normalised value above the background logit 0.5 (the segmenter's rule).
    const planes = r.inputSopInstanceUids.map((uid) => s.pixels.get(uid)!);
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of planes) for (const v of p) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const range = Math.fround(hi - lo);
    const expected = new Uint8Array(SLICES * ROWS * COLUMNS);
    planes.forEach((p, k) => p.forEach((v, i) => (expected[k * ROWS * COLUMNS + i] = Math.fround(Math.fround(v - lo) / range) > 0.5 ? 1 : 0)));
    expect(Buffer.compare(mask, Buffer.from(expected))).toBe(0);
    expect(seg.modelVoxelCounts).toEqual([expected.length - expected.reduce((n, v) => n + v, 0), expected.reduce((n, v) => n + v, 0)]);
  }

  it('one thread: a, b, a', async () => {
    await check('a', null, 1);
    await check('b', null, 2);
    await check('a', null, 3);
  });

  it('with a split helper (shared arrays; the shared input is copied out for ONNX Runtime): b, a, b', async () => {
    const helper = new InThreadHelper();
    await check('b', helper, 4);
    await check('a', helper, 5);
    await check('b', helper, 6);
    // The tiny model has no reorientation; the normalisation's min/max is the split loop here.
    expect(helper.tasks).toBe(3);
  });
});
