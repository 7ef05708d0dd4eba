import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, type Stats, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { INCOMING_DIR, type PlacedCopy, processImportFile, STORAGE_WRITE_FAILED } from '../../electron/services/library/import-file-processor';
import { syntheticDicom, syntheticDicomdir } from '../fixtures/synthetic-dicom';

// The processor's own fs calls go through these spies so a test can inject one failure.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    openSync: vi.fn(real.openSync),
    fsyncSync: vi.fn(real.fsyncSync),
    renameSync: vi.fn(real.renameSync),
    fstatSync: vi.fn(real.fstatSync),
    readSync: vi.fn(real.readSync),
  };
});

const realReadSync = (await vi.importActual<typeof import('node:fs')>('node:fs')).readSync;

let root: string;
let dataDir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-proc-'));
  dataDir = join(root, 'data');
  mkdirSync(dataDir);
});
afterEach(() => {
  vi.mocked(fs.openSync).mockClear();
  vi.mocked(fs.fsyncSync).mockClear();
  vi.mocked(fs.renameSync).mockClear();
  vi.mocked(fs.fstatSync).mockClear();
  vi.mocked(fs.readSync).mockReset();
  vi.mocked(fs.readSync).mockImplementation(realReadSync);
  rmSync(root, { recursive: true, force: true });
});

function source(name: string, bytes: Buffer): string {
  const p = join(root, name);
  writeFileSync(p, bytes);
  return p;
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** Files under <dataDir>/store, temp files included. */
function storeFiles(): string[] {
  try {
    return readdirSync(join(dataDir, 'store'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

describe('processImportFile: storing the managed copy', () => {
  it('writes the temp file in the incoming folder and fsyncs it before renaming it into place', () => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.901' });
    const r = processImportFile({ id: 1, path: source('a.dcm', bytes), mode: 'copy', dataDir });
    expect(r.kind).toBe('instance');
    if (r.kind !== 'instance') return;
    expect(readFileSync(join(dataDir, r.storedPath))).toEqual(bytes);
    const open = vi.mocked(fs.openSync);
    const tmpOpen = open.mock.calls.findIndex(([p]) => String(p).endsWith('.tmp'));
    expect(tmpOpen).toBeGreaterThanOrEqual(0);
    // Not beside the stored file: store-sweep reads only the incoming folder.
    const tmpPath = String(open.mock.calls[tmpOpen]![0]);
    expect(dirname(tmpPath)).toBe(join(dataDir, 'store', INCOMING_DIR));
    const tmpFd = open.mock.results[tmpOpen]!.value as number;
    const fsync = vi.mocked(fs.fsyncSync);
    const tmpSync = fsync.mock.calls.findIndex(([fd]) => fd === tmpFd);
    expect(tmpSync).toBeGreaterThanOrEqual(0);
    const rename = vi.mocked(fs.renameSync);
    expect(rename).toHaveBeenCalledTimes(1);
    expect(rename.mock.calls[0]).toEqual([tmpPath, join(dataDir, r.storedPath)]);
    expect(readdirSync(join(dataDir, 'store', INCOMING_DIR))).toEqual([]);
    expect(fsync.mock.invocationCallOrder[tmpSync]!).toBeLessThan(rename.mock.invocationCallOrder[0]!);
    // Then the folder, so the rename itself survives a power loss.
    expect(fsync.mock.invocationCallOrder.some((order) => order > rename.mock.invocationCallOrder[0]!)).toBe(true);
  });

  it('keeps a stored file of the right size and rewrites one of the wrong size', () => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.902' });
    const path = source('b.dcm', bytes);
    const first = processImportFile({ id: 1, path, mode: 'copy', dataDir });
    if (first.kind !== 'instance') throw new Error(`expected an instance, got ${first.kind}`);
    const abs = join(dataDir, first.storedPath);
    expect(first.createdStoredFile).toBe(true);

    utimesSync(abs, 1000, 1000);
    const again = processImportFile({ id: 2, path, mode: 'copy', dataDir });
    expect(again).toMatchObject({ kind: 'instance', storedPath: first.storedPath, createdStoredFile: false });
    expect(statSync(abs).mtimeMs).toBe(1000 * 1000);

    // As an interrupted, non-durable write could have left it.
    writeFileSync(abs, bytes.subarray(0, 100));
    const repaired = processImportFile({ id: 3, path, mode: 'copy', dataDir });
    expect(repaired).toMatchObject({ kind: 'instance', storedPath: first.storedPath, createdStoredFile: true });
    expect(readFileSync(abs)).toEqual(bytes);
    expect(storeFiles()).toEqual([`${first.sha256}.dcm`]);
  });

  it.each([
    ['ENOSPC', 'the disk is full'],
    ['EROFS', 'read-only file system'],
    ['EACCES', 'permission denied'],
  ])('reports %s writing the copy as a storage failure of the library folder, not an unreadable source', (code, meaning) => {
    const path = source('c.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.903' }));
    vi.mocked(fs.fsyncSync).mockImplementationOnce(() => {
      throw errno(code);
    });
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir });
    expect(r).toMatchObject({ kind: 'rejected', code: STORAGE_WRITE_FAILED });
    if (r.kind !== 'rejected') return;
    expect(r.reason).toContain(dataDir);
    expect(r.reason).toContain(meaning);
    expect(r.reason).toContain(`(${code})`);
    expect(r.reason).not.toMatch(/cannot read/);
    // No temp file and no partial copy left behind.
    expect(storeFiles()).toEqual([]);
  });

  it('stores and indexes the copy when only the folder fsync after the rename fails (network and FUSE folders)', () => {
    const path = source('f.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.906' }));
    // The file's own fsync succeeds; the folder's (the second call) fails as some file systems do.
    vi.mocked(fs.fsyncSync).mockImplementationOnce(() => undefined).mockImplementationOnce(() => {
      throw errno('ENOTSUP');
    });
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir });
    expect(r).toMatchObject({ kind: 'instance', createdStoredFile: true });
    if (r.kind !== 'instance') return;
    expect(readFileSync(join(dataDir, r.storedPath))).toEqual(readFileSync(path));
  });

  it('rejects a small file that grew while it was read instead of storing its first bytes', () => {
    const path = source('g.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.907' }));
    const real = vi.mocked(fs.fstatSync).getMockImplementation()!;
    let calls = 0;
    // The second fstat (after the whole read) sees the file longer, as a copy still being written would be.
    vi.mocked(fs.fstatSync).mockImplementation(((fd: number) => {
      const st = real(fd) as Stats;
      calls += 1;
      return calls === 2 ? Object.assign(Object.create(Object.getPrototypeOf(st) as object) as Stats, st, { size: st.size + 512 }) : st;
    }) as typeof fs.fstatSync);
    try {
      const r = processImportFile({ id: 1, path, mode: 'copy', dataDir });
      expect(r).toMatchObject({ kind: 'rejected', code: 'CHANGED_WHILE_READING' });
      expect(storeFiles()).toEqual([]);
    } finally {
      vi.mocked(fs.fstatSync).mockImplementation(real);
    }
  });

  it('reports a data folder that cannot hold the store as a storage failure', () => {
    writeFileSync(join(dataDir, 'store'), 'a file where the store folder should be');
    const r = processImportFile({ id: 1, path: source('d.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.904' })), mode: 'copy', dataDir });
    expect(r).toMatchObject({ kind: 'rejected', code: STORAGE_WRITE_FAILED });
  });

  it('still blames the source when the source cannot be read', () => {
    const path = source('e.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.905' }));
    vi.mocked(fs.openSync).mockImplementationOnce(() => {
      throw errno('EACCES');
    });
    expect(processImportFile({ id: 1, path, mode: 'copy', dataDir })).toMatchObject({ kind: 'rejected', code: 'UNREADABLE' });
  });
});

describe('processImportFile: a file that changes while it is read', () => {
  it('rejects a file that shrank after its size was taken, storing nothing', () => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.906' });
    const path = source('f.dcm', bytes);
    const real = statSync(path);
    // fstat saw the file 200 bytes longer than what is left to read.
    vi.mocked(fs.fstatSync).mockImplementationOnce(() => Object.assign(Object.create(Object.getPrototypeOf(real) as object) as fs.Stats, real, { size: real.size + 200 }));
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir });
    expect(r).toMatchObject({ kind: 'rejected', code: 'CHANGED_WHILE_READING' });
    if (r.kind === 'rejected') expect(r.reason).toMatch(/changed while it was being read/);
    expect(storeFiles()).toEqual([]);
  });
});

/** Small enough to stay fast, large enough to be streamed in more than one chunk. */
function bigDicom(sopInstanceUid: string): Buffer {
  return syntheticDicom({ sopInstanceUid, rows: 1024, columns: 768 });
}
/** Lowered so that bigDicom() takes the path of files over 64 MiB. */
const STREAMED = { wholeReadLimit: 64 * 1024 };
const CHUNK = 1024 * 1024;

/** True for the processor's reads of the whole file (1 MiB chunks), not the parser's header windows. */
function isStreamRead(args: unknown[]): boolean {
  return (args[1] as Buffer).length === CHUNK;
}

describe('processImportFile: a file over the whole-read limit', () => {
  it('hashes and copies it in one pass through the descriptor its header was parsed from', () => {
    const bytes = bigDicom('1.2.3.911');
    expect(bytes.length).toBeGreaterThan(CHUNK);
    const path = source('big.dcm', bytes);
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir, ...STREAMED });
    if (r.kind !== 'instance') throw new Error(`expected an instance, got ${JSON.stringify(r)}`);
    expect(r.metadata.sopInstanceUid).toBe('1.2.3.911');
    const stored = readFileSync(join(dataDir, r.storedPath));
    // Buffer.equals: a deep toEqual over megabytes takes seconds.
    expect(stored.equals(bytes)).toBe(true);
    expect(r.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    expect(basename(r.storedPath)).toBe(`${r.sha256}.dcm`);
    expect(r.createdStoredFile).toBe(true);

    // The source path is opened once: no second read that could meet different bytes.
    const open = vi.mocked(fs.openSync);
    expect(open.mock.calls.filter(([p]) => p === path)).toHaveLength(1);
    const sourceFd = open.mock.results[open.mock.calls.findIndex(([p]) => p === path)]!.value as number;
    const streamReads = vi.mocked(fs.readSync).mock.calls.filter(isStreamRead);
    expect(streamReads.length).toBe(Math.ceil(bytes.length / CHUNK) + 1);
    expect(streamReads.every(([fd]) => fd === sourceFd)).toBe(true);

    // Written in the store's incoming folder, fsynced, renamed into place, then the folder fsynced.
    const tmpOpen = open.mock.calls.findIndex(([p]) => String(p).endsWith('.tmp'));
    expect(dirname(String(open.mock.calls[tmpOpen]![0]))).toBe(join(dataDir, 'store', INCOMING_DIR));
    const tmpFd = open.mock.results[tmpOpen]!.value as number;
    const fsync = vi.mocked(fs.fsyncSync);
    const rename = vi.mocked(fs.renameSync);
    expect(rename).toHaveBeenCalledTimes(1);
    expect(rename.mock.calls[0]).toEqual([open.mock.calls[tmpOpen]![0], join(dataDir, r.storedPath)]);
    const tmpSync = fsync.mock.calls.findIndex(([fd]) => fd === tmpFd);
    expect(fsync.mock.invocationCallOrder[tmpSync]!).toBeLessThan(rename.mock.invocationCallOrder[0]!);
    expect(fsync.mock.invocationCallOrder.some((order) => order > rename.mock.invocationCallOrder[0]!)).toBe(true);
    expect(storeFiles()).toEqual([`${r.sha256}.dcm`]);
  });

  it('keeps a stored file of the right size and removes its own copy; rewrites one of the wrong size', () => {
    const bytes = bigDicom('1.2.3.912');
    const path = source('big.dcm', bytes);
    const first = processImportFile({ id: 1, path, mode: 'copy', dataDir, ...STREAMED });
    if (first.kind !== 'instance') throw new Error(`expected an instance, got ${first.kind}`);
    const abs = join(dataDir, first.storedPath);
    utimesSync(abs, 1000, 1000);

    const again = processImportFile({ id: 2, path, mode: 'copy', dataDir, ...STREAMED });
    expect(again).toMatchObject({ kind: 'instance', sha256: first.sha256, storedPath: first.storedPath, createdStoredFile: false });
    expect(statSync(abs).mtimeMs).toBe(1000 * 1000);
    expect(storeFiles()).toEqual([`${first.sha256}.dcm`]);

    writeFileSync(abs, bytes.subarray(0, 100));
    const repaired = processImportFile({ id: 3, path, mode: 'copy', dataDir, ...STREAMED });
    expect(repaired).toMatchObject({ kind: 'instance', storedPath: first.storedPath, createdStoredFile: true });
    expect(readFileSync(abs).equals(bytes)).toBe(true);
    expect(storeFiles()).toEqual([`${first.sha256}.dcm`]);
  });

  it('rejects a file rewritten in place while it is copied, storing nothing', () => {
    const bytes = bigDicom('1.2.3.913');
    const path = source('big.dcm', bytes);
    const rewritten = Buffer.from(bytes);
    rewritten.fill(0x55, bytes.length - 1000);
    let wrote = false;
    vi.mocked(fs.readSync).mockImplementation((...args: Parameters<typeof fs.readSync>) => {
      const n = realReadSync(...args);
      if (!wrote && isStreamRead(args)) {
        // Another program writes the file's tail (same size) after the first chunk was read.
        wrote = true;
        writeFileSync(path, rewritten);
        utimesSync(path, 2000, 2000);
      }
      return n;
    });
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir, ...STREAMED });
    expect(wrote).toBe(true);
    expect(r).toMatchObject({ kind: 'rejected', code: 'CHANGED_WHILE_READING' });
    if (r.kind === 'rejected') expect(r.reason).toMatch(/modified after its header was read/);
    expect(storeFiles()).toEqual([]);
  });

  it('rejects a file that is shorter than its fstat said, storing nothing', () => {
    const bytes = bigDicom('1.2.3.914');
    const path = source('big.dcm', bytes);
    const real = statSync(path);
    vi.mocked(fs.fstatSync).mockImplementationOnce(() => Object.assign(Object.create(Object.getPrototypeOf(real) as object) as fs.Stats, real, { size: real.size + 200 }));
    const r = processImportFile({ id: 1, path, mode: 'copy', dataDir, ...STREAMED });
    expect(r).toMatchObject({ kind: 'rejected', code: 'CHANGED_WHILE_READING' });
    if (r.kind === 'rejected') expect(r.reason).toContain(`${real.size + 200} bytes expected, ${real.size} read`);
    expect(storeFiles()).toEqual([]);
  });

  it('blames the source for a read failure and the library folder for a write failure, leaving no temp file', () => {
    const path = source('big.dcm', bigDicom('1.2.3.915'));
    let failed = false;
    vi.mocked(fs.readSync).mockImplementation((...args: Parameters<typeof fs.readSync>) => {
      // A later chunk: the header parse and the first chunk read fine.
      if (!failed && isStreamRead(args) && (args as unknown[])[4] !== 0) {
        failed = true;
        throw errno('EIO');
      }
      return realReadSync(...args);
    });
    const unreadable = processImportFile({ id: 1, path, mode: 'copy', dataDir, ...STREAMED });
    expect(unreadable).toMatchObject({ kind: 'rejected', code: 'UNREADABLE' });
    expect(storeFiles()).toEqual([]);

    vi.mocked(fs.fsyncSync).mockImplementationOnce(() => {
      throw errno('ENOSPC');
    });
    const full = processImportFile({ id: 2, path, mode: 'copy', dataDir, ...STREAMED });
    expect(full).toMatchObject({ kind: 'rejected', code: STORAGE_WRITE_FAILED });
    if (full.kind === 'rejected') expect(full.reason).toContain('the disk is full');
    expect(storeFiles()).toEqual([]);
  });

  it('hashes a file indexed in place through its one descriptor when the hash is needed (DICOMDIR)', () => {
    const bytes = syntheticDicomdir([{ fileId: 'A/B', sopInstanceUid: '1.2.3.916' }]);
    const path = source('DICOMDIR', bytes);
    const r = processImportFile({ id: 1, path, mode: 'reference', dataDir });
    expect(r).toMatchObject({ kind: 'dicomdir', sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(vi.mocked(fs.openSync).mock.calls.filter(([p]) => p === path)).toHaveLength(1);
  });
});

describe('processImportFile: reporting a copy as soon as it is placed', () => {
  it.each([
    ['read whole', {}, () => syntheticDicom({ sopInstanceUid: '1.2.3.921' })],
    ['streamed', STREAMED, () => bigDicom('1.2.3.922')],
  ])('%s: reports the copy it creates just before giving it its stored name (see PlacedCopy); not one found stored', (_, limit, make) => {
    const bytes = make();
    const path = source('placed.dcm', bytes);
    const placed: { copy: PlacedCopy; inPlace: boolean }[] = [];
    // Whether the stored file is there when the worker would post its message.
    const onPlaced = (copy: PlacedCopy) => placed.push({ copy, inPlace: statSync(join(dataDir, copy.storedPath), { throwIfNoEntry: false })?.size === bytes.length });
    const first = processImportFile({ id: 7, path, mode: 'copy', dataDir, ...limit }, onPlaced);
    if (first.kind !== 'instance') throw new Error(`expected an instance, got ${first.kind}`);
    // Not yet in place: no instant leaves a placed copy unreported (test/unit/import-copy-reported-before-rename.test.ts).
    expect(placed).toEqual([{ copy: { id: 7, storedPath: first.storedPath, sha256: first.sha256, size: bytes.length }, inPlace: false }]);
    expect(first.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));

    // Found already stored: this task did not create it.
    const again = processImportFile({ id: 8, path, mode: 'copy', dataDir, ...limit }, onPlaced);
    expect(again).toMatchObject({ kind: 'instance', createdStoredFile: false });
    expect(placed).toHaveLength(1);
  });

  it('reports nothing for a file it rejects or indexes in place', () => {
    const onPlaced = vi.fn();
    expect(processImportFile({ id: 1, path: source('not.dcm', Buffer.from('not DICOM at all, but long enough to be looked at')), mode: 'copy', dataDir }, onPlaced).kind).toBe('rejected');
    expect(processImportFile({ id: 2, path: source('ref.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.923' })), mode: 'reference', dataDir }, onPlaced).kind).toBe('instance');
    expect(onPlaced).not.toHaveBeenCalled();
  });
});
