/**
 * Removes the temp files a crash or a power loss left in managed storage: `*.tmp` files
 * beside stored files (written there by earlier versions) and whatever is in the incoming
 * folder. Only files older than `minAgeMs` are removed, so the temp files of an import
 * running now (this app, or the CLI on the same library) are never touched.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { INCOMING_DIR } from './import-file-processor';

/** A temp file is written and renamed within one file's import; an hour-old one belongs to no running import. */
export const STORE_TEMP_MIN_AGE_MS = 60 * 60 * 1000;

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

/**
 * Walks <dataDir>/store by directory entries only: a store of 100k files is not stat'ed
 * file by file; only the names that are leftovers are.
 */
export async function sweepStoreTemps(dataDir: string, options: StoreSweepOptions = {}): Promise<StoreSweepResult> {
  const cutoff = (options.now ?? Date.now()) - (options.minAgeMs ?? STORE_TEMP_MIN_AGE_MS);
  const result: StoreSweepResult = { removed: 0, failed: 0 };
  const store = join(dataDir, 'store');

  const removeIfOld = async (path: string): Promise<void> => {
    try {
      if ((await lstat(path)).mtimeMs >= cutoff) return;
      await rm(path, { force: true });
      result.removed++;
    } catch (err) {
      // Gone meanwhile: renamed into place or removed by the import that wrote it.
      if (!isMissing(err)) result.failed++;
    }
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
      if (entry.isDirectory()) await walk(path, incoming || (dir === store && entry.name === INCOMING_DIR));
      else if (entry.isFile() && (incoming || entry.name.endsWith('.tmp'))) await removeIfOld(path);
    }
  };

  await walk(store, false);
  return result;
}
