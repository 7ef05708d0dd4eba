/**
 * Display transcoding: for the encodings the viewer's loader (Cornerstone's
 * dicom-image-loader + dicomParser) reads wrongly or not at all, an equivalent
 * Part-10 dataset with native little-endian pixels that it reads correctly.
 * display-bytes.ts serves it; the stored file is never modified. Lossy pixel
 * data is decoded, never re-encoded.
 *
 * Steps (recorded on the served bytes, several may apply to one file):
 *  - 'byte-swapped'      Explicit VR Big Endian -> Explicit VR Little Endian: every
 *                        element re-encoded, values swapped per VR (nested sequences
 *                        too). Pixel Data: OW with Bits Allocated <= 16 swapped in
 *                        16-bit words (PS3.5: 8-bit OW pixels come in swapped pairs;
 *                        dcmtk and gdcm agree); Bits Allocated 32/64 swapped per
 *                        sample, value-preserving (what the little-endian encoding
 *                        of the same instance holds; dcmtk 3.6.7/gdcm swap 32-bit
 *                        OW in 16-bit halves, which scrambles the values).
 *  - 'decompressed'      Encapsulated pixel data decoded to native: RLE with 32-bit
 *                        samples or 16-bit colour (the loader loses the low bytes),
 *                        JPEG with 12-bit precision (the loader's decoder is off by
 *                        ~+15; jpeg-dct-decoder.ts matches dcmdjpeg), 3-component
 *                        JPEG labelled RGB that libjpeg would colour-convert (DICOM
 *                        says the samples are RGB; dcmtk does not convert), and any
 *                        encapsulated data in a dataset whose VR encoding is not
 *                        the one its transfer syntax declares.
 *  - 'encoding-declared' The dataset is implicit VR although the file meta declares
 *                        an explicit syntax (or vice versa): the served file declares
 *                        what the dataset is.
 *  - 'bits-unpacked'     1-bit pixels whose frames do not start on a byte boundary
 *                        (or that are transcoded anyway): one byte per pixel, Bits
 *                        Allocated 8, Bits Stored 1, High Bit 0 (values 0/1 unchanged).
 *  - 'ybr-to-rgb'        Native 8-bit YBR_FULL_422 (the loader returns 2 values per
 *                        pixel): converted to RGB (PS3.3 C.7.6.3.1.2), Photometric RGB.
 *  - 'palette-expanded'  Segmented palette colour LUTs (0028,1221-1223) expanded to
 *                        ordinary LUT data (0028,1201-1203) per PS3.3 C.7.9.2.
 *  - 'float-narrowed'    Double Float Pixel Data (7FE0,0009), which the loader does not
 *                        read, served as Float Pixel Data (7FE0,0008), float32, Bits
 *                        Allocated 32. float32 keeps 24 significant bits, more than
 *                        any display path (WebGL textures are float32) resolves;
 *                        rescaling to integers would lose range instead.
 *  - 'tiles-padded'      A tiled image (Total Pixel Matrix Rows/Columns present, e.g.
 *                        whole-slide microscopy) whose edge-tile JPEG frames are coded
 *                        smaller than Rows x Columns (not conformant, but written by
 *                        real converters). The loader shows such a frame at its JPEG
 *                        size and dcmdjpeg copies the short decode into the frame
 *                        unaligned; here every frame is decoded and an edge tile is
 *                        placed at the tile's top-left, the rest of the frame zero
 *                        (outside the total pixel matrix: no image there).
 *
 * Memory stays bounded: the header part is built once, pixel frames are produced
 * one at a time while streaming. Malformed input raises DisplayTranscodeError.
 * Planning and frames are CPU work: display-transcode-runner.ts runs them in
 * worker threads; only mayNeedDisplayTranscode (header and bounded reads) is
 * meant for the thread that serves the bytes.
 */
import type { ByteSource } from './byte-source';
import { type DicomDataset, type DicomFileInfo, type Encoding, IMPLICIT_LE, KNOWN_VRS, LONG_VRS, Tag, UNDEFINED, tagString } from './dicom-dataset-reader';
import { JpegDecodeError, type JpegStreamInfo, decodeJpegDct, jpegStreamInfo, sofHeader } from './jpeg-dct-decoder';
import { CODEC_OF, type FrameDecoder, codecFor, codecReturnsRgb } from './pixel-codecs';
import { PaletteLutError, expandSegmentedLut } from './palette-color-lut';
import { PixelDecodeError, RLE_LOSSLESS, decodeRleFrame, frameFragments } from './pixel-decoder';
import { TS, encodingOf } from './transfer-syntax';

export type TranscodeStep = 'byte-swapped' | 'decompressed' | 'encoding-declared' | 'bits-unpacked' | 'ybr-to-rgb' | 'palette-expanded' | 'float-narrowed' | 'tiles-padded';

/**
 * Why a file could not be served transcoded: 'TRANSCODE_FAILED' the file's own
 * data (corrupt, unsupported); the others the thread doing the work
 * (display-transcode-pool.ts): it died, hung past its deadline, was closed, or
 * its script could not be found. The endpoints answer with the code.
 */
export type DisplayTranscodeErrorCode = 'TRANSCODE_FAILED' | 'WORKER_CRASHED' | 'WORKER_TIMEOUT' | 'WORKER_CLOSED' | 'WORKER_UNAVAILABLE';

export class DisplayTranscodeError extends Error {
  constructor(
    message: string,
    readonly code: DisplayTranscodeErrorCode = 'TRANSCODE_FAILED',
  ) {
    super(message);
    this.name = 'DisplayTranscodeError';
  }
}

/** HTTP status of a failed transcode, for every host that serves display bytes: the file's data (422) or the worker doing it (503, worth retrying). */
export function transcodeFailureStatus(err: DisplayTranscodeError): 422 | 503 {
  return err.code === 'TRANSCODE_FAILED' ? 422 : 503;
}

/** One decoded frame may not exceed this (a hostile header must not allocate gigabytes per frame). */
export const MAX_TRANSCODED_FRAME_BYTES = 512 * 1024 * 1024;
/** Pixel Data length is a 32-bit field; keep it even and below the undefined-length marker. */
const MAX_PIXEL_DATA_BYTES = 0xfffffffe;

/** Bytes per value unit that a big-endian encoding swaps, per VR. */
const SWAP_SIZE: Record<string, number> = { US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OF: 4, OL: 4, FD: 8, OD: 8, SV: 8, UV: 8, OV: 8 };

const T = {
  PlanarConfiguration: 0x00280006,
  BitsStored: 0x00280101,
  HighBit: 0x00280102,
  RedDescriptor: 0x00281101,
  RedLut: 0x00281201,
  RedSegmented: 0x00281221,
  TotalPixelMatrixColumns: 0x00480006,
  TotalPixelMatrixRows: 0x00480007,
} as const;

interface Header {
  tag: number;
  /** '' for implicit VR (unknown). */
  vr: string;
  length: number;
  start: number;
  valueOffset: number;
}

function readU16(src: ByteSource, pos: number, le: boolean): number {
  const { buf, start } = src.window(pos, 2);
  return le ? buf.readUInt16LE(start) : buf.readUInt16BE(start);
}

function readU32(src: ByteSource, pos: number, le: boolean): number {
  const { buf, start } = src.window(pos, 4);
  return le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
}

function bytesAt(src: ByteSource, offset: number, length: number): Buffer {
  if (length === 0) return Buffer.alloc(0);
  const { buf, start } = src.window(offset, length);
  return Buffer.from(buf.subarray(start, start + length));
}

function readHeader(src: ByteSource, pos: number, enc: Encoding): Header {
  const le = enc.littleEndian;
  const tag = ((readU16(src, pos, le) << 16) | readU16(src, pos + 2, le)) >>> 0;
  if (tag >>> 16 === 0xfffe || !enc.explicitVr) return { tag, vr: '', length: readU32(src, pos + 4, le), start: pos, valueOffset: pos + 8 };
  const vr = bytesAt(src, pos + 4, 2).toString('latin1');
  // An implicit element inside an explicit dataset (the "VR" is half a length): read as UN, as the reader does.
  if (!KNOWN_VRS.has(vr)) return { tag, vr: 'UN', length: readU32(src, pos + 4, le), start: pos, valueOffset: pos + 8 };
  if (LONG_VRS.has(vr)) return { tag, vr, length: readU32(src, pos + 8, le), start: pos, valueOffset: pos + 12 };
  return { tag, vr, length: readU16(src, pos + 6, le), start: pos, valueOffset: pos + 8 };
}


function isSequence(h: Header, enc: Encoding): boolean {
  return h.vr === 'SQ' || (h.length === UNDEFINED && (h.vr === '' || h.vr === 'UN' || h.vr === 'OB' || h.vr === 'OW' || !enc.explicitVr));
}

/** Encoding of a sequence's items: undefined-length UN holds implicit VR little endian (PS3.5 6.2.2). */
function itemEncoding(h: Header, enc: Encoding): Encoding {
  return h.vr === 'UN' ? IMPLICIT_LE : enc;
}

/** Offset just past the items of an undefined-length sequence starting at `pos`. */
function skipUndefinedSequence(src: ByteSource, pos: number, enc: Encoding, depth: number): number {
  if (depth > 64) throw new DisplayTranscodeError('sequences nested more than 64 deep');
  let p = pos;
  for (;;) {
    if (p >= src.size) return p; // missing delimiter at end of file: tolerated, as the reader does
    const h = readHeader(src, p, enc);
    if (h.tag === Tag.SequenceDelimitation) return h.valueOffset;
    if (h.tag !== Tag.Item) throw new DisplayTranscodeError(`expected an item in a sequence at byte ${p}, found ${tagString(h.tag)}`);
    p = h.length === UNDEFINED ? skipElements(src, h.valueOffset, Infinity, enc, depth + 1) : h.valueOffset + h.length;
  }
}

/** Walks elements until `end` or an item delimiter; returns the offset after it. */
function skipElements(src: ByteSource, pos: number, end: number, enc: Encoding, depth: number): number {
  let p = pos;
  while (p < end && p < src.size) {
    const h = readHeader(src, p, enc);
    if (h.tag === Tag.ItemDelimitation) return h.valueOffset;
    p = elementEnd(src, h, enc, depth);
  }
  return p;
}

function elementEnd(src: ByteSource, h: Header, enc: Encoding, depth: number): number {
  if (h.length !== UNDEFINED) {
    if (h.valueOffset + h.length > src.size) throw new DisplayTranscodeError(`element ${tagString(h.tag)} runs past the end of the file`);
    return h.valueOffset + h.length;
  }
  if (!isSequence(h, enc)) throw new DisplayTranscodeError(`element ${tagString(h.tag)} has an undefined length`);
  return skipUndefinedSequence(src, h.valueOffset, itemEncoding(h, enc), depth + 1);
}

function leHeader(tag: number, vr: string, length: number, explicit: boolean): Buffer {
  const long = explicit && tag >>> 16 !== 0xfffe && LONG_VRS.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  if (!explicit || tag >>> 16 === 0xfffe) head.writeUInt32LE(length >>> 0, 4);
  else {
    head.write(vr, 4, 'latin1');
    if (long) head.writeUInt32LE(length >>> 0, 8);
    else head.writeUInt16LE(length, 6);
  }
  return head;
}

function swapped(value: Buffer, size: number): Buffer {
  if (size <= 1 || value.length % size !== 0) return value;
  if (size === 2) return value.swap16();
  if (size === 4) return value.swap32();
  return value.swap64();
}

/** One element of a big-endian explicit dataset, re-encoded as explicit little endian (sequences recursively). */
function elementToLittleEndian(src: ByteSource, h: Header, depth: number): Buffer {
  const be: Encoding = { explicitVr: true, littleEndian: false };
  if (h.length === UNDEFINED && h.vr === 'UN') {
    // Implicit VR little endian content already: copy it through its delimiter.
    const end = skipUndefinedSequence(src, h.valueOffset, IMPLICIT_LE, depth + 1);
    return Buffer.concat([leHeader(h.tag, 'UN', UNDEFINED, true), bytesAt(src, h.valueOffset, end - h.valueOffset)]);
  }
  if (isSequence(h, be)) {
    const items: Buffer[] = [];
    let p = h.valueOffset;
    const end = h.length === UNDEFINED ? Infinity : h.valueOffset + h.length;
    while (p < end && p < src.size) {
      const item = readHeader(src, p, be);
      if (item.tag === Tag.SequenceDelimitation) break;
      if (item.tag !== Tag.Item) throw new DisplayTranscodeError(`expected an item in ${tagString(h.tag)} at byte ${p}, found ${tagString(item.tag)}`);
      const body: Buffer[] = [];
      let q = item.valueOffset;
      const itemEnd = item.length === UNDEFINED ? Infinity : item.valueOffset + item.length;
      while (q < itemEnd && q < src.size) {
        const el = readHeader(src, q, be);
        if (el.tag === Tag.ItemDelimitation) {
          q = el.valueOffset;
          break;
        }
        body.push(elementToLittleEndian(src, el, depth + 1));
        q = elementEnd(src, el, be, depth + 1);
      }
      const content = Buffer.concat(body);
      if (item.length === UNDEFINED) items.push(leHeader(Tag.Item, '', UNDEFINED, true), content, leHeader(Tag.ItemDelimitation, '', 0, true));
      else items.push(leHeader(Tag.Item, '', content.length, true), content);
      p = q;
      if (item.length !== UNDEFINED) p = item.valueOffset + item.length;
    }
    const content = Buffer.concat(items);
    if (h.length === UNDEFINED) return Buffer.concat([leHeader(h.tag, 'SQ', UNDEFINED, true), content, leHeader(Tag.SequenceDelimitation, '', 0, true)]);
    return Buffer.concat([leHeader(h.tag, 'SQ', content.length, true), content]);
  }
  const value = swapped(bytesAt(src, h.valueOffset, h.length), SWAP_SIZE[h.vr] ?? 1);
  return Buffer.concat([leHeader(h.tag, h.vr, value.length, true), value]);
}

interface OutElement {
  tag: number;
  bytes: Buffer;
}

/** Unsigned 16-bit value whatever VR the reader recorded (implicit datasets give UN). */
function us(ds: DicomDataset, tag: number, index = 0): number | null {
  const el = ds.elements.get(tag);
  if (!el || el.length === UNDEFINED || el.length < 2 * (index + 1)) return null;
  return readU16(ds.source, el.offset + 2 * index, ds.encoding.littleEndian);
}

interface PixelLayout {
  rows: number;
  columns: number;
  samples: number;
  bitsAllocated: number;
  photometric: string;
  planar: number;
  frames: number;
}

/** The image pixel module, or null when it is too incomplete to be an image (served as stored; the loader reports it). */
function pixelLayout(ds: DicomDataset): PixelLayout | null {
  const rows = us(ds, Tag.Rows) ?? 0;
  const columns = us(ds, Tag.Columns) ?? 0;
  const frames = Math.trunc(ds.number(Tag.NumberOfFrames) ?? 1);
  if (rows === 0 || columns === 0 || !Number.isFinite(frames) || frames < 1) return null;
  // Float pixel data has a fixed sample size, whatever Bits Allocated says.
  const floatBits = ds.has(Tag.DoubleFloatPixelData) ? 64 : ds.has(Tag.FloatPixelData) ? 32 : null;
  return {
    rows,
    columns,
    samples: us(ds, Tag.SamplesPerPixel) ?? 1,
    bitsAllocated: floatBits ?? us(ds, Tag.BitsAllocated) ?? 16,
    photometric: ds.string(Tag.PhotometricInterpretation) || 'MONOCHROME2',
    planar: us(ds, T.PlanarConfiguration) ?? 0,
    frames,
  };
}

/** YBR_FULL (PS3.3 C.7.6.3.1.2) to RGB, rounded and clamped to 8 bits. */
function ybrToRgb(y: number, cb: number, cr: number, out: Uint8Array, o: number): void {
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  out[o] = clamp(y + 1.402 * (cr - 128));
  out[o + 1] = clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  out[o + 2] = clamp(y + 1.772 * (cb - 128));
}

export interface TranscodePlan {
  steps: TranscodeStep[];
  /** Transfer syntax of the served dataset. */
  transferSyntaxUid: string;
  /** Dataset elements before the pixel data, then the pixel data element header (output encoding). */
  head: Buffer;
  frames: number;
  /** Bytes of each served frame. */
  frameBytes: number;
  /** One zero byte after the frames (the Pixel Data value length must be even). */
  pad: boolean;
  /** Elements after the pixel data (output encoding). */
  tail: Buffer;
  /** Served frame `f` (0-based), read from `src` (the same bytes the plan was made from). */
  frame(src: ByteSource, f: number): Uint8Array;
  /** Frame 1, decoded while planning (null when planned without `verifyFirstFrame`). */
  firstFrame: Uint8Array | null;
}

export interface PlanOptions {
  /**
   * Decode frame 1 while planning, so that a corrupt stream fails before
   * anything is served (default). Off for a HEAD request: only the length is needed.
   */
  verifyFirstFrame?: boolean;
}

interface Needs {
  steps: TranscodeStep[];
  decompress: boolean;
  unpack: boolean;
  ybr422: boolean;
  palette: boolean;
  narrow: boolean;
  /** Own DCT decoder for the JPEG frames (12-bit, or RGB-labelled 3-component streams). */
  dctJpeg: boolean;
  /** Tiled image: the coded size of each frame whose JPEG is smaller than Rows x Columns (null: full size). */
  edgeTiles: (FrameSize | null)[] | null;
}

interface FrameSize {
  width: number;
  height: number;
}

/** Bytes read from the start of each frame to find its SOF marker (headers are small; the whole frame is read when they are not). */
const SOF_SCAN_BYTES = 4096;

/**
 * For a tiled image with JPEG-family frames: the coded size of every frame
 * whose SOF is smaller than Rows x Columns (null entries: full-size frames), or
 * null when all frames are full size. Larger frames are left to the decoder's
 * size check.
 */
function smallerJpegTiles(src: ByteSource, pixel: NonNullable<DicomFileInfo['pixelData']>, layout: PixelLayout): (FrameSize | null)[] | null {
  const groups = frameFragments(src, pixel.offset, pixel.length, layout.frames);
  let any = false;
  const sizes = groups.map((group): FrameSize | null => {
    const first = group[0];
    if (!first) return null;
    let sof = sofHeader(bytesAt(src, first.offset, Math.min(first.length, SOF_SCAN_BYTES)));
    if (!sof && first.length > SOF_SCAN_BYTES) sof = sofHeader(Buffer.concat(group.map((g) => bytesAt(src, g.offset, g.length))));
    if (!sof || sof.columns > layout.columns || sof.rows > layout.rows || (sof.columns === layout.columns && sof.rows === layout.rows)) return null;
    any = true;
    return { width: sof.columns, height: sof.rows };
  });
  return any ? sizes : null;
}

/** Bytes read from the start of frame 1 for its JPEG header (APPn segments such as ICC profiles can be tens of KiB). */
const JPEG_HEADER_SCAN_BYTES = 64 * 1024;

/**
 * The JPEG header of frame 1: from its first bytes, else (`whole`) from the
 * whole frame. Null when it is not a stream the DCT decoder reads; 'unknown'
 * (not `whole`) when its header does not fit the first bytes.
 */
function firstFrameJpegInfo(src: ByteSource, pixel: NonNullable<DicomFileInfo['pixelData']>, frames: number, whole: boolean): JpegStreamInfo | null | 'unknown' {
  const group = frameFragments(src, pixel.offset, pixel.length, frames)[0] ?? [];
  const first = group[0];
  if (!first) return null;
  try {
    return jpegStreamInfo(bytesAt(src, first.offset, Math.min(first.length, JPEG_HEADER_SCAN_BYTES)));
  } catch {
    if (group.length === 1 && first.length <= JPEG_HEADER_SCAN_BYTES) return null; // that was the whole frame
    if (!whole) return 'unknown';
  }
  try {
    return jpegStreamInfo(Buffer.concat(group.map((f) => bytesAt(src, f.offset, f.length))));
  } catch {
    return null; // not something this decoder reads: leave it to the loader
  }
}

/**
 * How much of the pixel data assess() may read: 'full' (planning, off the main
 * thread) or 'header' (bounded reads: frame 1's first bytes, no tile scan).
 */
type AssessScope = 'full' | 'header';

function assess(info: DicomFileInfo, layout: PixelLayout, scope: AssessScope = 'full'): Needs & { undecided: boolean } {
  /** 'header' scope: a question only a full read answers (a long JPEG header, tile sizes). */
  let undecided = false;
  const ds = info.dataset;
  const pixel = info.pixelData!;
  const declared = encodingOf(info.transferSyntaxUid);
  const actual = ds.encoding;
  const steps: TranscodeStep[] = [];
  const bigEndian = !actual.littleEndian;
  const mismatch = declared.explicitVr !== actual.explicitVr || declared.littleEndian !== actual.littleEndian;
  if (bigEndian) steps.push('byte-swapped');
  else if (mismatch) steps.push('encoding-declared');
  let decompress = false;
  let dctJpeg = false;
  if (pixel.encapsulated) {
    if (mismatch) decompress = true;
    if (info.transferSyntaxUid === RLE_LOSSLESS && (layout.bitsAllocated === 32 || (layout.bitsAllocated === 16 && layout.samples === 3))) decompress = true;
    if (CODEC_OF[info.transferSyntaxUid] === 'jpeg') {
      let jpeg: JpegStreamInfo | null = null;
      try {
        const found = firstFrameJpegInfo(ds.source, pixel, layout.frames, scope === 'full');
        if (found === 'unknown') undecided = true;
        else jpeg = found;
      } catch {
        jpeg = null; // fragments not readable: left to the loader, which reports it
      }
      if (jpeg && jpeg.uniformSampling) {
        if (jpeg.precision > 8) dctJpeg = true;
        if (jpeg.components === 3 && layout.photometric === 'RGB' && !jpeg.codedAsRgb) dctJpeg = true;
      }
      if (dctJpeg) decompress = true;
    }
  }
  let edgeTiles: (FrameSize | null)[] | null = null;
  const tiled = ds.has(T.TotalPixelMatrixColumns) && ds.has(T.TotalPixelMatrixRows);
  const jpegFamily = CODEC_OF[info.transferSyntaxUid];
  if (pixel.encapsulated && tiled && (jpegFamily === 'jpeg' || jpegFamily === 'jpeg-lossless' || jpegFamily === 'jpeg-ls')) {
    if (scope === 'header') undecided = true;
    else {
      try {
        edgeTiles = smallerJpegTiles(ds.source, pixel, layout);
      } catch {
        edgeTiles = null; // fragments not readable: left to the loader, which reports it
      }
    }
    if (edgeTiles) decompress = true;
  }
  if (decompress) steps.push('decompressed');
  if (edgeTiles) steps.push('tiles-padded');
  const nonAligned = layout.bitsAllocated === 1 && layout.frames > 1 && (layout.rows * layout.columns * layout.samples) % 8 !== 0;
  const ybr422 = !pixel.encapsulated && layout.photometric === 'YBR_FULL_422' && layout.samples === 3 && layout.bitsAllocated === 8;
  if (ybr422) steps.push('ybr-to-rgb');
  const palette = layout.photometric === 'PALETTE COLOR' && ds.has(T.RedSegmented) && ds.has(T.RedSegmented + 1) && ds.has(T.RedSegmented + 2);
  if (palette) steps.push('palette-expanded');
  const narrow = ds.has(Tag.DoubleFloatPixelData);
  if (narrow) steps.push('float-narrowed');
  const unpack = layout.bitsAllocated === 1 && !pixel.encapsulated && (nonAligned || steps.length > 0);
  if (unpack) steps.push('bits-unpacked');
  return { steps, decompress, unpack, ybr422, palette, narrow, dctJpeg, edgeTiles, undecided };
}

/**
 * Whether planDisplayTranscode may find work for `info`, from its header and
 * bounded reads only (cheap enough for the main thread). False: it certainly
 * returns null and the file is served without transcoding.
 */
export function mayNeedDisplayTranscode(info: DicomFileInfo): boolean {
  if (!info.pixelData) return false;
  const layout = pixelLayout(info.dataset);
  if (!layout) return false;
  const needs = assess(info, layout, 'header');
  return needs.steps.length > 0 || needs.undecided;
}

/**
 * The transcoding `info` (read from `datasetStart` in its source) needs for
 * display, or null when the loader reads it as stored. Loads the codec a
 * decompression needs and (unless `verifyFirstFrame` is false) decodes the
 * first frame, so a broken file fails here with a clear error rather than
 * halfway through the stream.
 */
export async function planDisplayTranscode(info: DicomFileInfo, datasetStart: number, options: PlanOptions = {}): Promise<TranscodePlan | null> {
  if (!info.pixelData) return null;
  const layout = pixelLayout(info.dataset);
  if (!layout) return null;
  const needs = assess(info, layout);
  if (needs.steps.length === 0) return null;
  try {
    return await buildPlan(info, datasetStart, layout, needs, options.verifyFirstFrame ?? true);
  } catch (err) {
    if (err instanceof DisplayTranscodeError) throw err;
    if (err instanceof PixelDecodeError || err instanceof JpegDecodeError || err instanceof RangeError) {
      throw new DisplayTranscodeError(`cannot transcode for display (${needs.steps.join(', ')}): ${err.message}`);
    }
    throw err;
  }
}

async function buildPlan(info: DicomFileInfo, datasetStart: number, layout: PixelLayout, needs: Needs, verifyFirstFrame: boolean): Promise<TranscodePlan> {
  const ds = info.dataset;
  const src = ds.source;
  const pixel = info.pixelData!;
  const enc: Encoding = ds.encoding;
  const explicitOut = enc.explicitVr;
  const { rows, columns, samples, frames } = layout;
  const pixels = rows * columns;
  const pixelElement = ds.has(Tag.DoubleFloatPixelData) ? ds.elements.get(Tag.DoubleFloatPixelData)! : ds.has(Tag.FloatPixelData) ? ds.elements.get(Tag.FloatPixelData)! : ds.elements.get(Tag.PixelData)!;
  const pixelTag = pixelElement.tag;

  // --- served pixel layout
  let outBitsAllocated = layout.bitsAllocated;
  let outPhotometric = layout.photometric;
  let outPlanar = layout.planar;
  if (needs.unpack) outBitsAllocated = 8;
  if (needs.narrow) outBitsAllocated = 32;
  if (needs.ybr422) {
    outPhotometric = 'RGB';
    outPlanar = 0;
  }
  if (needs.decompress) {
    outPlanar = 0;
    // Lossy 8-bit JPEG and J2K YBR_ICT/RCT come out of the WASM codecs as RGB; YBR_FULL from lossless JPEG,
    // JPEG-LS or J2K without a transform stays YCbCr, labelled so, and the loader converts it. The DCT decoder
    // here is only used where no transform applies.
    const bitsStored = us(ds, T.BitsStored) ?? layout.bitsAllocated;
    if (samples === 3 && !needs.dctJpeg && codecReturnsRgb(info.transferSyntaxUid, layout.photometric, bitsStored)) outPhotometric = 'RGB';
    // Decoded YBR_FULL_422 is full resolution: three samples a pixel, not the native 4:2:2 pairs that label means.
    else if (samples === 3 && layout.photometric === 'YBR_FULL_422') outPhotometric = 'YBR_FULL';
  }
  const outBytesPerSample = outBitsAllocated / 8;
  const frameBytes = pixels * samples * outBytesPerSample;
  if (!Number.isInteger(outBytesPerSample) || outBytesPerSample < 1) throw new DisplayTranscodeError(`Bits Allocated ${layout.bitsAllocated} cannot be served natively`);
  if (frameBytes > MAX_TRANSCODED_FRAME_BYTES) throw new DisplayTranscodeError(`a ${rows}x${columns}x${samples} frame (${frameBytes} bytes) is too large to transcode`);
  if (frameBytes * frames > MAX_PIXEL_DATA_BYTES) throw new DisplayTranscodeError(`${frames} frames of ${frameBytes} bytes exceed the largest Pixel Data DICOM can hold`);

  // --- frame producer
  const frame = needs.decompress ? await decompressor(info, layout, needs) : nativeReader(info, layout, needs, pixelElement.vr);

  // --- header elements
  const elements: OutElement[] = [];
  const tail: OutElement[] = [];
  const le = enc.littleEndian;
  let p = datasetStart;
  while (p < src.size) {
    const h = readHeader(src, p, enc);
    if (h.tag === pixelTag || h.tag === Tag.PixelData || h.tag === Tag.FloatPixelData || h.tag === Tag.DoubleFloatPixelData) {
      p = h.tag === pixelTag ? pixel.offset + pixel.length : elementEnd(src, h, enc, 0);
      if (h.tag !== pixelTag) continue; // a second pixel data element: not served
      break;
    }
    if (h.tag === Tag.ItemDelimitation || h.tag === Tag.SequenceDelimitation) {
      p = h.valueOffset; // stray delimiter at top level: dropped, as the reader tolerates it
      continue;
    }
    const end = elementEnd(src, h, enc, 0);
    if ((h.tag & 0xffff) !== 0) elements.push({ tag: h.tag, bytes: le ? bytesAt(src, h.start, end - h.start) : elementToLittleEndian(src, h, 0) });
    p = end;
  }
  // Elements after the pixel data (signatures, padding): kept when they parse, dropped otherwise.
  try {
    while (p < src.size) {
      const h = readHeader(src, p, enc);
      const end = elementEnd(src, h, enc, 0);
      if ((h.tag & 0xffff) !== 0 && h.tag >>> 16 !== 0xfffe) tail.push({ tag: h.tag, bytes: le ? bytesAt(src, h.start, end - h.start) : elementToLittleEndian(src, h, 0) });
      p = end;
    }
  } catch {
    tail.length = 0;
  }

  const element = (tag: number, vr: string, value: Buffer): OutElement => ({ tag, bytes: Buffer.concat([leHeader(tag, vr, value.length, explicitOut), value]) });
  const usValue = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  const text = (s: string): Buffer => Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1');
  const replace = new Map<number, OutElement | null>();
  if (outPhotometric !== layout.photometric) replace.set(Tag.PhotometricInterpretation, element(Tag.PhotometricInterpretation, 'CS', text(outPhotometric)));
  if (samples > 1 && (outPlanar !== layout.planar || !ds.has(T.PlanarConfiguration))) replace.set(T.PlanarConfiguration, element(T.PlanarConfiguration, 'US', usValue(outPlanar)));
  if (outBitsAllocated !== layout.bitsAllocated) replace.set(Tag.BitsAllocated, element(Tag.BitsAllocated, 'US', usValue(outBitsAllocated)));
  if (needs.palette) {
    for (let c = 0; c < 3; c++) {
      const descriptorEntries = us(ds, T.RedDescriptor + c, 0);
      const bits = us(ds, T.RedDescriptor + c, 2) ?? 16;
      if (descriptorEntries === null) throw new DisplayTranscodeError(`palette colour LUT descriptor ${tagString(T.RedDescriptor + c)} is missing`);
      const entries = descriptorEntries === 0 ? 65536 : descriptorEntries;
      const seg = ds.elements.get(T.RedSegmented + c)!;
      const raw = swapped(bytesAt(src, seg.offset, seg.length - (seg.length % 2)), le ? 1 : 2);
      const words = new Uint16Array(raw.length / 2);
      for (let i = 0; i < words.length; i++) words[i] = raw.readUInt16LE(i * 2);
      let lut: Uint16Array;
      try {
        lut = expandSegmentedLut(words, entries);
      } catch (err) {
        if (err instanceof PaletteLutError) throw new DisplayTranscodeError(`segmented palette LUT: ${err.message}`);
        throw err;
      }
      // Always one 16-bit word per entry: the loader tells 8- from 16-bit entries by the data length alone
      // (length === entries means 8-bit), so an odd number of 8-bit entries, padded to an even length, would be
      // read as 16-bit words. 8-bit values in words stay as they are (it shifts only entries above 255).
      const data = Buffer.alloc(entries * 2);
      for (let i = 0; i < entries; i++) data.writeUInt16LE(bits <= 8 ? lut[i]! & 0xff : lut[i]!, i * 2);
      replace.set(T.RedSegmented + c, null);
      replace.set(T.RedLut + c, element(T.RedLut + c, 'OW', data));
    }
  }
  const merged = new Map<number, OutElement>();
  for (const e of elements) if (!merged.has(e.tag)) merged.set(e.tag, e);
  for (const [tag, e] of replace) {
    if (e) merged.set(tag, e);
    else merged.delete(tag);
  }
  const sorted = [...merged.values()].sort((a, b) => a.tag - b.tag);

  const pixelLength = frameBytes * frames;
  const pad = pixelLength % 2 === 1;
  const outPixelTag = needs.narrow ? Tag.FloatPixelData : pixelTag;
  const outPixelVr = outPixelTag === Tag.FloatPixelData ? 'OF' : outBitsAllocated > 8 ? 'OW' : 'OB';
  const pixelHeader = leHeader(outPixelTag, outPixelVr, pixelLength + (pad ? 1 : 0), explicitOut);
  const outTs = explicitOut ? TS.ExplicitVrLittleEndian : TS.ImplicitVrLittleEndian;

  const checked = (out: Uint8Array, f: number): Uint8Array => {
    if (out.length !== frameBytes) throw new DisplayTranscodeError(`frame ${f + 1} came out at ${out.length} bytes, ${frameBytes} expected`);
    return out;
  };
  // Decode the first frame now: a corrupt stream fails before anything is served.
  const firstFrame = verifyFirstFrame ? checked(frame(src, 0), 0) : null;
  return {
    steps: needs.steps,
    transferSyntaxUid: outTs,
    head: Buffer.concat([...sorted.filter((e) => e.tag < outPixelTag).map((e) => e.bytes), pixelHeader]),
    frames,
    frameBytes,
    pad,
    tail: Buffer.concat([...sorted.filter((e) => e.tag > outPixelTag).map((e) => e.bytes), ...tail.map((e) => e.bytes)]),
    frame: (s, f) => checked(frame(s, f), f),
    firstFrame,
  };
}

type FrameProducer = (src: ByteSource, f: number) => Uint8Array;

/** Native pixel data: byte order, bit unpacking, YBR 4:2:2 and float narrowing. */
function nativeReader(info: DicomFileInfo, layout: PixelLayout, needs: Needs, pixelVr: string): FrameProducer {
  const pixel = info.pixelData!;
  const { rows, columns, samples, bitsAllocated, frames } = layout;
  const pixels = rows * columns;
  const bigEndian = !info.dataset.encoding.littleEndian;
  // Bits per stored frame; YBR_FULL_422 stores two samples per pixel.
  const frameBits = (needs.ybr422 ? pixels * 2 : pixels * samples) * bitsAllocated;
  if (Math.ceil((frameBits * frames) / 8) > pixel.length) {
    throw new DisplayTranscodeError(`Pixel Data holds ${pixel.length} bytes, ${Math.ceil((frameBits * frames) / 8)} needed for ${frames} frame(s)`);
  }
  const word = !bigEndian ? 1 : bitsAllocated >= 16 ? bitsAllocated / 8 : pixelVr === 'OW' ? 2 : 1;

  /** The stored bytes covering [startBit, startBit + frameBits), in little-endian order. */
  const storedBytes = (src: ByteSource, f: number): { bytes: Buffer; bitShift: number } => {
    const startBit = f * frameBits;
    const first = Math.floor(startBit / 8);
    const last = Math.ceil((startBit + frameBits) / 8);
    const from = Math.floor(first / word) * word;
    const to = Math.min(pixel.length, Math.ceil(last / word) * word);
    let bytes = bytesAt(src, pixel.offset + from, to - from);
    if (word > 1) {
      if (bytes.length % word) bytes = Buffer.concat([bytes, Buffer.alloc(word - (bytes.length % word))]);
      bytes = swapped(bytes, word);
    }
    return { bytes: bytes.subarray(first - from, last - from), bitShift: startBit % 8 };
  };

  return (src, f) => {
    const { bytes, bitShift } = storedBytes(src, f);
    if (needs.unpack) {
      const n = pixels * samples;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const bit = bitShift + i;
        out[i] = (bytes[bit >> 3]! >> (bit & 7)) & 1;
      }
      return out;
    }
    if (needs.ybr422) {
      const out = new Uint8Array(pixels * 3);
      for (let pair = 0; pair < Math.floor(pixels / 2); pair++) {
        const i = pair * 4;
        const cb = bytes[i + 2]!;
        const cr = bytes[i + 3]!;
        ybrToRgb(bytes[i]!, cb, cr, out, pair * 6);
        ybrToRgb(bytes[i + 1]!, cb, cr, out, pair * 6 + 3);
      }
      return out;
    }
    if (needs.narrow) {
      const n = pixels * samples;
      const out = Buffer.alloc(n * 4);
      for (let i = 0; i < n; i++) out.writeFloatLE(bytes.readDoubleLE(i * 8), i * 4);
      return out;
    }
    return bytes;
  };
}

/** Encapsulated pixel data decoded to native little-endian, pixel-interleaved samples. */
async function decompressor(info: DicomFileInfo, layout: PixelLayout, needs: Needs): Promise<FrameProducer> {
  const pixel = info.pixelData!;
  const { rows, columns, samples, bitsAllocated, frames } = layout;
  if (![8, 16, 32].includes(bitsAllocated)) throw new DisplayTranscodeError(`Bits Allocated ${bitsAllocated} in encapsulated pixel data`);
  const groups = frameFragments(info.dataset.source, pixel.offset, pixel.length, frames);
  const encoded = (src: ByteSource, f: number): Uint8Array => Buffer.concat(groups[f]!.map((g) => bytesAt(src, g.offset, g.length)));
  const signed = (us(info.dataset, Tag.PixelRepresentation) ?? 0) === 1;
  /** The coded size of frame `f` (an edge tile may be smaller than the header's Rows x Columns). */
  const codedSize = (f: number): FrameSize => needs.edgeTiles?.[f] ?? { width: columns, height: rows };
  /** A decoded edge tile, `bytesPerPixel` bytes per pixel, placed at the top-left of a zero Rows x Columns frame. */
  const padded = (decoded: Uint8Array, size: FrameSize, bytesPerPixel: number): Uint8Array => {
    if (size.width === columns && size.height === rows) return decoded;
    const out = new Uint8Array(rows * columns * bytesPerPixel);
    const rowBytes = size.width * bytesPerPixel;
    for (let y = 0; y < size.height; y++) out.set(decoded.subarray(y * rowBytes, (y + 1) * rowBytes), y * columns * bytesPerPixel);
    return out;
  };
  if (info.transferSyntaxUid === RLE_LOSSLESS) {
    return (src, f) => decodeRleFrame(encoded(src, f), rows, columns, bitsAllocated / 8, samples);
  }
  if (needs.dctJpeg) {
    return (src, f) => {
      const { info: jpeg, samples: decoded } = decodeJpegDct(encoded(src, f));
      const size = codedSize(f);
      if (jpeg.width !== size.width || jpeg.height !== size.height || jpeg.components !== samples) {
        throw new DisplayTranscodeError(`JPEG frame ${f + 1} is ${jpeg.width}x${jpeg.height}x${jpeg.components}, the header says ${columns}x${rows}x${samples}`);
      }
      if (bitsAllocated === 8) {
        if (decoded instanceof Uint16Array) throw new DisplayTranscodeError(`${jpeg.precision}-bit JPEG in 8-bit Bits Allocated`);
        return padded(decoded, size, samples);
      }
      const out = Buffer.alloc(decoded.length * (bitsAllocated / 8));
      for (let i = 0; i < decoded.length; i++) {
        if (bitsAllocated === 16) out.writeUInt16LE(decoded[i]!, i * 2);
        else out.writeUInt32LE(decoded[i]!, i * 4);
      }
      return padded(out, size, samples * (bitsAllocated / 8));
    };
  }
  const pending = codecFor(info.transferSyntaxUid);
  if (!pending) throw new DisplayTranscodeError(`no decoder for transfer syntax ${info.transferSyntaxUid}`);
  let codec: FrameDecoder;
  try {
    codec = await pending;
  } catch (err) {
    throw new DisplayTranscodeError(`the decoder for ${info.transferSyntaxUid} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (bitsAllocated > 16) throw new DisplayTranscodeError(`${bitsAllocated}-bit samples in ${info.transferSyntaxUid}`);
  return (src, f) => {
    try {
      const size = codedSize(f);
      const decoded = codec(encoded(src, f), { rows: size.height, columns: size.width, samples, bitsAllocated, signed });
      return padded(decoded, size, samples * (bitsAllocated / 8));
    } catch (err) {
      throw new DisplayTranscodeError(`frame ${f + 1} could not be decoded (${info.transferSyntaxUid}): ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
