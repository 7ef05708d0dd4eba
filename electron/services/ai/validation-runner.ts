/**
 * ValidationRunner: runs a local validation (electron/services/ai/local-validation.ts)
 * for the `models.validate` channel. Collecting the cases, decoding, ONNX
 * Runtime and the bootstrap run in a worker thread of their own, so the main
 * event loop (IPC, the library, the analysis queue) stays responsive; without a
 * worker URL it runs in-process (unit tests). One validation at a time.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { type AnalysedCase, analysedCases, type CaseUnit, collectCases, operatingPoint, validateModel, ValidationCancelledError, ValidationInputError, type ValidationPhase, type ValidationReport } from './local-validation';
import type { ReadyModel } from './model-registry';
import { type ProviderName, type ProviderPreference, SessionManager } from './session-manager';

export interface ValidationJob {
  model: ReadyModel;
  casesPath: string;
  positiveLabel?: string;
  provider: ProviderPreference;
  resamples?: number;
  caseUnit?: CaseUnit;
}

/** A validation as it reaches main: the report with its analysed cases compact (excluded ones are in `excluded`). */
export interface ValidationJobReport extends Omit<ValidationReport, 'cases'> {
  cases: AnalysedCase[];
}

export type ValidationWorkerRequest = { type: 'run'; job: ValidationJob; threads?: number; providers?: ProviderName[] };
export type ValidationWorkerReply =
  | { type: 'progress'; done: number; total: number; phase: ValidationPhase }
  | { type: 'result'; report: ValidationJobReport }
  | { type: 'error'; message: string; input: boolean };

/** Collects the cases and validates: the body shared by the worker and the in-process path. */
export type ValidationProgressFn = (done: number, total: number, phase: ValidationPhase) => void;

export async function runValidationJob(job: ValidationJob, sessions: SessionManager, onProgress: ValidationProgressFn, signal?: AbortSignal): Promise<ValidationJobReport> {
  const { output } = operatingPoint(job.model.manifest, job.positiveLabel);
  const cases = collectCases(job.casesPath, output.labels);
  const report = await validateModel({
    model: job.model,
    cases,
    sessions,
    provider: job.provider,
    ...(job.positiveLabel ? { positiveLabel: job.positiveLabel } : {}),
    ...(job.resamples !== undefined ? { resamples: job.resamples } : {}),
    ...(job.caseUnit ? { caseUnit: job.caseUnit } : {}),
    onProgress,
    ...(signal ? { signal } : {}),
  });
  // Full run warnings (messages, attributes) stay in the worker: main lists each analysed case by its codes.
  return { ...report, cases: analysedCases(report.cases, report.positiveLabel) };
}

export interface ValidationRunnerOptions {
  /** Bundled validation worker; null runs in-process. */
  workerUrl: URL | null;
  threads?: number;
  providers?: ProviderName[];
}

export class ValidationBusyError extends Error {
  constructor() {
    super('a validation is already running; wait for it to finish');
    this.name = 'ValidationBusyError';
  }
}

export class ValidationRunner {
  private running = false;
  private worker: Worker | null = null;
  /** Aborted by cancel(): the running validation stops (its worker is terminated) with ValidationCancelledError. */
  private abort: AbortController | null = null;

  constructor(private readonly opts: ValidationRunnerOptions) {}

  get busy(): boolean {
    return this.running;
  }

  async run(job: ValidationJob, onProgress: ValidationProgressFn = () => undefined): Promise<ValidationJobReport> {
    if (this.running) throw new ValidationBusyError();
    this.running = true;
    const abort = new AbortController();
    this.abort = abort;
    try {
      if (!this.opts.workerUrl) {
        const sessions = new SessionManager({ ...(this.opts.threads ? { threads: this.opts.threads } : {}), ...(this.opts.providers ? { providers: this.opts.providers } : {}) });
        try {
          return await runValidationJob(job, sessions, onProgress, abort.signal);
        } finally {
          await sessions.close();
        }
      }
      return await this.inWorker(this.opts.workerUrl, job, onProgress, abort.signal);
    } finally {
      this.running = false;
      this.abort = null;
    }
  }

  /** Stops the running validation (a folder chosen by mistake may hold a whole archive); false when none runs. */
  cancel(): boolean {
    if (!this.abort || this.abort.signal.aborted) return false;
    this.abort.abort();
    return true;
  }

  private inWorker(url: URL, job: ValidationJob, onProgress: ValidationProgressFn, signal: AbortSignal): Promise<ValidationJobReport> {
    if (url.protocol === 'file:' && !existsSync(url)) return Promise.reject(new Error(`validation worker bundle not found at ${url.pathname}; run the build first`));
    return new Promise<ValidationJobReport>((resolve, reject) => {
      const worker = new Worker(url);
      this.worker = worker;
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.worker = null;
        void worker.terminate();
        fn();
      };
      worker.on('message', (msg: ValidationWorkerReply) => {
        if (msg.type === 'progress') onProgress(msg.done, msg.total, msg.phase);
        else if (msg.type === 'result') finish(() => resolve(msg.report));
        else finish(() => reject(msg.input ? new ValidationInputError(msg.message) : new Error(msg.message)));
      });
      worker.on('error', (err) => finish(() => reject(err)));
      worker.on('exit', (code) => finish(() => reject(new Error(`validation worker exited with code ${code}`))));
      // Cancelled: the worker is terminated wherever it is (decoding, inference or the bootstrap).
      signal.addEventListener('abort', () => finish(() => reject(new ValidationCancelledError())), { once: true });
      worker.postMessage({ type: 'run', job, ...(this.opts.threads ? { threads: this.opts.threads } : {}), ...(this.opts.providers ? { providers: this.opts.providers } : {}) } satisfies ValidationWorkerRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }
}
