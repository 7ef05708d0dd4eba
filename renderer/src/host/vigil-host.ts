/**
 * Where `window.vigil` comes from: the Electron preload defines it; anywhere
 * else (the loopback bridge in dev/tests) the bridge client builds one. The
 * bridge client is a separate chunk, loaded only when needed.
 */
import type { VigilApi } from '../../../contract/ipc-contract';

declare global {
  interface Window {
    vigil?: VigilApi;
  }
}

let pending: Promise<VigilApi> | null = null;

export function getVigil(): Promise<VigilApi> {
  if (window.vigil) return Promise.resolve(window.vigil);
  pending ??= import('./bridge-client').then(({ createBridgeVigil }) => createBridgeVigil());
  return pending;
}
