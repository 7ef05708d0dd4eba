/**
 * A worker that dies between giving a managed copy its stored name and reporting it would leave a copy in no row that
 * nobody removes. The file processor reports a copy it creates just before its rename, so that whenever the copy is
 * under its stored name the pool already knows of it (and hands it to the library, which removes it unless a row
 * references its content); a copy that replaces a stored file of the wrong size is reported only after its rename, so
 * a file that was there before the import is never reported as the task's. The death is simulated by a rename that
 * throws, just before or just after renaming.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type PlacedCopy, processImportFile, storedRelativePath } from '../../electron/services/library/import-file-processor';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { storedCopies } from '../fixtures/stored-copies';

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, renameSync: vi.fn(real.renameSync) };
});

const realRenameSync = (await vi.importActual<typeof import('node:fs')>('node:fs')).renameSync;

let root: string;
let dataDir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-copy-reported-'));
  dataDir = join(root, 'data');
  mkdirSync(dataDir);
});
afterEach(() => {
  vi.mocked(fs.renameSync).mockReset();
  vi.mocked(fs.renameSync).mockImplementation(realRenameSync);
  rmSync(root, { recursive: true, force: true });
});


/** The next rename into the store throws (the worker dies there), just before or just after renaming; returns what had been reported by then. */
function dieAtTheRename(when: 'before' | 'after', reported: readonly PlacedCopy[]): { reportedAtDeath: PlacedCopy[] | null } {
  const death = { reportedAtDeath: null as PlacedCopy[] | null };
  vi.mocked(fs.renameSync).mockImplementationOnce((from, to) => {
    if (when === 'after') realRenameSync(from, to);
    death.reportedAtDeath = [...reported];
    throw new Error('injected: the worker dies here');
  });
  return death;
}

const STREAMED = { wholeReadLimit: 1 };

describe('processImportFile: a worker dying at the rename of a copy it creates', () => {
  it.each([
    ['read whole', {}],
    ['streamed', STREAMED],
  ])('%s: just after the rename, the copy under its stored name has already been reported', (_, limit) => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.931' });
    const path = join(root, 'a.dcm');
    writeFileSync(path, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const reported: PlacedCopy[] = [];
    const death = dieAtTheRename('after', reported);
    processImportFile({ id: 4, path, mode: 'copy', dataDir, ...limit }, (copy) => reported.push(copy));
    // Before, a copy was reported only after its rename: a worker dying in between left it unknown, in no row.
    expect(storedCopies(dataDir)).toEqual([storedRelativePath(sha256)]);
    expect(death.reportedAtDeath).toEqual([{ id: 4, storedPath: storedRelativePath(sha256), sha256, size: bytes.length }]);
  });

  it.each([
    ['read whole', {}],
    ['streamed', STREAMED],
  ])('%s: replacing a stored file of the wrong size, reports nothing before the rename, and the copy once it is in place', (_, limit) => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.932' });
    const path = join(root, 'b.dcm');
    writeFileSync(path, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const stored = join(dataDir, storedRelativePath(sha256));
    mkdirSync(join(stored, '..'), { recursive: true });
    // As an interrupted, non-durable write could have left it: there before this import, so never reported as the
    // task's (the library would remove it, unreferenced, should the worker die before the rename).
    writeFileSync(stored, bytes.subarray(0, 100));

    const reported: PlacedCopy[] = [];
    const death = dieAtTheRename('before', reported);
    expect(processImportFile({ id: 5, path, mode: 'copy', dataDir, ...limit }, (copy) => reported.push(copy)).kind).toBe('rejected');
    expect(death.reportedAtDeath).toEqual([]);
    expect(reported).toEqual([]);
    expect(readFileSync(stored)).toEqual(bytes.subarray(0, 100));

    const inPlaceWhenReported: boolean[] = [];
    const repaired = processImportFile({ id: 6, path, mode: 'copy', dataDir, ...limit }, (copy) => {
      reported.push(copy);
      inPlaceWhenReported.push(readFileSync(stored).equals(bytes));
    });
    expect(repaired).toMatchObject({ kind: 'instance', createdStoredFile: true });
    expect(reported).toEqual([{ id: 6, storedPath: storedRelativePath(sha256), sha256, size: bytes.length }]);
    expect(inPlaceWhenReported).toEqual([true]);
  });

  it('a copy reported before a rename that then fails comes back with the file rejected, and nothing is stored', () => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.933' });
    const path = join(root, 'c.dcm');
    writeFileSync(path, bytes);
    const reported: PlacedCopy[] = [];
    vi.mocked(fs.renameSync).mockImplementationOnce(() => {
      throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
    });
    const r = processImportFile({ id: 7, path, mode: 'copy', dataDir }, (copy) => reported.push(copy));
    // The pool forgets a reported copy once the file's result comes: nothing was placed.
    expect(r).toMatchObject({ id: 7, kind: 'rejected', code: 'STORAGE_WRITE_FAILED' });
    expect(reported).toHaveLength(1);
    expect(storedCopies(dataDir)).toEqual([]);
  });
});
