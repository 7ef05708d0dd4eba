/** Worker-thread entry: processes batches of import tasks posted by ImportWorkerPool. */
import { parentPort, workerData } from 'node:worker_threads';
import { type ImportFileTask, type PlacedCopy, processImportFile } from './import-file-processor';
import type { ImportWorkerMessage, ImportWorkerReply } from './import-worker-pool';

if (!parentPort) throw new Error('import-worker must run in a worker thread');
if (!(workerData instanceof SharedArrayBuffer)) throw new Error('import-worker needs its stop flag (a SharedArrayBuffer) as workerData');
const port = parentPort;
/** Set by the pool when the run stops (cancelled or failed): files not started yet are skipped, unread and unstored. */
const stop = new Int32Array(workerData);
/**
 * Told at once, not with the batch's reply: should this thread die before replying (out of memory on a later file),
 * the pool still knows which copies it created and removes those no row uses.
 */
const placed = (copy: PlacedCopy) => port.postMessage({ placed: copy } satisfies ImportWorkerMessage);
port.on('message', (batch: ImportFileTask[]) => {
  // One message per batch: per-file messages cost more than parsing a header.
  const reply: ImportWorkerReply = { results: [], skipped: [] };
  for (const task of batch) {
    if (Atomics.load(stop, 0) !== 0) reply.skipped.push(task.id);
    else reply.results.push(processImportFile(task, placed));
  }
  port.postMessage(reply satisfies ImportWorkerMessage);
});
