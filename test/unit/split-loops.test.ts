/**
 * The volume loops the inference worker splits with its helper thread (grid-geometry
 * SplitTask): min/max, the fused reorient + min-max permutation and the inverse label
 * mapping must give exactly what the one-thread loops give, for either axis order of the
 * tiled copy, odd plane counts, a shared or a private output, and only split when the
 * arrays are shared and large. The helper here runs each task on this thread at join
 * (the real one, in the built worker, runs in the MeshNet integration test).
 */
import { describe, expect, it } from 'vitest';
import { type Mat4, minMax, permuteNormalized, runSplitTask, type SecondThread, type Shape3, type SplitTask } from '../../electron/services/ai/grid-geometry';
import { toSourceGrid } from '../../electron/services/ai/postprocessing';

class InThreadHelper implements SecondThread {
  readonly ran: SplitTask['op'][] = [];
  private pending: SplitTask | null = null;
  private readonly scratch = new Map<number, SharedArrayBuffer>();

  start(task: SplitTask): void {
    if (this.pending) throw new Error('start before join');
    this.pending = task;
  }

  join(): [number, number] {
    const task = this.pending;
    if (!task) throw new Error('join without start');
    this.pending = null;
    this.ran.push(task.op);
    return runSplitTask(task);
  }

  sharedScratch(bytes: number): SharedArrayBuffer {
    const b = this.scratch.get(bytes) ?? new SharedArrayBuffer(bytes);
    this.scratch.set(bytes, b);
    return b;
  }
}

function sharedFloat32(values: Float32Array): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer(values.byteLength));
  a.set(values);
  return a;
}

/** Deterministic pseudo-random integers (an MR-like stored-value range). */
function volume(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return (x >>> 16) % 4096;
  });
}

// out(i, j, k) -> in(D-1-j, H-1-k, i): the LIA conform of a sagittal series (MeshNet's case; A = output axis 1).
const lia = (s: Shape3): Mat4 => [0, -1, 0, s[0] - 1, 0, 0, -1, s[1] - 1, 1, 0, 0, 0, 0, 0, 0, 1];
// out(i, j, k) -> in(i, k, j): a transpose of the last two axes (A = output axis 0).
const swapRowsColumns: Mat4 = [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];

describe('volume loops split over two threads', () => {
  it('min/max: the same extremes, NaN included, split only for shared arrays', () => {
    const data = volume(1 << 21, 7);
    data[123_456] = -5;
    data[(1 << 21) - 3] = 9000;
    const helper = new InThreadHelper();
    expect(minMax(sharedFloat32(data), helper)).toEqual(minMax(data));
    expect(minMax(data)).toEqual([-5, 9000]);
    expect(helper.ran).toEqual(['minMax']);
    const withNaN = sharedFloat32(data);
    withNaN[(1 << 21) - 1] = Number.NaN;
    expect(minMax(withNaN, helper)).toEqual([Number.NaN, Number.NaN]);
    // A private array cannot be seen by the helper: one thread.
    minMax(data, helper);
    expect(helper.ran).toHaveLength(2);
  });

  const cases: [string, Shape3, Shape3, Mat4][] = [
    ['LIA conform (tiled axis order B = output axis 0)', [101, 128, 96], [96, 101, 128], lia([101, 128, 96])],
    ['row/column transpose (A = output axis 0)', [97, 96, 120], [97, 120, 96], swapRowsColumns],
  ];
  for (const [name, inShape, outShape, outToIn] of cases) {
    it(`reorient + min-max, ${name}: identical values into a private or a shared output`, () => {
      const n = inShape[0] * inShape[1] * inShape[2];
      const src = volume(n, 11);
      const [lo, hi] = minMax(src);
      const range = Math.fround(hi - lo);
      const expected = permuteNormalized(src, inShape, outToIn, outShape, lo, range)!;
      const helper = new InThreadHelper();
      const privateOut = permuteNormalized(sharedFloat32(src), inShape, outToIn, outShape, lo, range, new Float32Array(n), helper)!;
      expect(Buffer.from(privateOut.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      const sharedOut = permuteNormalized(sharedFloat32(src), inShape, outToIn, outShape, lo, range, new Float32Array(new SharedArrayBuffer(n * 4)), helper)!;
      expect(Buffer.from(new Uint8Array(sharedOut.buffer)).equals(Buffer.from(expected.buffer))).toBe(true);
      expect(helper.ran).toEqual(['permuteNormalized', 'permuteNormalized']);
    });

    it(`inverse label mapping, ${name}: the same source-grid mask`, () => {
      const n = inShape[0] * inShape[1] * inShape[2];
      const labels = Uint8Array.from(volume(n, 3), (v) => v % 3);
      const grid = { data: new Float32Array(0), shape: outShape, toSource: outToIn };
      const expected = toSourceGrid(labels, grid, inShape, 'nearest');
      const sharedLabels = new Uint8Array(new SharedArrayBuffer(n));
      sharedLabels.set(labels);
      const helper = new InThreadHelper();
      const mask = toSourceGrid(sharedLabels, grid, inShape, 'nearest', new Uint8Array(new SharedArrayBuffer(n)), helper);
      expect(Buffer.from(new Uint8Array(mask.buffer)).equals(Buffer.from(expected))).toBe(true);
      expect(helper.ran).toEqual(['copyU8']);
    });
  }

  it('small volumes stay on one thread', () => {
    const inShape: Shape3 = [8, 16, 16];
    const src = sharedFloat32(volume(8 * 16 * 16, 5));
    const helper = new InThreadHelper();
    const out = permuteNormalized(src, inShape, lia(inShape), [16, 8, 16], 0, 4096, undefined, helper);
    expect(out).not.toBeNull();
    expect(minMax(src, helper)).toEqual(minMax(Float32Array.from(src)));
    expect(helper.ran).toEqual([]);
  });
});
