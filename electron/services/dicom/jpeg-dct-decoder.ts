/**
 * Huffman-coded DCT JPEG (ITU-T T.81: baseline, extended sequential and
 * progressive — DICOM 1.2.840.10008.1.2.4.50/.51/.53/.55), 8- and 12-bit sample
 * precision, decoded to the component samples exactly as coded: no colour
 * transform, no upsampling.
 *
 * Why it exists: the WASM libjpeg-turbo build the viewer and the AI pipeline
 * use decodes 8-bit precision only, and the loader's JavaScript fallback for
 * 12-bit JPEG (a pdf.js derivative) level-shifts every sample by about +15.
 * The inverse DCT here is a port of IJG libjpeg 6b's jidctint.c ("islow", the
 * default of the IJG code inside DCMTK's dcmdjpeg), with its range-limit table,
 * so the output equals dcmdjpeg's. Integer arithmetic is done in doubles
 * (exact below 2^53): 12-bit products overflow 32-bit integers.
 */

export class JpegDecodeError extends Error {
  constructor(
    /** 'unsupported': a valid stream this decoder does not handle; 'corrupt': a broken stream. */
    readonly kind: 'unsupported' | 'corrupt',
    message: string,
  ) {
    super(message);
    this.name = 'JpegDecodeError';
  }
}

export interface JpegStreamInfo {
  width: number;
  height: number;
  /** Sample precision from the SOF marker (8 or 12 here). */
  precision: number;
  components: number;
  progressive: boolean;
  /** The Adobe APP14 colour transform flag (0: none, 1: YCbCr, 2: YCCK), or null without an Adobe marker. */
  adobeTransform: number | null;
  /** True when every component has the same sampling factors (no upsampling needed). */
  uniformSampling: boolean;
  /**
   * Three components that libjpeg would take as RGB, not YCbCr (jdapimin.c
   * default_decompress_parms): an Adobe marker with transform 0, or neither
   * JFIF nor Adobe marker and component ids 'R', 'G', 'B'.
   */
  codedAsRgb: boolean;
}

export interface DecodedJpeg {
  info: JpegStreamInfo;
  /** Samples, component-interleaved, row-major; Uint8Array for 8-bit, Uint16Array for 12-bit. */
  samples: Uint8Array | Uint16Array;
}

/** Zig-zag index -> natural (row-major) index. */
const ZIGZAG = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15,
  23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

interface HuffmanTable {
  maxcode: Int32Array;
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Blocks per line / column in the padded (whole-MCU) coefficient buffer. */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Blocks that carry image data (what a non-interleaved scan codes). */
  widthInBlocks: number;
  heightInBlocks: number;
  coefficients: Int32Array;
  pred: number;
  dcTable: HuffmanTable | null;
  acTable: HuffmanTable | null;
  /** Dequantisation table, natural order (set once the whole stream is read: DQT may follow SOF). */
  quant: Int32Array | null;
}

interface Frame {
  precision: number;
  width: number;
  height: number;
  progressive: boolean;
  components: Component[];
  mcusPerLine: number;
  mcusPerColumn: number;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const maxcode = new Int32Array(18).fill(-1);
  const valptr = new Int32Array(17);
  const mincode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = counts[l - 1]!;
    if (n > 0) {
      valptr[l] = k;
      mincode[l] = code;
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valptr, mincode, values };
}

/** Entropy-coded data reader: 0xFF00 stuffing removed; at a marker it feeds zero bits, as libjpeg does. */
class BitReader {
  private buffer = 0;
  private count = 0;
  /** Offset of the next unread byte (stops at a marker). */
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  private fill(): void {
    let byte = 0;
    const b = this.bytes;
    if (this.pos < b.length) {
      const v = b[this.pos]!;
      if (v !== 0xff) {
        byte = v;
        this.pos++;
      } else {
        let next = this.pos + 1;
        while (next < b.length && b[next] === 0xff) next++;
        if (next < b.length && b[next] === 0x00) {
          byte = 0xff;
          this.pos = next + 1;
        }
        // Otherwise a marker: do not consume it; feed zeros.
      }
    }
    this.buffer = (this.buffer << 8) | byte;
    this.count += 8;
  }

  bit(): number {
    if (this.count === 0) this.fill();
    this.count--;
    return (this.buffer >>> this.count) & 1;
  }

  receive(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | this.bit();
    return v;
  }

  receiveExtend(n: number): number {
    if (n === 0) return 0;
    if (n > 16) throw new JpegDecodeError('corrupt', `JPEG coefficient of ${n} bits`);
    const v = this.receive(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  decode(table: HuffmanTable): number {
    let code = this.bit();
    let l = 1;
    while (code > table.maxcode[l]!) {
      code = (code << 1) | this.bit();
      l++;
      if (l > 16) throw new JpegDecodeError('corrupt', 'JPEG Huffman code not in the table');
    }
    return table.values[table.valptr[l]! + code - table.mincode[l]!]!;
  }

  /** Discards the buffered bits and skips an RSTn marker (restart interval boundary). */
  restart(): void {
    this.buffer = 0;
    this.count = 0;
    const b = this.bytes;
    let p = this.pos;
    while (p + 1 < b.length && !(b[p] === 0xff && b[p + 1]! >= 0xd0 && b[p + 1]! <= 0xd7)) p++;
    if (p + 1 < b.length) this.pos = p + 2;
  }
}

interface ScanParams {
  components: Component[];
  ss: number;
  se: number;
  ah: number;
  al: number;
  restartInterval: number;
}

function decodeScan(frame: Frame, scan: ScanParams, reader: BitReader): void {
  const { ss, se, ah, al } = scan;
  let eobrun = 0;
  for (const c of scan.components) c.pred = 0;

  const baseline = (c: Component, off: number): void => {
    const coef = c.coefficients;
    const t = reader.decode(c.dcTable!);
    c.pred += reader.receiveExtend(t);
    coef[off] = c.pred;
    for (let k = 1; k < 64; ) {
      const rs = reader.decode(c.acTable!);
      const s = rs & 15;
      const r = rs >> 4;
      if (s === 0) {
        if (r < 15) break;
        k += 16;
        continue;
      }
      k += r;
      if (k > 63) throw new JpegDecodeError('corrupt', 'JPEG AC coefficient index past 63');
      coef[off + ZIGZAG[k]!] = reader.receiveExtend(s);
      k++;
    }
  };
  const dcFirst = (c: Component, off: number): void => {
    const t = reader.decode(c.dcTable!);
    c.pred += reader.receiveExtend(t);
    c.coefficients[off] = c.pred * 2 ** al;
  };
  const dcRefine = (c: Component, off: number): void => {
    if (reader.bit()) c.coefficients[off]! |= 1 << al;
  };
  const acFirst = (c: Component, off: number): void => {
    if (eobrun > 0) {
      eobrun--;
      return;
    }
    const coef = c.coefficients;
    for (let k = ss; k <= se; ) {
      const rs = reader.decode(c.acTable!);
      const s = rs & 15;
      const r = rs >> 4;
      if (s === 0) {
        if (r < 15) {
          eobrun = (1 << r) - 1;
          if (r) eobrun += reader.receive(r);
          break;
        }
        k += 16;
        continue;
      }
      k += r;
      if (k > 63) throw new JpegDecodeError('corrupt', 'JPEG AC coefficient index past 63');
      coef[off + ZIGZAG[k]!] = reader.receiveExtend(s) * 2 ** al;
      k++;
    }
  };
  // libjpeg jdphuff.c decode_mcu_AC_refine.
  const acRefine = (c: Component, off: number): void => {
    const coef = c.coefficients;
    const p1 = 1 << al;
    const m1 = -1 << al;
    let k = ss;
    const refine = (pos: number): void => {
      const v = coef[pos]!;
      if (reader.bit() && (v & p1) === 0) coef[pos] = v >= 0 ? v + p1 : v + m1;
    };
    if (eobrun === 0) {
      for (; k <= se; k++) {
        const rs = reader.decode(c.acTable!);
        let r = rs >> 4;
        let s = rs & 15;
        if (s) {
          s = reader.bit() ? p1 : m1;
        } else if (r !== 15) {
          eobrun = 1 << r;
          if (r) eobrun += reader.receive(r);
          break;
        }
        do {
          const pos = off + ZIGZAG[k]!;
          if (coef[pos] !== 0) refine(pos);
          else if (--r < 0) break;
          k++;
        } while (k <= se);
        if (s && k <= 63) coef[off + ZIGZAG[k]!] = s;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const pos = off + ZIGZAG[k]!;
        if (coef[pos] !== 0) refine(pos);
      }
      eobrun--;
    }
  };

  const decodeBlock = !frame.progressive ? baseline : ss === 0 ? (ah === 0 ? dcFirst : dcRefine) : ah === 0 ? acFirst : acRefine;
  if (frame.progressive && ss === 0 && ah === 0) {
    for (const c of scan.components) if (!c.dcTable) throw new JpegDecodeError('corrupt', 'JPEG scan uses an undefined DC Huffman table');
  }
  for (const c of scan.components) {
    const needsDc = !frame.progressive || (ss === 0 && ah === 0);
    const needsAc = !frame.progressive || ss > 0;
    if ((needsDc && !c.dcTable) || (needsAc && !c.acTable)) throw new JpegDecodeError('corrupt', 'JPEG scan uses an undefined Huffman table');
  }

  const blockOffset = (c: Component, row: number, col: number): number => 64 * (row * c.blocksPerLine + col);
  let mcu = 0;
  const restartIfDue = (): void => {
    if (scan.restartInterval > 0 && mcu > 0 && mcu % scan.restartInterval === 0) {
      reader.restart();
      eobrun = 0;
      for (const c of scan.components) c.pred = 0;
    }
  };
  if (scan.components.length === 1) {
    // Non-interleaved: one block per MCU, over the blocks that carry image data.
    const c = scan.components[0]!;
    for (let row = 0; row < c.heightInBlocks; row++) {
      for (let col = 0; col < c.widthInBlocks; col++) {
        restartIfDue();
        decodeBlock(c, blockOffset(c, row, col));
        mcu++;
      }
    }
    return;
  }
  for (let mr = 0; mr < frame.mcusPerColumn; mr++) {
    for (let mc = 0; mc < frame.mcusPerLine; mc++) {
      restartIfDue();
      for (const c of scan.components) {
        for (let y = 0; y < c.v; y++) for (let x = 0; x < c.h; x++) decodeBlock(c, blockOffset(c, mr * c.v + y, mc * c.h + x));
      }
      mcu++;
    }
  }
}

const CONST_BITS = 13;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** libjpeg's DESCALE: round and arithmetic-shift right by n, on exact double integers. */
function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/**
 * libjpeg's post-IDCT range limit (jdmaster.c prepare_range_limit_table): the
 * value is masked to 4 * (MAXJSAMPLE + 1) entries; out-of-range values clamp,
 * wildly out-of-range ones (corrupt data) wrap as they do in libjpeg.
 */
function rangeLimitTable(precision: number): Int32Array {
  const n = 1 << precision;
  const max = n - 1;
  const center = n >> 1;
  const table = new Int32Array(4 * n);
  for (let m = 0; m < 4 * n; m++) {
    if (m < n - center) table[m] = m + center;
    else if (m < 2 * n) table[m] = max;
    else if (m < 4 * n - center) table[m] = 0;
    else table[m] = m - (4 * n - center);
  }
  return table;
}

/** jidctint.c jpeg_idct_islow: dequantize + 8x8 inverse DCT of one block into `out` (range-limited samples). */
function idctIslow(coef: Int32Array, off: number, quant: Int32Array, pass1Bits: number, limit: Int32Array, ws: Float64Array, out: Int32Array): void {
  const mask = limit.length - 1;
  for (let col = 0; col < 8; col++) {
    const q = (i: number): number => coef[off + i * 8 + col]! * quant[i * 8 + col]!;
    if (coef[off + 8 + col] === 0 && coef[off + 16 + col] === 0 && coef[off + 24 + col] === 0 && coef[off + 32 + col] === 0 && coef[off + 40 + col] === 0 && coef[off + 48 + col] === 0 && coef[off + 56 + col] === 0) {
      const dc = q(0) * 2 ** pass1Bits;
      for (let r = 0; r < 8; r++) ws[r * 8 + col] = dc;
      continue;
    }
    let z2 = q(2);
    let z3 = q(6);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = q(0);
    z3 = q(4);
    let tmp0 = (z2 + z3) * 2 ** CONST_BITS;
    let tmp1 = (z2 - z3) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = q(7);
    tmp1 = q(5);
    tmp2 = q(3);
    tmp3 = q(1);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const s = CONST_BITS - pass1Bits;
    ws[col] = descale(tmp10 + tmp3, s);
    ws[56 + col] = descale(tmp10 - tmp3, s);
    ws[8 + col] = descale(tmp11 + tmp2, s);
    ws[48 + col] = descale(tmp11 - tmp2, s);
    ws[16 + col] = descale(tmp12 + tmp1, s);
    ws[40 + col] = descale(tmp12 - tmp1, s);
    ws[24 + col] = descale(tmp13 + tmp0, s);
    ws[32 + col] = descale(tmp13 - tmp0, s);
  }
  const shift = CONST_BITS + pass1Bits + 3;
  const lim = (v: number): number => limit[((descale(v, shift) % (mask + 1)) + mask + 1) & mask]!;
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    let z2 = ws[w + 2]!;
    let z3 = ws[w + 6]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[w]! + ws[w + 4]!) * 2 ** CONST_BITS;
    let tmp1 = (ws[w]! - ws[w + 4]!) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7]!;
    tmp1 = ws[w + 5]!;
    tmp2 = ws[w + 3]!;
    tmp3 = ws[w + 1]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[w] = lim(tmp10 + tmp3);
    out[w + 7] = lim(tmp10 - tmp3);
    out[w + 1] = lim(tmp11 + tmp2);
    out[w + 6] = lim(tmp11 - tmp2);
    out[w + 2] = lim(tmp12 + tmp1);
    out[w + 5] = lim(tmp12 - tmp1);
    out[w + 3] = lim(tmp13 + tmp0);
    out[w + 4] = lim(tmp13 - tmp0);
  }
}

function u16be(b: Uint8Array, p: number): number {
  if (p + 2 > b.length) throw new JpegDecodeError('corrupt', 'JPEG stream ends inside a marker segment');
  return (b[p]! << 8) | b[p + 1]!;
}

interface Parsed {
  frame: Frame | null;
  adobeTransform: number | null;
  jfif: boolean;
}

/**
 * Walks the marker segments; decodes each scan when `decode` is true.
 * Without it, stops at the first SOS (header information only).
 */
function parse(bytes: Uint8Array, decode: boolean): Parsed {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new JpegDecodeError('corrupt', 'not a JPEG stream (no SOI marker)');
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let frame: Frame | null = null;
  let adobeTransform: number | null = null;
  let jfif = false;
  let restartInterval = 0;
  let p = 2;
  for (;;) {
    while (p < bytes.length && bytes[p] !== 0xff) p++; // tolerate junk between segments, as libjpeg does (with a warning)
    while (p < bytes.length && bytes[p] === 0xff) p++;
    if (p >= bytes.length) break;
    const marker = bytes[p]!;
    p++;
    if (marker === 0xd9) break;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    const length = u16be(bytes, p);
    const end = p + length;
    if (length < 2 || end > bytes.length) throw new JpegDecodeError('corrupt', `JPEG marker 0xFF${marker.toString(16).toUpperCase()} runs past the end of the stream`);
    const seg = p + 2;
    switch (marker) {
      case 0xdb: {
        let q = seg;
        while (q < end) {
          const pq = bytes[q]! >> 4;
          const tq = bytes[q]! & 15;
          q++;
          if (tq > 3) throw new JpegDecodeError('corrupt', 'JPEG quantisation table id > 3');
          const table = new Int32Array(64);
          for (let k = 0; k < 64; k++) {
            table[ZIGZAG[k]!] = pq ? u16be(bytes, q + 2 * k) : bytes[q + k]!;
          }
          q += pq ? 128 : 64;
          quant[tq] = table;
        }
        break;
      }
      case 0xc4: {
        let q = seg;
        while (q < end) {
          const tc = bytes[q]! >> 4;
          const th = bytes[q]! & 15;
          const counts = bytes.subarray(q + 1, q + 17);
          let total = 0;
          for (const n of counts) total += n;
          if (th > 3 || tc > 1 || q + 17 + total > end) throw new JpegDecodeError('corrupt', 'malformed JPEG Huffman table');
          const table = buildHuffman(counts, bytes.slice(q + 17, q + 17 + total));
          (tc === 0 ? dcTables : acTables)[th] = table;
          q += 17 + total;
        }
        break;
      }
      case 0xdd:
        restartInterval = u16be(bytes, seg);
        break;
      case 0xe0:
        if (length >= 7 && String.fromCharCode(...bytes.subarray(seg, seg + 5)) === 'JFIF\0') jfif = true;
        break;
      case 0xee:
        if (length >= 14 && String.fromCharCode(...bytes.subarray(seg, seg + 5)) === 'Adobe') adobeTransform = bytes[seg + 11]!;
        break;
      case 0xc0:
      case 0xc1:
      case 0xc2: {
        if (frame) throw new JpegDecodeError('unsupported', 'JPEG stream with more than one frame (hierarchical)');
        const sof = sofSegment(bytes, marker, seg, end);
        if (!sof) throw new JpegDecodeError('corrupt', 'JPEG frame header is shorter than its components need');
        const { precision, rows: height, columns: width } = sof;
        if (precision !== 8 && precision !== 12) throw new JpegDecodeError('unsupported', `JPEG sample precision ${precision}`);
        if (width === 0 || height === 0) throw new JpegDecodeError('unsupported', 'JPEG without frame dimensions (DNL) is not supported');
        if (sof.components < 1 || sof.components > 4) throw new JpegDecodeError('corrupt', `JPEG frame with ${sof.components} components`);
        const components: Component[] = [];
        for (const { id, h, v, tq } of sof.componentSpecs) {
          if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegDecodeError('corrupt', 'JPEG sampling factor out of range');
          components.push({ id, h, v, tq: tq & 3, blocksPerLine: 0, blocksPerColumn: 0, widthInBlocks: 0, heightInBlocks: 0, coefficients: new Int32Array(0), pred: 0, dcTable: null, acTable: null, quant: null });
        }
        const hmax = Math.max(...components.map((c) => c.h));
        const vmax = Math.max(...components.map((c) => c.v));
        const mcusPerLine = Math.ceil(width / (8 * hmax));
        const mcusPerColumn = Math.ceil(height / (8 * vmax));
        for (const c of components) {
          c.blocksPerLine = mcusPerLine * c.h;
          c.blocksPerColumn = mcusPerColumn * c.v;
          c.widthInBlocks = Math.ceil(Math.ceil((width * c.h) / hmax) / 8);
          c.heightInBlocks = Math.ceil(Math.ceil((height * c.v) / vmax) / 8);
          if (decode) c.coefficients = new Int32Array(c.blocksPerLine * c.blocksPerColumn * 64);
        }
        frame = { precision, width, height, progressive: marker === 0xc2, components, mcusPerLine, mcusPerColumn };
        break;
      }
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        throw new JpegDecodeError('unsupported', `JPEG process with SOF marker 0xFF${marker.toString(16).toUpperCase()} (lossless, hierarchical or arithmetic coding)`);
      case 0xda: {
        if (!frame) throw new JpegDecodeError('corrupt', 'JPEG scan before the frame header');
        if (!decode) return { frame, adobeTransform, jfif };
        const ns = bytes[seg]!;
        const scanComponents: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const id = bytes[seg + 1 + i * 2]!;
          const tables = bytes[seg + 2 + i * 2]!;
          const c = frame.components.find((x) => x.id === id);
          if (!c) throw new JpegDecodeError('corrupt', `JPEG scan names component ${id}, which the frame does not have`);
          c.dcTable = dcTables[tables >> 4] ?? null;
          c.acTable = acTables[tables & 15] ?? null;
          scanComponents.push(c);
        }
        const o = seg + 1 + ns * 2;
        const ss = bytes[o]!;
        const se = bytes[o + 1]!;
        const ah = bytes[o + 2]! >> 4;
        const al = bytes[o + 2]! & 15;
        if (ss > 63 || se > 63 || ss > se) throw new JpegDecodeError('corrupt', 'JPEG scan spectral selection out of range');
        const reader = new BitReader(bytes, end);
        decodeScan(frame, { components: scanComponents, ss: frame.progressive ? ss : 0, se: frame.progressive ? se : 63, ah, al, restartInterval }, reader);
        p = reader.pos;
        continue;
      }
      default:
        break; // APPn, COM, DNL...: skipped
    }
    p = end;
  }
  if (decode && frame) {
    for (const c of frame.components) {
      c.quant = quant[c.tq] ?? null;
      if (!c.quant) throw new JpegDecodeError('corrupt', `JPEG component ${c.id} uses an undefined quantisation table`);
    }
  }
  return { frame, adobeTransform, jfif };
}

function infoOf({ frame, adobeTransform, jfif }: { frame: Frame; adobeTransform: number | null; jfif: boolean }): JpegStreamInfo {
  const c0 = frame.components[0]!;
  const ids = frame.components.map((c) => c.id);
  const codedAsRgb = ids.length === 3 && !jfif && (adobeTransform !== null ? adobeTransform === 0 : ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42);
  return {
    width: frame.width,
    height: frame.height,
    precision: frame.precision,
    components: frame.components.length,
    progressive: frame.progressive,
    adobeTransform,
    uniformSampling: frame.components.every((c) => c.h === c0.h && c.v === c0.v),
    codedAsRgb,
  };
}

/** Frame header information (dimensions, precision, APP14) without decoding. */
export function jpegStreamInfo(bytes: Uint8Array): JpegStreamInfo {
  const { frame, adobeTransform, jfif } = parse(bytes, false);
  if (!frame) throw new JpegDecodeError('corrupt', 'JPEG stream without a frame header');
  return infoOf({ frame, adobeTransform, jfif });
}

/** Decodes the stream to its component samples (see the module comment). */
export function decodeJpegDct(bytes: Uint8Array): DecodedJpeg {
  const { frame, adobeTransform, jfif } = parse(bytes, true);
  if (!frame) throw new JpegDecodeError('corrupt', 'JPEG stream without a frame header');
  const info = infoOf({ frame, adobeTransform, jfif });
  if (!info.uniformSampling) throw new JpegDecodeError('unsupported', 'subsampled JPEG components (upsampling) are not handled by this decoder');
  const { width, height, precision } = frame;
  const nc = frame.components.length;
  const samples = precision > 8 ? new Uint16Array(width * height * nc) : new Uint8Array(width * height * nc);
  const limit = rangeLimitTable(precision);
  const pass1Bits = precision > 8 ? 1 : 2;
  const ws = new Float64Array(64);
  const block = new Int32Array(64);
  frame.components.forEach((c, ci) => {
    const quant = c.quant!;
    for (let br = 0; br < c.heightInBlocks; br++) {
      for (let bc = 0; bc < c.widthInBlocks; bc++) {
        idctIslow(c.coefficients, 64 * (br * c.blocksPerLine + bc), quant, pass1Bits, limit, ws, block);
        for (let y = 0; y < 8; y++) {
          const row = br * 8 + y;
          if (row >= height) break;
          for (let x = 0; x < 8; x++) {
            const col = bc * 8 + x;
            if (col >= width) break;
            samples[(row * width + col) * nc + ci] = block[y * 8 + x]!;
          }
        }
      }
    }
  });
  return { info, samples };
}

/** One component of a frame header (T.81 B.2.2). */
export interface SofComponentSpec {
  id: number;
  /** Horizontal and vertical sampling factors. */
  h: number;
  v: number;
  /** Quantisation table selector. */
  tq: number;
}

/** A frame header (SOF marker segment): what callers need to know about a stream without decoding it. */
export interface SofHeader {
  /** 0xC0-0xCF (not C4, C8, CC: DHT, JPG, DAC) for ITU-T T.81, 0xF7 (SOF55) for JPEG-LS. */
  marker: number;
  /** Sample precision in bits. */
  precision: number;
  /** Number of lines (0: defined later by a DNL marker). */
  rows: number;
  /** Samples per line. */
  columns: number;
  /** Number of image components. */
  components: number;
  componentSpecs: readonly SofComponentSpec[];
}

function isSofMarker(marker: number): boolean {
  return (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
}

/** The SOF segment whose parameters start at `seg` and end at `end`; null when it is shorter than its component count needs. */
function sofSegment(bytes: Uint8Array, marker: number, seg: number, end: number): SofHeader | null {
  if (seg + 6 > end || end > bytes.length) return null;
  const components = bytes[seg + 5]!;
  if (seg + 6 + components * 3 > end) return null;
  const componentSpecs: SofComponentSpec[] = [];
  for (let i = 0; i < components; i++) {
    const o = seg + 6 + i * 3;
    componentSpecs.push({ id: bytes[o]!, h: bytes[o + 1]! >> 4, v: bytes[o + 1]! & 15, tq: bytes[o + 2]! });
  }
  return { marker, precision: bytes[seg]!, rows: u16be(bytes, seg + 1), columns: u16be(bytes, seg + 3), components, componentSpecs };
}

/**
 * The first frame header of a JPEG-family stream (DCT, lossless, JPEG-LS),
 * found by walking the marker segments the way the decoder does: junk between
 * segments and 0xFF fill bytes are skipped, APPn/COM/DQT/DHT segments are
 * skipped by their length. Null when `bytes` (which may be just the start of
 * the stream) has no SOI, or ends or reaches a scan (SOS) or EOI before a
 * complete SOF segment.
 */
export function sofHeader(bytes: Uint8Array): SofHeader | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let p = 2;
  for (;;) {
    while (p < bytes.length && bytes[p] !== 0xff) p++;
    while (p < bytes.length && bytes[p] === 0xff) p++;
    if (p >= bytes.length) return null;
    const marker = bytes[p]!;
    p++;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length: SOI, TEM, RSTn
    if (marker === 0xd9 || marker === 0xda) return null; // end of image, or scan data before any frame header
    if (p + 2 > bytes.length) return null;
    const end = p + u16be(bytes, p);
    if (end < p + 2 || end > bytes.length) return null;
    if (isSofMarker(marker)) return sofSegment(bytes, marker, p + 2, end);
    p = end;
  }
}
