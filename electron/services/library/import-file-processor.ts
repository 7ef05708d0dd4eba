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
  /** Size above which a file is streamed instead of read whole; tests lower it to reach the streaming path with small files. */
  wholeReadLimit?: number;
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

/**
 * A managed copy a task creates, reported by a worker before the file's result: if the worker dies before that result,
 * the copy would otherwise be in no row and unknown to anyone. Reported just before its rename to its stored name, so
 * that no instant leaves a placed copy unreported (a death before the rename reports one that is not there: removing
 * it finds nothing); after the rename when it replaces a stored file of the wrong size, so that a file that was there
 * before the import is never reported as this task's.
 */
export interface PlacedCopy {
  /** The task's id. */
  id: number;
  /** Relative to the data folder: storedRelativePath(sha256). */
  storedPath: string;
  sha256: string;
  size: number;
}

/** DICOMDIR records are parsed; of the rest, only the attributes the index stores are recorded. */
const READ_OPTIONS: ReadOptions = { expandSequences: INDEX_SEQUENCES, keepTags: INDEX_TAGS };

/** Files up to this size are read whole (one read, hashed and parsed in memory). */
const WHOLE_READ_LIMIT = 64 * 1024 * 1024;
const HASH_CHUNK = 1024 * 1024;

export function storedRelativePath(sha256: string): string {
  return join('store', sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.dcm`);
}

/**
 * Where every stored file is written before it is renamed to its stored name: inside the
 * store so the rename stays on one file system, and one folder so that store-sweep finds
 * what a crash left behind without walking the whole store.
 */
export const INCOMING_DIR = '.incoming';

/** The source changed between fstat and the end of reading it (still being written, truncated, or rewritten in place). */
export class FileChangedError extends Error {
  constructor(detail: string) {
    super(`the file changed while it was being read (${detail}); import it again once nothing is writing it`);
  }
}

/** Reads an open file whole: one buffer, hashed and parsed in memory. */
function readWhole(fd: number, size: number, mtimeMs: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  // A shorter read would be parsed, hashed and stored as if it were the whole file.
  if (got !== size) throw new FileChangedError(`${size} bytes expected, ${got} read`);
  // A file still growing (arriving in a watched folder) would be stored as a snapshot of its first `size` bytes.
  const after = fstatSync(fd);
  if (after.size !== size || after.mtimeMs !== mtimeMs) throw new FileChangedError('it was modified while it was read');
  return buf;
}

/** What fstat reported when the file was opened, before its header was parsed. */
interface OpenedFile {
  fd: number;
  size: number;
  mtimeMs: number;
}

/** Reused by streamFile: files are processed one at a time on each thread. */
let streamChunk: Buffer | null = null;

/**
 * Reads an open file from start to end through its descriptor, handing each chunk to
 * `consume`, and returns its sha256. The parse read its header through the same
 * descriptor; a size or mtime that differs from the opening fstat means the bytes
 * hashed here may not be the bytes parsed, so the file is rejected.
 */
function streamFile(file: OpenedFile, consume: (chunk: Buffer) => void): string {
  const hash = createHash('sha256');
  streamChunk ??= Buffer.allocUnsafe(HASH_CHUNK);
  const chunk = streamChunk;
  let pos = 0;
  for (;;) {
    const n = readSync(file.fd, chunk, 0, HASH_CHUNK, pos);
    if (n === 0) break;
    const part = chunk.subarray(0, n);
    hash.update(part);
    consume(part);
    pos += n;
  }
  if (pos !== file.size) throw new FileChangedError(`${file.size} bytes expected, ${pos} read`);
  const after = fstatSync(file.fd);
  if (after.size !== file.size || after.mtimeMs !== file.mtimeMs) throw new FileChangedError('it was modified after its header was read');
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

/**
 * Makes a rename durable where the platform can: directories cannot be opened or fsynced everywhere
 * (Windows, some network and FUSE file systems). Best effort: the rename has already happened and the
 * file's own data was fsynced, so failing the import here would only leave a stored file unindexed.
 */
function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Tolerated, see above.
  } finally {
    closeSync(fd);
  }
}

/** Writes a buffer whole to an open descriptor. */
function writeAll(fd: number, buf: Buffer): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}

/** The size of the stored file at `abs`, or null if there is none. */
function storedSizeOf(dataDir: string, abs: string): number | null {
  return writingStorage(dataDir, () => {
    try {
      return statSync(abs).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  });
}

/**
 * Writes a new temp file (in an existing folder) and fsyncs it; removes it when anything
 * fails, so a failed import leaves no temp behind (a crash may: store-sweep).
 */
function writeTemp<T>(dataDir: string, tmp: string, write: (out: number) => T): T {
  try {
    const out = writingStorage(dataDir, () => openSync(tmp, 'w'));
    let written: T;
    try {
      written = write(out);
      writingStorage(dataDir, () => fsyncSync(out));
    } finally {
      // Some file systems (NFS) report a failed write only on close.
      writingStorage(dataDir, () => closeSync(out));
    }
    return written;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Renames an fsynced temp file to its stored name (its folder exists), then fsyncs the folder so the rename survives a power loss. */
function renameIntoPlace(dataDir: string, tmp: string, abs: string): void {
  const dir = join(abs, '..');
  try {
    writingStorage(dataDir, () => renameSync(tmp, abs));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirectory(dir);
}

/**
 * Stores a file read whole, whose hash is known before writing: atomically and durably
 * (temp in the incoming folder, fsync, rename, fsync of the stored file's folder) so neither
 * a crash nor a power loss leaves an empty or half-written stored file under its final name.
 * A stored file of the right size is kept; one of the wrong size (left by an older,
 * non-durable write) is rewritten.
 */
function storeBuffer(dataDir: string, sha256: string, buf: Buffer, report: (rel: string) => void): { rel: string; created: boolean } {
  const rel = storedRelativePath(sha256);
  const abs = join(dataDir, rel);
  const found = storedSizeOf(dataDir, abs);
  if (found === buf.length) return { rel, created: false };
  writingStorage(dataDir, () => mkdirSync(join(abs, '..'), { recursive: true }));
  const tmp = newIncomingTemp(dataDir);
  writeTemp(dataDir, tmp, (out) => writingStorage(dataDir, () => writeAll(out, buf)));
  placeReported(dataDir, tmp, abs, found !== null, () => report(rel));
  return { rel, created: true };
}

/** Renames a copy into place, reporting it as PlacedCopy says: before the rename, or after it when it replaces a file. */
function placeReported(dataDir: string, tmp: string, abs: string, replaces: boolean, report: () => void): void {
  if (!replaces) report();
  renameIntoPlace(dataDir, tmp, abs);
  if (replaces) report();
}

/** A fresh temp file name in the incoming folder (created if missing); nothing is written yet. */
function newIncomingTemp(dataDir: string): string {
  const incoming = join(dataDir, 'store', INCOMING_DIR);
  writingStorage(dataDir, () => mkdirSync(incoming, { recursive: true }));
  return join(incoming, `${randomBytes(8).toString('hex')}.tmp`);
}

/** A fsynced copy in the incoming folder, not yet under its stored name. */
interface IncomingCopy {
  tmp: string;
  sha256: string;
}

/**
 * Copies a file too large to read whole: one pass through its open descriptor both hashes
 * and copies it, so the stored file always holds the bytes its name is computed from
 * (a second read of the path could meet a file changed in between). The name is known
 * only at the end, hence the incoming folder. A read failure (the source's fault) stays
 * apart from a write failure (the library's).
 */
function copyToIncoming(dataDir: string, file: OpenedFile): IncomingCopy {
  const tmp = newIncomingTemp(dataDir);
  const sha256 = writeTemp(dataDir, tmp, (out) => streamFile(file, (chunk) => writingStorage(dataDir, () => writeAll(out, chunk))));
  return { tmp, sha256 };
}

/** Gives an incoming copy its stored name; the copy is removed instead when a stored file of the right size is already there. */
function storeIncoming(dataDir: string, copy: IncomingCopy, size: number, report: (rel: string) => void): { rel: string; created: boolean } {
  const rel = storedRelativePath(copy.sha256);
  const abs = join(dataDir, rel);
  let found: number | null;
  try {
    found = storedSizeOf(dataDir, abs);
    if (found === size) {
      rmSync(copy.tmp, { force: true });
      return { rel, created: false };
    }
    writingStorage(dataDir, () => mkdirSync(join(abs, '..'), { recursive: true }));
  } catch (err) {
    rmSync(copy.tmp, { force: true });
    throw err;
  }
  placeReported(dataDir, copy.tmp, abs, found !== null, () => report(rel));
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

/**
 * Processes one file. `onPlaced` hears of a managed copy this task creates, as PlacedCopy says (a copy found already
 * stored is not reported: this task did not create it).
 */
export function processImportFile(task: ImportFileTask, onPlaced?: (copy: PlacedCopy) => void): ImportFileResult {
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
  let opened: OpenedFile;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return rejected(task, 'NOT_A_FILE', 'not a regular file');
    }
    size = st.size;
    mtimeMs = Math.trunc(st.mtimeMs);
    opened = { fd, size, mtimeMs: st.mtimeMs };
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
  /** A streamed copy this function still has to place or remove. */
  let incoming: IncomingCopy | null = null;
  /** The descriptor while this function still has to close it (not yet handed to a FileByteSource). */
  let openFd: number | null = fd;
  try {
    // A managed copy needs every byte anyway (hash + write): read small files whole.
    // Indexing in place reads only the header windows it needs, like any PACS indexer.
    if (task.mode === 'copy' && size <= (task.wholeReadLimit ?? WHOLE_READ_LIMIT)) {
      whole = readWhole(fd, size, opened.mtimeMs);
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
    // A streamed file is hashed through the descriptor its header was parsed from.
    const contentHash = (): string => {
      sha256 ??= whole ? createHash('sha256').update(whole).digest('hex') : streamFile(opened, () => {});
      return sha256;
    };

    if (isDicomdir(info)) {
      return { id: task.id, kind: 'dicomdir', path: task.path, sha256: contentHash(), size, references: dicomdirReferences(info, task.path) };
    }
    if (task.mode === 'copy' && !whole) {
      // Copied before the metadata is extracted, which may need the hash (a file without a SOP Instance UID).
      incoming = copyToIncoming(task.dataDir, opened);
      sha256 = incoming.sha256;
    }
    // Extracted before anything gets a stored name, so a rejected file leaves no stored copy.
    const metadata = extractInstanceMetadata(info, contentHash);
    let stored: { rel: string; created: boolean } | null = null;
    if (incoming) {
      const copy = incoming;
      // From here storeIncoming places or removes it.
      incoming = null;
      stored = storeIncoming(task.dataDir, copy, size, (rel) => onPlaced?.({ id: task.id, storedPath: rel, sha256: copy.sha256, size }));
    } else if (task.mode === 'copy' && whole) {
      const hash = contentHash();
      stored = storeBuffer(task.dataDir, hash, whole, (rel) => onPlaced?.({ id: task.id, storedPath: rel, sha256: hash, size }));
    }
    const storedPath = stored?.rel ?? task.path;
    const createdStoredFile = stored?.created ?? false;
    return { id: task.id, kind: 'instance', path: task.path, sha256, size, mtimeMs, storedPath, createdStoredFile, metadata };
  } catch (err) {
    if (err instanceof DicomParseError) return rejected(task, err.code, err.message);
    if (err instanceof StorageWriteError) return rejected(task, STORAGE_WRITE_FAILED, err.message);
    if (err instanceof FileChangedError) return rejected(task, 'CHANGED_WHILE_READING', err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code) return rejected(task, 'UNREADABLE', `cannot read the file: ${e.code}`);
    return rejected(task, 'MALFORMED', `malformed DICOM: ${e.message}`);
  } finally {
    if (incoming) rmSync(incoming.tmp, { force: true });
    if (openFd !== null) closeSync(openFd);
    // Keep a grown window for the next file, but not an unusually large one.
    if (source instanceof FileByteSource) {
      const grown = source.windowBuffer;
      if (grown.length <= 1024 * 1024) headerScratch = grown;
      source.close();
    }
  }
}
