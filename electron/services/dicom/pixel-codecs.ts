/**
 * PixelCodecs: decoders for compressed (encapsulated) Pixel Data in the AI
 * pipeline — JPEG baseline/extended 8-bit (libjpeg-turbo, WASM; 12-bit lossy
 * JPEG through jpeg-dct-decoder.ts, see loadJpeg), JPEG lossless (jpeg-lossless-decoder-js), JPEG-LS (CharLS, WASM),
 * JPEG 2000 (OpenJPEG, WASM) and HTJ2K (OpenJPH, WASM). Each codec runs as
 * real WebAssembly when its .wasm file can be found (the package is installed
 * beside the bundle: development, the CLI, tests); otherwise from the build the
 * package's "/decode" entry embeds in the bundle itself (wasm2js, 2-4× slower),
 * so a bundle without node_modules still decodes. Codecs load lazily, once per
 * thread (the inference worker); decoding is synchronous. Their console output
 * is discarded (stdout carries the CLI's JSON).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JpegDecodeError, decodeJpegDct, jpegStreamInfo, sofHeader } from './jpeg-dct-decoder';

export type CodecFamily = 'jpeg' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg2000' | 'htj2k';

/** Transfer syntax -> decoder family (PS3.5 Annex A; retired JPEG processes included). */
export const CODEC_OF: Readonly<Record<string, CodecFamily>> = {
  '1.2.840.10008.1.2.4.50': 'jpeg', // baseline (process 1)
  '1.2.840.10008.1.2.4.51': 'jpeg', // extended (processes 2 & 4)
  '1.2.840.10008.1.2.4.53': 'jpeg', // spectral selection, non-hierarchical (retired)
  '1.2.840.10008.1.2.4.55': 'jpeg', // full progression, non-hierarchical (retired)
  '1.2.840.10008.1.2.4.57': 'jpeg-lossless', // lossless (process 14)
  '1.2.840.10008.1.2.4.70': 'jpeg-lossless', // lossless, first-order prediction (process 14, SV1)
  '1.2.840.10008.1.2.4.80': 'jpeg-ls',
  '1.2.840.10008.1.2.4.81': 'jpeg-ls',
  '1.2.840.10008.1.2.4.90': 'jpeg2000',
  '1.2.840.10008.1.2.4.91': 'jpeg2000',
  '1.2.840.10008.1.2.4.92': 'jpeg2000',
  '1.2.840.10008.1.2.4.93': 'jpeg2000',
  '1.2.840.10008.1.2.4.201': 'htj2k',
  '1.2.840.10008.1.2.4.202': 'htj2k',
  '1.2.840.10008.1.2.4.203': 'htj2k',
};

/**
 * Whether a decoder here hands colour back as RGB for this Photometric Interpretation: 8-bit lossy JPEG
 * (libjpeg-turbo undoes YCbCr) and JPEG 2000 / HTJ2K with a component transform (YBR_ICT / YBR_RCT, undone
 * by OpenJPEG / OpenJPH). Lossless JPEG, JPEG-LS, 12-bit lossy JPEG (jpeg-dct-decoder.ts: samples as coded)
 * and JPEG 2000 without a transform return the samples as stored: YBR_FULL stays Y, Cb, Cr.
 */
export function codecReturnsRgb(transferSyntaxUid: string, photometric: string, bitsStored: number): boolean {
  const family = CODEC_OF[transferSyntaxUid];
  // Lossy JPEG's sample precision is 8 or 12 and Bits Stored says which (8-bit JPEG may sit in 16-bit words).
  if (family === 'jpeg') return bitsStored <= 8 && /^YBR_FULL(_422)?$/.test(photometric);
  return (family === 'jpeg2000' || family === 'htj2k') && /^YBR_(ICT|RCT)$/.test(photometric);
}

export interface FrameLayout {
  rows: number;
  columns: number;
  samples: number;
  /** 8 or 16. */
  bitsAllocated: number;
  signed: boolean;
  /**
   * The Photometric Interpretation. An RGB-labelled three-component lossy JPEG that libjpeg would take as
   * YCbCr (no Adobe marker saying otherwise, no 'R','G','B' component ids) is decoded without a colour
   * transform: DICOM says its samples are RGB (dcmtk agrees; display-transcode.ts serves it the same way).
   */
  photometric?: string;
}

/** Decodes one frame to samples, pixel-interleaved, little endian, `bitsAllocated / 8` bytes each. */
export type FrameDecoder = (encoded: Uint8Array, layout: FrameLayout) => Uint8Array;

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}

/** The shape every Emscripten codec here shares. */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  decode(): void;
  delete?(): void;
}

type WasmFactory = (moduleArg?: Record<string, unknown>) => Promise<Record<string, new () => WasmDecoder>>;

const asFactory = (mod: unknown): WasmFactory => ((mod as { default?: unknown }).default ?? mod) as WasmFactory;

/**
 * Emscripten's Node glue reads the CommonJS `__dirname` (its script folder; the
 * embedded WASM is never fetched from there). Inside an ES-module bundle that
 * name does not exist, so give it one before a codec is first imported.
 */
function emscriptenNodeShim(): void {
  const g = globalThis as { __dirname?: string };
  if (typeof g.__dirname !== 'string') g.__dirname = dirname(fileURLToPath(import.meta.url));
}

function wasmDecode(decoder: WasmDecoder, encoded: Uint8Array, layout: FrameLayout, what: string): Uint8Array {
  decoder.getEncodedBuffer(encoded.length).set(encoded);
  decoder.decode();
  const info = decoder.getFrameInfo();
  if (info.width !== layout.columns || info.height !== layout.rows) {
    throw new Error(`${what} frame is ${info.width}×${info.height}, the header says ${layout.columns}×${layout.rows}`);
  }
  if (info.componentCount !== layout.samples) throw new Error(`${what} frame has ${info.componentCount} components, the header says ${layout.samples}`);
  // The decoded buffer lives in WASM memory (reused by the next decode): copy it out.
  return widen(Uint8Array.from(decoder.getDecodedBuffer()), info.bitsPerSample > 8 ? 2 : 1, layout);
}

/** Converts decoded samples of `have` bytes to the dataset's bytes per sample. */
function widen(bytes: Uint8Array, have: number, layout: FrameLayout): Uint8Array {
  const want = layout.bitsAllocated / 8;
  if (have === want) return bytes;
  const n = layout.rows * layout.columns * layout.samples;
  if (have === 1 && want === 2) {
    const out = new Uint8Array(n * 2);
    for (let i = 0; i < n; i++) out[i * 2] = bytes[i]!;
    return out;
  }
  throw new Error(`decoded ${have * 8}-bit samples do not fit Bits Allocated ${layout.bitsAllocated}`);
}

const requireHere = createRequire(import.meta.url);

/** A codec that cannot decode this particular stream faithfully (reported as an unsupported syntax, not corrupt data). */
export class UnsupportedEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedEncodingError';
  }
}

const quiet = { print: () => undefined, printErr: () => undefined };

/** The name scripts/build-node.mjs gives a codec's WASM file in codecs/ beside the worker bundles. */
export function codecWasmName(specifier: string): string {
  return `${specifier.replace(/^@cornerstonejs\//, '').replaceAll('/', '-')}.wasm`;
}

/** The codec's real WASM file: the copy beside this bundle (an installed app), else the installed package's (development, tests). */
function wasmFile(specifier: string): Uint8Array | null {
  for (const path of [() => fileURLToPath(new URL(`./codecs/${codecWasmName(specifier)}`, import.meta.url)), () => requireHere.resolve(specifier)]) {
    try {
      return readFileSync(path());
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

/** Instantiates an Emscripten codec: real WASM when its file is found, else the embedded wasm2js build. */
async function emscripten(wasm: Uint8Array | null, real: () => Promise<unknown>, embedded: () => Promise<unknown>): Promise<Record<string, new () => WasmDecoder>> {
  if (wasm) return asFactory(await real())({ ...quiet, wasmBinary: wasm });
  return asFactory(await embedded())({ ...quiet });
}

async function loadJpeg(): Promise<FrameDecoder> {
  const m = await emscripten(
    wasmFile('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm'),
    () => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'),
    () => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decode'),
  );
  const decoder = new m.JPEGDecoder!();
  return (encoded, layout) => {
    // libjpeg-turbo's 8-bit build decodes 8-bit precision only; 12-bit streams go to the DCT decoder
    // here, whose IDCT is libjpeg's islow (the output equals DCMTK's dcmdjpeg).
    // No frame header found: libjpeg-turbo reports the broken stream.
    if ((sofHeader(encoded)?.precision ?? 8) > 8) return decodeAsCoded(encoded, layout);
    if (layout.samples === 3 && layout.photometric === 'RGB' && rgbCodedAsYcbcr(encoded)) return decodeAsCoded(encoded, layout);
    return wasmDecode(decoder, encoded, layout, 'JPEG');
  };
}

/** An RGB-labelled stream libjpeg would convert from YCbCr, that the DCT decoder can take (no subsampling). */
function rgbCodedAsYcbcr(encoded: Uint8Array): boolean {
  try {
    const info = jpegStreamInfo(encoded);
    return info.components === 3 && info.uniformSampling && !info.codedAsRgb;
  } catch {
    return false; // not readable here: libjpeg-turbo reports it
  }
}

/** The DCT decoder: samples exactly as coded (no colour transform), 8-bit or 12-bit. */
function decodeAsCoded(encoded: Uint8Array, layout: FrameLayout): Uint8Array {
  let decoded: ReturnType<typeof decodeJpegDct>;
  try {
    decoded = decodeJpegDct(encoded);
  } catch (err) {
    if (err instanceof JpegDecodeError && err.kind === 'unsupported') throw new UnsupportedEncodingError(`lossy JPEG (${sofHeader(encoded)?.precision ?? '?'}-bit, decoded as coded): ${err.message}`);
    throw err;
  }
  const { info, samples } = decoded;
  if (info.width !== layout.columns || info.height !== layout.rows) throw new Error(`JPEG frame is ${info.width}×${info.height}, the header says ${layout.columns}×${layout.rows}`);
  if (info.components !== layout.samples) throw new Error(`JPEG frame has ${info.components} components, the header says ${layout.samples}`);
  if (samples instanceof Uint8Array && layout.bitsAllocated === 8) return samples;
  if (layout.bitsAllocated !== 16) throw new Error(`${info.precision}-bit JPEG samples do not fit Bits Allocated ${layout.bitsAllocated}`);
  // 16-bit samples are already the little-endian bytes on a little-endian host: no per-sample copy.
  if (samples instanceof Uint16Array && HOST_LITTLE_ENDIAN) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) out.writeUInt16LE(samples[i]!, i * 2);
  return out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

async function loadJpegLossless(): Promise<FrameDecoder> {
  const { Decoder } = (await import('@cornerstonejs/jpeg-lossless-decoder-js')) as unknown as {
    Decoder: new () => { decode(buffer: ArrayBufferLike, offset: number, length: number, bytesOut: number): Uint8Array | Uint16Array | Int16Array };
  };
  return (encoded, layout) => {
    const bytesOut = layout.bitsAllocated <= 8 ? 1 : 2;
    const out = new Decoder().decode(encoded.buffer, encoded.byteOffset, encoded.length, bytesOut);
    return widen(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), bytesOut, layout);
  };
}

async function loadWasm(family: 'jpeg-ls' | 'jpeg2000' | 'htj2k'): Promise<FrameDecoder> {
  if (family === 'jpeg-ls') {
    const m = await emscripten(wasmFile('@cornerstonejs/codec-charls/decodewasm'), () => import('@cornerstonejs/codec-charls/decodewasmjs'), () => import('@cornerstonejs/codec-charls/decode'));
    const decoder = new m.JpegLSDecoder!();
    return (encoded, layout) => wasmDecode(decoder, encoded, layout, 'JPEG-LS');
  }
  if (family === 'jpeg2000') {
    const m = await emscripten(wasmFile('@cornerstonejs/codec-openjpeg/decodewasm'), () => import('@cornerstonejs/codec-openjpeg/decodewasmjs'), () => import('@cornerstonejs/codec-openjpeg/decode'));
    const decoder = new m.J2KDecoder!();
    return (encoded, layout) => wasmDecode(decoder, encoded, layout, 'JPEG 2000');
  }
  // OpenJPH ships no embedded build: HTJ2K needs its .wasm file.
  const wasm = wasmFile('@cornerstonejs/codec-openjph/wasm');
  if (!wasm) throw new Error('the HTJ2K decoder (OpenJPH WASM) is not available in this installation');
  const m = await emscripten(wasm, () => import('@cornerstonejs/codec-openjph'), () => import('@cornerstonejs/codec-openjph'));
  return (encoded, layout) => {
    const decoder = new m.HTJ2KDecoder!();
    try {
      return wasmDecode(decoder, encoded, layout, 'HTJ2K');
    } finally {
      decoder.delete?.();
    }
  };
}

const loaded = new Map<CodecFamily, Promise<FrameDecoder>>();

/** The decoder for a transfer syntax (loaded on first use), or null when the syntax is not a supported compression. */
export function codecFor(transferSyntaxUid: string): Promise<FrameDecoder> | null {
  const family = CODEC_OF[transferSyntaxUid];
  if (!family) return null;
  let p = loaded.get(family);
  if (!p) {
    emscriptenNodeShim();
    p = family === 'jpeg' ? loadJpeg() : family === 'jpeg-lossless' ? loadJpegLossless() : loadWasm(family);
    loaded.set(family, p);
    p.catch(() => loaded.delete(family));
  }
  return p;
}
