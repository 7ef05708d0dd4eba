import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { INCOMING_DIR } from '../../electron/services/library/import-file-processor';
import { LEGACY_TEMPS_SWEPT_MARKER, STORE_TEMP_MIN_AGE_MS, sweepStoreTemps } from '../../electron/services/library/store-sweep';

// The sweep's removals go through this spy so a test can make one fail.
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, rm: vi.fn(real.rm) };
});

let dataDir: string;
const now = Date.now();
const twoHoursAgo = (now - 2 * 60 * 60 * 1000) / 1000;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'vigil-sweep-'));
});
afterEach(() => {
  vi.mocked(fsPromises.rm).mockClear();
  rmSync(dataDir, { recursive: true, force: true });
});

const marker = () => join(dataDir, LEGACY_TEMPS_SWEPT_MARKER);

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

  it('stops walking once aborted, and walks the whole store again at the next start', async () => {
    storeFile('ab/cd/abcd.dcm.1a2b.tmp', true);
    const signal = AbortSignal.abort();
    expect(await sweepStoreTemps(dataDir, { now, signal })).toEqual({ removed: 0, failed: 0 });
    expect(existsSync(marker())).toBe(false);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(marker())).toBe(true);
  });
});

describe('sweepStoreTemps: the whole store once, then the incoming folder only', () => {
  it('walks the store of an earlier version once, records it, and afterwards reads only the incoming folder', async () => {
    storeFile('ab/cd/abcd.dcm', true);
    const legacy = storeFile('ab/cd/abcd.dcm.1a2b.tmp', true);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(marker())).toBe(true);
    // The marker is in the data folder, not among the stored files.
    expect(existsSync(join(dataDir, 'store', LEGACY_TEMPS_SWEPT_MARKER))).toBe(false);

    // Recorded: a temp beside a stored file is no longer looked for (this version never writes one there) ...
    const besideLater = storeFile('ef/01/ef01.dcm.5e6f.tmp', true);
    const incoming = storeFile(`${INCOMING_DIR}/0123.tmp`, true);
    const incomingNested = storeFile(`${INCOMING_DIR}/sub/4567.tmp`, true);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 2, failed: 0 });
    expect(existsSync(besideLater)).toBe(true);
    // ... while the incoming folder is still emptied of old leftovers at every start.
    expect(existsSync(incoming)).toBe(false);
    expect(existsSync(incomingNested)).toBe(false);

    // Removing the marker asks for the whole walk again.
    rmSync(marker());
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(besideLater)).toBe(false);
  });

  it('records nothing while a temp beside a stored file is too young to remove (an earlier version may still be writing it)', async () => {
    const young = storeFile('ab/cd/abcd.dcm.1a2b.tmp', false);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
    expect(existsSync(young)).toBe(true);
    expect(existsSync(marker())).toBe(false);
    // A young temp in the incoming folder does not hold the marker back: that folder is swept at every start anyway.
    rmSync(young);
    storeFile(`${INCOMING_DIR}/89ab.tmp`, false);
    await sweepStoreTemps(dataDir, { now });
    expect(existsSync(marker())).toBe(true);
  });

  it('records nothing when a leftover could not be removed, so the next start tries again', async () => {
    const legacy = storeFile('ab/cd/abcd.dcm.1a2b.tmp', true);
    vi.mocked(fsPromises.rm).mockRejectedValueOnce(Object.assign(new Error('EBUSY: injected'), { code: 'EBUSY' }));
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 1 });
    expect(existsSync(marker())).toBe(false);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(marker())).toBe(true);
  });

  it('records nothing while the store is a link to a folder not there (a volume not mounted), and walks it once it is', async () => {
    const volume = join(dataDir, 'volume');
    symlinkSync(volume, join(dataDir, 'store'), 'dir');
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
    expect(existsSync(marker())).toBe(false);
    // Mounted, with a temp an earlier version left beside a stored file.
    const legacy = join(volume, 'ab', 'cd', 'abcd.dcm.1a2b.tmp');
    mkdirSync(dirname(legacy), { recursive: true });
    writeFileSync(legacy, 'x');
    utimesSync(legacy, twoHoursAgo, twoHoursAgo);
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 1, failed: 0 });
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(marker())).toBe(true);
  });

  it('records a library with no store yet at once (nothing of an earlier version to look for)', async () => {
    expect(await sweepStoreTemps(dataDir, { now })).toEqual({ removed: 0, failed: 0 });
    expect(existsSync(marker())).toBe(true);
    expect(existsSync(join(dataDir, 'store'))).toBe(false);
  });
});
