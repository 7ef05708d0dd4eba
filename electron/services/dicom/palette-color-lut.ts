/**
 * PALETTE COLOR (PS3.3 C.7.6.3.1.5, C.7.6.3.1.6, C.7.9): the Red/Green/Blue
 * Palette Color Lookup Tables, plain or segmented, folded into one luminance
 * table (0.299 R + 0.587 G + 0.114 B, as PIL's convert('L')) so the AI pipeline
 * maps each stored index straight to the grey value the model expects.
 */
import { type DicomDataset, uint16Words } from './dicom-dataset-reader';

/** Why a palette cannot be used; the decoder reports it as an unsupported pixel format. */
export class PaletteLutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaletteLutError';
  }
}

const DESCRIPTOR = [0x00281101, 0x00281102, 0x00281103] as const;
const DATA = [0x00281201, 0x00281202, 0x00281203] as const;
const SEGMENTED_DATA = [0x00281221, 0x00281222, 0x00281223] as const;
const CHANNEL = ['Red', 'Green', 'Blue'] as const;
const LUMA = [0.299, 0.587, 0.114] as const;

export interface PaletteLuminance {
  /** Stored value mapped by entry 0; lower values map to entry 0 too, higher ones to the last entry. */
  firstMapped: number;
  /** Luminance per entry, on the 8-bit scale (16-bit entries divided by 256, their high byte, as viewers render them, unless none exceeds 255). */
  luminance: Float32Array;
}

interface Descriptor {
  entries: number;
  firstMapped: number;
  bitsPerEntry: 8 | 16;
}

/** (0028,1101-1103): entries (0 means 65536), first mapped value (SS when Pixel Representation is 1), bits per entry. */
function descriptor(ds: DicomDataset, channel: number, signedPixels: boolean): Descriptor {
  const bytes = ds.valueBytes(DESCRIPTOR[channel]!);
  if (!bytes || bytes.length < 6) throw new PaletteLutError(`PALETTE COLOR without a ${CHANNEL[channel]} Palette Color Lookup Table Descriptor`);
  const [entries, first, bits] = uint16Words(bytes, ds.encoding.littleEndian);
  if (bits !== 8 && bits !== 16) throw new PaletteLutError(`${CHANNEL[channel]} Palette Color Lookup Table has ${bits} bits per entry (8 or 16 allowed)`);
  return { entries: entries === 0 ? 65536 : entries!, firstMapped: signedPixels ? (first! << 16) >> 16 : first!, bitsPerEntry: bits };
}

/**
 * Expands Segmented Palette Color Lookup Table Data (PS3.3 C.7.9.2): discrete
 * (opcode 0), linear (1) and indirect (2) segments over 16-bit words. An
 * indirect segment's offset counts entries of the segmented data, as GDCM and
 * pydicom read it. Returns exactly `entries` values (the display path serves them as plain LUT data).
 */
export function expandSegmentedLut(data: Uint16Array, entries: number): Uint16Array {
  const lut: number[] = [];
  // Empty segments add nothing and indirect ones re-run up to 65,535 segments each: a hostile table could
  // keep the loop busy for minutes without growing the output. A real table visits about one segment per
  // word plus one per entry it produces.
  let visitsLeft = data.length + entries + 16;
  const expand = (start: number, maxSegments: number): void => {
    let p = start;
    let segments = 0;
    // p + 1 < length: a trailing pad word is not a segment.
    while (p + 1 < data.length && segments < maxSegments) {
      if (--visitsLeft < 0) throw new PaletteLutError('a segmented palette has more segments than its data and entries allow (malformed)');
      const opcode = data[p]!;
      const length = data[p + 1]!;
      p += 2;
      if (opcode === 0) {
        if (p + length > data.length) throw new PaletteLutError('a discrete segment of a segmented palette runs past its data');
        for (let i = 0; i < length; i++) lut.push(data[p + i]!);
        p += length;
      } else if (opcode === 1) {
        if (lut.length === 0) throw new PaletteLutError('a segmented palette starts with a linear segment');
        if (p >= data.length) throw new PaletteLutError('a linear segment of a segmented palette has no end value');
        const y0 = lut[lut.length - 1]!;
        const y1 = data[p++]!;
        for (let i = 1; i <= length; i++) lut.push(Math.round(y0 + ((y1 - y0) * i) / length));
      } else if (opcode === 2) {
        if (lut.length === 0) throw new PaletteLutError('a segmented palette starts with an indirect segment');
        if (maxSegments !== Infinity) throw new PaletteLutError('a segmented palette has an indirect segment inside an indirect segment');
        if (p + 1 >= data.length) throw new PaletteLutError('an indirect segment of a segmented palette has no offset');
        const offset = data[p]! | (data[p + 1]! << 16); // least significant word first
        p += 2;
        expand(offset, length);
      } else {
        throw new PaletteLutError(`a segmented palette has an unknown segment type ${opcode}`);
      }
      segments++;
      // Entries past the descriptor's count are never indexed (indices clamp to the last entry): drop them, as viewers do.
      if (lut.length >= entries) break;
    }
  };
  expand(0, Infinity);
  if (lut.length === 0) throw new PaletteLutError('a segmented palette expands to no entries');
  // Exactly `entries` values: a shorter table repeats its last entry, as indices past the end of a table do.
  const out = new Uint16Array(entries);
  for (let i = 0; i < entries; i++) out[i] = lut[Math.min(i, lut.length - 1)]!;
  return out;
}

/** One channel's entries as stored (8- or 16-bit values), `d.entries` of them. */
function channelLut(ds: DicomDataset, channel: number, d: Descriptor): Float32Array {
  const le = ds.encoding.littleEndian;
  const plain = ds.valueBytes(DATA[channel]!);
  let values: ArrayLike<number>;
  if (plain) {
    // PS3.3 C.7.6.3.1.5 note: 8-bit entries are sometimes stored one per 16-bit word; the value length tells which.
    if (d.bitsPerEntry === 8 && plain.length < 2 * d.entries) values = plain;
    else values = uint16Words(plain, le);
    if (values.length < d.entries) throw new PaletteLutError(`${CHANNEL[channel]} Palette Color Lookup Table Data holds ${values.length} of ${d.entries} entries`);
  } else {
    const segmented = ds.valueBytes(SEGMENTED_DATA[channel]!);
    if (!segmented) throw new PaletteLutError(`PALETTE COLOR without ${CHANNEL[channel]} Palette Color Lookup Table Data`);
    if (d.bitsPerEntry !== 16) throw new PaletteLutError('segmented palettes with 8-bit entries are not supported by the AI pipeline');
    values = expandSegmentedLut(uint16Words(segmented, le), d.entries);
  }
  // Plain tables hold at least `entries` values (checked above); segmented ones expand to exactly that many.
  return Float32Array.from({ length: d.entries }, (_, i) => values[i]!);
}

/** The palette of an image (Pixel Representation `signedPixels`), folded to luminance. */
export function paletteLuminance(ds: DicomDataset, signedPixels: boolean): PaletteLuminance {
  const descriptors = [0, 1, 2].map((c) => descriptor(ds, c, signedPixels));
  const [red] = descriptors;
  if (descriptors.some((d) => d.entries !== red!.entries || d.firstMapped !== red!.firstMapped)) {
    throw new PaletteLutError('the Red, Green and Blue Palette Color Lookup Table Descriptors differ in entries or first mapped value');
  }
  const luts = descriptors.map((d, c) => channelLut(ds, c, d));
  // 16-bit entries go to the 8-bit scale by their high byte, unless no entry of any 16-bit table exceeds 255:
  // some writers declare 16 bits and store 8-bit values, which would turn black. (Cornerstone decides from the
  // red table alone, dcmtk per table from the high and low bytes; all agree on real palettes.)
  const wide = luts.some((lut, c) => descriptors[c]!.bitsPerEntry === 16 && lut.some((v) => v > 255));
  const luminance = new Float32Array(red!.entries);
  luts.forEach((lut, c) => {
    const weight = LUMA[c]! * (wide && descriptors[c]!.bitsPerEntry === 16 ? 1 / 256 : 1);
    for (let i = 0; i < luminance.length; i++) luminance[i] = luminance[i]! + weight * lut[i]!;
  });
  return { firstMapped: red!.firstMapped, luminance };
}

/** Replaces stored values (indices) in place by their palette luminance, clamping to the first and last entries. */
export function applyPaletteLuminance(values: Float32Array, palette: PaletteLuminance): void {
  const { firstMapped, luminance } = palette;
  const last = luminance.length - 1;
  for (let i = 0; i < values.length; i++) {
    const index = values[i]! - firstMapped;
    values[i] = luminance[index <= 0 ? 0 : index >= last ? last : index]!;
  }
}
