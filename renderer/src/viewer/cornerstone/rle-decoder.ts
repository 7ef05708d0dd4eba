/**
 * DICOM RLE Lossless (PS3.5 Annex G) for 16-bit, one-sample frames — CT/MR/CR
 * greyscale, the common case — for the viewer's decode worker. Same output as
 * dicom-image-loader 5.14's decode16 (byte segment 0 = high bytes, 1 = low
 * bytes, little-endian Uint16/Int16 result; a short segment leaves zeros), with
 * unsigned byte reads and no sign tests per byte. Other layouts return null and
 * the stock decoder runs.
 */

/**
 * PackBits-decodes bytes [start, end) of `data` into `plane` (zero-filled, one
 * byte per pixel). Long literal runs and repeats are native copies/fills.
 */
function unpackSegment(data: Uint8Array, start: number, end: number, plane: Uint8Array): void {
  let i = start;
  let o = 0;
  const size = plane.length;
  const last = Math.min(end, data.length);
  while (i < last && o < size) {
    const n = data[i++]!;
    if (n < 128) {
      // n + 1 literal bytes; past the data's end the stock decoder writes zeros (the plane has them already)
      const count = Math.min(n + 1, size - o, data.length - i);
      if (count > 8) plane.set(data.subarray(i, i + count), o);
      else for (let k = 0; k < count; k++) plane[o + k] = data[i + k]!;
      i += n + 1;
      o += Math.min(n + 1, size - o);
    } else if (n > 128) {
      const count = Math.min(257 - n, size - o);
      const value = i < data.length ? data[i] : 0;
      i++;
      if (count > 8) plane.fill(value!, o, o + count);
      else for (let k = 0; k < count; k++) plane[o + k] = value!;
      o += count;
    }
    // n === 128: no operation
  }
}

/**
 * Joins the unpacked high and low byte planes into the 16-bit output and
 * returns its min and max (as the output type reads them), so post-processing
 * needs no min/max pass of its own. One loop per output type keeps each
 * monomorphic; unpacking the low plane with native copies/fills first and then
 * joining is ~2x faster than joining byte by byte while unpacking.
 */
function joinSigned(high: Uint8Array, low: Uint8Array, out: Int16Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let o = 0, n = out.length; o < n; o++) {
    const v = (((high[o]! << 8) | low[o]!) << 16) >> 16; // the 16-bit pattern read as signed
    out[o] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

function joinUnsigned(high: Uint8Array, low: Uint8Array, out: Uint16Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let o = 0, n = out.length; o < n; o++) {
    const v = (high[o]! << 8) | low[o]!;
    out[o] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

export interface Rle16Frame {
  pixels: Int16Array | Uint16Array;
  /** Min and max sample (as `pixels` reads them). */
  min: number;
  max: number;
}

/** Decodes one RLE frame of `rows` x `columns` 16-bit single samples, or null for another layout (more segments, 8-bit, colour). */
export function decodeRle16(data: Uint8Array, rows: number, columns: number, signed: boolean): Rle16Frame | null {
  if (data.length < 64 || rows * columns === 0) return null;
  const header = new DataView(data.buffer, data.byteOffset, 64);
  if (header.getInt32(0, true) !== 2) return null;
  const pixels = rows * columns;
  const segmentEnd = (s: number): number => header.getInt32((s + 2) * 4, true) || data.length;
  const high = new Uint8Array(pixels);
  unpackSegment(data, header.getInt32(4, true), segmentEnd(0), high);
  // Past a short segment the plane keeps zeros, as the stock decoder's output does.
  const low = new Uint8Array(pixels);
  unpackSegment(data, header.getInt32(8, true), segmentEnd(1), low);
  if (signed) {
    const out = new Int16Array(pixels);
    return { pixels: out, ...joinSigned(high, low, out) };
  }
  const out = new Uint16Array(pixels);
  return { pixels: out, ...joinUnsigned(high, low, out) };
}
