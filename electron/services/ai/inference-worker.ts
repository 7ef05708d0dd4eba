/** Worker-thread entry: runs analysis jobs posted by InferenceRunner, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { type InferenceJob, runInferenceJob } from './inference-job';
import { type ProviderName, SessionManager } from './session-manager';

export type WorkerRequest =
  | { type: 'run'; job: InferenceJob }
  /** The package in `dir` changed on disk: its cached sessions are stale. */
  | { type: 'evict'; dir: string };
export type WorkerReply =
  | { type: 'progress'; jobId: string; phase: string }
  | { type: 'result'; jobId: string; result: import('./inference-job').InferenceJobResult }
  | { type: 'error'; jobId: string; message: string };

if (!parentPort) throw new Error('inference-worker must run in a worker thread');
const port = parentPort;
const options = (workerData ?? {}) as { threads?: number; providers?: ProviderName[] };
const sessions = new SessionManager({ ...(options.threads ? { threads: options.threads } : {}), ...(options.providers ? { providers: options.providers } : {}) });

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
  chain = chain.then(async () => {
    try {
      const result = await runInferenceJob(job, sessions, (phase) => port.postMessage({ type: 'progress', jobId: job.jobId, phase } satisfies WorkerReply));
      port.postMessage({ type: 'result', jobId: job.jobId, result } satisfies WorkerReply);
    } catch (err) {
      port.postMessage({ type: 'error', jobId: job.jobId, message: (err as Error).message ?? String(err) } satisfies WorkerReply);
    }
  });
});
