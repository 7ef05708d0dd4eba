/**
 * StudyIndex writes: a study deleted and imported again in the same session gets fresh rows, and a
 * batch holds the write lock from its first read, so another process writing meanwhile waits for it.
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
      // The patient key is the index's own: both studies belong to one patient.
      expect(ref.patientKey).toBe(copy.patientKey);
      const target = { sha256: 'a'.repeat(64), size: 1, path: 'store/aa/aa/x.dcm', sourcePath: '/elsewhere/x.dcm', sourceMtimeMs: 0, encoding: { transferSyntaxUid: '1.2.840.10008.1.2', photometricInterpretation: 'MONOCHROME2', samplesPerPixel: 1, bitsAllocated: 16 } };
      expect(index.switchToManagedCopy({ sopInstanceUid: `${STUDY_B}.1.1`, ...target })).toBe(false);
      expect(index.storedInstance(`${STUDY_B}.1.1`)).toEqual(copy);
      expect(index.switchToManagedCopy({ sopInstanceUid: `${STUDY_A}.1.1`, ...target })).toBe(true);
      expect(index.storedInstance(`${STUDY_A}.1.1`)).toMatchObject({ storage: 'copy', sha256: target.sha256, size: 1, sourcePath: '/elsewhere/x.dcm', sourceMtimeMs: 0 });
      expect(index.instanceLocation(`${STUDY_A}.1.1`)).toEqual({ storage: 'copy', path: target.path, size: 1, sourceMtimeMs: 0 });
    } finally {
      await services.close();
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
        expect(index.hasInstance('1.2.3')).toBe(false);
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
