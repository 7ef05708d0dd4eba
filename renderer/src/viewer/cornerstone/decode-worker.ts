/**
 * The viewer's decode worker, registered in place of dicom-image-loader's own
 * (decode-worker-registration.ts) under the same name and comlink API
 * (`decodeTask`), so Cornerstone's loading, caching and createImage are
 * unchanged. What differs from the stock worker, and why (profiled on 512x512
 * CT frames in headless Chromium; see bench/viewer-bench.mjs, decode section):
 *
 * - the decoded pixels go back to the page *transferred*, not structured-cloned
 *   (a 0.5-1 MB copy each way cost ~1 ms per frame per direction);
 * - post-processing does one pass less (decode-post-process.ts);
 * - where createImage would copy the pixels once more on the page, they go
 *   back as their bare buffer, which it wraps instead (wireFrame);
 * - JPEG lossless (.57/.70) uses jpeg-lossless-decoder.ts (~3x faster than the
 *   loader's JS codec, exact) and 16-bit greyscale RLE rle-frame.ts (decode,
 *   rescale and min/max in one pass, straight to the output type); other
 *   variants of those syntaxes fall back to the loader's decoders.
 *
 * Every other syntax runs the loader's own codec module, initialised once per
 * worker as in the stock worker.
 */
import { expose, transfer } from 'comlink';
import { type DecodeTaskOptions, type DecodedImageFrame, type PixelArray, pixelArrayTypeFor, postProcessDecodedPixels } from './decode-post-process';
import { decodeJpegLossless } from './jpeg-lossless-decoder';
import { decodeRle16Frame } from './rle-frame';
import { transferableBuffer } from './transferable-buffer';
import { decodeDeflatedFrame, decodeEncapsulatedUncompressed, decodeJPEGXL, decoders, setWasmBasePathFromConfig } from './stock-decoders';

export interface DecodeTaskArgs {
  imageFrame: DecodedImageFrame;
  transferSyntax: string;
  pixelData: Uint8Array;
  options: DecodeTaskOptions;
  decodeConfig?: { wasmBasePath?: string };
}

type StockFrame = Parameters<typeof decoders.LittleEndian>[0];

/** The stock decoders take and return Cornerstone's IImageFrame; ours is the subset they fill. */
function stock(frame: DecodedImageFrame): StockFrame {
  return frame as unknown as StockFrame;
}

function codecOptions(frame: DecodedImageFrame): Record<string, unknown> {
  return { signed: frame.pixelRepresentation === 1, bytesPerPixel: Number(frame.bitsAllocated) <= 8 ? 1 : 2, ...frame };
}

/** JPEG lossless with our decoder, the stock output types (Uint8/Uint16/Int16 over the decoded buffer); null if unsupported. */
function decodeLossless(frame: DecodedImageFrame, pixelData: Uint8Array): Decoded | null {
  const bytes = Number(frame.bitsAllocated) <= 8 ? 1 : 2;
  const decoded = decodeJpegLossless(pixelData, bytes);
  if (!decoded) return null;
  const buffer = decoded.pixels.buffer;
  frame.planarConfiguration = 0;
  if (frame.pixelRepresentation === 0) frame.pixelData = bytes === 2 ? new Uint16Array(buffer) : new Uint8Array(buffer);
  else frame.pixelData = new Int16Array(buffer);
  return { frame };
}

/** A decoded frame; `postProcessed` when the decoder also did the post-processing (rle-frame.ts). */
interface Decoded {
  frame: DecodedImageFrame;
  postProcessed?: boolean;
}

/** 16-bit greyscale RLE with rle-frame.ts, post-processed on the way; null for other layouts. */
function decodeRle(frame: DecodedImageFrame, pixelData: Uint8Array, options: DecodeTaskOptions, start: number): Decoded | null {
  const done = decodeRle16Frame(frame, pixelData, options, start);
  return done ? { frame: done, postProcessed: true } : null;
}

async function decodePixels(frame: DecodedImageFrame, transferSyntax: string, pixelData: Uint8Array, options: DecodeTaskOptions, start: number): Promise<Decoded> {
  const decoded = async (p: Promise<unknown>): Promise<Decoded> => ({ frame: (await p) as DecodedImageFrame });
  switch (transferSyntax) {
    case '1.2.840.10008.1.2':
    case '1.2.840.10008.1.2.1':
    case '1.2.840.10008.1.2.1.99':
      return decoded(decoders.LittleEndian(stock(frame), pixelData));
    case '1.2.840.10008.1.2.2':
      return decoded(decoders.BigEndian(stock(frame), pixelData));
    case '1.2.840.10008.1.2.1.98':
      return decoded(decodeEncapsulatedUncompressed(stock(frame), pixelData));
    case '1.2.840.10008.1.2.8.1':
      return decoded(decodeDeflatedFrame(stock(frame), pixelData));
    case '1.2.840.10008.1.2.5':
      return decodeRle(frame, pixelData, options, start) ?? decoded(decoders.RLE(stock(frame), pixelData));
    case '1.2.840.10008.1.2.4.50':
      return decoded(decoders.JPEGBaseline8Bit(pixelData, { ...frame }));
    case '1.2.840.10008.1.2.4.51':
    case '1.2.840.10008.1.2.4.53':
    case '1.2.840.10008.1.2.4.55':
      return decoded(decoders.JPEGBaseline12Bit(stock(frame), pixelData));
    case '1.2.840.10008.1.2.4.57':
    case '1.2.840.10008.1.2.4.70':
      return decodeLossless(frame, pixelData) ?? decoded(decoders.JPEGLossless(stock(frame), pixelData));
    case '1.2.840.10008.1.2.4.80':
    case '1.2.840.10008.1.2.4.81':
      return decoded(decoders.JPEGLS(pixelData, codecOptions(frame)));
    case '1.2.840.10008.1.2.4.90':
    case '1.2.840.10008.1.2.4.91':
      return decoded(decoders.JPEG2000(pixelData, { ...frame }));
    case '3.2.840.10008.1.2.4.96':
    case '1.2.840.10008.1.2.4.201':
    case '1.2.840.10008.1.2.4.202':
    case '1.2.840.10008.1.2.4.203':
      return decoded(decoders.HTJ2K(pixelData, { ...frame }));
    case '1.2.840.10008.1.2.4.110':
    case '1.2.840.10008.1.2.4.111':
    case '1.2.840.10008.1.2.4.112':
      return decoded(decodeJPEGXL(pixelData, codecOptions(frame)));
    default:
      throw new Error(`no decoder for transfer syntax ${transferSyntax}`);
  }
}

/** The frame as posted to the page: the pixels as their typed array, or (see wireFrame) as the bare buffer. */
type WireImageFrame = Omit<DecodedImageFrame, 'pixelData'> & { pixelData: PixelArray | ArrayBuffer };

/**
 * The frame to post, with the buffer to transfer. The loader's createImage
 * (setPixelDataType) re-types the pixels with `new T(frame.pixelData)`, T from
 * the frame's smallest/largest values: given a typed array that is a full copy
 * (1 MB for a 512x512 Float32 frame, plus the garbage it leaves); given an
 * ArrayBuffer it is a view over the same bytes. So when createImage takes that
 * path (no targetBuffer type) and T is the array's own type, the bare buffer
 * goes over: the same pixels, no page-side copy.
 */
function wireFrame(frame: DecodedImageFrame, options: DecodeTaskOptions): { frame: WireImageFrame; buffer: ArrayBuffer | null } {
  const buffer = transferableBuffer(frame.pixelData);
  if (!buffer || options.targetBuffer?.type) return { frame, buffer };
  const pageType = pixelArrayTypeFor(Number(frame.smallestPixelValue), Number(frame.largestPixelValue));
  if (frame.pixelData.constructor !== pageType) return { frame, buffer };
  return { frame: { ...frame, pixelData: buffer }, buffer };
}

async function decodeTask({ imageFrame, transferSyntax, pixelData, options, decodeConfig }: DecodeTaskArgs): Promise<WireImageFrame> {
  const start = new Date().getTime();
  setWasmBasePathFromConfig(decodeConfig);
  const decoded = await decodePixels(imageFrame, transferSyntax, pixelData, options, start);
  const { frame, buffer } = wireFrame(decoded.postProcessed ? decoded.frame : postProcessDecodedPixels(decoded.frame, options, start), options);
  return buffer ? transfer(frame, [buffer]) : frame;
}

expose({ decodeTask });
