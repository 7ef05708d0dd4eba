/**
 * A bounded cache for the display-bytes endpoint (Electron `vigil://dicom/…`
 * and the bridge's `/dicom/…`): what openDisplayBytes worked out about a file
 * (how it is served: header parsed, transcoding planned) and the transcoded
 * frames it produced, so that a repeated request neither re-parses the header
 * nor re-decodes big-endian / 12-bit JPEG / tiled frames.
 *
 * Keyed by file identity: path + size + mtime + ctime (+ frame); ctime because
 * mtime can be set back (utimes) and a file replaced by another of the same
 * size must not be served from what was worked out for the old one. When a
 * path is seen with another identity, everything cached under its old identity is
 * dropped at once. Least recently used entries go first when either the byte
 * or the entry limit is exceeded; a value larger than a quarter of the byte
 * limit is not kept (one huge file must not flush everything else).
 *
 * Plain Node, synchronous, one per host (the bridge server, the protocol handler).
 */
import type { DisplayBytes } from './display-bytes';

export interface DisplayBytesCacheLimits {
  /** Sum of the retained bytes of all entries. */
  maxBytes: number;
  /** Number of entries (descriptions and frames together). */
  maxEntries: number;
}

export const DEFAULT_DISPLAY_BYTES_CACHE_LIMITS: DisplayBytesCacheLimits = { maxBytes: 128 * 1024 * 1024, maxEntries: 4096 };

/** What identifies one version of a stored file. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  /** Status change time: moves on every write or utimes, cannot be set back by a program. */
  ctimeMs: number;
}

/** Cached per file: how it is served. */
export interface CachedDisplay {
  bytes: DisplayBytes;
  /**
   * Set while frame 1 of a transcoded file has not been decoded yet (it was
   * planned for a HEAD request): a GET runs it before answering, so a corrupt
   * stream still fails before anything is sent. Cleared once it succeeded.
   */
  verifyFirstFrame: (() => Promise<void>) | null;
  /** The metadata reader could read the file: a referenced file that cannot be read is refused, not served. */
  readable: boolean;
}

type Entry = { path: string; identity: string; bytes: number } & ({ kind: 'description'; value: CachedDisplay } | { kind: 'frame'; value: Uint8Array });

export class DisplayBytesCache {
  private readonly entries = new Map<string, Entry>();
  /** path -> the identity key its entries are held under. */
  private readonly identityOfPath = new Map<string, string>();
  /** identity key -> keys of its entries. */
  private readonly keysOfIdentity = new Map<string, Set<string>>();
  private retained = 0;

  constructor(readonly limits: DisplayBytesCacheLimits = DEFAULT_DISPLAY_BYTES_CACHE_LIMITS) {
    if (!(limits.maxBytes > 0) || !(limits.maxEntries > 0)) throw new RangeError('display bytes cache limits must be positive');
  }

  /** Entries and the bytes they retain (tests, diagnostics). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.retained };
  }

  description(file: FileIdentity): CachedDisplay | undefined {
    const entry = this.lookup(file, 'description');
    return entry?.kind === 'description' ? entry.value : undefined;
  }

  /** `retainedBytes`: what the description keeps in memory (header buffers, an inflated dataset). */
  setDescription(file: FileIdentity, description: CachedDisplay, retainedBytes: number): void {
    this.store(file, 'description', retainedBytes, (path, identity) => ({ path, identity, bytes: retainedBytes, kind: 'description', value: description }));
  }

  frame(file: FileIdentity, index: number): Uint8Array | undefined {
    const entry = this.lookup(file, `frame ${index}`);
    return entry?.kind === 'frame' ? entry.value : undefined;
  }

  setFrame(file: FileIdentity, index: number, bytes: Uint8Array): void {
    this.store(file, `frame ${index}`, bytes.byteLength, (path, identity) => ({ path, identity, bytes: bytes.byteLength, kind: 'frame', value: bytes }));
  }

  /** Forgets everything cached for `path` (whatever its identity). */
  private invalidate(path: string): void {
    const identity = this.identityOfPath.get(path);
    if (identity === undefined) return;
    for (const key of this.keysOfIdentity.get(identity) ?? []) this.remove(key);
    this.keysOfIdentity.delete(identity);
    this.identityOfPath.delete(path);
  }

  /** The identity key of `file`, after dropping what was cached for an older version of its path. */
  private identityKey(file: FileIdentity): string {
    const key = `${file.size}:${file.mtimeMs}:${file.ctimeMs}:${file.path}`;
    if (this.identityOfPath.get(file.path) !== key) this.invalidate(file.path);
    return key;
  }

  private lookup(file: FileIdentity, part: string): Entry | undefined {
    const key = `${this.identityKey(file)}\0${part}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    // Most recently used last (Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  private store(file: FileIdentity, part: string, bytes: number, entry: (path: string, identity: string) => Entry): void {
    if (bytes > this.limits.maxBytes / 4) return;
    const identity = this.identityKey(file);
    const key = `${identity}\0${part}`;
    this.remove(key);
    this.entries.set(key, entry(file.path, identity));
    this.retained += bytes;
    this.identityOfPath.set(file.path, identity);
    let keys = this.keysOfIdentity.get(identity);
    if (!keys) this.keysOfIdentity.set(identity, (keys = new Set()));
    keys.add(key);
    while (this.retained > this.limits.maxBytes || this.entries.size > this.limits.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.remove(oldest.value);
    }
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.retained -= entry.bytes;
    const keys = this.keysOfIdentity.get(entry.identity);
    keys?.delete(key);
    if (keys?.size === 0) {
      this.keysOfIdentity.delete(entry.identity);
      if (this.identityOfPath.get(entry.path) === entry.identity) this.identityOfPath.delete(entry.path);
    }
  }
}
