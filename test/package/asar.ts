/**
 * Minimal reader for Electron's asar archive format (what electron-builder
 * writes to resources/app.asar), so the packaged-layout test inspects the
 * archive without depending on another package:
 *   uint32 4 | uint32 headerPickleSize | uint32 payload | uint32 jsonLength | JSON header | file data…
 * File offsets in the header are relative to 8 + headerPickleSize.
 */
import { closeSync, openSync, readSync } from 'node:fs';

interface AsarNode {
  files?: Record<string, AsarNode>;
  size?: number;
  offset?: string;
  unpacked?: boolean;
  link?: string;
}

export interface AsarEntry {
  /** Posix path inside the archive, without a leading slash. */
  path: string;
  size: number;
  /** Stored in app.asar.unpacked instead of the archive. */
  unpacked: boolean;
}

export class AsarArchive {
  readonly entries = new Map<string, AsarEntry>();
  private readonly offsets = new Map<string, number>();
  private readonly dataStart: number;

  constructor(readonly file: string) {
    const fd = openSync(file, 'r');
    try {
      const prefix = Buffer.alloc(16);
      readSync(fd, prefix, 0, 16, 0);
      const headerPickleSize = prefix.readUInt32LE(4);
      const jsonLength = prefix.readUInt32LE(12);
      const json = Buffer.alloc(jsonLength);
      readSync(fd, json, 0, jsonLength, 16);
      this.dataStart = 8 + headerPickleSize;
      this.walk(JSON.parse(json.toString('utf8')) as AsarNode, '');
    } finally {
      closeSync(fd);
    }
  }

  private walk(node: AsarNode, prefix: string): void {
    for (const [name, child] of Object.entries(node.files ?? {})) {
      const path = prefix ? `${prefix}/${name}` : name;
      if (child.files) {
        this.walk(child, path);
      } else if (child.link === undefined) {
        this.entries.set(path, { path, size: child.size ?? 0, unpacked: child.unpacked === true });
        if (!child.unpacked) this.offsets.set(path, Number(child.offset ?? 0));
      }
    }
  }

  files(): AsarEntry[] {
    return [...this.entries.values()];
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** Bytes of a file stored inside the archive (not for unpacked files). */
  read(path: string): Buffer {
    const entry = this.entries.get(path);
    const offset = this.offsets.get(path);
    if (!entry || offset === undefined) throw new Error(`${path} is not stored inside ${this.file}`);
    const fd = openSync(this.file, 'r');
    try {
      const out = Buffer.alloc(entry.size);
      readSync(fd, out, 0, entry.size, this.dataStart + offset);
      return out;
    } finally {
      closeSync(fd);
    }
  }
}
