/**
 * Geometry of the image grids the AI pipeline works on: 4×4 affines between
 * voxel indices (axis 0 slowest: slice, row, column) and patient LPS mm, the
 * source volume built from DICOM slices, and resampling of a grid through an
 * index affine (used by every geometric preprocessing op and by the inverse
 * mapping of outputs back to the source pixels).
 */

/** Row-major 4×4 matrix. */
export type Mat4 = number[];

export const identity = (): Mat4 => [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

export function multiply(a: Mat4, b: Mat4): Mat4 {
  const out = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) for (let k = 0; k < 4; k++) out[r * 4 + c]! += a[r * 4 + k]! * b[k * 4 + c]!;
  return out;
}

export function invert(m: Mat4): Mat4 {
  // Gauss-Jordan on [m | I].
  const a = m.slice();
  const inv = identity();
  for (let c = 0; c < 4; c++) {
    let p = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(a[r * 4 + c]!) > Math.abs(a[p * 4 + c]!)) p = r;
    if (Math.abs(a[p * 4 + c]!) < 1e-12) throw new Error('singular geometry matrix');
    for (let k = 0; k < 4; k++) {
      [a[c * 4 + k], a[p * 4 + k]] = [a[p * 4 + k]!, a[c * 4 + k]!];
      [inv[c * 4 + k], inv[p * 4 + k]] = [inv[p * 4 + k]!, inv[c * 4 + k]!];
    }
    const d = a[c * 4 + c]!;
    for (let k = 0; k < 4; k++) {
      a[c * 4 + k]! /= d;
      inv[c * 4 + k]! /= d;
    }
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = a[r * 4 + c]!;
      if (f === 0) continue;
      for (let k = 0; k < 4; k++) {
        a[r * 4 + k]! -= f * a[c * 4 + k]!;
        inv[r * 4 + k]! -= f * inv[c * 4 + k]!;
      }
    }
  }
  return inv;
}

export function apply(m: Mat4, p: readonly [number, number, number]): [number, number, number] {
  return [0, 1, 2].map((r) => m[r * 4]! * p[0] + m[r * 4 + 1]! * p[1] + m[r * 4 + 2]! * p[2] + m[r * 4 + 3]!) as [number, number, number];
}

export type Shape3 = [number, number, number];

/** A scalar grid (one channel) with the affine from its indices to the source grid's indices. */
export interface Grid {
  data: Float32Array;
  shape: Shape3;
  /** Current index -> source index (slice, row, column). */
  toSource: Mat4;
}

export interface SourceSlice {
  imagePosition: [number, number, number] | null;
  imageOrientation: [number, number, number, number, number, number] | null;
  pixelSpacing: [number, number] | null;
  instanceNumber: number | null;
}

const cross = (a: number[], b: number[]) => [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
const dot = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;

/**
 * Orders slices for stacking: by position along the slice normal when every
 * slice has position and orientation, else by Instance Number. Returns the
 * permutation.
 */
export function sliceOrder(slices: readonly SourceSlice[]): number[] {
  const idx = slices.map((_, i) => i);
  const o = slices[0]?.imageOrientation;
  if (o && slices.every((s) => s.imagePosition && s.imageOrientation)) {
    const n = cross(o.slice(0, 3), o.slice(3, 6));
    const key = slices.map((s) => dot(s.imagePosition!, n));
    return idx.sort((a, b) => key[a]! - key[b]! || (slices[a]!.instanceNumber ?? 0) - (slices[b]!.instanceNumber ?? 0));
  }
  return idx.sort((a, b) => (slices[a]!.instanceNumber ?? a) - (slices[b]!.instanceNumber ?? b));
}

/**
 * Whether slices already in stacking order form one volume: each with its position and the first's orientation, at
 * distinct places along the normal (a cine's frames share one position; a single image is no stack).
 */
export function isParallelStack(sorted: readonly SourceSlice[]): boolean {
  const o = sorted[0]?.imageOrientation;
  if (sorted.length < 2 || !o || !sorted.every((s) => s.imagePosition && s.imageOrientation?.every((v, i) => Math.abs(v - o[i]!) < 1e-4))) return false;
  const n = cross(o.slice(0, 3), o.slice(3, 6));
  const along = sorted.map((s) => dot(s.imagePosition!, n));
  return along.every((d, i) => i === 0 || d - along[i - 1]! > 1e-3);
}

/**
 * Whether slices already in stacking order span a depth: each with its position and the first's orientation, the last
 * beyond the first along the normal. Unlike isParallelStack, a position may repeat (a slice sent twice, several
 * b-values of one DWI series): the mean step still gives the volume of what is stacked. Frames at one position (a
 * cine, a perfusion series at one table position) span none: their step would be a made-up 1 mm.
 */
export function spansDepth(sorted: readonly SourceSlice[]): boolean {
  const o = sorted[0]?.imageOrientation;
  if (sorted.length < 2 || !o || !sorted.every((s) => s.imagePosition && s.imageOrientation?.every((v, i) => Math.abs(v - o[i]!) < 1e-4))) return false;
  const n = cross(o.slice(0, 3), o.slice(3, 6));
  return dot(sorted.at(-1)!.imagePosition!, n) - dot(sorted[0]!.imagePosition!, n) > 1e-3;
}

/** Source index (slice, row, column) -> patient LPS mm for slices already in stacking order; null without geometry. */
export function sourceToPatient(sorted: readonly SourceSlice[]): Mat4 | null {
  const first = sorted[0];
  if (!first?.imagePosition || !first.imageOrientation || !first.pixelSpacing) return null;
  const o = first.imageOrientation;
  const rowDir = o.slice(0, 3); // direction of increasing column index
  const colDir = o.slice(3, 6); // direction of increasing row index
  const [rowSpacing, colSpacing] = first.pixelSpacing;
  let step: number[];
  const last = sorted[sorted.length - 1]!;
  if (sorted.length > 1 && last.imagePosition) {
    step = [0, 1, 2].map((k) => (last.imagePosition![k]! - first.imagePosition![k]!) / (sorted.length - 1));
  } else {
    step = cross(rowDir, colDir);
  }
  if (Math.hypot(step[0]!, step[1]!, step[2]!) < 1e-6) step = cross(rowDir, colDir);
  const p = first.imagePosition;
  return [
    step[0]!, colDir[0]! * rowSpacing, rowDir[0]! * colSpacing, p[0],
    step[1]!, colDir[1]! * rowSpacing, rowDir[1]! * colSpacing, p[1],
    step[2]!, colDir[2]! * rowSpacing, rowDir[2]! * colSpacing, p[2],
    0, 0, 0, 1,
  ];
}

const LPS_DIR: Record<string, [number, number, number]> = {
  L: [1, 0, 0], R: [-1, 0, 0], P: [0, 1, 0], A: [0, -1, 0], S: [0, 0, 1], I: [0, 0, -1],
};

/**
 * Index -> patient affine of a grid with the given orientation (axis 0..2 point
 * to the letters), spacing and size, centred on `centre` (patient mm).
 */
export function orientedGrid(orientation: string, spacing: Shape3, size: Shape3, centre: [number, number, number]): Mat4 {
  const m = identity();
  for (let axis = 0; axis < 3; axis++) {
    const dir = LPS_DIR[orientation[axis]!]!;
    for (let r = 0; r < 3; r++) m[r * 4 + axis] = dir[r]! * spacing[axis]!;
  }
  for (let r = 0; r < 3; r++) {
    let t = centre[r]!;
    for (let axis = 0; axis < 3; axis++) t -= m[r * 4 + axis]! * ((size[axis]! - 1) / 2);
    m[r * 4 + 3] = t;
  }
  return m;
}

export function isIntegral(m: Mat4): boolean {
  return m.every((v) => Math.abs(v - Math.round(v)) < 1e-6);
}

/** Range of k in [0, n) with 0 <= p + s*k < d. */
function inRange(p: number, s: number, d: number, n: number): [number, number] {
  if (s === 0) return p >= 0 && p < d ? [0, n] : [0, 0];
  // p + s*k >= 0 and p + s*k <= d - 1.
  let lo = s > 0 ? Math.ceil(-p / s) : Math.ceil((d - 1 - p) / s);
  let hi = s > 0 ? Math.floor((d - 1 - p) / s) + 1 : Math.floor(-p / s) + 1;
  lo = Math.max(0, lo);
  hi = Math.min(n, hi);
  return lo < hi ? [lo, hi] : [0, 0];
}

/** Whether `outToIn` maps `shape` one to one onto all of `inShape` (an integer permutation/flip of the axes). */
export function isBijection(outToIn: Mat4, shape: Shape3, inShape: Shape3): boolean {
  return isIntegral(outToIn) && shape[0] * shape[1] * shape[2] === inShape[0] * inShape[1] * inShape[2] && mapsInside(outToIn, shape, inShape, 0) && Math.abs(det3(outToIn)) > 0.5;
}

function det3(m: Mat4): number {
  return m[0]! * (m[5]! * m[10]! - m[6]! * m[9]!) - m[1]! * (m[4]! * m[10]! - m[6]! * m[8]!) + m[2]! * (m[4]! * m[9]! - m[5]! * m[8]!);
}

/** Whether every output index maps inside the input (the affine's image of the output box; `margin` widens the input). */
export function mapsInside(outToIn: Mat4, shape: Shape3, inShape: Shape3, margin: number): boolean {
  for (let corner = 0; corner < 8; corner++) {
    const p = apply(outToIn, [corner & 1 ? shape[0] - 1 : 0, corner & 2 ? shape[1] - 1 : 0, corner & 4 ? shape[2] - 1 : 0]);
    for (let a = 0; a < 3; a++) if (p[a]! < -margin - 1e-9 || p[a]! > inShape[a]! - 1 + margin + 1e-9) return false;
  }
  return true;
}

export interface TiledPlan {
  nA: number;
  nB: number;
  nC: number;
  sA: number;
  sB: number;
  sC: number;
  oA: number;
  oB: number;
  base: number;
  /** Whether A (else B) is output axis 0, the axis a copy is split along. */
  aIsAxis0: boolean;
}

/** Output planes (axis 0) [from, to) of a tiled copy; `shift` is taken off every output index (an output array holding only those planes). */
export interface PlaneRange {
  from: number;
  to: number;
  shift: number;
}

/**
 * A permuting copy whose innermost output axis is not contiguous in the input.
 * Innermost: output axis 2 (contiguous writes); middle: the other axis that
 * walks the input most contiguously, in tiles with the innermost, so the
 * reads of a tile share cache lines; outermost, untiled: the remaining axis.
 * (2-3× faster than a row loop, which misses the cache on every read.)
 */
function tiledPlan(inShape: Shape3, m: Mat4, shape: Shape3): TiledPlan {
  const [, d1, d2] = inShape;
  const srcStride = [0, 1, 2].map((a) => m[a]! * d1 * d2 + m[4 + a]! * d2 + m[8 + a]!);
  const outStride = [shape[1] * shape[2], shape[2], 1];
  const [A, B] = Math.abs(srcStride[0]!) < Math.abs(srcStride[1]!) ? [1, 0] : [0, 1];
  return { nA: shape[A]!, nB: shape[B]!, nC: shape[2], sA: srcStride[A]!, sB: srcStride[B]!, sC: srcStride[2]!, oA: outStride[A]!, oB: outStride[B]!, base: (m[3]! * d1 + m[7]!) * d2 + m[11]!, aIsAxis0: A === 0 };
}

/** Loop bounds [a0, a1, b0, b1] of the planes of `part` (it restricts whichever of A and B is output axis 0). */
function partBounds(plan: TiledPlan, part: PlaneRange): [number, number, number, number] {
  return plan.aIsAxis0 ? [part.from, part.to, 0, plan.nB] : [0, plan.nA, part.from, part.to];
}

// Two copies of one loop nest, one per element type: a single function fed both
// Float32Array and Uint8Array runs polymorphic element accesses (~1.3-1.6× slower).
// A tile spans one 64-byte cache line of the input: 16 float32 or 64 uint8 values.

function copyTiledF32(src: Float32Array, plan: TiledPlan, out: Float32Array, part: PlaneRange): void {
  const { nC, sA, sB, sC, oA, oB, base } = plan;
  const [a0, a1, bFrom, bTo] = partBounds(plan, part);
  const T = 16;
  for (let a = a0; a < a1; a++) {
    const pa = base + a * sA;
    const qa = a * oA - part.shift;
    for (let b0 = bFrom; b0 < bTo; b0 += T) {
      const bEnd = Math.min(bTo, b0 + T);
      for (let c0 = 0; c0 < nC; c0 += T) {
        const cLen = Math.min(nC, c0 + T) - c0;
        for (let b = b0; b < bEnd; b++) {
          let p = pa + b * sB + c0 * sC;
          for (let o = qa + b * oB + c0, end = o + cLen; o < end; o++, p += sC) out[o] = src[p]!;
        }
      }
    }
  }
}

function copyTiledU8(src: Uint8Array, plan: TiledPlan, out: Uint8Array, part: PlaneRange): void {
  const { nC, sA, sB, sC, oA, oB, base } = plan;
  const [a0, a1, bFrom, bTo] = partBounds(plan, part);
  const T = 64;
  for (let a = a0; a < a1; a++) {
    const pa = base + a * sA;
    const qa = a * oA - part.shift;
    for (let b0 = bFrom; b0 < bTo; b0 += T) {
      const bEnd = Math.min(bTo, b0 + T);
      for (let c0 = 0; c0 < nC; c0 += T) {
        const cLen = Math.min(nC, c0 + T) - c0;
        for (let b = b0; b < bEnd; b++) {
          let p = pa + b * sB + c0 * sC;
          for (let o = qa + b * oB + c0, end = o + cLen; o < end; o++, p += sC) out[o] = src[p]!;
        }
      }
    }
  }
}

// copyTiledF32's loop nest with the normalisation in its store: a per-voxel callback there would cost the one pass.
function permuteNormalizedPart(src: Float32Array, plan: TiledPlan, lo: number, range: number, out: Float32Array, part: PlaneRange): void {
  const { nC, sA, sB, sC, oA, oB, base } = plan;
  const [a0, a1, bFrom, bTo] = partBounds(plan, part);
  const T = 16;
  for (let a = a0; a < a1; a++) {
    const pa = base + a * sA;
    const qa = a * oA - part.shift;
    for (let b0 = bFrom; b0 < bTo; b0 += T) {
      const bEnd = Math.min(bTo, b0 + T);
      for (let c0 = 0; c0 < nC; c0 += T) {
        const cLen = Math.min(nC, c0 + T) - c0;
        for (let b = b0; b < bEnd; b++) {
          let p = pa + b * sB + c0 * sC;
          for (let o = qa + b * oB + c0, end = o + cLen; o < end; o++, p += sC) out[o] = Math.fround(src[p]! - lo) / range;
        }
      }
    }
  }
}

function minMaxRange(data: Float32Array, from: number, to: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  // Math.min/max compile to branch-free min/max (faster than two compares on image data).
  for (let i = from; i < to; i++) {
    const v = data[i]!;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

/**
 * Work a second thread does on SharedArrayBuffer-backed arrays while the calling thread does the
 * other part of the same loop: the volume loops of preprocessing and of the inverse mapping
 * (ONNX Runtime's threads are idle then, so the second core is free).
 */
export type SplitTask =
  | { op: 'minMax'; data: Float32Array; from: number; to: number }
  | { op: 'permuteNormalized'; src: Float32Array; plan: TiledPlan; lo: number; range: number; out: Float32Array; part: PlaneRange }
  | { op: 'copyU8'; src: Uint8Array; plan: TiledPlan; out: Uint8Array; part: PlaneRange };

/** The thread that runs SplitTasks (inference-worker.ts starts one beside each inference worker). */
export interface SecondThread {
  /** Starts `task` there; `join` must follow before the next start. */
  start(task: SplitTask): void;
  /** Waits (blocking) for the started task; its answer ([lo, hi] for minMax, else [0, 0]). */
  join(): [number, number];
  /** A shared array of `bytes` for a part the caller then copies out (kept for reuse while the size stays the same). */
  sharedScratch(bytes: number): SharedArrayBuffer;
}

/** Runs one task (on the second thread). */
export function runSplitTask(task: SplitTask): [number, number] {
  switch (task.op) {
    case 'minMax':
      return minMaxRange(task.data, task.from, task.to);
    case 'permuteNormalized':
      permuteNormalizedPart(task.src, task.plan, task.lo, task.range, task.out, task.part);
      return [0, 0];
    case 'copyU8':
      copyTiledU8(task.src, task.plan, task.out, task.part);
      return [0, 0];
  }
}

/** Below this many values a loop is not worth a second thread (the hand-off costs ~0.1-1 ms). */
const SPLIT_MIN_VALUES = 1 << 20;

const shared = (a: Float32Array | Uint8Array) => a.buffer instanceof SharedArrayBuffer;

/** Whether a loop over `values` values of `arrays` is split with `second`: large enough, and the thread can see the arrays. */
function splits(second: SecondThread | null | undefined, values: number, ...arrays: (Float32Array | Uint8Array)[]): second is SecondThread {
  return !!second && values >= SPLIT_MIN_VALUES && arrays.every(shared);
}

/** Minimum and maximum of the values (NaN when one is NaN); halves run at once with `second`. */
export function minMax(data: Float32Array, second?: SecondThread | null): [number, number] {
  if (!splits(second, data.length, data)) return minMaxRange(data, 0, data.length);
  const half = data.length >> 1;
  second.start({ op: 'minMax', data, from: half, to: data.length });
  let own: [number, number];
  try {
    own = minMaxRange(data, 0, half);
  } catch (err) {
    second.join();
    throw err;
  }
  const other = second.join();
  return [Math.min(own[0], other[0]), Math.max(own[1], other[1])];
}

/**
 * Runs a tiled loop over output planes in two halves at once when `second` can (shared source),
 * the second half straight into `out` when it is shared too, else into a scratch part copied in.
 */
function splitPlanes<T extends Float32Array | Uint8Array>(second: SecondThread | null | undefined, src: T, out: T, shape: Shape3, own: (part: PlaneRange) => void, task: (out: T, part: PlaneRange) => SplitTask): void {
  const plane = shape[1] * shape[2];
  if (!splits(second, out.length, src) || shape[0] < 2) {
    own({ from: 0, to: shape[0], shift: 0 });
    return;
  }
  const half = shape[0] >> 1;
  const direct = shared(out);
  const part = direct ? out : (new (out.constructor as new (b: SharedArrayBuffer) => T)(second.sharedScratch((shape[0] - half) * plane * out.BYTES_PER_ELEMENT)));
  second.start(task(part, { from: half, to: shape[0], shift: direct ? 0 : half * plane }));
  try {
    own({ from: 0, to: half, shift: 0 });
  } finally {
    second.join();
  }
  if (!direct) out.set(part as never, half * plane);
}

/**
 * A bijective integral resample (axis permutation/flip: every input value lands
 * once in the output) of float32 values with min-max normalisation on the way:
 * out = fround(v - lo) / range, exactly what normalize "minmax" computes after
 * it, in one pass over the volume instead of two. Null when `outToIn` is not such a map.
 * `out` (every value of it is written) may be a reused array; with `second` and a
 * shared source, two threads write halves of it.
 */
export function permuteNormalized(src: Float32Array, inShape: Shape3, outToIn: Mat4, shape: Shape3, lo: number, range: number, out: Float32Array = new Float32Array(shape[0] * shape[1] * shape[2]), second?: SecondThread | null): Float32Array | null {
  const m = outToIn.map(Math.round);
  if (!isBijection(outToIn, shape, inShape)) return null;
  if (out.length !== shape[0] * shape[1] * shape[2]) throw new Error(`permuteNormalized: output has ${out.length} values for a ${shape.join('×')} grid`);
  const plan = tiledPlan(inShape, m, shape);
  splitPlanes(second, src, out, shape, (part) => permuteNormalizedPart(src, plan, lo, range, out, part), (o, part) => ({ op: 'permuteNormalized', src, plan, lo, range, out: o, part }));
  return out;
}

function copyTiled(src: Float32Array | Uint8Array, inShape: Shape3, m: Mat4, shape: Shape3, out: Float32Array | Uint8Array, second: SecondThread | null | undefined): void {
  const plan = tiledPlan(inShape, m, shape);
  const whole: PlaneRange = { from: 0, to: shape[0], shift: 0 };
  if (src instanceof Float32Array && out instanceof Float32Array) copyTiledF32(src, plan, out, whole);
  else if (src instanceof Uint8Array && out instanceof Uint8Array) splitPlanes(second, src, out, shape, (part) => copyTiledU8(src, plan, out, part), (o, part) => ({ op: 'copyU8', src, plan, out: o, part }));
  else throw new Error('copyTiled: input and output must have the same element type');
}

/**
 * Exact copy through an integer affine (axis permutations, flips, crops, pads):
 * per output row, one contiguous run of source indices with a constant stride,
 * no rounding or bounds test per voxel.
 */
function copyIntegral(src: Float32Array | Uint8Array, inShape: Shape3, m: Mat4, shape: Shape3, fill: number, out: Float32Array | Uint8Array, second: SecondThread | null | undefined): void {
  const [d0, d1, d2] = inShape;
  const n = shape[2];
  const step = m[2]! * d1 * d2 + m[6]! * d2 + m[10]!;
  if (step !== 1 && mapsInside(m, shape, inShape, 0)) {
    copyTiled(src, inShape, m, shape, out, second);
    return;
  }
  let o = 0;
  for (let i = 0; i < shape[0]; i++) {
    for (let j = 0; j < shape[1]; j++, o += n) {
      const a = m[0]! * i + m[1]! * j + m[3]!;
      const b = m[4]! * i + m[5]! * j + m[7]!;
      const c = m[8]! * i + m[9]! * j + m[11]!;
      const ra = inRange(a, m[2]!, d0, n);
      const rb = inRange(b, m[6]!, d1, n);
      const rc = inRange(c, m[10]!, d2, n);
      const lo = Math.max(ra[0], rb[0], rc[0]);
      const hi = Math.min(ra[1], rb[1], rc[1]);
      if (lo >= hi) {
        out.fill(fill, o, o + n);
        continue;
      }
      if (lo > 0) out.fill(fill, o, o + lo);
      if (hi < n) out.fill(fill, o + hi, o + n);
      let p = (a * d1 + b) * d2 + c + lo * step;
      if (step === 1) out.set(src.subarray(p, p + hi - lo), o + lo);
      else for (let k = o + lo, end = o + hi; k < end; k++, p += step) out[k] = src[p]!;
    }
  }
}

/**
 * Resamples `grid` onto a new grid of `shape`, where `outToIn` maps output
 * indices to input indices. Samples outside the input take `outside`
 * ('clamp' repeats the edge). Integral affines (permutations, flips, crops)
 * are copied exactly; a tiled uint8 copy runs in halves on two threads with `second`
 * when `input.data` (and best `out`) are shared.
 */
export function resample(
  input: { data: Float32Array | Uint8Array; shape: Shape3 },
  outToIn: Mat4,
  shape: Shape3,
  interpolation: 'nearest' | 'linear',
  outside: number | 'clamp',
  out: Float32Array | Uint8Array = new Float32Array(shape[0] * shape[1] * shape[2]),
  second?: SecondThread | null,
): Float32Array | Uint8Array {
  const [d0, d1, d2] = input.shape;
  const src = input.data;
  const integral = isIntegral(outToIn);
  if (integral && outside !== 'clamp') {
    copyIntegral(src, input.shape, outToIn.map(Math.round), shape, outside, out, second);
    return out;
  }
  const m = integral ? outToIn.map(Math.round) : outToIn;
  const nearest = interpolation === 'nearest' || integral;
  const clamp = outside === 'clamp';
  const fill = clamp ? 0 : outside;
  let o = 0;
  for (let i = 0; i < shape[0]; i++) {
    for (let j = 0; j < shape[1]; j++) {
      // Position of (i, j, 0) and the step along axis 2.
      let x = m[0]! * i + m[1]! * j + m[3]!;
      let y = m[4]! * i + m[5]! * j + m[7]!;
      let z = m[8]! * i + m[9]! * j + m[11]!;
      const dx = m[2]!;
      const dy = m[6]!;
      const dz = m[10]!;
      for (let k = 0; k < shape[2]; k++, o++, x += dx, y += dy, z += dz) {
        if (nearest) {
          let a = Math.round(x);
          let b = Math.round(y);
          let c = Math.round(z);
          if (a < 0 || b < 0 || c < 0 || a >= d0 || b >= d1 || c >= d2) {
            if (!clamp) {
              out[o] = fill;
              continue;
            }
            a = Math.min(d0 - 1, Math.max(0, a));
            b = Math.min(d1 - 1, Math.max(0, b));
            c = Math.min(d2 - 1, Math.max(0, c));
          }
          out[o] = src[(a * d1 + b) * d2 + c]!;
          continue;
        }
        let fx = x;
        let fy = y;
        let fz = z;
        if (fx < -0.5 || fy < -0.5 || fz < -0.5 || fx > d0 - 0.5 || fy > d1 - 0.5 || fz > d2 - 0.5) {
          if (!clamp) {
            out[o] = fill;
            continue;
          }
        }
        fx = Math.min(d0 - 1, Math.max(0, fx));
        fy = Math.min(d1 - 1, Math.max(0, fy));
        fz = Math.min(d2 - 1, Math.max(0, fz));
        const a0 = Math.floor(fx);
        const b0 = Math.floor(fy);
        const c0 = Math.floor(fz);
        const a1 = Math.min(a0 + 1, d0 - 1);
        const b1 = Math.min(b0 + 1, d1 - 1);
        const c1 = Math.min(c0 + 1, d2 - 1);
        const ta = fx - a0;
        const tb = fy - b0;
        const tc = fz - c0;
        const at = (a: number, b: number, c: number) => src[(a * d1 + b) * d2 + c]!;
        const c00 = at(a0, b0, c0) * (1 - tc) + at(a0, b0, c1) * tc;
        const c01 = at(a0, b1, c0) * (1 - tc) + at(a0, b1, c1) * tc;
        const c10 = at(a1, b0, c0) * (1 - tc) + at(a1, b0, c1) * tc;
        const c11 = at(a1, b1, c0) * (1 - tc) + at(a1, b1, c1) * tc;
        out[o] = (c00 * (1 - tb) + c01 * tb) * (1 - ta) + (c10 * (1 - tb) + c11 * tb) * ta;
      }
    }
  }
  return out;
}
