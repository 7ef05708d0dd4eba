/**
 * What a run's model outputs become: findings, and the arrays stored beside
 * them (masks, heatmaps) on the source grid, one output of the manifest at a
 * time, from every unit the run analysed (the series, or each image, or each
 * B-mode region of an image).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gzipSync } from 'node:zlib';
import type { DecodedImage } from '../dicom/pixel-decoder';
import type { UltrasoundRegion } from '../dicom/ultrasound-regions';
import type { AnalysedUnit } from './analysis-unit';
import { invert, isBijection, isParallelStack, type SecondThread, type Shape3, sourceToPatient, spansDepth } from './grid-geometry';
import type { ModelManifest, OutputSpec } from './model-manifest';
import { aggregateScores, blockCentre, type Box, classificationFindings, classificationScores, detectionBoxes, type Finding, heatmapStep, labelCounts, mostSuspiciousScores, segmentationFindings, segmentationLabels, toCoarseSourceGrid, toSourceGrid, voxelVolumeMl } from './postprocessing';
import type { ProviderName, TensorLike } from './session-manager';

/** A stored array: gzip file (relative to the results folder), dtype and shape, plus geometry. */
export interface ArrayRef {
  file: string;
  dtype: 'uint8' | 'float32';
  /** [slices, rows, columns] of the source grid (slice order = inputSopInstanceUids). */
  shape: Shape3;
  /** Source index (slice, row, column) -> patient LPS mm, when the images carry geometry (null when they differ in size). */
  sourceToPatient: number[] | null;
  /**
   * Each slice's own [rows, columns], present only when the images differ in size (a per-image model over, e.g., a US
   * series of several capture sizes): every plane is then shape's rows × columns, the largest, and an image smaller
   * than that fills its plane's top-left corner (pixel (row, column) is still image pixel (row, column)); the rest is 0.
   */
  imageShapes?: [number, number][];
  /**
   * Present (2 or more) only for a heatmap too large to keep at every pixel (see heatmapStep): the array then holds
   * one value per step × step block of image pixels, the map at the block's centre, so stored pixel (row, column) is
   * image pixel (row·step + (step−1)/2, column·step + (step−1)/2); a partial last block (rows or columns not a
   * multiple of step) is sampled at the centre of its pixels inside the image (blockCentre). `shape` is what is
   * stored (rows and columns = ceil(image's / step)); `imageShapes` and `sourceToPatient` stay in image pixels.
   */
  step?: number;
}

/** One B-mode region analysed on its own (unit "image" with cropUltrasoundRegion): its image (slice index), rectangle and scores. */
export interface AnalysedRegion extends UltrasoundRegion {
  image: number;
  scores: number[];
}

export type OutputRecord =
  | { kind: 'classification'; tensor: string; perImage?: number[][]; regions?: AnalysedRegion[] }
  /** The case-level prediction of an aggregator model over the per-slice embeddings. */
  | { kind: 'aggregation'; tensor: string; model: string; modelSha256: string; embeddingOutput: string; embeddingDims: number[]; provider: ProviderName; providerNote: string | null; scores: number[] }
  | { kind: 'segmentation'; tensor: string; labels: { index: number; name: string; color: [number, number, number]; voxels: number }[]; modelGridShape: Shape3; modelVoxelCounts: number[]; mask: ArrayRef }
  | { kind: 'heatmap'; tensor: string; label: string; map: ArrayRef }
  | { kind: 'detection'; tensor: string; boxes: (Box & { sopInstanceUid: string })[] };

/** What the post-processing of a run reads. */
export interface OutputContext {
  manifest: ModelManifest;
  /** The units the model ran on, in slice order (an image's regions in theirs). */
  units: AnalysedUnit[];
  /** The series' images in slice order (attributes only: their pixels are let go). */
  images: DecodedImage[];
  /** Their SOP Instance UIDs. */
  uids: string[];
  /** The run's folder for its arrays. */
  dir: string;
  /** A label array of the given length, shareable with `second` (from the job's scratch pool). */
  sharedUint8: (length: number) => Uint8Array;
  /** The second thread that shares the largest loops, or null. */
  second: SecondThread | null;
}

/** The findings and output records of a run. */
export interface RunOutputs {
  findings: Finding[];
  outputs: OutputRecord[];
}

/**
 * Every output of the manifest, in its order, appended to `sink` (which may already hold the case-level aggregator's).
 * Throws when an output is missing or malformed: the run then fails in post-processing.
 */
export function collectOutputs(ctx: OutputContext, sink: RunOutputs): void {
  for (const o of ctx.manifest.outputs) {
    switch (o.kind) {
      case 'classification':
        classificationOutput(o, ctx, sink);
        break;
      case 'segmentation':
        segmentationOutput(o, ctx, sink);
        break;
      case 'heatmap':
        heatmapOutput(o, ctx, sink);
        break;
      case 'detection':
        detectionOutput(o, ctx, sink);
        break;
    }
  }
}

/** An output tensor's values as float32 (the tensor's own array when it already is). */
export function toFloat(t: TensorLike): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (ArrayBuffer.isView(t.data) && !(t.data instanceof DataView)) return Float32Array.from(t.data as unknown as ArrayLike<number>, Number);
  throw new Error('output tensor is not numeric');
}

function outputOf(o: OutputSpec, u: AnalysedUnit): TensorLike & { data: Float32Array } {
  const tensor = u.outputs[o.tensor];
  if (!tensor) throw new Error(`the model did not return output "${o.tensor}"`);
  return { dims: tensor.dims, data: toFloat(tensor) };
}

/** Each image's scores (an image analysed region by region: its most suspicious region's) and the series' findings. */
function classificationOutput(o: Extract<OutputSpec, { kind: 'classification' }>, ctx: OutputContext, sink: RunOutputs): void {
  const { units: perUnit } = ctx;
  const aggregation = ctx.manifest.aggregation;
  const unitRows = perUnit.map((u) => classificationScores(o, outputOf(o, u)));
  // One row per image: an image analysed region by region gets one row from its regions' rows (before the
  // series aggregation, so that an image counts once however many views it has).
  const rows: number[][] = [];
  const regions: AnalysedRegion[] = [];
  perUnit.forEach((u, k) => {
    const own = unitRows[k]!;
    const { image, region, sharesImages } = u.unit;
    if (image !== null && region) {
      if (own.length !== 1) throw new Error(`classification output "${o.tensor}" has ${own.length} rows for one ultrasound region, expected one`);
      regions.push({ image, ...region, scores: own[0]! });
    }
    if (!sharesImages) rows.push(...own);
    // After the last region of the image (units come in image order).
    else if (perUnit[k + 1]?.unit.image !== image) rows.push(mostSuspiciousScores(o, regions.filter((r) => r.image === image).map((r) => r.scores)));
  });
  // With an aggregator model the case-level findings are its own; per-slice scores are kept per image.
  if (aggregation?.method !== 'model') sink.findings.push(...classificationFindings(o, rows.length === 1 ? rows[0]! : (aggregation?.method ?? 'max') === 'max' ? mostSuspiciousScores(o, rows) : aggregateScores(rows, 'mean')));
  sink.outputs.push({
    kind: 'classification',
    tensor: o.tensor,
    ...(rows.length > 1 || aggregation?.method === 'model' ? { perImage: rows } : {}),
    ...(regions.length > 0 ? { regions } : {}),
  });
}

/** The label map on the source grid (the series', or each image's plane of it), its voxel counts and findings. */
function segmentationOutput(o: Extract<OutputSpec, { kind: 'segmentation' }>, ctx: OutputContext, sink: RunOutputs): void {
  const { units: perUnit, manifest, dir: runDir, sharedUint8, second } = ctx;
  if (perUnit.length > 1) return imageMasks(o, ctx, sink);
  // A "slices" model (not NSCHW) segments each slice on its own.
  const perSlice = manifest.input.unit === 'slices' && manifest.input.tensors[0]!.layout !== 'NSCHW';
  const u = perUnit[0]!;
  const counted = new Uint32Array(256);
  const labels = segmentationLabels(o, outputOf(o, u), u.grid.shape, perSlice, counted, sharedUint8(u.grid.shape[0] * u.grid.shape[1] * u.grid.shape[2]));
  const classes = Math.max(...o.labels.map((l) => l.index)) + 1;
  const modelCounts = labelCounts(labels, classes, counted);
  const sourceShape = u.source.grid.shape;
  const mask = toSourceGrid(labels, u.grid, sourceShape, 'nearest', sharedUint8(sourceShape[0] * sourceShape[1] * sourceShape[2]), second);
  // A pure axis permutation/flip moves every voxel once: the counts carry over unchanged.
  const sourceCounts = isBijection(invert(u.grid.toSource), sourceShape, u.grid.shape) ? modelCounts : labelCounts(mask, classes);
  // A volume only when the slices span a depth: planes at one position (a multi-frame image's frames, a perfusion
  // series at one table position) would otherwise get a made-up 1 mm spacing.
  const geometry = u.unit.images.length === 1 || spansDepth(u.unit.images) ? u.source.sourceToPatient : null;
  sink.findings.push(...segmentationFindings(o, sourceCounts, mask.length, voxelVolumeMl(geometry, sourceShape[0])));
  sink.outputs.push({
    kind: 'segmentation',
    tensor: o.tensor,
    labels: o.labels.map((l) => ({ ...l, color: [...l.color] as [number, number, number], voxels: sourceCounts[l.index] ?? 0 })),
    modelGridShape: u.grid.shape,
    modelVoxelCounts: modelCounts,
    mask: { file: writeArray(runDir, `${o.tensor}-mask`, mask), dtype: 'uint8', shape: sourceShape, sourceToPatient: geometry },
  });
}

/**
 * A per-image model's label maps (unit "image": one unit per image, or per B-mode region): each image's mask in its
 * plane of one series mask, as a "slices" model's would be; a region's labels inside its region. Counts and findings
 * are the series'. The images have one size (checked before the post-processing).
 */
function imageMasks(o: Extract<OutputSpec, { kind: 'segmentation' }>, ctx: OutputContext, sink: RunOutputs): void {
  const { units: perUnit, images, dir: runDir } = ctx;
  const [rows, columns] = [images[0]!.rows, images[0]!.columns];
  const plane = rows * columns;
  const mask = new Uint8Array(images.length * plane);
  const classes = Math.max(...o.labels.map((l) => l.index)) + 1;
  // Every unit's labels tallied in one table (a model may emit labels the manifest does not list).
  const counted = new Uint32Array(256);
  for (const u of perUnit) {
    const labels = segmentationLabels(o, outputOf(o, u), u.grid.shape, false, counted);
    // 0 beyond what the unit's model saw (outside its region): the image's other regions keep their labels.
    const own = toSourceGrid(labels, u.grid, u.source.grid.shape, 'nearest');
    const base = u.unit.image! * plane;
    if (!u.unit.region) mask.set(own, base);
    else for (let p = 0; p < plane; p++) if (own[p]) mask[base + p] = own[p]!;
  }
  const modelCounts = labelCounts(new Uint8Array(0), classes, counted);
  const sourceCounts = labelCounts(mask, classes);
  // A volume only for images that stack into one (a cine's frames, or unrelated views, share or scatter their
  // positions: their pixels add up to no volume).
  const geometry = isParallelStack(images) ? sourceToPatient(images) : null;
  sink.findings.push(...segmentationFindings(o, sourceCounts, mask.length, voxelVolumeMl(geometry, images.length)));
  // Units of one model may differ in grid (region crops to a model of free size): the largest plane.
  const g = [Math.max(...perUnit.map((u) => u.grid.shape[1])), Math.max(...perUnit.map((u) => u.grid.shape[2]))];
  sink.outputs.push({
    kind: 'segmentation',
    tensor: o.tensor,
    labels: o.labels.map((l) => ({ ...l, color: [...l.color] as [number, number, number], voxels: sourceCounts[l.index] ?? 0 })),
    // One model grid per unit: their number and the largest plane.
    modelGridShape: [perUnit.length, g[0]!, g[1]!],
    modelVoxelCounts: modelCounts,
    mask: { file: writeArray(runDir, `${o.tensor}-mask`, mask), dtype: 'uint8', shape: [images.length, rows, columns], sourceToPatient: geometry },
  });
}

/** The map on the source grid: each image's plane (the largest of the series' sizes), coarser for a large series. */
function heatmapOutput(o: Extract<OutputSpec, { kind: 'heatmap' }>, ctx: OutputContext, sink: RunOutputs): void {
  const { units: perUnit, images, dir: runDir } = ctx;
  // Images of several sizes share the largest plane, each in its top-left corner (see ArrayRef.imageShapes).
  const rows = Math.max(...images.map((i) => i.rows));
  const columns = Math.max(...images.map((i) => i.columns));
  // A series too long or large for its map at every pixel keeps every step-th one (see ArrayRef.step).
  const step = heatmapStep(images.length, rows, columns);
  const [planeRows, planeColumns] = [Math.ceil(rows / step), Math.ceil(columns / step)];
  const plane = planeRows * planeColumns;
  const all = new Float32Array(images.length * plane);
  // Regions of one image: the pixelwise max of their maps, each map taken inside its own region only (it is 0
  // outside), so that a region's negative values (an unnormalised map) are not lifted to the others' zeros.
  const written = new Uint8Array(plane);
  // Each unit's map goes into the array as soon as it is mapped back: one unit's map is held at a time.
  perUnit.forEach((u, k) => {
    const raw = outputOf(o, u).data;
    const g = u.grid.shape;
    if (raw.length !== g[0] * g[1] * g[2]) throw new Error(`heatmap "${o.tensor}" has ${raw.length} values for a ${g.join('×')} input grid`);
    const values = Float32Array.from(raw);
    if (o.normalize === 'minmax') {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of values) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      for (let i = 0; i < values.length; i++) values[i] = hi > lo ? (values[i]! - lo) / (hi - lo) : 0;
    }
    const source = u.source.grid.shape;
    const { data: m, shape: own } = toCoarseSourceGrid(values, u.grid, source, step);
    const { image, region, sharesImages } = u.unit;
    const base = (image ?? 0) * plane;
    if (!sharesImages || !region) {
      if (own[2] === planeColumns) all.set(m, base);
      else for (let s = 0; s < own[0]; s++) for (let r = 0; r < own[1]; r++) all.set(m.subarray((s * own[1] + r) * own[2], (s * own[1] + r + 1) * own[2]), base + s * plane + r * planeColumns);
      return;
    }
    if (perUnit[k - 1]?.unit.image !== image) written.fill(0);
    // The stored pixels whose sample (their block's centre) lies on the region's pixels, edges included: a
    // block centred between two touching regions takes the larger of their maps, as a pixel of both would.
    const within = (lo: number, hi: number, n: number, imagePixels: number): number[] => {
      const out: number[] = [];
      for (let i = Math.max(0, Math.floor((lo - 0.5) / step) - 1); i < n && i * step <= hi + step; i++) {
        const centre = blockCentre(i, step, imagePixels);
        if (centre >= lo - 0.5 && centre <= hi + 0.5) out.push(i);
      }
      return out;
    };
    const regionColumns = within(region.x0, region.x1, own[2], source[2]);
    for (const r of within(region.y0, region.y1, own[1], source[1])) {
      for (const c of regionColumns) {
        const p = r * planeColumns + c;
        const q = r * own[2] + c;
        all[base + p] = written[p] ? Math.max(all[base + p]!, m[q]!) : m[q]!;
        written[p] = 1;
      }
    }
  });
  const shape: Shape3 = [images.length, planeRows, planeColumns];
  const mixed = new Set(images.map((i) => `${i.rows}×${i.columns}`)).size > 1;
  const map: ArrayRef = {
    file: writeArray(runDir, `${o.tensor}-heatmap`, all),
    dtype: 'float32',
    shape,
    sourceToPatient: mixed ? null : sourceToPatient(images),
    ...(mixed ? { imageShapes: images.map((i): [number, number] => [i.rows, i.columns]) } : {}),
    ...(step > 1 ? { step } : {}),
  };
  sink.outputs.push({ kind: 'heatmap', tensor: o.tensor, label: o.label, map });
}

/** Every unit's boxes on the images they were found on, and one finding per label (its best box). */
function detectionOutput(o: Extract<OutputSpec, { kind: 'detection' }>, ctx: OutputContext, sink: RunOutputs): void {
  const { units: perUnit, uids } = ctx;
  const boxes = perUnit.flatMap((u) =>
    detectionBoxes(o, outputOf(o, u), u.grid).map((b) => {
      // A per-image unit's model grid is one plane of its image (each of its regions too).
      const slice = u.unit.image ?? b.slice;
      return { ...b, slice, sopInstanceUid: uids[slice] ?? '' };
    }),
  );
  for (const label of o.labels) {
    const best = Math.max(0, ...boxes.filter((b) => b.label === label).map((b) => b.score));
    sink.findings.push({ label, score: best, positive: best >= o.scoreThreshold && boxes.some((b) => b.label === label), threshold: o.scoreThreshold });
  }
  sink.outputs.push({ kind: 'detection', tensor: o.tensor, boxes });
}

function writeArray(dir: string, name: string, values: Uint8Array | Float32Array): string {
  mkdirSync(dir, { recursive: true });
  const labels = values instanceof Uint8Array;
  const file = `${name}.${labels ? 'u8' : 'f32'}.gz`;
  // Label maps are long runs of one value: run-length matching alone compresses them smaller
  // and faster than the default match search (MeshNet 256³ mask: 244 kB vs 387 kB, ~30 % less time).
  writeFileSync(join(dir, file), gzipSync(Buffer.from(values.buffer, values.byteOffset, values.byteLength), { level: 1, ...(labels ? { strategy: zlibConstants.Z_RLE } : {}) }));
  return file;
}
