/**
 * However the import work is shared — worker threads only (the app), the calling
 * thread only (a small CLI import), or both together (a large CLI import) — the
 * same files give the same library: the same instances from the same files, the
 * same rejections, the DICOMDIR followed once, and cancellation still stops the
 * import with every looked-at file accounted for. Uses the built import worker.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportProgress, ImportSummary } from '../../contract/ipc-contract';
import { EventHub } from '../../electron/services/event-hub';
import type { ImportFileResult, ImportFileTask } from '../../electron/services/library/import-file-processor';
import { ImportWorkerPool } from '../../electron/services/library/import-worker-pool';
import { scanSources } from '../../electron/services/library/source-scanner';
import { StudyLibrary, type StudyLibraryOptions } from '../../electron/services/library/study-library';
import { syntheticDicom, syntheticDicomdir, testUid } from '../fixtures/synthetic-dicom';
import { ensureBuilt, instanceRows, openLibrary, repoRoot } from './helpers';

type Threads = 'workers' | 'calling thread' | 'both';

const SLICES = 150;

function writeCorpus(root: string): { files: number } {
  const put = (rel: string, bytes: Buffer | string) => {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
  };
  const study = testUid();
  const series = testUid();
  for (let i = 1; i <= SLICES; i++) {
    put(`series/slice${String(i).padStart(3, '0')}.dcm`, syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: i, rows: 16, columns: 16 }));
  }
  // One instance in two encodings: the second is a duplicate, whichever thread reads it first.
  const sop = testUid();
  put('dup/explicit.dcm', syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: sop, instanceNumber: 999 }));
  put('dup/implicit.dcm', syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: sop, instanceNumber: 999, transferSyntax: '1.2.840.10008.1.2' }));
  // A DICOMDIR whose records point at files outside the folders offered, plus one missing file.
  const records: { fileId: string; sopInstanceUid: string }[] = [];
  for (let i = 1; i <= 12; i++) {
    const uid = testUid();
    put(`cd/DICOM/IM${i}`, syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: testUid(), sopInstanceUid: uid, modality: 'MR' }));
    records.push({ fileId: `DICOM/IM${i}`, sopInstanceUid: uid });
  }
  records.push({ fileId: 'DICOM/GONE', sopInstanceUid: testUid() });
  put('cd/DICOMDIR', syntheticDicomdir(records));
  const good = syntheticDicom({ rows: 32, columns: 32 });
  put('junk/truncated.dcm', good.subarray(0, good.length - 300));
  put('junk/notes.txt', 'not DICOM\n');
  return { files: SLICES + 2 + 13 + 2 };
}

async function importWith(threads: Threads, dataDir: string, paths: string[], onProgress?: (p: ImportProgress, library: StudyLibrary) => void): Promise<ImportSummary> {
  const events = new EventHub();
  const options: StudyLibraryOptions = {
    dataDir,
    events,
    importWorkers: threads === 'calling thread' ? 0 : 2,
    importWorkerUrl: pathToFileURL(join(repoRoot, 'out/node/import-worker.js')),
    storageMode: 'copy',
    ...(threads === 'both' ? { callingThreadWork: { useWorkers: () => true } } : {}),
  };
  const library = await StudyLibrary.open(options);
  try {
    if (onProgress) events.subscribe((event, payload) => event === 'import.progress' && onProgress(payload as ImportProgress, library));
    return await library.import({ paths });
  } finally {
    await library.close();
  }
}

describe('sharing the import work between threads', () => {
  let work: string;
  let corpus: string;
  let offeredFiles: number;
  const runs = new Map<Threads, { summary: ImportSummary; rows: [string, string, string][] }>();

  beforeAll(async () => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'vigil-threads-'));
    corpus = join(work, 'corpus');
    offeredFiles = writeCorpus(corpus).files;
    for (const threads of ['workers', 'calling thread', 'both'] as const) {
      const dataDir = join(work, threads.replace(' ', '-'));
      // The DICOMDIR is offered on its own and the folders without cd/, so its records must be followed.
      const summary = await importWith(threads, dataDir, [join(corpus, 'series'), join(corpus, 'dup'), join(corpus, 'junk'), join(corpus, 'cd', 'DICOMDIR')]);
      const db = openLibrary(dataDir);
      try {
        const rows = instanceRows(db)
          .map((r): [string, string, string] => [r.sop_instance_uid, r.series_uid, r.storage])
          .sort((a, b) => a[0].localeCompare(b[0]));
        runs.set(threads, { summary, rows });
      } finally {
        db.close();
      }
    }
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it.each(['workers', 'calling thread', 'both'] as const)('accounts for every file with %s', (threads) => {
    const { summary } = runs.get(threads)!;
    expect(summary.status).toBe('done');
    // Every file offered plus the missing DICOMDIR reference; the DICOMDIR itself counts as imported.
    expect(summary.offered).toBe(offeredFiles + 1);
    expect(summary.imported + summary.duplicates + summary.rejected.length).toBe(summary.offered);
    expect(summary.instances).toBe(SLICES + 1 + 12);
    expect(summary.duplicates).toBe(1);
    expect(Object.fromEntries(summary.rejected.map((r) => [r.path.slice(corpus.length + 1), r.code]))).toEqual({
      'junk/truncated.dcm': 'TRUNCATED',
      'junk/notes.txt': 'NOT_DICOM',
      'cd/DICOM/GONE': 'MISSING_REFERENCE',
    });
  });

  it('builds the same library whichever threads did the work', () => {
    const reference = runs.get('workers')!.rows;
    expect(reference).toHaveLength(SLICES + 1 + 12);
    expect(runs.get('calling thread')!.rows).toEqual(reference);
    expect(runs.get('both')!.rows).toEqual(reference);
  });

  it('stops when cancelled with both kinds of thread set to work, and finishes on a second import', async () => {
    const dataDir = join(work, 'cancelled');
    let cancelled = false;
    const summary = await importWith('both', dataDir, [join(corpus, 'series')], (p, library) => {
      // The first 'importing' event comes before any file is handed out: cancel right there.
      if (p.phase === 'importing' && !cancelled) cancelled = library.cancelImport(p.importId);
    });
    expect(cancelled).toBe(true);
    expect(summary.status).toBe('cancelled');
    expect(summary.imported).toBeLessThan(SLICES);
    expect(summary.imported + summary.duplicates + summary.rejected.length).toBe(summary.offered);
    expect(summary.instances).toBe(summary.imported);
    const rest = await importWith('both', dataDir, [join(corpus, 'series')]);
    expect(rest.status).toBe('done');
    expect(rest.instances).toBe(SLICES);
    expect(rest.imported + rest.duplicates).toBe(SLICES);
  });

  it('hands work to running workers and to the calling thread, each file exactly once', async () => {
    const pool = new ImportWorkerPool(2, pathToFileURL(join(repoRoot, 'out/node/import-worker.js')));
    try {
      // With the workers running before the run starts, they are handed the first batches, and the
      // calling thread takes files from its first slice on: both shares are certain to be non-empty.
      await pool.online();
      const files = scanSources([join(corpus, 'series')]).files;
      const queue = files.map((path, id): ImportFileTask => ({ id, path, mode: 'reference', dataDir: join(work, 'unused') }));
      const results: ImportFileResult[] = [];
      const shares = await pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'both');
      expect(shares.workers).toBeGreaterThan(0);
      expect(shares.callingThread).toBeGreaterThan(0);
      expect(shares.workers + shares.callingThread).toBe(files.length);
      expect(results.map((r) => r.id).sort((a, b) => a - b)).toEqual(files.map((_, id) => id));
      expect(results.every((r) => r.kind === 'instance')).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('finishes the next run after saving a result failed with files still in flight', async () => {
    const pool = new ImportWorkerPool(2, pathToFileURL(join(repoRoot, 'out/node/import-worker.js')));
    try {
      const files = scanSources([join(corpus, 'series')]).files;
      // Both runs number their tasks from 0, as StudyLibrary does for every import.
      const tasks = () => files.map((path, id): ImportFileTask => ({ id, path, mode: 'reference', dataDir: join(work, 'unused') }));
      const first = tasks();
      // Every file is handed out at once (up to 4 batches of 32 per worker): the first result fails while the rest are in flight.
      await expect(
        pool.run(() => first.shift() ?? null, () => {
          throw new Error('disk full');
        }),
      ).rejects.toThrow('disk full');
      const second = tasks();
      const results: ImportFileResult[] = [];
      await pool.run(() => second.shift() ?? null, (r) => results.push(r));
      expect(results.map((r) => r.id).sort((a, b) => a - b)).toEqual(files.map((_, id) => id));
      // Each result is the file of its own task, not a late one of the failed run.
      expect(results.every((r) => r.kind === 'instance' && r.path === files[r.id])).toBe(true);
    } finally {
      await pool.close();
    }
  }, 30_000);
});
