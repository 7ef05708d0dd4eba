import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BufferByteSource, FileByteSource } from '../../electron/services/dicom/byte-source';
import { CharacterSet } from '../../electron/services/dicom/character-set';
import { DicomParseError, Tag, readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { extractInstanceMetadata } from '../../electron/services/dicom/instance-metadata';
import { type TransferSyntax, encodeElements, syntheticDicom, syntheticDicomdir, textBytes } from '../fixtures/synthetic-dicom';

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

/** Every element of a dataset as [tag, vr, offset, length, value as text], for comparing two reads. */
function elementDump(info: ReturnType<typeof read>): unknown[] {
  return [...info.dataset.elements.values()].map((e) => [
    e.tag, e.vr, e.offset, e.length,
    e.vr === 'SQ' ? (e.items?.map((item) => [...item.elements.keys()].map((tag) => item.string(tag))) ?? null) : info.dataset.string(e.tag),
  ]);
}
const EXPAND = { expandSequences: new Set([Tag.DirectoryRecordSequence]) };

describe('reading from a file in windows', () => {
  const files: [string, Buffer][] = [
    ...SYNTAXES.map((ts): [string, Buffer] => [ts, syntheticDicom({ transferSyntax: ts, rows: 16, columns: 16, extra: [{ tag: 0x00204000, vr: 'LT', value: 'x'.repeat(3000) }] })]),
    ['DICOMDIR', syntheticDicomdir(Array.from({ length: 20 }, (_, i) => ({ fileId: `DICOM/IMG${i}`, sopInstanceUid: `1.2.3.${i}` })))],
  ];

  // First windows from 9 bytes (every header straddles a window edge) to larger than the file.
  it.each(files)('reads %s the same through a file as from memory, whatever the first window', (_name, bytes) => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-window-'));
    try {
      const path = join(dir, 'f.dcm');
      writeFileSync(path, bytes);
      const want = elementDump(readDicom(new BufferByteSource(bytes), EXPAND));
      // A scratch grown by an earlier, bigger file must not change what this one reads.
      const scratch = Buffer.alloc(bytes.length * 2, 0xee);
      for (const firstWindow of [9, 64, 1000, 4096, bytes.length + 100]) {
        const source = new FileByteSource(openSync(path, 'r'), bytes.length, scratch, firstWindow);
        try {
          expect(elementDump(readDicom(source, EXPAND))).toEqual(want);
        } finally {
          source.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closes a descriptor it was given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-window-'));
    try {
      const path = join(dir, 'f.dcm');
      writeFileSync(path, syntheticDicom());
      const fd = openSync(path, 'r');
      new FileByteSource(fd, fstatSync(fd).size).close();
      expect(() => closeSync(fd)).toThrow(/EBADF/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('text padding', () => {
  // The reader trims padding bytes before decoding; the result must equal decoding first and trimming the text.
  const decodedThenTrimmed = (bytes: Uint8Array, charset: string, vr: string) => {
    const text = new CharacterSet(charset.split('\\')).decode(bytes).replace(/[\0 ]+$/, '');
    return vr === 'LT' ? text : text.replace(/^ +/, '');
  };
  const cases: [string, string, string, number[]][] = [
    ['UTF-8 with trailing spaces', 'ISO_IR 192', 'LO', [...Buffer.from('  Zoë Müller', 'utf8'), 0x20, 0x20]],
    ['UTF-8 cut inside a character', 'ISO_IR 192', 'LO', [...Buffer.from('ab', 'utf8'), 0xe4, 0xb8, 0x20]],
    ['GB18030 with trailing NULs', 'GB18030', 'PN', [0xcd, 0xf5, 0x5e, 0xd0, 0xa1, 0xc3, 0xf7, 0x00, 0x00]],
    ['ISO 2022 JP with escapes and padding', '\\ISO 2022 IR 87', 'PN', [0x59, 0x61, 0x6d, 0x61, 0x64, 0x61, 0x3d, 0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42, 0x20]],
    ['Latin-1 high bytes', 'ISO_IR 100', 'LO', [0x20, 0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72, 0x20]],
    ['LT keeps leading spaces', 'ISO_IR 100', 'LT', [0x20, 0x20, 0x6e, 0x6f, 0x74, 0x65, 0x20, 0x00]],
    ['only padding', 'ISO_IR 192', 'LO', [0x20, 0x00, 0x20, 0x00]],
  ];
  it.each(cases)('%s', (_name, charset, vr, bytes) => {
    const tag = vr === 'PN' ? Tag.PatientName : vr === 'LT' ? 0x00204000 : 0x00081090;
    const info = read(syntheticDicom({ specificCharacterSet: charset, ...(vr === 'PN' ? { patientName: textBytes(bytes) } : { extra: [{ tag, vr, value: textBytes(bytes) }] }) }));
    const element = info.dataset.elements.get(tag)!;
    const raw = info.dataset.source.window(element.offset, element.length);
    expect(info.dataset.string(tag)).toBe(decodedThenTrimmed(raw.buf.subarray(raw.start, raw.start + element.length), charset, vr));
    // And the decoders agree with the platform's for the plain cases.
    if (charset === 'ISO_IR 192') expect(info.dataset.string(tag)).toBe(new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replace(/[\0 ]+$/, '').replace(/^ +/, ''));
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
