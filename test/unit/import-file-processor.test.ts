import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { processImportFile, STORAGE_WRITE_FAILED } from '../../electron/services/library/import-file-processor';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

// The processor's own fs calls go through these spies so a test can inject one failure.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, openSync: vi.fn(real.openSync), fsyncSync: vi.fn(real.fsyncSync), renameSync: vi.fn(real.renameSync), fstatSync: vi.fn(real.fstatSync) };
});

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
  it('fsyncs the temp file before renaming it into place', () => {
    const bytes = syntheticDicom({ sopInstanceUid: '1.2.3.901' });
    const r = processImportFile({ id: 1, path: source('a.dcm', bytes), mode: 'copy', dataDir });
    expect(r.kind).toBe('instance');
    if (r.kind !== 'instance') return;
    expect(readFileSync(join(dataDir, r.storedPath))).toEqual(bytes);
    const open = vi.mocked(fs.openSync);
    const tmpOpen = open.mock.calls.findIndex(([p]) => String(p).endsWith('.tmp'));
    expect(tmpOpen).toBeGreaterThanOrEqual(0);
    const tmpFd = open.mock.results[tmpOpen]!.value as number;
    const fsync = vi.mocked(fs.fsyncSync);
    const tmpSync = fsync.mock.calls.findIndex(([fd]) => fd === tmpFd);
    expect(tmpSync).toBeGreaterThanOrEqual(0);
    const rename = vi.mocked(fs.renameSync);
    expect(rename).toHaveBeenCalledTimes(1);
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
