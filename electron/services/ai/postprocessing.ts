/**
 * Post-processing of raw model outputs into findings and overlays:
 * classification (activation, per-label operating points, slice aggregation),
 * segmentation (argmax / threshold, per-label voxel counts), heatmaps and
 * detection (box decoding, score threshold, per-class NMS), each mapped back to
 * the source grid through the inverse of the preprocessing geometry.
 */
import type { Finding } from '../../../contract/ipc-contract';
import type { OutputSpec } from './model-manifest';
import { apply, type Grid, invert, type Mat4, multiply, resample, type SecondThread, type Shape3 } from './grid-geometry';

/** The stored finding is the contract's: one shape from the worker to the UI. */
export type { Finding } from '../../../contract/ipc-contract';

export interface RawOutput {
  dims: readonly number[];
  data: Float32Array;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Per-row scores [rows][labels] after activation. */
export function classificationScores(spec: Extract<OutputSpec, { kind: 'classification' }>, out: RawOutput): number[][] {
  const labels = spec.labels.length;
  if (out.data.length % labels !== 0) throw new Error(`output "${spec.tensor}" has ${out.data.length} values, not a multiple of ${labels} labels`);
  const rows: number[][] = [];
  for (let r = 0; r < out.data.length / labels; r++) {
    const logits = Array.from(out.data.subarray(r * labels, (r + 1) * labels));
    if (spec.activation === 'sigmoid') rows.push(logits.map(sigmoid));
    else if (spec.activation === 'softmax') {
      const max = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      rows.push(e.map((v) => v / sum));
    } else rows.push(logits);
  }
  return rows;
}

export function aggregateScores(rows: number[][], method: 'max' | 'mean'): number[] {
  const n = rows[0]?.length ?? 0;
  return Array.from({ length: n }, (_, l) => {
    const col = rows.map((r) => r[l]!);
    return method === 'max' ? Math.max(...col) : col.reduce((a, b) => a + b, 0) / col.length;
  });
}

/**
 * The classification row of an image from the rows of its B-mode regions, or of a case from the rows of its images
 * (aggregation "max"): it scores as its most suspicious part. Each finding label takes its highest row: a finding
 * seen in any view or image is seen (for validation, the positive label's score is its max over the case). A
 * softmax's declared normal labels ("nothing found") take their LOWEST row instead: the case is only as normal as its
 * least normal image. A column-wise max there would call one case both normal (from a clean image) and malignant
 * (from another); for a two-class model this gives exactly the row of the most suspicious image. Without declared
 * normal labels (or not a softmax) every label takes its highest row.
 */
export function mostSuspiciousScores(spec: Extract<OutputSpec, { kind: 'classification' }>, rows: readonly number[][]): number[] {
  const highest = aggregateScores([...rows], 'max');
  const normal = new Set(spec.normalLabels ?? []);
  if (spec.activation !== 'softmax' || normal.size === 0 || normal.size === spec.labels.length) return highest;
  return spec.labels.map((label, i) => (normal.has(label) ? Math.min(...rows.map((r) => r[i]!)) : highest[i]!));
}

export function classificationFindings(spec: Extract<OutputSpec, { kind: 'classification' }>, scores: number[]): Finding[] {
  return spec.labels.map((label, i) => {
    const threshold = Array.isArray(spec.thresholds) ? spec.thresholds[i]! : spec.thresholds;
    return { label, score: scores[i]!, positive: scores[i]! >= threshold, threshold, ...(spec.normalLabels?.includes(label) ? { normal: true } : {}) };
  });
}

/**
 * Volume of one source voxel in mL from the source index -> patient affine
 * (row-major 4×4, mm), or null when it cannot be measured: no geometry, or a
 * single slice (its thickness is not in the affine).
 */
export function voxelVolumeMl(sourceToPatient: readonly number[] | null, slices: number): number | null {
  if (!sourceToPatient || sourceToPatient.length < 12 || slices < 2) return null;
  const m = (r: number, c: number) => sourceToPatient[r * 4 + c]!;
  const det = m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0)) + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
  const ml = Math.abs(det) / 1000;
  return Number.isFinite(ml) && ml > 0 ? ml : null;
}

/**
 * One finding per non-background label, by the output's `findings` rule:
 * score = volume fraction of the source grid; anatomy (and an output that
 * declares nothing) gives measurements; a lesion label is positive when its
 * volume reaches minVolumeMl (any voxel when the volume is unknown).
 */
export function segmentationFindings(spec: Extract<OutputSpec, { kind: 'segmentation' }>, sourceCounts: readonly number[], totalVoxels: number, voxelMl: number | null): Finding[] {
  const rule = spec.findings;
  const lesions = rule?.role === 'lesion' ? new Set(rule.labels ?? spec.labels.filter((l) => l.index !== 0).map((l) => l.name)) : new Set<string>();
  return spec.labels
    .filter((l) => l.index !== 0)
    .map((l) => {
      const voxels = sourceCounts[l.index] ?? 0;
      const base = { label: l.name, score: totalVoxels > 0 ? voxels / totalVoxels : 0, voxels, ...(voxelMl !== null ? { volumeMl: voxels * voxelMl } : {}) };
      if (rule?.role !== 'lesion' || !lesions.has(l.name)) return { ...base, positive: false, measurement: true };
      // A hair of tolerance: spacings come from decimal strings, so an exact minimum must not miss by rounding.
      const positive = voxels > 0 && (voxelMl === null || voxels * voxelMl >= rule.minVolumeMl * (1 - 1e-9));
      return { ...base, positive, minVolumeMl: rule.minVolumeMl };
    });
}

/**
 * Label map over the model grid [D, H, W] from logits [.., C, D, H, W] (channel axis 1, or 0 for [N=D, C, H, W]),
 * written into `into` when given (every value of it is written; the runner may hand out a reused array).
 */
export function segmentationLabels(spec: Extract<OutputSpec, { kind: 'segmentation' }>, out: RawOutput, grid: Shape3, perSlice: boolean, counts?: Uint32Array, into?: Uint8Array): Uint8Array {
  const { labels, counted } = segmentationLabelMap(spec, out, grid, perSlice, counts, into);
  if (counts && !counted) for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return labels;
}

/** The label map; `counted` when a fast path tallied `counts` while writing it (saves a pass over the volume). */
function segmentationLabelMap(spec: Extract<OutputSpec, { kind: 'segmentation' }>, out: RawOutput, grid: Shape3, perSlice: boolean, counts?: Uint32Array, into?: Uint8Array): { labels: Uint8Array; counted: boolean } {
  const voxels = grid[0] * grid[1] * grid[2];
  const plane = grid[1] * grid[2];
  const classes = out.data.length / voxels;
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`segmentation output "${spec.tensor}" has ${out.data.length} values for ${voxels} voxels`);
  if (into && into.length !== voxels) throw new Error(`segmentationLabels: label array has ${into.length} values for ${voxels} voxels`);
  const labels = into ?? new Uint8Array(voxels);
  const data = out.data;
  // Index of class c at voxel v: channel-first over the whole grid, or per slice ([D, C, H, W]).
  const at = perSlice ? (c: number, v: number) => (Math.floor(v / plane) * classes + c) * plane + (v % plane) : (c: number, v: number) => c * voxels + v;
  if (spec.method === 'threshold' || classes === 1) {
    const t = spec.threshold ?? 0.5;
    const fg = spec.labels.find((l) => l.index !== 0)?.index ?? 1;
    const ch = classes === 1 ? 0 : 1;
    for (let v = 0; v < voxels; v++) labels[v] = sigmoid(data[at(ch, v)]!) >= t ? fg : 0;
    return { labels, counted: false };
  }
  if (!perSlice) {
    // Channel-first: one pass over the voxels, reading the C channel planes as C sequential streams.
    if (classes === 2) {
      for (let v = 0; v < voxels; v++) labels[v] = data[voxels + v]! > data[v]! ? 1 : 0;
      return { labels, counted: false };
    }
    if (classes === 3) {
      const v2 = 2 * voxels;
      const tally = counts ?? new Uint32Array(3);
      for (let v = 0; v < voxels; v++) {
        const a = data[v]!;
        const b = data[voxels + v]!;
        const c = data[v2 + v]!;
        const l = b > a ? (c > b ? 2 : 1) : c > a ? 2 : 0;
        labels[v] = l;
        tally[l]!++;
      }
      return { labels, counted: true };
    }
    for (let v = 0; v < voxels; v++) {
      let bi = 0;
      let bv = data[v]!;
      for (let c = 1, off = voxels + v; c < classes; c++, off += voxels) {
        const x = data[off]!;
        if (x > bv) {
          bv = x;
          bi = c;
        }
      }
      labels[v] = bi;
    }
    return { labels, counted: false };
  }
  for (let v = 0; v < voxels; v++) {
    let bi = 0;
    let bv = data[at(0, v)]!;
    for (let c = 1; c < classes; c++) {
      const x = data[at(c, v)]!;
      if (x > bv) {
        bv = x;
        bi = c;
      }
    }
    labels[v] = bi;
  }
  return { labels, counted: false };
}

export function labelCounts(labels: Uint8Array, classes: number, counted?: Uint32Array): number[] {
  let counts = counted;
  if (!counts) {
    counts = new Uint32Array(256);
    for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  }
  let n = Math.max(classes, 1);
  for (let c = n; c < 256; c++) if (counts[c]! > 0) n = c + 1;
  return Array.from(counts.subarray(0, n));
}

/**
 * Maps a model-grid array back onto the source grid (nearest for labels, linear for heatmaps), into `into`
 * when given (same element type; every value of it is written); a permuted label map is copied in
 * halves on two threads with `second` when the arrays are shared.
 */
export function toSourceGrid<T extends Float32Array | Uint8Array>(values: T, model: Grid, sourceShape: Shape3, interpolation: 'nearest' | 'linear', into?: T, second: SecondThread | null = null): T {
  const sourceToModel = invert(model.toSource);
  const voxels = sourceShape[0] * sourceShape[1] * sourceShape[2];
  if (into && (into.length !== voxels || into.constructor !== values.constructor)) throw new Error(`toSourceGrid: output array does not fit a ${sourceShape.join('×')} ${values.constructor.name} grid`);
  const out = into ?? ((values instanceof Uint8Array ? new Uint8Array(voxels) : new Float32Array(voxels)) as T);
  resample({ data: values, shape: model.shape }, sourceToModel, sourceShape, interpolation, 0, out, second);
  return out;
}

/** Heatmap values one result keeps at most (64 MiB of float32); a longer or larger series keeps a coarser map. */
export const MAX_HEATMAP_VALUES = 16 * 1024 * 1024;

/**
 * The pixel step a heatmap of `slices` planes of rows × columns is stored at: 1 (every pixel) unless that
 * exceeds `budget` values, else the smallest step that fits. A model's map is a smooth upsampling of its
 * own grid (28×28 for the shipped models), so a 300-frame 600×800 cine loses nothing visible at step 3,
 * and the worker and the viewer need not hold 144 M values of it.
 */
export function heatmapStep(slices: number, rows: number, columns: number, budget = MAX_HEATMAP_VALUES): number {
  const stored = (step: number) => slices * Math.ceil(rows / step) * Math.ceil(columns / step);
  let step = Math.max(1, Math.floor(Math.sqrt((slices * rows * columns) / budget)));
  while (stored(step) > budget && (step < rows || step < columns)) step++;
  return step;
}

/**
 * Image pixel (row or column index) that stored pixel `i` of a map kept at `step` samples: the centre of its block of
 * image pixels [i·step, (i+1)·step), or of the part of it inside the image (`n` pixels) for a partial last block.
 */
export function blockCentre(i: number, step: number, n: number): number {
  return (i * step + Math.min((i + 1) * step, n) - 1) / 2;
}

/**
 * A model-grid heatmap mapped back onto the source grid `sourceShape` keeping one value per step × step block of
 * source pixels (the map at each block's centre, see blockCentre): shape [slices, ceil(rows / step), ceil(columns /
 * step)]. Step 1 is toSourceGrid itself.
 */
export function toCoarseSourceGrid(values: Float32Array, model: Grid, sourceShape: Shape3, step: number): { data: Float32Array; shape: Shape3 } {
  if (step === 1) return { data: toSourceGrid(values, model, sourceShape, 'linear'), shape: sourceShape };
  const [slices, rows, columns] = sourceShape;
  const shape: Shape3 = [slices, Math.ceil(rows / step), Math.ceil(columns / step)];
  const sourceToModel = invert(model.toSource);
  const input = { data: values, shape: model.shape };
  const h = (step - 1) / 2;
  // Stored index -> source index; `row` / `column` null: every block's centre (i·step + h), else that one source line.
  const storedToSource = (row: number | null, column: number | null): Mat4 => [
    1, 0, 0, 0,
    0, row === null ? step : 0, 0, row ?? h,
    0, 0, column === null ? step : 0, column ?? h,
    0, 0, 0, 1,
  ];
  const data = resample(input, multiply(sourceToModel, storedToSource(null, null)), shape, 'linear', 0) as Float32Array;
  // A partial last block (rows or columns not a multiple of step) is sampled at its own centre, inside the image.
  const lastRow = rows % step ? blockCentre(shape[1] - 1, step, rows) : null;
  const lastColumn = columns % step ? blockCentre(shape[2] - 1, step, columns) : null;
  const plane = shape[1] * shape[2];
  if (lastRow !== null) {
    const line = resample(input, multiply(sourceToModel, storedToSource(lastRow, null)), [slices, 1, shape[2]], 'linear', 0);
    for (let s = 0; s < slices; s++) data.set(line.subarray(s * shape[2], (s + 1) * shape[2]), s * plane + (shape[1] - 1) * shape[2]);
  }
  if (lastColumn !== null) {
    // Rows as stored (the last one at its own centre too).
    for (let r = 0; r < shape[1]; r++) {
      const row = r === shape[1] - 1 && lastRow !== null ? lastRow : r * step + h;
      const line = resample(input, multiply(sourceToModel, storedToSource(row, lastColumn)), [slices, 1, 1], 'linear', 0);
      for (let s = 0; s < slices; s++) data[s * plane + r * shape[2] + shape[2] - 1] = line[s]!;
    }
  }
  return { data, shape };
}

export interface Box {
  label: string;
  score: number;
  /** Source-grid pixel coordinates: slice, and x0/y0/x1/y1 in columns/rows. */
  slice: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
  const iy = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const inter = ix * iy;
  const union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return union > 0 ? inter / union : 0;
}

/** Decodes [.., K, 6] rows (box, score, class), filters, per-class NMS, maps corners to the source grid. */
export function detectionBoxes(spec: Extract<OutputSpec, { kind: 'detection' }>, out: RawOutput, model: Grid, toSource: Mat4 = model.toSource): Box[] {
  const [, h, w] = model.shape;
  const rows = out.data.length / 6;
  const candidates: Box[] = [];
  for (let r = 0; r < rows; r++) {
    const v = out.data.subarray(r * 6, r * 6 + 6);
    const score = v[4]!;
    if (score < spec.scoreThreshold) continue;
    let [a, b, c, d] = [v[0]!, v[1]!, v[2]!, v[3]!];
    if (spec.normalized) [a, b, c, d] = [a * w, b * h, c * w, d * h];
    let [x0, y0, x1, y1] = spec.boxFormat === 'xyxy' ? [a, b, c, d] : spec.boxFormat === 'xywh' ? [a, b, a + c, b + d] : [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
    // Map model pixel corners (edges at -0.5) to source pixel coordinates.
    const p0 = apply(toSource, [0, y0 - 0.5, x0 - 0.5]);
    const p1 = apply(toSource, [0, y1 - 0.5, x1 - 0.5]);
    [x0, x1] = [Math.min(p0[2], p1[2]) + 0.5, Math.max(p0[2], p1[2]) + 0.5];
    [y0, y1] = [Math.min(p0[1], p1[1]) + 0.5, Math.max(p0[1], p1[1]) + 0.5];
    const label = spec.labels[Math.round(v[5]!)] ?? `class ${Math.round(v[5]!)}`;
    candidates.push({ label, score, slice: Math.round(p0[0]), x0, y0, x1, y1 });
  }
  candidates.sort((p, q) => q.score - p.score);
  const kept: Box[] = [];
  for (const cand of candidates) {
    if (kept.some((k) => k.label === cand.label && iou(k, cand) > spec.nmsIouThreshold)) continue;
    kept.push(cand);
  }
  return kept;
}
