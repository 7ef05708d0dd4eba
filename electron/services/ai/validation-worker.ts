/**
 * Worker-thread entry: runs one local validation posted by ValidationRunner. Its last reply (result, error or
 * cancelled) is sent once its ONNX Runtime sessions are closed; then the worker closes its port and exits.
 */
import { parentPort } from 'node:worker_threads';
import { ValidationInputError } from './local-validation';
import { RunCancelledError, SharedCancelFlag } from './run-cancel';
import { SessionManager } from './session-manager';
import { runValidationJob, type ValidationProgressFn, type ValidationWorkerReply, type ValidationWorkerRequest } from './validation-runner';

if (!parentPort) throw new Error('validation-worker must run in a worker thread');
const port = parentPort;

port.on('message', (msg: ValidationWorkerRequest) => {
  if (msg.type !== 'run') return;
  const sessions = new SessionManager({ threads: msg.threads, providers: msg.providers });
  let last = 0;
  let lastPhase = '';
  const progress: ValidationProgressFn = (done, total, phase) => {
    // At most ~10 progress messages a second, and always the first of a phase and the last one.
    const now = Date.now();
    if (done < total && phase === lastPhase && now - last < 100) return;
    last = now;
    lastPhase = phase;
    port.postMessage({ type: 'progress', done, total, phase } satisfies ValidationWorkerReply);
  };
  void runValidationJob(msg.job, sessions, progress, new SharedCancelFlag(msg.cancel))
    .then(
      (report): ValidationWorkerReply => ({ type: 'result', report }),
      (err: unknown): ValidationWorkerReply =>
        err instanceof RunCancelledError ? { type: 'cancelled' } : { type: 'error', message: err instanceof Error ? err.message : String(err), input: err instanceof ValidationInputError },
    )
    .then(async (reply) => {
      await sessions.close().catch(() => undefined);
      port.postMessage(reply);
      port.close();
    });
});
