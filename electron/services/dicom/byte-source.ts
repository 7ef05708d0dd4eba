/**
 * Random access to a file's bytes without loading it all: the metadata reader
 * asks for small windows; only the windows it touches are read from disk.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  readonly size: number;
  /**
   * Returns a buffer holding [offset, offset + length) at `buf[start..]`.
   * Throws OutOfBoundsError if the range runs past the end of the data.
   */
  window(offset: number, length: number): { buf: Buffer; start: number };
  /**
   * Allocation-free form of window() for the parser's hot path: makes the range
   * available in `buffer` and returns its start index there.
   */
  ensure(offset: number, length: number): number;
  /** The buffer the last ensure()/window() made current. */
  readonly buffer: Buffer;
  close(): void;
}

export class OutOfBoundsError extends Error {
  constructor(
    readonly offset: number,
    readonly length: number,
    readonly size: number,
  ) {
    super(`needs bytes ${offset}..${offset + length} but the data ends at ${size}`);
    this.name = 'OutOfBoundsError';
  }
}

export class BufferByteSource implements ByteSource {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  get buffer(): Buffer {
    return this.buf;
  }
  ensure(offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > this.buf.length) throw new OutOfBoundsError(offset, length, this.buf.length);
    return offset;
  }
  window(offset: number, length: number): { buf: Buffer; start: number } {
    return { buf: this.buf, start: this.ensure(offset, length) };
  }
  close(): void {}
}

/** Most headers fit in the first 16 KiB; larger ones grow the window as needed. */
const MIN_WINDOW = 16 * 1024;

export class FileByteSource implements ByteSource {
  private fd: number | null;
  private buf: Buffer;
  private bufOffset = 0;
  private bufLength = 0;
  /**
   * Bytes fetched per read: the first window, or the largest range this file has needed.
   * Kept apart from the buffer's capacity so that a scratch grown by an earlier
   * file never makes this one read more than it asks for.
   */
  private windowSize: number;

  /**
   * `scratch` lets a caller that reads many files one after another reuse one
   * buffer (no per-file allocation); values read from this source are only
   * valid until the scratch is reused. `path` may instead be a descriptor the
   * caller already opened: the source then owns it and closes it.
   * `firstWindow` sizes the first read (a caller that knows how long headers
   * of similar files were can read one in a single, smaller read).
   */
  constructor(
    path: string | number,
    readonly size: number,
    scratch?: Buffer,
    firstWindow = MIN_WINDOW,
  ) {
    this.fd = typeof path === 'number' ? path : openSync(path, 'r');
    this.buf = scratch ?? Buffer.allocUnsafe(MIN_WINDOW);
    this.windowSize = Math.max(1, Math.trunc(firstWindow));
  }

  get buffer(): Buffer {
    return this.buf;
  }

  window(offset: number, length: number): { buf: Buffer; start: number } {
    const start = this.ensure(offset, length);
    return { buf: this.buf, start };
  }

  ensure(offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new OutOfBoundsError(offset, length, this.size);
    if (offset >= this.bufOffset && offset + length <= this.bufOffset + this.bufLength) return offset - this.bufOffset;
    if (this.fd === null) throw new Error('byte source closed');
    if (length > this.windowSize) this.windowSize = length;
    const want = Math.min(this.windowSize, this.size - offset);
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.buf, got, want - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    if (got < length) throw new OutOfBoundsError(offset, length, offset + got);
    this.bufLength = got;
    this.bufOffset = offset;
    return 0;
  }

  /** The (possibly grown) window buffer, for reuse as the next file's scratch. */
  get windowBuffer(): Buffer {
    return this.buf;
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
