/**
 * Which buffers cross the decode worker boundary by transfer instead of a
 * structured-clone copy (decode-worker.ts, decode-worker-registration.ts).
 * Transferring detaches the buffer on the sending side, so only a buffer that
 * the sent array owns outright qualifies. Pure functions: Node tests import them.
 */

/**
 * The buffer of `pixels` when the array spans all of it and it is a plain
 * ArrayBuffer (not shared memory, such as a volume's target buffer); null for a
 * view into something larger (a WASM heap, a cached file), which is copied instead.
 */
export function transferableBuffer(pixels: ArrayBufferView): ArrayBuffer | null {
  const buffer = pixels.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return null;
  if (pixels.byteOffset !== 0 || pixels.byteLength !== buffer.byteLength) return null;
  return buffer;
}

interface ComlinkApplyMessage {
  type?: unknown;
  path?: unknown;
  argumentList?: { type?: unknown; value?: unknown }[];
}

/** In a comlink `decodeTask` call (the loader's wire message), the compressed frame's buffer when the frame owns all of it. */
export function decodeTaskInputBuffer(message: unknown): ArrayBuffer | null {
  if (typeof message !== 'object' || message === null) return null;
  const { type, path, argumentList } = message as ComlinkApplyMessage;
  if (type !== 'APPLY' || !Array.isArray(path) || path[path.length - 1] !== 'decodeTask' || !Array.isArray(argumentList)) return null;
  const arg = argumentList[0];
  if (arg?.type !== 'RAW' || typeof arg.value !== 'object' || arg.value === null) return null;
  const pixels = (arg.value as { pixelData?: unknown }).pixelData;
  return pixels instanceof Uint8Array ? transferableBuffer(pixels) : null;
}
