/**
 * An import worker that dies partway through a batch (out of memory, a native crash): the copies it had already
 * placed for files whose results never came are in no row. The worker reports each copy as soon as it is placed; the
 * pool hands those of a dead (or closed) worker to the library, which removes them unless a row references their
 * content. Only the file a worker died on is reported WORKER_CRASHED: the others it held go to other workers. The
 * workers here are stand-ins (data: URL modules) that post what the test needs, never by timing.
 */
import { readFileSync, rmSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../electron/services/event-hub';
import type { ImportFileResult, ImportFileTask, PlacedCopy } from '../../electron/services/library/import-file-processor';
import { CURRENT_CELL, ImportPoolClosedError, ImportWorkerPool, ImportWorkersUnavailableError, processBatch, STOP_CELL, WORKER_CELLS } from '../../electron/services/library/import-worker-pool';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { EXITS_ON_ITS_FIRST_BATCH, outcomes, tasksIn, within, workerFrom, workersGiven } from '../fixtures/stand-in-workers';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { storedCopies } from '../fixtures/stored-copies';

/**
 * Stores its batch's first file as the real worker would (under its content's name), reports the copy, then dies of
 * an uncaught error before replying. It records no file as the one it is on: the file is retried alone on a new
 * worker, which does the same, and is then rejected.
 */
const PLACES_THEN_THROWS = workerFrom(`
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
parentPort.on('message', (batch) => {
  const task = batch[0];
  const bytes = readFileSync(task.path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const storedPath = join('store', sha256.slice(0, 2), sha256.slice(2, 4), sha256 + '.dcm');
  mkdirSync(join(task.dataDir, storedPath, '..'), { recursive: true });
  writeFileSync(join(task.dataDir, storedPath), bytes);
  parentPort.postMessage({ placed: { id: task.id, storedPath, sha256, size: bytes.length } });
  throw new Error('injected: out of memory');
});`);

/**
 * Reports a "copy" whose hash holds ../ segments, so that its path (as the store would name it) is the source file
 * itself, then dies before replying: a worker's message must never get the library to remove a file outside the store.
 */
const REPORTS_A_PATH_OUTSIDE_THE_STORE = workerFrom(`
import { parentPort } from 'node:worker_threads';
parentPort.on('message', ([task]) => {
  parentPort.postMessage({ placed: { id: task.id, storedPath: '../in/1.dcm', sha256: '../x/../../in/1', size: 1 } });
  throw new Error('injected: out of memory');
});`);

/** The copy a stand-in below reports for a task (nothing is written: the pool only passes it on). */
const COPY_OF = `(t) => ({ id: t.id, storedPath: 'store/' + t.id + '.dcm', sha256: String(t.id).padStart(64, '0'), size: 1 })`;
/** The result a stand-in below gives a file it "read": an instance whose copy it created. */
const INSTANCE_OF = `(t) => { const c = (${COPY_OF})(t); return { id: t.id, kind: 'instance', path: t.path, sha256: c.sha256, size: 1, mtimeMs: 0, storedPath: c.storedPath, createdStoredFile: true, metadata: {} }; }`;

/**
 * As the real worker: records the file it is on (CURRENT_CELL) while it reads it and reports each copy as it places
 * it; each result comes in a message of its own. Its thread exits (code 3, no error event) on a file named dies.dcm,
 * after placing its copy.
 */
const EXITS_ON_A_FILE = workerFrom(`
import { parentPort, workerData } from 'node:worker_threads';
const cells = new Int32Array(workerData);
const copyOf = ${COPY_OF};
const instanceOf = ${INSTANCE_OF};
parentPort.on('message', (batch) => {
  for (const t of batch) {
    Atomics.store(cells, ${CURRENT_CELL}, t.id + 1);
    parentPort.postMessage({ placed: copyOf(t) });
    if (t.path.endsWith('dies.dcm')) process.exit(3);
    parentPort.postMessage({ results: [instanceOf(t)], skipped: [] });
    Atomics.store(cells, ${CURRENT_CELL}, 0);
  }
});`);

/**
 * As the real worker, answering each batch in one reply, but dies of an uncaught error while reading a file named
 * hostile.dcm (out of memory on a hostile file).
 */
const DIES_ON_HOSTILE = workerFrom(`
import { parentPort, workerData } from 'node:worker_threads';
const cells = new Int32Array(workerData);
const instanceOf = ${INSTANCE_OF};
parentPort.on('message', (batch) => {
  const results = [];
  for (const t of batch) {
    Atomics.store(cells, ${CURRENT_CELL}, t.id + 1);
    if (t.path.endsWith('hostile.dcm')) throw new Error('injected: out of memory reading ' + t.id);
    results.push(instanceOf(t));
    Atomics.store(cells, ${CURRENT_CELL}, 0);
  }
  parentPort.postMessage({ results, skipped: [] });
});`);

/**
 * Records no file: its thread exits (code 3) as soon as it is given a batch holding a file named poison.dcm, and
 * answers any other batch with instances.
 */
const DIES_UNRECORDED_ON_POISON = workerFrom(`
import { parentPort } from 'node:worker_threads';
const instanceOf = ${INSTANCE_OF};
parentPort.on('message', (batch) => {
  if (batch.some((t) => t.path.endsWith('poison.dcm'))) process.exit(3);
  parentPort.postMessage({ results: batch.map(instanceOf), skipped: [] });
});`);

/** Records no file: answers its first batch with instances, then dies of an uncaught error, holding whatever came next. */
const DIES_AFTER_FIRST_REPLY = workerFrom(`
import { parentPort } from 'node:worker_threads';
const instanceOf = ${INSTANCE_OF};
parentPort.once('message', (batch) => {
  parentPort.postMessage({ results: batch.map(instanceOf), skipped: [] });
  throw new Error('injected: died between batches');
});`);

/** Of a batch [a, b, c]: reports a copy for a, then b's result, then never answers again (stuck on a hung read). */
const STUCK_AFTER_PLACING = workerFrom(`
import { parentPort } from 'node:worker_threads';
const copyOf = ${COPY_OF};
parentPort.on('message', ([a, b]) => {
  parentPort.postMessage({ placed: copyOf(a) });
  parentPort.postMessage({ results: [{ id: b.id, kind: 'rejected', path: b.path, code: 'NOT_DICOM', reason: 'injected' }], skipped: [] });
});`);

const STUDY = '1.2.826.0.1.3680043.10.1138.950';
const BYTES = syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.1` });

let root: string;
let source: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-worker-crashed-'));
  mkdirSync(join(root, 'in'));
  source = join(root, 'in', '1.dcm');
  writeFileSync(source, BYTES);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});



/** Tasks 0..n-1; those named in `special` get that file name instead of `<id>.dcm`. */
const tasks = (n: number, special: Record<number, string> = {}): ImportFileTask[] => tasksIn(join(root, 'in'), root, n, special);
/** Runs every task on the pool; the results by id, and the copies handed over as orphaned. */
async function runAll(pool: ImportWorkerPool, queue: ImportFileTask[]): Promise<{ results: ImportFileResult[]; orphaned: PlacedCopy[] }> {
  const results: ImportFileResult[] = [];
  const orphaned: PlacedCopy[] = [];
  await within(60_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'workers', { onOrphanedCopy: (c) => orphaned.push(c) }), 'the run');
  return { results: results.sort((a, b) => a.id - b.id), orphaned };
}
const copyOf = (t: ImportFileTask): PlacedCopy => ({ id: t.id, storedPath: `store/${t.id}.dcm`, sha256: String(t.id).padStart(64, '0'), size: 1 });

describe('StudyLibrary: a worker that dies after placing a copy', () => {
  it('removes the copy, which no row references, and reports the file WORKER_CRASHED with its source untouched', async () => {
    const dataDir = join(root, 'data');
    const library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 1, importWorkerUrl: PLACES_THEN_THROWS, storageMode: 'copy' });
    try {
      const summary = await within(20_000, library.import({ paths: [source] }), 'the import');
      expect(summary).toMatchObject({ status: 'done', offered: 1, imported: 0, duplicates: 0, instances: 0 });
      expect(summary.rejected).toEqual([{ path: source, code: 'WORKER_CRASHED', reason: expect.stringContaining('injected: out of memory') }]);
      expect(storedCopies(dataDir)).toEqual([]);
      expect(readFileSync(source)).toEqual(BYTES);
    } finally {
      await library.close();
    }
  }, 30_000);

  it('keeps the copy when a committed row references its content', async () => {
    const dataDir = join(root, 'data');
    const first = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 0, storageMode: 'copy' });
    let stored: string[];
    try {
      expect((await first.import({ paths: [source] })).imported).toBe(1);
      stored = storedCopies(dataDir);
      expect(stored).toHaveLength(1);
    } finally {
      await first.close();
    }
    // The stand-in writes the same content under the same name again and reports it as its own.
    const library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 1, importWorkerUrl: PLACES_THEN_THROWS, storageMode: 'copy' });
    try {
      const summary = await within(20_000, library.import({ paths: [source] }), 'the import');
      expect(summary.rejected.map((r) => r.code)).toEqual(['WORKER_CRASHED']);
      expect(summary.instances).toBe(1);
      expect(storedCopies(dataDir)).toEqual(stored);
      expect(readFileSync(library.instanceFile(`${STUDY}.1.1`)?.path ?? '')).toEqual(BYTES);
    } finally {
      await library.close();
    }
  }, 30_000);
});

describe('StudyLibrary: an orphaned copy reported under a name that is not a hash', () => {
  it('is not removed, even where that name leads out of the store to the source file', async () => {
    const dataDir = join(root, 'data');
    const library = await StudyLibrary.open({ dataDir, events: new EventHub(), importWorkers: 1, importWorkerUrl: REPORTS_A_PATH_OUTSIDE_THE_STORE, storageMode: 'copy' });
    try {
      const summary = await within(20_000, library.import({ paths: [source] }), 'the import');
      expect(summary.rejected.map((r) => r.code)).toEqual(['WORKER_CRASHED']);
      expect(readFileSync(source)).toEqual(BYTES);
    } finally {
      await library.close();
    }
  }, 30_000);
});

describe('ImportWorkerPool: copies placed by a worker whose results never came', () => {
  it('a worker whose thread exits on a file: that file, retried alone, comes back WORKER_CRASHED, its copies as orphaned, and the next file is read by a new worker', async () => {
    const pool = new ImportWorkerPool(1, EXITS_ON_A_FILE);
    try {
      const queue = tasks(3, { 1: 'dies.dcm' });
      const all = [...queue];
      const { results, orphaned } = await runAll(pool, queue);
      expect(outcomes(results)).toEqual([
        [0, 'instance'],
        [1, 'WORKER_CRASHED'],
        [2, 'instance'],
      ]);
      expect(results[1]).toMatchObject({ reason: expect.stringContaining('exited (code 3)') });
      // Task 0's and task 2's copies are named by their results; task 1's by nothing else, reported by each worker that
      // placed it (its first worker had read task 0 before it, so it was retried alone on a second).
      expect(orphaned).toEqual([copyOf(all[1]!), copyOf(all[1]!)]);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('closed while a worker is stuck: the copies it reported for files without results come back as orphaned', async () => {
    const pool = new ImportWorkerPool(1, STUCK_AFTER_PLACING);
    const queue = tasks(3);
    const all = [...queue];
    const orphaned: PlacedCopy[] = [];
    let answered: () => void = () => {};
    const secondAnswered = new Promise<void>((resolve) => (answered = resolve));
    const outcome = pool
      .run(() => queue.shift() ?? null, () => answered(), 'workers', { onOrphanedCopy: (c) => orphaned.push(c) })
      .then(
        () => 'resolved',
        (err: unknown) => err,
      );
    // The copy's report was posted before b's result, on the same port: it has arrived.
    await within(20_000, secondAnswered, "b's result");
    await pool.close();
    expect(await within(20_000, outcome, 'the run')).toBeInstanceOf(ImportPoolClosedError);
    expect(orphaned).toEqual([copyOf(all[0]!)]);
  }, 30_000);
});

describe('ImportWorkerPool: a worker that dies while holding many files', () => {
  it('blames only the file it was reading: every other file it held is read by the next workers', async () => {
    const pool = new ImportWorkerPool(2, DIES_ON_HOSTILE);
    try {
      // Each worker holds up to four batches of 32; before, every file a dying worker held came back WORKER_CRASHED.
      const { results } = await runAll(pool, tasks(300, { 5: 'hostile.dcm', 40: 'hostile.dcm' }));
      expect(results).toHaveLength(300);
      expect(results.filter((r) => r.kind === 'rejected')).toEqual([
        { id: 5, kind: 'rejected', path: join(root, 'in', 'hostile.dcm'), code: 'WORKER_CRASHED', reason: expect.stringContaining('injected: out of memory reading 5') },
        { id: 40, kind: 'rejected', path: join(root, 'in', 'hostile.dcm'), code: 'WORKER_CRASHED', reason: expect.stringContaining('injected: out of memory reading 40') },
      ]);
      expect(results.filter((r) => r.kind === 'instance')).toHaveLength(298);
    } finally {
      await pool.close();
    }
  }, 90_000);

  it('a worker that dies before naming a file or saying anything counts as one that could not start: no file is blamed', async () => {
    // Node reports 'online' before a worker's module is evaluated, and the real worker names each file before it
    // touches it: such a death (a module that fails to load) says nothing about the files it held. Before, each
    // file it held was given a worker of its own and the first two were rejected as killers ("died again").
    const pool = new ImportWorkerPool(1, DIES_UNRECORDED_ON_POISON);
    try {
      const results: ImportFileResult[] = [];
      const queue = tasks(10, { 4: 'poison.dcm' });
      // Three such deaths in a row give the slot up: a workers-only run then fails as a whole, blaming no file.
      await expect(within(60_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'workers'), 'the run')).rejects.toBeInstanceOf(ImportWorkersUnavailableError);
      expect(results).toEqual([]);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('a worker dying between batches fails none of the files it held, nor those it was given as it died', async () => {
    const pool = new ImportWorkerPool(1, DIES_AFTER_FIRST_REPLY);
    try {
      // 32 answered by the first worker; each of the 8 others it held (and each worker after it) is answered by a worker of its own.
      const { results } = await runAll(pool, tasks(40));
      expect(outcomes(results)).toEqual(Array.from({ length: 40 }, (_, id) => [id, 'instance']));
    } finally {
      await pool.close();
    }
  }, 60_000);
});

/**
 * Answers every batch with instances; once it has answered a batch holding a file named then-dies.dcm, it dies of an
 * uncaught error (with nothing left to do: between runs).
 */
const DIES_WHEN_DONE = workerFrom(`
import { parentPort } from 'node:worker_threads';
const instanceOf = ${INSTANCE_OF};
parentPort.on('message', (batch) => {
  parentPort.postMessage({ results: batch.map(instanceOf), skipped: [] });
  if (batch.some((t) => t.path.endsWith('then-dies.dcm'))) throw new Error('injected: died while idle');
});`);

/** The worker of the pool's first slot (private: no public API names it); the pool starts its workers as a run begins. */
const firstWorker = (pool: ImportWorkerPool): { threadId: number } => (pool as unknown as { slots: { worker: { threadId: number } }[] }).slots[0]!.worker;

/**
 * Resolves once `worker` has died: its thread gone (threadId −1), and so the pool's own exit listener, registered
 * first, has run. (Waiting for the pool to mark the slot exited raced: a death noticed while the run that woke it is
 * still settling replaces the worker at once and never marks the slot.)
 */
async function deathNoticed(worker: { threadId: number }): Promise<void> {
  await within(20_000, new Promise<void>((resolve) => {
    const check = () => (worker.threadId === -1 ? resolve() : setTimeout(check, 5));
    check();
  }), 'noticing the death');
}

/**
 * As the real worker (records the file it is on, one reply per batch), but reading a file named breaks-the-worker.dcm
 * leaves it broken (say its heap not freed): it dies of an uncaught error on the next file it reads. Each worker that
 * is given files says so in dataDir/given (one line per worker), to count them.
 */
const BROKEN_BY_A_FILE = workerFrom(`
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
const cells = new Int32Array(workerData);
const instanceOf = ${INSTANCE_OF};
let given = false;
let broken = false;
parentPort.on('message', (batch) => {
  if (!given) appendFileSync(join(batch[0].dataDir, 'given'), 'worker\\n');
  given = true;
  const results = [];
  for (const t of batch) {
    Atomics.store(cells, ${CURRENT_CELL}, t.id + 1);
    if (broken) throw new Error('injected: out of memory reading ' + t.id);
    if (t.path.endsWith('breaks-the-worker.dcm')) broken = true;
    results.push(instanceOf(t));
    Atomics.store(cells, ${CURRENT_CELL}, 0);
  }
  parentPort.postMessage({ results, skipped: [] });
});`);

describe('ImportWorkerPool: a file that leaves its worker broken', () => {
  it('gets no other file blamed: the file each worker dies on is retried alone, and those read before it alone at a second crash', async () => {
    const pool = new ImportWorkerPool(1, BROKEN_BY_A_FILE);
    try {
      // Before, the blame went to the file after it in each new worker: 4..99 came back WORKER_CRASHED, 97 workers.
      const { results } = await runAll(pool, tasks(100, { 3: 'breaks-the-worker.dcm' }));
      // Read alone, each file (the one that breaks the worker too) is what it is: an instance.
      expect(outcomes(results)).toEqual(Array.from({ length: 100 }, (_, id) => [id, 'instance']));
      // Two crashes (on 4, then 5 with 0..3 read again before it), then 5, 0, 1, 2 and 3 alone; one more should the
      // worker that read 3 alone go on to the rest.
      expect(workersGiven(root)).toBeLessThanOrEqual(8);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('ImportWorkerPool: workers that die before they have done any work', () => {
  it.each([
    ['both', 40],
    ['workers', 140],
  ] as const)('(%s) are restarted at most three times in a row, then the calling thread reads the files (both) or the run fails (workers)', async (threads, n) => {
    const pool = new ImportWorkerPool(1, EXITS_ON_ITS_FIRST_BATCH);
    try {
      // Online before the run, so that its first batch is posted before the calling thread takes any file.
      await pool.online();
      const queue = tasks(n);
      const results: ImportFileResult[] = [];
      const run = within(60_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), threads), 'the run');
      if (threads === 'workers') await expect(run).rejects.toBeInstanceOf(ImportWorkersUnavailableError);
      else await run;
      // Before, each file the first worker held was given to a worker of its own: 33 (both) or 129 (workers) workers.
      expect(workersGiven(root)).toBe(3);
      if (threads === 'workers') {
        // One error for the run, not a rejection per file.
        expect(results).toEqual([]);
        return;
      }
      // The first worker's 32 files (4 batches of 8) went to the next workers unmarked (a worker that dies before naming
      // a file read none), and to the calling thread when the third died too: every file read there (1.dcm an instance,
      // the others UNREADABLE: no such file), none rejected WORKER_CRASHED.
      const byId = new Map(results.map((r) => [r.id, r]));
      expect(byId.size).toBe(n);
      for (let id = 0; id < n; id++) expect(byId.get(id)).toMatchObject(id === 1 ? { kind: 'instance' } : { code: 'UNREADABLE' });
    } finally {
      await pool.close();
    }
  }, 90_000);
});

/** The first worker answers its first batch and dies; every later one dies on its first batch without a word. */
const ANSWERS_ONCE_THEN_NONE_START = workerFrom(`
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
const instanceOf = ${INSTANCE_OF};
parentPort.once('message', (batch) => {
  const first = join(batch[0].dataDir, 'answered-once');
  if (existsSync(first)) process.exit(3);
  writeFileSync(first, '');
  parentPort.postMessage({ results: batch.map(instanceOf), skipped: [] });
  process.exit(3);
});`);

describe('ImportWorkerPool: every worker given up after the calling thread has finished', () => {
  it('(both) rejects the files queued since (e.g. a DICOMDIR\'s references) instead of losing them', async () => {
    const pool = new ImportWorkerPool(1, ANSWERS_ONCE_THEN_NONE_START);
    try {
      await pool.online();
      // Each file the worker reads names ten more, as a DICOMDIR names its images; the calling thread has long finished
      // (its files do not exist: UNREADABLE at once) when they are queued, and no worker starts after the first.
      const queue = tasks(8);
      let created = queue.length;
      const results: ImportFileResult[] = [];
      const onResult = (r: ImportFileResult) => {
        results.push(r);
        if (r.kind !== 'instance' || created >= 200) return;
        queue.push(...Array.from({ length: 10 }, (_, k): ImportFileTask => ({ id: created + k, path: join(root, 'in', `${created + k}.dcm`), mode: 'copy', dataDir: root })));
        created += 10;
      };
      await within(60_000, pool.run(() => queue.shift() ?? null, onResult, 'both'), 'the run');
      // Every file offered has its one result; before, the files queued after the calling thread finished were dropped.
      expect(new Set(results.map((r) => r.id)).size).toBe(created);
      expect(results).toHaveLength(created);
      expect(queue).toEqual([]);
    } finally {
      await pool.close();
    }
  }, 90_000);
});

describe('ImportWorkerPool: a worker that dies between runs', () => {
  it('raises no uncaught error, and the next run is served whole by a new worker', async () => {
    const pool = new ImportWorkerPool(1, DIES_WHEN_DONE);
    try {
      const first = runAll(pool, tasks(1, { 0: 'then-dies.dcm' }));
      const dying = firstWorker(pool);
      expect(outcomes((await first).results)).toEqual([[0, 'instance']]);
      // Before, no listener took the death: an uncaught 'error', and this run waited for ever on the dead worker.
      await deathNoticed(dying);
      const { results } = await runAll(pool, tasks(5));
      expect(outcomes(results)).toEqual(Array.from({ length: 5 }, (_, id) => [id, 'instance']));
    } finally {
      await pool.close();
    }
  }, 90_000);

  it('dying just as the next run starts, fails none of the files of that run', async () => {
    const pool = new ImportWorkerPool(1, DIES_WHEN_DONE);
    try {
      expect(outcomes((await runAll(pool, tasks(1, { 0: 'then-dies.dcm' }))).results)).toEqual([[0, 'instance']]);
      // Before, the files this run gave the dying worker came back WORKER_CRASHED.
      const { results } = await runAll(pool, tasks(5));
      expect(outcomes(results)).toEqual(Array.from({ length: 5 }, (_, id) => [id, 'instance']));
    } finally {
      await pool.close();
    }
  }, 90_000);
});

describe('processBatch (the import worker loop)', () => {
  it('records each file in CURRENT_CELL while it is read, clears it after, and skips every file once stopped', () => {
    const cells = new Int32Array(new SharedArrayBuffer(WORKER_CELLS * Int32Array.BYTES_PER_ELEMENT));
    const seen: number[] = [];
    const batch = tasks(3);
    const reply = processBatch(batch, cells, () => {}, (task) => {
      seen.push(Atomics.load(cells, CURRENT_CELL));
      if (task.id === 1) Atomics.store(cells, STOP_CELL, 1);
      return { id: task.id, kind: 'rejected', path: task.path, code: 'NOT_DICOM', reason: 'stand-in' };
    });
    expect(seen).toEqual([1, 2]);
    expect(Atomics.load(cells, CURRENT_CELL)).toBe(0);
    expect(reply).toEqual({ results: [expect.objectContaining({ id: 0 }), expect.objectContaining({ id: 1 })], skipped: [2] });
  });
});
