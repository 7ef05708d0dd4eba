import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { DicomParseError, Tag, readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { extractInstanceMetadata } from '../../electron/services/dicom/instance-metadata';
import { type TransferSyntax, encodeElements, syntheticDicom, textBytes } from '../fixtures/synthetic-dicom';

const read = (buf: Buffer) => readDicom(new BufferByteSource(buf));

const SYNTAXES: TransferSyntax[] = [
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.5',
];

describe('readDicom', () => {
  it.each(SYNTAXES)('reads the same attributes in transfer syntax %s', (ts) => {
    const info = read(syntheticDicom({ transferSyntax: ts, sopInstanceUid: '1.2.3.4', rows: 16, columns: 12 }));
    expect(info.transferSyntaxUid).toBe(ts);
    const ds = info.dataset;
    expect(ds.uid(Tag.SopInstanceUid)).toBe('1.2.3.4');
    expect(ds.string(Tag.PatientName)).toBe('Doe^Jane');
    expect(ds.number(Tag.Rows)).toBe(16);
    expect(ds.number(Tag.Columns)).toBe(12);
    expect(ds.numbers(Tag.PixelSpacing)).toEqual([0.5, 0.5]);
    expect(info.pixelData).not.toBeNull();
    expect(info.pixelData?.encapsulated).toBe(ts.startsWith('1.2.840.10008.1.2.4') || ts === '1.2.840.10008.1.2.5');
  });

  it('reads a bare dataset without preamble or file meta', () => {
    for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2'] as const) {
      const info = read(syntheticDicom({ transferSyntax: ts, bare: true, sopInstanceUid: '1.2.9' }));
      expect(info.bareDataset).toBe(true);
      expect(info.dataset.uid(Tag.SopInstanceUid)).toBe('1.2.9');
    }
  });

  it('rejects non-DICOM content', () => {
    expect(() => read(Buffer.from('hello, this is a text file\n'.repeat(20)))).toThrow(DicomParseError);
    try {
      read(Buffer.from('%PDF-1.7 not dicom at all, just some bytes'.repeat(10)));
    } catch (e) {
      expect((e as DicomParseError).code).toBe('NOT_DICOM');
    }
  });

  it('reports a file truncated in the pixel data', () => {
    const full = syntheticDicom({ rows: 32, columns: 32 });
    const cut = full.subarray(0, full.length - 100);
    expect(() => read(cut)).toThrow(/truncated: Pixel Data declares 2048 bytes/);
  });

  it('reports a file truncated in the header', () => {
    const full = syntheticDicom();
    const cut = full.subarray(0, 300);
    const err = (() => {
      try {
        read(cut);
      } catch (e) {
        return e as DicomParseError;
      }
      return null;
    })();
    expect(err?.code).toBe('TRUNCATED');
  });

  it('reports truncated encapsulated pixel data', () => {
    const full = syntheticDicom({ transferSyntax: '1.2.840.10008.1.2.4.90', rows: 32, columns: 32 });
    expect(() => read(full.subarray(0, full.length - 12))).toThrow(/truncated/);
  });

  it('skips nested undefined-length sequences and undefined-length UN', () => {
    const nested = [[{ tag: 0x00081150, vr: 'UI', value: '1.2.3' }, { tag: 0x00081155, vr: 'UI', value: '1.2.3.4' }]];
    const buf = syntheticDicom({
      extra: [
        { tag: 0x00081140, vr: 'SQ', value: [[{ tag: 0x00081199, vr: 'SQ', value: nested, undefinedLength: true }]], undefinedLength: true },
        { tag: 0x00091010, vr: 'LO', value: 'PRIVATE CREATOR' },
      ],
      seriesDescription: 'after sequences',
    });
    const info = read(buf);
    expect(info.dataset.string(Tag.SeriesDescription)).toBe('after sequences');
    expect(info.dataset.has(0x00081155)).toBe(false); // nested, not top level
  });

  it('decodes text with the Specific Character Set', () => {
    const buf = syntheticDicom({ specificCharacterSet: 'GB18030', patientName: textBytes([0xcd, 0xf5, 0x5e, 0xd0, 0xa1, 0xc3, 0xf7]) });
    const info = read(buf);
    expect(info.dataset.string(Tag.PatientName)).toBe('王^小明');
  });

  it('reads an element whose VR is invalid as implicit (dcmtk behaviour)', () => {
    // (0008,0060) with a 4-byte implicit length inside an explicit dataset, then a normal element.
    const weird = Buffer.concat([
      encodeElements([{ tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' }], true, true),
      Buffer.from([0x08, 0x00, 0x60, 0x00, 0x02, 0x00, 0x00, 0x00, 0x43, 0x54]),
      encodeElements([{ tag: 0x00100020, vr: 'LO', value: 'PID' }], true, true),
    ]);
    const info = read(weird);
    expect(info.dataset.string(Tag.Modality)).toBe('CT');
    expect(info.dataset.string(Tag.PatientId)).toBe('PID');
  });
});

describe('extractInstanceMetadata', () => {
  it('extracts and formats index attributes', () => {
    const info = read(syntheticDicom({ patientName: 'Doe^Jane', studyDate: '20240102', modality: 'ct', seriesNumber: 3 }));
    const m = extractInstanceMetadata(info, 'ab'.repeat(32));
    expect(m.patientName).toBe('Doe, Jane');
    expect(m.patientNameRaw).toBe('Doe^Jane');
    expect(m.modality).toBe('CT');
    expect(m.seriesNumber).toBe(3);
    expect(m.studyDate).toBe('20240102');
    expect(m.derived).toEqual({ study: false, series: false, instance: false });
  });

  it('derives deterministic UIDs when they are missing', () => {
    const mk = (n: number) =>
      extractInstanceMetadata(read(syntheticDicom({ studyInstanceUid: '', seriesInstanceUid: '', sopInstanceUid: '', instanceNumber: n })), `${n}`.padStart(64, '0'));
    const a = mk(1);
    const b = mk(2);
    expect(a.derived).toEqual({ study: true, series: true, instance: true });
    expect(a.studyInstanceUid).toBe(b.studyInstanceUid);
    expect(a.seriesInstanceUid).toBe(b.seriesInstanceUid);
    expect(a.sopInstanceUid).not.toBe(b.sopInstanceUid);
    expect(a.studyInstanceUid).toMatch(/^2\.25\.\d+$/);
    expect(a.studyInstanceUid.length).toBeLessThanOrEqual(64);
    expect(mk(1).sopInstanceUid).toBe(a.sopInstanceUid);
  });

  it('rejects a dataset with nothing to identify it', () => {
    const buf = encodeElements([{ tag: 0x00080005, vr: 'CS', value: 'ISO_IR 100' }, { tag: 0x00080008, vr: 'CS', value: 'ORIGINAL' }], true, true);
    expect(() => extractInstanceMetadata(read(buf), '0'.repeat(64))).toThrow(/not a storable instance/);
  });
});

describe('hostile input', () => {
  it('reads only a bounded prefix of an enormous text value', () => {
    const huge = 'A'.repeat(2 * 1024 * 1024);
    const info = read(syntheticDicom({ extra: [{ tag: 0x00081090, vr: 'UT', value: huge }], studyDescription: 'x' }));
    const v = info.dataset.string(0x00081090);
    expect(v.length).toBe(64 * 1024);
  });

  it('turns pathological nesting into a MALFORMED error, not a crash', () => {
    // 200,000 nested undefined-length sequences, far deeper than any real file or the JS stack.
    const level = Buffer.from([0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
    const head = encodeElements([{ tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' }], true, true);
    const buf = Buffer.concat([head, Buffer.concat(Array.from({ length: 200_000 }, () => level))]);
    let error: unknown = null;
    try {
      read(buf);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DicomParseError);
    expect((error as DicomParseError).code).toBe('MALFORMED');
  });
});
