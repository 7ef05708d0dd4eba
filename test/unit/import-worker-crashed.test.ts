/**
 * An import worker that dies partway through a batch (out of memory, a native crash): the copies it had already
 * placed for files whose results never came are in no row. The worker reports each copy as soon as it is placed; the
 * pool hands those of a dead (or closed) worker to the library, which removes them unless a row references their
 * content. The workers here are stand-ins (data: URL modules) that post what the test needs, never by timing.
 */
import { readdirSync, readFileSync, rmSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../electron/services/event-hub';
import type { ImportFileResult, ImportFileTask, PlacedCopy } from '../../electron/services/library/import-file-processor';
import { ImportPoolClosedError, ImportWorkerPool } from '../../electron/services/library/import-worker-pool';
import { StudyLibrary } from '../../electron/services/library/study-library';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

/** A worker module given as source: the pool starts it like its own (workerData is its stop flag). */
const workerFrom = (source: string) => new URL(`data:text/javascript,${encodeURIComponent(source)}`);

/**
 * Stores its batch's first file as the real worker would (under its content's name), reports the copy, then dies of
 * an uncaught error before replying. Its replacement never gets a file: the import has one.
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

/** The copy a stand-in below reports for a task (nothing is written: the pool only passes it on). */
const COPY_OF = `(t) => ({ id: t.id, storedPath: 'store/' + t.id + '.dcm', sha256: String(t.id).padStart(64, '0'), size: 1 })`;

/**
 * Of a batch [a, b, c]: reports copies for a and b, a's result, then its thread exits (code 3, no error event) before
 * b and c have results.
 */
const EXITS_MID_BATCH = workerFrom(`
import { parentPort } from 'node:worker_threads';
const copyOf = ${COPY_OF};
parentPort.on('message', ([a, b]) => {
  parentPort.postMessage({ placed: copyOf(a) });
  parentPort.postMessage({ placed: copyOf(b) });
  const ca = copyOf(a);
  parentPort.postMessage({ results: [{ id: a.id, kind: 'instance', path: a.path, sha256: ca.sha256, size: 1, mtimeMs: 0, storedPath: ca.storedPath, createdStoredFile: true, metadata: {} }], skipped: [] });
  process.exit(3);
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

/** Rejects if the promise has not settled in time: a run that never ends fails the test instead of hanging it. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The stored copies (.dcm) under the data folder's store, relative to the data folder. */
function storedCopies(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'store'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.dcm'))
      .map((e) => join(e.parentPath, e.name).slice(dataDir.length + 1))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const tasks = (n: number): ImportFileTask[] => Array.from({ length: n }, (_, id) => ({ id, path: join(root, 'in', `${id}.dcm`), mode: 'copy', dataDir: root }));
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

describe('ImportWorkerPool: copies placed by a worker whose results never came', () => {
  it('a worker whose thread exits mid-batch: its unreported files come back WORKER_CRASHED, their copies as orphaned', async () => {
    const pool = new ImportWorkerPool(1, EXITS_MID_BATCH);
    try {
      const queue = tasks(3);
      const all = [...queue];
      const results: ImportFileResult[] = [];
      const orphaned: PlacedCopy[] = [];
      await within(20_000, pool.run(() => queue.shift() ?? null, (r) => results.push(r), 'workers', { onOrphanedCopy: (c) => orphaned.push(c) }), 'the run');
      expect(results.map((r) => [r.id, r.kind === 'rejected' ? r.code : r.kind])).toEqual([
        [0, 'instance'],
        [1, 'WORKER_CRASHED'],
        [2, 'WORKER_CRASHED'],
      ]);
      expect(results[1]).toMatchObject({ reason: expect.stringContaining('exited (code 3)') });
      // Task 0's copy is named by its result; task 1's by nothing else.
      expect(orphaned).toEqual([copyOf(all[1]!)]);
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
