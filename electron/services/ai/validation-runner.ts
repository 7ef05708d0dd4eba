/**
 * ValidationRunner: runs a local validation (electron/services/ai/local-validation.ts)
 * for the `models.validate` channel. Collecting the cases, decoding, ONNX
 * Runtime and the bootstrap run in a worker thread of their own, so the main
 * event loop (IPC, the library, the analysis queue) stays responsive; without a
 * worker URL it runs in-process (unit tests). One validation at a time.
 * Cancelled, it stops at its next step through a shared flag, never by terminating
 * its worker inside an ONNX Runtime run (see run-cancel).
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { type AnalysedCase, analysedCases, type CaseUnit, collectCases, operatingPoint, validateModel, ValidationCancelledError, ValidationInputError, type ValidationPhase, type ValidationReport } from './local-validation';
import type { ReadyModel } from './model-registry';
import { type CancelCheck, settlesWithin, SharedCancelFlag } from './run-cancel';
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

/** `cancel`: the run's SharedCancelFlag cell, raised by ValidationRunner.cancel. */
export type ValidationWorkerRequest = { type: 'run'; job: ValidationJob; cancel: Int32Array; threads?: number; providers?: ProviderName[] };
/** The last reply (result, error or cancelled) comes once the worker's sessions are closed: it is idle from then on. */
export type ValidationWorkerReply =
  | { type: 'progress'; done: number; total: number; phase: ValidationPhase }
  | { type: 'result'; report: ValidationJobReport }
  | { type: 'error'; message: string; input: boolean }
  | { type: 'cancelled' };

/** Collects the cases and validates: the body shared by the worker and the in-process path. */
export type ValidationProgressFn = (done: number, total: number, phase: ValidationPhase) => void;

export async function runValidationJob(job: ValidationJob, sessions: SessionManager, onProgress: ValidationProgressFn, signal?: CancelCheck): Promise<ValidationJobReport> {
  const { output } = operatingPoint(job.model.manifest, job.positiveLabel);
  const cases = collectCases(job.casesPath, output.labels, signal ?? null);
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

/** How long close() waits for a running validation to stop at its next step. */
const CLOSE_WAIT_MS = 10_000;

export class ValidationRunner {
  private running = false;
  private worker: Worker | null = null;
  /** Raised by cancel(): the running validation stops at its next step with ValidationCancelledError. */
  private cancelFlag: SharedCancelFlag | null = null;
  /** Settles when the running validation does. */
  private settled: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ValidationRunnerOptions) {}

  get busy(): boolean {
    return this.running;
  }

  async run(job: ValidationJob, onProgress: ValidationProgressFn = () => undefined): Promise<ValidationJobReport> {
    if (this.running) throw new ValidationBusyError();
    this.running = true;
    const cancel = new SharedCancelFlag();
    this.cancelFlag = cancel;
    const run = (async () => {
      try {
        return await this.start(job, onProgress, cancel);
      } finally {
        this.running = false;
        this.cancelFlag = null;
      }
    })();
    this.settled = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async start(job: ValidationJob, onProgress: ValidationProgressFn, cancel: SharedCancelFlag): Promise<ValidationJobReport> {
    if (this.opts.workerUrl) return this.inWorker(this.opts.workerUrl, job, onProgress, cancel);
    const sessions = new SessionManager({ threads: this.opts.threads, providers: this.opts.providers });
    try {
      const report = await runValidationJob(job, sessions, onProgress, cancel);
      if (cancel.aborted) throw new ValidationCancelledError();
      return report;
    } catch (err) {
      // Cancelled is what the reader asked for, even where the run got to its end (or an error) first.
      throw cancel.aborted ? new ValidationCancelledError() : err;
    } finally {
      await sessions.close();
    }
  }

  /**
   * Stops the running validation (a folder chosen by mistake may hold a whole archive); false when none runs. Its run
   * rejects with ValidationCancelledError once it has stopped, at its next step.
   */
  cancel(): boolean {
    const cancel = this.cancelFlag;
    if (!cancel || cancel.aborted) return false;
    cancel.raise();
    return true;
  }

  /** Settles when the running validation (if any) has ended, cancelled or not. */
  stopped(): Promise<void> {
    return this.settled;
  }

  private inWorker(url: URL, job: ValidationJob, onProgress: ValidationProgressFn, cancel: SharedCancelFlag): Promise<ValidationJobReport> {
    if (url.protocol === 'file:' && !existsSync(url)) return Promise.reject(new Error(`validation worker bundle not found at ${url.pathname}; run the build first`));
    return new Promise<ValidationJobReport>((resolve, reject) => {
      const worker = new Worker(url);
      this.worker = worker;
      let settled = false;
      // After its last reply the worker is idle (sessions closed): terminating it is safe, and it is exiting anyway.
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.worker = null;
        void worker.terminate();
        fn();
      };
      worker.on('message', (msg: ValidationWorkerReply) => {
        if (msg.type === 'progress') onProgress(msg.done, msg.total, msg.phase);
        // Cancelled is what the reader asked for, even where the run got to its end first.
        else if (msg.type === 'cancelled' || cancel.aborted) finish(() => reject(new ValidationCancelledError()));
        else if (msg.type === 'result') finish(() => resolve(msg.report));
        else finish(() => reject(msg.input ? new ValidationInputError(msg.message) : new Error(msg.message)));
      });
      worker.on('error', (err) => finish(() => reject(err)));
      worker.on('exit', (code) => finish(() => reject(new Error(`validation worker exited with code ${code}`))));
      worker.postMessage({
        type: 'run',
        job,
        cancel: cancel.cell,
        ...(this.opts.threads ? { threads: this.opts.threads } : {}),
        ...(this.opts.providers ? { providers: this.opts.providers } : {}),
      } satisfies ValidationWorkerRequest);
    });
  }

  /**
   * Stops a running validation, waiting a while for it to stop at its next step. Its worker is never terminated: one
   * still inside an ONNX Runtime run after CLOSE_WAIT_MS is let go (unref'd), so what closes after this (the library's
   * database) still closes cleanly.
   */
  async close(): Promise<void> {
    if (!this.running) return;
    this.cancel();
    if (await settlesWithin(this.settled, CLOSE_WAIT_MS)) return;
    // Still inside one ONNX Runtime run: terminating would abort the process now; let go, it ends with the process.
    this.worker?.unref();
    this.worker = null;
  }
}
