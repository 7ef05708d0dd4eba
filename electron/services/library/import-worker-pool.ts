/**
 * ImportWorkerPool: runs processImportFile on worker threads so parsing,
 * hashing and copying never block the main event loop. With size 0 the work
 * runs in-process (unit tests and hosts that cannot spawn workers).
 */
import { Worker } from 'node:worker_threads';
import { type ImportFileResult, type ImportFileTask, processImportFile } from './import-file-processor';

/** Batches kept in flight per worker, so a worker never waits for the main thread. */
const DEPTH = 4;
/** Files per message: small enough for smooth progress, large enough to amortise messaging. */
const BATCH = 32;

interface Slot {
  worker: Worker;
  inFlight: Map<number, ImportFileTask>;
}

export class ImportWorkerPool {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly size: number,
    private readonly workerUrl: URL,
  ) {}


  /** Starts the threads now (e.g. while the sources are still being scanned). */
  warm(): void {
    this.ensureStarted();
  }

  private ensureStarted(): void {
    if (this.size === 0 || this.slots.length > 0) return;
    for (let i = 0; i < this.size; i++) this.slots.push({ worker: new Worker(this.workerUrl), inFlight: new Map() });
  }

  /**
   * Runs all tasks produced by `next()` (null = nothing more right now / done),
   * calling `onResult` for each in completion order. Resolves when every
   * started task has finished and `next()` returns null with nothing in flight.
   */
  async run(next: () => ImportFileTask | null, onResult: (r: ImportFileResult) => void): Promise<void> {
    if (this.size === 0) {
      for (let task = next(); task; task = next()) {
        onResult(processImportFile(task));
        // Yield so progress events and cancellation get a turn.
        await new Promise((r) => setImmediate(r));
      }
      return;
    }
    this.ensureStarted();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const listeners: Array<() => void> = [];
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        for (const off of listeners) off();
        if (err) reject(err);
        else resolve();
      };
      const feed = (slot: Slot) => {
        while (slot.inFlight.size < DEPTH * BATCH) {
          const batch: ImportFileTask[] = [];
          while (batch.length < BATCH) {
            const task = next();
            if (!task) break;
            batch.push(task);
          }
          if (batch.length === 0) break;
          for (const task of batch) slot.inFlight.set(task.id, task);
          slot.worker.postMessage(batch);
        }
      };
      const idle = () => this.slots.every((s) => s.inFlight.size === 0);
      for (const slot of this.slots) {
        const onMessage = (results: ImportFileResult[]) => {
          try {
            for (const r of results) {
              slot.inFlight.delete(r.id);
              onResult(r);
            }
          } catch (err) {
            finish(err as Error);
            return;
          }
          // onResult may have queued more work (DICOMDIR references): feed every slot.
          for (const s of this.slots) feed(s);
          if (idle()) finish();
        };
        const onError = (err: Error) => {
          // A worker crash (out of memory on a hostile file) rejects its in-flight files and restarts.
          const lost = [...slot.inFlight.values()];
          slot.inFlight.clear();
          slot.worker.removeAllListeners();
          slot.worker = new Worker(this.workerUrl);
          attach(slot);
          for (const task of lost) {
            onResult({ id: task.id, kind: 'rejected', path: task.path, code: 'WORKER_CRASHED', reason: `reading the file crashed its worker: ${err.message}` });
          }
          for (const s of this.slots) feed(s);
          if (idle()) finish();
        };
        const attach = (s: Slot) => {
          s.worker.on('message', onMessage);
          s.worker.on('error', onError);
          listeners.push(() => {
            s.worker.off('message', onMessage);
            s.worker.off('error', onError);
          });
        };
        attach(slot);
      }
      for (const slot of this.slots) feed(slot);
      if (idle()) finish();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
