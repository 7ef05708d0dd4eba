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
  PixelData: 0x7fe00010,
  FloatPixelData: 0x7fe00008,
  DoubleFloatPixelData: 0x7fe00009,
  Item: 0xfffee000,
  ItemDelimitation: 0xfffee00d,
  SequenceDelimitation: 0xfffee0dd,
} as const;

const UNDEFINED = 0xffffffff;
/** Text values are read up to this size; the index keeps far less anyway. */
const MAX_TEXT_BYTES = 64 * 1024;
/** VRs whose explicit encoding has a 2-byte reserved field and a 4-byte length. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const KNOWN_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'PN', 'SH',
  'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]);
/** Text VRs decoded with the Specific Character Set; every other string VR is ASCII. */
const TEXT_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'PN', 'UC', 'UT']);

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
    this.charset = charset ?? new CharacterSet('');
  }

  has(tag: number): boolean {
    return this.elements.has(tag);
  }

  /** Reads at most `max` bytes of a value: a hostile 1 GB "name" must not be loaded whole. */
  private bytes(el: DicomElement, max = MAX_TEXT_BYTES): Uint8Array {
    if (el.length === UNDEFINED || el.length === 0) return new Uint8Array(0);
    const length = Math.min(el.length, max);
    const { buf, start } = this.source.window(el.offset, length);
    return buf.subarray(start, start + length);
  }

  /** The value as a string: text VRs through the character set, trailing padding removed. */
  string(tag: number): string {
    const el = this.elements.get(tag);
    if (!el || el.length === 0 || el.length === UNDEFINED || el.vr === 'SQ') return '';
    const bytes = this.bytes(el);
    const text = TEXT_VRS.has(el.vr) || el.vr === 'UN' ? this.charset.decode(bytes) : latin1(bytes);
    // Trailing spaces and NULs are padding; leading spaces are insignificant except in ST/LT/UT.
    const trimmed = text.replace(/[\0 ]+$/, '');
    return el.vr === 'ST' || el.vr === 'LT' || el.vr === 'UT' ? trimmed : trimmed.replace(/^ +/, '');
  }

  strings(tag: number): string[] {
    const s = this.string(tag);
    return s === '' ? [] : s.split('\\').map((v) => v.trim());
  }

  /** UI values: trailing NUL/space padding removed. */
  uid(tag: number): string {
    return this.string(tag).replace(/[\0\s]+/g, '');
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
        const { buf, start } = this.source.window(el.offset, size);
        if (el.vr === 'US') return le ? buf.readUInt16LE(start) : buf.readUInt16BE(start);
        if (el.vr === 'SS') return le ? buf.readInt16LE(start) : buf.readInt16BE(start);
        if (el.vr === 'UL') return le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
        if (el.vr === 'SL') return le ? buf.readInt32LE(start) : buf.readInt32BE(start);
        if (el.vr === 'FL') return le ? buf.readFloatLE(start) : buf.readFloatBE(start);
        return le ? buf.readDoubleLE(start) : buf.readDoubleBE(start);
      }
      default: {
        const first = this.strings(tag)[0];
        if (first === undefined || first === '') return null;
        const n = Number(first);
        return Number.isFinite(n) ? n : null;
      }
    }
  }

  numbers(tag: number): number[] | null {
    const values = this.strings(tag).map(Number);
    return values.length > 0 && values.every(Number.isFinite) ? values : null;
  }
}

function latin1(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1');
}

export interface ReadOptions {
  /** Sequences whose items should be parsed and kept (e.g. DICOMDIR records). */
  expandSequences?: ReadonlySet<number>;
}

export interface DicomFileInfo {
  meta: DicomDataset | null;
  dataset: DicomDataset;
  transferSyntaxUid: string;
  /** True when the file had no preamble/'DICM' and was read as a bare dataset. */
  bareDataset: boolean;
  pixelData: { offset: number; length: number; encapsulated: boolean } | null;
}

class Cursor {
  pos: number;
  constructor(
    readonly src: ByteSource,
    readonly enc: Encoding,
    start: number,
  ) {
    this.pos = start;
  }
  u16(): number {
    const start = this.src.ensure(this.pos, 2);
    const buf = this.src.buffer;
    this.pos += 2;
    return this.enc.littleEndian ? buf[start]! | (buf[start + 1]! << 8) : (buf[start]! << 8) | buf[start + 1]!;
  }
  u32(): number {
    const start = this.src.ensure(this.pos, 4);
    const buf = this.src.buffer;
    this.pos += 4;
    return this.enc.littleEndian ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
  }
  tag(): number {
    const group = this.u16();
    const element = this.u16();
    return ((group << 16) | element) >>> 0;
  }
  vr(): string {
    const start = this.src.ensure(this.pos, 2);
    const buf = this.src.buffer;
    this.pos += 2;
    return String.fromCharCode(buf[start]!, buf[start + 1]!);
  }
}

interface ElementHeader {
  tag: number;
  vr: string;
  length: number;
  valueOffset: number;
}

function readHeader(c: Cursor): ElementHeader {
  const tag = c.tag();
  // Item and delimitation tags never carry a VR, in any transfer syntax.
  if (tag >>> 16 === 0xfffe) {
    const length = c.u32();
    return { tag, vr: '', length, valueOffset: c.pos };
  }
  if (!c.enc.explicitVr) {
    const length = c.u32();
    return { tag, vr: IMPLICIT_VR[tag] ?? (length === UNDEFINED ? 'SQ' : 'UN'), length, valueOffset: c.pos };
  }
  const vr = c.vr();
  if (!KNOWN_VRS.has(vr)) {
    // Some writers put an implicit-VR element in an explicit file: the "VR" bytes are the
    // low half of a 4-byte length. Read it that way, as dcmtk and pydicom do.
    c.pos -= 2;
    const length = c.u32();
    return { tag, vr: IMPLICIT_VR[tag] ?? 'UN', length, valueOffset: c.pos };
  }
  if (LONG_VRS.has(vr)) {
    c.pos += 2; // reserved
    const length = c.u32();
    return { tag, vr, length, valueOffset: c.pos };
  }
  const length = c.u16();
  return { tag, vr, length, valueOffset: c.pos };
}

const IMPLICIT_LE: Encoding = { explicitVr: false, littleEndian: true };

/**
 * Skips (or parses, when `into` is given) the items of a sequence starting at c.pos.
 * Handles defined and undefined lengths, nested to any depth.
 */
function readSequence(c: Cursor, length: number, enc: Encoding, opts: ReadOptions, into?: DicomDataset[], charset?: CharacterSet): void {
  const end = length === UNDEFINED ? Infinity : c.pos + length;
  if (end !== Infinity && end > c.src.size) throw new OutOfBoundsError(c.pos, length, c.src.size);
  const ic = new Cursor(c.src, enc, c.pos);
  while (ic.pos < end) {
    // A missing sequence delimiter exactly at the end of the file is tolerated (as dcmtk does).
    if (end === Infinity && ic.pos === c.src.size) break;
    const tag = ic.tag();
    const itemLength = ic.u32();
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
 * Reads elements until `end`, an item delimiter (inside items) or pixel data (top level).
 * Returns the pixel data header when it stopped there.
 */
function readElements(c: Cursor, end: number, into: DicomDataset | null, opts: ReadOptions, inItem: boolean): ElementHeader | null {
  while (c.pos < end) {
    // End of file at an element boundary ends the dataset; inside an undefined-length
    // item it is a missing delimiter, tolerated as dcmtk does.
    if (c.pos === c.src.size) break;
    const h = readHeader(c);
    if (h.tag === Tag.ItemDelimitation) {
      if (inItem) return null;
      continue; // stray delimiter at top level: tolerated
    }
    if (h.tag === Tag.SequenceDelimitation && !inItem) continue;
    if (!inItem && (h.tag === Tag.PixelData || h.tag === Tag.FloatPixelData || h.tag === Tag.DoubleFloatPixelData)) {
      return h;
    }
    if (h.vr === 'SQ' || (h.length === UNDEFINED && (h.vr === 'UN' || h.vr === 'OB' || h.vr === 'OW' || !c.enc.explicitVr))) {
      // Undefined-length UN is a sequence encoded as implicit VR little endian (PS3.5 6.2.2).
      const seqEnc = h.vr === 'UN' ? IMPLICIT_LE : c.enc;
      const expand = into !== null && (opts.expandSequences?.has(h.tag) ?? false);
      const items: DicomDataset[] | undefined = expand ? [] : undefined;
      readSequence(c, h.length, seqEnc, opts, items, into?.charset);
      if (into && !into.elements.has(h.tag)) into.elements.set(h.tag, { tag: h.tag, vr: 'SQ', offset: h.valueOffset, length: h.length, items });
      continue;
    }
    if (h.length === UNDEFINED) {
      throw new DicomParseError('MALFORMED', `element ${tagString(h.tag)} (${h.vr}) has an undefined length`);
    }
    if (h.valueOffset + h.length > c.src.size) throw new OutOfBoundsError(h.valueOffset, h.length, c.src.size);
    if (into && !into.elements.has(h.tag)) {
      into.elements.set(h.tag, { tag: h.tag, vr: h.vr, offset: h.valueOffset, length: h.length });
      if (h.tag === Tag.SpecificCharacterSet) into.charset = new CharacterSet(into.string(Tag.SpecificCharacterSet).split('\\'));
    }
    c.pos = h.valueOffset + h.length;
  }
  return null;
}

/** Walks encapsulated pixel data fragments to prove they are all present. */
function checkEncapsulated(src: ByteSource, start: number): number {
  const c = new Cursor(src, { explicitVr: true, littleEndian: true }, start);
  for (;;) {
    const tag = c.tag();
    const length = c.u32();
    if (tag === Tag.SequenceDelimitation) return c.pos - start;
    if (tag !== Tag.Item) throw new DicomParseError('MALFORMED', `encapsulated pixel data: expected an item at byte ${c.pos - 8}, found ${tagString(tag)}`);
    if (length === UNDEFINED) throw new DicomParseError('MALFORMED', 'encapsulated pixel data: fragment with undefined length');
    if (c.pos + length > src.size) throw new OutOfBoundsError(c.pos, length, src.size);
    c.pos += length;
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

  const hasPreamble = source.size >= 132 && latin1(sliceOf(source, 128, 4)) === 'DICM';
  let metaStart = hasPreamble ? 132 : -1;
  if (!hasPreamble && source.size >= 8) {
    // Meta information without the preamble (seen from some writers).
    const { buf, start } = source.window(0, 6);
    if (buf.readUInt16LE(start) === 0x0002 && KNOWN_VRS.has(String.fromCharCode(buf[start + 4]!, buf[start + 5]!))) metaStart = 0;
  }

  if (metaStart >= 0) {
    meta = new DicomDataset(source, { explicitVr: true, littleEndian: true });
    const c = new Cursor(source, meta.encoding, metaStart);
    // Read group 0002 only; the group length tells where it ends, but trust the tags.
    while (c.pos + 8 <= source.size) {
      const { buf, start } = source.window(c.pos, 2);
      if (buf.readUInt16LE(start) !== 0x0002) break;
      const h = readHeader(c);
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
  if (dataset.elements.size === 0) throw new DicomParseError('MALFORMED', 'the file has DICOM file meta information but an empty dataset');
  return { meta, dataset, transferSyntaxUid, bareDataset, pixelData };
}

function sliceOf(src: ByteSource, offset: number, length: number): Uint8Array {
  const { buf, start } = src.window(offset, length);
  return buf.subarray(start, start + length);
}
