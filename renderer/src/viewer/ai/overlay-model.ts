/**
 * AI overlays as data: which layers a stored result gives a series (heatmaps,
 * label maps, boxes), where a finding is strongest, colour maps and per-label
 * volumes. Pure functions; drawing lives in overlay-draw.ts.
 *
 * Every stored array is already on the source grid (the runtime mapped it back
 * through the manifest's inverse geometry), indexed [slice, row, column] with
 * slices in the result's inputSopInstanceUids order. So an overlay pixel
 * (row, column) of slice k covers image pixel (row, column) of that instance.
 */
import type { AnalysisResult } from '../../../../contract/ipc-contract';
import { planeFrame } from './labelmap-slices';

export type Rgb = readonly [number, number, number];

export interface ArrayRef {
  readonly file: string;
  readonly dtype: 'uint8' | 'float32';
  readonly shape: readonly [number, number, number];
  readonly sourceToPatient: readonly number[] | null;
  /**
   * Each slice's own [rows, columns] when the images differ in size: planes are then the largest image's size and a
   * smaller image fills its plane's top-left corner.
   */
  readonly imageShapes?: readonly (readonly [number, number])[];
  /**
   * A heatmap kept coarser than its images (a long or large series): one value per step × step block of image pixels,
   * the map at the block's centre; `shape` is what is stored and `imageShapes` stay in image pixels. Absent: 1.
   */
  readonly step?: number;
}

export interface SegLabel {
  readonly index: number;
  readonly name: string;
  readonly color: Rgb;
  readonly voxels: number;
}

export interface Box {
  readonly label: string;
  readonly score: number;
  readonly slice: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly sopInstanceUid: string;
}

interface LayerBase {
  /** Stable key: `<resultId>:<tensor>`. */
  readonly key: string;
  readonly resultId: number;
  readonly modelId: string;
  readonly seriesInstanceUid: string;
  readonly inputSopInstanceUids: readonly string[];
}

export type OverlayLayer =
  | (LayerBase & {
      readonly kind: 'heatmap';
      readonly label: string;
      readonly array: ArrayRef;
      /** The finding the map explains is positive (shown by default; negatives only on request). */
      readonly positive: boolean;
    })
  | (LayerBase & {
      readonly kind: 'segmentation';
      readonly labels: readonly SegLabel[];
      readonly array: ArrayRef;
      /** The model's own mask file (array.file differs once the reviewer edited the map). */
      readonly originalFile: string;
      /** The model's labels and voxel counts, present when the map was edited. */
      readonly originalLabels?: readonly SegLabel[];
    })
  | (LayerBase & { readonly kind: 'detection'; readonly boxes: readonly Box[] });

/** Whether `v` is a [rows, columns] pair of finite numbers. */
function isExtent(v: unknown): boolean {
  return Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number' && Number.isFinite(n));
}

function isArrayRef(v: unknown): v is ArrayRef {
  const a = v as ArrayRef | null;
  return Boolean(
    a &&
      typeof a.file === 'string' &&
      (a.dtype === 'uint8' || a.dtype === 'float32') &&
      Array.isArray(a.shape) &&
      a.shape.length === 3 &&
      (a.imageShapes === undefined || (Array.isArray(a.imageShapes) && a.imageShapes.every(isExtent))) &&
      (a.step === undefined || (Number.isInteger(a.step) && a.step >= 1)),
  );
}

/**
 * Slice `k`'s own [rows, columns] within its plane, in stored pixels (`step`: blocks of image pixels): its
 * `imageShapes` entry clamped to the plane (a missing extent,
 * or one that is not a number, is 0), or the whole plane when the array records no shape for it. Read defensively:
 * callers may hold an array whose `imageShapes` were never checked.
 */
export function sliceExtent(array: Pick<ArrayRef, 'shape' | 'imageShapes' | 'step'>, k: number): [rows: number, cols: number] {
  const [, rows, cols] = array.shape;
  const own: unknown = array.imageShapes?.[k];
  if (own === undefined || own === null) return [rows, cols];
  const [ownRows, ownCols]: unknown[] = Array.isArray(own) ? own : [];
  // An image's extent in stored pixels: its blocks, the last one partial.
  const step = typeof array.step === 'number' && Number.isInteger(array.step) && array.step >= 1 ? array.step : 1;
  const clamp = (v: unknown, max: number): number => {
    const n = Math.ceil(Number(v) / step);
    return Number.isNaN(n) ? 0 : Math.max(0, Math.min(max, n));
  };
  return [clamp(ownRows, rows), clamp(ownCols, cols)];
}

export interface MaskEdit {
  readonly resultId: number;
  readonly file: string;
  readonly reviewedFile: string;
  readonly voxels: Readonly<Record<string, number>>;
}

/**
 * The drawable layers of a study's results (done results only). A mask the
 * reviewer edited is drawn from its reviewed copy (key suffix ":reviewed"),
 * with the reviewed voxel counts; `originalFile` still names the model's mask.
 */
export function overlayLayers(results: readonly AnalysisResult[], maskEdits: readonly MaskEdit[] = []): OverlayLayer[] {
  const layers: OverlayLayer[] = [];
  for (const r of results) {
    if (r.status !== 'done') continue;
    const base = { resultId: r.resultId, modelId: r.modelId, seriesInstanceUid: r.seriesInstanceUid, inputSopInstanceUids: r.inputSopInstanceUids };
    for (const o of r.outputs) {
      const tensor = String(o.tensor ?? '');
      const key = `${r.resultId}:${tensor}`;
      if (o.kind === 'heatmap' && isArrayRef(o.map)) {
        const label = String(o.label ?? tensor);
        layers.push({ ...base, key, kind: 'heatmap', label, array: o.map, positive: heatmapPositive(r, label) });
      }
      else if (o.kind === 'segmentation' && isArrayRef(o.mask) && Array.isArray(o.labels)) {
        const mask = o.mask;
        const edit = maskEdits.find((e) => e.resultId === r.resultId && e.file === mask.file);
        const labels = o.labels as SegLabel[];
        layers.push(
          edit
            ? {
                ...base,
                key: `${key}:reviewed`,
                kind: 'segmentation',
                labels: labels.map((l) => ({ ...l, voxels: edit.voxels[String(l.index)] ?? 0 })),
                array: { ...mask, file: edit.reviewedFile },
                originalFile: mask.file,
                originalLabels: labels,
              }
            : { ...base, key, kind: 'segmentation', labels, array: mask, originalFile: mask.file },
        );
      } else if (o.kind === 'detection' && Array.isArray(o.boxes)) layers.push({ ...base, key, kind: 'detection', boxes: o.boxes as Box[] });
    }
  }
  return layers;
}

/**
 * Whether a heatmap explains a positive finding: the finding with the map's
 * label when the model reports one, else any positive finding that is not a
 * "nothing found" label.
 */
export function heatmapPositive(result: Pick<AnalysisResult, 'findings'>, label: string): boolean {
  const own = result.findings.find((f) => f.label === label);
  if (own) return own.positive && !own.normal;
  return result.findings.some((f) => f.positive && !f.normal);
}

/** Volume of one source voxel in mL from the index → patient affine (row-major 4×4, mm); null without geometry. */
export function voxelVolumeMl(sourceToPatient: readonly number[] | null, slices: number): number | null {
  // One plane has an area, not a volume: its "thickness" would be the 1 mm the runtime puts in for a single slice.
  if (!sourceToPatient || sourceToPatient.length < 12 || !(slices >= 2)) return null;
  const m = (r: number, c: number) => sourceToPatient[r * 4 + c]!;
  const det =
    m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0)) + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
  const mm3 = Math.abs(det);
  return Number.isFinite(mm3) && mm3 > 0 ? mm3 / 1000 : null;
}

/** Per-label volume in mL (voxel count × voxel volume), or null without spacing or with a single plane. */
export function labelVolumeMl(voxels: number, sourceToPatient: readonly number[] | null, slices: number): number | null {
  const v = voxelVolumeMl(sourceToPatient, slices);
  return v === null ? null : voxels * v;
}

/**
 * Slice (index into the array's slices) where a layer is strongest; for label maps, the slice with most voxels of
 * `labelIndex`. With `imageShapes` (images of several sizes) only each slice's own rows × columns, the top-left corner
 * of its plane, are read: the padding beyond them is no part of the image (its zeros would otherwise beat a heatmap
 * whose values are all negative); `step` is the array's (see ArrayRef.step).
 */
export function strongestSlice(
  values: ArrayLike<number>,
  shape: readonly [number, number, number],
  labelIndex?: number,
  imageShapes?: readonly (readonly [number, number])[],
  step?: number,
): number {
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  let best = 0;
  let bestScore = -Infinity;
  for (let k = 0; k < slices; k++) {
    const [sliceRows, sliceCols] = sliceExtent({ shape, imageShapes, step }, k);
    let score = labelIndex === undefined ? -Infinity : 0;
    for (let r = 0; r < sliceRows; r++) {
      const start = k * plane + r * cols;
      for (let i = start; i < start + sliceCols; i++) {
        const v = values[i]!;
        if (labelIndex === undefined) {
          if (v > score) score = v;
        } else if (v === labelIndex) score++;
      }
    }
    if (score > bestScore) {
      bestScore = score;
      best = k;
    }
  }
  return best;
}

/** The row (image) where `score` is highest; the first of equals; 0 when there are none. */
function strongestRow(rows: readonly (readonly number[])[] | undefined, score: (row: readonly number[]) => number): number {
  if (!rows || rows.length === 0) return 0;
  let best = 0;
  let bestScore = -Infinity;
  rows.forEach((row, i) => {
    const v = score(row);
    if (v > bestScore) {
      bestScore = v;
      best = i;
    }
  });
  return best;
}

/** Labels that say "nothing found" by name, for per-image outputs stored without normalLabels. */
const NOTHING_FOUND = /^(normal|negative|background|none|no[ _-]?finding)$/i;

const strings = (v: unknown): string[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null);

/**
 * A label's per-image score as a function of a perImage row, or null when the stored result cannot say.
 * - The label is a column of the per-image output (max / mean aggregation, or one image per row): that column.
 * - A case-level label of an aggregator model (manifest aggregation.method "model"), which the per-slice
 *   output does not have: the highest per-slice score among the labels that are not "nothing found"
 *   (the output's normalLabels, else labels named normal / negative / background).
 * Results stored before the columns were named fall back to the order of the findings (no aggregator).
 */
export function perImageScore(result: Pick<AnalysisResult, 'findings' | 'outputs'>, output: Readonly<Record<string, unknown>>, label: string): ((row: readonly number[]) => number) | null {
  const aggregated = result.outputs.some((o) => o.kind === 'aggregation');
  const labels = strings(output.labels) ?? (aggregated ? null : result.findings.map((f) => f.label));
  if (!labels) return null;
  const own = labels.indexOf(label);
  if (own >= 0) return (row) => row[own] ?? -Infinity;
  if (!aggregated) return null;
  const normal = new Set(strings(output.normalLabels) ?? []);
  const evidence = labels.flatMap((l, i) => (normal.has(l) || (normal.size === 0 && NOTHING_FOUND.test(l)) ? [] : [i]));
  if (evidence.length === 0) return null;
  return (row) => Math.max(...evidence.map((i) => row[i] ?? -Infinity));
}

/**
 * Where a finding is strongest: its series and the SOP Instance UID of the slice (null: first image).
 * A detection: its best box. A segmentation label: the slice with most voxels of it. A classification over
 * several images (max / mean aggregation, or an aggregator model): the image whose per-image score is highest.
 * Otherwise the slice where the finding's heatmap (or the run's) is highest, else the first image.
 */
export function findingTarget(
  result: AnalysisResult,
  label: string,
  arrays: (layer: OverlayLayer) => ArrayLike<number> | null,
): { seriesInstanceUid: string; sopInstanceUid: string | null; frame: number } {
  const uids = result.inputSopInstanceUids;
  // `frame`: the 1-based frame of a multi-frame instance (a cine), 0 for a single-frame image.
  const at = (slice: number) => {
    const k = uids[slice] !== undefined ? slice : 0;
    return { seriesInstanceUid: result.seriesInstanceUid, sopInstanceUid: uids[k] ?? null, frame: uids[k] !== undefined ? planeFrame(uids, k) : 0 };
  };
  const layers = overlayLayers([result]);
  for (const layer of layers) {
    if (layer.kind === 'detection') {
      const best = layer.boxes.filter((b) => b.label === label).sort((a, b) => b.score - a.score)[0];
      if (best) return { ...at(best.slice), ...(best.sopInstanceUid ? { sopInstanceUid: best.sopInstanceUid } : {}) };
    } else if (layer.kind === 'segmentation') {
      const l = layer.labels.find((x) => x.name === label);
      const data = l ? arrays(layer) : null;
      if (l && data) return at(strongestSlice(data, layer.array.shape, l.index, layer.array.imageShapes, layer.array.step));
    }
  }
  for (const o of result.outputs) {
    if (o.kind !== 'classification' || !Array.isArray(o.perImage) || o.perImage.length < 2) continue;
    const score = perImageScore(result, o, label);
    if (score) return at(strongestRow(o.perImage as number[][], score));
  }
  const heatmaps = layers.filter((l): l is Extract<OverlayLayer, { kind: 'heatmap' }> => l.kind === 'heatmap');
  const heat = heatmaps.find((l) => l.label === label) ?? heatmaps[0];
  const heatData = heat ? arrays(heat) : null;
  if (heat && heatData) return at(strongestSlice(heatData, heat.array.shape, undefined, heat.array.imageShapes, heat.array.step));
  return at(0);
}

/** Jet-like colour map for heatmaps: 0 blue → cyan → yellow → 1 red. */
export function heatColor(v: number): Rgb {
  const x = Math.min(1, Math.max(0, v));
  const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 3)));
  const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 2)));
  const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 1)));
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** CSS gradient of the heat colour map, for the legend. */
export function heatLegendGradient(): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((v) => `rgb(${heatColor(v).join(',')}) ${v * 100}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** Per-label overrides of a segmentation label's look (key `<resultId>:<labelIndex>`). */
export interface LabelStyle {
  /** Filled (true) or outline only (false); absent: the overlay-wide setting. */
  readonly fill?: boolean;
  /** 0..1, multiplied with the overlay-wide opacity; absent: 1. */
  readonly opacity?: number;
}

export interface OverlayStyle {
  readonly visible: boolean;
  /** 0..1 */
  readonly opacity: number;
  readonly fill: boolean;
  /** `<resultId>:<labelIndex>` of hidden segmentation labels. */
  readonly hiddenLabels: ReadonlySet<string>;
  /** Per-label fill / opacity overrides. */
  readonly labelStyles?: ReadonlyMap<string, LabelStyle>;
  /** Heatmaps of negative findings are drawn too (by default only positive findings' heatmaps are). */
  readonly showNegativeHeatmaps?: boolean;
}

export function labelKey(resultId: number, index: number): string {
  return `${resultId}:${index}`;
}

/** The effective look of one segmentation label: visible, filled or outlined, fill opacity 0..1. */
export function effectiveLabelStyle(style: OverlayStyle, resultId: number, index: number): { visible: boolean; fill: boolean; opacity: number } {
  const key = labelKey(resultId, index);
  const own = style.labelStyles?.get(key);
  return { visible: !style.hiddenLabels.has(key), fill: own?.fill ?? style.fill, opacity: style.opacity * (own?.opacity ?? 1) };
}

/** Whether a layer is drawn under a style (heatmaps of negative findings only when asked for). */
export function layerShown(layer: OverlayLayer, style: OverlayStyle): boolean {
  return layer.kind !== 'heatmap' || layer.positive || style.showNegativeHeatmaps === true;
}

/**
 * RGBA pixels of one slice of a layer (rows × cols × 4), or null when the
 * slice has nothing to show. Heatmaps fade out towards 0; label maps are
 * filled and/or outlined in the manifest's colours.
 */
export function slicePixels(layer: OverlayLayer, values: ArrayLike<number>, slice: number, style: OverlayStyle): Uint8ClampedArray | null {
  if (layer.kind === 'detection') return null;
  const [, rows, cols] = layer.array.shape;
  const plane = rows * cols;
  const start = slice * plane;
  const out = new Uint8ClampedArray(plane * 4);
  let any = false;
  const alpha = Math.round(style.opacity * 255);
  if (layer.kind === 'heatmap') {
    for (let i = 0; i < plane; i++) {
      const v = values[start + i]!;
      if (!(v > 0.02)) continue;
      const [r, g, b] = heatColor(v);
      const o = i * 4;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = Math.round(alpha * Math.min(1, v * 1.5));
      any = true;
    }
    return any ? out : null;
  }
  const looks = new Map<number, { color: Rgb; fill: boolean; alpha: number }>();
  for (const l of layer.labels) {
    const look = effectiveLabelStyle(style, layer.resultId, l.index);
    if (l.index !== 0 && look.visible) looks.set(l.index, { color: l.color, fill: look.fill, alpha: Math.round(look.opacity * 255) });
  }
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const i = y * cols + x;
      const v = values[start + i]!;
      const look = looks.get(v);
      if (!look) continue;
      const edge =
        x === 0 || y === 0 || x === cols - 1 || y === rows - 1 || values[start + i - 1] !== v || values[start + i + 1] !== v || values[start + i - cols] !== v || values[start + i + cols] !== v;
      if (!look.fill && !edge) continue;
      const o = i * 4;
      out[o] = look.color[0];
      out[o + 1] = look.color[1];
      out[o + 2] = look.color[2];
      out[o + 3] = edge ? Math.max(look.alpha, 200) : look.alpha;
      any = true;
    }
  }
  return any ? out : null;
}

/** Image (column, row) under a canvas point, inverting image → canvas (null when degenerate). */
export function canvasToImage(t: { o: readonly [number, number]; a: readonly [number, number]; b: readonly [number, number] }, x: number, y: number): [number, number] | null {
  const det = t.a[0] * t.b[1] - t.a[1] * t.b[0];
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) return null;
  const px = x - t.o[0];
  const py = y - t.o[1];
  return [(px * t.b[1] - py * t.b[0]) / det, (py * t.a[0] - px * t.a[1]) / det];
}

/** Paints a disc of `radius` image pixels at (col, row) of one slice with `label` (0 erases). Returns voxels changed. */
export function paintDisc(values: Uint8Array, shape: readonly [number, number, number], slice: number, col: number, row: number, radius: number, label: number): number {
  const [, rows, cols] = shape;
  const base = slice * rows * cols;
  const c0 = Math.round(col);
  const r0 = Math.round(row);
  const rr = Math.max(0, radius);
  let changed = 0;
  for (let r = Math.max(0, Math.floor(r0 - rr)); r <= Math.min(rows - 1, Math.ceil(r0 + rr)); r++) {
    for (let c = Math.max(0, Math.floor(c0 - rr)); c <= Math.min(cols - 1, Math.ceil(c0 + rr)); c++) {
      if ((r - r0) ** 2 + (c - c0) ** 2 > rr * rr + 0.25) continue;
      const i = base + r * cols + c;
      if (values[i] !== label) {
        values[i] = label;
        changed++;
      }
    }
  }
  return changed;
}
