/**
 * A 16-bit greyscale RLE frame decoded straight to its post-processed form
 * (what postProcessDecodedPixels would make of the stock decoder's output):
 * when post-processing only adds a constant (offsetPostProcess: the modality
 * LUT off, or CT's slope 1 / integer intercept), rle-decoder.ts adds it while
 * storing each sample, into the output type the loader will choose, and
 * reports the min/max on the way — one pass over the pixels instead of
 * decode, min/max and rescale passes. The type is guessed before the range is
 * known (Int16 for signed samples or a negative offset, else Uint16); when the
 * range says otherwise (e.g. padding -32768 shifted by -1024 needs Float32)
 * the frame is decoded again the general way. DOM-free so Node tests import it.
 */
import { type DecodeTaskOptions, type DecodedImageFrame, type UndecodedImageFrame, completeOffsetFrame, offsetPostProcess, postProcessDecodedPixels } from './decode-post-process';
import { decodeRle16, decodeRle16Into } from './rle-decoder';

/**
 * The post-processed frame (`frame` itself, completed), or null when this is
 * not a 16-bit one-sample two-segment RLE frame (the stock decoder then runs).
 * `start`: Date.now() when decoding began (for decodeTimeInMS).
 */
export function decodeRle16Frame(frame: UndecodedImageFrame, pixelData: Uint8Array, options: DecodeTaskOptions, start: number): DecodedImageFrame | null {
  if (frame.bitsAllocated !== 16 || frame.samplesPerPixel !== 1) return null;
  const rows = Number(frame.rows);
  const columns = Number(frame.columns);
  const signed = frame.pixelRepresentation !== 0;
  const plan = offsetPostProcess(frame, options);
  // Beyond +-65535 no 16-bit output type can hold sample + offset: straight to the general way.
  if (plan && rows * columns > 0 && Math.abs(plan.offset) <= 65535) {
    const pixels = signed || plan.offset < 0 ? new Int16Array(rows * columns) : new Uint16Array(rows * columns);
    const range = decodeRle16Into(pixelData, signed, plan.offset, pixels);
    if (!range) return null;
    const done = completeOffsetFrame(frame, options, start, pixels, range, plan);
    if (done) return done;
  }
  const decoded = decodeRle16(pixelData, rows, columns, signed);
  if (!decoded) return null;
  return postProcessDecodedPixels(Object.assign(frame, { pixelData: decoded.pixels }), options, start, { min: decoded.min, max: decoded.max });
}
