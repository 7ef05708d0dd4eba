/**
 * sofHeader() (electron/services/dicom/jpeg-dct-decoder.ts), the one JPEG frame
 * header walker behind the 12-bit routing of pixel-codecs.ts, the edge-tile
 * sizes of display-transcode.ts and the DCT decoder's own SOF parsing: APPn,
 * COM and table segments skipped by length (even when their payload holds
 * bytes that look like a SOF marker), 0xFF fill bytes and junk between
 * segments skipped, prefixes that end early answered with null; and on real
 * JPEG, JPEG lossless and JPEG-LS streams, the sizes their DICOM headers declare.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ByteSource, FileByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { jpegStreamInfo, sofHeader } from '../../electron/services/dicom/jpeg-dct-decoder';
import { frameFragments } from '../../electron/services/dicom/pixel-decoder';

const SOI = [0xff, 0xd8];
const EOI = [0xff, 0xd9];

/** A marker segment: marker, big-endian length (including itself), payload. */
function segment(marker: number, payload: number[]): number[] {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...payload];
}

/** A SOF payload: precision, rows, columns, then (id, HV, Tq) per component. */
function sof(precision: number, rows: number, columns: number, components: [number, number, number][]): number[] {
  return [precision, rows >> 8, rows & 0xff, columns >> 8, columns & 0xff, components.length, ...components.flat()];
}

const jfif = segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
/** An APP1 whose payload contains FF C0 and FF DA: only a walker that skips by length gets past it correctly. */
const decoyApp1 = segment(0xe1, [0x45, 0x78, 0x69, 0x66, 0, 0, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x01, 0x00, 0x01, 0xff, 0xda]);
const adobe = segment(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 0]);
const comment = segment(0xfe, [...Buffer.from('made by a test')]);
const dqt = segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]);
const sos = segment(0xda, [1, 1, 0x00, 0, 63, 0]);

describe('sofHeader', () => {
  it('finds a baseline frame header after APPn, COM and DQT segments, a decoy marker inside APP1 included', () => {
    const ycbcr: [number, number, number][] = [
      [1, 0x21, 0],
      [2, 0x11, 1],
      [3, 0x11, 1],
    ];
    const stream = Uint8Array.from([...SOI, ...jfif, ...decoyApp1, ...adobe, ...comment, ...dqt, ...segment(0xc0, sof(8, 480, 640, ycbcr)), ...sos, 0x12, 0x34, ...EOI]);
    expect(sofHeader(stream)).toEqual({
      marker: 0xc0,
      precision: 8,
      rows: 480,
      columns: 640,
      components: 3,
      componentSpecs: [
        { id: 1, h: 2, v: 1, tq: 0 },
        { id: 2, h: 1, v: 1, tq: 1 },
        { id: 3, h: 1, v: 1, tq: 1 },
      ],
    });
  });

  it('skips 0xFF fill bytes before markers and junk between segments (as libjpeg does)', () => {
    const stream = Uint8Array.from([...SOI, 0xff, 0xff, 0xff, ...jfif, 0x00, 0x13, 0x37, 0xff, 0xff, ...dqt, 0xff, ...segment(0xc1, sof(12, 16, 8, [[1, 0x11, 0]])), ...sos, ...EOI]);
    expect(sofHeader(stream)).toMatchObject({ marker: 0xc1, precision: 12, rows: 16, columns: 8, components: 1 });
  });

  it('reads lossless (SOF3) and JPEG-LS (SOF55) frame headers', () => {
    expect(sofHeader(Uint8Array.from([...SOI, ...segment(0xc3, sof(16, 512, 256, [[1, 0x11, 0]])), ...sos]))).toMatchObject({ marker: 0xc3, precision: 16, rows: 512, columns: 256, components: 1 });
    const rgb: [number, number, number][] = [
      [1, 0x11, 0],
      [2, 0x11, 0],
      [3, 0x11, 0],
    ];
    expect(sofHeader(Uint8Array.from([...SOI, ...segment(0xf7, sof(8, 3, 5, rgb)), ...EOI]))).toMatchObject({ marker: 0xf7, precision: 8, rows: 3, columns: 5, components: 3 });
  });

  it('answers null when there is no frame header to be had', () => {
    const header = [...SOI, ...jfif, ...segment(0xc0, sof(8, 4, 4, [[1, 0x11, 0]]))];
    // Every prefix that ends inside the SOF segment (or earlier): the caller reads more, or gives up.
    for (let length = 0; length < header.length; length++) expect(sofHeader(Uint8Array.from(header.slice(0, length)))).toBeNull();
    expect(sofHeader(Uint8Array.from(header))).toMatchObject({ rows: 4, columns: 4 });
    // Scan data or the end of the image before any frame header.
    expect(sofHeader(Uint8Array.from([...SOI, ...dqt, ...sos, 0xff, 0xc0, 0, 11, 8, 0, 4, 0, 4, 1, 1, 0x11, 0]))).toBeNull();
    expect(sofHeader(Uint8Array.from([...SOI, ...EOI, ...segment(0xc0, sof(8, 4, 4, [[1, 0x11, 0]]))]))).toBeNull();
    // Not a JPEG stream (no SOI); a SOF segment too short for the components it declares.
    expect(sofHeader(Uint8Array.from([...jfif, ...segment(0xc0, sof(8, 4, 4, [[1, 0x11, 0]]))]))).toBeNull();
    expect(sofHeader(Uint8Array.from([...SOI, ...segment(0xc0, [8, 0, 4, 0, 4, 3, 1, 0x11, 0]), ...EOI]))).toBeNull();
  });
});

const SHARED = resolve(__dirname, '../..', process.env.VIGIL_SHARED_DATA ?? '../shared/data');
/** Real streams of each JPEG family (relative to ../shared/data). */
const REAL = [
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm',
  'dicom-syntax-matrix/wadoloader/CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm',
  'dicom-syntax-matrix/wadoloader/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm',
  'dicom-pydicom/pydicom/test_files/SC_rgb_jpeg_app14_dcmd.dcm',
  'dicom-pydicom/pydicom/test_files/SC_rgb_small_odd_jpeg.dcm',
  'dicom-pydicom/pydicom/test_files/JPGExtended.dcm',
  'dicom-pydicom/pydicom/test_files/MR_small_jpeg_ls_lossless.dcm',
];
const present = REAL.filter((f) => existsSync(join(SHARED, f)));
if (present.length < REAL.length) console.warn(`[jpeg-sof-header] SKIPPING ${REAL.length - present.length} of ${REAL.length} real streams: missing under ${SHARED}.`);

describe.skipIf(present.length === 0)('sofHeader on real streams of ../shared/data', () => {
  it.each(present)('%s: the rows, columns, samples and bits its DICOM header declares', (file) => {
    const path = join(SHARED, file);
    const src = new FileByteSource(path, statSync(path).size);
    const bytesAt = (source: ByteSource, offset: number, length: number): Buffer => {
      const { buf, start } = source.window(offset, length);
      return Buffer.from(buf.subarray(start, start + length));
    };
    try {
      const info = readDicom(src);
      const ds = info.dataset;
      const frames = Math.trunc(ds.number(0x00280008) ?? 1);
      const fragments = frameFragments(src, info.pixelData!.offset, info.pixelData!.length, frames)[0]!;
      const stream = Buffer.concat(fragments.map((f) => bytesAt(src, f.offset, f.length)));
      const header = sofHeader(stream);
      const us = (tag: number): number => Number(ds.number(tag) ?? NaN);
      expect(header).toMatchObject({ rows: us(0x00280010), columns: us(0x00280011), components: us(0x00280002), precision: us(0x00280101) });
      // The first bytes of the stream are enough (the header comes first).
      expect(sofHeader(stream.subarray(0, Math.min(stream.length, 4096)))).toEqual(header);
      // The DCT decoder reads the same frame header.
      if (header!.marker <= 0xc2) expect(jpegStreamInfo(stream)).toMatchObject({ width: header!.columns, height: header!.rows, precision: header!.precision, components: header!.components });
    } finally {
      src.close();
    }
  });
});
