/**
 * ImportWorkerPool: runs processImportFile on worker threads so parsing,
 * hashing and copying never block the main event loop. A run may instead ask
 * the calling thread to do the work ('only': size 0, or an import too small to
 * pay for starting threads), or to work alongside the threads ('alongside': a
 * host with no window to keep responsive, the CLI). The calling thread works in
 * short slices between event-loop turns, so progress, cancellation, signals and
 * worker messages still get their turn.
 */
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { type ImportFileResult, type ImportFileTask, processImportFile } from './import-file-processor';

/**
 * node:worker_threads takes milliseconds to load: an import done on the calling thread
 * (a one-shot CLI import of a few hundred files) never loads it.
 */
const requireBuiltin = createRequire(import.meta.url);
let WorkerClass: typeof Worker | null = null;
function startWorker(url: URL): Worker {
  WorkerClass ??= (requireBuiltin('node:worker_threads') as typeof import('node:worker_threads')).Worker;
  return new WorkerClass(url);
}

/** Batches kept in flight per worker, so a worker never waits for the main thread. */
const DEPTH = 4;
/** Files per message: small enough for smooth progress, large enough to amortise messaging. */
const BATCH = 32;
/**
 * Working alongside the calling thread, workers take smaller batches: the calling thread
 * hands them work only between its slices, and at the end no worker should still hold
 * many files while the calling thread has run out of them.
 */
const ALONGSIDE_BATCH = 8;
/** Calling-thread work yields to the event loop this often (timed with Date.now(): the `performance` global loads perf_hooks). */
const SLICE_MS = 4;

/** Who processes the files of a run. */
export type ImportThreads = 'workers' | 'calling-thread' | 'both';

interface Slot {
  worker: Worker;
  /** The thread has started running JavaScript: work posted now is not just queued behind its start-up. */
  online: boolean;
  inFlight: Map<number, ImportFileTask>;
}

/** Files processed by each kind of thread in one run. */
export interface ImportRunShares {
  callingThread: number;
  workers: number;
}

export class ImportWorkerPool {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly size: number,
    private readonly workerUrl: URL,
  ) {}

  get workers(): number {
    return this.size;
  }

  /** Starts the threads now (e.g. while the sources are still being scanned). */
  warm(): void {
    this.ensureStarted();
  }

  /** Starts the threads if needed and resolves once every one of them is running. */
  async online(): Promise<void> {
    this.ensureStarted();
    await Promise.all(this.slots.filter((s) => !s.online).map((s) => new Promise((resolve) => s.worker.once('online', resolve))));
  }

  private newSlotWorker(slot: Pick<Slot, 'online'>): Worker {
    const worker = startWorker(this.workerUrl);
    slot.online = false;
    worker.once('online', () => {
      slot.online = true;
    });
    return worker;
  }

  /**
   * Replaces the slot's worker when it still holds files of a run that failed: their results
   * must not reach a later run, whose task ids start again at 0, nor stay counted in flight.
   */
  private discardInFlight(slot: Slot): void {
    if (slot.inFlight.size === 0) return;
    const abandoned = slot.worker;
    abandoned.removeAllListeners();
    // Nothing listens to it any more: an error while it stops must not become an uncaught one.
    abandoned.on('error', () => {});
    void abandoned.terminate();
    slot.inFlight.clear();
    slot.worker = this.newSlotWorker(slot);
  }

  private ensureStarted(): void {
    if (this.size === 0 || this.slots.length > 0) return;
    for (let i = 0; i < this.size; i++) {
      const slot = { online: false, inFlight: new Map() } as Omit<Slot, 'worker'> & { worker?: Worker };
      slot.worker = this.newSlotWorker(slot);
      this.slots.push(slot as Slot);
    }
  }

  /**
   * Runs all tasks produced by `next()` (null = nothing more right now / done),
   * calling `onResult` for each in completion order. Resolves when every
   * started task has finished and `next()` returns null with nothing in flight.
   */
  async run(next: () => ImportFileTask | null, onResult: (r: ImportFileResult) => void, threads: ImportThreads = 'workers'): Promise<ImportRunShares> {
    const shares: ImportRunShares = { callingThread: 0, workers: 0 };
    if (this.size === 0 || threads === 'calling-thread') {
      let sliceStart = Date.now();
      for (let task = next(); task; task = next()) {
        onResult(processImportFile(task));
        shares.callingThread++;
        if (Date.now() - sliceStart >= SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          sliceStart = Date.now();
        }
      }
      return shares;
    }
    const alongside = threads === 'both';
    const batchSize = alongside ? ALONGSIDE_BATCH : BATCH;
    this.ensureStarted();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      /** The calling thread's share is done (or it has none). */
      let callingThreadDone = !alongside;
      const listeners: Array<() => void> = [];
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        for (const off of listeners) off();
        if (err) {
          for (const slot of this.slots) this.discardInFlight(slot);
          reject(err);
        } else resolve();
      };
      /** Runs a step of the run; saving a result (or taking the next task) may throw, which ends the run. */
      const guarded = (step: () => void) => {
        if (settled) return;
        try {
          step();
        } catch (err) {
          finish(err as Error);
        }
      };
      const feed = (slot: Slot) => {
        // Working alongside, a thread still starting would only hold work the calling thread could do now.
        if (alongside && !slot.online) return;
        while (slot.inFlight.size < DEPTH * batchSize) {
          const batch: ImportFileTask[] = [];
          while (batch.length < batchSize) {
            const task = next();
            if (!task) break;
            batch.push(task);
          }
          if (batch.length === 0) break;
          for (const task of batch) slot.inFlight.set(task.id, task);
          slot.worker.postMessage(batch);
        }
      };
      const feedAll = () => {
        for (const s of this.slots) feed(s);
      };
      const idle = () => callingThreadDone && this.slots.every((s) => s.inFlight.size === 0);
      for (const slot of this.slots) {
        const onMessage = (results: ImportFileResult[]) =>
          guarded(() => {
            for (const r of results) {
              slot.inFlight.delete(r.id);
              shares.workers++;
              onResult(r);
            }
            // onResult may have queued more work (DICOMDIR references): feed every slot.
            feedAll();
            if (idle()) finish();
          });
        const onOnline = () => guarded(() => feed(slot));
        const onError = (err: Error) =>
          guarded(() => {
            // A worker crash (out of memory on a hostile file) rejects its in-flight files and restarts.
            const lost = [...slot.inFlight.values()];
            slot.inFlight.clear();
            slot.worker.removeAllListeners();
            slot.worker = this.newSlotWorker(slot);
            attach(slot);
            for (const task of lost) {
              onResult({ id: task.id, kind: 'rejected', path: task.path, code: 'WORKER_CRASHED', reason: `reading the file crashed its worker: ${err.message}` });
            }
            feedAll();
            if (idle()) finish();
          });
        const attach = (s: Slot) => {
          s.worker.on('message', onMessage);
          s.worker.on('error', onError);
          // Registered after newSlotWorker's own 'online' listener, which marks the slot online first.
          s.worker.on('online', onOnline);
          listeners.push(() => {
            s.worker.off('message', onMessage);
            s.worker.off('error', onError);
            s.worker.off('online', onOnline);
          });
        };
        attach(slot);
      }
      guarded(feedAll);
      if (alongside) {
        const work = () =>
          guarded(() => {
            const sliceStart = Date.now();
            for (;;) {
              const task = next();
              if (!task) {
                // Work queued later (DICOMDIR references found by a worker) goes to the workers.
                callingThreadDone = true;
                if (idle()) finish();
                return;
              }
              onResult(processImportFile(task));
              shares.callingThread++;
              if (Date.now() - sliceStart >= SLICE_MS) break;
            }
            // Let worker results (and the work they free) through before the next slice.
            feedAll();
            setImmediate(work);
          });
        setImmediate(work);
      } else if (idle()) finish();
    });
    return shares;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
