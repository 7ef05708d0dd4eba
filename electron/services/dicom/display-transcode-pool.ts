/**
 * Who does the CPU work of display transcoding (display-transcode-runner.ts)
 * for openDisplayBytes:
 *
 *  - DisplayTranscodePool: worker threads, so decoding frames never blocks the
 *    event loop of the process serving them (Electron's main process for
 *    `vigil://`, the bridge). Started on demand, up to `size` threads, each
 *    given one request at a time (the others wait in the pool, in order);
 *    terminated after `idleMs` without work. A thread that dies (out of memory
 *    on a hostile file) or does not answer its request within
 *    `requestTimeoutMs` of being given it fails that request only, with a
 *    DisplayTranscodeError (WORKER_CRASHED / WORKER_TIMEOUT); the requests
 *    waiting go to a fresh thread.
 *  - inThreadTranscoder: the same runner on the calling thread (a one-shot
 *    tool; the reference the pool's bytes are compared with in tests).
 *
 * The worker script is the bundled display-transcode-worker.js (out/main,
 * out/node; the packaged app's copy in app.asar.unpacked): the host passes its
 * URL, as it does for the import and inference workers.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { DisplayTranscodeError, type TranscodePlan } from './display-transcode';
import {
  DisplayTranscodeRunner,
  type PlanSummary,
  type TranscodeEnvelope,
  type TranscodeReplyEnvelope,
  type TranscodeRequest,
  type TranscodeResult,
  type TranscodeSource,
  errorOf,
} from './display-transcode-runner';

export type { TranscodeSource } from './display-transcode-runner';

/** A planned transcoding, on the thread that serves it; its frames are produced by whoever planned it. */
export interface DisplayTranscode extends Omit<TranscodePlan, 'frame'> {
  /** Frame 1, decoded while planning (null when planned without the check). */
  firstFrame: Uint8Array | null;
  /** Served frame `f` (0-based). */
  frame(f: number): Promise<Uint8Array>;
}

export interface DisplayTranscoder {
  /** The transcoding `source` needs for display (its dataset starting at `datasetStart`), or null when none. */
  plan(source: TranscodeSource, datasetStart: number, options: { verifyFirstFrame: boolean }): Promise<DisplayTranscode | null>;
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** A DisplayTranscode whose work is done by `run` (on this thread or in a worker). */
function transcodeOf(summary: PlanSummary, source: TranscodeSource, datasetStart: number, run: (request: TranscodeRequest) => Promise<TranscodeResult>): DisplayTranscode {
  return {
    steps: summary.steps,
    transferSyntaxUid: summary.transferSyntaxUid,
    head: asBuffer(summary.head),
    frames: summary.frames,
    frameBytes: summary.frameBytes,
    pad: summary.pad,
    tail: asBuffer(summary.tail),
    firstFrame: summary.firstFrame,
    frame: async (f) => {
      const result = await run({ op: 'frame', source, datasetStart, frame: f });
      if (!result.ok) throw errorOf(result.error);
      if (!('frame' in result)) throw new DisplayTranscodeError(`frame ${f + 1}: the transcoder answered with a plan`, 'WORKER_CRASHED');
      return result.frame;
    },
  };
}

async function planWith(run: (request: TranscodeRequest) => Promise<TranscodeResult>, source: TranscodeSource, datasetStart: number, verifyFirstFrame: boolean): Promise<DisplayTranscode | null> {
  const result = await run({ op: 'plan', source, datasetStart, verifyFirstFrame });
  if (!result.ok) throw errorOf(result.error);
  if (!('plan' in result)) throw new DisplayTranscodeError('the transcoder answered a plan request with a frame', 'WORKER_CRASHED');
  return result.plan ? transcodeOf(result.plan, source, datasetStart, run) : null;
}

/** Transcodes on the calling thread. */
export function inThreadTranscoder(): DisplayTranscoder {
  const runner = new DisplayTranscodeRunner();
  const run = (request: TranscodeRequest): Promise<TranscodeResult> => runner.run(request);
  return { plan: (source, datasetStart, { verifyFirstFrame }) => planWith(run, source, datasetStart, verifyFirstFrame) };
}


// ---------------------------------------------------------------- the pool

export interface DisplayTranscodePoolOptions {
  /** The worker script: the bundled display-transcode-worker.js (in the app, runtime-paths' workerScriptUrl(paths, 'display-transcode')). */
  workerUrl: URL;
  /** Threads at most (default: 2, fewer on a machine with fewer than 3 cores). */
  size?: number;
  /** Threads are terminated after this long without a request (default 30 s). */
  idleMs?: number;
  /**
   * A request not answered within this long after a thread was given it fails, and
   * its thread is replaced (default 120 s: a 512 MiB frame decodes in seconds).
   * Time spent waiting for a free thread does not count.
   */
  requestTimeoutMs?: number;
  /** Data passed to each worker (a test's fault-injecting wrapper script reads it). */
  workerData?: unknown;
}

/** A request, from when it is made until it is answered or failed. */
interface Job {
  request: TranscodeRequest;
  /** The file a thread that planned it keeps the plan of (null for an in-memory source: no thread keeps its plan). */
  affinity: string | null;
  resolve(result: TranscodeResult): void;
  reject(err: Error): void;
}

/** The job a thread is answering, and the countdown that started when the thread was given it. */
interface Running {
  id: number;
  job: Job;
  timer: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  /** The one request this thread is answering, if any. */
  running: Running | null;
  /** Files this thread planned or produced frames of recently (its runner holds their plans). */
  recent: string[];
  /** The thread has ended (or is being ended): it takes no more requests. */
  gone: boolean;
}

const requireHere = createRequire(import.meta.url);
let WorkerClass: typeof Worker | null = null;

const RECENT_SOURCES = 8;

function affinityOf(request: TranscodeRequest): string | null {
  const s = request.source;
  return s.kind === 'file' ? `${s.path}\0${s.size}\0${s.mtimeMs}` : null;
}

const closedError = (): DisplayTranscodeError => new DisplayTranscodeError('the display transcoder was closed', 'WORKER_CLOSED');

export class DisplayTranscodePool implements DisplayTranscoder {
  readonly workerUrl: URL;
  private readonly slots: Slot[] = [];
  /** Requests no thread has been given yet, oldest first. */
  private readonly waiting: Job[] = [];
  private readonly size: number;
  private readonly idleMs: number;
  private readonly requestTimeoutMs: number;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Threads started so far (tests, diagnostics). */
  started = 0;

  constructor(private readonly options: DisplayTranscodePoolOptions) {
    this.workerUrl = options.workerUrl;
    this.size = Math.max(1, Math.trunc(options.size ?? Math.min(2, Math.max(1, availableParallelism() - 1))));
    this.idleMs = options.idleMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  }

  /** Threads running now. */
  get threads(): number {
    return this.slots.length;
  }

  /** Requests waiting for a free thread. */
  get queued(): number {
    return this.waiting.length;
  }

  plan(source: TranscodeSource, datasetStart: number, { verifyFirstFrame }: { verifyFirstFrame: boolean }): Promise<DisplayTranscode | null> {
    return planWith((request) => this.request(request), source, datasetStart, verifyFirstFrame);
  }

  /** Terminates the threads; requests waiting or in flight fail with WORKER_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdleTimer();
    for (const job of this.waiting.splice(0)) job.reject(closedError());
    await Promise.all([...this.slots].map((slot) => this.end(slot, closedError())));
  }

  private request(request: TranscodeRequest): Promise<TranscodeResult> {
    if (this.closed) return Promise.reject(closedError());
    this.clearIdleTimer();
    return new Promise<TranscodeResult>((resolve, reject) => {
      this.waiting.push({ request, affinity: affinityOf(request), resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Gives waiting requests, oldest first, to threads with nothing in flight (the
   * one holding the file's plan when it is free), starting threads while there is room.
   */
  private dispatch(): void {
    while (!this.closed && this.waiting.length > 0) {
      const job = this.waiting[0]!;
      const { affinity } = job;
      const free = this.slots.filter((s) => s.running === null);
      let slot = (affinity === null ? undefined : free.find((s) => s.recent.includes(affinity))) ?? free[0];
      if (!slot) {
        if (this.slots.length >= this.size) break;
        try {
          slot = this.start();
        } catch (err) {
          this.waiting.shift();
          job.reject(
            err instanceof DisplayTranscodeError ? err : new DisplayTranscodeError(`the display transcode worker could not be started: ${err instanceof Error ? err.message : String(err)}`, 'WORKER_UNAVAILABLE'),
          );
          continue;
        }
      }
      this.waiting.shift();
      this.post(slot, job);
    }
    this.scheduleIdle();
  }

  /** Hands `job` to `slot`'s thread; its countdown starts now. */
  private post(slot: Slot, job: Job): void {
    const id = this.nextId++;
    if (job.affinity !== null) slot.recent = [job.affinity, ...slot.recent.filter((k) => k !== job.affinity)].slice(0, RECENT_SOURCES);
    const timer = setTimeout(() => this.timedOut(slot, id), this.requestTimeoutMs);
    slot.running = { id, job, timer };
    // A thread with work keeps the process alive; an idle one does not.
    slot.worker.ref();
    const envelope: TranscodeEnvelope = { id, request: job.request };
    slot.worker.postMessage(envelope);
  }

  /** The thread has not answered request `id`: it fails (alone: the thread held nothing else) and the thread is replaced. */
  private timedOut(slot: Slot, id: number): void {
    const running = slot.running;
    if (!running || running.id !== id) return;
    slot.running = null;
    const { request } = running.job;
    const seconds = Math.round(this.requestTimeoutMs / 100) / 10;
    running.job.reject(new DisplayTranscodeError(`the display transcode worker did not answer within ${seconds} s (${request.op}${request.op === 'frame' ? ` ${request.frame + 1}` : ''})`, 'WORKER_TIMEOUT'));
    void this.end(slot, new DisplayTranscodeError('the display transcode worker was stopped: it did not answer in time', 'WORKER_CRASHED'));
  }

  private start(): Slot {
    const url = this.options.workerUrl;
    if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) {
      throw new DisplayTranscodeError(`the display transcode worker is missing from this build (${fileURLToPath(url)})`, 'WORKER_UNAVAILABLE');
    }
    WorkerClass ??= (requireHere('node:worker_threads') as typeof import('node:worker_threads')).Worker;
    const worker = new WorkerClass(url, { workerData: this.options.workerData });
    this.started++;
    const slot: Slot = { worker, running: null, recent: [], gone: false };
    worker.on('message', (reply: TranscodeReplyEnvelope) => {
      const running = slot.running;
      if (!running || running.id !== reply.id) return; // timed out already
      slot.running = null;
      clearTimeout(running.timer);
      running.job.resolve(reply.result);
      this.settled(slot);
    });
    worker.on('error', (err: Error) => {
      void this.end(slot, new DisplayTranscodeError(`the display transcode worker crashed: ${err.message}`, 'WORKER_CRASHED'));
    });
    worker.on('exit', (code: number) => {
      void this.end(slot, new DisplayTranscodeError(`the display transcode worker exited (code ${code})`, 'WORKER_CRASHED'));
    });
    this.slots.push(slot);
    return slot;
  }

  /** After a reply: the thread takes the next waiting request; left without one, it no longer keeps the process alive. */
  private settled(slot: Slot): void {
    this.dispatch();
    if (!slot.gone && slot.running === null) slot.worker.unref();
  }

  /** Fails the request `slot` is answering with `reason`, ends its thread and gives the waiting requests to others (idempotent: 'error' is followed by 'exit'). */
  private async end(slot: Slot, reason: DisplayTranscodeError): Promise<void> {
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots.splice(index, 1);
    const wasGone = slot.gone;
    slot.gone = true;
    const running = slot.running;
    slot.running = null;
    if (running) {
      clearTimeout(running.timer);
      running.job.reject(reason);
    }
    this.dispatch();
    if (!wasGone) await slot.worker.terminate();
  }

  private scheduleIdle(): void {
    if (this.closed || this.idleTimer || this.waiting.length > 0 || this.slots.length === 0 || this.slots.some((s) => s.running !== null)) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.waiting.length > 0 || this.slots.some((s) => s.running !== null)) return;
      for (const slot of [...this.slots]) void this.end(slot, new DisplayTranscodeError('the display transcode worker was stopped while idle', 'WORKER_CLOSED'));
      this.clearIdleTimer(); // ending the last threads scheduled another countdown
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
