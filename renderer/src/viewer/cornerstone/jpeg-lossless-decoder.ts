/**
 * JPEG lossless (ITU-T T.81 process 14, Huffman coded; DICOM 1.2.840.10008.1.2.4.57
 * and .70 = selection value 1) decoder for the viewer's decode worker.
 *
 * Why not the loader's own (@cornerstonejs/jpeg-lossless-decoder-js): it reads
 * the bit stream one bit at a time through method calls and arrays per sample:
 * over 2x dcmtk's time on a 512x512 CT frame. This one decodes most samples
 * (Huffman code + difference bits) with one table lookup over a bit buffer
 * held in locals, ~3x faster than the stock decoder and exact (tests:
 * test/integration/decode/viewer-codecs.test.ts).
 *
 * Supported: one scan, 1..4 components all with H = V = 1 (interleaved),
 * precision 2..16, predictors 1..7, point transform, restart intervals that are
 * whole rows. Anything else returns null: the caller then uses the stock decoder.
 * Output: the samples (interleaved), masked to the output width like the stock
 * decoder (0xFF for 1 byte, 0xFFFF for 2), in a new buffer the caller owns.
 */

export interface LosslessFrame {
  width: number;
  height: number;
  components: number;
  precision: number;
  pixels: Uint8Array | Uint16Array;
}

/** Bits peeked per code: 4096-entry tables, built per frame in well under 0.1 ms. */
const LOOKAHEAD = 12;

interface HuffmanTable {
  /** (length << 8) | symbol for every LOOKAHEAD-bit prefix whose code fits; 0 otherwise. */
  lookup: Int32Array;
  /**
   * For prefixes holding a whole sample (code + its extra bits within LOOKAHEAD):
   * the bits it takes (fastBits, 0 if not whole) and the difference it decodes to.
   */
  fastBits: Uint8Array;
  fastDiff: Int32Array;
  /** Canonical decoding (T.81 F.2.2.3) for codes longer than LOOKAHEAD: indexed by code length 1..16. */
  maxCode: Int32Array;
  valPtr: Int32Array;
  minCode: Int32Array;
  values: Uint8Array;
}

function buildHuffmanTable(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const lookup = new Int32Array(1 << LOOKAHEAD);
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const minCode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    if (n > 0) {
      valPtr[length] = k;
      minCode[length] = code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (length <= LOOKAHEAD) {
          const shift = LOOKAHEAD - length;
          const entry = (length << 8) | values[k]!;
          for (let fill = code << shift, end = (code + 1) << shift; fill < end; fill++) lookup[fill] = entry;
        }
      }
      maxCode[length] = code - 1;
    }
    code <<= 1;
  }
  const fastBits = new Uint8Array(1 << LOOKAHEAD);
  const fastDiff = new Int32Array(1 << LOOKAHEAD);
  for (let prefix = 0; prefix < lookup.length; prefix++) {
    const entry = lookup[prefix]!;
    if (entry === 0) continue;
    const length = entry >> 8;
    const ssss = entry & 0xff;
    if (ssss === 16 || length + ssss > LOOKAHEAD) continue;
    fastBits[prefix] = length + ssss;
    fastDiff[prefix] = ssss === 0 ? 0 : extend((prefix >> (LOOKAHEAD - length - ssss)) & ((1 << ssss) - 1), ssss);
  }
  return { lookup, fastBits, fastDiff, maxCode, valPtr, minCode, values };
}

/** T.81 F.2.2.1 EXTEND: `bits` (ssss of them) as a signed difference. */
function extend(bits: number, ssss: number): number {
  return bits < 1 << (ssss - 1) ? bits - (1 << ssss) + 1 : bits;
}

class UnsupportedJpeg extends Error {}

/** Canonical decoding of a code longer than LOOKAHEAD bits: (length << 8) | symbol; `bits` holds the next 16 bits. */
function decodeLongCode(table: HuffmanTable, bits: number): number {
  for (let length = LOOKAHEAD + 1; length <= 16; length++) {
    const code = bits >> (16 - length);
    if (code <= table.maxCode[length]!) return (length << 8) | table.values[table.valPtr[length]! + code - table.minCode[length]!]!;
  }
  throw new Error('JPEG lossless: invalid Huffman code');
}

function u16(data: Uint8Array, at: number): number {
  if (at + 1 >= data.length) throw new Error('JPEG lossless: truncated header');
  return (data[at]! << 8) | data[at + 1]!;
}

/**
 * Decodes one JPEG lossless frame; `bytesPerSample` (1 or 2) is the output
 * width the DICOM Bits Allocated asks for. Returns null for a JPEG this decoder
 * does not handle (another process, subsampling, several scans, odd restarts).
 */
export function decodeJpegLossless(data: Uint8Array, bytesPerSample: 1 | 2): LosslessFrame | null {
  try {
    return decode(data, bytesPerSample);
  } catch (err) {
    if (err instanceof UnsupportedJpeg) return null;
    throw err;
  }
}

function decode(data: Uint8Array, bytesPerSample: 1 | 2): LosslessFrame {
  if (u16(data, 0) !== 0xffd8) throw new Error('JPEG lossless: no SOI marker');
  const tables: (HuffmanTable | undefined)[] = [];
  let restartInterval = 0;
  let width = 0;
  let height = 0;
  let precision = 0;
  let frameComponents = 0;
  let pos = 2;
  for (;;) {
    // Fill bytes (0xFF runs) may precede a marker.
    while (data[pos] === 0xff && data[pos + 1] === 0xff) pos++;
    const marker = u16(data, pos);
    if (marker >> 8 !== 0xff) throw new Error(`JPEG lossless: expected a marker at ${pos}`);
    const length = u16(data, pos + 2);
    const body = pos + 4;
    if (marker === 0xffc4) {
      let p = body;
      while (p < pos + 2 + length) {
        const tc = data[p]! >> 4;
        const th = data[p]! & 15;
        const counts = data.subarray(p + 1, p + 17);
        let total = 0;
        for (const c of counts) total += c;
        const values = data.subarray(p + 17, p + 17 + total);
        if (tc === 0) tables[th] = buildHuffmanTable(counts, values);
        p += 17 + total;
      }
    } else if (marker === 0xffdd) {
      restartInterval = u16(data, body);
    } else if (marker >= 0xffc0 && marker <= 0xffcf && marker !== 0xffc4 && marker !== 0xffc8 && marker !== 0xffcc) {
      if (marker !== 0xffc3) throw new UnsupportedJpeg(); // only lossless, Huffman, non-hierarchical
      precision = data[body]!;
      height = u16(data, body + 1);
      width = u16(data, body + 3);
      frameComponents = data[body + 5]!;
      for (let i = 0; i < frameComponents; i++) if (data[body + 7 + i * 3] !== 0x11) throw new UnsupportedJpeg(); // subsampled components
    } else if (marker === 0xffda) {
      const ns = data[body]!;
      // Each scan component's DC table (the only table lossless uses), in scan order = interleaving order.
      const scanTables: (HuffmanTable | undefined)[] = [];
      for (let i = 0; i < ns; i++) scanTables.push(tables[data[body + 2 + i * 2]! >> 4]);
      const after = body + 1 + ns * 2;
      const predictor = data[after]!;
      const pointTransform = data[after + 2]! & 15;
      if (width === 0 || height === 0 || precision < 2 || precision > 16) throw new UnsupportedJpeg();
      if (ns !== frameComponents || ns < 1 || ns > 4) throw new UnsupportedJpeg(); // non-interleaved multi-scan
      if (predictor < 1 || predictor > 7) throw new UnsupportedJpeg();
      if (restartInterval !== 0 && restartInterval % width !== 0) throw new UnsupportedJpeg();
      if (scanTables.some((t) => t === undefined)) throw new Error('JPEG lossless: scan uses an undefined Huffman table');
      const pixels = bytesPerSample === 1 ? new Uint8Array(width * height * ns) : new Uint16Array(width * height * ns);
      decodeScan(data, pos + 2 + length, scanTables as HuffmanTable[], pixels, width, height, precision, predictor, pointTransform, restartInterval / width, bytesPerSample === 1 ? 0xff : 0xffff);
      return { width, height, components: ns, precision, pixels };
    } else if (marker === 0xffd9) {
      throw new Error('JPEG lossless: no scan before EOI');
    }
    pos += 2 + length;
  }
}

/**
 * Reconstructs the samples (T.81 H.2): the first row and the first sample of
 * every restart interval predict from 2^(P-Pt-1) and the left neighbour, the
 * first column from the sample above, the rest with the scan's predictor.
 * Sums are modulo 2^16; each output is shifted left by the point transform and
 * masked to the output width. `work` keeps the unshifted values for prediction.
 *
 * The bit reader is inlined (locals, not object fields: this loop is the
 * decoder's whole cost). It undoes 0xFF00 stuffing and, at a marker, feeds zero
 * bits without moving past it (a final code may end on the byte before it).
 */
function decodeScan(
  data: Uint8Array,
  start: number,
  tables: HuffmanTable[],
  out: Uint8Array | Uint16Array,
  width: number,
  height: number,
  precision: number,
  predictor: number,
  pt: number,
  restartRows: number,
  mask: number,
): void {
  const nc = tables.length;
  const stride = width * nc;
  // Without point transform a 16-bit output is the prediction buffer itself.
  const direct = pt === 0 && out instanceof Uint16Array;
  const work = direct ? out : new Uint16Array(width * height * nc);
  const initial = 1 << (precision - pt - 1);
  const length = data.length;
  let pos = start;
  let buf = 0; // the low `cnt` bits are unread
  let cnt = 0;
  for (let y = 0; y < height; y++) {
    const restartRow = restartRows > 0 && y % restartRows === 0;
    if (restartRow && y > 0) {
      // Drop the partial byte, find RSTn, resume after it.
      buf = 0;
      cnt = 0;
      while (pos + 1 < length && !(data[pos] === 0xff && data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7)) pos++;
      pos += 2;
    }
    const firstLine = y === 0 || restartRow;
    const row = y * stride;
    for (let x = 0, i = row; x < width; x++) {
      for (let c = 0; c < nc; c++, i++) {
        const table = tables[c]!;
        if (cnt < 16) {
          while (cnt <= 16) {
            let byte = 0;
            if (pos < length) {
              byte = data[pos]!;
              if (byte !== 0xff) pos++;
              else if (pos + 1 < length && data[pos + 1] === 0) pos += 2;
              else byte = 0;
            }
            buf = ((buf & ((1 << cnt) - 1)) << 8) | byte;
            cnt += 8;
          }
        }
        const prefix = (buf >> (cnt - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1);
        let diff: number;
        const whole = table.fastBits[prefix]!;
        if (whole !== 0) {
          cnt -= whole;
          diff = table.fastDiff[prefix]!;
        } else {
          let entry = table.lookup[prefix]!;
          if (entry === 0) entry = decodeLongCode(table, (buf >> (cnt - 16)) & 0xffff);
          cnt -= entry >> 8;
          const ssss = entry & 0xff;
          diff = 0;
          if (ssss === 16) diff = 32768;
          else if (ssss !== 0) {
            if (cnt < ssss) {
              while (cnt <= 16) {
                let byte = 0;
                if (pos < length) {
                  byte = data[pos]!;
                  if (byte !== 0xff) pos++;
                  else if (pos + 1 < length && data[pos + 1] === 0) pos += 2;
                  else byte = 0;
                }
                buf = ((buf & ((1 << cnt) - 1)) << 8) | byte;
                cnt += 8;
              }
            }
            cnt -= ssss;
            diff = extend((buf >> cnt) & ((1 << ssss) - 1), ssss);
          }
        }
        let prediction: number;
        if (x === 0) prediction = firstLine ? initial : work[i - stride]!;
        else if (firstLine) prediction = work[i - nc]!;
        else {
          const ra = work[i - nc]!;
          switch (predictor) {
            case 1:
              prediction = ra;
              break;
            case 2:
              prediction = work[i - stride]!;
              break;
            case 3:
              prediction = work[i - stride - nc]!;
              break;
            case 4:
              prediction = ra + work[i - stride]! - work[i - stride - nc]!;
              break;
            case 5:
              prediction = ra + ((work[i - stride]! - work[i - stride - nc]!) >> 1);
              break;
            case 6:
              prediction = work[i - stride]! + ((ra - work[i - stride - nc]!) >> 1);
              break;
            default:
              prediction = (ra + work[i - stride]!) >> 1;
          }
        }
        work[i] = prediction + diff;
      }
    }
  }
  if (!direct) for (let i = 0; i < work.length; i++) out[i] = (work[i]! << pt) & mask;
}
