/**
 * Worker-thread entry: runs analysis jobs posted by InferenceRunner, one at a time.
 * The same bundle, started with workerData.role "split-helper", is the second thread
 * each inference worker keeps beside itself: it runs half of the volume loops of a job
 * (grid-geometry SplitTask) while the worker runs the other half, on the core ONNX
 * Runtime leaves idle outside session.run.
 */
import { availableParallelism } from 'node:os';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { runSplitTask, type SecondThread, type SplitTask } from './grid-geometry';
import { type InferenceJob, runInferenceJob } from './inference-job';
import { RunCancelledError, SharedCancelFlag } from './run-cancel';
import { type ProviderName, SessionManager } from './session-manager';

export type WorkerRequest =
  /** `cancel`: the job's SharedCancelFlag cell, raised by InferenceRunner.cancel. */
  | { type: 'run'; job: InferenceJob; cancel: Int32Array }
  /** The package in `dir` changed on disk: its cached sessions are stale. */
  | { type: 'evict'; dir: string };
export type WorkerReply =
  | { type: 'progress'; jobId: string; phase: string }
  | { type: 'result'; jobId: string; result: import('./inference-job').InferenceJobResult }
  | { type: 'error'; jobId: string; message: string }
  /** The job stopped at its cancel flag: the worker is idle again. */
  | { type: 'cancelled'; jobId: string };

/** A loop task for the split helper, with the shared cells it answers in. */
interface SplitRequest {
  task: SplitTask;
  /** [0]: PENDING until the task ends, then DONE or FAILED. */
  signal: Int32Array;
  /** The task's answer ([lo, hi] for minMax). */
  answer: Float64Array;
}

const PENDING = 0;
const DONE = 1;
const FAILED = 2;
/** A task takes well under a second; a helper silent this long is taken as dead. */
const JOIN_TIMEOUT_MS = 60_000;

/**
 * The split helper seen from the inference worker. `join` blocks this thread on an atomic
 * (the job's loops are synchronous), so a helper that died cannot report an 'error' event
 * meanwhile: the wait is bounded, and a helper that failed once is not used again.
 */
class SplitHelper implements SecondThread {
  private readonly worker: Worker;
  private readonly signal = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  private readonly answer = new Float64Array(new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT));
  private readonly scratch = new Map<number, SharedArrayBuffer>();
  private failed = false;

  constructor(url: URL) {
    this.worker = new Worker(url, { workerData: { role: 'split-helper' } });
    this.worker.on('error', () => this.fail());
    this.worker.on('exit', () => this.fail());
  }

  get usable(): boolean {
    return !this.failed;
  }

  start(task: SplitTask): void {
    Atomics.store(this.signal, 0, PENDING);
    this.worker.postMessage({ task, signal: this.signal, answer: this.answer } satisfies SplitRequest);
  }

  join(): [number, number] {
    const deadline = performance.now() + JOIN_TIMEOUT_MS;
    while (Atomics.load(this.signal, 0) === PENDING) {
      if (performance.now() > deadline) {
        this.fail();
        throw new Error('the split helper thread did not answer');
      }
      Atomics.wait(this.signal, 0, PENDING, 1000);
    }
    if (Atomics.load(this.signal, 0) === FAILED) {
      this.fail();
      throw new Error('the split helper thread failed a task');
    }
    return [this.answer[0]!, this.answer[1]!];
  }

  sharedScratch(bytes: number): SharedArrayBuffer {
    let buffer = this.scratch.get(bytes);
    if (!buffer) {
      // One size kept (a series' part), not one per size ever seen.
      this.scratch.clear();
      buffer = new SharedArrayBuffer(bytes);
      this.scratch.set(bytes, buffer);
    }
    return buffer;
  }

  private fail(): void {
    if (this.failed) return;
    this.failed = true;
    this.scratch.clear();
    void this.worker.terminate();
  }
}

if (!parentPort) throw new Error('inference-worker must run in a worker thread');
const port = parentPort;
const options = (workerData ?? {}) as { role?: 'split-helper'; threads?: number; providers?: ProviderName[] };

if (options.role === 'split-helper') {
  port.on('message', ({ task, signal, answer }: SplitRequest) => {
    let state = DONE;
    try {
      [answer[0], answer[1]] = runSplitTask(task);
    } catch {
      state = FAILED;
    }
    Atomics.store(signal, 0, state);
    Atomics.notify(signal, 0);
  });
} else {
  const sessions = new SessionManager({ threads: options.threads, providers: options.providers });
  // Started with the worker, so it is up by the first job's loops; with one core there is no second one to use.
  // VIGIL_INFERENCE_SPLIT=0 runs every loop on this thread (to compare, or where the other cores are busy).
  const helper = availableParallelism() > 1 && process.env.VIGIL_INFERENCE_SPLIT !== '0' ? new SplitHelper(new URL(import.meta.url)) : null;

  let chain = Promise.resolve();
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'evict') {
      // Queued behind any job in flight, so a running job keeps its session.
      const { dir } = msg;
      chain = chain.then(() => sessions.evictUnder(dir).then(() => undefined));
      return;
    }
    if (msg.type !== 'run') return;
    const { job } = msg;
    const cancel = new SharedCancelFlag(msg.cancel);
    chain = chain.then(async () => {
      try {
        const progress = (phase: string) => port.postMessage({ type: 'progress', jobId: job.jobId, phase } satisfies WorkerReply);
        const result = await runInferenceJob(job, sessions, progress, helper?.usable ? helper : null, cancel);
        port.postMessage({ type: 'result', jobId: job.jobId, result } satisfies WorkerReply);
      } catch (err) {
        if (err instanceof RunCancelledError) port.postMessage({ type: 'cancelled', jobId: job.jobId } satisfies WorkerReply);
        else port.postMessage({ type: 'error', jobId: job.jobId, message: (err as Error).message ?? String(err) } satisfies WorkerReply);
      }
    });
  });
}
