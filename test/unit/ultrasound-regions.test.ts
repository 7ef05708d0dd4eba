/**
 * The B-mode image region of an ultrasound screen capture, from the Sequence of
 * Ultrasound Regions (0018,6011): read in every encoding (implicit VR items come
 * through as UN), the largest 2D tissue region chosen; one past the edge is clamped, further is not trusted.
 */
import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { decodeImage } from '../../electron/services/dicom/pixel-decoder';
import { commonUltrasoundRegion, ultrasoundImageRegion } from '../../electron/services/dicom/ultrasound-regions';
import { type DicomElementSpec, syntheticDicom, type TransferSyntax } from '../fixtures/synthetic-dicom';

const EXPLICIT_LE: TransferSyntax = '1.2.840.10008.1.2.1';
const IMPLICIT_LE: TransferSyntax = '1.2.840.10008.1.2';
const EXPLICIT_BE: TransferSyntax = '1.2.840.10008.1.2.2';

/** One item of the sequence: Region Spatial Format, Data Type, Flags, Location Min X0/Y0, Max X1/Y1. */
function regionItem(spatialFormat: number, dataType: number, [x0, y0, x1, y1]: [number, number, number, number], extra: DicomElementSpec[] = []): DicomElementSpec[] {
  return [
    { tag: 0x00186012, vr: 'US', value: spatialFormat },
    { tag: 0x00186014, vr: 'US', value: dataType },
    { tag: 0x00186016, vr: 'UL', value: 0 },
    { tag: 0x00186018, vr: 'UL', value: x0 },
    { tag: 0x0018601a, vr: 'UL', value: y0 },
    { tag: 0x0018601c, vr: 'UL', value: x1 },
    { tag: 0x0018601e, vr: 'UL', value: y1 },
    ...extra,
  ];
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
    extra: items ? [{ tag: 0x00186011, vr: 'SQ', value: items, ...(opts.undefinedLength ? { undefinedLength: true } : {}) }] : [],
  });
}

const regionOf = (file: Buffer, rows = 48, columns = 64) => ultrasoundImageRegion(readDicom(new BufferByteSource(file)).dataset, rows, columns);

describe('ultrasoundImageRegion', () => {
  const items = [
    regionItem(1, 1, [2, 3, 41, 30]), // 40 × 28 tissue
    regionItem(4, 10, [0, 0, 63, 47]), // whole capture, but a waveform (spectral Doppler) region
    regionItem(1, 1, [10, 31, 59, 46]), // 50 × 16 tissue: smaller
  ];

  it('reads the regions in explicit and implicit VR (defined and undefined lengths) and big endian', () => {
    const expected = { x0: 2, y0: 3, x1: 41, y1: 30 };
    for (const transferSyntax of [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]) {
      for (const undefinedLength of [false, true]) {
        expect(regionOf(usFile(items, { transferSyntax, undefinedLength })), `${transferSyntax} ${undefinedLength ? 'undefined' : 'defined'} length`).toEqual(expected);
      }
    }
  });

  it('implicit VR: the sequence and its values are unnamed (UN) to the reader, and still read', () => {
    const ds = readDicom(new BufferByteSource(usFile(items, { transferSyntax: IMPLICIT_LE }))).dataset;
    // Defined length and not in the reader's implicit VR table: indexed as UN, items parsed on demand.
    expect(ds.elements.get(0x00186011)?.vr).toBe('UN');
    expect(ultrasoundImageRegion(ds, 48, 64)).toEqual({ x0: 2, y0: 3, x1: 41, y1: 30 });
  });

  it('skips nested sequences inside a region item', () => {
    const nested: DicomElementSpec = { tag: 0x00186019, vr: 'SQ', value: [[{ tag: 0x00080100, vr: 'SH', value: 'X' }]], undefinedLength: true };
    for (const transferSyntax of [EXPLICIT_LE, IMPLICIT_LE]) {
      expect(regionOf(usFile([regionItem(1, 1, [5, 6, 20, 21], [nested])], { transferSyntax }))).toEqual({ x0: 5, y0: 6, x1: 20, y1: 21 });
    }
  });

  it('takes the largest 2D tissue region; an equal area goes to the first', () => {
    // The largest region overall is a 2D colour-flow one (data type 2): not tissue.
    const withFlow = [regionItem(1, 1, [0, 0, 9, 9]), regionItem(1, 2, [0, 0, 63, 47]), regionItem(1, 1, [20, 20, 39, 29])];
    expect(regionOf(usFile(withFlow))).toEqual({ x0: 20, y0: 20, x1: 39, y1: 29 });
    // Two side-by-side images of the same size (a dual B-mode layout).
    const dual = [regionItem(1, 1, [0, 4, 31, 43]), regionItem(1, 1, [32, 4, 63, 43])];
    expect(regionOf(usFile(dual))).toEqual({ x0: 0, y0: 4, x1: 31, y1: 43 });
    // M-mode (spatial format 2) tissue is not an image region.
    expect(regionOf(usFile([regionItem(2, 1, [0, 0, 63, 47]), regionItem(1, 1, [1, 1, 4, 4])]))).toEqual({ x0: 1, y0: 1, x1: 4, y1: 4 });
  });

  it('clamps a region one past the last column or row, and trusts no region when one runs further', () => {
    // 64 columns × 48 rows: Max X1 64 / Max Y1 48 (one past the end, as OBXXXX1A's 800 of 800 columns) is clamped.
    expect(regionOf(usFile([regionItem(1, 1, [30, 10, 64, 48])]))).toEqual({ x0: 30, y0: 10, x1: 63, y1: 47 });
    // A region reaching column 800 and row 518 of a 64×48 image describes another image (resized or cut, as
    // pydicom's examples_palette.dcm): the image is used whole, even when another region would fit.
    expect(regionOf(usFile([regionItem(1, 1, [30, 10, 800, 518])]))).toBeNull();
    expect(regionOf(usFile([regionItem(1, 1, [60, 40, 1000, 1000]), regionItem(1, 1, [0, 0, 19, 19])]))).toBeNull();
    expect(regionOf(usFile([regionItem(1, 1, [0, 0, 19, 19]), regionItem(1, 1, [0, 0, 63, 49])]))).toBeNull();
    // A writer that used a signed VR for Region Location Min X0: -1 is no pixel of this image either.
    const signed = regionItem(1, 1, [0, 0, 19, 19]).map((e) => (e.tag === 0x00186018 ? { tag: e.tag, vr: 'SL', value: -1 } : e));
    expect(regionOf(usFile([signed]))).toBeNull();
  });

  it('ignores degenerate regions and answers null when none is left', () => {
    expect(regionOf(usFile([regionItem(1, 1, [40, 10, 20, 30])]))).toBeNull(); // max < min
    expect(regionOf(usFile([regionItem(1, 1, [100, 100, 200, 200])]))).toBeNull(); // wholly outside the image
    expect(regionOf(usFile([regionItem(1, 1, [40, 10, 20, 30]), regionItem(1, 1, [3, 4, 5, 6])]))).toEqual({ x0: 3, y0: 4, x1: 5, y1: 6 });
    // A region without its location is not a region.
    expect(regionOf(usFile([regionItem(1, 1, [0, 0, 10, 10]).filter((e) => e.tag !== 0x0018601e)]))).toBeNull();
    expect(regionOf(usFile([regionItem(4, 10, [0, 0, 10, 10])]))).toBeNull();
    expect(regionOf(usFile([]))).toBeNull();
    expect(regionOf(usFile(null))).toBeNull();
  });

  it('is part of the decoded image', () => {
    const file = usFile([regionItem(1, 1, [8, 4, 55, 43])], { transferSyntax: IMPLICIT_LE });
    expect(decodeImage(readDicom(new BufferByteSource(file))).ultrasoundRegion).toEqual({ x0: 8, y0: 4, x1: 55, y1: 43 });
    expect(decodeImage(readDicom(new BufferByteSource(usFile(null)))).ultrasoundRegion).toBeNull();
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
