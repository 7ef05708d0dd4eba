/** Worker-thread entry: processes import tasks posted by ImportWorkerPool. */
import { parentPort } from 'node:worker_threads';
import { type ImportFileTask, processImportFile } from './import-file-processor';

if (!parentPort) throw new Error('import-worker must run in a worker thread');
const port = parentPort;
port.on('message', (task: ImportFileTask) => {
  port.postMessage(processImportFile(task));
});
