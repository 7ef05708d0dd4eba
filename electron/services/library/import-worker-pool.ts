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
import { type ImportFileResult, type ImportFileTask, type PlacedCopy, processImportFile } from './import-file-processor';

/**
 * node:worker_threads takes milliseconds to load: an import done on the calling thread
 * (a one-shot CLI import of a few hundred files) never loads it.
 */
const requireBuiltin = createRequire(import.meta.url);
let WorkerClass: typeof Worker | null = null;
function startWorker(url: URL, stop: SharedArrayBuffer): Worker {
  WorkerClass ??= (requireBuiltin('node:worker_threads') as typeof import('node:worker_threads')).Worker;
  return new WorkerClass(url, { workerData: stop });
}

/**
 * What an import worker answers for each batch posted to it: the results of the files it
 * processed, and the ids of those it skipped because its stop flag was set.
 */
export interface ImportWorkerReply {
  results: ImportFileResult[];
  skipped: number[];
}

/** What an import worker posts: a batch's reply, or a managed copy one of its files created (before that file's result). */
export type ImportWorkerMessage = ImportWorkerReply | { placed: PlacedCopy };

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
/** How long a failed run waits for the files its workers had started before it replaces those workers. */
const FAILED_RUN_DRAIN_MS = 30_000;

/** Who processes the files of a run. */
export type ImportThreads = 'workers' | 'calling-thread' | 'both';

interface Slot {
  worker: Worker;
  /**
   * Shared with this worker only (a replaced worker keeps its own, set): non-zero, the worker
   * skips the files of its batches it has not started.
   */
  stop: Int32Array;
  /** The thread has started running JavaScript: work posted now is not just queued behind its start-up. */
  online: boolean;
  inFlight: Map<number, ImportFileTask>;
  /** Copies this worker created for files of `inFlight` whose results have not come yet, by task id. */
  placed: Map<number, PlacedCopy>;
}

/** How a run is stopped early, and where the results of a failed run go. */
export interface ImportRunControl {
  /** Aborted: no further task is taken, files not started are skipped; the results of started ones still reach onResult. */
  signal?: AbortSignal;
  /**
   * Once onResult has thrown, the results still to come (files the workers had started, whose managed
   * copies may already be placed) are handed here instead, for the caller to clean up.
   */
  onUnapplied?: (r: ImportFileResult) => void;
  /**
   * A managed copy a worker created for a file whose result will never come: the worker died (its files come back
   * WORKER_CRASHED), or was ended while stuck on a later file of its batch (the pool closed, or a failed run's wait
   * ran out). There is no metadata to index it with: the caller removes it unless something references its content.
   * A copy placed in the instant between its rename and its report stays unknown.
   */
  onOrphanedCopy?: (copy: PlacedCopy) => void;
}

/** Files processed by each kind of thread in one run. */
export interface ImportRunShares {
  callingThread: number;
  workers: number;
}

/**
 * The pool was closed while a run still waited for files its workers had started (one stuck on a hung read):
 * their results will never come, and the copies they may have placed have no result to index or remove them.
 */
export class ImportPoolClosedError extends Error {
  constructor() {
    super('the import workers were closed before they finished the files they had started');
    this.name = 'ImportPoolClosedError';
  }
}

export class ImportWorkerPool {
  private readonly slots: Slot[] = [];
  /** Ends the run in progress when the pool closes (set while a run waits on its workers). */
  private endRunOnClose: (() => void) | null = null;

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

  private newSlotWorker(slot: Pick<Slot, 'online' | 'stop'>): Worker {
    const stop = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const worker = startWorker(this.workerUrl, stop);
    slot.stop = new Int32Array(stop);
    slot.online = false;
    worker.once('online', () => {
      slot.online = true;
    });
    return worker;
  }

  /**
   * Replaces the slot's worker when it still holds files of a failed run past the wait for them:
   * their results must not reach a later run, whose task ids start again at 0, nor stay counted in flight.
   */
  private discardInFlight(slot: Slot, orphaned: (copy: PlacedCopy) => void): void {
    if (slot.inFlight.size === 0) return;
    const abandoned = slot.worker;
    abandoned.removeAllListeners();
    // Nothing listens to it any more: an error while it stops must not become an uncaught one.
    abandoned.on('error', () => {});
    void abandoned.terminate();
    slot.inFlight.clear();
    handOverPlaced(slot, orphaned);
    slot.worker = this.newSlotWorker(slot);
  }

  private ensureStarted(): void {
    if (this.size === 0 || this.slots.length > 0) return;
    for (let i = 0; i < this.size; i++) {
      const slot = { online: false, stop: new Int32Array(1), inFlight: new Map(), placed: new Map() } as Omit<Slot, 'worker'> & { worker?: Worker };
      slot.worker = this.newSlotWorker(slot);
      this.slots.push(slot as Slot);
    }
  }

  /**
   * Runs all tasks produced by `next()` (null = nothing more right now / done),
   * calling `onResult` for each in completion order. Resolves when every
   * started task has finished and `next()` returns null with nothing in flight.
   *
   * Stopping (the signal aborts, or `onResult` throws) takes no further task and has the
   * workers skip the files they have not started; the run still waits for the files they
   * have started, since each may already have placed a managed copy. After an abort their
   * results reach `onResult` and the run resolves; after `onResult` threw they reach
   * `control.onUnapplied` instead and the run rejects with that error. Closing the pool ends a run still
   * waiting for its workers: it rejects with ImportPoolClosedError (or the error it was failing with).
   */
  async run(next: () => ImportFileTask | null, onResult: (r: ImportFileResult) => void, threads: ImportThreads = 'workers', control: ImportRunControl = {}): Promise<ImportRunShares> {
    const { signal } = control;
    const shares: ImportRunShares = { callingThread: 0, workers: 0 };
    if (this.size === 0 || threads === 'calling-thread') {
      let sliceStart = Date.now();
      for (let task = signal?.aborted ? null : next(); task; task = signal?.aborted ? null : next()) {
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
    // No worker holds a task of an earlier run (a run ends only once its workers are idle or replaced).
    for (const slot of this.slots) Atomics.store(slot.stop, 0, 0);
    try {
      await this.runOnWorkers(next, onResult, alongside, batchSize, shares, control);
    } finally {
      this.endRunOnClose = null;
    }
    return shares;
  }

  private runOnWorkers(
    next: () => ImportFileTask | null,
    onResult: (r: ImportFileResult) => void,
    alongside: boolean,
    batchSize: number,
    shares: ImportRunShares,
    control: ImportRunControl,
  ): Promise<void> {
    const { signal, onUnapplied, onOrphanedCopy } = control;
    const orphaned = (copy: PlacedCopy) => {
      try {
        onOrphanedCopy?.(copy);
      } catch {
        // The caller's cleanup failed: the copy stays (disk space, never an instance lost).
      }
    };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      /** Why the run is failing: `onResult` (or `next`) threw. */
      let failure: Error | null = null;
      let stopping = false;
      /**
       * A batch is being filled: a stop while `next` runs (it aborts, or throws) must not settle the run before
       * that batch is posted and counted in flight. Every caller of feed calls settleIfIdle after it.
       */
      let feeding = false;
      let drainTimer: NodeJS.Timeout | null = null;
      /** The calling thread's share is done (or it has none). */
      let callingThreadDone = !alongside;
      const listeners: Array<() => void> = [];
      const idle = () => callingThreadDone && this.slots.every((s) => s.inFlight.size === 0);
      const settle = () => {
        settled = true;
        for (const off of listeners) off();
        if (drainTimer) clearTimeout(drainTimer);
      };
      const settleIfIdle = () => {
        if (settled || feeding || !idle()) return;
        settle();
        if (failure) reject(failure);
        else resolve();
      };
      // Nothing listens for a terminated worker's exit: without this, a run waiting on one would never settle.
      this.endRunOnClose = () => {
        if (settled) return;
        settle();
        for (const slot of this.slots) {
          slot.inFlight.clear();
          handOverPlaced(slot, orphaned);
        }
        reject(failure ?? new ImportPoolClosedError());
      };
      const stop = () => {
        if (stopping) return;
        stopping = true;
        for (const slot of this.slots) Atomics.store(slot.stop, 0, 1);
      };
      const fail = (err: Error) => {
        if (failure) return;
        failure = err;
        callingThreadDone = true;
        stop();
        // A worker stuck on one file (a hung network read) must not hang the failed import: past the bound it is
        // replaced, and a copy it places after that has no result to clean it up (the price of not hanging).
        drainTimer = setTimeout(() => {
          for (const slot of this.slots) this.discardInFlight(slot, orphaned);
          settleIfIdle();
        }, FAILED_RUN_DRAIN_MS);
        settleIfIdle();
      };
      /** Hands over a result: to `onResult` while the run is sound, else to the failed run's cleanup. */
      const deliver = (r: ImportFileResult) => {
        if (failure) {
          try {
            onUnapplied?.(r);
          } catch {
            // The run is failing already; its own error is the one reported.
          }
          return;
        }
        try {
          onResult(r);
        } catch (err) {
          fail(err as Error);
        }
      };
      /** Takes the next task unless the run is stopping; `next` may throw, which fails the run. */
      const take = (): ImportFileTask | null => {
        if (stopping) return null;
        try {
          return next();
        } catch (err) {
          fail(err as Error);
          return null;
        }
      };
      const feed = (slot: Slot) => {
        // Working alongside, a thread still starting would only hold work the calling thread could do now.
        if (alongside && !slot.online) return;
        feeding = true;
        try {
          while (slot.inFlight.size < DEPTH * batchSize) {
            const batch: ImportFileTask[] = [];
            while (batch.length < batchSize) {
              const task = take();
              if (!task) break;
              batch.push(task);
            }
            if (batch.length === 0) break;
            for (const task of batch) slot.inFlight.set(task.id, task);
            slot.worker.postMessage(batch);
          }
        } finally {
          feeding = false;
        }
      };
      const feedAll = () => {
        for (const s of this.slots) feed(s);
      };
      if (signal) {
        const onAbort = () => {
          stop();
          settleIfIdle();
        };
        if (signal.aborted) stop();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          listeners.push(() => signal.removeEventListener('abort', onAbort));
        }
      }
      for (const slot of this.slots) {
        const onMessage = (message: ImportWorkerMessage) => {
          if ('placed' in message) {
            slot.placed.set(message.placed.id, message.placed);
            return;
          }
          const reply = message;
          for (const id of reply.skipped) slot.inFlight.delete(id);
          for (const r of reply.results) {
            slot.inFlight.delete(r.id);
            // Its result names the copy now.
            slot.placed.delete(r.id);
            shares.workers++;
            deliver(r);
          }
          // onResult may have queued more work (DICOMDIR references): feed every slot.
          feedAll();
          settleIfIdle();
        };
        const onOnline = () => {
          feed(slot);
          settleIfIdle();
        };
        /** Why the slot's worker is dying; its 'exit' follows. */
        let crash: Error | null = null;
        const onError = (err: Error) => {
          crash = err;
        };
        const onExit = (code: number) => {
          // A worker crash (out of memory on a hostile file) rejects its in-flight files and restarts. Handled on
          // 'exit', not 'error': by then every message it posted has been delivered (the error of an uncaught
          // exception comes on another channel and may overtake them), so `placed` holds every copy it reported.
          const why = crash?.message ?? `its thread exited (code ${code})`;
          crash = null;
          const lost = [...slot.inFlight.values()];
          slot.inFlight.clear();
          // Copies of files whose results never came: in no row, and no result will name them.
          handOverPlaced(slot, orphaned);
          slot.worker.removeAllListeners();
          slot.worker = this.newSlotWorker(slot);
          attach(slot);
          for (const task of lost) {
            deliver({ id: task.id, kind: 'rejected', path: task.path, code: 'WORKER_CRASHED', reason: `reading the file crashed its worker: ${why}` });
          }
          feedAll();
          settleIfIdle();
        };
        const attach = (s: Slot) => {
          s.worker.on('message', onMessage);
          s.worker.on('error', onError);
          s.worker.on('exit', onExit);
          // Registered after newSlotWorker's own 'online' listener, which marks the slot online first.
          s.worker.on('online', onOnline);
          listeners.push(() => {
            s.worker.off('message', onMessage);
            s.worker.off('error', onError);
            s.worker.off('exit', onExit);
            s.worker.off('online', onOnline);
          });
        };
        attach(slot);
      }
      feedAll();
      if (alongside) {
        const work = () => {
          if (settled) return;
          const sliceStart = Date.now();
          for (;;) {
            const task = take();
            if (!task) {
              // Work queued later (DICOMDIR references found by a worker) goes to the workers.
              callingThreadDone = true;
              settleIfIdle();
              return;
            }
            deliver(processImportFile(task));
            shares.callingThread++;
            if (Date.now() - sliceStart >= SLICE_MS) break;
          }
          // Let worker results (and the work they free) through before the next slice.
          feedAll();
          setImmediate(work);
        };
        setImmediate(work);
      } else settleIfIdle();
    });
  }

  async close(): Promise<void> {
    this.endRunOnClose?.();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

/** Hands a slot's reported-but-unresulted copies to the cleanup, once each. */
function handOverPlaced(slot: Slot, orphaned: (copy: PlacedCopy) => void): void {
  const copies = [...slot.placed.values()];
  slot.placed.clear();
  for (const copy of copies) orphaned(copy);
}
