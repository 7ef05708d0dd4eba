/**
 * The decode worker's post-processing of a decoded frame: the same result as
 * dicom-image-loader 5.14's `postProcessDecodedPixels` (decodeImageFrameWorker.js;
 * test/integration/decode/viewer-decode-worker.test.ts compares the two on every
 * branch), with less work per frame:
 *
 * - the sign-extension pass runs only when it can change a value (the stock
 *   loop runs over every signed frame, where for a 16-bit frame with 16 bits
 *   stored it is a no-op);
 * - the copy into the output typed array and the modality-LUT scaling are one
 *   pass instead of two, when the copy is exact (it always is for CT/MR:
 *   stored values fit the output type); otherwise the stock two passes run,
 *   wrap-arounds included. When the decoded array already has the output type
 *   and a buffer of its own, it is scaled in place (no copy at all);
 * - a decoder that tracked the samples' min/max saves the min/max pass.
 *
 * Which frames count as colour and which typed array holds a value range are
 * decided by the loader's own functions (stock-pixel-types.ts).
 *
 * DOM-free and worker-free so Node tests import it.
 */
import { type PixelArrayConstructor, isColorImage, pixelArrayTypeFor } from './stock-pixel-types';
import { bilinear, replicate } from './stock-resampling';
import { transferableBuffer } from './transferable-buffer';

export { pixelArrayTypeFor };

export type PixelArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Uint8ClampedArray;

export interface ScalingParameters {
  rescaleSlope?: number;
  rescaleIntercept?: number;
  modality?: string;
  suvbw?: number;
  doseGridScaling?: number;
  [key: string]: unknown;
}

export interface PreScaleOptions {
  enabled?: boolean;
  scalingParameters?: ScalingParameters;
  [key: string]: unknown;
}

export interface TargetBufferOptions {
  type?: string;
  arrayBuffer?: ArrayBufferLike;
  offset?: number;
  length?: number | null;
  rows?: number;
  columns?: number;
  scalingType?: string;
}

/** The decode task's options, as createImage sends them (only the fields post-processing reads). */
export interface DecodeTaskOptions {
  preScale?: PreScaleOptions;
  allowFloatRendering?: boolean;
  targetBuffer?: TargetBufferOptions;
  [key: string]: unknown;
}

/** The image frame's fields post-processing reads or writes, besides the pixels. */
interface ImageFrameFields {
  pixelRepresentation?: number;
  bitsStored?: number;
  photometricInterpretation?: string;
  rows?: number;
  samplesPerPixel?: number;
  pixelDataLength?: number;
  smallestPixelValue?: number;
  largestPixelValue?: number;
  preScale?: PreScaleOptions & { scaled?: boolean };
  decodeTimeInMS?: number;
  [key: string]: unknown;
}

/** The image frame as decoders return it (only the fields post-processing reads or writes). */
export interface DecodedImageFrame extends ImageFrameFields {
  pixelData: PixelArray;
}

/** The image frame as the decode task receives it, before a decoder has set its pixels. */
export interface UndecodedImageFrame extends ImageFrameFields {
  pixelData?: PixelArray;
}

const TARGET_TYPES: Record<string, PixelArrayConstructor> = {
  Uint8Array,
  Uint16Array,
  Int16Array,
  Float32Array,
  Uint32Array,
};

/**
 * The loader's getMinMax. Float samples keep its Math.min/max (a NaN makes both
 * NaN, as there); integer samples cannot be NaN, so plain comparisons give the
 * same result at about half the cost.
 */
function minMaxOf(values: PixelArray): { min: number; max: number } {
  let min = values[0]!;
  let max = values[0]!;
  if (values instanceof Float32Array) {
    for (let i = 1, n = values.length; i < n; i++) {
      const v = values[i]!;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    return { min, max };
  }
  for (let i = 1, n = values.length; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  return { min, max };
}

function elementBits(values: PixelArray): number | null {
  if (values instanceof Uint8Array || values instanceof Int8Array || values instanceof Uint8ClampedArray) return 8;
  if (values instanceof Uint16Array || values instanceof Int16Array) return 16;
  return null;
}

/**
 * The stock sign extension `(v << s) >> s`, s = 32 - bitsStored, written back into
 * the same array. A no-op when the elements are 8- or 16-bit integers no wider
 * than bitsStored (their values already lie in the bitsStored-bit range).
 */
function signExtend(frame: DecodedImageFrame): boolean {
  const values = frame.pixelData;
  const bits = elementBits(values);
  if (bits !== null && frame.bitsStored !== undefined && bits <= frame.bitsStored) return false;
  const shift = 32 - (frame.bitsStored as number);
  for (let i = 0; i < values.length; i++) values[i] = (values[i]! << shift) >> shift;
  return true;
}

function scaledMinMax(min: number, max: number, p: ScalingParameters): { min: number; max: number } {
  const { rescaleSlope, rescaleIntercept, modality, doseGridScaling, suvbw } = p;
  if (modality === 'PT' && typeof suvbw === 'number' && !Number.isNaN(suvbw)) {
    return { min: suvbw * (min * (rescaleSlope as number) + (rescaleIntercept as number)), max: suvbw * (max * (rescaleSlope as number) + (rescaleIntercept as number)) };
  }
  if (modality === 'RTDOSE' && typeof doseGridScaling === 'number' && !Number.isNaN(doseGridScaling)) return { min: min * doseGridScaling, max: max * doseGridScaling };
  if (typeof rescaleSlope === 'number' && typeof rescaleIntercept === 'number') return { min: rescaleSlope * min + rescaleIntercept, max: rescaleSlope * max + rescaleIntercept };
  return { min, max };
}

function isRequiredScaling(p: ScalingParameters): boolean {
  const { rescaleSlope, rescaleIntercept, modality, doseGridScaling, suvbw } = p;
  return (typeof rescaleSlope === 'number' && typeof rescaleIntercept === 'number') || (modality === 'RTDOSE' && typeof doseGridScaling === 'number') || (modality === 'PT' && typeof suvbw === 'number');
}

/** 8-bit samples (256 possible values): scaled through a table when the frame is much larger than the table. */
function isByteArray(values: PixelArray): values is Uint8Array | Int8Array | Uint8ClampedArray {
  return values instanceof Uint8Array || values instanceof Int8Array || values instanceof Uint8ClampedArray;
}

/**
 * scaleInto for 8-bit samples: the scaled value of each of the 256 possible
 * samples, stored once in an array of the target's type (so rounded exactly as
 * a direct store would be), then one table read per pixel instead of the
 * multiply-add and float-to-target conversion.
 */
function scaleBytesInto(source: Uint8Array | Int8Array | Uint8ClampedArray, target: PixelArray, p: ScalingParameters): void {
  const base = source instanceof Int8Array ? -128 : 0;
  const table = new (target.constructor as PixelArrayConstructor)(256);
  const sample = new (source.constructor as Uint8ArrayConstructor | Int8ArrayConstructor | Uint8ClampedArrayConstructor)(256);
  for (let k = 0; k < 256; k++) sample[k] = base + k;
  scaleInto(sample, table, p);
  for (let i = 0, n = source.length; i < n; i++) target[i] = table[source[i]! - base]!;
}

/** The loader's scaleArray, reading from `source` and writing `target` (the same array for in-place). */
function scaleInto(source: PixelArray, target: PixelArray, p: ScalingParameters): void {
  const n = source.length;
  if (n > 1024 && isByteArray(source)) {
    scaleBytesInto(source, target, p);
    return;
  }
  const { rescaleSlope, rescaleIntercept, suvbw, doseGridScaling } = p;
  const slope = rescaleSlope as number;
  const intercept = rescaleIntercept as number;
  if (p.modality === 'PT' && typeof suvbw === 'number' && !Number.isNaN(suvbw)) {
    for (let i = 0; i < n; i++) target[i] = suvbw * (source[i]! * slope + intercept);
  } else if (p.modality === 'RTDOSE' && typeof doseGridScaling === 'number' && !Number.isNaN(doseGridScaling)) {
    for (let i = 0; i < n; i++) target[i] = source[i]! * doseGridScaling;
  } else if (slope === 1 && Number.isInteger(intercept) && !(source instanceof Float32Array)) {
    // v * 1 + b is exactly v + b for integer samples and an integer intercept (the usual CT case)
    for (let i = 0; i < n; i++) target[i] = source[i]! + intercept;
  } else {
    for (let i = 0; i < n; i++) target[i] = source[i]! * slope + intercept;
  }
}

/** Whether every value in [min, max] of `source` is stored exactly by `Target` (so copy-then-read equals the source value). */
function copiesExactly(Target: PixelArrayConstructor, source: PixelArray, min: number, max: number): boolean {
  if (Target === Float32Array) return source instanceof Float32Array || (Number.isInteger(min) && Number.isInteger(max) && Math.abs(min) <= 2 ** 24 && Math.abs(max) <= 2 ** 24);
  if (!Number.isInteger(min) || !Number.isInteger(max)) return false;
  const lo = Target === Int8Array ? -128 : Target === Int16Array ? -32768 : Target === Int32Array ? -(2 ** 31) : 0;
  const hi = Target === Uint8Array ? 255 : Target === Int8Array ? 127 : Target === Uint16Array ? 65535 : Target === Int16Array ? 32767 : Target === Int32Array ? 2 ** 31 - 1 : 2 ** 32 - 1;
  return min >= lo && max <= hi;
}

/** The stock scaleImageFrame: resamples the frame to the target buffer's rows x columns (replicate or bilinear). */
function resample(frame: DecodedImageFrame, target: TargetBufferOptions, Target: PixelArrayConstructor): void {
  const samplesPerPixel = Number(frame.samplesPerPixel ?? 1);
  const rows = target.rows as number;
  const columns = target.columns as number;
  const length = rows * columns * samplesPerPixel;
  const pixelData = new Target(length);
  const dest = {
    pixelData,
    rows,
    columns,
    frameInfo: { ...(frame.frameInfo as object | undefined), rows, columns },
    imageInfo: { ...(frame.imageInfo as object | undefined), rows, columns, bytesPerPixel: pixelData.byteLength / length },
  };
  (target.scalingType === 'bilinear' ? bilinear : replicate)(frame, dest);
  Object.assign(frame, dest);
  frame.pixelDataLength = frame.pixelData.length;
}

function handleTargetBuffer(options: DecodeTaskOptions, frame: DecodedImageFrame): PixelArray {
  const { arrayBuffer, type, offset: rawOffset = 0, length: rawLength, rows } = options.targetBuffer as TargetBufferOptions;
  const Target = TARGET_TYPES[type as string];
  if (!Target) throw new Error(`target array ${type} is not supported, or doesn't exist.`);
  if (rows && rows != frame.rows) resample(frame, options.targetBuffer as TargetBufferOptions, Target);
  const length = rawLength !== null && rawLength !== undefined ? rawLength : (frame.pixelDataLength as number) - rawOffset;
  if (length !== frame.pixelData.length) throw new Error(`target array for image does not have the same length (${length}) as the decoded image length (${frame.pixelData.length}).`);
  const typed = arrayBuffer ? new Target(arrayBuffer as ArrayBuffer, rawOffset, length) : new Target(length);
  typed.set(frame.pixelData, 0);
  return typed;
}

/**
 * Whether post-processing applies the modality LUT (the loader's rule): pre-scaling
 * is enabled, unless a non-integer rescale needs float rendering the caller
 * disallows. One rule for postProcessDecodedPixels and offsetPostProcess.
 */
function appliesScaling(preScale: PreScaleOptions, options: DecodeTaskOptions): boolean {
  if (!preScale.enabled) return false;
  // Enabled without parameters: Object.values throws the loader's own TypeError (the equivalence test pins it).
  const canRenderFloat = typeof options.allowFloatRendering !== 'undefined' ? options.allowFloatRendering : true;
  const hasFloatRescale = Object.values(preScale.scalingParameters as ScalingParameters).some((v) => typeof v === 'number' && !Number.isInteger(v));
  return canRenderFloat || !hasFloatRescale;
}

/**
 * Post-processes `frame` in place and returns it (see the file comment); `start`
 * is Date.now() when decoding began. `decodedRange`: the min/max of the decoded
 * samples when the decoder computed them on the way (saves a pass; ignored if
 * sign extension rewrites the samples).
 */
export function postProcessDecodedPixels(frame: DecodedImageFrame, options: DecodeTaskOptions, start: number, decodedRange?: { min: number; max: number }): DecodedImageFrame {
  let rewritten = false;
  if (frame.pixelRepresentation !== undefined && frame.pixelRepresentation === 1 && frame.bitsStored !== undefined) rewritten = signExtend(frame);
  const source = frame.pixelData;
  frame.pixelDataLength = source.length;
  const { min: minBefore, max: maxBefore } = decodedRange && !rewritten && source.length > 0 ? decodedRange : minMaxOf(source);
  let invalidType = isColorImage(frame.photometricInterpretation ?? '') && options.targetBuffer?.offset === undefined;
  const preScale = options.preScale as PreScaleOptions;
  const scale = appliesScaling(preScale, options);
  const type = options.targetBuffer?.type;
  const scaling = preScale.scalingParameters;
  if (type && scale) {
    const scaled = scaledMinMax(minBefore, maxBefore, scaling as ScalingParameters);
    invalidType = pixelArrayTypeFor(scaled.min, scaled.max) !== TARGET_TYPES[type];
  }

  let output: PixelArray;
  let scaledAlready = false;
  if (type && !invalidType) {
    output = handleTargetBuffer(options, frame);
  } else {
    const range = scale ? scaledMinMax(minBefore, maxBefore, scaling as ScalingParameters) : { min: minBefore, max: maxBefore };
    const Target = pixelArrayTypeFor(range.min, range.max);
    const scaleNow = scale && isRequiredScaling(scaling as ScalingParameters);
    if (scaleNow && source.constructor === Target && transferableBuffer(source) !== null) {
      output = source; // already the output type, in a buffer of its own: scale in place, no copy
      scaleInto(source, output, scaling as ScalingParameters);
      scaledAlready = true;
    } else {
      output = new Target(source.length);
      if (scaleNow && copiesExactly(Target, source, minBefore, maxBefore)) {
        scaleInto(source, output, scaling as ScalingParameters); // copy + scale in one pass
        scaledAlready = true;
      } else {
        output.set(source, 0);
      }
    }
  }

  let minAfter = minBefore;
  let maxAfter = maxBefore;
  if (scale && isRequiredScaling(scaling as ScalingParameters)) {
    if (!scaledAlready) scaleInto(output, output, scaling as ScalingParameters);
    frame.preScale = { ...preScale, scaled: true };
    const scaled = scaledMinMax(minBefore, maxBefore, scaling as ScalingParameters);
    minAfter = scaled.min;
    maxAfter = scaled.max;
  }
  frame.pixelData = output;
  frame.smallestPixelValue = minAfter;
  frame.largestPixelValue = maxAfter;
  frame.decodeTimeInMS = new Date().getTime() - start;
  return frame;
}

/**
 * What post-processing does to a frame of 16-bit integer samples when that is
 * at most adding a constant: no sign extension to apply, no target buffer,
 * and the modality LUT off, not required, or slope 1 with an integer
 * intercept (CT's usual rescale). A decoder can then add `offset` as it
 * stores each sample and skip the post-processing passes (see
 * completeOffsetFrame). Null for everything else (PT SUV, RTDOSE, other
 * slopes, target buffers, and the cases postProcessDecodedPixels rejects),
 * which goes through postProcessDecodedPixels.
 */
export interface OffsetPostProcess {
  /** Added to every sample (the integer rescale intercept, or 0). */
  offset: number;
  /** Whether the modality LUT is applied (frame.preScale.scaled). */
  scaled: boolean;
}

export function offsetPostProcess(frame: Pick<DecodedImageFrame, 'pixelRepresentation' | 'bitsStored'>, options: DecodeTaskOptions): OffsetPostProcess | null {
  if (frame.pixelRepresentation === 1 && frame.bitsStored !== undefined && frame.bitsStored < 16) return null; // sign extension rewrites samples
  if (options.targetBuffer?.type) return null;
  const preScale = options.preScale;
  if (!preScale) return null;
  const scaling = preScale.scalingParameters;
  if (preScale.enabled && !scaling) return null;
  const scale = appliesScaling(preScale, options);
  if (!scale || !isRequiredScaling(scaling as ScalingParameters)) return { offset: 0, scaled: false };
  const { rescaleSlope, rescaleIntercept, modality, suvbw, doseGridScaling } = scaling as ScalingParameters;
  if (modality === 'PT' && typeof suvbw === 'number' && !Number.isNaN(suvbw)) return null;
  if (modality === 'RTDOSE' && typeof doseGridScaling === 'number' && !Number.isNaN(doseGridScaling)) return null;
  if (rescaleSlope !== 1 || typeof rescaleIntercept !== 'number' || !Number.isInteger(rescaleIntercept)) return null;
  return { offset: rescaleIntercept, scaled: true };
}

/**
 * Completes `frame` as postProcessDecodedPixels would, for samples a decoder
 * stored with `plan.offset` already added: `range` is their min/max (offset
 * included) as numbers. Returns null, leaving `frame` untouched, when the
 * range does not fit `pixels`' type (the decoder guessed the type before
 * knowing the range, so some stores wrapped): the caller then decodes again
 * the general way. A range that fits but for which the loader would choose a
 * narrower type (Uint8/Int8) is copied into that type.
 */
export function completeOffsetFrame(frame: UndecodedImageFrame, options: DecodeTaskOptions, start: number, pixels: Int16Array | Uint16Array, range: { min: number; max: number }, plan: OffsetPostProcess): DecodedImageFrame | null {
  if (pixels.length === 0) return null;
  const fits = pixels instanceof Int16Array ? range.min >= -32768 && range.max <= 32767 : range.min >= 0 && range.max <= 65535;
  if (!fits) return null; // some stores wrapped
  // Every sample is exact; a narrower type the loader would choose (Uint8/Int8) is one copy, not a re-decode.
  const Target = pixelArrayTypeFor(range.min, range.max);
  let output: PixelArray = pixels;
  if (Target !== pixels.constructor) {
    output = new Target(pixels.length);
    output.set(pixels);
  }
  if (plan.scaled) frame.preScale = { ...(options.preScale as PreScaleOptions), scaled: true };
  return Object.assign(frame, {
    pixelData: output,
    pixelDataLength: output.length,
    smallestPixelValue: range.min,
    largestPixelValue: range.max,
    decodeTimeInMS: new Date().getTime() - start,
  });
}
