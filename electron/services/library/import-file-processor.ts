/**
 * The per-file work of an import, run inside a worker thread: read, hash,
 * parse metadata (never decoding pixels), and copy into managed storage.
 * Pure function of the file and the task; no database access here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** Reads an open file whole: one buffer, hashed and parsed in memory. */
function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return got === size ? buf : buf.subarray(0, got);
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

/** Writes atomically (temp + rename) so a crash never leaves a half-written stored file. */
function storeCopy(dataDir: string, sha256: string, write: (tmp: string) => void): { rel: string; created: boolean } {
  const rel = storedRelativePath(sha256);
  const abs = join(dataDir, rel);
  if (existsSync(abs)) return { rel, created: false };
  mkdirSync(join(abs, '..'), { recursive: true });
  const tmp = `${abs}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    write(tmp);
    renameSync(tmp, abs);
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
      const stored = storeCopy(task.dataDir, contentHash(), (tmp) => (buf ? writeFileSync(tmp, buf) : copyFileSync(task.path, tmp)));
      storedPath = stored.rel;
      createdStoredFile = stored.created;
    }
    return { id: task.id, kind: 'instance', path: task.path, sha256, size, mtimeMs, storedPath, createdStoredFile, metadata };
  } catch (err) {
    if (err instanceof DicomParseError) return rejected(task, err.code, err.message);
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
