/**
 * Import workers that die before they can work (a worker module that fails to load, no memory for a thread): once the
 * run has given every slot up, the files no worker read are read by the calling thread where the run has one
 * ('both', the CLI), and a workers-only run (the window host) fails with one clear error instead of rejecting each
 * file. Each run gives a slot its full START_UP_DEATHS tries, whatever an earlier run left. The workers here are
 * stand-ins (data: URL modules) that do what the test needs, never by timing.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../electron/services/event-hub';
import type { ImportFileResult, ImportFileTask } from '../../electron/services/library/import-file-processor';
import { CURRENT_CELL, ImportWorkerPool, ImportWorkersUnavailableError } from '../../electron/services/library/import-worker-pool';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { EXITS_ON_ITS_FIRST_BATCH, outcomes, tasksIn, within, workerFrom, workersGiven } from '../fixtures/stand-in-workers';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

/**
 * The first worker reads as the real one does (recording the file it is on) and dies of an uncaught error on a file
 * named hostile.dcm, having read the files before it; every later worker exits on its first batch without a word.
 */
const FIRST_DIES_ON_HOSTILE_THEN_NONE_START = workerFrom(`
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
const cells = new Int32Array(workerData);
parentPort.on('message', (batch) => {
  const given = join(batch[0].dataDir, 'given');
  const first = !existsSync(given);
  appendFileSync(given, 'worker\\n');
  if (!first) process.exit(3);
  for (const t of batch) {
    Atomics.store(cells, ${CURRENT_CELL}, t.id + 1);
    if (t.path.endsWith('hostile.dcm')) throw new Error('injected: out of memory reading ' + t.id);
    Atomics.store(cells, ${CURRENT_CELL}, 0);
  }
});`);

const STUDY = '1.2.826.0.1.3680043.10.1138.951';

let root: string;
let dataDir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-workers-cannot-start-'));
  dataDir = join(root, 'data');
  mkdirSync(join(root, 'in'));
  mkdirSync(dataDir);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Tasks 0..n-1 over real DICOM files (one instance each), copied into dataDir; those named in `special` get that name instead. */
function dicomTasks(n: number, special: Record<number, string> = {}): ImportFileTask[] {
  return tasksIn(join(root, 'in'), dataDir, n, special).map((task) => {
    const id = task.id;
    writeFileSync(task.path, syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${id + 1}`, instanceNumber: id + 1 }));
    return task;
  });
}

describe('ImportWorkerPool alongside the calling thread, when no worker can start', () => {
  it('reads on the calling thread the files the dead workers held, instead of rejecting them', async () => {
    const pool = new ImportWorkerPool(1, EXITS_ON_ITS_FIRST_BATCH);
    try {
      // Online before the run, so that its first batches (4 of 8 files) are posted before the calling thread takes any file.
      await pool.online();
      const queue = dicomTasks(40);
      const results: ImportFileResult[] = [];
      const shares = await within(60_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'both'), 'the run');
      expect(workersGiven(dataDir)).toBe(3);
      // Before, the 32 files the first worker held (and each next one after it) came back WORKER_CRASHED ("could not start").
      expect(outcomes(results)).toEqual(Array.from({ length: 40 }, (_, id) => [id, 'instance']));
      expect(shares).toEqual({ callingThread: 40, workers: 0 });
    } finally {
      await pool.close();
    }
  }, 90_000);

  it('still rejects the files a dead worker read (the one it died on, and those before it): they could kill this thread too', async () => {
    const pool = new ImportWorkerPool(1, FIRST_DIES_ON_HOSTILE_THEN_NONE_START);
    try {
      await pool.online();
      const queue = dicomTasks(40, { 1: 'hostile.dcm' });
      const results: ImportFileResult[] = [];
      await within(60_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'both'), 'the run');
      // The first worker, then three that never start, each given file 1 alone.
      expect(workersGiven(dataDir)).toBe(4);
      expect(outcomes(results)).toEqual(Array.from({ length: 40 }, (_, id) => [id, id <= 1 ? 'WORKER_CRASHED' : 'instance']));
      for (const id of [0, 1]) expect(results.find((r) => r.id === id)).toMatchObject({ reason: expect.stringContaining('no import worker could start') });
    } finally {
      await pool.close();
    }
  }, 90_000);
});

describe('ImportWorkerPool working alone (the window host), when no worker can start', () => {
  it('rejects the run with one ImportWorkersUnavailableError, with no file rejected for it', async () => {
    const pool = new ImportWorkerPool(1, EXITS_ON_ITS_FIRST_BATCH);
    try {
      const queue = dicomTasks(40);
      const results: ImportFileResult[] = [];
      const outcome = pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'workers').then(
        () => 'resolved',
        (err: unknown) => err,
      );
      const err = await within(60_000, outcome, 'the run');
      // Before, the run resolved with every file rejected WORKER_CRASHED, one by one.
      expect(err).toBeInstanceOf(ImportWorkersUnavailableError);
      expect((err as Error).message).toContain('its thread exited (code 3)');
      expect(results).toEqual([]);
      expect(workersGiven(dataDir)).toBe(3);
    } finally {
      await pool.close();
    }
  }, 90_000);

  it('StudyLibrary: the import fails with an UNAVAILABLE error that says what to do; nothing is stored and the sources are unchanged', async () => {
    const library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 1, importWorkerUrl: EXITS_ON_ITS_FIRST_BATCH, storageMode: 'copy' });
    try {
      const tasks = dicomTasks(5);
      const before = tasks.map((t) => readFileSync(t.path));
      await expect(within(60_000, library.import({ paths: [join(root, 'in')] }), 'the import')).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/worker threads could not start \(its thread exited \(code 3\)\).*restart Vigil and import again.*reinstall Vigil/),
      });
      const last = library.lastImport();
      expect(last).toMatchObject({ status: 'failed', imported: 0, rejected: [] });
      expect(library.totals()).toMatchObject({ instances: 0 });
      expect(existsSync(join(dataDir, 'store')) ? readdirSync(join(dataDir, 'store'), { recursive: true }) : []).toEqual([]);
      expect(tasks.map((t) => readFileSync(t.path))).toEqual(before);
    } finally {
      await library.close();
    }
  }, 90_000);
});

describe('ImportWorkerPool: start-up deaths of one run', () => {
  it('do not count against the next run: each run restarts a slot up to three times', async () => {
    const pool = new ImportWorkerPool(1, EXITS_ON_ITS_FIRST_BATCH);
    try {
      // The first run stops (cancelled) once it has handed its one file to the worker, which then dies at start-up: the
      // run ends with the slot's count at one death, and its replacement started but not yet given anything.
      const cancel = new AbortController();
      const first = dicomTasks(1);
      const next = () => {
        const task = first.shift();
        if (!task) cancel.abort();
        return task ?? null;
      };
      await within(60_000, pool.run(next, () => {}, 'workers', { signal: cancel.signal }), 'the first run');
      expect(workersGiven(dataDir)).toBe(1);

      const second = dicomTasks(5);
      const outcome = pool.run(() => second.shift() ?? null, () => {}, 'workers').then(
        () => 'resolved',
        (err: unknown) => err,
      );
      expect(await within(60_000, outcome, 'the second run')).toBeInstanceOf(ImportWorkersUnavailableError);
      // Before, the first run's death counted in the second, which gave the slot up after two workers.
      expect(workersGiven(dataDir) - 1).toBe(3);
    } finally {
      await pool.close();
    }
  }, 90_000);
});

/** Answers every batch with rejections (nothing to read), then dies of an uncaught error once it has answered one. */
const DIES_AFTER_ANSWERING = workerFrom(`
import { parentPort } from 'node:worker_threads';
parentPort.on('message', (batch) => {
  parentPort.postMessage({ results: batch.map((t) => ({ id: t.id, kind: 'rejected', path: t.path, code: 'NOT_DICOM', reason: 'stand-in' })), skipped: [] });
  throw new Error('injected: died after answering');
});`);

describe('ImportWorkerPool: a run started while its worker is dying', () => {
  it('waits for the death and gives every file to the new worker, instead of ending at once with none taken', async () => {
    const pool = new ImportWorkerPool(1, DIES_AFTER_ANSWERING);
    try {
      const firstTasks = dicomTasks(1);
      await within(60_000, pool.run(() => firstTasks.shift() ?? null, () => {}, 'workers'), 'the first run');
      // Started from the worker's 'error' (after the pool's own listener saw it), before its 'exit': read from the
      // private slots, as no public API exposes a worker.
      const worker = (pool as unknown as { slots: { worker: import('node:worker_threads').Worker }[] }).slots[0]!.worker;
      const results: ImportFileResult[] = [];
      // Wrapped: a promise resolved with the run's promise would wait for the run.
      const second = await within(60_000, new Promise<{ run: Promise<unknown> }>((resolve) => {
        worker.once('error', () => {
          const queue = dicomTasks(3);
          resolve({ run: pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'workers') });
        });
      }), 'the worker dying');
      await within(60_000, second.run, 'the second run');
      // Before, the run ended at once: no file taken, no result.
      expect(outcomes(results)).toEqual([
        [0, 'NOT_DICOM'],
        [1, 'NOT_DICOM'],
        [2, 'NOT_DICOM'],
      ]);
    } finally {
      await pool.close();
    }
  }, 90_000);
});
