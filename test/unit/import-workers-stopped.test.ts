/**
 * How an import on worker threads ends when its workers cannot finish: a worker stuck on a file when the
 * library closes, and workers holding files when the data folder stops taking copies. The workers here are
 * stand-ins (data: URL modules) that answer the pool's messages as the test needs, never by timing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImportProgress } from '../../contract/ipc-contract';
import { EventHub } from '../../electron/services/event-hub';
import type { ImportFileTask } from '../../electron/services/library/import-file-processor';
import { ImportPoolClosedError, ImportWorkerPool } from '../../electron/services/library/import-worker-pool';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { within, workerFrom } from '../fixtures/stand-in-workers';

/** Takes every batch and never answers: a worker stuck on a hung network read. */
const NEVER_ANSWERS = workerFrom(`import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => {});`);

/**
 * Answers its first batch with storage failures (a full disk), then holds each later batch until its stop flag is set
 * and skips it: a real worker would write each of those files to the failing disk unless stopped.
 */
const DISK_FULL = workerFrom(`
import { parentPort, workerData } from 'node:worker_threads';
const stop = new Int32Array(workerData);
let first = true;
parentPort.on('message', (batch) => {
  if (first) {
    first = false;
    const results = batch.map((t) => ({ id: t.id, kind: 'rejected', path: t.path, code: 'STORAGE_WRITE_FAILED', reason: 'injected: the disk is full' }));
    parentPort.postMessage({ results, skipped: [] });
    return;
  }
  while (Atomics.load(stop, 0) === 0) Atomics.wait(stop, 0, 0, 10);
  parentPort.postMessage({ results: [], skipped: batch.map((t) => t.id) });
});`);

let root: string;
let corpus: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-workers-stopped-'));
  corpus = join(root, 'in');
  mkdirSync(corpus);
  // The stand-in workers never read them; more than one batch (32) per worker.
  for (let i = 0; i < 100; i++) writeFileSync(join(corpus, `${i}.dcm`), '');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});


function importStatuses(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'library.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[], { status: string }>('SELECT status FROM imports')
      .all()
      .map((r) => r.status);
  } finally {
    db.close();
  }
}

describe('ImportWorkerPool.close during a run', () => {
  it('ends a run whose worker never answers, rejecting it as closed', async () => {
    const pool = new ImportWorkerPool(1, NEVER_ANSWERS);
    const tasks: ImportFileTask[] = [0, 1, 2].map((id) => ({ id, path: join(corpus, `${id}.dcm`), mode: 'reference', dataDir: root }));
    const results: unknown[] = [];
    const outcome = pool.run(() => tasks.shift() ?? null, (r) => results.push(r)).then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await pool.close();
    expect(await within(20_000, outcome, 'the run')).toBeInstanceOf(ImportPoolClosedError);
    expect(results).toEqual([]);
  }, 30_000);
});

describe('StudyLibrary on workers that cannot finish', () => {
  it('closing under an import whose worker is stuck ends the import as cancelled before the index closes', async () => {
    const dataDir = join(root, 'closed');
    const events = new EventHub();
    // The wait for the stuck worker is cut short: it would never answer, however long the wait.
    const library = await StudyLibrary.open({ dataDir, events, importWorkers: 1, importWorkerUrl: NEVER_ANSWERS, storageMode: 'copy', closeWaitMs: 10 });
    let closing: Promise<void> | null = null;
    events.subscribe((e, p) => {
      // Sent just before the files are handed to the worker; the close comes once they are.
      if (e === 'import.progress' && (p as ImportProgress).phase === 'importing' && closing === null) {
        closing = new Promise((resolve, reject) => setImmediate(() => library.close().then(resolve, reject)));
      }
    });
    const summary = await within(20_000, library.import({ paths: [corpus] }), 'the import');
    expect(closing).not.toBeNull();
    await within(20_000, closing ?? Promise.resolve(), 'closing the library');
    expect(summary).toMatchObject({ status: 'cancelled', offered: 0, imported: 0, duplicates: 0, rejected: [] });
    expect(importStatuses(dataDir)).toEqual(['cancelled']);
  }, 30_000);

  it('a storage failure stops the workers: the files they hold but had not started are skipped, and the import fails', async () => {
    const dataDir = join(root, 'full');
    const library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 1, importWorkerUrl: DISK_FULL, storageMode: 'copy' });
    try {
      // With the workers not stopped, the stand-in holds its second batch for ever and the import never ends.
      await expect(within(20_000, library.import({ paths: [corpus] }), 'the import')).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('injected: the disk is full') });
      const last = library.lastImport();
      expect(last?.status).toBe('failed');
      // Only the first batch was looked at.
      expect(last?.offered).toBe(32);
      expect(last?.rejected).toHaveLength(32);
      expect(new Set(last?.rejected.map((r) => r.code))).toEqual(new Set(['STORAGE_WRITE_FAILED']));
    } finally {
      await library.close();
    }
  }, 30_000);
});
