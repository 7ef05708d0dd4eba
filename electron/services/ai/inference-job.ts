/**
 * One analysis run, start to finish, off the main thread: decode the series'
 * images (read by SeriesFileReader), preprocess each analysis unit
 * (analysis-unit.ts), run the model and any case-level aggregator
 * (case-aggregator.ts), and turn the outputs into findings and stored arrays
 * (run-outputs.ts). Runs inside the inference worker (or in-process in unit
 * tests).
 */
import type { RunWarning } from '../../../contract/ipc-contract';
import { ReferencedFileChangedError, type ReferencedFileRecord } from '../dicom/display-bytes';
import { decodeImageBytesAsync, decodeImageFileAsync, type DecodedImage, openImageFrames, PixelDecodeError } from '../dicom/pixel-decoder';
import { type AnalysedUnit, type AnalysisUnit, analysisUnits, buildSource } from './analysis-unit';
import { runCaseAggregator } from './case-aggregator';
import { type SecondThread, sliceOrder } from './grid-geometry';
import type { ModelManifest } from './model-manifest';
import type { Finding } from './postprocessing';
import { assembleInputTensor, PreprocessingError, runPreprocessing } from './preprocessing-pipeline';
import { type CancelCheck, RunCancelledError, throwIfCancelled } from './run-cancel';
import { collectOutputs, type OutputRecord, type RunOutputs } from './run-outputs';
import { checkBeforeDecode, checkStillImported, MAX_READ_AHEAD_BYTES, MAX_WHOLE_READ, SeriesFileReader } from './series-file-reader';
import type { ProviderName, ProviderPreference, SessionManager } from './session-manager';

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

/**
 * `second`: a thread beside this one (the inference worker's split helper) that takes half of
 * the volume loops of preprocessing and of the inverse mapping; null runs them here alone.
 */
/**
 * `cancel` is read before each file is decoded and before each model run: raised, the job ends with RunCancelledError
 * between ONNX Runtime calls (see run-cancel).
 */
export async function runInferenceJob(
  job: InferenceJob,
  sessions: SessionManager,
  progress: ProgressFn = () => undefined,
  second: SecondThread | null = null,
  cancel: CancelCheck | null = null,
): Promise<InferenceJobResult> {
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
    return await runJob(job, sessions, once, scratch, second, cancel);
  } finally {
    scratch.release();
  }
}

async function runJob(job: InferenceJob, sessions: SessionManager, progress: ProgressFn, scratch: JobScratch, second: SecondThread | null, cancel: CancelCheck | null): Promise<InferenceJobResult> {
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
  const perUnit: AnalysedUnit[] = [];
  let provider: ProviderName | null = null;
  let providerNote: string | null = null;
  // Images the region crop left whole (no region for their unit): the op silently does nothing for them.
  const cropsRegion = manifest.preprocessing.some((op) => op.op === 'cropUltrasoundRegion');
  let analysedWhole = 0;
  type Stop = Partial<InferenceJobResult> & Pick<InferenceJobResult, 'status' | 'reason'>;
  const analyseUnits = async (units: AnalysisUnit[], unitScratch: JobScratch): Promise<Stop | null> => {
    for (const unit of units) {
      throwIfCancelled(cancel);
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
  // Files are read ahead on libuv's threads while the current one decodes; image by image, a large one is decoded from
  // disk frame by frame instead.
  const reader = new SeriesFileReader(job.files, job.references, imageByImage ? MAX_READ_AHEAD_BYTES : MAX_WHOLE_READ, imageByImage);
  let stop: Stop | null = null;
  const segmentsImages = imageByImage && manifest.outputs.some((o) => o.kind === 'segmentation');
  const MASK_SIZES_DIFFER: Stop = { status: 'not-analysed', reason: 'the images of the series differ in size' };
  let volume: Float32Array | null = null;
  try {
    for (let i = 0; i < job.files.length; i++) {
      throwIfCancelled(cancel);
      const bytes = await reader.take(i);
      if (imageByImage) {
        // null: a managed copy too large to hold in one buffer, decoded from the file in windows.
        const source = Buffer.isBuffer(bytes) ? bytes : (bytes ?? job.files[i]!);
        // A referenced original decoded from its descriptor: still the file import recorded? (Read whole, it was
        // checked after the read.) Asked before it is opened, after its last frame, and when reading it failed.
        const reference = job.references?.[i] ?? null;
        const checkReferenced = () => checkStillImported(bytes, reference, job.files[i]!);
        if (!stop) checkBeforeDecode(bytes, reference, job.files[i]!);
        // After a stop, a file that cannot even be opened is left out of the list: its error is not the run's reason.
        const file = stop ? await openImageFrames(source).catch(() => null) : await openImageFrames(source);
        if (!file) continue;
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
      checkBeforeDecode(bytes, job.references?.[i] ?? null, job.files[i]!);
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
    reader.abandon();
    if (err instanceof AnalysisThrew) throw err.cause;
    if (err instanceof RunCancelledError) throw err;
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
  const aggregated: RunOutputs = { findings: [], outputs: [] };
  const aggregation = manifest.aggregation;
  if (aggregation?.method === 'model') {
    throwIfCancelled(cancel);
    t0 = performance.now();
    try {
      const run = await runCaseAggregator(ort, sessions, job.model.modelPath, job.provider, aggregation, perUnit[0]!);
      t.session! += run.sessionMs;
      t.aggregation = run.inferenceMs;
      aggregated.findings.push(...run.findings);
      aggregated.outputs.push(run.record);
    } catch (err) {
      t.aggregation = performance.now() - t0;
      return result({ status: 'failed', reason: `aggregation failed: ${(err as Error).message.split('\n')[0]}`, inputSopInstanceUids: uids, provider, providerNote });
    }
  }

  // Post-process.
  throwIfCancelled(cancel);
  progress('postprocess');
  t0 = performance.now();
  const sink: RunOutputs = { findings: [...aggregated.findings], outputs: [...aggregated.outputs] };
  try {
    collectOutputs({ manifest, units: perUnit, images, uids, dir: job.outputDir, sharedUint8: scratch.sharedUint8, second }, sink);
  } catch (err) {
    t.postprocess = performance.now() - t0;
    return result({ status: 'failed', reason: `post-processing failed: ${(err as Error).message}`, inputSopInstanceUids: uids, provider, providerNote });
  }
  t.postprocess = performance.now() - t0;
  const warnings = analysedWhole > 0 ? { warnings: [noUltrasoundRegionWarning(analysedWhole, images.length)] } : {};
  return result({ status: 'done', provider, providerNote, inputSopInstanceUids: uids, ...sink, ...warnings });
}
