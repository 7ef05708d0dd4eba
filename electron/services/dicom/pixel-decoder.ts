/**
 * PixelDecoder: turns an image instance's Pixel Data into stored values
 * (float32, one plane per frame) plus the attributes the AI pipeline needs.
 * Native little/big endian 8/16/32-bit signed/unsigned (Bits Stored honoured),
 * Deflated Explicit VR Little Endian (inflated by the reader) and RLE Lossless
 * are decoded here; JPEG, JPEG-LS, JPEG 2000 and HTJ2K through the WASM codecs
 * of pixel-codecs.ts (decodeImageFileAsync); other syntaxes are refused with a reason.
 */
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { BufferByteSource, type ByteSource, FileByteSource } from './byte-source';
import { type DicomFileInfo, readDicom, Tag } from './dicom-dataset-reader';
import { applyPaletteLuminance, PaletteLutError, type PaletteLuminance, paletteLuminance } from './palette-color-lut';
import { codecFor, codecReturnsRgb, type FrameDecoder, UnsupportedEncodingError } from './pixel-codecs';
import { ultrasoundImageRegions, type UltrasoundRegion } from './ultrasound-regions';
import { imageVoi, type VoiTransform } from './voi-lut';

export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';

const TAG = {
  BitsStored: 0x00280101,
  HighBit: 0x00280102,
  PlanarConfiguration: 0x00280006,
  RescaleIntercept: 0x00281052,
  RescaleSlope: 0x00281053,
  PatientAge: 0x00101010,
  SpacingBetweenSlices: 0x00180088,
} as const;

export class PixelDecodeError extends Error {
  constructor(
    readonly code: 'NO_PIXEL_DATA' | 'UNSUPPORTED_TRANSFER_SYNTAX' | 'UNSUPPORTED_PIXEL_FORMAT' | 'CORRUPT_PIXEL_DATA',
    message: string,
  ) {
    super(message);
    this.name = 'PixelDecodeError';
  }
}

export interface DecodedImage {
  sopInstanceUid: string;
  modality: string;
  bodyPart: string;
  viewPosition: string;
  instanceNumber: number | null;
  rows: number;
  columns: number;
  frames: number;
  /** Stored values, frame-major then row-major; colour (RGB, YBR_FULL, PALETTE COLOR) is reduced to luminance. */
  data: Float32Array;
  rescaleSlope: number;
  rescaleIntercept: number;
  photometric: string;
  /** [row spacing, column spacing] in mm, or null. */
  pixelSpacing: [number, number] | null;
  imagePosition: [number, number, number] | null;
  /** Row direction cosines then column direction cosines. */
  imageOrientation: [number, number, number, number, number, number] | null;
  sliceThickness: number | null;
  patientAgeYears: number | null;
  /** The B-mode views of an ultrasound screen capture (Sequence of Ultrasound Regions), top to bottom, left to right; empty: none. */
  ultrasoundRegions: UltrasoundRegion[];
  /** The image's own VOI LUT transformation (window or VOI LUT table) of grey images; null for colour or when it has none. */
  voi: VoiTransform | null;
}

function tuple<N extends number>(values: number[] | null, n: N): number[] | null {
  return values && values.length >= n ? values.slice(0, n) : null;
}

/** "045Y" -> 45; months/weeks/days -> fractional years. */
export function parseAge(s: string): number | null {
  const m = /^(\d{1,3})([DWMY])$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === 'Y' ? n : m[2] === 'M' ? n / 12 : m[2] === 'W' ? n / 52.18 : n / 365.25;
}

interface Fragment {
  /** Offset of the item's value in the file. */
  offset: number;
  length: number;
  /** Offset of the item tag relative to the first fragment's item tag (what the Basic Offset Table counts). */
  itemOffset: number;
}

function fragments(src: ByteSource, offset: number, length: number): { bot: number[]; frags: Fragment[] } {
  const frags: Fragment[] = [];
  let bot: number[] = [];
  let pos = offset;
  const end = offset + length;
  let first = true;
  let firstItem = -1;
  while (pos + 8 <= end) {
    const { buf, start } = src.window(pos, 8);
    const group = buf.readUInt16LE(start);
    const element = buf.readUInt16LE(start + 2);
    const len = buf.readUInt32LE(start + 4);
    if (group === 0xfffe && element === 0xe0dd) break;
    if (group !== 0xfffe || element !== 0xe000) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', 'encapsulated pixel data has an item that is not a fragment');
    if (len === 0xffffffff || pos + 8 + len > end) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', 'an encapsulated pixel data fragment runs past the end of the data');
    if (first) {
      // The first item is the Basic Offset Table (may be empty).
      if (len >= 4) {
        const w = src.window(pos + 8, len);
        bot = Array.from({ length: Math.floor(len / 4) }, (_, i) => w.buf.readUInt32LE(w.start + i * 4));
      }
    } else {
      if (firstItem < 0) firstItem = pos;
      frags.push({ offset: pos + 8, length: len, itemOffset: pos - firstItem });
    }
    first = false;
    pos += 8 + len;
  }
  return { bot, frags };
}

/** Starts a compressed frame: JPEG/JPEG-LS SOI or a JPEG 2000 / HTJ2K codestream SOC. */
function startsFrame(src: ByteSource, f: Fragment): boolean {
  if (f.length < 2) return false;
  const { buf, start } = src.window(f.offset, 2);
  return buf[start] === 0xff && (buf[start + 1] === 0xd8 || buf[start + 1] === 0x4f);
}

/**
 * Groups the fragments into frames (PS3.5 A.4): by the Basic Offset Table when
 * it has one entry per frame, all fragments for a single frame, one fragment per
 * frame when the counts match, else by scanning for frame start markers.
 */
export function frameFragments(src: ByteSource, offset: number, length: number, frames: number): Fragment[][] {
  const { bot, frags } = fragments(src, offset, length);
  if (frags.length === 0) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', 'encapsulated pixel data has no fragments');
  if (frames === 1) return [frags];
  if (bot.length === frames && bot[0] === 0 && bot.every((v, i) => i === 0 || v > bot[i - 1]!)) {
    return bot.map((startAt, i) => frags.filter((f) => f.itemOffset >= startAt && (i + 1 >= bot.length || f.itemOffset < bot[i + 1]!)));
  }
  if (frags.length === frames) return frags.map((f) => [f]);
  const groups: Fragment[][] = [];
  for (const f of frags) {
    if (groups.length === 0 || startsFrame(src, f)) groups.push([f]);
    else groups[groups.length - 1]!.push(f);
  }
  if (groups.length !== frames) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `encapsulated pixel data holds ${groups.length} frames, Number of Frames says ${frames}`);
  return groups;
}

function encodedFrame(src: ByteSource, group: Fragment[]): Uint8Array {
  const total = group.reduce((n, f) => n + f.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const f of group) {
    const { buf, start } = src.window(f.offset, f.length);
    out.set(buf.subarray(start, start + f.length), o);
    o += f.length;
  }
  return out;
}

/** DICOM RLE Lossless (PS3.5 Annex G): one fragment-set per frame, one PackBits segment per byte plane. */
export function decodeRleFrame(bytes: Uint8Array, rows: number, columns: number, bytesPerSample: number, samples: number): Uint8Array {
  const pixels = rows * columns;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPerSample * samples) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `RLE frame has ${segments} segments, expected ${bytesPerSample * samples}`);
  // Output is little-endian interleaved samples: sample s, byte b (0 = least significant).
  const out = new Uint8Array(pixels * bytesPerSample * samples);
  for (let seg = 0; seg < segments; seg++) {
    const start = view.getUint32(4 + seg * 4, true);
    const end = seg + 1 < segments ? view.getUint32(8 + seg * 4, true) : bytes.length;
    const sample = Math.floor(seg / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (seg % bytesPerSample); // segments run most significant byte first
    const stride = bytesPerSample * samples;
    let o = sample * bytesPerSample + byteInSample;
    let written = 0;
    let p = start;
    while (p < end && written < pixels) {
      const n = (bytes[p++]! << 24) >> 24;
      if (n >= 0) {
        for (let i = 0; i <= n && written < pixels; i++, written++, o += stride) out[o] = bytes[p++]!;
      } else if (n !== -128) {
        const v = bytes[p++]!;
        for (let i = 0; i < 1 - n && written < pixels; i++, written++, o += stride) out[o] = v;
      }
    }
    if (written < pixels) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `RLE segment ${seg} ends after ${written} of ${pixels} pixels`);
  }
  return out;
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Fast path for one grey-scale plane: a typed-array view over the bytes (copied
 * once when unaligned) and one tight loop, instead of a DataView read per pixel.
 * Returns false when the layout needs the general path.
 */
function storedValues(bytes: Uint8Array, littleEndian: boolean, bytesPerSample: number, bitsStored: number, signed: boolean, out: Float32Array): boolean {
  const n = out.length;
  if (bytesPerSample === 1) {
    if (bitsStored === 8) {
      if (signed) out.set(new Int8Array(bytes.buffer, bytes.byteOffset, n));
      else out.set(bytes.subarray(0, n));
      return true;
    }
    return false;
  }
  if (bytesPerSample !== 2 || littleEndian !== hostLittleEndian) return false;
  let words: Uint16Array;
  if (bytes.byteOffset % 2 === 0) words = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  else words = new Uint16Array(bytes.slice(0, n * 2).buffer, 0, n);
  if (bitsStored >= 16) {
    out.set(signed ? new Int16Array(words.buffer, words.byteOffset, n) : words);
    return true;
  }
  if (signed) {
    const shift = 32 - bitsStored;
    for (let i = 0; i < n; i++) out[i] = (words[i]! << shift) >> shift;
  } else {
    const mask = (1 << bitsStored) - 1;
    for (let i = 0; i < n; i++) out[i] = words[i]! & mask;
  }
  return true;
}

/** An image's attributes (`frames`: how many the file holds) and a decoder of its frames one at a time. */
export interface ImageFrames {
  image: Omit<DecodedImage, 'data'>;
  /** Frame `f`'s stored values (row-major; colour reduced to luminance, palette applied), into `into` when it fits. */
  frame(f: number, into?: Float32Array): Float32Array;
}

/** `into`: where to write the stored values when it has exactly frames × rows × columns elements (e.g. a slice of a volume). */
export function decodeImage(info: DicomFileInfo, codec?: FrameDecoder, into?: Float32Array): DecodedImage {
  const reader = imageFrames(info, codec);
  const { frames, rows, columns } = reader.image;
  const framePixels = rows * columns;
  const data = into?.length === frames * framePixels ? into : new Float32Array(frames * framePixels);
  for (let f = 0; f < frames; f++) reader.frame(f, data.subarray(f * framePixels, (f + 1) * framePixels));
  return { ...reader.image, data };
}

/** Reads what decoding needs of an image and checks it can be decoded; the frames decode one by one on request. */
function imageFrames(info: DicomFileInfo, codec?: FrameDecoder): ImageFrames {
  const ds = info.dataset;
  const src = ds.source;
  if (!info.pixelData) throw new PixelDecodeError('NO_PIXEL_DATA', 'the instance has no Pixel Data');
  const encapsulated = info.pixelData.encapsulated;
  const rows = ds.unsigned(Tag.Rows) ?? 0;
  const columns = ds.unsigned(Tag.Columns) ?? 0;
  const frames = Math.max(1, Math.trunc(ds.number(Tag.NumberOfFrames) ?? 1));
  const samples = ds.unsigned(Tag.SamplesPerPixel) ?? 1;
  const bitsAllocated = ds.unsigned(Tag.BitsAllocated) ?? 16;
  const bitsStored = ds.unsigned(TAG.BitsStored) ?? bitsAllocated;
  const signed = (ds.unsigned(Tag.PixelRepresentation) ?? 0) === 1;
  const planar = ds.unsigned(TAG.PlanarConfiguration) ?? 0;
  const photometric = ds.string(Tag.PhotometricInterpretation) || 'MONOCHROME2';
  if (rows <= 0 || columns <= 0) throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', 'Rows/Columns are missing');
  if (![8, 16, 32].includes(bitsAllocated)) throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', `Bits Allocated ${bitsAllocated} is not supported by the AI pipeline`);
  if (samples !== 1 && samples !== 3) throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', `Samples per Pixel ${samples} (${photometric}) is not supported by the AI pipeline`);
  // Compressed colour some codecs hand back as RGB (see codecReturnsRgb); the others keep YBR_FULL as Y, Cb, Cr.
  const decodedRgb = samples === 3 && !!codec && codecReturnsRgb(info.transferSyntaxUid, photometric, bitsStored);
  // YBR_FULL as stored (native, RLE, or a codec that keeps it), and native YBR_FULL_422 (8-bit), keep Y alone:
  // Y = .2990R + .5870G + .1140B is the luminance (PS3.3 C.7.6.3.1.2).
  const subsampled422 = samples === 3 && !codec && !info.pixelData.encapsulated && photometric === 'YBR_FULL_422';
  if (subsampled422 && (bitsAllocated !== 8 || columns % 2 !== 0)) {
    throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', `native YBR_FULL_422 with Bits Allocated ${bitsAllocated} and ${columns} columns is not supported (8 bits and an even number of columns expected)`);
  }
  const lumaY = samples === 3 && !decodedRgb && (photometric === 'YBR_FULL' || subsampled422);
  if (samples === 3 && photometric !== 'RGB' && !decodedRgb && !lumaY) {
    throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', `colour photometric interpretation ${photometric} (${info.pixelData.encapsulated ? `transfer syntax ${info.transferSyntaxUid}` : 'uncompressed'}) is not supported by the AI pipeline`);
  }
  let palette: PaletteLuminance | null = null;
  if (samples === 1 && photometric === 'PALETTE COLOR') {
    try {
      palette = paletteLuminance(ds, signed);
    } catch (err) {
      if (err instanceof PaletteLutError) throw new PixelDecodeError('UNSUPPORTED_PIXEL_FORMAT', err.message);
      throw err;
    }
  }
  const bytesPerSample = bitsAllocated / 8;
  const framePixels = rows * columns;
  const frameBytes = framePixels * samples * bytesPerSample;
  // YBR_FULL_422 stores each pair of pixels as Y1 Y2 Cb Cr: two bytes a pixel, not three.
  const storedFrameBytes = subsampled422 ? framePixels * 2 : frameBytes;

  // Raw frame bytes in the dataset's byte order (RLE output is little endian).
  const frameBytesOf: (f: number) => { bytes: Uint8Array; littleEndian: boolean } = (() => {
    if (!info.pixelData.encapsulated) {
      if (info.pixelData.length < storedFrameBytes * frames) {
        throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `Pixel Data holds ${info.pixelData.length} bytes, ${storedFrameBytes * frames} needed`);
      }
      // Explicit VR Big Endian stores 8-bit pixels as OW in swapped byte pairs (PS3.5 8.1.1; dcmtk and
      // gdcm agree, and display-transcode undoes the same): un-swap the whole value once.
      const pixelElement = ds.elements.get(Tag.PixelData);
      if (!ds.encoding.littleEndian && bytesPerSample === 1 && pixelElement?.vr === 'OW') {
        const { buf, start } = src.window(info.pixelData.offset, info.pixelData.length - (info.pixelData.length % 2));
        const unswapped = Buffer.from(buf.subarray(start, start + info.pixelData.length - (info.pixelData.length % 2))).swap16();
        return (f: number) => ({ bytes: unswapped.subarray(f * storedFrameBytes, (f + 1) * storedFrameBytes), littleEndian: false });
      }
      return (f: number) => {
        const { buf, start } = src.window(info.pixelData!.offset + f * storedFrameBytes, storedFrameBytes);
        return { bytes: buf.subarray(start, start + storedFrameBytes), littleEndian: ds.encoding.littleEndian };
      };
    }
    const rle = info.transferSyntaxUid === RLE_LOSSLESS;
    if (!rle && !codec) {
      throw new PixelDecodeError('UNSUPPORTED_TRANSFER_SYNTAX', `transfer syntax ${info.transferSyntaxUid} is not supported by the AI pipeline yet`);
    }
    const groups = frameFragments(src, info.pixelData.offset, info.pixelData.length, frames);
    return (f: number) => {
      const encoded = encodedFrame(src, groups[f]!);
      if (rle) return { bytes: decodeRleFrame(encoded, rows, columns, bytesPerSample, samples), littleEndian: true };
      let bytes: Uint8Array;
      try {
        bytes = codec!(encoded, { rows, columns, samples, bitsAllocated, signed, photometric });
      } catch (err) {
        if (err instanceof UnsupportedEncodingError) throw new PixelDecodeError('UNSUPPORTED_TRANSFER_SYNTAX', err.message);
        throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `frame ${f + 1} could not be decoded (${info.transferSyntaxUid}): ${err instanceof Error ? err.message : String(err)}`);
      }
      if (bytes.length < frameBytes) throw new PixelDecodeError('CORRUPT_PIXEL_DATA', `frame ${f + 1} decoded to ${bytes.length} bytes, ${frameBytes} expected`);
      return { bytes, littleEndian: true };
    };
  })();

  const shift = 32 - bitsStored;
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const frame = (f: number, into?: Float32Array): Float32Array => {
    if (f < 0 || f >= frames) throw new RangeError(`frame ${f} of ${frames}`);
    const data = into?.length === framePixels ? into : new Float32Array(framePixels);
    decodeFrame(f, data);
    if (palette) applyPaletteLuminance(data, palette);
    return data;
  };
  const decodeFrame = (f: number, data: Float32Array): void => {
    const { bytes, littleEndian } = frameBytesOf(f);
    if (samples === 1 && storedValues(bytes, littleEndian, bytesPerSample, bitsStored, signed, data)) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const read = (i: number): number => {
      let v: number;
      if (bytesPerSample === 1) v = bytes[i]!;
      else if (bytesPerSample === 2) v = view.getUint16(i * 2, littleEndian);
      else v = view.getUint32(i * 4, littleEndian);
      if (bitsStored < bitsAllocated || signed) {
        if (signed) v = ((v << shift) >> shift) | 0;
        else v = (v & mask) >>> 0;
      }
      return v;
    };
    if (samples === 1) {
      for (let i = 0; i < framePixels; i++) data[i] = read(i);
    } else {
      // RLE output is always colour-by-plane-interleaved per pixel here; native honours Planar Configuration.
      const byPlane = planar === 1 && !encapsulated;
      if (lumaY) {
        for (let i = 0; i < framePixels; i++) data[i] = read(subsampled422 ? (i >> 1) * 4 + (i & 1) : byPlane ? i : i * 3);
        return;
      }
      for (let i = 0; i < framePixels; i++) {
        const r = read(byPlane ? i : i * 3);
        const g = read(byPlane ? framePixels + i : i * 3 + 1);
        const b = read(byPlane ? 2 * framePixels + i : i * 3 + 2);
        data[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      }
    }
  };
  const spacing = tuple(ds.numbers(Tag.PixelSpacing), 2);
  const position = tuple(ds.numbers(Tag.ImagePositionPatient), 3);
  const orientation = tuple(ds.numbers(Tag.ImageOrientationPatient), 6);
  const rescaleIntercept = ds.number(TAG.RescaleIntercept) ?? 0;
  const image: Omit<DecodedImage, 'data'> = {
    sopInstanceUid: ds.uid(Tag.SopInstanceUid),
    modality: ds.string(Tag.Modality),
    bodyPart: ds.string(Tag.BodyPartExamined),
    viewPosition: ds.string(Tag.ViewPosition),
    instanceNumber: ds.number(Tag.InstanceNumber),
    rows,
    columns,
    frames,
    rescaleSlope: ds.number(TAG.RescaleSlope) ?? 1,
    rescaleIntercept,
    photometric: samples === 3 || palette ? 'MONOCHROME2' : photometric,
    pixelSpacing: spacing as [number, number] | null,
    imagePosition: position as [number, number, number] | null,
    imageOrientation: orientation as DecodedImage['imageOrientation'],
    sliceThickness: ds.number(Tag.SliceThickness),
    patientAgeYears: parseAge(ds.string(TAG.PatientAge)),
    ultrasoundRegions: ultrasoundImageRegions(ds, rows, columns),
    // A colour image's window does not apply to its luminance; a table's first mapped value may be negative
    // when the modality values can be.
    voi: samples === 3 || palette ? null : imageVoi(ds, signed || rescaleIntercept < 0),
  };
  return { image, frame };
}

/** A file to read by path, or through a descriptor the caller opened (a referenced original checked on it, read as it is and closed with the source). */
function fileSource(file: string | { fd: number; size: number }): FileByteSource {
  return typeof file === 'string' ? new FileByteSource(file, statSync(file).size) : new FileByteSource(file.fd, file.size);
}

/**
 * Reads and decodes one file (a path, or a descriptor the caller opened), loading the codec its transfer
 * syntax needs (JPEG family, JPEG-LS, JPEG 2000, HTJ2K) on first use.
 */
export async function decodeImageFileAsync(file: string | { fd: number; size: number }): Promise<DecodedImage> {
  const source = fileSource(file);
  try {
    return await decodeWithCodec(readDicom(source));
  } finally {
    source.close();
  }
}

/** decodeImageFileAsync for a file already read into memory (lets a caller overlap reading with decoding). */
export function decodeImageBytesAsync(bytes: Buffer, into?: Float32Array): Promise<DecodedImage> {
  return decodeWithCodec(readDicom(new BufferByteSource(bytes)), into);
}

/**
 * Opens one file (read into memory, a path, or a descriptor the caller opened) for decoding frame by frame, so a
 * long multi-frame image (a cine) need not be held decoded whole; the codec is loaded as for decodeImageFileAsync.
 * `close` releases the file (a descriptor passed in included).
 */
export async function openImageFrames(file: Buffer | string | { fd: number; size: number }): Promise<ImageFrames & { close(): void }> {
  const source: ByteSource = Buffer.isBuffer(file) ? new BufferByteSource(file) : fileSource(file);
  try {
    const info = readDicom(source);
    const reader = imageFrames(info, await codecOf(info));
    return { ...reader, close: () => source.close() };
  } catch (err) {
    source.close();
    throw err;
  }
}

async function codecOf(info: DicomFileInfo): Promise<FrameDecoder | undefined> {
  const pending = info.pixelData?.encapsulated && info.transferSyntaxUid !== RLE_LOSSLESS ? codecFor(info.transferSyntaxUid) : null;
  if (!pending) return undefined;
  try {
    return await pending;
  } catch (err) {
    throw new PixelDecodeError('UNSUPPORTED_TRANSFER_SYNTAX', `the decoder for transfer syntax ${info.transferSyntaxUid} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function decodeWithCodec(info: DicomFileInfo, into?: Float32Array): Promise<DecodedImage> {
  return decodeImage(info, await codecOf(info), into);
}

/** Reads and decodes one file (native, deflated and RLE pixel data only; see decodeImageFileAsync). */
export function decodeImageFile(path: string): DecodedImage {
  const fd = openSync(path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  const source = new FileByteSource(path, size);
  try {
    return decodeImage(readDicom(source));
  } finally {
    source.close();
  }
}
