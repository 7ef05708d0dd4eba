/**
 * An import that stops early on worker threads — its index write fails, it is cancelled, or the
 * library closes under it — leaves no managed copy that no index row references: the files its
 * workers had started (whose copies may be placed already) are indexed, or their copies removed
 * when this import created them and nothing else references them. Uses the built import worker.
 */
import { type Dirent, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportSummary } from '../../contract/ipc-contract';
import { EventHub } from '../../electron/services/event-hub';
import { type ImportFileResult, type ImportFileTask, INCOMING_DIR } from '../../electron/services/library/import-file-processor';
import { CURRENT_CELL, type ImportWorkerMessage, ImportWorkerPool, WORKER_CELLS } from '../../electron/services/library/import-worker-pool';
import { scanSources } from '../../electron/services/library/source-scanner';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { within } from '../fixtures/stand-in-workers';
import { syntheticDicom, testUid } from '../fixtures/synthetic-dicom';
import { ensureBuilt, instanceRows, openLibrary, repoRoot } from './helpers';

/** More than one commit batch (256), so the first index write happens while the workers still hold files. */
const FILES = 600;
const workerUrl = () => pathToFileURL(join(repoRoot, 'out/node/import-worker.js'));

let work: string;
let corpus: string;

beforeAll(() => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'vigil-import-stopped-'));
  corpus = join(work, 'corpus');
  mkdirSync(corpus);
  const study = testUid();
  const series = testUid();
  for (let i = 1; i <= FILES; i++) {
    writeFileSync(join(corpus, `slice${String(i).padStart(4, '0')}.dcm`), syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: i, rows: 16, columns: 16 }));
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function openWorkerLibrary(dataDir: string): Promise<StudyLibrary> {
  return StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 2, importWorkerUrl: workerUrl(), storageMode: 'copy' });
}

/**
 * Files under the data folder's store, relative to the data folder: every one (copies and any temp left behind), or
 * only the stored copies. By directory entries alone, never stat'ed: while an import runs, a temp listed in the
 * incoming folder may be renamed before it would be looked at.
 */
function storeFiles(dataDir: string, only: 'all' | 'copies' = 'all'): string[] {
  const found: string[] = [];
  const walk = (rel: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(join(dataDir, rel), { withFileTypes: true });
    } catch (err) {
      // No store yet.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const child = join(rel, e.name);
      if (e.isDirectory() && (only === 'all' || e.name !== INCOMING_DIR)) walk(child);
      else if (e.isFile() && (only === 'all' || e.name.endsWith('.dcm'))) found.push(child);
    }
  };
  walk('store');
  return found.sort();
}

/** The managed copies the index references. */
function indexedCopies(dataDir: string): string[] {
  const db = openLibrary(dataDir);
  try {
    return instanceRows(db)
      .filter((r) => r.storage === 'copy')
      .map((r) => r.path)
      .sort();
  } finally {
    db.close();
  }
}


describe('an import stopped early on worker threads', () => {
  it('whose index write fails removes the copies of the files its workers had started, and keeps earlier ones', async () => {
    const dataDir = join(work, 'failed');
    const earlier = readdirSync(corpus)
      .slice(0, 5)
      .map((f) => join(corpus, f));
    let library = await openWorkerLibrary(dataDir);
    try {
      expect((await library.import({ paths: earlier })).imported).toBe(5);
    } finally {
      await library.close();
    }
    const before = storeFiles(dataDir);
    expect(before).toHaveLength(5);

    // Every new row fails (as a full disk would): the first commit batch rolls back while both workers hold files.
    const db = new Database(join(dataDir, 'library.sqlite'));
    try {
      db.exec(`CREATE TRIGGER injected_failure BEFORE INSERT ON instances BEGIN SELECT RAISE(ABORT, 'injected index failure'); END`);
    } finally {
      db.close();
    }
    library = await openWorkerLibrary(dataDir);
    try {
      await expect(within(20_000, library.import({ paths: [corpus] }), 'the failed import')).rejects.toThrow(/injected index failure/);
      expect(library.lastImport()).toMatchObject({ status: 'failed', imported: 0 });
    } finally {
      await library.close();
    }
    // The copies of earlier imports (also this import's duplicates) stay; no copy this import created does.
    expect(storeFiles(dataDir)).toEqual(before);
    expect(indexedCopies(dataDir)).toEqual(before);
    expect(readdirSync(corpus)).toHaveLength(FILES);
  }, 30_000);

  it('when the library closes under it, ends as cancelled with every copy its workers placed indexed', async () => {
    const dataDir = join(work, 'closed');
    const library = await openWorkerLibrary(dataDir);
    let closing: Promise<void> | null = null;
    // Closes as soon as a worker has placed a copy: its file, and any other started, are in flight.
    const watch = setInterval(() => {
      if (closing === null && storeFiles(dataDir, 'copies').length > 0) closing = library.close();
    }, 1);
    let summary: ImportSummary;
    try {
      summary = await within(20_000, library.import({ paths: [corpus] }), 'the import the library closed under');
    } finally {
      clearInterval(watch);
      await within(20_000, closing ?? library.close(), 'closing the library');
    }
    expect(closing).not.toBeNull();
    expect(summary.status).toBe('cancelled');
    expect(summary.imported).toBeGreaterThan(0);
    expect(summary.imported).toBeLessThan(FILES);
    expect(summary.imported + summary.duplicates + summary.rejected.length).toBe(summary.offered);
    const copies = storeFiles(dataDir);
    expect(copies).toHaveLength(summary.imported);
    expect(indexedCopies(dataDir)).toEqual(copies);
  }, 30_000);

  it('when aborted, has its workers skip the files they had not started, and the next run starts afresh', async () => {
    const pool = new ImportWorkerPool(2, workerUrl());
    try {
      await pool.online();
      const files = scanSources([corpus]).files;
      const queue = files.map((path, id): ImportFileTask => ({ id, path, mode: 'reference', dataDir: join(work, 'unused') }));
      const abort = new AbortController();
      const results: ImportFileResult[] = [];
      let handedOut = 0;
      // Aborted as the first batch (32 files) is filled, so it is posted with the stop flags already set: what the
      // worker does with it does not depend on the machine's load. As StudyLibrary's, nothing more is taken once aborted.
      const next = () => {
        if (abort.signal.aborted) return null;
        const task = queue.shift() ?? null;
        if (++handedOut === 32) abort.abort();
        return task;
      };
      await within(20_000, pool.run(next, (r) => results.push(r), 'workers', { signal: abort.signal }), 'the aborted run');
      expect(handedOut).toBe(32);
      expect(queue).toHaveLength(FILES - 32);
      // The pool without stop flags processed and delivered the whole batch.
      expect(results).toEqual([]);
      // The next run starts with its workers' stop flags cleared and processes every file.
      const again = files.map((path, id): ImportFileTask => ({ id, path, mode: 'reference', dataDir: join(work, 'unused') }));
      const second: ImportFileResult[] = [];
      await pool.run(() => again.shift() ?? null, (r) => second.push(r));
      expect(second.map((r) => r.id).sort((a, b) => a - b)).toEqual(files.map((_, id) => id));
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('whose saving fails hands the results still to come to onUnapplied, never to onResult again', async () => {
    const pool = new ImportWorkerPool(2, workerUrl());
    try {
      await pool.online();
      const files = scanSources([corpus]).files;
      const queue = files.map((path, id): ImportFileTask => ({ id, path, mode: 'copy', dataDir: join(work, 'unapplied') }));
      const applied: ImportFileResult[] = [];
      const unapplied: ImportFileResult[] = [];
      let takenAtFailure = -1;
      await expect(
        within(
          20_000,
          pool.run(() => queue.shift() ?? null, (r) => {
            applied.push(r);
            takenAtFailure = FILES - queue.length;
            throw new Error('disk full');
          }, 'workers', { onUnapplied: (r) => unapplied.push(r) }),
          'the failed run',
        ),
      ).rejects.toThrow('disk full');
      expect(applied).toHaveLength(1);
      // The rest of the first reply, at least, was started: each copy placed is in a result handed over.
      expect(unapplied.length).toBeGreaterThanOrEqual(31);
      const handedOver = [...applied, ...unapplied].map((r) => (r.kind === 'instance' ? r.storedPath : null)).filter((p) => p !== null);
      expect(handedOver).toHaveLength(applied.length + unapplied.length);
      // No file was taken after the failure, and none handed over twice.
      expect(FILES - queue.length).toBe(takenAtFailure);
      expect(new Set([...applied, ...unapplied].map((r) => r.id)).size).toBe(applied.length + unapplied.length);
      expect(applied.length + unapplied.length).toBeLessThanOrEqual(takenAtFailure);
      expect([...new Set(handedOver)].sort()).toEqual(storeFiles(join(work, 'unapplied')));
    } finally {
      await pool.close();
    }
  }, 30_000);
});

describe('the built import worker', () => {
  it('reports each copy it creates before the reply that carries its result, and none it finds stored', async () => {
    const cells = new SharedArrayBuffer(WORKER_CELLS * Int32Array.BYTES_PER_ELEMENT);
    const worker = new Worker(workerUrl(), { workerData: cells });
    try {
      const dataDir = join(work, 'placed');
      const batch = readdirSync(corpus)
        .slice(0, 3)
        .map((f, id): ImportFileTask => ({ id, path: join(corpus, f), mode: 'copy', dataDir }));
      const messages: ImportWorkerMessage[] = [];
      const twoReplies = new Promise<void>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (m: ImportWorkerMessage) => {
          messages.push(m);
          if (messages.filter((x) => 'results' in x).length === 2) resolve();
        });
      });
      // The same files twice: the second time every copy is found already stored.
      worker.postMessage(batch);
      worker.postMessage(batch);
      await within(20_000, twoReplies, 'the replies');
      expect(messages.map((m) => ('placed' in m ? `placed ${m.placed.id}` : 'reply'))).toEqual(['placed 0', 'placed 1', 'placed 2', 'reply', 'reply']);
      const [first] = messages.filter((m) => 'results' in m);
      const results = first && 'results' in first ? first.results : [];
      const placed = messages.flatMap((m) => ('placed' in m ? [m.placed] : []));
      expect(placed).toEqual(results.map((r) => (r.kind === 'instance' ? { id: r.id, storedPath: r.storedPath, sha256: r.sha256, size: r.size } : r)));
      expect(storeFiles(dataDir, 'copies')).toEqual(placed.map((c) => c.storedPath).sort());
      // Between files it records none: a death now would be blamed on no file.
      expect(Atomics.load(new Int32Array(cells), CURRENT_CELL)).toBe(0);
    } finally {
      await worker.terminate();
    }
  }, 30_000);
});
