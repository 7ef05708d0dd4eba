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
function startWorker(url: URL, cells: SharedArrayBuffer): Worker {
  WorkerClass ??= (requireBuiltin('node:worker_threads') as typeof import('node:worker_threads')).Worker;
  return new WorkerClass(url, { workerData: cells });
}

/**
 * The Int32 cells an import worker shares with the pool (its workerData, a SharedArrayBuffer of WORKER_CELLS cells).
 * STOP_CELL: non-zero, the worker skips the files of its batches it has not started. CURRENT_CELL: the id + 1 of the
 * file the worker is processing, 0 between files: when the worker dies, that file is the one that killed it.
 */
export const STOP_CELL = 0;
export const CURRENT_CELL = 1;
export const WORKER_CELLS = 2;

/**
 * A worker's handling of one batch: each file is processed unless the stop flag is set, with the file recorded in
 * CURRENT_CELL while it is (task ids are an import's file count, far below 2^31).
 */
export function processBatch(batch: readonly ImportFileTask[], cells: Int32Array, placed: (copy: PlacedCopy) => void, processFile = processImportFile): ImportWorkerReply {
  const reply: ImportWorkerReply = { results: [], skipped: [] };
  for (const task of batch) {
    if (Atomics.load(cells, STOP_CELL) !== 0) {
      reply.skipped.push(task.id);
      continue;
    }
    Atomics.store(cells, CURRENT_CELL, task.id + 1);
    reply.results.push(processFile(task, placed));
    Atomics.store(cells, CURRENT_CELL, 0);
  }
  return reply;
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
/**
 * Deaths in a row, in one slot, of workers never seen working (see Slot.startDeaths) after which a run stops replacing
 * that slot's worker: a worker that cannot start must not be restarted for ever, nor keep the files waiting for it.
 */
const START_UP_DEATHS = 3;

/** Who processes the files of a run. */
export type ImportThreads = 'workers' | 'calling-thread' | 'both';

interface Slot {
  worker: Worker;
  /** Shared with this worker only (a replaced worker keeps its own): STOP_CELL and CURRENT_CELL. */
  cells: Int32Array;
  /** The thread has started running JavaScript: work posted now is not just queued behind its start-up. */
  online: boolean;
  /** Why the worker is dying (its 'error'; its 'exit' follows): nothing more is posted to it. */
  crash: Error | null;
  /**
   * It is dead and was not replaced: it died while no run was in progress, or a run gave the slot up (START_UP_DEATHS).
   * The next run (or warm, or online) starts another in its place.
   */
  exited: boolean;
  /** Nothing has been posted to this worker yet. */
  fresh: boolean;
  /** A message (a reply, or a copy it placed) has come from this worker: it has started working. */
  heard: boolean;
  /** Results that came from this worker: a file it died on may have been broken by one of the files it read before. */
  answered: number;
  /**
   * Workers of this slot in a row that died never seen working: before 'online', or with nothing heard from them and
   * no file recorded. Kept across restarts; a message from the slot's worker resets it.
   */
  startDeaths: number;
  inFlight: Map<number, ImportFileTask>;
  /** Copies this worker created for files of `inFlight` whose results have not come yet, by task id. */
  placed: Map<number, PlacedCopy>;
}

/** What the run in progress does with its workers' events (every worker's listeners live as long as it does). */
interface RunHooks {
  message(slot: Slot, message: ImportWorkerMessage): void;
  online(slot: Slot): void;
  /** The slot's worker is dead; `current` is the id of the file it was processing, or null (between files). */
  exit(slot: Slot, why: string, current: number | null): void;
  /** The pool is closing: the run ends now, whatever its workers still hold. */
  close(): void;
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
   * A managed copy a worker created for a file whose result will never come from it: the worker died (the file it
   * died on comes back WORKER_CRASHED, the others it held are retried), or was ended while stuck on a later file of its batch (the pool closed, or a failed run's wait
   * ran out). There is no metadata to index it with: the caller removes it unless something references its content.
   * A copy is reported just before its rename (see PlacedCopy), so one handed over may never have been placed; only one
   * that replaced a damaged stored file, reported after its rename, stays unknown should its worker die in between.
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

/**
 * Every worker of a workers-only run died before it could work (START_UP_DEATHS in a row each): the files no worker
 * read were left unread, the run ends with this one error rather than a rejection per file.
 */
export class ImportWorkersUnavailableError extends Error {
  constructor(readonly why: string) {
    super(`the import worker threads could not start: ${why}`);
    this.name = 'ImportWorkersUnavailableError';
  }
}

export class ImportWorkerPool {
  private readonly slots: Slot[] = [];
  /** The run in progress, which every worker's events go to; null between runs. */
  private active: RunHooks | null = null;

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

  /** Starts the threads if needed and resolves once every one of them is running (or has died trying). */
  async online(): Promise<void> {
    this.ensureStarted();
    await Promise.all(
      this.slots
        .filter((s) => !s.online)
        .map(
          (s) =>
            new Promise((resolve) => {
              s.worker.once('online', resolve);
              s.worker.once('exit', resolve);
            }),
        ),
    );
  }

  private freshWorker(): Pick<Slot, 'worker' | 'cells' | 'online' | 'crash' | 'exited' | 'fresh' | 'heard' | 'answered'> {
    const cells = new SharedArrayBuffer(WORKER_CELLS * Int32Array.BYTES_PER_ELEMENT);
    return { worker: startWorker(this.workerUrl, cells), cells: new Int32Array(cells), online: false, crash: null, exited: false, fresh: true, heard: false, answered: 0 };
  }

  /**
   * Listens to the slot's worker for its whole life, between runs too: a worker dying while idle must not raise an
   * uncaught 'error' in this process, nor stay in the slot for the next run to wait on. Events of a worker the slot no
   * longer holds (replaced, or ended by close) are ignored.
   */
  private listen(slot: Slot): void {
    const worker = slot.worker;
    const mine = () => slot.worker === worker;
    worker.on('online', () => {
      if (!mine()) return;
      slot.online = true;
      this.active?.online(slot);
    });
    worker.on('message', (message: ImportWorkerMessage) => {
      if (!mine()) return;
      slot.heard = true;
      slot.startDeaths = 0;
      if (!('placed' in message)) slot.answered += message.results.length;
      this.active?.message(slot, message);
    });
    worker.on('error', (err: Error) => {
      if (mine()) slot.crash ??= err;
    });
    worker.on('exit', (code: number) => {
      if (!mine()) return;
      // Read once the thread is gone: the file it died on, if it died on one.
      const current = Atomics.load(slot.cells, CURRENT_CELL) - 1;
      const why = slot.crash?.message ?? `its thread exited (code ${code})`;
      if (this.active) this.active.exit(slot, why, current >= 0 ? current : null);
      else slot.exited = true;
    });
  }

  private newSlot(): Slot {
    const slot: Slot = { ...this.freshWorker(), startDeaths: 0, inFlight: new Map(), placed: new Map() };
    this.listen(slot);
    return slot;
  }

  /** Gives the slot a new worker; the old one's events are ignored from now on. */
  private restart(slot: Slot): void {
    Object.assign(slot, this.freshWorker());
    this.listen(slot);
  }

  /**
   * Replaces the slot's worker when it still holds files of a failed run past the wait for them:
   * their results must not reach a later run, whose task ids start again at 0, nor stay counted in flight.
   */
  private discardInFlight(slot: Slot, orphaned: (copy: PlacedCopy) => void): void {
    if (slot.inFlight.size === 0) return;
    const abandoned = slot.worker;
    slot.inFlight.clear();
    handOverPlaced(slot, orphaned);
    this.restart(slot);
    void abandoned.terminate();
  }

  private ensureStarted(): void {
    if (this.size === 0) return;
    if (this.slots.length === 0) {
      for (let i = 0; i < this.size; i++) this.slots.push(this.newSlot());
      return;
    }
    // A worker that died between runs is replaced now, not when it died: one that dies on start-up does not loop.
    // A slot a run gave up on gets its START_UP_DEATHS tries again (what stopped it starting may have passed).
    for (const slot of this.slots) {
      if (!slot.exited) continue;
      slot.startDeaths = 0;
      this.restart(slot);
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
   *
   * A worker that dies (out of memory on a hostile file) is replaced. The file it recorded as the one it was on comes
   * back WORKER_CRASHED, unless that worker had read another file before it (which may have left it broken): then it
   * is first retried alone on a fresh worker. The files it read before that one go to the workers again, and alone
   * should they be read at a second crash; those it had not started go to the workers again. With no file recorded,
   * every file it held is retried alone. A file retried alone comes back WORKER_CRASHED should its worker die. After
   * START_UP_DEATHS workers in a row of a slot die never seen working, the run gives that slot up; once it has given
   * every slot up, the files a dead worker read come back WORKER_CRASHED, and the others are read by the calling
   * thread alongside ('both'), or the run rejects with ImportWorkersUnavailableError ('workers').
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
    for (const slot of this.slots) {
      // No worker holds a task of an earlier run (a run ends only once its workers are idle or replaced).
      Atomics.store(slot.cells, STOP_CELL, 0);
      // Each run gives a slot its START_UP_DEATHS tries: deaths of an earlier run that stopped or failed before the
      // slot was given up must not make this one give up earlier.
      slot.startDeaths = 0;
    }
    try {
      await this.runOnWorkers(next, onResult, alongside, batchSize, shares, control);
    } finally {
      // Also when the run could not start: no later event goes to it.
      this.active = null;
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
      /** Files a dead worker held that are not suspects: handed out again before new ones. */
      const requeued: ImportFileTask[] = [];
      /** Files no worker has read, left to the calling thread once every slot is given up (see noWorkerLeft). */
      const unreadByWorkers: ImportFileTask[] = [];
      /**
       * Ids of the files a dead worker had read before the file it died on (their results come with the batch's reply):
       * one may have left it broken, so that a later file took the blame. Read at a second crash, a file is a suspect.
       */
      const readAtCrash = new Set<number>();
      /**
       * Ids of the suspects: files that may be what killed a worker. Each is retried alone on a fresh worker; should
       * that worker die, the file is rejected (it killed a worker that had read nothing else), never retried for ever.
       * A worker's files become suspects when it dies without a file recorded as the one it was on (it died between
       * files, or is not one that records them); the file it died on, when it had read another file before it; and
       * a file read by two workers before the file each died on.
       */
      const alone = new Set<number>();
      /** Suspects waiting for their retry. */
      const suspects: ImportFileTask[] = [];
      let removeAbortListener = () => {};
      // A slot whose worker is dying (its 'error' seen, its 'exit' not yet) is not idle: a run started in between would
      // otherwise end at once, taking no file, and its exit would restart the slot and feed this run.
      const idle = () => callingThreadDone && requeued.length === 0 && suspects.length === 0 && this.slots.every((s) => s.inFlight.size === 0 && (s.crash === null || s.exited));
      const settle = () => {
        settled = true;
        if (this.active === hooks) this.active = null;
        removeAbortListener();
        if (drainTimer) clearTimeout(drainTimer);
      };
      const settleIfIdle = () => {
        if (settled || feeding || !idle()) return;
        settle();
        if (failure) reject(failure);
        else resolve();
      };
      const stop = () => {
        if (stopping) return;
        stopping = true;
        // Not started by any worker now alive: skipped, as the files the workers hold are.
        requeued.length = 0;
        suspects.length = 0;
        unreadByWorkers.length = 0;
        for (const slot of this.slots) Atomics.store(slot.cells, STOP_CELL, 1);
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
      const post = (slot: Slot, batch: ImportFileTask[]) => {
        for (const task of batch) slot.inFlight.set(task.id, task);
        slot.fresh = false;
        slot.worker.postMessage(batch);
      };
      const feed = (slot: Slot) => {
        // A dying worker would take files to its grave; its replacement gets them. A slot given up takes nothing.
        if (slot.crash || slot.exited) return;
        if (suspects.length > 0 || (alone.size > 0 && [...slot.inFlight.keys()].some((id) => alone.has(id)))) {
          // No worker takes new files until the suspects are through, and each goes alone to a worker that has had
          // nothing else: should that worker die, the suspect is what killed it (one ending after its last reply, or
          // fed just before it died, is given no suspect).
          if (slot.inFlight.size > 0 || suspects.length === 0) return;
          if (!slot.fresh) {
            const used = slot.worker;
            this.restart(slot);
            void used.terminate();
          }
          if (alongside && !slot.online) return;
          const suspect = suspects.shift();
          if (suspect) post(slot, [suspect]);
          return;
        }
        // Working alongside, a thread still starting would only hold work the calling thread could do now.
        if (alongside && !slot.online) return;
        feeding = true;
        try {
          while (slot.inFlight.size < DEPTH * batchSize) {
            const batch: ImportFileTask[] = [];
            while (batch.length < batchSize) {
              const task = requeued.shift() ?? take();
              if (!task) break;
              batch.push(task);
            }
            if (batch.length === 0) break;
            post(slot, batch);
          }
        } finally {
          feeding = false;
        }
      };
      const feedAll = () => {
        for (const s of this.slots) feed(s);
      };
      const crashed = (task: ImportFileTask, reason: string): ImportFileResult => ({ id: task.id, kind: 'rejected', path: task.path, code: 'WORKER_CRASHED', reason });
      /** The calling thread's share: slices of files from `next`, between event-loop turns, until it has none. */
      const work = () => {
        if (settled) return;
        const sliceStart = Date.now();
        for (;;) {
          // Never a file a dead worker read: should it be what killed the worker, it would kill this thread.
          const task = unreadByWorkers.shift() ?? take();
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
      /**
       * Every slot is given up: no worker will take the files waiting for one. Those a dead worker read (suspects, and
       * files read before the one it died on) may be what killed it, and no worker is left to try them alone: rejected.
       * Alongside (the CLI) the calling thread reads the others. A workers-only run fails instead, with one error: that
       * is the window host's choice, so that its main process stays responsive and a file that exhausts memory ends a
       * worker, not the app with its open studies. Reading there would trade both away unseen, and a rejection per file
       * would hide a broken install behind per-file reasons.
       */
      const noWorkerLeft = (why: string) => {
        const waiting = [...requeued.splice(0), ...suspects.splice(0)];
        const readByAWorker = (task: ImportFileTask) => alone.has(task.id) || readAtCrash.has(task.id);
        for (const task of waiting.filter(readByAWorker)) deliver(crashed(task, `its worker died and no import worker could start to read it again: ${why}`));
        if (stopping) return;
        if (!alongside) {
          fail(new ImportWorkersUnavailableError(why));
          return;
        }
        unreadByWorkers.push(...waiting.filter((task) => !readByAWorker(task)));
        // Files queued after the calling thread had finished (e.g. a DICOMDIR's references) are left to it too.
        if (callingThreadDone) {
          callingThreadDone = false;
          setImmediate(work);
        }
      };
      const hooks: RunHooks = {
        message: (slot, message) => {
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
        },
        online: (slot) => {
          feed(slot);
          settleIfIdle();
        },
        exit: (slot, why, current) => {
          // Handled on 'exit', not 'error': by then every message the worker posted has been delivered (the error of
          // an uncaught exception comes on another channel and may overtake them), so `placed` holds every copy it
          // reported and `inFlight` only the files it has no result for, in the order it was given them (and read them).
          const held = [...slot.inFlight.values()];
          slot.inFlight.clear();
          // Copies of files whose results never came: in no row, and no result will name them (a retried file that
          // finds its copy stored names it, and the cleanup keeps what a row references).
          handOverPlaced(slot, orphaned);
          const { online, heard, answered } = slot;
          const at = current === null ? -1 : held.findIndex((t) => t.id === current);
          slot.startDeaths = !online || (!heard && at < 0) ? slot.startDeaths + 1 : 0;
          const givenUp = slot.startDeaths >= START_UP_DEATHS;
          // Not replaced now: the run hands its files to the other slots, or rejects them once none is left.
          if (givenUp) slot.exited = true;
          else this.restart(slot);
          const lost: ImportFileResult[] = [];
          const retry: ImportFileTask[] = [];
          const suspect = (task: ImportFileTask) => {
            alone.add(task.id);
            suspects.push(task);
          };
          if (!online || (!heard && at < 0)) {
            // It never ran, or never got to a file: Node reports 'online' before the worker's module is evaluated, and the
            // worker names each file before it touches it, so a death with nothing heard and no file named is a start-up
            // death (a module that fails to load, no memory for a thread). It read none of them; a suspect it held still
            // waits for a worker of its own.
            for (const task of held) (alone.has(task.id) ? suspects : retry).push(task);
          } else if (at < 0) {
            for (const task of held) {
              if (alone.has(task.id)) lost.push(crashed(task, `its worker died again while holding it, so reading the file may be what kills it: ${why}`));
              else suspect(task);
            }
          } else {
            const culprit = held[at]!;
            // Given alone to a fresh worker, or the first file a worker read: nothing else can have broken that worker.
            if (alone.has(culprit.id) || (at === 0 && answered === 0) || stopping) lost.push(crashed(culprit, `reading the file crashed its worker: ${why}`));
            else suspect(culprit);
            for (const task of held.slice(0, at)) {
              if (readAtCrash.has(task.id)) suspect(task);
              else {
                readAtCrash.add(task.id);
                retry.push(task);
              }
            }
            // Not started by the dead worker: nothing to hold against them.
            retry.push(...held.slice(at + 1));
          }
          // Skipped, as the dead worker's stop flag had it do, when the run is stopping.
          if (stopping) suspects.length = 0;
          else requeued.unshift(...retry);
          for (const r of lost) deliver(r);
          if (givenUp && this.slots.every((s) => s.exited)) noWorkerLeft(why);
          feedAll();
          settleIfIdle();
        },
        // Nothing else ends a run waiting on a worker the pool terminates.
        close: () => {
          if (settled) return;
          settle();
          for (const slot of this.slots) {
            slot.inFlight.clear();
            handOverPlaced(slot, orphaned);
          }
          reject(failure ?? new ImportPoolClosedError());
        },
      };
      this.active = hooks;
      if (signal) {
        const onAbort = () => {
          stop();
          settleIfIdle();
        };
        if (signal.aborted) stop();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          removeAbortListener = () => signal.removeEventListener('abort', onAbort);
        }
      }
      feedAll();
      if (alongside) setImmediate(work);
      else settleIfIdle();
    });
  }

  async close(): Promise<void> {
    this.active?.close();
    const workers = this.slots.map((s) => s.worker);
    this.slots.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Hands a slot's reported-but-unresulted copies to the cleanup, once each. */
function handOverPlaced(slot: Slot, orphaned: (copy: PlacedCopy) => void): void {
  const copies = [...slot.placed.values()];
  slot.placed.clear();
  for (const copy of copies) orphaned(copy);
}
