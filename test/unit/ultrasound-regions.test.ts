/**
 * The B-mode image regions of an ultrasound screen capture, from the Sequence of
 * Ultrasound Regions (0018,6011): read in every encoding (implicit VR items, UN-encoded
 * sequences, values an explicit VR writer left as UN); every 2D tissue region at least half
 * the largest one's area, overlapping ones dropped, in position order; one past the edge is
 * clamped, further is not trusted.
 */
import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom, sequenceItems } from '../../electron/services/dicom/dicom-dataset-reader';
import { decodeImage } from '../../electron/services/dicom/pixel-decoder';
import { commonUltrasoundRegion, largestUltrasoundRegion, ultrasoundImageRegions, type UltrasoundRegion } from '../../electron/services/dicom/ultrasound-regions';
import { type DicomElementSpec, encodeElements, syntheticDicom, type TransferSyntax, ultrasoundRegionItem, ultrasoundRegions } from '../fixtures/synthetic-dicom';

const EXPLICIT_LE: TransferSyntax = '1.2.840.10008.1.2.1';
const IMPLICIT_LE: TransferSyntax = '1.2.840.10008.1.2';
const EXPLICIT_BE: TransferSyntax = '1.2.840.10008.1.2.2';

/** One item of the sequence: Region Spatial Format, Data Type, Flags, Location Min X0/Y0, Max X1/Y1. */
function regionItem(spatialFormat: number, dataType: number, [x0, y0, x1, y1]: [number, number, number, number], extra: DicomElementSpec[] = []): DicomElementSpec[] {
  return ultrasoundRegionItem({ x0, y0, x1, y1 }, { spatialFormat, dataType, extra });
}

function usFile(items: DicomElementSpec[][] | null, opts: { transferSyntax?: TransferSyntax; undefinedLength?: boolean; rows?: number; columns?: number } = {}): Buffer {
  const rows = opts.rows ?? 48;
  const columns = opts.columns ?? 64;
  return syntheticDicom({
    modality: 'US',
    rows,
    columns,
    pixels: new Uint8Array(rows * columns),
    transferSyntax: opts.transferSyntax ?? EXPLICIT_LE,
    extra: items ? [ultrasoundRegions(items, opts.undefinedLength)] : [],
  });
}

const regionsOf = (file: Buffer, rows = 48, columns = 64) => ultrasoundImageRegions(readDicom(new BufferByteSource(file)).dataset, rows, columns);
const rect = ([x0, y0, x1, y1]: [number, number, number, number]): UltrasoundRegion => ({ x0, y0, x1, y1 });

describe('ultrasoundImageRegions: reading the sequence', () => {
  const items = [
    regionItem(1, 1, [2, 3, 41, 30]), // 40 × 28 tissue
    regionItem(4, 10, [0, 0, 63, 47]), // whole capture, but a waveform (spectral Doppler) region
    regionItem(1, 1, [10, 36, 19, 45]), // 10 × 10 tissue thumbnail: less than half the largest
    regionItem(1, 1, [44, 3, 63, 30]), // 20 × 28 tissue: half the largest, a second view
  ];
  const expected = [rect([2, 3, 41, 30]), rect([44, 3, 63, 30])];

  it('reads the regions in explicit and implicit VR (defined and undefined lengths) and big endian', () => {
    for (const transferSyntax of [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]) {
      for (const undefinedLength of [false, true]) {
        expect(regionsOf(usFile(items, { transferSyntax, undefinedLength })), `${transferSyntax} ${undefinedLength ? 'undefined' : 'defined'} length`).toEqual(expected);
      }
    }
  });

  it('implicit VR: the defined-length sequence is unnamed (UN) and parsed on demand; its values are named by the reader', () => {
    const ds = readDicom(new BufferByteSource(usFile(items, { transferSyntax: IMPLICIT_LE }))).dataset;
    expect(ds.elements.get(0x00186011)?.vr).toBe('UN');
    const item = sequenceItems(ds, 0x00186011)![0]!;
    // PS3.6: Region Spatial Format / Data Type US, Region Location Min/Max UL.
    expect([0x00186012, 0x00186014, 0x00186018, 0x0018601a, 0x0018601c, 0x0018601e].map((tag) => item.elements.get(tag)?.vr)).toEqual(['US', 'US', 'UL', 'UL', 'UL', 'UL']);
    expect(ultrasoundImageRegions(ds, 48, 64)).toEqual(expected);
  });

  it('explicit VR: a sequence re-encoded as UN (implicit VR items), and values a writer left as UN', () => {
    // The sequence's value as Implicit VR Little Endian items (PS3.5 6.2.2), stored under VR UN in an explicit file.
    const implicitValue = encodeElements([{ tag: 0x00186011, vr: 'SQ', value: items }], false, true).subarray(8);
    const unSequence: DicomElementSpec = { tag: 0x00186011, vr: 'UN', value: implicitValue };
    for (const transferSyntax of [EXPLICIT_LE, EXPLICIT_BE]) {
      const file = syntheticDicom({ modality: 'US', rows: 48, columns: 64, pixels: new Uint8Array(48 * 64), transferSyntax, extra: [unSequence] });
      expect(regionsOf(file), transferSyntax).toEqual(expected);
    }
    // Inside an SQ item, each value as UN (or OB, as some writers do): read by its length in the file's byte order.
    for (const [transferSyntax, le] of [[EXPLICIT_LE, true], [EXPLICIT_BE, false]] as const) {
      for (const vr of ['UN', 'OB']) {
        const asBytes = regionItem(1, 1, [5, 6, 40, 41]).map((e): DicomElementSpec => {
          const size = e.vr === 'US' ? 2 : 4;
          const value = Buffer.alloc(size);
          if (size === 2) (le ? value.writeUInt16LE : value.writeUInt16BE).call(value, e.value as number);
          else (le ? value.writeUInt32LE : value.writeUInt32BE).call(value, e.value as number);
          return { tag: e.tag, vr, value };
        });
        expect(regionsOf(usFile([asBytes], { transferSyntax })), `${transferSyntax} ${vr}`).toEqual([rect([5, 6, 40, 41])]);
      }
    }
  });

  it('skips nested sequences inside a region item', () => {
    const nested: DicomElementSpec = { tag: 0x00186019, vr: 'SQ', value: [[{ tag: 0x00080100, vr: 'SH', value: 'X' }]], undefinedLength: true };
    for (const transferSyntax of [EXPLICIT_LE, IMPLICIT_LE]) {
      expect(regionsOf(usFile([regionItem(1, 1, [5, 6, 20, 21], [nested])], { transferSyntax }))).toEqual([rect([5, 6, 20, 21])]);
    }
  });

  it('is part of the decoded image', () => {
    const file = usFile([regionItem(1, 1, [0, 4, 31, 43]), regionItem(1, 1, [32, 4, 63, 43])], { transferSyntax: IMPLICIT_LE });
    expect(decodeImage(readDicom(new BufferByteSource(file))).ultrasoundRegions).toEqual([rect([0, 4, 31, 43]), rect([32, 4, 63, 43])]);
    expect(decodeImage(readDicom(new BufferByteSource(usFile(null)))).ultrasoundRegions).toEqual([]);
  });
});

describe('ultrasoundImageRegions: which regions are analysed', () => {
  it('keeps both views of a dual B-mode capture, left then right whatever the sequence order', () => {
    const left = regionItem(1, 1, [0, 4, 31, 43]);
    const right = regionItem(1, 1, [32, 4, 63, 43]);
    expect(regionsOf(usFile([left, right]))).toEqual([rect([0, 4, 31, 43]), rect([32, 4, 63, 43])]);
    expect(regionsOf(usFile([right, left]))).toEqual([rect([0, 4, 31, 43]), rect([32, 4, 63, 43])]);
  });

  it('orders regions top to bottom, then left to right', () => {
    // A 2 × 2 layout of equal views, written in scrambled order.
    const quad = [regionItem(1, 1, [32, 24, 63, 47]), regionItem(1, 1, [0, 0, 31, 23]), regionItem(1, 1, [0, 24, 31, 47]), regionItem(1, 1, [32, 0, 63, 23])];
    expect(regionsOf(usFile(quad))).toEqual([rect([0, 0, 31, 23]), rect([32, 0, 63, 23]), rect([0, 24, 31, 47]), rect([32, 24, 63, 47])]);
  });

  it('drops a region smaller than half the largest (a thumbnail or picture-in-picture), keeps one of exactly half', () => {
    // 40 × 40 = 1600 main view; a 10 × 10 thumbnail beside it.
    expect(regionsOf(usFile([regionItem(1, 1, [50, 0, 59, 9]), regionItem(1, 1, [0, 0, 39, 39])]))).toEqual([rect([0, 0, 39, 39])]);
    // 20 × 40 = 800: exactly half of 1600, kept; 19 × 42 = 798 is not.
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 39, 39]), regionItem(1, 1, [40, 0, 59, 39])]))).toEqual([rect([0, 0, 39, 39]), rect([40, 0, 59, 39])]);
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 39, 39]), regionItem(1, 1, [41, 0, 59, 41])]))).toEqual([rect([0, 0, 39, 39])]);
  });

  it('drops a region nested in, or overlapping, a larger kept one', () => {
    // A zoom box drawn as a tissue region inside the main view.
    expect(regionsOf(usFile([regionItem(1, 1, [10, 10, 40, 40]), regionItem(1, 1, [0, 0, 47, 47])]))).toEqual([rect([0, 0, 47, 47])]);
    // Two views overlapping by 8 columns: the larger (then the first by position) is kept.
    expect(regionsOf(usFile([regionItem(1, 1, [24, 0, 63, 39]), regionItem(1, 1, [0, 0, 31, 39])]))).toEqual([rect([24, 0, 63, 39])]);
    expect(regionsOf(usFile([regionItem(1, 1, [24, 0, 55, 39]), regionItem(1, 1, [0, 0, 31, 39])]))).toEqual([rect([0, 0, 31, 39])]);
    // The same rectangle written twice is one region.
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 31, 39]), regionItem(1, 1, [0, 0, 31, 39])]))).toEqual([rect([0, 0, 31, 39])]);
    // Views sharing only their border column (a writer whose Max X1 is one past the view) are side by side.
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 32, 39]), regionItem(1, 1, [32, 0, 63, 39])]))).toEqual([rect([0, 0, 32, 39]), rect([32, 0, 63, 39])]);
  });

  it('takes 2D tissue regions only', () => {
    // The largest region overall is a 2D colour-flow one (data type 2): not tissue.
    const withFlow = [regionItem(1, 1, [50, 40, 53, 43]), regionItem(1, 2, [0, 0, 63, 47]), regionItem(1, 1, [20, 20, 39, 29])];
    expect(regionsOf(usFile(withFlow))).toEqual([rect([20, 20, 39, 29])]);
    // M-mode (spatial format 2) tissue is not an image region.
    expect(regionsOf(usFile([regionItem(2, 1, [0, 0, 63, 47]), regionItem(1, 1, [1, 1, 4, 4])]))).toEqual([rect([1, 1, 4, 4])]);
  });

  it('clamps a region one past the last column or row, and trusts no region when one runs further', () => {
    // 64 columns × 48 rows: Max X1 64 / Max Y1 48 (one past the end, as OBXXXX1A's 800 of 800 columns) is clamped.
    expect(regionsOf(usFile([regionItem(1, 1, [30, 10, 64, 48])]))).toEqual([rect([30, 10, 63, 47])]);
    // A region reaching column 800 and row 518 of a 64×48 image describes another image (resized or cut, as
    // pydicom's examples_palette.dcm): the image is used whole, even when another region would fit.
    expect(regionsOf(usFile([regionItem(1, 1, [30, 10, 800, 518])]))).toEqual([]);
    expect(regionsOf(usFile([regionItem(1, 1, [60, 40, 1000, 1000]), regionItem(1, 1, [0, 0, 19, 19])]))).toEqual([]);
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 19, 19]), regionItem(1, 1, [0, 0, 63, 49])]))).toEqual([]);
    // A writer that used a signed VR for Region Location Min X0: -1 is no pixel of this image either.
    const signed = regionItem(1, 1, [0, 0, 19, 19]).map((e) => (e.tag === 0x00186018 ? { tag: e.tag, vr: 'SL', value: -1 } : e));
    expect(regionsOf(usFile([signed]))).toEqual([]);
    // Nor is a fractional location (a decimal VR).
    const decimal = regionItem(1, 1, [0, 0, 19, 19]).map((e) => (e.tag === 0x0018601c ? { tag: e.tag, vr: 'FD', value: 19.5 } : e));
    expect(regionsOf(usFile([decimal, regionItem(1, 1, [30, 0, 49, 19])]))).toEqual([]);
  });

  it('ignores degenerate regions and answers none when none is left', () => {
    expect(regionsOf(usFile([regionItem(1, 1, [40, 10, 20, 30])]))).toEqual([]); // max < min
    expect(regionsOf(usFile([regionItem(1, 1, [100, 100, 200, 200])]))).toEqual([]); // wholly outside the image
    expect(regionsOf(usFile([regionItem(1, 1, [40, 10, 20, 30]), regionItem(1, 1, [3, 4, 5, 6])]))).toEqual([rect([3, 4, 5, 6])]);
    // A region without its location is not a region.
    expect(regionsOf(usFile([regionItem(1, 1, [0, 0, 10, 10]).filter((e) => e.tag !== 0x0018601e)]))).toEqual([]);
    expect(regionsOf(usFile([regionItem(4, 10, [0, 0, 10, 10])]))).toEqual([]);
    expect(regionsOf(usFile([]))).toEqual([]);
    expect(regionsOf(usFile(null))).toEqual([]);
  });
});

describe('largestUltrasoundRegion', () => {
  it('is the largest region, the first in position order on equal areas, or null', () => {
    expect(largestUltrasoundRegion([rect([0, 0, 9, 9]), rect([20, 0, 49, 29]), rect([0, 30, 19, 47])])).toEqual(rect([20, 0, 49, 29]));
    expect(largestUltrasoundRegion([rect([0, 4, 31, 43]), rect([32, 4, 63, 43])])).toEqual(rect([0, 4, 31, 43]));
    expect(largestUltrasoundRegion([])).toBeNull();
  });
});

describe('commonUltrasoundRegion', () => {
  const a = { x0: 1, y0: 2, x1: 30, y1: 40 };
  it('is the region when every image has the same one, else null', () => {
    expect(commonUltrasoundRegion([a, { ...a }, { ...a }])).toEqual(a);
    expect(commonUltrasoundRegion([a, { ...a, y1: 39 }])).toBeNull();
    expect(commonUltrasoundRegion([a, null])).toBeNull();
    expect(commonUltrasoundRegion([null, null])).toBeNull();
    expect(commonUltrasoundRegion([])).toBeNull();
  });
});
