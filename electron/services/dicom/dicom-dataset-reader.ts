/**
 * DicomDatasetReader: walks a DICOM Part-10 file (or a bare dataset) far enough
 * to index it, without reading pixel data. Elements are recorded with their
 * offsets; values are decoded only when asked for. Stops at (7FE0,0010) after
 * checking that the pixel data the file declares is actually there.
 */
import { inflateRawSync } from 'node:zlib';
import { BufferByteSource, type ByteSource, OutOfBoundsError } from './byte-source';
import { CharacterSet } from './character-set';
import { TS, encodingOf } from './transfer-syntax';

export const Tag = {
  FileMetaGroupLength: 0x00020000,
  MediaStorageSopClassUid: 0x00020002,
  MediaStorageSopInstanceUid: 0x00020003,
  TransferSyntaxUid: 0x00020010,
  SpecificCharacterSet: 0x00080005,
  ImageType: 0x00080008,
  SopClassUid: 0x00080016,
  SopInstanceUid: 0x00080018,
  StudyDate: 0x00080020,
  SeriesDate: 0x00080021,
  ContentDate: 0x00080023,
  StudyTime: 0x00080030,
  SeriesTime: 0x00080031,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  InstitutionName: 0x00080080,
  ReferringPhysicianName: 0x00080090,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  PatientName: 0x00100010,
  PatientId: 0x00100020,
  IssuerOfPatientId: 0x00100021,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  BodyPartExamined: 0x00180015,
  SliceThickness: 0x00180050,
  ViewPosition: 0x00185101,
  StudyInstanceUid: 0x0020000d,
  SeriesInstanceUid: 0x0020000e,
  StudyId: 0x00200010,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  ImagePositionPatient: 0x00200032,
  ImageOrientationPatient: 0x00200037,
  SliceLocation: 0x00201041,
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  PixelSpacing: 0x00280030,
  BitsAllocated: 0x00280100,
  PixelRepresentation: 0x00280103,
  DirectoryRecordSequence: 0x00041220,
  PatientAge: 0x00101010,
  AnatomicRegionSequence: 0x00082218,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  PixelData: 0x7fe00010,
  FloatPixelData: 0x7fe00008,
  DoubleFloatPixelData: 0x7fe00009,
  Item: 0xfffee000,
  ItemDelimitation: 0xfffee00d,
  SequenceDelimitation: 0xfffee0dd,
} as const;

export const UNDEFINED = 0xffffffff;
/** Text values are read up to this size; the index keeps far less anyway. */
const MAX_TEXT_BYTES = 64 * 1024;
/** VRs whose value number() reads as numbers (binary or decimal text). */
const NUMERIC_VRS = new Set(['US', 'SS', 'UL', 'SL', 'FL', 'FD', 'SV', 'UV', 'IS', 'DS']);
/** VRs whose explicit encoding has a 2-byte reserved field and a 4-byte length. */
export const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
export const KNOWN_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'PN', 'SH',
  'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]);
/** Text VRs decoded with the Specific Character Set; every other string VR is ASCII. */
const TEXT_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'PN', 'UC', 'UT']);

/**
 * The element walk runs for every element of every file imported, mostly before
 * the JIT has warmed up: it classifies a VR by its two bytes as one number
 * (table lookup) and only then takes the interned VR string, never building one.
 */
const VR_KNOWN = 1;
const VR_LONG = 2;
const VR_FLAGS = new Uint8Array(0x10000);
const VR_NAMES = new Map<number, string>();
const vrCode = (vr: string) => (vr.charCodeAt(0) << 8) | vr.charCodeAt(1);
for (const vr of KNOWN_VRS) {
  VR_FLAGS[vrCode(vr)] = VR_KNOWN | (LONG_VRS.has(vr) ? VR_LONG : 0);
  VR_NAMES.set(vrCode(vr), vr);
}

/**
 * buf.toString('latin1', start, end) without its argument handling: Buffer's own slicer, which
 * toString ends in (not in Node's type declarations, present in every Node and Electron). Values
 * are read tens of thousands of times per import, mostly before the JIT has warmed up.
 */
type Latin1Slicing = Buffer & { latin1Slice?: (start: number, end: number) => string };
const HAS_LATIN1_SLICE = typeof (Buffer.prototype as Latin1Slicing).latin1Slice === 'function';
function latin1(buf: Buffer, start: number, end: number): string {
  return HAS_LATIN1_SLICE ? (buf as Latin1Slicing).latin1Slice!(start, end) : buf.toString('latin1', start, end);
}

/** Character sets by their (0008,0005) value: a library holds a handful, and decoders are immutable. */
const DEFAULT_CHARSET = new CharacterSet('');
const charsetCache = new Map<string, CharacterSet>();
function charsetFor(value: string): CharacterSet {
  let cs = charsetCache.get(value);
  if (!cs) {
    cs = new CharacterSet(value.split('\\'));
    // A hostile corpus could hold endless distinct values: keep the cache bounded.
    if (charsetCache.size >= 64) charsetCache.clear();
    charsetCache.set(value, cs);
  }
  return cs;
}

/** VRs of the tags we read, for implicit VR datasets. */
const IMPLICIT_VR: Record<number, string> = {
  [Tag.SpecificCharacterSet]: 'CS', [Tag.ImageType]: 'CS', [Tag.SopClassUid]: 'UI', [Tag.SopInstanceUid]: 'UI',
  [Tag.StudyDate]: 'DA', [Tag.SeriesDate]: 'DA', [Tag.ContentDate]: 'DA', [Tag.StudyTime]: 'TM', [Tag.SeriesTime]: 'TM',
  [Tag.AccessionNumber]: 'SH', [Tag.Modality]: 'CS', [Tag.Manufacturer]: 'LO', [Tag.InstitutionName]: 'LO',
  [Tag.ReferringPhysicianName]: 'PN', [Tag.StudyDescription]: 'LO', [Tag.SeriesDescription]: 'LO',
  [Tag.PatientName]: 'PN', [Tag.PatientId]: 'LO', [Tag.IssuerOfPatientId]: 'LO', [Tag.PatientBirthDate]: 'DA',
  [Tag.PatientSex]: 'CS', [Tag.BodyPartExamined]: 'CS', [Tag.SliceThickness]: 'DS', [Tag.ViewPosition]: 'CS',
  [Tag.StudyInstanceUid]: 'UI', [Tag.SeriesInstanceUid]: 'UI', [Tag.StudyId]: 'SH', [Tag.SeriesNumber]: 'IS',
  [Tag.InstanceNumber]: 'IS', [Tag.ImagePositionPatient]: 'DS', [Tag.ImageOrientationPatient]: 'DS',
  [Tag.SliceLocation]: 'DS', [Tag.SamplesPerPixel]: 'US', [Tag.PhotometricInterpretation]: 'CS',
  [Tag.NumberOfFrames]: 'IS', [Tag.Rows]: 'US', [Tag.Columns]: 'US', [Tag.PixelSpacing]: 'DS',
  [Tag.BitsAllocated]: 'US', [Tag.PixelRepresentation]: 'US', [Tag.DirectoryRecordSequence]: 'SQ',
  [Tag.PixelData]: 'OW',
  [Tag.PatientAge]: 'AS', [Tag.AnatomicRegionSequence]: 'SQ', [Tag.CodeValue]: 'SH', [Tag.CodingSchemeDesignator]: 'SH',
  [Tag.CodeMeaning]: 'LO',
  // Sequence of Ultrasound Regions items (PS3.6): Region Spatial Format, Data Type, Location Min X0/Y0, Max X1/Y1.
  // The sequence itself stays unnamed: a defined-length one is skipped at import and its items parsed when asked.
  0x00186012: 'US', 0x00186014: 'US', 0x00186018: 'UL', 0x0018601a: 'UL', 0x0018601c: 'UL', 0x0018601e: 'UL',
  // DICOMDIR record attributes
  0x00041400: 'UL', 0x00041410: 'US', 0x00041420: 'UL', 0x00041430: 'CS', 0x00041500: 'CS',
  0x00041510: 'UI', 0x00041511: 'UI', 0x00041512: 'UI', 0x00041200: 'UL', 0x00041202: 'UL',
};

export function tagString(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** Why a file could not be indexed; `code` is stable, `message` is for people. */
export class DicomParseError extends Error {
  constructor(
    readonly code: 'NOT_DICOM' | 'TRUNCATED' | 'MALFORMED' | 'EMPTY_FILE',
    message: string,
  ) {
    super(message);
    this.name = 'DicomParseError';
  }
}

export interface DicomElement {
  readonly tag: number;
  readonly vr: string;
  /** Offset of the value in the dataset's byte source. */
  readonly offset: number;
  /** Value length; UNDEFINED (0xFFFFFFFF) for undefined-length sequences/pixel data. */
  readonly length: number;
  /** Items of an expanded sequence. */
  readonly items?: DicomDataset[];
}

export interface Encoding {
  explicitVr: boolean;
  littleEndian: boolean;
}

/** A parsed (flat, top-level) dataset with lazy value decoding. */
export class DicomDataset {
  readonly elements = new Map<number, DicomElement>();
  charset: CharacterSet;

  constructor(
    readonly source: ByteSource,
    readonly encoding: Encoding,
    charset?: CharacterSet,
  ) {
    this.charset = charset ?? DEFAULT_CHARSET;
  }

  has(tag: number): boolean {
    return this.elements.has(tag);
  }

  /** The value as a string: text VRs through the character set, trailing padding removed. */
  string(tag: number): string {
    const el = this.elements.get(tag);
    if (!el || el.length === 0 || el.length === UNDEFINED || el.vr === 'SQ') return '';
    const length = Math.min(el.length, MAX_TEXT_BYTES);
    let start = this.source.ensure(el.offset, length);
    const buf = this.source.buffer;
    let end = start + length;
    // Trailing spaces and NULs are padding; leading spaces are insignificant except in ST/LT/UT.
    // Trimmed as bytes: 0x00 and 0x20 never occur inside a multi-byte character of any
    // supported character set, so this equals trimming the decoded text.
    while (end > start && (buf[end - 1] === 0x20 || buf[end - 1] === 0x00)) end--;
    if (el.vr !== 'ST' && el.vr !== 'LT' && el.vr !== 'UT') while (start < end && buf[start] === 0x20) start++;
    if (start === end) return '';
    if (!TEXT_VRS.has(el.vr) && el.vr !== 'UN') return latin1(buf, start, end);
    // ASCII (no ESC) reads the same in every character set.
    let ascii = true;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80 || b === 0x1b) {
        ascii = false;
        break;
      }
    }
    return ascii ? latin1(buf, start, end) : this.charset.decode(buf.subarray(start, end));
  }

  strings(tag: number): string[] {
    const s = this.string(tag);
    return s === '' ? [] : s.split('\\').map((v) => v.trim());
  }

  /** UI values: trailing NUL/space padding removed. */
  uid(tag: number): string {
    const s = this.string(tag);
    // Almost every UID is digits and dots: skip the regular expression unless a character could match it.
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f) return s.replace(/[\0\s]+/g, '');
    }
    return s;
  }

  /** First value of a US/SS/UL/IS/DS element as a number, or null. */
  number(tag: number): number | null {
    const el = this.elements.get(tag);
    if (!el || el.length === 0 || el.length === UNDEFINED) return null;
    const le = this.encoding.littleEndian;
    switch (el.vr) {
      case 'US':
      case 'SS':
      case 'UL':
      case 'SL':
      case 'FL':
      case 'FD': {
        const size = el.vr === 'US' || el.vr === 'SS' ? 2 : el.vr === 'FD' ? 8 : 4;
        if (el.length < size) return null;
        const start = this.source.ensure(el.offset, size);
        const buf = this.source.buffer;
        if (el.vr === 'US') return le ? buf.readUInt16LE(start) : buf.readUInt16BE(start);
        if (el.vr === 'SS') return le ? buf.readInt16LE(start) : buf.readInt16BE(start);
        if (el.vr === 'UL') return le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
        if (el.vr === 'SL') return le ? buf.readInt32LE(start) : buf.readInt32BE(start);
        if (el.vr === 'FL') return le ? buf.readFloatLE(start) : buf.readFloatBE(start);
        return le ? buf.readDoubleLE(start) : buf.readDoubleBE(start);
      }
      default: {
        // The first of the backslash-separated values, as strings(tag)[0] without splitting them all.
        const s = this.string(tag);
        const backslash = s.indexOf('\\');
        const first = (backslash < 0 ? s : s.slice(0, backslash)).trim();
        if (first === '') return null;
        const n = Number(first);
        return Number.isFinite(n) ? n : null;
      }
    }
  }

  numbers(tag: number): number[] | null {
    const values = this.strings(tag).map(Number);
    return values.length > 0 && values.every(Number.isFinite) ? values : null;
  }

  /**
   * An unsigned US/UL value whatever VR the file gave it: a numeric VR is read as such (number); a value recorded as
   * UN (an implicit VR tag this reader does not know, a UN-encoded sequence's item) or as OB/OW by a writer that did
   * not know the tag is read by its length, 2 or 4 bytes, in the dataset's byte order. Null otherwise.
   */
  unsigned(tag: number): number | null {
    const el = this.elements.get(tag);
    if (!el || el.length === 0 || el.length === UNDEFINED) return null;
    if (NUMERIC_VRS.has(el.vr)) return this.number(tag);
    if (el.length !== 2 && el.length !== 4) return null;
    const { buf, start } = this.source.window(el.offset, el.length);
    const le = this.encoding.littleEndian;
    if (el.length === 2) return le ? buf.readUInt16LE(start) : buf.readUInt16BE(start);
    return le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
  }

  /**
   * The element's value bytes, copied (a file source reuses its window buffer); null when absent, empty, of
   * undefined length, or longer than `maxLength` (a caller that knows the most a well-formed value holds need not
   * read a hostile file's huge one whole).
   */
  valueBytes(tag: number, maxLength = Infinity): Uint8Array | null {
    const el = this.elements.get(tag);
    if (!el || el.length === 0 || el.length === UNDEFINED || el.length > maxLength) return null;
    const { buf, start } = this.source.window(el.offset, el.length);
    return Uint8Array.from(buf.subarray(start, start + el.length));
  }
}

/** 16-bit words in the given byte order (US/OW values, or UN ones read by their length). */
export function uint16Words(bytes: Uint8Array, littleEndian: boolean): Uint16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(bytes.byteLength >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(i * 2, littleEndian);
  return out;
}

export interface ReadOptions {
  /** Sequences whose items should be parsed and kept (e.g. DICOMDIR records). */
  expandSequences?: ReadonlySet<number>;
  /**
   * The only top-level elements to record (besides Specific Character Set, the expanded
   * sequences and pixel data); every element is still walked and checked. An indexer that
   * reads a few dozen attributes then builds no map entry for the hundreds it never reads.
   * Default: all of them. Items of expanded sequences always keep every element.
   */
  keepTags?: ReadonlySet<number>;
}

export interface DicomFileInfo {
  meta: DicomDataset | null;
  dataset: DicomDataset;
  transferSyntaxUid: string;
  /** True when the file had no preamble/'DICM' and was read as a bare dataset. */
  bareDataset: boolean;
  pixelData: { offset: number; length: number; encapsulated: boolean } | null;
}

/** A read position in a byte source, with the encoding of the dataset being walked. */
class Cursor {
  pos: number;
  /** Elements walked at the top level (recorded or not), delimiters aside. */
  topLevelElements = 0;
  constructor(
    readonly src: ByteSource,
    readonly enc: Encoding,
    start: number,
  ) {
    this.pos = start;
  }
}

interface ElementHeader {
  tag: number;
  vr: string;
  length: number;
  valueOffset: number;
}

const newHeader = (): ElementHeader => ({ tag: 0, vr: '', length: 0, valueOffset: 0 });

/** Unsigned 32-bit value at buf[at..at+4). */
function u32At(buf: Buffer, at: number, littleEndian: boolean): number {
  return littleEndian
    ? (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000
    : (buf[at + 1]! << 16 | (buf[at + 2]! << 8) | buf[at + 3]!) + buf[at]! * 0x1000000;
}

/**
 * Reads the element header at c.pos into `h` (no allocation) and moves c.pos to its value.
 * Every header form is at least 8 bytes (tag + VR + 16-bit length, tag + 32-bit length),
 * so one window check covers all but the 32-bit length of a long explicit VR.
 */
function readHeader(c: Cursor, h: ElementHeader): void {
  const src = c.src;
  const pos = c.pos;
  const le = c.enc.littleEndian;
  const s = src.ensure(pos, 8);
  const b = src.buffer;
  const group = le ? b[s]! | (b[s + 1]! << 8) : (b[s]! << 8) | b[s + 1]!;
  const element = le ? b[s + 2]! | (b[s + 3]! << 8) : (b[s + 2]! << 8) | b[s + 3]!;
  const tag = ((group << 16) | element) >>> 0;
  h.tag = tag;
  h.valueOffset = pos + 8;
  // Item and delimitation tags never carry a VR, in any transfer syntax.
  if (group === 0xfffe) {
    h.vr = '';
    h.length = u32At(b, s + 4, le);
  } else if (!c.enc.explicitVr) {
    const length = u32At(b, s + 4, le);
    h.length = length;
    h.vr = IMPLICIT_VR[tag] ?? (length === UNDEFINED ? 'SQ' : 'UN');
  } else {
    const code = (b[s + 4]! << 8) | b[s + 5]!;
    const flags = VR_FLAGS[code]!;
    if (flags === 0) {
      // Some writers put an implicit-VR element in an explicit file: the "VR" bytes are the
      // low half of a 4-byte length. Read it that way, as dcmtk and pydicom do.
      h.length = u32At(b, s + 4, le);
      h.vr = IMPLICIT_VR[tag] ?? 'UN';
    } else if (flags & VR_LONG) {
      // 2 reserved bytes, then a 32-bit length.
      h.vr = VR_NAMES.get(code)!;
      h.length = u32At(src.buffer, src.ensure(pos + 8, 4), le);
      h.valueOffset = pos + 12;
    } else {
      h.vr = VR_NAMES.get(code)!;
      h.length = le ? b[s + 6]! | (b[s + 7]! << 8) : (b[s + 6]! << 8) | b[s + 7]!;
    }
  }
  c.pos = h.valueOffset;
}

export const IMPLICIT_LE: Encoding = { explicitVr: false, littleEndian: true };

/**
 * Skips (or parses, when `into` is given) the items of a sequence starting at c.pos.
 * Handles defined and undefined lengths, nested to any depth.
 */
function readSequence(c: Cursor, length: number, enc: Encoding, opts: ReadOptions, into?: DicomDataset[], charset?: CharacterSet): void {
  const end = length === UNDEFINED ? Infinity : c.pos + length;
  if (end !== Infinity && end > c.src.size) throw new OutOfBoundsError(c.pos, length, c.src.size);
  const ic = new Cursor(c.src, enc, c.pos);
  const h = newHeader();
  while (ic.pos < end) {
    // A missing sequence delimiter exactly at the end of the file is tolerated (as dcmtk does).
    if (end === Infinity && ic.pos === c.src.size) break;
    readHeader(ic, h);
    const tag = h.tag;
    const itemLength = h.length;
    if (tag === Tag.SequenceDelimitation) break;
    if (tag !== Tag.Item) {
      throw new DicomParseError('MALFORMED', `expected an item tag in a sequence at byte ${ic.pos - 8}, found ${tagString(tag)}`);
    }
    if (into) {
      const item = new DicomDataset(c.src, enc, charset);
      readElements(ic, itemLength === UNDEFINED ? Infinity : ic.pos + itemLength, item, opts, true);
      into.push(item);
    } else if (itemLength === UNDEFINED) {
      readElements(ic, Infinity, null, opts, true);
    } else {
      if (ic.pos + itemLength > c.src.size) throw new OutOfBoundsError(ic.pos, itemLength, c.src.size);
      ic.pos += itemLength;
    }
  }
  c.pos = end === Infinity ? ic.pos : end;
}

/**
 * The items of a sequence element, also when it was indexed without them (its tag not in
 * `expandSequences`): they are then parsed from its value on demand. A sequence an implicit VR
 * dataset does not name (defined length, tag not in IMPLICIT_VR) is indexed as UN; a UN sequence's
 * items are Implicit VR Little Endian (PS3.5 6.2.2). Null when the element is absent or no sequence.
 * Throws DicomParseError on items that are not well formed.
 */
export function sequenceItems(ds: DicomDataset, tag: number): DicomDataset[] | null {
  const el = ds.elements.get(tag);
  if (!el) return null;
  if (el.items) return el.items;
  if (el.vr !== 'SQ' && el.vr !== 'UN') return null;
  const enc = el.vr === 'UN' ? IMPLICIT_LE : ds.encoding;
  const items: DicomDataset[] = [];
  try {
    readSequence(new Cursor(ds.source, enc, el.offset), el.length, enc, {}, items, ds.charset);
  } catch (err) {
    if (err instanceof OutOfBoundsError || err instanceof RangeError) throw new DicomParseError('MALFORMED', `sequence ${tagString(tag)} runs past its value: ${err.message}`);
    throw err;
  }
  return items;
}

/**
 * Reads elements until `end`, an item delimiter (inside items) or pixel data (top level).
 * Returns the pixel data header when it stopped there.
 */
function readElements(c: Cursor, end: number, into: DicomDataset | null, opts: ReadOptions, inItem: boolean): ElementHeader | null {
  // One header per call, reused for every element (nested sequences get their own).
  const h = newHeader();
  const keep = inItem ? null : (opts.keepTags ?? null);
  while (c.pos < end) {
    // End of file at an element boundary ends the dataset; inside an undefined-length
    // item it is a missing delimiter, tolerated as dcmtk does.
    if (c.pos === c.src.size) break;
    readHeader(c, h);
    const tag = h.tag;
    const vr = h.vr;
    const length = h.length;
    const valueOffset = h.valueOffset;
    if (tag === Tag.ItemDelimitation) {
      if (inItem) return null;
      continue; // stray delimiter at top level: tolerated
    }
    if (tag === Tag.SequenceDelimitation && !inItem) continue;
    if (!inItem && (tag === Tag.PixelData || tag === Tag.FloatPixelData || tag === Tag.DoubleFloatPixelData)) {
      return h;
    }
    if (!inItem) c.topLevelElements++;
    if (vr === 'SQ' || (length === UNDEFINED && (vr === 'UN' || vr === 'OB' || vr === 'OW' || !c.enc.explicitVr))) {
      // Undefined-length UN is a sequence encoded as implicit VR little endian (PS3.5 6.2.2).
      const seqEnc = vr === 'UN' ? IMPLICIT_LE : c.enc;
      const expand = into !== null && (opts.expandSequences?.has(tag) ?? false);
      const items: DicomDataset[] | undefined = expand ? [] : undefined;
      readSequence(c, length, seqEnc, opts, items, into?.charset);
      if (into && (expand || keep === null || keep.has(tag)) && !into.elements.has(tag)) into.elements.set(tag, { tag, vr: 'SQ', offset: valueOffset, length, items });
      continue;
    }
    if (length === UNDEFINED) {
      throw new DicomParseError('MALFORMED', `element ${tagString(tag)} (${vr}) has an undefined length`);
    }
    if (valueOffset + length > c.src.size) throw new OutOfBoundsError(valueOffset, length, c.src.size);
    if (into && (keep === null || keep.has(tag) || tag === Tag.SpecificCharacterSet) && !into.elements.has(tag)) {
      into.elements.set(tag, { tag, vr, offset: valueOffset, length });
      if (tag === Tag.SpecificCharacterSet) into.charset = charsetFor(into.string(Tag.SpecificCharacterSet));
    }
    c.pos = valueOffset + length;
  }
  return null;
}

/** Walks encapsulated pixel data fragments to prove they are all present. */
function checkEncapsulated(src: ByteSource, start: number): number {
  let pos = start;
  for (;;) {
    // Item headers are always little endian: tag (group, element) and a 32-bit length.
    const s = src.ensure(pos, 8);
    const b = src.buffer;
    const tag = (((b[s]! | (b[s + 1]! << 8)) << 16) | b[s + 2]! | (b[s + 3]! << 8)) >>> 0;
    const length = u32At(b, s + 4, true);
    pos += 8;
    if (tag === Tag.SequenceDelimitation) return pos - start;
    if (tag !== Tag.Item) throw new DicomParseError('MALFORMED', `encapsulated pixel data: expected an item at byte ${pos - 8}, found ${tagString(tag)}`);
    if (length === UNDEFINED) throw new DicomParseError('MALFORMED', 'encapsulated pixel data: fragment with undefined length');
    if (pos + length > src.size) throw new OutOfBoundsError(pos, length, src.size);
    pos += length;
  }
}

/** Guesses the encoding of a dataset that starts at `offset` with no file meta. */
function sniffBareDataset(src: ByteSource, offset: number): Encoding | null {
  if (src.size - offset < 8) return null;
  const { buf, start } = src.window(offset, 8);
  const vr = String.fromCharCode(buf[start + 4]!, buf[start + 5]!);
  const groupLE = buf.readUInt16LE(start);
  const groupBE = buf.readUInt16BE(start);
  // Bare datasets start with a low group (0002/0008/0010...). Anything else is not DICOM.
  const plausible = (g: number) => g >= 0x0002 && g <= 0x0028 && g % 2 === 0;
  if (KNOWN_VRS.has(vr)) {
    if (plausible(groupLE)) return { explicitVr: true, littleEndian: true };
    if (plausible(groupBE)) return { explicitVr: true, littleEndian: false };
    return null;
  }
  if (plausible(groupLE)) {
    const length = buf.readUInt32LE(start + 4);
    if (length !== UNDEFINED && offset + 8 + length <= src.size) return IMPLICIT_LE;
  }
  return null;
}

export function readDicom(source: ByteSource, opts: ReadOptions = {}): DicomFileInfo {
  if (source.size === 0) throw new DicomParseError('EMPTY_FILE', 'the file is empty');
  try {
    return readDicomUnchecked(source, opts);
  } catch (err) {
    if (err instanceof OutOfBoundsError) {
      throw new DicomParseError('TRUNCATED', `the file is truncated: an element at byte ${err.offset} needs ${err.length} bytes but the file ends at byte ${source.size}`);
    }
    if (err instanceof RangeError) throw new DicomParseError('MALFORMED', `malformed DICOM: ${err.message}`);
    throw err;
  }
}

function readDicomUnchecked(source: ByteSource, opts: ReadOptions): DicomFileInfo {
  let meta: DicomDataset | null = null;
  let datasetStart = 0;
  let transferSyntaxUid = '';
  let bareDataset = false;

  let hasPreamble = false;
  if (source.size >= 132) {
    const at = source.ensure(128, 4);
    const b = source.buffer;
    hasPreamble = b[at] === 0x44 && b[at + 1] === 0x49 && b[at + 2] === 0x43 && b[at + 3] === 0x4d; // "DICM"
  }
  let metaStart = hasPreamble ? 132 : -1;
  if (!hasPreamble && source.size >= 8) {
    // Meta information without the preamble (seen from some writers).
    const { buf, start } = source.window(0, 6);
    if (buf.readUInt16LE(start) === 0x0002 && KNOWN_VRS.has(String.fromCharCode(buf[start + 4]!, buf[start + 5]!))) metaStart = 0;
  }

  if (metaStart >= 0) {
    meta = new DicomDataset(source, { explicitVr: true, littleEndian: true });
    const c = new Cursor(source, meta.encoding, metaStart);
    const h = newHeader();
    // Read group 0002 only; the group length tells where it ends, but trust the tags.
    while (c.pos + 8 <= source.size) {
      const at = source.ensure(c.pos, 2);
      const b = source.buffer;
      if ((b[at]! | (b[at + 1]! << 8)) !== 0x0002) break;
      readHeader(c, h);
      if (h.length === UNDEFINED) throw new DicomParseError('MALFORMED', 'file meta information has an undefined-length element');
      if (h.valueOffset + h.length > source.size) throw new OutOfBoundsError(h.valueOffset, h.length, source.size);
      if (!meta.elements.has(h.tag)) meta.elements.set(h.tag, { tag: h.tag, vr: h.vr, offset: h.valueOffset, length: h.length });
      c.pos = h.valueOffset + h.length;
    }
    datasetStart = c.pos;
    transferSyntaxUid = meta.uid(Tag.TransferSyntaxUid);
  } else {
    bareDataset = true;
  }

  let enc: Encoding;
  if (transferSyntaxUid) {
    const e = encodingOf(transferSyntaxUid);
    enc = { explicitVr: e.explicitVr, littleEndian: e.littleEndian };
    // A wrong declared syntax is common: check the first element and fall back to what it looks like.
    const sniffed = sniffBareDataset(source, datasetStart);
    if (sniffed && !e.deflated && (sniffed.explicitVr !== enc.explicitVr || sniffed.littleEndian !== enc.littleEndian)) enc = sniffed;
  } else {
    const sniffed = sniffBareDataset(source, datasetStart);
    if (!sniffed) {
      if (meta) throw new DicomParseError('MALFORMED', 'the file meta information has no Transfer Syntax UID and the dataset is unreadable');
      throw new DicomParseError('NOT_DICOM', 'not a DICOM file: no "DICM" marker and no recognisable DICOM dataset');
    }
    enc = sniffed;
    transferSyntaxUid = enc.explicitVr ? (enc.littleEndian ? TS.ExplicitVrLittleEndian : TS.ExplicitVrBigEndian) : TS.ImplicitVrLittleEndian;
  }

  let dataSource = source;
  if (transferSyntaxUid === TS.DeflatedExplicitVrLittleEndian) {
    const { buf, start } = source.window(datasetStart, source.size - datasetStart);
    try {
      dataSource = new BufferByteSource(inflateRawSync(buf.subarray(start, start + source.size - datasetStart)));
    } catch (err) {
      throw new DicomParseError('MALFORMED', `deflated dataset could not be inflated: ${(err as Error).message}`);
    }
    datasetStart = 0;
  }

  const dataset = new DicomDataset(dataSource, enc);
  const c = new Cursor(dataSource, enc, datasetStart);
  const pixelHeader = readElements(c, Infinity, dataset, opts, false);
  let pixelData: DicomFileInfo['pixelData'] = null;
  if (pixelHeader) {
    if (pixelHeader.length === UNDEFINED) {
      const length = checkEncapsulated(dataSource, pixelHeader.valueOffset);
      pixelData = { offset: pixelHeader.valueOffset, length, encapsulated: true };
    } else {
      if (pixelHeader.valueOffset + pixelHeader.length > dataSource.size) {
        throw new DicomParseError(
          'TRUNCATED',
          `the file is truncated: Pixel Data declares ${pixelHeader.length} bytes but only ${dataSource.size - pixelHeader.valueOffset} remain`,
        );
      }
      pixelData = { offset: pixelHeader.valueOffset, length: pixelHeader.length, encapsulated: false };
    }
    dataset.elements.set(pixelHeader.tag, { tag: pixelHeader.tag, vr: pixelHeader.vr, offset: pixelHeader.valueOffset, length: pixelHeader.length });
  }
  if (dataset.elements.size === 0 && c.topLevelElements === 0) throw new DicomParseError('MALFORMED', 'the file has DICOM file meta information but an empty dataset');
  return { meta, dataset, transferSyntaxUid, bareDataset, pixelData };
}
