/**
 * Imports a generated corpus (no ../shared/data needed) with the built CLI and
 * checks every count exactly: 2 patients, 3 studies, 4 series, 30 instances, from
 * 37 files (one SOP instance in four transfer syntaxes, a study without any UIDs,
 * GB18030 and UTF-8 names, a DICOMDIR tree in upper-case folders referenced in
 * lower case plus one missing reference, a text file, a truncated copy, an empty file).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom, syntheticDicomdir, testUid, textBytes, type TransferSyntax } from '../fixtures/synthetic-dicom';
import { ensureBuilt, importCli, importCounts, type ImportJson, instanceRows, openLibrary, pythonHasPydicom, runOracle, studiesCli, studyTree, walkFiles } from './helpers';

const GB18030_NAME = [0xcd, 0xf5, 0x5e, 0xd0, 0xa1, 0xc3, 0xf7]; // 王^小明
const UTF8_NAME = 'Müller^Zoë=ミュラー^ゾエ';

interface Layout {
  root: string;
  dicomdir: string;
  study1: string;
  series1a: string;
  series1b: string;
  study3: string;
  series3: string;
  multiSyntaxSop: string;
  truncated: string;
  textFile: string;
  emptyFile: string;
  missingRef: string;
  dicomdirTreeFiles: string[];
}

function countFiles(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

function writeCorpus(root: string): Layout {
  const put = (rel: string, bytes: Buffer | string) => {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
    return p;
  };
  const study1 = testUid();
  const series1a = testUid();
  const series1b = testUid();
  const study3 = testUid();
  const series3 = testUid();

  // Patient A (UTF-8 name): study 1, series 1a = 10 slices + one SOP instance in four syntaxes; series 1b = 6 slices.
  const patientA = { patientName: Buffer.from(UTF8_NAME, 'utf8'), specificCharacterSet: 'ISO_IR 192', patientId: 'SYN-A', birthDate: '19600203' };
  const validSlices: Buffer[] = [];
  for (let i = 1; i <= 10; i++) {
    const buf = syntheticDicom({ ...patientA, studyInstanceUid: study1, seriesInstanceUid: series1a, seriesNumber: 1, instanceNumber: i, rows: 16, columns: 16 });
    validSlices.push(buf);
    put(`patient-a/study1/series1a/slice${String(i).padStart(2, '0')}.dcm`, buf);
  }
  const multiSyntaxSop = testUid();
  const syntaxes: [TransferSyntax, string][] = [
    ['1.2.840.10008.1.2', 'implicit'],
    ['1.2.840.10008.1.2.1', 'explicit-le'],
    ['1.2.840.10008.1.2.2', 'big-endian'],
    ['1.2.840.10008.1.2.1.99', 'deflated'],
  ];
  for (const [ts, label] of syntaxes) {
    put(
      `patient-a/study1/same-instance/${label}.dcm`,
      syntheticDicom({ ...patientA, studyInstanceUid: study1, seriesInstanceUid: series1a, seriesNumber: 1, instanceNumber: 11, sopInstanceUid: multiSyntaxSop, transferSyntax: ts }),
    );
  }
  for (let i = 1; i <= 6; i++) {
    put(
      `patient-a/study1/series1b/img${i}.dcm`,
      syntheticDicom({ ...patientA, studyInstanceUid: study1, seriesInstanceUid: series1b, seriesNumber: 2, instanceNumber: i, modality: 'CT', seriesDescription: 'CORONAL' }),
    );
  }

  // Patient B (GB18030 name): study 2 without any UIDs (5 slices), study 3 in a DICOMDIR tree (8 images).
  const patientB = { patientName: textBytes(GB18030_NAME), specificCharacterSet: 'GB18030', patientId: 'SYN-B', birthDate: '19811111' };
  for (let i = 1; i <= 5; i++) {
    put(
      `patient-b/no-uids/slice${i}.dcm`,
      syntheticDicom({ ...patientB, studyInstanceUid: '', seriesInstanceUid: '', sopInstanceUid: '', studyDescription: 'NO UIDS', seriesNumber: 7, instanceNumber: i, studyDate: '20230505' }),
    );
  }
  const records: { fileId: string; sopInstanceUid: string }[] = [];
  const dicomdirTreeFiles: string[] = [];
  for (let i = 1; i <= 8; i++) {
    const sop = testUid();
    // On disk upper case (ISO 9660 style); the DICOMDIR references the lower-case spelling.
    dicomdirTreeFiles.push(
      put(
        `cd/DICOM/PAT00001/STU00001/SER00001/IMG0000${i}`,
        syntheticDicom({ ...patientB, studyInstanceUid: study3, seriesInstanceUid: series3, sopInstanceUid: sop, modality: 'MR', seriesNumber: 1, instanceNumber: i, studyDate: '20240101' }),
      ),
    );
    records.push({ fileId: `dicom/pat00001/stu00001/ser00001/img0000${i}`, sopInstanceUid: sop });
  }
  records.push({ fileId: 'DICOM/PAT00001/STU00001/SER00001/IMG00099', sopInstanceUid: testUid() });
  const dicomdir = put('cd/DICOMDIR', syntheticDicomdir(records));

  // Not importable: a text file, a copy of a valid slice cut inside its pixel data, an empty file.
  const textFile = put('notes/readme.txt', 'This folder holds synthetic test data.\n');
  const firstSlice = validSlices[0]!;
  const truncated = put('broken/truncated.dcm', firstSlice.subarray(0, firstSlice.length - 100));
  const emptyFile = put('broken/empty.dcm', Buffer.alloc(0));

  return {
    root,
    dicomdir,
    study1,
    series1a,
    series1b,
    study3,
    series3,
    multiSyntaxSop,
    truncated,
    textFile,
    emptyFile,
    missingRef: join(root, 'cd', 'DICOM', 'PAT00001', 'STU00001', 'SER00001', 'IMG00099'),
    dicomdirTreeFiles,
  };
}

describe('import of a generated corpus', () => {
  let work: string;
  let corpus: Layout;
  let copyDir: string;
  let first: ImportJson;
  let firstCode: number | null;

  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'vigil-synthetic-'));
    corpus = writeCorpus(join(work, 'corpus'));
    copyDir = join(work, 'library-copy');
    const run = importCli([corpus.root], copyDir);
    first = run.json;
    firstCode = run.code;
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('writes the corpus it describes', () => {
    expect(walkFiles(corpus.root)).toHaveLength(37);
  });

  it('imports with exact counts', () => {
    expect(firstCode).toBe(0);
    expect(first.status).toBe('done');
    const rejected = Object.fromEntries(first.rejected.map((r) => [r.path, r.code]));
    expect(rejected).toEqual({
      [corpus.textFile]: 'NOT_DICOM',
      [corpus.truncated]: 'TRUNCATED',
      [corpus.emptyFile]: 'EMPTY_FILE',
      [corpus.missingRef]: 'MISSING_REFERENCE',
    });
    for (const r of first.rejected) expect(r.reason.length).toBeGreaterThan(0);
    expect({
      offered: first.offered,
      imported: first.imported,
      duplicates: first.duplicates,
      patients: first.patients,
      studies: first.studies,
      series: first.series,
      instances: first.instances,
    }).toEqual({
      offered: 38, // 37 files + 1 missing DICOMDIR reference
      imported: 31, // 30 instances + the DICOMDIR
      duplicates: 3, // the same SOP instance in three more transfer syntaxes
      patients: 2,
      studies: 3,
      series: 4,
      instances: 30,
    });
  });

  it('groups series and studies as written, the UID-less slices into one derived study and series', () => {
    const tree = studyTree(studiesCli(copyDir).json);
    expect(tree[corpus.study1]).toEqual({ [corpus.series1a]: 11, [corpus.series1b]: 6 });
    expect(tree[corpus.study3]).toEqual({ [corpus.series3]: 8 });
    const derived = Object.keys(tree).filter((uid) => uid !== corpus.study1 && uid !== corpus.study3);
    expect(derived).toHaveLength(1);
    expect(derived[0]).toMatch(/^2\.25\.\d+$/);
    const derivedSeries = Object.entries(tree[derived[0]!]!);
    expect(derivedSeries).toHaveLength(1);
    expect(derivedSeries[0]![0]).toMatch(/^2\.25\.\d+$/);
    expect(derivedSeries[0]![1]).toBe(5);

    const db = openLibrary(copyDir);
    try {
      const rows = instanceRows(db);
      const noUids = rows.filter((r) => r.study_uid === derived[0]);
      expect(noUids).toHaveLength(5);
      for (const r of noUids) {
        expect(r.uid_derived).toBe(1);
        expect(r.series_derived).toBe(1);
        expect(r.study_derived).toBe(1);
        expect(r.sop_instance_uid).toMatch(/^2\.25\.\d+$/);
      }
      expect(rows.filter((r) => r.sop_instance_uid === corpus.multiSyntaxSop)).toHaveLength(1);
    } finally {
      db.close();
    }
  });

  it('decodes the GB18030 and UTF-8 patient names', () => {
    const db = openLibrary(copyDir);
    try {
      const patients = db.prepare<[], { patient_id: string; name_raw: string; name: string }>('SELECT patient_id, name_raw, name FROM patients ORDER BY patient_id').all();
      expect(patients).toEqual([
        { patient_id: 'SYN-A', name_raw: UTF8_NAME, name: 'Müller, Zoë' },
        { patient_id: 'SYN-B', name_raw: '王^小明', name: '王, 小明' },
      ]);
    } finally {
      db.close();
    }
  });

  it('keeps one managed copy per imported instance (copies of duplicates are dropped)', () => {
    expect(countFiles(join(copyDir, 'store'))).toBe(30);
    const db = openLibrary(copyDir);
    try {
      for (const r of instanceRows(db)) {
        expect(r.storage).toBe('copy');
        expect(r.path.startsWith('store')).toBe(true);
      }
    } finally {
      db.close();
    }
  });

  it.skipIf(!pythonHasPydicom())('agrees with the pydicom oracle (counts and study tree)', () => {
    const o = runOracle([corpus.root]);
    const { walkedFiles, ...want } = o.expected;
    expect(walkedFiles).toBe(37);
    expect(importCounts(first)).toEqual(want);
    expect(studyTree(studiesCli(copyDir).json)).toEqual(o.studies);
    const names = new Set(o.files.filter((f) => f.kind === 'instance').map((f) => f.patientName));
    expect([...names].sort()).toEqual([UTF8_NAME, '王^小明'].sort());
  });

  it('imports nothing the second time', () => {
    const again = importCli([corpus.root], copyDir);
    expect(again.code).toBe(0);
    expect(again.json.imported).toBe(0);
    expect(again.json.duplicates).toBe(34); // 30 instances + 3 re-encodings + the DICOMDIR
    expect(again.json.rejected).toHaveLength(4);
    expect(again.json.offered).toBe(38);
    expect([again.json.patients, again.json.studies, again.json.series, again.json.instances]).toEqual([2, 3, 4, 30]);
  });

  it('follows a DICOMDIR given on its own (case-insensitive file IDs)', () => {
    const dir = join(work, 'library-dicomdir');
    const run = importCli([corpus.dicomdir], dir);
    expect(run.code).toBe(0);
    expect(run.json.offered).toBe(10); // the DICOMDIR + 8 images + 1 missing reference
    expect(run.json.imported).toBe(9);
    expect(run.json.rejected.map((r) => [r.path, r.code])).toEqual([[corpus.missingRef, 'MISSING_REFERENCE']]);
    expect([run.json.patients, run.json.studies, run.json.series, run.json.instances]).toEqual([1, 1, 1, 8]);
    const db = openLibrary(dir);
    try {
      expect(instanceRows(db).map((r) => r.source_path).sort()).toEqual([...corpus.dicomdirTreeFiles].sort());
    } finally {
      db.close();
    }
  });

  it('indexes in place with --reference (nothing under <data-dir>/store)', () => {
    const dir = join(work, 'library-reference');
    const run = importCli([corpus.root], dir, { reference: true });
    expect(run.code).toBe(0);
    expect([run.json.offered, run.json.imported, run.json.duplicates, run.json.rejected.length]).toEqual([38, 31, 3, 4]);
    expect([run.json.patients, run.json.studies, run.json.series, run.json.instances]).toEqual([2, 3, 4, 30]);
    let stored = 0;
    try {
      stored = countFiles(join(dir, 'store'));
    } catch {
      stored = 0; // no store folder at all
    }
    expect(stored).toBe(0);
    const db = openLibrary(dir);
    try {
      for (const r of instanceRows(db)) {
        expect(r.storage).toBe('reference');
        expect(r.path).toBe(r.source_path);
        expect(r.path.startsWith(corpus.root)).toBe(true);
      }
    } finally {
      db.close();
    }
  });
});
