/**
 * `window.vigil` for the loopback bridge (dev/test host): invoke over
 * `POST /api/invoke`, events over one shared, reconnecting WebSocket, dropped
 * files uploaded to a staging folder, DICOM bytes from `/dicom/instances/<uid>`.
 * Every request carries the bridge token read from `?token=` in the page URL.
 */
import {
  type DroppedFile,
  type EventName,
  type EventPayload,
  type Result,
  type VigilApi,
  buildInvokeApi,
  isEventName,
} from '../../../contract/ipc-contract';

const TOKEN_KEY = 'vigil.bridgeToken';
const UPLOAD_CONCURRENCY = 4;

export interface BridgeClientOptions {
  /** Origin + base of the bridge; defaults to the page's own origin. */
  baseUrl?: string;
  token?: string;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
}

/** Reads the token from `?token=` (then remembers it for reloads of this tab). */
export function readBridgeToken(loc: Location = window.location, storage: Storage | null = safeSessionStorage()): string {
  const fromUrl = new URLSearchParams(loc.search).get('token');
  if (fromUrl) {
    storage?.setItem(TOKEN_KEY, fromUrl);
    return fromUrl;
  }
  return storage?.getItem(TOKEN_KEY) ?? '';
}

function safeSessionStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function networkError(err: unknown): Result<never> {
  return {
    ok: false,
    error: { code: 'UNAVAILABLE', message: `Could not reach the Vigil bridge: ${err instanceof Error ? err.message : String(err)}` },
  };
}

async function readResult<T>(response: Response): Promise<Result<T>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { ok: false, error: { code: 'INTERNAL', message: `The bridge answered ${response.status} without a JSON body.` } };
  }
  if (typeof body === 'object' && body !== null && 'ok' in body) return body as Result<T>;
  return { ok: false, error: { code: 'INTERNAL', message: 'The bridge answered with an unexpected body.' } };
}

function randomId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Relative paths for the staging folder; loose files use their name, duplicates get a suffix. */
export function stagingPaths(files: readonly DroppedFile[]): string[] {
  const used = new Set<string>();
  return files.map((f, i) => {
    const base = (f.relativePath || f.name || `file-${i}`).replace(/\\/g, '/').replace(/^\/+/, '');
    let candidate = base;
    for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${base}~${n}`;
    used.add(candidate.toLowerCase());
    return candidate;
  });
}

type AnyListener = (payload: unknown) => void;

/** One WebSocket shared by every `on()` subscriber; reconnects with backoff while anyone listens. */
class EventSocket {
  private ws: WebSocket | null = null;
  private readonly listeners = new Map<EventName, Set<AnyListener>>();
  private retry = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: string,
    private readonly WS: typeof WebSocket,
  ) {}

  on(event: EventName, listener: AnyListener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    this.ensureOpen();
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(event);
      if (this.listeners.size === 0) this.shutdown();
    };
  }

  private ensureOpen(): void {
    if (this.ws || this.timer) return;
    let ws: WebSocket;
    try {
      ws = new this.WS(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 0;
    };
    ws.onmessage = (msg: MessageEvent) => {
      if (typeof msg.data !== 'string') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(msg.data);
      } catch {
        return;
      }
      const { event, payload } = (parsed ?? {}) as { event?: unknown; payload?: unknown };
      if (!isEventName(event)) return;
      for (const listener of this.listeners.get(event) ?? []) {
        try {
          listener(payload);
        } catch (err) {
          console.error('[vigil] event listener failed', err);
        }
      }
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (this.listeners.size > 0) this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
  }

  private scheduleReconnect(): void {
    if (this.timer) return;
    const delay = Math.min(5000, 250 * 2 ** this.retry++);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.listeners.size > 0) this.ensureOpen();
    }, delay);
  }

  private shutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }
}

export function createBridgeVigil(options: BridgeClientOptions = {}): VigilApi {
  const base = new URL(options.baseUrl ?? '/', window.location.href);
  const token = options.token ?? readBridgeToken();
  const doFetch = options.fetch ?? window.fetch.bind(window);
  const url = (path: string, query: Record<string, string> = {}): string => {
    const u = new URL(path.replace(/^\//, ''), base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.toString();
  };
  const headers = { 'x-vigil-token': token };

  const wsUrl = new URL('api/events', base);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  wsUrl.searchParams.set('token', token);
  const socket = new EventSocket(wsUrl.toString(), options.WebSocket ?? window.WebSocket);

  const invokeApi = buildInvokeApi({
    async invoke(channel, request) {
      try {
        const response = await doFetch(url('/api/invoke'), {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ channel, payload: request }),
        });
        return await readResult(response);
      } catch (err) {
        return networkError(err);
      }
    },
  });

  const resolveDroppedFiles = async (files: readonly DroppedFile[]): Promise<Result<{ paths: string[] }>> => {
    if (files.length === 0) return { ok: true, value: { paths: [] } };
    const batch = randomId();
    const names = stagingPaths(files);
    let next = 0;
    const state: { failure: Result<never> | null } = { failure: null };
    const worker = async (): Promise<void> => {
      while (state.failure === null && next < files.length) {
        const index = next++;
        const file = files[index]?.file;
        if (!(file instanceof Blob)) {
          state.failure = { ok: false, error: { code: 'BAD_REQUEST', message: `Not a file: ${names[index] ?? ''}` } };
          return;
        }
        try {
          const response = await doFetch(url('/api/upload', { relativePath: names[index] ?? '', batch }), {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/octet-stream' },
            body: file,
          });
          const result = await readResult(response);
          if (!result.ok) state.failure = { ok: false, error: result.error };
        } catch (err) {
          state.failure = networkError(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, files.length) }, worker));
    if (state.failure) return state.failure;
    try {
      const response = await doFetch(url('/api/upload/commit', { batch }), { method: 'POST', headers });
      return await readResult<{ paths: string[] }>(response);
    } catch (err) {
      return networkError(err);
    }
  };

  return {
    ...invokeApi,
    host: 'bridge',
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      return socket.on(event, listener as AnyListener);
    },
    resolveDroppedFiles,
    instanceUrl(sopInstanceUid: string): string {
      return url(`/dicom/instances/${encodeURIComponent(sopInstanceUid)}`, { token });
    },
    resultUrl(resultId: number, file: string): string {
      return url(`/results/${encodeURIComponent(String(resultId))}/${encodeURIComponent(file)}`, { token });
    },
  };
}
