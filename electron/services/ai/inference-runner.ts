/**
 * InferenceRunner: hands analysis jobs to the inference worker thread so
 * decoding, preprocessing, ONNX Runtime and post-processing never run on the
 * main event loop. Cancelling a running job raises its shared cancel flag: the
 * worker stops it before its next file or model run and says so, and the job's
 * promise rejects then, with the worker idle and its sessions kept (terminating
 * a worker inside an ONNX Runtime run aborts the process: see run-cancel).
 * Without a worker URL the job runs in-process (unit tests only).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type InferenceJob, type InferenceJobResult, type JobPhase, runInferenceJob } from './inference-job';
import type { WorkerReply, WorkerRequest } from './inference-worker';
import { RunCancelledError, settlesWithin, SharedCancelFlag } from './run-cancel';
import { type ProviderName, SessionManager } from './session-manager';

export class JobCancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'JobCancelledError';
  }
}

/** The job was stopped because the runner is closing (Vigil quitting), not by the reader: it should run again. */
export class RunnerClosedError extends Error {
  constructor() {
    super('interrupted: Vigil is closing');
    this.name = 'RunnerClosedError';
  }
}

/** How long close() waits for a running job to stop at its next step. */
const CLOSE_WAIT_MS = 10_000;

const noop = (): void => undefined;

export interface InferenceRunnerOptions {
  /** Bundled worker; null runs jobs in-process. */
  workerUrl: URL | null;
  threads?: number;
  providers?: ProviderName[];
}

interface InFlight {
  jobId: string;
  cancel: SharedCancelFlag;
  /** Cancelled by the reader (else a raised flag means the runner is closing). */
  byReader?: boolean;
  /** Settles with the job's promise (after the worker's answer). */
  done: Promise<void>;
  resolve: (r: InferenceJobResult) => void;
  reject: (e: Error) => void;
  progress: (phase: JobPhase) => void;
}

export class InferenceRunner {
  private worker: Worker | null = null;
  private current: InFlight | null = null;
  private local: SessionManager | null = null;
  /** Set by close(): a job stopped from then on was interrupted, not cancelled. */
  private closing = false;
  /** sha-256 of the model each package folder last ran with: a different one means the package changed on disk. */
  private readonly ranSha = new Map<string, string>();

  constructor(private readonly opts: InferenceRunnerOptions) {}

  private startWorker(url: URL): Worker {
    if (url.protocol === 'file:' && !existsSync(url)) throw new Error(`inference worker bundle not found at ${url.pathname}; run the build first`);
    const worker = new Worker(url, { workerData: { threads: this.opts.threads, providers: this.opts.providers } });
    worker.on('message', (msg: WorkerReply) => {
      const cur = this.current;
      if (!cur || msg.jobId !== cur.jobId) return;
      if (msg.type === 'progress') cur.progress(msg.phase as JobPhase);
      else {
        this.current = null;
        // Cancelled is what the reader asked for, even where the job got to its end first.
        if (msg.type === 'cancelled' || cur.cancel.aborted) cur.reject(this.stopped(cur));
        else if (msg.type === 'result') cur.resolve(msg.result);
        else cur.reject(new Error(msg.message));
      }
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      const cur = this.current;
      this.current = null;
      cur?.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`inference worker exited with code ${code}`)));
    return worker;
  }

  async run(job: InferenceJob, progress: (phase: JobPhase) => void = () => undefined): Promise<InferenceJobResult> {
    if (this.closing) throw new RunnerClosedError();
    if (this.current) throw new Error('the inference runner is busy');
    const dir = dirname(job.model.modelPath);
    // Every graph the job opens from this folder: a new aggregator with the same model.onnx must evict too.
    const { sha256, aggregation } = job.model.manifest;
    const graphs = aggregation?.method === 'model' ? `${sha256}:${aggregation.sha256}` : sha256;
    const replaced = this.ranSha.has(dir) && this.ranSha.get(dir) !== graphs;
    this.ranSha.set(dir, graphs);
    const cancel = new SharedCancelFlag();
    if (!this.opts.workerUrl) {
      this.local ??= new SessionManager({ threads: this.opts.threads, providers: this.opts.providers });
      const local = this.local;
      const running = (async () => {
        if (replaced) await local.evictUnder(dir);
        return runInferenceJob(job, local, progress, null, cancel);
      })();
      const cur: InFlight = { jobId: job.jobId, cancel, done: running.then(noop, noop), resolve: noop, reject: noop, progress };
      this.current = cur;
      try {
        const r = await running;
        if (cancel.aborted) throw this.stopped(cur);
        return r;
      } catch (err) {
        throw err instanceof RunCancelledError ? this.stopped(cur) : err;
      } finally {
        this.current = null;
      }
    }
    this.worker ??= this.startWorker(this.opts.workerUrl);
    const worker = this.worker;
    // The worker handles messages in order: the stale sessions go before this job opens the new model.
    if (replaced) worker.postMessage({ type: 'evict', dir } satisfies WorkerRequest);
    let settle!: Pick<InFlight, 'resolve' | 'reject'>;
    const running = new Promise<InferenceJobResult>((resolve, reject) => (settle = { resolve, reject }));
    this.current = { jobId: job.jobId, cancel, done: running.then(noop, noop), ...settle, progress };
    worker.postMessage({ type: 'run', job, cancel: cancel.cell } satisfies WorkerRequest);
    return running;
  }

  /**
   * Asks the job to stop if it is the one running: it rejects with JobCancelledError once the worker has left it,
   * before its next file or model run.
   */
  cancel(jobId: string): boolean {
    const cur = this.current;
    if (!cur || cur.jobId !== jobId) return false;
    cur.byReader = true;
    cur.cancel.raise();
    return true;
  }

  /** Why a job stopped at its flag: the reader cancelled it, or (only) the runner is closing. */
  private stopped(cur: InFlight): Error {
    return this.closing && !cur.byReader ? new RunnerClosedError() : new JobCancelledError();
  }

  /**
   * Stops the running job (RunnerClosedError: it runs again at the next start), waiting a while for the worker to
   * leave it. A worker is terminated only when idle: one still inside an ONNX Runtime run after CLOSE_WAIT_MS is let
   * go (unref'd) instead, since terminating it would abort the process before the database closes.
   */
  async close(): Promise<void> {
    this.closing = true;
    const cur = this.current;
    const worker = this.worker;
    this.worker = null;
    if (cur) {
      cur.cancel.raise();
      if (!(await settlesWithin(cur.done, CLOSE_WAIT_MS))) {
        this.current = null;
        cur.reject(new RunnerClosedError());
        worker?.unref();
        return;
      }
    }
    await worker?.terminate();
    await this.local?.close();
  }
}
