/**
 * StudyIndex writes: a study deleted and imported again in the same session gets fresh rows, a
 * batch holds the write lock from its first read, so another process writing meanwhile waits for it,
 * and a library from before schema v7 gets each instance's patient key on opening.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StudyIndex } from '../../electron/services/library/study-index';
import { openVigilServices } from '../../electron/services/vigil-services';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const STUDY_A = '1.2.826.0.1.3680043.10.1138.300';
const STUDY_B = '1.2.826.0.1.3680043.10.1138.400';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-index-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function write(rel: string, content: Buffer): void {
  const p = join(root, 'in', rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
}

describe('StudyIndex', () => {
  it('imports a study again after deleting it in the same session', async () => {
    // Study A: its own patient (deleted with it), two series. Study B: another patient, left alone.
    for (let i = 1; i <= 3; i++) {
      write(`a/ct${i}.dcm`, syntheticDicom({ patientId: 'PA', studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.${i}`, instanceNumber: i }));
    }
    write('a/scout.dcm', syntheticDicom({ patientId: 'PA', studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.2`, sopInstanceUid: `${STUDY_A}.2.1`, seriesNumber: 2 }));
    write('b/mr1.dcm', syntheticDicom({ patientId: 'PB', modality: 'MR', studyInstanceUid: STUDY_B, seriesInstanceUid: `${STUDY_B}.1`, sopInstanceUid: `${STUDY_B}.1.1` }));
    const services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0 });
    try {
      const library = services.library;
      const first = await library.import({ paths: [join(root, 'in')] });
      expect(first.status).toBe('done');
      const before = library.getStudy(STUDY_A);
      expect(library.deleteStudy(STUDY_A)).toBe(true);
      expect(library.totals()).toEqual({ patients: 1, studies: 1, series: 1, instances: 1 });

      const again = await library.import({ paths: [join(root, 'in', 'a')] });
      expect(again.status).toBe('done');
      expect(again.imported).toBe(4);
      expect(again.rejected).toEqual([]);
      expect(library.totals()).toEqual({ patients: 2, studies: 2, series: 3, instances: 5 });
      expect(library.getStudy(STUDY_A)).toEqual(before);
      expect(library.listInstances(`${STUDY_A}.1`).instances.map((i) => i.sopInstanceUid)).toEqual([1, 2, 3].map((i) => `${STUDY_A}.1.${i}`));
      expect(library.listStudies({}).studies.map((s) => s.studyInstanceUid).sort()).toEqual([STUDY_A, STUDY_B]);
    } finally {
      await services.close();
    }
  });

  it('tells where a stored instance is filed, and moves only a referenced instance to a managed copy', async () => {
    write('r/1.dcm', syntheticDicom({ patientId: 'PR', studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.1` }));
    write('c/1.dcm', syntheticDicom({ patientId: 'PR', studyInstanceUid: STUDY_B, seriesInstanceUid: `${STUDY_B}.1`, sopInstanceUid: `${STUDY_B}.1.1` }));
    const services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0 });
    try {
      await services.library.import({ paths: [join(root, 'in', 'r')], storageMode: 'reference' });
      await services.library.import({ paths: [join(root, 'in', 'c')], storageMode: 'copy' });
      const index = services.library.studyIndex;
      expect(index.storedInstance('9.9.9')).toBeNull();
      const ref = index.storedInstance(`${STUDY_A}.1.1`)!;
      expect(ref).toMatchObject({ studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, storage: 'reference', sha256: null, sourcePath: join(root, 'in', 'r', '1.dcm') });
      const copy = index.storedInstance(`${STUDY_B}.1.1`)!;
      expect(copy).toMatchObject({ studyInstanceUid: STUDY_B, storage: 'copy', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      // Both files name one patient.
      expect(ref.patientKey).toBe(copy.patientKey);
      const target = { sha256: 'a'.repeat(64), size: 1, path: 'store/aa/aa/x.dcm', sourcePath: '/elsewhere/x.dcm', sourceMtimeMs: 0, encoding: { transferSyntaxUid: '1.2.840.10008.1.2', photometricInterpretation: 'MONOCHROME2', samplesPerPixel: 1, bitsAllocated: 16 } };
      expect(index.switchToManagedCopy({ sopInstanceUid: `${STUDY_B}.1.1`, ...target })).toBe(false);
      expect(index.storedInstance(`${STUDY_B}.1.1`)).toEqual(copy);
      expect(index.switchToManagedCopy({ sopInstanceUid: `${STUDY_A}.1.1`, ...target })).toBe(true);
      expect(index.storedInstance(`${STUDY_A}.1.1`)).toMatchObject({ storage: 'copy', sha256: target.sha256, size: 1, sourcePath: '/elsewhere/x.dcm', sourceMtimeMs: 0, patientKey: ref.patientKey });
      expect(index.instanceLocation(`${STUDY_A}.1.1`)).toEqual({ storage: 'copy', path: target.path, size: 1, sourceMtimeMs: 0 });
    } finally {
      await services.close();
    }
  });

  it('migrates a v6 library: keeps every instance, gives each its study\'s patient key, and opens again unchanged', async () => {
    // One study whose files disagree on the patient (filed under PA), and another study of patient PB.
    write('a/1.dcm', syntheticDicom({ patientId: 'PA', studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.1` }));
    write('a/2.dcm', syntheticDicom({ patientId: 'PA2', studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.2`, instanceNumber: 2 }));
    write('b/1.dcm', syntheticDicom({ patientId: 'PB', studyInstanceUid: STUDY_B, seriesInstanceUid: `${STUDY_B}.1`, sopInstanceUid: `${STUDY_B}.1.1` }));
    const file = join(root, 'data', 'library.sqlite');
    const uids = [`${STUDY_A}.1.1`, `${STUDY_A}.1.2`, `${STUDY_B}.1.1`];
    const services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0 });
    const instanceRows = (db: Database.Database) =>
      db.prepare<[], Record<string, unknown>>('SELECT * FROM instances ORDER BY id').all().map(({ patient_key: _ownKey, ...rest }) => rest);
    let own: string[];
    let rowsBefore: Record<string, unknown>[];
    try {
      expect((await services.library.import({ paths: [join(root, 'in')] })).imported).toBe(3);
      own = uids.map((uid) => services.library.studyIndex.storedInstance(uid)!.patientKey);
      rowsBefore = instanceRows(services.library.studyIndex.db);
    } finally {
      await services.close();
    }
    // Each instance has its file's key; the second file's is not its study's.
    expect(new Set(own).size).toBe(3);

    // Back to schema v6: instances without the column (nor v8's, which migrating again adds).
    const v6 = new Database(file);
    v6.exec('ALTER TABLE instances DROP COLUMN patient_key; ALTER TABLE instances DROP COLUMN anatomic_region; ALTER TABLE ai_jobs DROP COLUMN reader_vouch;');
    v6.prepare('UPDATE schema_version SET version = 6').run();
    v6.close();

    const columns = (db: Database.Database) => db.prepare<[], { name: string }>('PRAGMA table_info(instances)').all().map((c) => c.name);
    const version = (db: Database.Database) => db.prepare<[], { version: number }>('SELECT version FROM schema_version').get()!.version;
    const keys = (index: StudyIndex) => uids.map((uid) => index.storedInstance(uid)?.patientKey);
    let index = new StudyIndex(file);
    try {
      expect(version(index.db)).toBe(8);
      expect(columns(index.db)).toContain('patient_key');
      expect(index.totals()).toEqual({ patients: 3, studies: 2, series: 2, instances: 3 });
      // Only the study's patient was known before v7: the second file's instance gets PA's key.
      expect(keys(index)).toEqual([own[0], own[0], own[2]]);
      // Every other column of every row as it was.
      expect(instanceRows(index.db)).toEqual(rowsBefore);
    } finally {
      index.close();
    }
    // Opening again runs no migration and changes nothing.
    index = new StudyIndex(file);
    try {
      expect(version(index.db)).toBe(8);
      expect(columns(index.db).filter((c) => c === 'patient_key')).toHaveLength(1);
      expect(keys(index)).toEqual([own[0], own[0], own[2]]);
    } finally {
      index.close();
    }
  });

  it('holds the write lock for a whole batch, so a write from another process waits instead of failing the batch', () => {
    const file = join(root, 'library.sqlite');
    const index = new StudyIndex(file);
    // Another process on the same library (the CLI beside the app), here without waiting for locks.
    const other = new Database(file);
    other.pragma('busy_timeout = 0');
    try {
      const otherWrite = other.prepare('INSERT INTO settings (key, value) VALUES (?, ?)');
      index.transaction(() => {
        // A batch reads first (is this instance known?), then writes.
        expect(index.storedInstance('1.2.3')).toBeNull();
        expect(() => otherWrite.run('other', 'during')).toThrow(/locked|busy/i);
        index.setSetting('batch', 'written');
      });
      otherWrite.run('other', 'after');
      expect(index.getSetting('batch')).toBe('written');
      expect(index.getSetting('other')).toBe('after');
    } finally {
      other.close();
      index.close();
    }
  });
});
