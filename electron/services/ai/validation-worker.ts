/** Worker-thread entry: runs one local validation posted by ValidationRunner, then is terminated. */
import { parentPort } from 'node:worker_threads';
import { ValidationInputError } from './local-validation';
import { SessionManager } from './session-manager';
import { runValidationJob, type ValidationWorkerReply, type ValidationWorkerRequest } from './validation-runner';

if (!parentPort) throw new Error('validation-worker must run in a worker thread');
const port = parentPort;

port.on('message', (msg: ValidationWorkerRequest) => {
  if (msg.type !== 'run') return;
  const sessions = new SessionManager({ ...(msg.threads ? { threads: msg.threads } : {}), ...(msg.providers ? { providers: msg.providers } : {}) });
  let last = 0;
  let lastPhase = '';
  void runValidationJob(msg.job, sessions, (done, total, phase) => {
    // At most ~10 progress messages a second, and always the first of a phase and the last one.
    const now = Date.now();
    if (done < total && phase === lastPhase && now - last < 100) return;
    last = now;
    lastPhase = phase;
    port.postMessage({ type: 'progress', done, total, phase } satisfies ValidationWorkerReply);
  })
    .then((report) => port.postMessage({ type: 'result', report } satisfies ValidationWorkerReply))
    .catch((err: unknown) =>
      port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err), input: err instanceof ValidationInputError } satisfies ValidationWorkerReply),
    )
    .finally(() => void sessions.close());
});
