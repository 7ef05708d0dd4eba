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

/** The compressed frame of a comlink `decodeTask` call (the loader's wire message), or null for any other message. */
function decodeTaskFrame(message: unknown): Uint8Array | null {
  if (typeof message !== 'object' || message === null) return null;
  const { type, path, argumentList } = message as ComlinkApplyMessage;
  if (type !== 'APPLY' || !Array.isArray(path) || path[path.length - 1] !== 'decodeTask' || !Array.isArray(argumentList)) return null;
  const arg = argumentList[0];
  if (arg?.type !== 'RAW' || typeof arg.value !== 'object' || arg.value === null) return null;
  const pixels = (arg.value as { pixelData?: unknown }).pixelData;
  return pixels instanceof Uint8Array ? pixels : null;
}

/**
 * A decode task message as it should be posted, and the buffer to transfer
 * with it. Structured clone copies a typed array's *whole* buffer, so a frame
 * that is a view into the cached file (a single-fragment frame, or any frame
 * of the naturalized loader path) would send the entire file, serialised and
 * deserialised, once per frame. Instead:
 * - `transferOwned` and the frame owns its buffer (the loader cut it for this
 *   task): that buffer is transferred as it is;
 * - otherwise the frame's bytes alone are copied into a buffer of their own
 *   (one memcpy of the frame), which is transferred; the message is a shallow
 *   copy pointing at it, and what the loader passed is left untouched.
 * Other messages, and frames in shared memory (shared, not copied, by
 * postMessage), are posted as they are.
 */
export function decodeTaskTransfer(message: unknown, transferOwned: boolean): { message: unknown; transfer: ArrayBuffer | null } {
  const pixels = decodeTaskFrame(message);
  if (!pixels || !(pixels.buffer instanceof ArrayBuffer)) return { message, transfer: null };
  const owned = transferableBuffer(pixels);
  if (owned && transferOwned) return { message, transfer: owned };
  const copy = new Uint8Array(pixels.length); // alloc + set: a little faster than slice() in Chromium
  copy.set(pixels);
  const apply = message as ComlinkApplyMessage & { argumentList: { type?: unknown; value?: unknown }[] };
  const [first, ...rest] = apply.argumentList;
  const value = { ...(first!.value as object), pixelData: copy };
  return { message: { ...apply, argumentList: [{ ...first, value }, ...rest] }, transfer: copy.buffer };
}
