/**
 * PreprocessingPipeline: runs a manifest's ordered preprocessing ops on the
 * source grid (stacked slices, axis 0 = slice) and assembles the model's input
 * tensor. Every geometric op composes the index affine back to the source
 * grid, so outputs can be mapped to the source pixels exactly (the inverse of
 * the preprocessing geometry).
 */
import { GEOMETRIC_PREPROCESS_OPS, type ModelManifest, type PreprocessOp } from './model-manifest';
import type { UltrasoundRegion } from '../dicom/ultrasound-regions';
import { applyVoi, type VoiTransform } from '../dicom/voi-lut';
import { apply, type Grid, invert, isBijection, mapsInside, type Mat4, minMax, multiply, orientedGrid, permuteNormalized, resample, type SecondThread, type Shape3 } from './grid-geometry';

export interface SourceVolume {
  /** Stored values, [slices, rows, columns]. */
  grid: Grid;
  /** Rescale slope/intercept per slice. */
  rescale: { slope: number; intercept: number }[];
  photometric: string;
  /** Source index -> patient LPS mm; null when the images carry no geometry. */
  sourceToPatient: Mat4 | null;
  /**
   * The ultrasound B-mode region to crop the unit to (in source pixels): one view of a per-image unit, or the region
   * every slice shares; null: cropUltrasoundRegion is a no-op.
   */
  ultrasoundRegion: UltrasoundRegion | null;
  /** Each slice's own VOI LUT transformation (null: none); absent: no slice has one. */
  voi?: (VoiTransform | null)[];
}

export interface PreparedInput {
  /** The final scalar grid (before channel replication). */
  grid: Grid;
  channels: Float32Array[];
}

export class PreprocessingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreprocessingError';
  }
}

function percentile(data: Float32Array, pLow: number, pHigh: number): [number, number] {
  // Exact on up to 4M values; a regular subsample above that.
  const stride = Math.max(1, Math.ceil(data.length / 4_000_000));
  const sample = new Float32Array(Math.ceil(data.length / stride));
  for (let i = 0, j = 0; i < data.length; i += stride, j++) sample[j] = data[i]!;
  sample.sort();
  const at = (p: number) => {
    const pos = (p / 100) * (sample.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(sample.length - 1, lo + 1);
    return sample[lo]! + (sample[hi]! - sample[lo]!) * (pos - lo);
  };
  return [at(pLow), at(pHigh)];
}

const AXIS = { slices: 0, rows: 1, columns: 2 } as const;

/** Gives the float32 array for a large intermediate grid (every value of it is written): the runner may hand out reused ones. */
export type Float32Alloc = (length: number) => Float32Array;

const freshFloat32: Float32Alloc = (length) => new Float32Array(length);

function geometric(grid: Grid, outToIn: Mat4, shape: Shape3, interpolation: 'nearest' | 'linear', outside: number | 'clamp', alloc: Float32Alloc): Grid {
  const data = resample(grid, outToIn, shape, interpolation, outside, alloc(shape[0] * shape[1] * shape[2])) as Float32Array;
  return { data, shape, toSource: multiply(grid.toSource, outToIn) };
}

function scaleAffine(from: Shape3, to: Shape3): Mat4 {
  // Pixel-centre aligned (align_corners = false): in = (out + 0.5) * from/to - 0.5.
  const s = [0, 1, 2].map((a) => from[a]! / to[a]!);
  return [s[0]!, 0, 0, 0.5 * s[0]! - 0.5, 0, s[1]!, 0, 0.5 * s[1]! - 0.5, 0, 0, s[2]!, 0.5 * s[2]! - 0.5, 0, 0, 0, 1];
}

/**
 * Per output index along one axis: the first source index it covers and the
 * normalised overlap weights of the source pixels under it (box filter).
 */
function areaTaps(from: number, to: number): { first: Int32Array; weights: Float32Array[] } {
  const first = new Int32Array(to);
  const weights: Float32Array[] = [];
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    const a = o * scale;
    const b = (o + 1) * scale;
    const i0 = Math.floor(a);
    const i1 = Math.min(from, Math.ceil(b));
    const w = new Float32Array(i1 - i0);
    for (let i = i0; i < i1; i++) w[i - i0] = (Math.min(b, i + 1) - Math.max(a, i)) / (b - a);
    first[o] = i0;
    weights.push(w);
  }
  return { first, weights };
}

/** Area-averaging in-plane resize; the geometry is the same pixel-centre mapping as the other resizes. */
function areaResize(grid: Grid, to: Shape3): Grid {
  const [slices, rows, cols] = grid.shape;
  if (to[0] !== slices) throw new PreprocessingError('area resize works in-plane only: keep the slice count');
  const colTaps = areaTaps(cols, to[2]);
  const rowTaps = areaTaps(rows, to[1]);
  const tmp = new Float32Array(rows * to[2]);
  const out = new Float32Array(slices * to[1] * to[2]);
  for (let s = 0; s < slices; s++) {
    const base = s * rows * cols;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < to[2]; c++) {
        const w = colTaps.weights[c]!;
        const i0 = base + r * cols + colTaps.first[c]!;
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k]! * grid.data[i0 + k]!;
        tmp[r * to[2] + c] = acc;
      }
    }
    const outBase = s * to[1] * to[2];
    for (let r = 0; r < to[1]; r++) {
      const w = rowTaps.weights[r]!;
      const r0 = rowTaps.first[r]!;
      for (let c = 0; c < to[2]; c++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k]! * tmp[(r0 + k) * to[2] + c]!;
        out[outBase + r * to[2] + c] = acc;
      }
    }
  }
  return { data: out, shape: to, toSource: multiply(grid.toSource, scaleAffine(grid.shape, to)) };
}

/**
 * `alloc` gives the arrays of new grids; with `second` (a thread beside the runner's) the volume
 * loops of the reorient + min-max pass run in halves on both threads when the source is shared.
 */
export function runPreprocessing(ops: readonly PreprocessOp[], source: SourceVolume, alloc: Float32Alloc = freshFloat32, second: SecondThread | null = null): PreparedInput {
  let grid = source.grid;
  let channels: Float32Array[] | null = null;
  const eachChannel = (fn: (d: Float32Array) => void) => {
    for (const d of new Set(channels ?? [grid.data])) fn(d);
  };
  for (let index = 0; index < ops.length; index++) {
    const op = ops[index]!;
    if (channels && !['normalize', 'window', 'percentileClip'].includes(op.op)) {
      throw new PreprocessingError(`op "${op.op}" must come before replicateChannels`);
    }
    switch (op.op) {
      case 'modalityRescale': {
        const plane = grid.shape[1] * grid.shape[2];
        if (grid.data !== source.grid.data) throw new PreprocessingError('modalityRescale must run before geometric ops');
        for (let s = 0; s < grid.shape[0]; s++) {
          const { slope, intercept } = source.rescale[s] ?? { slope: 1, intercept: 0 };
          if (slope === 1 && intercept === 0) continue;
          for (let i = s * plane; i < (s + 1) * plane; i++) grid.data[i] = grid.data[i]! * slope + intercept;
        }
        break;
      }
      case 'voiLut': {
        // Slice by slice, so the grid must still have the source's slices (checked at load: before geometric ops).
        const slices = source.grid.shape[0];
        if (grid.shape[0] !== slices) throw new PreprocessingError('voiLut must run before ops that change the slices');
        const plane = grid.shape[1] * grid.shape[2];
        for (let s = 0; s < slices; s++) {
          const voi = source.voi?.[s];
          if (voi) applyVoi(grid.data.subarray(s * plane, (s + 1) * plane), voi);
        }
        break;
      }
      case 'invertMonochrome1': {
        if (source.photometric !== 'MONOCHROME1') break;
        const [lo, hi] = minMax(grid.data, second);
        for (let i = 0; i < grid.data.length; i++) grid.data[i] = lo + hi - grid.data[i]!;
        break;
      }
      case 'window': {
        const lo = op.center - op.width / 2;
        const hi = op.center + op.width / 2;
        eachChannel((d) => {
          for (let i = 0; i < d.length; i++) d[i] = Math.min(hi, Math.max(lo, d[i]!));
        });
        break;
      }
      case 'percentileClip': {
        eachChannel((d) => {
          const [lo, hi] = percentile(d, op.lower, op.upper);
          for (let i = 0; i < d.length; i++) d[i] = Math.min(hi, Math.max(lo, d[i]!));
        });
        break;
      }
      case 'resize': {
        const to: Shape3 = op.size.length === 2 ? [grid.shape[0], op.size[0]!, op.size[1]!] : [op.size[0]!, op.size[1]!, op.size[2]!];
        grid = op.interpolation === 'area' ? areaResize(grid, to) : geometric(grid, scaleAffine(grid.shape, to), to, op.interpolation, 'clamp', alloc);
        break;
      }
      case 'cropUltrasoundRegion': {
        // Refused by position, not by data, so a misplaced op fails on every series alike.
        const earlier = ops.slice(0, index).find((o) => GEOMETRIC_PREPROCESS_OPS.has(o.op));
        if (earlier) throw new PreprocessingError(`cropUltrasoundRegion must come before geometric ops ("${earlier.op}" comes first)`);
        const region = source.ultrasoundRegion;
        if (!region) break;
        const [slices, rows, columns] = grid.shape;
        if (region.x0 < 0 || region.y0 < 0 || region.x1 >= columns || region.y1 >= rows || region.x1 < region.x0 || region.y1 < region.y0) {
          throw new PreprocessingError(`the ultrasound region (${region.x0},${region.y0})–(${region.x1},${region.y1}) does not lie inside the ${columns}×${rows} image`);
        }
        const to: Shape3 = [slices, region.y1 - region.y0 + 1, region.x1 - region.x0 + 1];
        grid = geometric(grid, [1, 0, 0, 0, 0, 1, 0, region.y0, 0, 0, 1, region.x0, 0, 0, 0, 1], to, 'nearest', 0, alloc);
        break;
      }
      case 'cropSquare': {
        const side = Math.min(grid.shape[1], grid.shape[2]);
        const top = Math.floor((grid.shape[1] - side) / 2);
        const left = Math.floor((grid.shape[2] - side) / 2);
        grid = geometric(grid, [1, 0, 0, 0, 0, 1, 0, top, 0, 0, 1, left, 0, 0, 0, 1], [grid.shape[0], side, side], 'nearest', 0, alloc);
        break;
      }
      case 'cropPad': {
        const to: Shape3 = op.size.length === 2 ? [grid.shape[0], op.size[0]!, op.size[1]!] : [op.size[0]!, op.size[1]!, op.size[2]!];
        const off = [0, 1, 2].map((a) => Math.floor((grid.shape[a]! - to[a]!) / 2));
        const pad = op.pad === 'min' ? minMax(grid.data, second)[0] : op.pad;
        grid = geometric(grid, [1, 0, 0, off[0]!, 0, 1, 0, off[1]!, 0, 0, 1, off[2]!, 0, 0, 0, 1], to, 'nearest', pad, alloc);
        break;
      }
      case 'flip': {
        const m = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        for (const name of new Set(op.axes)) {
          const a = AXIS[name];
          m[a * 4 + a] = -1;
          m[a * 4 + 3] = grid.shape[a]! - 1;
        }
        grid = geometric(grid, m, grid.shape, 'nearest', 0, alloc);
        break;
      }
      case 'rotate90': {
        for (let k = 0; k < op.k; k++) {
          // np.rot90 (counter-clockwise): out[i][j] = in[j][W-1-i], out shape [W, H].
          const [d, h, w] = grid.shape;
          grid = geometric(grid, [1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, w - 1, 0, 0, 0, 1], [d, w, h], 'nearest', 0, alloc);
        }
        break;
      }
      case 'reorient': {
        if (!source.sourceToPatient) throw new PreprocessingError('reorient needs Image Position/Orientation (Patient) and Pixel Spacing on every slice');
        const curToPatient = multiply(source.sourceToPatient, grid.toSource);
        const centre = apply(curToPatient, [(grid.shape[0] - 1) / 2, (grid.shape[1] - 1) / 2, (grid.shape[2] - 1) / 2]);
        const outToPatient = orientedGrid(op.orientation, op.spacingMm, op.size, centre);
        const outToCur = multiply(invert(curToPatient), outToPatient);
        // Outside the source the grid takes its minimum (not needed, so not computed, when the output lies inside it).
        const size: Shape3 = [...op.size];
        // Reorient then min-max (MeshNet's conform): when the reorientation only permutes/flips the
        // axes, both happen in one pass (a permutation keeps the range), with the same float32 results.
        const next = ops[index + 1];
        if (next?.op === 'normalize' && next.method === 'minmax' && !channels && isBijection(outToCur, size, grid.shape)) {
          const [lo, hi] = minMax(grid.data, second);
          const range = Math.fround(hi - lo);
          const data = range > 0 ? permuteNormalized(grid.data, grid.shape, outToCur, size, lo, range, alloc(size[0] * size[1] * size[2]), second) : null;
          if (data) {
            grid = { data, shape: size, toSource: multiply(grid.toSource, outToCur) };
            index++;
            break;
          }
        }
        const fill = mapsInside(outToCur, size, grid.shape, 0.49) ? 0 : minMax(grid.data, second)[0];
        grid = geometric(grid, outToCur, size, op.interpolation, fill, alloc);
        break;
      }
      case 'replicateChannels': {
        channels = new Array<Float32Array>(op.channels).fill(grid.data);
        break;
      }
      case 'normalize': {
        if (op.method === 'fixed') {
          const mean = op.mean!;
          const std = op.std!;
          const list: Float32Array[] = channels ?? [grid.data];
          if (list.length !== mean.length) throw new PreprocessingError(`fixed normalisation has ${mean.length} channel statistics for ${list.length} channels`);
          channels = list.map((d, c) => {
            const out = new Float32Array(d.length);
            for (let i = 0; i < d.length; i++) out[i] = (d[i]! - mean[c]!) / std[c]!;
            return out;
          });
          break;
        }
        eachChannel((d) => {
          if (op.method === 'minmax') {
            const [lo, hi] = minMax(d, second);
            const range = Math.fround(hi - lo);
            if (range > 0) for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i]! - lo) / range;
            else d.fill(0);
          } else {
            let sum = 0;
            for (let i = 0; i < d.length; i++) sum += d[i]!;
            const mean = sum / d.length;
            let sq = 0;
            for (let i = 0; i < d.length; i++) sq += (d[i]! - mean) ** 2;
            const std = Math.sqrt(sq / d.length) || 1;
            for (let i = 0; i < d.length; i++) d[i] = (d[i]! - mean) / std;
          }
        });
        break;
      }
    }
  }
  return { grid, channels: channels ?? [grid.data] };
}

export interface InputTensorData {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** Lays the prepared grid out as the declared input tensor (float32; the runner casts other dtypes). */
export function assembleInputTensor(manifest: ModelManifest, prepared: PreparedInput): InputTensorData {
  const spec = manifest.input.tensors[0]!;
  const [d, h, w] = prepared.grid.shape;
  const c = prepared.channels.length;
  const unit = manifest.input.unit;
  if (unit === 'image' && d !== 1) throw new PreprocessingError(`unit "image" expects one plane, got ${d}`);
  const size: Record<string, number> = { C: c, H: h, W: w, D: d, S: d, N: unit === 'slices' && spec.layout !== 'NSCHW' ? d : 1 };
  const dims = [...spec.layout].map((letter) => size[letter]!);
  spec.shape.forEach((declared, i) => {
    if (typeof declared === 'number' && declared !== dims[i]) {
      throw new PreprocessingError(`input "${spec.name}" dim ${i} (${spec.layout[i]}) is ${dims[i]} after preprocessing but the manifest declares ${declared}`);
    }
  });
  const plane = h * w;
  const total = d * plane;
  const channelFirstWhole = spec.layout === 'NCDHW' || (spec.layout === 'NCHW' && d === 1);
  // One channel: every layout is the grid's own order, so hand the grid itself to the runtime (no copy).
  if (c === 1) return { name: spec.name, dims, data: prepared.channels[0]! };
  const data = new Float32Array(total * c);
  const channelsLast = spec.layout === 'NHWC' || spec.layout === 'NDHWC';
  if (!channelsLast) {
    if (channelFirstWhole) {
      prepared.channels.forEach((ch, k) => data.set(ch, k * total));
    } else {
      // NCHW over slices (N = slices) and NSCHW: per slice, all channels.
      for (let s = 0; s < d; s++) prepared.channels.forEach((ch, k) => data.set(ch.subarray(s * plane, (s + 1) * plane), (s * c + k) * plane));
    }
  } else {
    for (let i = 0; i < total; i++) for (let k = 0; k < c; k++) data[i * c + k] = prepared.channels[k]![i]!;
  }
  return { name: spec.name, dims, data };
}
