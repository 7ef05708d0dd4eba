/**
 * Puts the viewer's decode worker (decode-worker.ts) in place of
 * dicom-image-loader's: same worker name ('dicomImageLoader') and comlink API,
 * so the loader's createImage sends its decode tasks there unchanged.
 *
 * The page side also hands the compressed frame over by *transfer* instead of a
 * structured-clone copy, when that is safe: the loader (wadouri, dataset-cache
 * path) cuts each frame into a fresh buffer of its own (getPixelData slices
 * uncompressed frames and un-tabled fragments, and concatenates multi-fragment
 * frames) and never reads it after posting it. A frame that is a view into a
 * larger buffer (the cached file, a fragment in place) does not span its buffer
 * and is copied as before. The naturalized-metadata loader path passes frames
 * it keeps cached, so there nothing is transferred.
 */
import { getWebWorkerManager } from '@cornerstonejs/core';
import { decodeTaskInputBuffer } from './transferable-buffer';

/** The worker name dicom-image-loader's createImage posts decode tasks to. */
export const DECODE_WORKER_NAME = 'dicomImageLoader';

/**
 * The worker as comlink's endpoint, adding the decode task's frame buffer to the
 * transfer list (see the file comment). Everything else passes through.
 */
class TransferringWorkerEndpoint {
  constructor(private readonly worker: Worker) {}

  postMessage(message: unknown, transfer: Transferable[] = []): void {
    const buffer = decodeTaskInputBuffer(message);
    this.worker.postMessage(message, buffer && !transfer.includes(buffer) ? [...transfer, buffer] : transfer);
  }

  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void {
    this.worker.addEventListener(type, listener, options);
  }

  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void {
    this.worker.removeEventListener(type, listener, options);
  }

  terminate(): void {
    this.worker.terminate();
  }
}

function startDecodeWorker(): Worker {
  return new Worker(new URL('./decode-worker.ts', import.meta.url), { type: 'module', name: 'vigil-decode' });
}

/**
 * Registers `count` of our decode workers under the loader's worker name. Call
 * it before the loader's init(): init then finds the name taken and starts none
 * of its own (it logs that the worker type is already registered), so no stock
 * worker is spawned only to be terminated.
 * `transferInput`: hand frames over by transfer (only for the dataset-cache loader path).
 */
export function installViewerDecodeWorkers(count: number, transferInput: boolean): void {
  const workerFn = transferInput ? () => new TransferringWorkerEndpoint(startDecodeWorker()) as unknown as Worker : startDecodeWorker;
  getWebWorkerManager().registerWorker(DECODE_WORKER_NAME, workerFn, { maxWorkerInstances: count, overwrite: true });
}
