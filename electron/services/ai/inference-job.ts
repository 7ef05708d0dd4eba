/**
 * One analysis run, start to finish, off the main thread: decode the series'
 * images, stack them, preprocess, run the model, post-process, and write
 * masks/heatmaps (gzip-compressed arrays with their geometry) to disk.
 * Runs inside the inference worker (or in-process in unit tests).
 */
import { close as closeCallback, closeSync, fstat as fstatCallback, fstatSync, mkdirSync, open as openCallback, read as readCallback, readFile as readFileCallback, stat as statCallback, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzipSync } from 'node:zlib';
import type { RunWarning } from '../../../contract/ipc-contract';
import { matchesImportRecord, ReferencedFileChangedError, type ReferencedFileRecord } from '../dicom/display-bytes';
import { decodeImageBytesAsync, decodeImageFileAsync, type DecodedImage, openImageFrames, PixelDecodeError } from '../dicom/pixel-decoder';
import { commonUltrasoundRegion, largestUltrasoundRegion, type UltrasoundRegion } from '../dicom/ultrasound-regions';
import { type Grid, identity, invert, isBijection, isParallelStack, type SecondThread, type Shape3, sliceOrder, sourceToPatient } from './grid-geometry';
import type { ModelManifest, OutputSpec } from './model-manifest';
import { aggregateScores, blockCentre, type Box, classificationFindings, classificationScores, detectionBoxes, type Finding, heatmapStep, labelCounts, mostSuspiciousScores, segmentationFindings, segmentationLabels, toCoarseSourceGrid, toSourceGrid, voxelVolumeMl } from './postprocessing';
import { assembleInputTensor, PreprocessingError, runPreprocessing, type SourceVolume } from './preprocessing-pipeline';
import type { ProviderName, ProviderPreference, SessionManager, TensorLike } from './session-manager';

export interface InferenceJob {
  jobId: string;
  model: { id: string; modelPath: string; manifest: ModelManifest };
  /** Absolute paths of the series' instances. */
  files: string[];
  /**
   * What import recorded of each file that is a referenced original (outside the store), index for index with
   * `files`; null (or absent) for a managed copy. Such a file is analysed only if the descriptor the job reads it
   * from still has that size and mtime: one replaced since would be analysed, and its findings filed, under the
   * indexed patient.
   */
  references?: (ReferencedFileRecord | null)[];
  provider: ProviderPreference;
  /** Folder for this run's arrays (masks, heatmaps). */
  outputDir: string;
}

export type JobPhase = 'decode' | 'preprocess' | 'inference' | 'postprocess';

export interface Timings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  total: number;
  /** Getting the session (creation and warm-up on the first run of a model, ~0 once cached); not part of `inference`. */
  session?: number;
  /** The warm-up run done when the session was created by this job. */
  warmUp?: number;
  /** The case-level aggregator model's run (manifest `aggregation.method: "model"`), apart from `inference`. */
  aggregation?: number;
}

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

export interface InferenceJobResult {
  status: 'done' | 'not-analysed' | 'failed';
  reason?: string;
  provider: ProviderName | null;
  providerNote: string | null;
  ortVersion: string;
  timingsMs: Timings;
  inputSopInstanceUids: string[];
  findings: Finding[];
  outputs: OutputRecord[];
  /** What the run itself noticed about its input (e.g. ultrasound images analysed without their B-mode region); absent: none. */
  warnings?: RunWarning[];
}

/** The manifest crops to the B-mode region but `units` of `of` images had none: they reached the model whole. */
export function noUltrasoundRegionWarning(units: number, of: number): Extract<RunWarning, { code: 'NO_ULTRASOUND_REGION' }> {
  return {
    code: 'NO_ULTRASOUND_REGION',
    message: `no B-mode region (Sequence of Ultrasound Regions) for ${units} of ${of} images: analysed whole, so text and scale bars around the image reach the model`,
    units,
    of,
  };
}

export type ProgressFn = (phase: JobPhase) => void;


function castFeed(ort: typeof import('onnxruntime-node'), dtype: string, data: Float32Array, dims: number[]): InstanceType<typeof ort.Tensor> {
  switch (dtype) {
    case 'float32':
      return new ort.Tensor('float32', data, dims);
    case 'uint8':
      return new ort.Tensor('uint8', Uint8Array.from(data, (v) => Math.min(255, Math.max(0, Math.round(v)))), dims);
    case 'int8':
      return new ort.Tensor('int8', Int8Array.from(data, (v) => Math.min(127, Math.max(-128, Math.round(v)))), dims);
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(data, (v) => Math.round(v)), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(Math.round(v))), dims);
    default:
      throw new PreprocessingError(`input dtype ${dtype} is not supported by the runtime yet`);
  }
}

function toFloat(t: TensorLike): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (ArrayBuffer.isView(t.data) && !(t.data instanceof DataView)) return Float32Array.from(t.data as unknown as ArrayLike<number>, Number);
  throw new Error('output tensor is not numeric');
}

/** Arrays below this size come and go with the job (V8 handles them cheaply). */
const SCRATCH_MIN_BYTES = 1 << 20;
/** How long the previous job's large arrays stay for the next job once the worker is idle. */
const SCRATCH_IDLE_RELEASE_MS = 60_000;

/**
 * The large arrays of a volume job (source volume, input tensor, label maps; 16-64 MB each for
 * MeshNet 256³) handed on to the next job of the same size: a fresh 64 MB array costs page faults
 * and zeroing on first write (~25 ms here) and GC work when dropped. Every consumer writes all
 * values of what it is given, so reused arrays are not cleared. One pool per thread, holding the
 * last job's arrays only (a run of differently sized series cannot pile them up); freed after
 * SCRATCH_IDLE_RELEASE_MS without a job.
 */
class ScratchPool {
  private readonly free = new Map<string, (ArrayBuffer | SharedArrayBuffer)[]>();
  private timer: NodeJS.Timeout | null = null;

  take(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.free.get(`${shared}:${bytes}`)?.pop() ?? (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  }

  give(buffers: readonly (ArrayBuffer | SharedArrayBuffer)[]): void {
    this.free.clear();
    for (const b of buffers) {
      const key = `${b instanceof SharedArrayBuffer}:${b.byteLength}`;
      const list = this.free.get(key) ?? [];
      list.push(b);
      this.free.set(key, list);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.free.clear(), SCRATCH_IDLE_RELEASE_MS);
    this.timer.unref();
  }
}

const scratchPool = new ScratchPool();

/**
 * The arrays one job took from the pool, given back when the job ends (nothing in its result
 * refers to them). `shared*` arrays live in shared memory when a second thread works on them
 * (ONNX Runtime refuses shared memory, so a model input never is). Unpooled, it hands out
 * fresh arrays that go with the garbage: for per-image units, whose arrays must not all stay
 * until the job ends.
 */
class JobScratch {
  private readonly taken: (ArrayBuffer | SharedArrayBuffer)[] = [];

  constructor(
    private readonly shareable: boolean,
    private readonly pooled = true,
  ) {}

  float32 = (length: number): Float32Array => new Float32Array(this.take(length * Float32Array.BYTES_PER_ELEMENT, false));

  sharedFloat32 = (length: number): Float32Array => new Float32Array(this.take(length * Float32Array.BYTES_PER_ELEMENT, this.shareable));

  sharedUint8 = (length: number): Uint8Array => new Uint8Array(this.take(length, this.shareable));

  private take(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
    if (!this.pooled || bytes < SCRATCH_MIN_BYTES) return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    const buffer = scratchPool.take(bytes, shared);
    this.taken.push(buffer);
    return buffer;
  }

  release(): void {
    scratchPool.give(this.taken.splice(0));
  }
}

/** The pixels of an image analysed and let go (an image analysed image by image keeps its attributes only). */
const NO_PIXELS = new Float32Array(0);

/** An error thrown while analysing an image decoded image by image: passed on as is, not as a decode failure. */
class AnalysisThrew {
  constructor(readonly cause: unknown) {}
}

/** Images read ahead while one decodes (each a whole file in memory). */
const READ_AHEAD = 16;
// fs.readFile's callback form reads a small file in one threadpool request (the promise form takes several round trips).
const readFile = promisify(readFileCallback);
const open = promisify(openCallback);
const fstat = promisify(fstatCallback);
const stat = promisify(statCallback);
const readAt = promisify(readCallback);
const close = promisify(closeCallback);
/** fs.readFile's limit (ERR_FS_FILE_TOO_LARGE): a larger file is decoded from its descriptor in windows. */
const MAX_WHOLE_READ = 2 ** 31 - 1;
/**
 * Largest file read whole ahead of an image-by-image analysis: a larger one (a long cine) is decoded from the file
 * in windows, frame by frame, so neither its bytes nor its pixels are held whole.
 */
const MAX_READ_AHEAD_BYTES = 16 * 1024 * 1024;

/** A referenced original too large to read whole, left open: it is decoded from the descriptor that was checked. */
interface OpenedFile {
  fd: number;
  size: number;
}

/**
 * Reads a referenced original whole, checking on the descriptor it reads from that it is the file import recorded
 * (a check by path before it, then a read by path, would read whatever replaced it in between); the descriptor
 * is checked again after the read, for a file written to in place meanwhile.
 */
async function readReferenced(path: string, record: ReferencedFileRecord, wholeUpTo = MAX_WHOLE_READ): Promise<Buffer | OpenedFile> {
  const fd = await open(path, 'r');
  let kept = false;
  try {
    const before = await fstat(fd);
    if (!matchesImportRecord(record, before.size, before.mtimeMs)) throw new ReferencedFileChangedError(path, 'modified', 'analyse');
    if (before.size > wholeUpTo) {
      kept = true;
      return { fd, size: before.size };
    }
    const bytes = Buffer.allocUnsafe(before.size);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await readAt(fd, bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const after = await fstat(fd);
    if (got !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) throw new ReferencedFileChangedError(path, 'modified', 'analyse');
    return bytes;
  } finally {
    if (!kept) await close(fd);
  }
}

/** What one model run sees: its images (one for unit "image") and the B-mode region to crop them to. */
interface AnalysisUnit {
  images: DecodedImage[];
  /** Slice index of the unit's image (unit "image"); null: the unit is the whole series. */
  image: number | null;
  /** Null: no crop (no region, the images differ in it, or the manifest does not crop). */
  region: UltrasoundRegion | null;
  /** Other units read the same images (the regions of one capture): the unit must not take their planes as its grid. */
  sharesImages: boolean;
}

function buildSource(unit: AnalysisUnit, alloc: (length: number) => Float32Array): SourceVolume {
  const images = unit.images;
  const first = images[0]!;
  const plane = first.rows * first.columns;
  // Decoded straight into one volume, every slot once and already in slice order: that volume is the grid (no copy).
  // Not when other units read it too: modalityRescale works in place.
  const bytes = images.length * plane * Float32Array.BYTES_PER_ELEMENT;
  const inPlace =
    !unit.sharesImages &&
    first.data.buffer.byteLength === bytes &&
    images.every((img, s) => img.data.buffer === first.data.buffer && img.data.length === plane && img.data.byteOffset === s * plane * Float32Array.BYTES_PER_ELEMENT);
  const data = inPlace ? new Float32Array(first.data.buffer, 0, images.length * plane) : alloc(images.length * plane);
  if (!inPlace) images.forEach((img, s) => data.set(img.data.subarray(0, plane), s * plane));
  return {
    grid: { data, shape: [images.length, first.rows, first.columns], toSource: identity() },
    rescale: images.map((i) => ({ slope: i.rescaleSlope, intercept: i.rescaleIntercept })),
    photometric: first.photometric,
    sourceToPatient: sourceToPatient(images),
    ultrasoundRegion: unit.region,
    ...(images.some((i) => i.voi) ? { voi: images.map((i) => i.voi) } : {}),
  };
}

/**
 * The analysis units: one per image for unit "image", where a manifest that crops to the B-mode region makes each
 * region of a multi-region capture (e.g. a dual B-mode layout) its own unit, so every view is assessed; else the
 * series. A series unit is cropped to one rectangle: the largest region, when every image has the same.
 */
function analysisUnits(manifest: ModelManifest, images: DecodedImage[]): AnalysisUnit[] {
  const cropsRegion = manifest.preprocessing.some((op) => op.op === 'cropUltrasoundRegion');
  if (manifest.input.unit !== 'image') {
    const region = cropsRegion ? commonUltrasoundRegion(images.map((i) => largestUltrasoundRegion(i.ultrasoundRegions))) : null;
    return [{ images, image: null, region, sharesImages: false }];
  }
  return images.flatMap((img, image): AnalysisUnit[] => {
    const regions = cropsRegion ? img.ultrasoundRegions : [];
    if (regions.length === 0) return [{ images: [img], image, region: null, sharesImages: false }];
    return regions.map((region) => ({ images: [img], image, region, sharesImages: regions.length > 1 }));
  });
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

type ModelAggregation = Extract<NonNullable<ModelManifest['aggregation']>, { method: 'model' }>;

/** The aggregator's input: the per-slice embeddings [N, E, …] as one sequence ([1, S, E] or [S, E]). */
export function embeddingSequence(agg: ModelAggregation, embedding: TensorLike, slices: number): { data: Float32Array; dims: number[] } {
  const data = toFloat(embedding);
  if (embedding.dims[0] !== slices || data.length % slices !== 0) {
    throw new Error(`embedding output "${agg.embeddingOutput}" has dims [${embedding.dims.join(', ')}], expected one row per slice (${slices})`);
  }
  const size: Record<string, number> = { N: 1, S: slices, E: data.length / slices };
  const dims = [...agg.input.layout].map((letter) => size[letter]!);
  agg.input.shape.forEach((declared, i) => {
    if (typeof declared === 'number' && declared !== dims[i]) throw new Error(`aggregator input "${agg.input.name}" dim ${i} (${agg.input.layout[i]}) is ${dims[i]} but the manifest declares ${declared}`);
  });
  // Row-major [N, E, …] flattened per slice is already [S, E] (and [1, S, E]) order.
  return { data, dims };
}

/**
 * `second`: a thread beside this one (the inference worker's split helper) that takes half of
 * the volume loops of preprocessing and of the inverse mapping; null runs them here alone.
 */
export async function runInferenceJob(job: InferenceJob, sessions: SessionManager, progress: ProgressFn = () => undefined, second: SecondThread | null = null): Promise<InferenceJobResult> {
  const scratch = new JobScratch(second !== null);
  // Each phase is told once, when it first starts: a model run image by image (a 1,000-frame cine) would otherwise
  // send two events per image to every window.
  const told = new Set<JobPhase>();
  const once: ProgressFn = (phase) => {
    if (told.has(phase)) return;
    told.add(phase);
    progress(phase);
  };
  try {
    return await runJob(job, sessions, once, scratch, second);
  } finally {
    scratch.release();
  }
}

async function runJob(job: InferenceJob, sessions: SessionManager, progress: ProgressFn, scratch: JobScratch, second: SecondThread | null): Promise<InferenceJobResult> {
  const ort = await import('onnxruntime-node');
  const t: Timings = { decode: 0, preprocess: 0, inference: 0, postprocess: 0, total: 0, session: 0 };
  const started = performance.now();
  const manifest = job.model.manifest;
  const result = (r: Partial<InferenceJobResult> & Pick<InferenceJobResult, 'status'>): InferenceJobResult => ({
    provider: null,
    providerNote: null,
    ortVersion: ort.env.versions.common,
    inputSopInstanceUids: [],
    findings: [],
    outputs: [],
    ...r,
    timingsMs: { ...t, total: performance.now() - started },
  });

  // Each unit (see analysisUnits): preprocessed, run, and kept as its model grid and outputs (its source planes are
  // dropped). What stops the run is returned without input UIDs: the caller adds them.
  const spec = manifest.input.tensors[0]!;
  const perUnit: { unit: AnalysisUnit; source: SourceVolume; grid: Grid; outputs: Record<string, TensorLike> }[] = [];
  let provider: ProviderName | null = null;
  let providerNote: string | null = null;
  // Images the region crop left whole (no region for their unit): the op silently does nothing for them.
  const cropsRegion = manifest.preprocessing.some((op) => op.op === 'cropUltrasoundRegion');
  let analysedWhole = 0;
  type Stop = Partial<InferenceJobResult> & Pick<InferenceJobResult, 'status' | 'reason'>;
  const analyseUnits = async (units: AnalysisUnit[], unitScratch: JobScratch): Promise<Stop | null> => {
    for (const unit of units) {
      progress('preprocess');
      let t0 = performance.now();
      const source = buildSource(unit, unitScratch.sharedFloat32);
      if (cropsRegion && !unit.region) analysedWhole += unit.images.length;
      const sourceShape = source.grid.shape;
      let prepared;
      let feed;
      try {
        prepared = runPreprocessing(manifest.preprocessing, source, unitScratch.float32, second);
        const tensor = assembleInputTensor(manifest, prepared);
        // ONNX Runtime refuses shared memory: an input that is still the (shared) source volume is copied out.
        const data = tensor.data.buffer instanceof SharedArrayBuffer ? unitScratch.float32(tensor.data.length) : tensor.data;
        if (data !== tensor.data) data.set(tensor.data);
        feed = castFeed(ort, spec.dtype, data, tensor.dims);
      } catch (err) {
        t.preprocess += performance.now() - t0;
        if (err instanceof PreprocessingError) return { status: 'not-analysed', reason: err.message };
        throw err;
      }
      // Free the source planes we no longer need (the model grid is what the outputs refer to).
      source.grid = { ...source.grid, data: new Float32Array(0), shape: sourceShape };
      t.preprocess += performance.now() - t0;
      progress('inference');
      t0 = performance.now();
      try {
        const run = await sessions.run(job.model.modelPath, job.provider, { [spec.name]: feed }, { warmUp: { inputs: [{ name: spec.name, dtype: spec.dtype, dims: feed.dims }] } });
        // Session creation and warm-up are timed apart from the run itself.
        t.session! += run.sessionMs;
        t.inference += run.inferenceMs;
        if (run.created && run.warmUp?.ran) t.warmUp = run.warmUp.ms;
        t0 = performance.now();
        provider = run.provider;
        providerNote = run.fallbackReason;
        // The model grid's geometry is what the outputs map back through; its values (the model input) go.
        perUnit.push({ unit, source, grid: { ...prepared.grid, data: NO_PIXELS }, outputs: run.outputs });
      } catch (err) {
        t.inference += performance.now() - t0;
        return { status: 'failed', reason: `inference failed: ${(err as Error).message.split('\n')[0]}`, provider, providerNote };
      }
      t.inference += performance.now() - t0;
      prepared.channels.length = 0;
    }
    return null;
  };

  // Decode.
  progress('decode');
  let t0 = performance.now();
  let images: DecodedImage[] = [];
  // A per-image model analyses each image (each frame of a multi-frame one) as soon as it is decoded and keeps only
  // its model grid and outputs: a long series or cine is never held decoded whole. Other units need the series.
  const imageByImage = manifest.input.unit === 'image';
  const wholeUpTo = imageByImage ? MAX_READ_AHEAD_BYTES : MAX_WHOLE_READ;
  // Files are read ahead on libuv's threads while the current one decodes.
  const reads: (Promise<Buffer | OpenedFile | null> | undefined)[] = [];
  const readAhead = (i: number) => {
    if (i >= job.files.length) return;
    const path = job.files[i]!;
    const reference = job.references?.[i] ?? null;
    // null: a managed copy too large to hold in one buffer (or, image by image, worth holding); decoded from the file
    // in windows instead.
    const read = reference
      ? readReferenced(path, reference, wholeUpTo)
      : imageByImage
        ? stat(path).then((st) => (st.size > wholeUpTo ? null : readFile(path)))
        : readFile(path).catch((err: NodeJS.ErrnoException) => (err.code === 'ERR_FS_FILE_TOO_LARGE' ? null : Promise.reject(err)));
    read.catch(() => undefined); // awaited below, or abandoned when an earlier file fails
    reads[i] = read;
  };
  for (let i = 0; i < READ_AHEAD; i++) readAhead(i);
  let stop: Stop | null = null;
  const segmentsImages = imageByImage && manifest.outputs.some((o) => o.kind === 'segmentation');
  const MASK_SIZES_DIFFER: Stop = { status: 'not-analysed', reason: 'the images of the series differ in size' };
  let volume: Float32Array | null = null;
  try {
    for (let i = 0; i < job.files.length; i++) {
      const bytes = await reads[i]!;
      reads[i] = undefined;
      readAhead(i + READ_AHEAD);
      if (imageByImage) {
        // null: a managed copy too large to hold in one buffer, decoded from the file in windows.
        const source = Buffer.isBuffer(bytes) ? bytes : (bytes ?? job.files[i]!);
        // After a stop, a file that cannot even be opened is left out of the list: its error is not the run's reason.
        const file = stop ? await openImageFrames(source).catch(() => null) : await openImageFrames(source);
        if (!file) continue;
        // A referenced original decoded from its descriptor: still the file import recorded? (Read whole, it was
        // checked after the read.) Asked after its last frame, and when reading it failed (a file cut short meanwhile).
        const reference = job.references?.[i] ?? null;
        const checkReferenced = () => {
          if (!reference || !bytes || Buffer.isBuffer(bytes)) return;
          const now = fstatSync(bytes.fd);
          if (!matchesImportRecord(reference, now.size, now.mtimeMs)) throw new ReferencedFileChangedError(job.files[i]!, 'modified', 'analyse');
        };
        try {
          for (let f = 0; f < file.image.frames; f++) {
            const img: DecodedImage = { ...file.image, frames: 1, data: NO_PIXELS };
            images.push(img);
            // After a stop, the remaining images are listed (their UIDs and order), not decoded. Images are analysed
            // in file order, so with several that cannot be, the first in file order gives the reason.
            if (stop) continue;
            // A per-image segmentation needs one mask grid: a second size stops the run (the reason, with every size,
            // comes once the series is listed).
            if (segmentsImages && (img.rows !== images[0]!.rows || img.columns !== images[0]!.columns)) {
              stop = MASK_SIZES_DIFFER;
              continue;
            }
            const units = analysisUnits(manifest, [img]).map((u) => ({ ...u, image: images.length - 1 }));
            // A series of one image analysed as one unit takes the pooled (shareable) arrays, as a volume would: the
            // second thread can then share the preprocessing of a large radiograph. Else fresh ones, let go image by image.
            const alone = job.files.length === 1 && file.image.frames === 1 && units.length === 1;
            img.data = file.frame(f, alone ? scratch.sharedFloat32(img.rows * img.columns) : undefined);
            t.decode += performance.now() - t0;
            try {
              stop = await analyseUnits(units, alone ? scratch : new JobScratch(false, false));
            } catch (err) {
              // Not a decode error: rethrown as analysis would throw it for a series unit.
              throw new AnalysisThrew(err);
            }
            img.data = NO_PIXELS;
            t0 = performance.now();
          }
          checkReferenced();
        } catch (err) {
          if (!(err instanceof AnalysisThrew) && !(err instanceof ReferencedFileChangedError)) checkReferenced();
          throw err;
        } finally {
          file.close();
        }
        continue;
      }
      // Multi-frame instances contribute one plane per frame. Single-frame images of the
      // first image's size decode straight into the slices of one volume (see buildSource).
      const plane: number = volume ? images[0]!.rows * images[0]!.columns : 0;
      // Compressed syntaxes load their codec on first use.
      const img: DecodedImage = Buffer.isBuffer(bytes) ? await decodeImageBytesAsync(bytes, volume?.subarray(i * plane, (i + 1) * plane)) : await decodeImageFileAsync(bytes ?? job.files[i]!);
      if (i === 0 && img.frames === 1) {
        volume = scratch.sharedFloat32(job.files.length * img.data.length);
        volume.set(img.data);
        img.data = volume.subarray(0, img.data.length);
      }
      if (img.frames === 1) images.push(img);
      else {
        const plane = img.rows * img.columns;
        for (let k = 0; k < img.frames; k++) images.push({ ...img, data: img.data.subarray(k * plane, (k + 1) * plane), frames: 1 });
      }
    }
  } catch (err) {
    // Large referenced originals read ahead and left open for a decode that will not come.
    for (const pending of reads) void pending?.then((r) => r && !Buffer.isBuffer(r) && closeSync(r.fd), () => undefined);
    if (err instanceof AnalysisThrew) throw err.cause;
    t.decode += performance.now() - t0;
    if (err instanceof ReferencedFileChangedError) return result({ status: 'failed', reason: err.message });
    if (err instanceof PixelDecodeError) return result({ status: 'not-analysed', reason: err.message });
    return result({ status: 'failed', reason: `decode failed: ${(err as Error).message}` });
  }
  const order = sliceOrder(images);
  images = order.map((i) => images[i]!);
  const uids = images.map((i) => i.sopInstanceUid);
  t.decode += performance.now() - t0;
  const sizes = new Set(images.map((i) => `${i.rows}×${i.columns}`));
  // Masks of images of several sizes would need planes of several sizes: one mask grid is what the viewer reads.
  if (stop === MASK_SIZES_DIFFER) {
    return result({ status: 'not-analysed', reason: `the images of the series differ in size (${[...sizes].join(', ')}) and this model's segmentation needs one mask grid for the series`, inputSopInstanceUids: uids });
  }
  if (stop) return result({ ...stop, inputSopInstanceUids: uids });
  if (images.length === 0) return result({ status: 'not-analysed', reason: 'the series has no images', inputSopInstanceUids: uids });
  if (imageByImage) {
    // Analysed in file order: the units now take the images' slice order (an image's regions stay in theirs).
    const slice = new Array<number>(order.length);
    order.forEach((from, to) => (slice[from] = to));
    for (const u of perUnit) u.unit = { ...u.unit, image: slice[u.unit.image!]! };
    perUnit.sort((a, b) => a.unit.image! - b.unit.image!);
  } else {
    // A per-image model judges each image on its own, whatever its size; a series unit needs one grid.
    if (sizes.size > 1) {
      return result({ status: 'not-analysed', reason: `the images of the series differ in size (${[...sizes].join(', ')}) and this model reads the series as one volume`, inputSopInstanceUids: uids });
    }
    // One source volume for "slices"/"volume" (its arrays from the pool).
    const stopped = await analyseUnits(analysisUnits(manifest, images), scratch);
    if (stopped) return result({ ...stopped, inputSopInstanceUids: uids });
  }

  // Case-level aggregator model over the per-slice embeddings (same provider preference and session cache).
  const caseFindings: Finding[] = [];
  const caseOutputs: OutputRecord[] = [];
  const aggregation = manifest.aggregation;
  if (aggregation?.method === 'model') {
    const u = perUnit[0]!;
    const embedding = u.outputs[aggregation.embeddingOutput];
    t0 = performance.now();
    try {
      if (!embedding) throw new Error(`the model did not return the embedding output "${aggregation.embeddingOutput}"`);
      const sequence = embeddingSequence(aggregation, embedding, u.grid.shape[0]);
      const feed = new ort.Tensor('float32', sequence.data, sequence.dims);
      const run = await sessions.run(join(dirname(job.model.modelPath), aggregation.onnx), job.provider, { [aggregation.input.name]: feed }, { warmUp: { inputs: [{ name: aggregation.input.name, dtype: 'float32', dims: sequence.dims }] } });
      t.session! += run.sessionMs;
      t.aggregation = run.inferenceMs;
      const tensor = run.outputs[aggregation.output.tensor];
      if (!tensor) throw new Error(`the aggregator did not return output "${aggregation.output.tensor}"`);
      const rows = classificationScores(aggregation.output, { dims: tensor.dims, data: toFloat(tensor) });
      if (rows.length !== 1) throw new Error(`the aggregator output "${aggregation.output.tensor}" has ${rows.length} rows, expected one case-level row`);
      caseFindings.push(...classificationFindings(aggregation.output, rows[0]!));
      caseOutputs.push({
        kind: 'aggregation',
        tensor: aggregation.output.tensor,
        model: aggregation.onnx,
        modelSha256: aggregation.sha256,
        embeddingOutput: aggregation.embeddingOutput,
        embeddingDims: sequence.dims,
        provider: run.provider,
        providerNote: run.fallbackReason,
        scores: rows[0]!,
      });
    } catch (err) {
      t.aggregation = performance.now() - t0;
      return result({ status: 'failed', reason: `aggregation failed: ${(err as Error).message.split('\n')[0]}`, inputSopInstanceUids: uids, provider, providerNote });
    }
  }

  // Post-process.
  progress('postprocess');
  t0 = performance.now();
  const findings: Finding[] = [...caseFindings];
  const outputs: OutputRecord[] = [...caseOutputs];
  const runDir = job.outputDir;
  const perSlice = manifest.input.unit === 'slices' && spec.layout !== 'NSCHW';
  const outputOf = (o: OutputSpec, u: (typeof perUnit)[number]) => {
    const tensor = u.outputs[o.tensor];
    if (!tensor) throw new Error(`the model did not return output "${o.tensor}"`);
    return { dims: tensor.dims, data: toFloat(tensor) };
  };
  /**
   * A per-image model's label maps (unit "image": one unit per image, or per B-mode region): each image's mask in its
   * plane of one series mask, as a "slices" model's would be; a region's labels inside its region. Counts and findings
   * are the series'. The images have one size (checked before the post-processing).
   */
  const imageMasks = (o: Extract<OutputSpec, { kind: 'segmentation' }>) => {
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
    findings.push(...segmentationFindings(o, sourceCounts, mask.length, voxelVolumeMl(geometry, images.length)));
    // Units of one model may differ in grid (region crops to a model of free size): the largest plane.
    const g = [Math.max(...perUnit.map((u) => u.grid.shape[1])), Math.max(...perUnit.map((u) => u.grid.shape[2]))];
    outputs.push({
      kind: 'segmentation',
      tensor: o.tensor,
      labels: o.labels.map((l) => ({ ...l, color: [...l.color] as [number, number, number], voxels: sourceCounts[l.index] ?? 0 })),
      // One model grid per unit: their number and the largest plane.
      modelGridShape: [perUnit.length, g[0]!, g[1]!],
      modelVoxelCounts: modelCounts,
      mask: { file: writeArray(runDir, `${o.tensor}-mask`, mask), dtype: 'uint8', shape: [images.length, rows, columns], sourceToPatient: geometry },
    });
  };
  try {
    for (const o of manifest.outputs) {
      switch (o.kind) {
        case 'classification': {
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
          if (aggregation?.method !== 'model') findings.push(...classificationFindings(o, rows.length === 1 ? rows[0]! : (aggregation?.method ?? 'max') === 'max' ? mostSuspiciousScores(o, rows) : aggregateScores(rows, 'mean')));
          outputs.push({
            kind: 'classification',
            tensor: o.tensor,
            ...(rows.length > 1 || aggregation?.method === 'model' ? { perImage: rows } : {}),
            ...(regions.length > 0 ? { regions } : {}),
          });
          break;
        }
        case 'segmentation': {
          if (perUnit.length > 1) {
            imageMasks(o);
            break;
          }
          const u = perUnit[0]!;
          const counted = new Uint32Array(256);
          const labels = segmentationLabels(o, outputOf(o, u), u.grid.shape, perSlice, counted, scratch.sharedUint8(u.grid.shape[0] * u.grid.shape[1] * u.grid.shape[2]));
          const classes = Math.max(...o.labels.map((l) => l.index)) + 1;
          const modelCounts = labelCounts(labels, classes, counted);
          const sourceShape = u.source.grid.shape;
          const mask = toSourceGrid(labels, u.grid, sourceShape, 'nearest', scratch.sharedUint8(sourceShape[0] * sourceShape[1] * sourceShape[2]), second);
          // A pure axis permutation/flip moves every voxel once: the counts carry over unchanged.
          const sourceCounts = isBijection(invert(u.grid.toSource), sourceShape, u.grid.shape) ? modelCounts : labelCounts(mask, classes);
          findings.push(...segmentationFindings(o, sourceCounts, mask.length, voxelVolumeMl(u.source.sourceToPatient, sourceShape[0])));
          outputs.push({
            kind: 'segmentation',
            tensor: o.tensor,
            labels: o.labels.map((l) => ({ ...l, color: [...l.color] as [number, number, number], voxels: sourceCounts[l.index] ?? 0 })),
            modelGridShape: u.grid.shape,
            modelVoxelCounts: modelCounts,
            mask: { file: writeArray(runDir, `${o.tensor}-mask`, mask), dtype: 'uint8', shape: sourceShape, sourceToPatient: u.source.sourceToPatient },
          });
          break;
        }
        case 'heatmap': {
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
          const mixed = sizes.size > 1;
          const map: ArrayRef = {
            file: writeArray(runDir, `${o.tensor}-heatmap`, all),
            dtype: 'float32',
            shape,
            sourceToPatient: mixed ? null : sourceToPatient(images),
            ...(mixed ? { imageShapes: images.map((i): [number, number] => [i.rows, i.columns]) } : {}),
            ...(step > 1 ? { step } : {}),
          };
          outputs.push({ kind: 'heatmap', tensor: o.tensor, label: o.label, map });
          break;
        }
        case 'detection': {
          const boxes = perUnit.flatMap((u) =>
            detectionBoxes(o, outputOf(o, u), u.grid).map((b) => {
              // A per-image unit's model grid is one plane of its image (each of its regions too).
              const slice = u.unit.image ?? b.slice;
              return { ...b, slice, sopInstanceUid: uids[slice] ?? '' };
            }),
          );
          for (const label of o.labels) {
            const best = Math.max(0, ...boxes.filter((b) => b.label === label).map((b) => b.score));
            findings.push({ label, score: best, positive: best >= o.scoreThreshold && boxes.some((b) => b.label === label), threshold: o.scoreThreshold });
          }
          outputs.push({ kind: 'detection', tensor: o.tensor, boxes });
          break;
        }
      }
    }
  } catch (err) {
    t.postprocess = performance.now() - t0;
    return result({ status: 'failed', reason: `post-processing failed: ${(err as Error).message}`, inputSopInstanceUids: uids, provider, providerNote });
  }
  t.postprocess = performance.now() - t0;
  const warnings = analysedWhole > 0 ? { warnings: [noUltrasoundRegionWarning(analysedWhole, images.length)] } : {};
  return result({ status: 'done', provider, providerNote, inputSopInstanceUids: uids, findings, outputs, ...warnings });
}
