/**
 * The display-bytes cache (electron/services/dicom/display-bytes-cache.ts):
 * its byte and entry bounds, least-recently-used eviction, and that
 * openDisplayBytes with a cache serves a changed file (other size or mtime)
 * afresh while an unchanged one is served without re-reading it.
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { displayBytesBuffer, openDisplayBytes } from '../../electron/services/dicom/display-bytes';
import { DisplayBytesCache, type FileIdentity } from '../../electron/services/dicom/display-bytes-cache';
import { inThreadTranscoder } from '../../electron/services/dicom/display-transcode-pool';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

/** Transcodes on the test's thread (the worker pool is tested in test/integration/display-transcode-pool.test.ts). */
const transcoder = inThreadTranscoder();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-display-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, mtimeMs = 1_000): FileIdentity => ({ path: `/store/${name}`, size: 100, mtimeMs, ctimeMs: mtimeMs });
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe('DisplayBytesCache bounds', () => {
  it('keeps at most maxEntries entries, evicting the least recently used', () => {
    const cache = new DisplayBytesCache({ maxBytes: 1_000_000, maxEntries: 3 });
    for (let f = 0; f < 3; f++) cache.setFrame(file('a'), f, bytes(10, f));
    expect(cache.frame(file('a'), 0)?.[0]).toBe(0); // frame 0 is now the most recently used
    cache.setFrame(file('a'), 3, bytes(10, 3));
    expect(cache.size).toEqual({ entries: 3, bytes: 30 });
    expect(cache.frame(file('a'), 1)).toBeUndefined();
    expect([0, 2, 3].map((f) => cache.frame(file('a'), f)?.[0])).toEqual([0, 2, 3]);
  });

  it('keeps the retained bytes within maxBytes and does not keep a value over a quarter of it', () => {
    const cache = new DisplayBytesCache({ maxBytes: 1_000, maxEntries: 100 });
    for (let f = 0; f < 5; f++) cache.setFrame(file('b'), f, bytes(240, f));
    expect(cache.size).toEqual({ entries: 4, bytes: 960 });
    expect(cache.frame(file('b'), 0)).toBeUndefined();
    cache.setFrame(file('b'), 9, bytes(251, 9));
    expect(cache.frame(file('b'), 9)).toBeUndefined();
    expect(cache.size.bytes).toBe(960);
    // Replacing an entry does not count it twice.
    cache.setFrame(file('b'), 4, bytes(100, 4));
    expect(cache.size).toEqual({ entries: 4, bytes: 820 });
  });

  it('drops everything of a path when it is seen with another size or mtime', () => {
    const cache = new DisplayBytesCache({ maxBytes: 1_000_000, maxEntries: 100 });
    cache.setFrame(file('c'), 0, bytes(10, 1));
    cache.setFrame(file('c'), 1, bytes(10, 2));
    cache.setFrame(file('d'), 0, bytes(10, 3));
    expect(cache.frame(file('c', 2_000), 0)).toBeUndefined();
    expect(cache.size).toEqual({ entries: 1, bytes: 10 });
    expect(cache.frame(file('c'), 1)).toBeUndefined(); // the old version is gone, not just hidden
    expect(cache.frame({ ...file('d'), size: 101 }, 0)).toBeUndefined();
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
  });

  it('refuses limits that are not positive', () => {
    expect(() => new DisplayBytesCache({ maxBytes: 0, maxEntries: 1 })).toThrow(RangeError);
  });
});

describe('openDisplayBytes with a cache', () => {
  const bigEndian = (pixel0: number): Buffer =>
    syntheticDicom({ sopInstanceUid: '1.2.826.0.1.3680043.10.1138.779.1', rows: 4, columns: 4, pixels: Uint16Array.from({ length: 16 }, (_, i) => (i === 0 ? pixel0 : i)), transferSyntax: '1.2.840.10008.1.2.2' });
  const firstPixel = async (cache: DisplayBytesCache, path: string): Promise<number> => {
    const out = await openDisplayBytes(path, { transcoder, cache });
    const served = await displayBytesBuffer(out!);
    const info = readDicom(new BufferByteSource(served));
    return served.readUInt16LE(info.pixelData!.offset);
  };

  it('reuses the description and transcoded frames of an unchanged file, and serves a changed one afresh', async () => {
    const path = join(dir, 'be.dcm');
    writeFileSync(path, bigEndian(111));
    // Whole seconds: utimes keeps them exactly (a file's own mtime may carry more precision than it sets).
    const mtime = new Date(1_700_000_000_000);
    utimesSync(path, mtime, mtime);
    const cache = new DisplayBytesCache({ maxBytes: 1024 * 1024, maxEntries: 16 });
    const first = await openDisplayBytes(path, { transcoder, cache });
    expect(first).toMatchObject({ rewrite: 'transcoded', transcoding: ['byte-swapped'] });
    expect(await openDisplayBytes(path, { transcoder, cache })).toBe(first);
    expect(await firstPixel(cache, path)).toBe(111);
    expect(cache.size.entries).toBe(2); // the description and frame 1

    // Same size, mtime set back: the ctime moved, so a new identity; the new bytes are read, not the cached frame.
    writeFileSync(path, bigEndian(222));
    utimesSync(path, mtime, mtime);
    expect(await firstPixel(cache, path)).toBe(222);
    expect(cache.size.entries).toBe(2); // the old identity's entries were dropped

    // Another mtime: a new identity, the old entries are dropped and the file is read again.
    const later = new Date(mtime.getTime() + 5_000);
    utimesSync(path, later, later);
    expect(await firstPixel(cache, path)).toBe(222);
    expect(cache.size.entries).toBe(2);

    // Another size (another file written in its place).
    writeFileSync(path, Buffer.concat([bigEndian(333), Buffer.alloc(2)]));
    utimesSync(path, later, later);
    expect(await firstPixel(cache, path)).toBe(333);
  });

  it('answers a HEAD request with the length only, without decoding a frame', async () => {
    const path = join(dir, 'head.dcm');
    writeFileSync(path, bigEndian(444));
    const cache = new DisplayBytesCache({ maxBytes: 1024 * 1024, maxEntries: 16 });
    const head = await openDisplayBytes(path, { transcoder, cache, head: true });
    expect(cache.size.entries).toBe(1); // the description, no frame
    const get = await openDisplayBytes(path, { transcoder, cache });
    expect(get).toBe(head);
    expect(cache.size.entries).toBe(2); // GET decoded frame 1 before answering
    expect((await displayBytesBuffer(get!)).length).toBe(head!.length);
  });
});
