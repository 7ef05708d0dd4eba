/** Worker-thread entry: processes batches of import tasks posted by ImportWorkerPool. */
import { parentPort } from 'node:worker_threads';
import { type ImportFileTask, processImportFile } from './import-file-processor';

if (!parentPort) throw new Error('import-worker must run in a worker thread');
const port = parentPort;
port.on('message', (batch: ImportFileTask[]) => {
  // One message per batch: per-file messages cost more than parsing a header.
  port.postMessage(batch.map(processImportFile));
});
