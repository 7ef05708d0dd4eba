/**
 * The per-file work of an import, run inside a worker thread: read, hash,
 * parse metadata (never decoding pixels), and copy into managed storage.
 * Pure function of the file and the task; no database access here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferByteSource, type ByteSource, FileByteSource } from '../dicom/byte-source';
import { DicomParseError, readDicom } from '../dicom/dicom-dataset-reader';
import { DICOMDIR_EXPAND, dicomdirReferences } from '../dicom/dicomdir-reader';
import { extractInstanceMetadata, type InstanceMetadata, isDicomdir } from '../dicom/instance-metadata';

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

/** Files up to this size are read whole (one read, hashed and parsed in memory). */
const WHOLE_READ_LIMIT = 64 * 1024 * 1024;
const HASH_CHUNK = 4 * 1024 * 1024;

export function storedRelativePath(sha256: string): string {
  return join('store', sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.dcm`);
}

function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const chunk = Buffer.allocUnsafe(HASH_CHUNK);
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

/** One header buffer per thread: files are processed one at a time, synchronously. */
let headerScratch: Buffer = Buffer.allocUnsafe(16 * 1024);

function rejected(task: ImportFileTask, code: string, reason: string): ImportFileResult {
  return { id: task.id, kind: 'rejected', path: task.path, code, reason };
}

export function processImportFile(task: ImportFileTask): ImportFileResult {
  let size: number;
  let mtimeMs: number;
  try {
    const st = statSync(task.path);
    if (!st.isFile()) return rejected(task, 'NOT_A_FILE', 'not a regular file');
    size = st.size;
    mtimeMs = Math.trunc(st.mtimeMs);
  } catch (err) {
    return rejected(task, 'UNREADABLE', `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size === 0) return rejected(task, 'EMPTY_FILE', 'the file is empty (0 bytes)');

  let source: ByteSource | null = null;
  let whole: Buffer | null = null;
  try {
    // A managed copy needs every byte anyway (hash + write): read small files whole.
    // Indexing in place reads only the header windows it needs, like any PACS indexer.
    if (task.mode === 'copy' && size <= WHOLE_READ_LIMIT) {
      whole = readWhole(task.path);
      source = new BufferByteSource(whole);
    } else {
      source = new FileByteSource(task.path, size, headerScratch);
    }
    const info = readDicom(source, { expandSequences: DICOMDIR_EXPAND });
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
    // Keep a grown window for the next file, but not an unusually large one.
    if (source instanceof FileByteSource) {
      const grown = source.windowBuffer;
      if (grown.length <= 1024 * 1024) headerScratch = grown;
    }
    source?.close();
  }
}
