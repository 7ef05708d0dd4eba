/**
 * Deleting a study removes the managed copies no row references any more, but only after re-checking under the
 * index's write lock: another import on the same library (the CLI, another process) may index a copy of the same
 * content between the deletion's commit and the removal, and its row must not name a removed file. That other
 * import is played here by a second connection to the same library, committing its row right after the deletion's.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from '../../electron/services/event-hub';
import { processImportFile } from '../../electron/services/library/import-file-processor';
import { StudyIndex } from '../../electron/services/library/study-index';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const STUDY = '1.2.826.0.1.3680043.10.1138.960';
const UID = `${STUDY}.1.1`;
const BYTES = syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: UID });

let root: string;
let dataDir: string;
let source: string;
let library: StudyLibrary;
/** The other process's connection to the same library. */
let other: StudyIndex;
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'vigil-delete-copies-'));
  dataDir = join(root, 'data');
  mkdirSync(join(root, 'in'));
  source = join(root, 'in', '1.dcm');
  writeFileSync(source, BYTES);
  library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 0, storageMode: 'copy' });
  expect((await library.import({ paths: [source] })).imported).toBe(1);
  other = new StudyIndex(join(dataDir, 'library.sqlite'));
});
afterEach(async () => {
  other.close();
  await library.close();
  rmSync(root, { recursive: true, force: true });
});

/** The stored copy, as a path under the data folder. */
function storedCopy(): string {
  const file = library.instanceFile(UID);
  if (!file) throw new Error('the instance is not in the library');
  return file.path;
}

/** Runs `between` right after the deletion's transaction has committed, before the library removes any copy. */
function afterDeletionCommits(between: () => void): void {
  const index = library.studyIndex;
  const commit = index.deleteStudy.bind(index);
  vi.spyOn(index, 'deleteStudy').mockImplementationOnce((uid) => {
    const removed = commit(uid);
    between();
    return removed;
  });
}

describe('StudyLibrary.deleteStudy and another import on the same library', () => {
  it('keeps a copy that another import indexed between the deletion and the removal', () => {
    const copy = storedCopy();
    afterDeletionCommits(() => {
      // As the other import's worker would: the file is found already stored, then its batch commits the row.
      const r = processImportFile({ id: 0, path: source, mode: 'copy', dataDir });
      if (r.kind !== 'instance') throw new Error(`expected an instance, got ${r.kind}`);
      expect(r.createdStoredFile).toBe(false);
      other.startImport('other-import', [source]);
      other.transaction(() =>
        other.addInstance({ metadata: r.metadata, sha256: r.sha256, size: r.size, storage: 'copy', path: r.storedPath, sourcePath: r.path, sourceMtimeMs: r.mtimeMs, importId: 'other-import' }),
      );
    });
    expect(library.deleteStudy(STUDY)).toBe(true);
    // The other import's row is the library's now, and its file is there.
    expect(storedCopy()).toBe(copy);
    expect(readFileSync(copy)).toEqual(BYTES);
  });

  it('removes the copy when nothing references it, and keeps it when the write lock cannot be taken', async () => {
    const copy = storedCopy();
    expect(library.deleteStudy(STUDY)).toBe(true);
    expect(existsSync(copy)).toBe(false);

    // Imported again; this time another process holds the write lock when the copies are to be removed.
    expect((await library.import({ paths: [source] })).imported).toBe(1);
    expect(existsSync(copy)).toBe(true);
    // Not the default five seconds' wait for the lock.
    library.studyIndex.db.pragma('busy_timeout = 0');
    afterDeletionCommits(() => other.db.prepare('BEGIN IMMEDIATE').run());
    try {
      expect(library.deleteStudy(STUDY)).toBe(true);
    } finally {
      other.db.prepare('ROLLBACK').run();
    }
    expect(library.instanceFile(UID)).toBeNull();
    // Unindexed, but there: disk space, never an instance another import may have indexed meanwhile.
    expect(readFileSync(copy)).toEqual(BYTES);
  });
});
