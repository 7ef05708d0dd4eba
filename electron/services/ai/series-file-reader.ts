/**
 * Reads a series' files for an analysis run, a few ahead of the one being decoded (on libuv's threads), each either
 * whole or, when too large to hold (or worth holding), left to be decoded from disk in windows. A referenced original
 * (outside the store) is read only if it is still the file import recorded.
 */
import { close as closeCallback, closeSync, fstat as fstatCallback, fstatSync, open as openCallback, read as readCallback, readFile as readFileCallback, stat as statCallback } from 'node:fs';
import { promisify } from 'node:util';
import { matchesImportRecord, ReferencedFileChangedError, type ReferencedFileRecord } from '../dicom/display-bytes';

/** Images read ahead while one decodes (each a whole file in memory). */
const READ_AHEAD = 16;
// fs.readFile's callback form reads a small file in one threadpool request (the promise form takes several round trips).
const readFile = promisify(readFileCallback);
const open = promisify(openCallback);
const fstat = promisify(fstatCallback);
const stat = promisify(statCallback);
const readAt = promisify(readCallback);
const close = promisify(closeCallback);
/** fs.readFile's limit (ERR_FS_FILE_TOO_LARGE): a larger file is decoded from its descriptor in windows. */
export const MAX_WHOLE_READ = 2 ** 31 - 1;
/**
 * Largest file read whole ahead of an image-by-image analysis: a larger one (a long cine) is decoded from the file
 * in windows, frame by frame, so neither its bytes nor its pixels are held whole.
 */
export const MAX_READ_AHEAD_BYTES = 16 * 1024 * 1024;

/** A referenced original too large to read whole, left open: it is decoded from the descriptor that was checked. */
export interface OpenedFile {
  fd: number;
  size: number;
}

/**
 * Reads a referenced original whole, checking on the descriptor it reads from that it is the file import recorded
 * (a check by path before it, then a read by path, would read whatever replaced it in between); the descriptor
 * is checked again after the read, for a file written to in place meanwhile.
 */
async function readReferenced(path: string, record: ReferencedFileRecord, wholeUpTo = MAX_WHOLE_READ): Promise<Buffer | OpenedFile> {
  const fd = await open(path, 'r');
  let kept = false;
  try {
    const before = await fstat(fd);
    if (!matchesImportRecord(record, before.size, before.mtimeMs)) throw new ReferencedFileChangedError(path, 'modified', 'analyse');
    if (before.size > wholeUpTo) {
      kept = true;
      return { fd, size: before.size };
    }
    const bytes = Buffer.allocUnsafe(before.size);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await readAt(fd, bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const after = await fstat(fd);
    if (got !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) throw new ReferencedFileChangedError(path, 'modified', 'analyse');
    return bytes;
  } finally {
    if (!kept) await close(fd);
  }
}

/**
 * A file of the series as read: its bytes; an opened referenced original too large to read whole (decoded from the
 * descriptor that was checked); or null, a managed copy decoded from its path in windows.
 */
export type SeriesFileBytes = Buffer | OpenedFile | null;

/**
 * For a referenced original left open (too large to read whole): throws ReferencedFileChangedError when the file under
 * the descriptor is no longer the one import recorded (written to, or cut short, since it was checked on opening).
 * Asked before its decode starts, so that a file cut short meanwhile fails as changed, not as a truncated DICOM file;
 * and again after its last frame, and when decoding it failed.
 */
export function checkStillImported(bytes: SeriesFileBytes, reference: ReferencedFileRecord | null, path: string): void {
  if (!reference || !bytes || Buffer.isBuffer(bytes)) return;
  const now = fstatSync(bytes.fd);
  if (!matchesImportRecord(reference, now.size, now.mtimeMs)) throw new ReferencedFileChangedError(path, 'modified', 'analyse');
}

/**
 * checkStillImported before a decode that will own the descriptor: a file that fails it is closed here, since no
 * decode will close it.
 */
export function checkBeforeDecode(bytes: SeriesFileBytes, reference: ReferencedFileRecord | null, path: string): void {
  try {
    checkStillImported(bytes, reference, path);
  } catch (err) {
    if (bytes && !Buffer.isBuffer(bytes)) closeSync(bytes.fd);
    throw err;
  }
}

/** The series' files, each read once and taken in order (`take(0)`, `take(1)`, …), READ_AHEAD of them ahead. */
export class SeriesFileReader {
  private readonly reads: (Promise<SeriesFileBytes> | undefined)[] = [];

  /**
   * `wholeUpTo`: the largest file read whole. `skipLarge`: a managed copy above it is not read at all (null), not
   * even tried (image by image, a large file is decoded from disk frame by frame); else only one too large for one
   * buffer is.
   */
  constructor(
    private readonly files: readonly string[],
    private readonly references: readonly (ReferencedFileRecord | null)[] | undefined,
    private readonly wholeUpTo: number,
    private readonly skipLarge: boolean,
  ) {
    for (let i = 0; i < READ_AHEAD; i++) this.readAhead(i);
  }

  /** File i's bytes (see SeriesFileBytes); the read of file i + READ_AHEAD starts. */
  async take(i: number): Promise<SeriesFileBytes> {
    const bytes = await this.reads[i]!;
    this.reads[i] = undefined;
    this.readAhead(i + READ_AHEAD);
    return bytes;
  }

  /** Closes the large referenced originals read ahead and left open for a decode that will not come. */
  abandon(): void {
    for (const pending of this.reads) void pending?.then((r) => r && !Buffer.isBuffer(r) && closeSync(r.fd), () => undefined);
  }

  private readAhead(i: number): void {
    if (i >= this.files.length) return;
    const path = this.files[i]!;
    const reference = this.references?.[i] ?? null;
    const read = reference
      ? readReferenced(path, reference, this.wholeUpTo)
      : this.skipLarge
        ? stat(path).then((st) => (st.size > this.wholeUpTo ? null : readFile(path)))
        : readFile(path).catch((err: NodeJS.ErrnoException) => (err.code === 'ERR_FS_FILE_TOO_LARGE' ? null : Promise.reject(err)));
    read.catch(() => undefined); // taken later, or abandoned when an earlier file fails
    this.reads[i] = read;
  }
}
