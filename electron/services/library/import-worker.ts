/** Worker-thread entry: processes batches of import tasks posted by ImportWorkerPool. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ImportFileTask, PlacedCopy } from './import-file-processor';
import { type ImportWorkerMessage, processBatch, WORKER_CELLS } from './import-worker-pool';

if (!parentPort) throw new Error('import-worker must run in a worker thread');
if (!(workerData instanceof SharedArrayBuffer) || workerData.byteLength < WORKER_CELLS * Int32Array.BYTES_PER_ELEMENT) {
  throw new Error(`import-worker needs its ${WORKER_CELLS} shared cells (a SharedArrayBuffer) as workerData`);
}
const port = parentPort;
/** The stop flag the pool sets when the run stops, and the cell naming the file this thread is on (see processBatch). */
const cells = new Int32Array(workerData);
/**
 * Told at once (before the copy's rename, see PlacedCopy), not with the batch's reply: should this thread die before
 * replying (out of memory on a later file, or just after a rename), the pool still knows which copies it
 * created and removes those no row uses.
 */
const placed = (copy: PlacedCopy) => port.postMessage({ placed: copy } satisfies ImportWorkerMessage);
// One message per batch: per-file messages cost more than parsing a header.
port.on('message', (batch: ImportFileTask[]) => port.postMessage(processBatch(batch, cells, placed) satisfies ImportWorkerMessage));
