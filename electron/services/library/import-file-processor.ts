/**
 * The per-file work of an import, run inside a worker thread: read, hash,
 * parse metadata (never decoding pixels), and copy into managed storage.
 * Pure function of the file and the task; no database access here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BufferByteSource, type ByteSource, FileByteSource } from '../dicom/byte-source';
import { type DicomFileInfo, DicomParseError, type ReadOptions, readDicom } from '../dicom/dicom-dataset-reader';
import { dicomdirReferences } from '../dicom/dicomdir-reader';
import { extractInstanceMetadata, INDEX_SEQUENCES, INDEX_TAGS, type InstanceMetadata, isDicomdir } from '../dicom/instance-metadata';

export interface ImportFileTask {
  id: number;
  path: string;
  mode: 'copy' | 'reference';
  /** Absolute data dir; stored files go under <dataDir>/store. */
  dataDir: string;
}

export type ImportFileResult =
  | {
      id: number;
      kind: 'instance';
      path: string;
      /** Content hash; null for files indexed in place (hashed later, on demand). */
      sha256: string | null;
      size: number;
      /** Source file's modification time, to notice a referenced file changing later. */
      mtimeMs: number;
      /** Path relative to dataDir (copy) or the absolute source path (reference). */
      storedPath: string;
      /** True when this task wrote the stored file (so it may be removed if the instance is a duplicate). */
      createdStoredFile: boolean;
      metadata: InstanceMetadata;
    }
  | { id: number; kind: 'dicomdir'; path: string; sha256: string; size: number; references: { path: string; exists: boolean }[] }
  | { id: number; kind: 'rejected'; path: string; code: string; reason: string };

/** DICOMDIR records are parsed; of the rest, only the attributes the index stores are recorded. */
const READ_OPTIONS: ReadOptions = { expandSequences: INDEX_SEQUENCES, keepTags: INDEX_TAGS };

/** Files up to this size are read whole (one read, hashed and parsed in memory). */
const WHOLE_READ_LIMIT = 64 * 1024 * 1024;
const HASH_CHUNK = 1024 * 1024;

export function storedRelativePath(sha256: string): string {
  return join('store', sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.dcm`);
}

/** The source's size changed between fstat and the end of reading it (still being written, or truncated). */
export class FileChangedError extends Error {
  constructor(expected: number, got: number) {
    super(`the file changed while it was being read (${expected} bytes expected, ${got} read); import it again once nothing is writing it`);
  }
}

/** Reads an open file whole: one buffer, hashed and parsed in memory. */
function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  // A shorter read would be parsed, hashed and stored as if it were the whole file.
  if (got !== size) throw new FileChangedError(size, got);
  return buf;
}

/** Reused by hashFile: files are processed one at a time on each thread. */
let hashChunk: Buffer | null = null;

function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  hashChunk ??= Buffer.allocUnsafe(HASH_CHUNK);
  const chunk = hashChunk;
  try {
    let pos = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, HASH_CHUNK, pos);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Writing into the library's own storage failed (disk full, read-only, no permission):
 * the data folder's fault, not the source file's, so every further file would fail too.
 */
export class StorageWriteError extends Error {
  constructor(readonly errno: string, readonly dataDir: string) {
    super(`cannot store a copy in the library folder ${dataDir}: ${STORAGE_ERRNO_MEANING[errno] ?? 'writing failed; check the disk and the folder'} (${errno}). Nothing already stored was changed; import again once it is fixed`);
  }
}

/** What each write failure means for the user, and what to do about it. */
const STORAGE_ERRNO_MEANING: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full; free some space',
  EDQUOT: 'the disk quota is exceeded; free some space',
  EROFS: 'the folder is on a read-only file system; choose a writable data folder',
  EACCES: 'permission denied; give this account write access to the folder',
  EPERM: 'operation not permitted; give this account write access to the folder',
  EIO: 'the disk reported an input/output error; check the disk',
};

/** The rejection code of a file whose managed copy could not be written; study-library ends the import on it. */
export const STORAGE_WRITE_FAILED = 'STORAGE_WRITE_FAILED';

/** Runs a step that writes into the data folder, turning its errno failure into a StorageWriteError. */
function writingStorage<T>(dataDir: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code && !(err instanceof StorageWriteError)) throw new StorageWriteError(code, dataDir);
    throw err;
  }
}

/** Makes a rename durable; directories cannot be opened or fsynced on every platform (Windows), which is tolerated. */
function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    closeSync(fd);
  }
}

/** Writes a buffer whole to an open descriptor. */
function writeAll(fd: number, buf: Buffer): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}

/** Reused by copyFrom: files are processed one at a time on each thread. */
let copyChunk: Buffer | null = null;

/**
 * Copies a source too large to read whole into an open temp file, chunk by chunk, so a
 * read failure (the source's fault) stays apart from a write failure (the library's).
 */
function copyFrom(sourcePath: string, size: number, out: number, dataDir: string): void {
  const fd = openSync(sourcePath, 'r');
  copyChunk ??= Buffer.allocUnsafe(HASH_CHUNK);
  const chunk = copyChunk;
  try {
    let pos = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, HASH_CHUNK, pos);
      if (n === 0) break;
      writingStorage(dataDir, () => writeAll(out, chunk.subarray(0, n)));
      pos += n;
    }
    if (pos !== size) throw new FileChangedError(size, pos);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes atomically and durably (temp, fsync, rename, fsync of the folder) so neither a
 * crash nor a power loss leaves an empty or half-written stored file under its final name.
 * A stored file of the wrong size (left by an older, non-durable write) is rewritten.
 */
function storeCopy(dataDir: string, sha256: string, size: number, write: (out: number) => void): { rel: string; created: boolean } {
  const rel = storedRelativePath(sha256);
  const abs = join(dataDir, rel);
  const dir = join(abs, '..');
  const storedSize = writingStorage(dataDir, () => {
    try {
      return statSync(abs).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  });
  if (storedSize === size) return { rel, created: false };
  writingStorage(dataDir, () => mkdirSync(dir, { recursive: true }));
  const tmp = `${abs}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const out = writingStorage(dataDir, () => openSync(tmp, 'w'));
    try {
      write(out);
      writingStorage(dataDir, () => fsyncSync(out));
    } finally {
      // Some file systems (NFS) report a failed write only on close.
      writingStorage(dataDir, () => closeSync(out));
    }
    writingStorage(dataDir, () => {
      renameSync(tmp, abs);
      fsyncDirectory(dir);
    });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { rel, created: true };
}

/** O_NONBLOCK is absent on Windows, where no FIFO can be reached through a folder. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** One header buffer per thread: files are processed one at a time, synchronously. */
let headerScratch: Buffer = Buffer.allocUnsafe(16 * 1024);
/**
 * How many bytes the previous file's header took (up to its pixel data): files of one
 * series have headers of about the same length, so the next file is read in one read
 * of about that size rather than a fixed, larger window.
 */
let headerBytesHint = 16 * 1024;
const HEADER_HINT_MIN = 4 * 1024;
const HEADER_HINT_MAX = 64 * 1024;

function nextHeaderHint(info: DicomFileInfo, size: number): number {
  // Through the first fragment item header of encapsulated data too; datasets without pixel data end at the file's end.
  const end = info.pixelData ? info.pixelData.offset + 16 : size;
  const rounded = Math.ceil((end + 512) / 4096) * 4096;
  return Math.min(HEADER_HINT_MAX, Math.max(HEADER_HINT_MIN, rounded));
}

function rejected(task: ImportFileTask, code: string, reason: string): ImportFileResult {
  return { id: task.id, kind: 'rejected', path: task.path, code, reason };
}

export function processImportFile(task: ImportFileTask): ImportFileResult {
  // One open and one fstat per file: the descriptor serves the size check, the header reads and the copy.
  let fd: number;
  try {
    // Non-blocking, so a named pipe offered by mistake is rejected below instead of waiting for a writer.
    fd = openSync(task.path, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') return rejected(task, 'NOT_A_FILE', 'not a regular file');
    return rejected(task, 'UNREADABLE', `cannot read the file: ${code ?? (err as Error).message}`);
  }
  let size: number;
  let mtimeMs: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return rejected(task, 'NOT_A_FILE', 'not a regular file');
    }
    size = st.size;
    mtimeMs = Math.trunc(st.mtimeMs);
  } catch (err) {
    closeSync(fd);
    return rejected(task, 'UNREADABLE', `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size === 0) {
    closeSync(fd);
    return rejected(task, 'EMPTY_FILE', 'the file is empty (0 bytes)');
  }

  let source: ByteSource | null = null;
  let whole: Buffer | null = null;
  /** The descriptor while this function still has to close it (not yet handed to a FileByteSource). */
  let openFd: number | null = fd;
  try {
    // A managed copy needs every byte anyway (hash + write): read small files whole.
    // Indexing in place reads only the header windows it needs, like any PACS indexer.
    if (task.mode === 'copy' && size <= WHOLE_READ_LIMIT) {
      whole = readWhole(fd, size);
      openFd = null;
      closeSync(fd);
      source = new BufferByteSource(whole);
    } else {
      source = new FileByteSource(fd, size, headerScratch, headerBytesHint);
      openFd = null;
    }
    const info = readDicom(source, READ_OPTIONS);
    if (source instanceof FileByteSource) headerBytesHint = nextHeaderHint(info, size);
    let sha256: string | null = null;
    const contentHash = (): string => {
      sha256 ??= whole ? createHash('sha256').update(whole).digest('hex') : hashFile(task.path);
      return sha256;
    };

    if (isDicomdir(info)) {
      return { id: task.id, kind: 'dicomdir', path: task.path, sha256: contentHash(), size, references: dicomdirReferences(info, task.path) };
    }
    const metadata = extractInstanceMetadata(info, contentHash);
    let storedPath = task.path;
    let createdStoredFile = false;
    if (task.mode === 'copy') {
      const buf = whole;
      const stored = storeCopy(task.dataDir, contentHash(), size, (out) =>
        buf ? writingStorage(task.dataDir, () => writeAll(out, buf)) : copyFrom(task.path, size, out, task.dataDir),
      );
      storedPath = stored.rel;
      createdStoredFile = stored.created;
    }
    return { id: task.id, kind: 'instance', path: task.path, sha256, size, mtimeMs, storedPath, createdStoredFile, metadata };
  } catch (err) {
    if (err instanceof DicomParseError) return rejected(task, err.code, err.message);
    if (err instanceof StorageWriteError) return rejected(task, STORAGE_WRITE_FAILED, err.message);
    if (err instanceof FileChangedError) return rejected(task, 'CHANGED_WHILE_READING', err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code) return rejected(task, 'UNREADABLE', `cannot read the file: ${e.code}`);
    return rejected(task, 'MALFORMED', `malformed DICOM: ${e.message}`);
  } finally {
    if (openFd !== null) closeSync(openFd);
    // Keep a grown window for the next file, but not an unusually large one.
    if (source instanceof FileByteSource) {
      const grown = source.windowBuffer;
      if (grown.length <= 1024 * 1024) headerScratch = grown;
      source.close();
    }
  }
}
