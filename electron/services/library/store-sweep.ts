/**
 * Removes the temp files a crash or a power loss left in managed storage. Every writer of a
 * stored file writes its temp file in the store's incoming folder, so a start-up normally
 * reads that one folder. Earlier versions wrote `*.tmp` beside stored files: the whole store
 * is walked for those once, and a marker file in the data folder records that it was done.
 * Only files older than `minAgeMs` are removed, so the temp files of an import running now
 * (this app, or the CLI on the same library) are never touched.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INCOMING_DIR } from './import-file-processor';

/** A temp file is written and renamed within one file's import; an hour-old one belongs to no running import. */
export const STORE_TEMP_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * In the data folder (not the store, whose files are all stored DICOM or temps) once a walk of
 * the whole store found no temp file beside a stored file left to remove. Removing it only
 * costs one more whole walk.
 */
export const LEGACY_TEMPS_SWEPT_MARKER = 'store-legacy-temps-swept';

export interface StoreSweepOptions {
  minAgeMs?: number;
  /** The sweep's notion of now (tests). */
  now?: number;
  /** Stops the walk early (the services closing); what was removed so far is reported. */
  signal?: AbortSignal;
}

export interface StoreSweepResult {
  removed: number;
  /** Leftovers (or folders) that could not be examined or removed; they are tried again at the next start. */
  failed: number;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The store was there to walk, or there is none at all. Not a link to a folder that is missing (a volume not
 * mounted): its walk found nothing only because the files were out of reach.
 */
async function storeWalkable(store: string): Promise<boolean> {
  try {
    return (await stat(store)).isDirectory();
  } catch (err) {
    return isMissing(err) && !(await exists(store));
  }
}

/**
 * Sweeps <dataDir>/store/.incoming, and the first time (no marker yet) the whole store for
 * `*.tmp` beside stored files. Walks by directory entries only: a store of 100k files is not
 * stat'ed file by file; only the names that are leftovers are.
 */
export async function sweepStoreTemps(dataDir: string, options: StoreSweepOptions = {}): Promise<StoreSweepResult> {
  const cutoff = (options.now ?? Date.now()) - (options.minAgeMs ?? STORE_TEMP_MIN_AGE_MS);
  const result: StoreSweepResult = { removed: 0, failed: 0 };
  const store = join(dataDir, 'store');
  const incomingDir = join(store, INCOMING_DIR);
  const marker = join(dataDir, LEGACY_TEMPS_SWEPT_MARKER);
  /** Temps beside stored files kept for their age: an earlier version may still be writing them, so the whole walk is due again. */
  let legacyTempsSpared = 0;

  /** True when the file was kept for being too young. */
  const removeIfOld = async (path: string): Promise<boolean> => {
    try {
      if ((await lstat(path)).mtimeMs >= cutoff) return true;
      await rm(path, { force: true });
      result.removed++;
    } catch (err) {
      // Gone meanwhile: renamed into place or removed by the import that wrote it.
      if (!isMissing(err)) result.failed++;
    }
    return false;
  };

  const walk = async (dir: string, incoming: boolean): Promise<void> => {
    if (options.signal?.aborted) return;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (!isMissing(err)) result.failed++;
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Symbolic links are neither followed nor removed: the store never makes them.
      if (entry.isDirectory()) await walk(path, incoming || path === incomingDir);
      else if (entry.isFile() && incoming) await removeIfOld(path);
      else if (entry.isFile() && entry.name.endsWith('.tmp') && (await removeIfOld(path))) legacyTempsSpared++;
    }
  };

  if (await exists(marker)) {
    await walk(incomingDir, true);
    return result;
  }
  await walk(store, false);
  // Recorded only after a complete walk that left no temp beside a stored file behind; otherwise the next start walks again.
  if (!options.signal?.aborted && result.failed === 0 && legacyTempsSpared === 0 && (await storeWalkable(store))) {
    try {
      await writeFile(marker, 'The store was walked for temp files left beside stored files by earlier Vigil versions; later start-ups sweep only store/.incoming. Delete this file to walk the whole store again.\n');
    } catch {
      // Not recorded (a data folder not there yet, read-only): the next start walks the whole store again, which is only slower.
    }
  }
  return result;
}
