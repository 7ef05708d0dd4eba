/**
 * Loads a result's array file (gzip; uint8 label map or float32 heatmap)
 * through `window.vigil.resultUrl`, never over IPC. Inflated with the
 * browser's DecompressionStream and cached per URL.
 */
import type { ArrayRef } from './overlay-model';

const cache = new Map<string, Promise<Uint8Array | Float32Array>>();

async function inflate(url: string): Promise<ArrayBuffer> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`result file: HTTP ${response.status}`);
  const stream = response.body.pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

export function loadResultArray(url: string, ref: ArrayRef): Promise<Uint8Array | Float32Array> {
  let p = cache.get(url);
  if (!p) {
    p = inflate(url).then((buf) => {
      const values = ref.dtype === 'uint8' ? new Uint8Array(buf) : new Float32Array(buf);
      const expected = ref.shape[0] * ref.shape[1] * ref.shape[2];
      if (values.length !== expected) throw new Error(`result file has ${values.length} values, expected ${expected}`);
      return values;
    });
    p.catch(() => cache.delete(url));
    cache.set(url, p);
  }
  return p;
}

/** Puts an array the viewer already holds (e.g. an edited mask it just saved) under a URL, so it is not fetched again. */
export function seedResultArray(url: string, values: Uint8Array | Float32Array): Promise<void> {
  cache.set(url, Promise.resolve(values));
  return Promise.resolve();
}

/** Already-loaded arrays, synchronously (for jumping to the strongest slice). */
const loaded = new Map<string, Uint8Array | Float32Array>();
export function rememberArray(url: string, values: Uint8Array | Float32Array): void {
  loaded.set(url, values);
}
export function loadedArray(url: string): Uint8Array | Float32Array | null {
  return loaded.get(url) ?? null;
}
