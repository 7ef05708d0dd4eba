import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INCOMING_DIR } from '../../electron/services/library/import-file-processor';
import { STORE_TEMP_MIN_AGE_MS, sweepStoreTemps } from '../../electron/services/library/store-sweep';

let dataDir: string;
const now = Date.now();
const twoHoursAgo = (now - 2 * 60 * 60 * 1000) / 1000;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'vigil-sweep-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

/** Writes a file under <dataDir>/store; `old` files are dated two hours back. */
function storeFile(rel: string, old: boolean): string {
  const path = join(dataDir, 'store', rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, 'x');
  if (old) utimesSync(path, twoHoursAgo, twoHoursAgo);
  return path;
}

describe('sweepStoreTemps', () => {
  it('removes old temp files beside stored files and in the incoming folder, and nothing else', async () => {
    const oldTmp = storeFile('ab/cd/abcd.dcm.1a2b.tmp', true);
    const newTmp = storeFile('ab/cd/abcd.dcm.3c4d.tmp', false);
    const oldStored = storeFile('ab/cd/abcd.dcm', true);
    const otherStored = storeFile('ef/01/ef01.dcm', true);
    const oldIncoming = storeFile(`${INCOMING_DIR}/0123.tmp`, true);
    const oldIncomingOddName = storeFile(`${INCOMING_DIR}/partial`, true);
    const newIncoming = storeFile(`${INCOMING_DIR}/4567.tmp`, false);
    // Only the store is swept: a .tmp elsewhere in the data folder is not the store's.
    const outside = join(dataDir, 'thumbnails', 'x.tmp');
    mkdirSync(dirname(outside), { recursive: true });
    writeFileSync(outside, 'x');
    utimesSync(outside, twoHoursAgo, twoHoursAgo);

    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 3, failed: 0 });
    for (const gone of [oldTmp, oldIncoming, oldIncomingOddName]) expect(existsSync(gone)).toBe(false);
    for (const kept of [newTmp, oldStored, otherStored, newIncoming, outside]) expect(existsSync(kept)).toBe(true);
    // The folders stay: imports write into them.
    expect(existsSync(join(dataDir, 'store', INCOMING_DIR))).toBe(true);

    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
  });

  it('spares a temp file younger than the minimum age (an import running now)', async () => {
    const recent = storeFile(`${INCOMING_DIR}/89ab.tmp`, false);
    utimesSync(recent, (now - STORE_TEMP_MIN_AGE_MS + 60_000) / 1000, (now - STORE_TEMP_MIN_AGE_MS + 60_000) / 1000);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
    expect(existsSync(recent)).toBe(true);
    expect(await sweepStoreTemps(dataDir, { now, minAgeMs: 30_000 })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(recent)).toBe(false);
  });

  it('does not follow a symbolic link out of the store', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'vigil-sweep-outside-'));
    try {
      const target = join(elsewhere, 'victim.tmp');
      writeFileSync(target, 'x');
      utimesSync(target, twoHoursAgo, twoHoursAgo);
      mkdirSync(join(dataDir, 'store'), { recursive: true });
      symlinkSync(elsewhere, join(dataDir, 'store', 'linked'), 'dir');
      expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
      expect(existsSync(target)).toBe(true);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('reports nothing for a library without a store yet', async () => {
    expect(await sweepStoreTemps(join(dataDir, 'no-such-library'), { now })).toEqual({ removed: 0, failed: 0 });
  });

  it('stops walking once aborted', async () => {
    storeFile('ab/cd/abcd.dcm.1a2b.tmp', true);
    const signal = AbortSignal.abort();
    expect(await sweepStoreTemps(dataDir, { now, signal })).toEqual({ removed: 0, failed: 0 });
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
  });
});
