/**
 * Colour in the AI pixel decoder, on synthetic files: PALETTE COLOR through
 * its Red/Green/Blue LUTs (16-bit and 8-bit entries, a first mapped value,
 * clamping, implicit VR and big endian, segmented LUTs), native YBR_FULL
 * (both planar configurations) and YBR_FULL_422 (Y1 Y2 Cb Cr) and RLE
 * YBR_FULL to their Y, and clear refusals for the other colour models.
 */
import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { expandSegmentedLut } from '../../electron/services/dicom/palette-color-lut';
import { decodeImage, PixelDecodeError } from '../../electron/services/dicom/pixel-decoder';
import { rleFrame } from '../fixtures/rle-encoder';
import { type DicomElementSpec, encodeElements, filePreambleAndMeta, type TransferSyntax } from '../fixtures/synthetic-dicom';

const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const RLE = '1.2.840.10008.1.2.5';

interface ColourSpec {
  rows: number;
  columns: number;
  samples: number;
  photometric: string;
  bitsAllocated?: number;
  pixelRepresentation?: number;
  planar?: number;
  /** Pixel Data exactly as stored (native: in the syntax's byte order; RLE: one encoded frame). */
  pixelData: Uint8Array;
  transferSyntax?: TransferSyntax;
  extra?: DicomElementSpec[];
}

/** A Part-10 ultrasound image with the given Image Pixel module (syntheticDicom writes grey-scale only). */
function colourDicom(spec: ColourSpec): Buffer {
  const ts = spec.transferSyntax ?? EXPLICIT_LE;
  const le = ts !== EXPLICIT_BE;
  const explicit = ts !== IMPLICIT_LE;
  const bits = spec.bitsAllocated ?? 8;
  const sop = '1.2.826.0.1.3680043.10.1138.77.1';
  const elements: DicomElementSpec[] = [
    { tag: 0x00080016, vr: 'UI', value: US_IMAGE_STORAGE },
    { tag: 0x00080018, vr: 'UI', value: sop },
    { tag: 0x00080060, vr: 'CS', value: 'US' },
    { tag: 0x00280002, vr: 'US', value: spec.samples },
    { tag: 0x00280004, vr: 'CS', value: spec.photometric },
    ...(spec.samples > 1 ? [{ tag: 0x00280006, vr: 'US', value: spec.planar ?? 0 }] : []),
    { tag: 0x00280010, vr: 'US', value: spec.rows },
    { tag: 0x00280011, vr: 'US', value: spec.columns },
    { tag: 0x00280100, vr: 'US', value: bits },
    { tag: 0x00280101, vr: 'US', value: bits },
    { tag: 0x00280102, vr: 'US', value: bits - 1 },
    { tag: 0x00280103, vr: 'US', value: spec.pixelRepresentation ?? 0 },
    ...(spec.extra ?? []),
  ];
  let pixelElement: Buffer;
  if (ts === RLE) {
    const fragment = spec.pixelData.length % 2 ? Buffer.concat([spec.pixelData, Buffer.from([0])]) : Buffer.from(spec.pixelData);
    const header = (group: number, element: number, length: number) => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(group, 0);
      b.writeUInt16LE(element, 2);
      b.writeUInt32LE(length, 4);
      return b;
    };
    pixelElement = Buffer.concat([
      Buffer.from([0xe0, 0x7f, 0x10, 0x00]), Buffer.from('OB'), Buffer.alloc(2), Buffer.from([0xff, 0xff, 0xff, 0xff]),
      header(0xfffe, 0xe000, 0), header(0xfffe, 0xe000, fragment.length), fragment, header(0xfffe, 0xe0dd, 0),
    ]);
  } else {
    pixelElement = encodeElements([{ tag: 0x7fe00010, vr: bits > 8 ? 'OW' : 'OB', value: spec.pixelData }], explicit, le);
  }
  return Buffer.concat([filePreambleAndMeta(US_IMAGE_STORAGE, sop, ts), encodeElements(elements, explicit, le), pixelElement]);
}

const decode = (buf: Buffer) => decodeImage(readDicom(new BufferByteSource(buf)));

/** 16-bit words as bytes in the given byte order. */
function wordBytes(values: readonly number[], le: boolean): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => (le ? b.writeUInt16LE(v & 0xffff, i * 2) : b.writeUInt16BE(v & 0xffff, i * 2)));
  return b;
}

/** Palette Color LUT module elements: descriptors (entries, first mapped, bits) and one data element per channel. */
function palette(descriptor: [number, number, number], data: [Uint8Array, Uint8Array, Uint8Array], descriptorVr = 'US', dataTags = [0x00281201, 0x00281202, 0x00281203]): DicomElementSpec[] {
  return [
    ...[0x00281101, 0x00281102, 0x00281103].map((tag) => ({ tag, vr: descriptorVr, value: descriptor })),
    ...dataTags.map((tag, c) => ({ tag, vr: 'OW', value: data[c]! })),
  ];
}

describe('PALETTE COLOR', () => {
  // Four 16-bit entries mapped from stored value 10; R, G and B differ so the channel weights show.
  const red = [0x0000, 0xff00, 0x0000, 0x8000];
  const green = [0x0000, 0x0000, 0xff00, 0x8000];
  const blue = [0xff00, 0x0000, 0x0000, 0x8000];
  const lum = (e: number) => (0.299 * red[e]! + 0.587 * green[e]! + 0.114 * blue[e]!) / 256;
  // Below the first mapped value -> entry 0; 10..13 -> entries 0..3; above -> the last entry.
  const indices = [0, 9, 10, 11, 12, 13, 14, 255];
  const expected = [0, 0, 0, 1, 2, 3, 3, 3].map(lum);

  it('maps 16-bit entries with a first mapped value offset to luminance, clamping both ends', () => {
    for (const ts of [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] as const) {
      const le = ts !== EXPLICIT_BE;
      const img = decode(colourDicom({
        rows: 2, columns: 4, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from(indices), transferSyntax: ts,
        extra: palette([4, 10, 16], [wordBytes(red, le), wordBytes(green, le), wordBytes(blue, le)]),
      }));
      expect(img.photometric, ts).toBe('MONOCHROME2');
      [...img.data].forEach((v, i) => expect(v, `${ts} pixel ${i}`).toBeCloseTo(expected[i]!, 4));
    }
  });

  it('reads 8-bit entries packed one per byte or one per 16-bit word (PS3.3 C.7.6.3.1.5)', () => {
    const eight = [red, green, blue].map((ch) => ch.map((v) => v >> 8));
    const packed = decode(colourDicom({
      rows: 2, columns: 4, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from(indices),
      extra: palette([4, 10, 8], [Uint8Array.from(eight[0]!), Uint8Array.from(eight[1]!), Uint8Array.from(eight[2]!)]),
    }));
    const inWords = decode(colourDicom({
      rows: 2, columns: 4, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from(indices),
      extra: palette([4, 10, 8], [wordBytes(eight[0]!, true), wordBytes(eight[1]!, true), wordBytes(eight[2]!, true)]),
    }));
    [...packed.data].forEach((v, i) => expect(v, `packed pixel ${i}`).toBeCloseTo(expected[i]!, 4));
    expect([...inWords.data]).toEqual([...packed.data]);
  });

  it('reads a negative first mapped value when Pixel Representation is 1 (16-bit signed indices)', () => {
    const stored = [-5, -2, -1, 0, 1, 2, 3, 0x7fff];
    const img = decode(colourDicom({
      rows: 2, columns: 4, samples: 1, photometric: 'PALETTE COLOR', bitsAllocated: 16, pixelRepresentation: 1, pixelData: wordBytes(stored, true),
      extra: palette([4, -2, 16], [wordBytes(red, true), wordBytes(green, true), wordBytes(blue, true)], 'SS'),
    }));
    [...img.data].forEach((v, i) => expect(v, `pixel ${i}`).toBeCloseTo(lum([0, 0, 1, 2, 3, 3, 3, 3][i]!), 4));
  });

  it('expands segmented LUTs: discrete, linear and indirect segments (PS3.3 C.7.9.2)', () => {
    // discrete [0, 100], linear to 400 over 3 entries, indirect: repeat the first segment (offset 0) once.
    const segmented = [0, 2, 0, 100, 1, 3, 400, 2, 1, 0, 0];
    // Exactly 16 entries: past the 7 it expands to, the last one repeats.
    expect([...expandSegmentedLut(Uint16Array.from(segmented), 16)]).toEqual([0, 100, 200, 300, 400, 0, 100, ...new Array<number>(9).fill(100)]);
    // As a palette: the same segmented table for R, G and B gives luminance = entry / 256, beyond the end the last entry.
    const seg = wordBytes(segmented, true);
    const img = decode(colourDicom({
      rows: 1, columns: 8, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
      extra: palette([8, 0, 16], [seg, seg, seg], 'US', [0x00281221, 0x00281222, 0x00281223]),
    }));
    [...img.data].forEach((v, i) => expect(v, `pixel ${i}`).toBeCloseTo([0, 100, 200, 300, 400, 0, 100, 100][i]! / 256, 4));
  });

  it('reads 16-bit entries that hold only 8-bit values on their own scale (no entry above 255), as dcmtk and Cornerstone do', () => {
    const eight = [red, green, blue].map((ch) => ch.map((v) => v >> 8));
    const img = decode(colourDicom({
      rows: 2, columns: 4, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from(indices),
      extra: palette([4, 10, 16], [wordBytes(eight[0]!, true), wordBytes(eight[1]!, true), wordBytes(eight[2]!, true)]),
    }));
    [...img.data].forEach((v, i) => expect(v, `pixel ${i}`).toBeCloseTo(expected[i]!, 4));
  });

  it('refuses truncated and runaway segmented tables instead of reading past them or spinning', () => {
    expect(() => expandSegmentedLut(Uint16Array.from([0, 1, 100, 1, 4]), 256)).toThrow(/linear segment .* no end value/);
    expect(() => expandSegmentedLut(Uint16Array.from([0, 1, 100, 2, 1, 0]), 256)).toThrow(/indirect segment .* no offset/);
    // Empty segments re-run by indirect ones add no entries: 1,000 indirect runs of 1,000 empty segments stop early.
    const runaway = [0, 1, 100, ...new Array<number>(2000).fill(0), ...Array.from({ length: 1000 }, () => [2, 1000, 3, 0]).flat()];
    expect(() => expandSegmentedLut(Uint16Array.from(runaway), 65536)).toThrow(/more segments than its data and entries allow/);
  });

  it('refuses palettes it cannot read with a clear reason', () => {
    const seg = wordBytes([0, 2, 0, 100], true);
    const eightBitSegmented = colourDicom({
      rows: 1, columns: 2, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from([0, 1]),
      extra: palette([2, 0, 8], [seg, seg, seg], 'US', [0x00281221, 0x00281222, 0x00281223]),
    });
    expect(() => decode(eightBitSegmented)).toThrow(PixelDecodeError);
    expect(() => decode(eightBitSegmented)).toThrow(/segmented palettes with 8-bit entries/);
    const noLut = colourDicom({ rows: 1, columns: 2, samples: 1, photometric: 'PALETTE COLOR', pixelData: Uint8Array.from([0, 1]) });
    expect(() => decode(noLut)).toThrow(/PALETTE COLOR without a Red Palette Color Lookup Table Descriptor/);
  });
});

describe('YBR_FULL and YBR_FULL_422', () => {
  // Four pixels: Y, Cb, Cr each.
  const y = [16, 80, 160, 235];
  const cb = [128, 90, 200, 60];
  const cr = [128, 170, 40, 110];

  it('decodes native YBR_FULL to Y, interleaved and by plane', () => {
    const interleaved = y.flatMap((v, i) => [v, cb[i]!, cr[i]!]);
    const byPlane = [...y, ...cb, ...cr];
    for (const [planar, bytes] of [[0, interleaved], [1, byPlane]] as const) {
      const img = decode(colourDicom({ rows: 2, columns: 2, samples: 3, photometric: 'YBR_FULL', planar, pixelData: Uint8Array.from(bytes) }));
      expect([...img.data], `planar ${planar}`).toEqual(y);
      expect(img.photometric).toBe('MONOCHROME2');
    }
  });

  it('decodes native YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels, two bytes a pixel) to Y', () => {
    // Pairs (pixel 0, 1) and (2, 3) share Cb and Cr.
    const stored = [y[0]!, y[1]!, cb[0]!, cr[0]!, y[2]!, y[3]!, cb[2]!, cr[2]!];
    const img = decode(colourDicom({ rows: 2, columns: 2, samples: 3, photometric: 'YBR_FULL_422', pixelData: Uint8Array.from(stored) }));
    expect([...img.data]).toEqual(y);
    // Odd columns cannot hold whole pairs per row.
    const odd = colourDicom({ rows: 1, columns: 3, samples: 3, photometric: 'YBR_FULL_422', pixelData: new Uint8Array(6) });
    expect(() => decode(odd)).toThrow(/native YBR_FULL_422 .* 3 columns is not supported/);
  });

  it('decodes RLE YBR_FULL (segments Y, Cb, Cr) to the Y plane', () => {
    const img = decode(colourDicom({ rows: 2, columns: 2, samples: 3, photometric: 'YBR_FULL', planar: 1, transferSyntax: RLE, pixelData: rleFrame([y, cb, cr]) }));
    expect([...img.data]).toEqual(y);
  });

  it('still reduces RGB to 0.299 R + 0.587 G + 0.114 B', () => {
    const rgb = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]];
    const img = decode(colourDicom({ rows: 2, columns: 2, samples: 3, photometric: 'RGB', pixelData: Uint8Array.from(rgb.flat()) }));
    [...img.data].forEach((v, i) => expect(v).toBeCloseTo(0.299 * rgb[i]![0]! + 0.587 * rgb[i]![1]! + 0.114 * rgb[i]![2]!, 4));
  });
});

describe('other colour models', () => {
  it('refuses them with a reason naming the photometric interpretation', () => {
    for (const photometric of ['YBR_PARTIAL_422', 'YBR_PARTIAL_420', 'HSV', 'YBR_ICT']) {
      const file = colourDicom({ rows: 2, columns: 2, samples: 3, photometric, pixelData: new Uint8Array(12) });
      expect(() => decode(file), photometric).toThrow(new RegExp(`colour photometric interpretation ${photometric} \\(uncompressed\\) is not supported`));
    }
    const rle422 = colourDicom({ rows: 2, columns: 2, samples: 3, photometric: 'YBR_FULL_422', planar: 1, transferSyntax: RLE, pixelData: rleFrame([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]) });
    expect(() => decode(rle422)).toThrow(/YBR_FULL_422 \(transfer syntax 1.2.840.10008.1.2.5\) is not supported/);
    for (const photometric of ['ARGB', 'CMYK']) {
      const file = colourDicom({ rows: 2, columns: 2, samples: 4, photometric, pixelData: new Uint8Array(16) });
      expect(() => decode(file)).toThrow(new RegExp(`Samples per Pixel 4 \\(${photometric}\\) is not supported`));
    }
  });
});
