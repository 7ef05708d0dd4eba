/**
 * Cancelling a run that calls ONNX Runtime. A worker thread must never be terminated while it is inside a session's
 * run: onnxruntime-node then throws a C++ exception nothing catches and the whole process aborts (Electron's main
 * with it). So a run is stopped cooperatively: the owner raises a flag, the run reads it between its steps (each
 * file decoded, each model run, each bootstrap resample) and ends with RunCancelledError, leaving the thread idle.
 */

/** What a run polls between its steps: an AbortSignal, or a worker's view of a SharedCancelFlag. */
export interface CancelCheck {
  readonly aborted: boolean;
}

/** The run stopped early because its owner asked it to. */
export class RunCancelledError extends Error {
  constructor(message = 'the run was cancelled') {
    super(message);
    this.name = 'RunCancelledError';
  }
}

export function throwIfCancelled(cancel: CancelCheck | null | undefined): void {
  if (cancel?.aborted) throw new RunCancelledError();
}

/**
 * A cancel flag in shared memory: the owner raises it, a worker reads it synchronously, even while its event loop is
 * busy with the run (a posted message would wait for the run to yield). Posted to the worker as `cell`.
 */
export class SharedCancelFlag implements CancelCheck {
  readonly cell: Int32Array;

  constructor(cell?: Int32Array) {
    this.cell = cell ?? new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  }

  get aborted(): boolean {
    return Atomics.load(this.cell, 0) !== 0;
  }

  raise(): void {
    Atomics.store(this.cell, 0, 1);
  }
}

/** Whether `settled` settles within `ms` (a close waiting for a run to stop at its next step). */
export async function settlesWithin(settled: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([settled.then(() => true, () => true), new Promise<false>((done) => (timer = setTimeout(() => done(false), ms)))]);
  clearTimeout(timer);
  return stopped;
}
