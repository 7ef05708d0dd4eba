/**
 * Puts the viewer's decode worker (decode-worker.ts) in place of
 * dicom-image-loader's: same worker name ('dicomImageLoader') and comlink API,
 * so the loader's createImage sends its decode tasks there unchanged.
 *
 * The page side also hands the compressed frame over by *transfer* instead of a
 * structured clone (which copies a typed array's whole buffer: for a frame
 * that is a view into the cached file, the entire file, every frame; see
 * transferable-buffer.ts decodeTaskTransfer). When that is safe the frame's
 * own buffer goes over: the loader (wadouri, dataset-cache path) cuts most
 * frames into a fresh buffer of their own (getPixelData slices uncompressed
 * frames and un-tabled fragments, and concatenates multi-fragment frames) and
 * never reads it after posting it. A frame that is a view into a larger buffer
 * (the cached file, a fragment in place), and every frame of the
 * naturalized-metadata loader path (which keeps its frames cached), is copied
 * into a buffer of its own, and that copy is transferred.
 */
import { Enums, getWebWorkerManager } from '@cornerstonejs/core';
import { decodeTaskTransfer } from './transferable-buffer';

/** The worker name dicom-image-loader's createImage posts decode tasks to. */
export const DECODE_WORKER_NAME = 'dicomImageLoader';

/**
 * The worker as comlink's endpoint, posting a decode task's frame by transfer
 * (see the file comment). Everything else passes through.
 */
class TransferringWorkerEndpoint {
  constructor(
    private readonly worker: Worker,
    private readonly transferOwnedFrames: boolean,
  ) {}

  postMessage(message: unknown, transfer: Transferable[] = []): void {
    const task = decodeTaskTransfer(message, this.transferOwnedFrames);
    const buffer = task.transfer;
    this.worker.postMessage(task.message, buffer && !transfer.includes(buffer) ? [...transfer, buffer] : transfer);
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
 * `transferOwnedFrames`: a frame that owns its buffer is transferred as it is
 * (only for the dataset-cache loader path, whose frames are cut per task);
 * otherwise it is copied first.
 */
export function installViewerDecodeWorkers(count: number, transferOwnedFrames: boolean): void {
  const workerFn = () => new TransferringWorkerEndpoint(startDecodeWorker(), transferOwnedFrames) as unknown as Worker;
  getWebWorkerManager().registerWorker(DECODE_WORKER_NAME, workerFn, { maxWorkerInstances: count, overwrite: true });
}

/** The warm-up frame's side: a typical CT/MR matrix, so the per-pixel loops run long enough to be optimised. */
const WARM_UP_SIDE = 512;

/**
 * Runs one small decode task through each of the `count` decode workers (ours
 * or the stock ones: same task API), the way createImage sends a CT frame
 * (16-bit signed, uncompressed, modality LUT on). A worker's first task pays
 * for its module loading and evaluation (the codec glue), comlink's set-up
 * and the first compilation of the decode and post-processing paths; done
 * here, while the study list is idle, the first image of the first study
 * does not. The tasks go out together, so the worker manager (least loaded
 * first) hands one to each worker. Resolves when all are done; a failure is
 * left to the first real decode to report.
 */
export async function warmUpDecodeWorkers(count: number): Promise<void> {
  const manager = getWebWorkerManager();
  const pixels = WARM_UP_SIDE * WARM_UP_SIDE;
  const stored = new Int16Array(pixels);
  for (let i = 0; i < pixels; i++) stored[i] = (i % 4096) - 1024; // a spread of CT-like values
  const task = () =>
    manager.executeTask(
      DECODE_WORKER_NAME,
      'decodeTask',
      {
        imageFrame: { samplesPerPixel: 1, photometricInterpretation: 'MONOCHROME2', rows: WARM_UP_SIDE, columns: WARM_UP_SIDE, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1 },
        transferSyntax: '1.2.840.10008.1.2.1',
        pixelData: new Uint8Array(stored.slice().buffer), // a copy per task: the hop may transfer (detach) it
        options: { preScale: { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: -1024, modality: 'CT' } }, allowFloatRendering: true },
      },
      { requestType: Enums.RequestType.Prefetch, priority: 0 },
    );
  await Promise.allSettled(Array.from({ length: count }, task));
}
