/**
 * Expands what the user offered (files, folders, DICOMDIRs) into the list of
 * files to read. Folders are walked recursively; symlinked folders are
 * followed once (loops are cut by real path); every file is offered once.
 */
import { type Dirent, readdirSync, realpathSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';

/**
 * The real path in one system call (realpath(3)); the JavaScript realpathSync stats every
 * component of every folder walked. Falls back to it where the native call fails
 * (some virtual drives on Windows), so no folder becomes unreadable by this choice.
 */
export function realPath(p: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    return realpathSync(p);
  }
}

/** `dir/name` for a normalised absolute folder and a directory entry's name (path.join would normalise again). */
const childPath = (dir: string, name: string) => (dir.endsWith(sep) ? dir + name : dir + sep + name);

export interface ScanResult {
  files: string[];
  /** Paths that could not be read at all (missing, permission denied). */
  unreadable: { path: string; reason: string }[];
}

export function scanSources(paths: readonly string[], onProgress?: (found: number) => void, isCancelled?: () => boolean): ScanResult {
  const files: string[] = [];
  const unreadable: ScanResult['unreadable'] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();

  /** `real` is the file's real path when the caller knows it (a regular file in a real folder). */
  const addFile = (p: string, known?: string) => {
    let real = known ?? p;
    if (!known) {
      try {
        real = realPath(p);
      } catch {
        /* keep the given path */
      }
    }
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    files.push(p);
    if (onProgress && files.length % 500 === 0) onProgress(files.length);
  };

  const walk = (dir: string) => {
    if (isCancelled?.()) return;
    let real: string;
    try {
      real = realPath(dir);
    } catch (err) {
      unreadable.push({ path: dir, reason: `cannot open folder: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      return;
    }
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      unreadable.push({ path: dir, reason: `cannot list folder: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = childPath(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) addFile(p, childPath(real, e.name));
      else if (e.isSymbolicLink()) {
        try {
          const st = statSync(p);
          if (st.isDirectory()) walk(p);
          else if (st.isFile()) addFile(p);
        } catch {
          unreadable.push({ path: p, reason: 'broken symbolic link' });
        }
      }
    }
  };

  for (const given of paths) {
    const p = resolve(given);
    try {
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else addFile(p);
    } catch (err) {
      unreadable.push({ path: p, reason: `cannot open: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
    }
  }
  onProgress?.(files.length);
  return { files, unreadable };
}
