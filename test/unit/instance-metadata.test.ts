/**
 * An import records only INDEX_TAGS (ReadOptions.keepTags): the record extracted from such a
 * read must equal the one extracted from a full read, for every encoding and every file of
 * the real corpus when it is present.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { DicomParseError, type ReadOptions, Tag, readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { extractInstanceMetadata, INDEX_SEQUENCES, INDEX_TAGS, type InstanceMetadata, isDicomdir } from '../../electron/services/dicom/instance-metadata';
import { parsePersonName } from '../../electron/services/dicom/person-name';
import { type DicomElementSpec, type TransferSyntax, encodeElements, syntheticDicom, syntheticDicomdir } from '../fixtures/synthetic-dicom';

const FULL: ReadOptions = { expandSequences: INDEX_SEQUENCES };
const INDEX: ReadOptions = { expandSequences: INDEX_SEQUENCES, keepTags: INDEX_TAGS };
const hash = () => 'f'.repeat(64);

type Outcome = { kind: 'instance'; metadata: InstanceMetadata } | { kind: 'dicomdir' } | { kind: 'error'; code: string; message: string };

function outcome(bytes: Buffer, opts: ReadOptions): Outcome {
  try {
    const info = readDicom(new BufferByteSource(bytes), opts);
    if (isDicomdir(info)) return { kind: 'dicomdir' };
    return { kind: 'instance', metadata: extractInstanceMetadata(info, hash) };
  } catch (err) {
    if (err instanceof DicomParseError) return { kind: 'error', code: err.code, message: err.message };
    throw err;
  }
}

/** Attributes outside INDEX_TAGS, so that a read keeping only INDEX_TAGS really leaves something out. */
const OTHERS: DicomElementSpec[] = [
  { tag: 0x00080070, vr: 'LO', value: 'ACME' }, // Manufacturer
  { tag: 0x00180088, vr: 'DS', value: '1.25' }, // Spacing Between Slices
  { tag: 0x00191001, vr: 'LO', value: 'private' },
  {
    tag: 0x00081140, // Referenced Image Sequence
    vr: 'SQ',
    undefinedLength: true,
    value: [[{ tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' }, { tag: 0x00081155, vr: 'UI', value: '1.2.3.4.5' }]],
  },
  { tag: 0x00200032, vr: 'DS', value: '-125.5\\-130\\42.25' },
  { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
  { tag: 0x00201041, vr: 'DS', value: ' 42.25 ' },
  { tag: 0x00180050, vr: 'DS', value: '2.5' },
  { tag: 0x00080008, vr: 'CS', value: 'ORIGINAL\\PRIMARY\\AXIAL' },
  { tag: 0x00080090, vr: 'PN', value: 'House^Gregory^^Dr' },
];

const SYNTAXES: TransferSyntax[] = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.4.90'];

describe('INDEX_TAGS', () => {
  it.each(SYNTAXES)('gives the same record as a full read in transfer syntax %s, recording only index attributes', (ts) => {
    const bytes = syntheticDicom({ transferSyntax: ts, studyDate: '2024.03.15', patientName: 'Doe^Jane^^Ms=ドウ^ジェーン', extra: OTHERS });
    const full = readDicom(new BufferByteSource(bytes), FULL);
    const index = readDicom(new BufferByteSource(bytes), INDEX);
    for (const tag of index.dataset.elements.keys()) expect(INDEX_TAGS.has(tag) || tag === Tag.PixelData).toBe(true);
    expect(index.dataset.elements.size).toBeLessThan(full.dataset.elements.size);
    const want = extractInstanceMetadata(full, hash);
    expect(extractInstanceMetadata(index, hash)).toEqual(want);
    expect(want.imagePositionPatient).toBe('-125.5\\-130\\42.25');
    expect(want.sliceLocation).toBe(42.25);
    expect(want.studyDate).toBe('20240315');
    expect(want.referringPhysician).toBe('House, Dr Gregory');
  });

  it.each(SYNTAXES)('records Patient\'s Age and the Anatomic Region Sequence code as a full read does, in transfer syntax %s', (ts) => {
    const region: DicomElementSpec = {
      tag: 0x00082218, // Anatomic Region Sequence
      vr: 'SQ',
      undefinedLength: ts === '1.2.840.10008.1.2',
      value: [
        [
          { tag: 0x00080100, vr: 'SH', value: '76752008' },
          { tag: 0x00080102, vr: 'SH', value: 'SCT' },
          { tag: 0x00080104, vr: 'LO', value: 'Breast' },
        ],
      ],
    };
    const bytes = syntheticDicom({ transferSyntax: ts, modality: 'US', extra: [...OTHERS, region, { tag: 0x00101010, vr: 'AS', value: '054Y' }] });
    const want = extractInstanceMetadata(readDicom(new BufferByteSource(bytes), FULL), hash);
    expect(extractInstanceMetadata(readDicom(new BufferByteSource(bytes), INDEX), hash)).toEqual(want);
    expect(want.patientAge).toBe('054Y');
    expect(want.anatomicRegion).toBe('SCT^76752008^Breast');
    const none = extractInstanceMetadata(readDicom(new BufferByteSource(syntheticDicom({ transferSyntax: ts })), INDEX), hash);
    expect([none.patientAge, none.anatomicRegion]).toEqual(['', '']);
  });

  it('keeps Specific Character Set and decodes text with it', () => {
    const bytes = syntheticDicom({ specificCharacterSet: 'ISO_IR 192', patientName: Buffer.from('Müller^Jürgen', 'utf8'), extra: OTHERS });
    const m = outcome(bytes, INDEX);
    expect(m).toEqual(outcome(bytes, FULL));
    expect(m.kind === 'instance' && m.metadata.patientName).toBe('Müller, Jürgen');
  });

  it('still tells a dataset of unlisted attributes from an empty one', () => {
    // A bare dataset of attributes the index never reads: nothing is recorded, but the dataset is
    // not empty, so the file is rejected as not storable (as with a full read), not as empty.
    const bytes = encodeElements([{ tag: 0x00080070, vr: 'LO', value: 'ACME' }, { tag: 0x00180088, vr: 'DS', value: '1.25' }], true, true);
    expect(readDicom(new BufferByteSource(bytes), INDEX).dataset.elements.size).toBe(0);
    const got = outcome(bytes, INDEX);
    expect(got).toEqual(outcome(bytes, FULL));
    expect(got.kind === 'error' && got.message).toMatch(/not a storable instance/);
  });

  it('still finds a DICOMDIR and its records', () => {
    const bytes = syntheticDicomdir([{ fileId: 'IMAGES\\IM1', sopInstanceUid: '1.2.3' }]);
    const info = readDicom(new BufferByteSource(bytes), INDEX);
    expect(isDicomdir(info)).toBe(true);
    expect(info.dataset.elements.get(Tag.DirectoryRecordSequence)?.items).toHaveLength(1);
  });

  const SHARED = resolve(__dirname, '../..', process.env.VIGIL_SHARED_DATA ?? '../shared/data');
  it.skipIf(!existsSync(SHARED))('reads the coded anatomic region and Patient\'s Age of real files', () => {
    const read = (rel: string) => extractInstanceMetadata(readDicom(new BufferByteSource(readFileSync(join(SHARED, rel))), INDEX), hash);
    expect(read('dicom-misc/fo-dicom/OutOfBoundsOverlay.dcm').anatomicRegion).toBe('SNM3^T-04000^Breast');
    expect(read('dicom-misc/orthanc/Issue19.dcm').patientAge).toBe('024Y');
  });
  it.skipIf(!existsSync(SHARED))('gives the same outcome as a full read for every file of the shared corpus', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.size > 0) files.push(p);
      }
    };
    walk(SHARED);
    let instances = 0;
    for (const f of files) {
      const bytes = readFileSync(f);
      const want = outcome(bytes, FULL);
      expect(outcome(bytes, INDEX), f).toEqual(want);
      if (want.kind === 'instance') instances++;
    }
    expect(instances).toBeGreaterThan(100);
  });
});

describe('parsePersonName', () => {
  it.each([
    ['Doe', 'Doe', 'Doe'],
    ['  Doe  ', 'Doe', 'Doe'],
    ['Doe^Jane', 'Doe, Jane', 'Doe, Jane'],
    ['Doe^Jane^Q^Dr^Jr', 'Doe, Dr Jane Q, Jr', 'Doe, Dr Jane Q, Jr'],
    ['^Jane', 'Jane', 'Jane'],
    ['', '', ''],
    ['Yamada^Tarou=山田^太郎', 'Yamada, Tarou', 'Yamada, Tarou 山田, 太郎'],
    ['=山田^太郎', '山田, 太郎', '山田, 太郎'],
    ['Doe^Jane\\Roe^Richard', 'Doe, Jane; Roe, Richard', 'Doe, Jane Roe, Richard'],
  ])('%j is shown as %j and searched as %j', (value, display, searchText) => {
    expect(parsePersonName(value)).toEqual({ display, searchText });
  });
});
