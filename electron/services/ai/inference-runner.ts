/**
 * InferenceRunner: hands analysis jobs to the inference worker thread so
 * decoding, preprocessing, ONNX Runtime and post-processing never run on the
 * main event loop. Cancelling a running job terminates the worker (a fresh one
 * starts for the next job). Without a worker URL the job runs in-process
 * (unit tests only).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type InferenceJob, type InferenceJobResult, type JobPhase, runInferenceJob } from './inference-job';
import type { WorkerReply, WorkerRequest } from './inference-worker';
import { type ProviderName, SessionManager } from './session-manager';

export class JobCancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'JobCancelledError';
  }
}

export interface InferenceRunnerOptions {
  /** Bundled worker; null runs jobs in-process. */
  workerUrl: URL | null;
  threads?: number;
  providers?: ProviderName[];
}

interface InFlight {
  jobId: string;
  resolve: (r: InferenceJobResult) => void;
  reject: (e: Error) => void;
  progress: (phase: JobPhase) => void;
}

export class InferenceRunner {
  private worker: Worker | null = null;
  private current: InFlight | null = null;
  private local: SessionManager | null = null;
  private localCancelled = new Set<string>();
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
        if (msg.type === 'result') cur.resolve(msg.result);
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
    if (this.current) throw new Error('the inference runner is busy');
    const dir = dirname(job.model.modelPath);
    // Every graph the job opens from this folder: a new aggregator with the same model.onnx must evict too.
    const { sha256, aggregation } = job.model.manifest;
    const graphs = aggregation?.method === 'model' ? `${sha256}:${aggregation.sha256}` : sha256;
    const replaced = this.ranSha.has(dir) && this.ranSha.get(dir) !== graphs;
    this.ranSha.set(dir, graphs);
    if (!this.opts.workerUrl) {
      this.local ??= new SessionManager({ ...(this.opts.threads ? { threads: this.opts.threads } : {}), ...(this.opts.providers ? { providers: this.opts.providers } : {}) });
      if (replaced) await this.local.evictUnder(dir);
      const r = await runInferenceJob(job, this.local, progress);
      if (this.localCancelled.delete(job.jobId)) throw new JobCancelledError();
      return r;
    }
    this.worker ??= this.startWorker(this.opts.workerUrl);
    const worker = this.worker;
    // The worker handles messages in order: the stale sessions go before this job opens the new model.
    if (replaced) worker.postMessage({ type: 'evict', dir } satisfies WorkerRequest);
    return new Promise<InferenceJobResult>((resolve, reject) => {
      this.current = { jobId: job.jobId, resolve, reject, progress };
      worker.postMessage({ type: 'run', job } satisfies WorkerRequest);
    });
  }

  /** Stops the job if it is the one running. */
  cancel(jobId: string): boolean {
    if (!this.opts.workerUrl) {
      this.localCancelled.add(jobId);
      return true;
    }
    const cur = this.current;
    if (!cur || cur.jobId !== jobId) return false;
    this.current = null;
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate();
    cur.reject(new JobCancelledError());
    return true;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (this.current) {
      this.current.reject(new JobCancelledError());
      this.current = null;
    }
    await worker?.terminate();
    await this.local?.close();
  }
}
