/**
 * The loopback test bridge: serves the built renderer and exposes the same
 * services the Electron main process hosts, over HTTP + WebSocket on 127.0.0.1,
 * so the UI can be driven from a headless browser. Dev/test only: the packaged
 * app never starts it, and it never imports electron.
 *
 * Security model: binds only 127.0.0.1; static renderer files load without the
 * token, every API route (invoke, events, upload, DICOM bytes) needs the
 * per-start random token; the Host header must be the loopback address (no
 * DNS rebinding); WebSocket upgrades must come from the bridge's own origin.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WebSocket, WebSocketServer } from 'ws';
import type { ErrorCode, Result, VigilError } from '../../contract/ipc-contract';
import { contentTypeFor } from '../services/content-types';
import { type InstanceFile, openDisplayBytes, REFERENCED_FILE_CHANGED_STATUS, ReferencedFileChangedError } from '../services/dicom/display-bytes';
import { DisplayBytesCache } from '../services/dicom/display-bytes-cache';
import { DisplayTranscodeError, transcodeFailureStatus } from '../services/dicom/display-transcode';
import { DisplayTranscodePool } from '../services/dicom/display-transcode-pool';
import { openVigilServices, type VigilServices } from '../services/vigil-services';

export const BRIDGE_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self' ws://127.0.0.1:*",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const MAX_INVOKE_BODY = 1024 * 1024;
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024 * 1024;
const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
const UID = /^[0-9A-Za-z._-]{1,64}$/;


export interface BridgeOptions {
  dataDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Folder with the built renderer (out/renderer). */
  rendererDir: string;
  importWorkerUrl?: URL;
  /** The display transcode worker script (display-transcode-worker.js beside the bridge bundle). */
  displayTranscodeWorkerUrl: URL;
  /** Worker threads for import; 0 parses in-process. Services' default when omitted. */
  importWorkers?: number;
  /** Bundled model packages (the repo's models/ under `npm run serve`); none when omitted, so tests control their models. */
  bundledModelsDir?: string;
  log?: (msg: string) => void;
}

export interface BridgeHandle {
  /** Base URL, e.g. http://127.0.0.1:5173/ (without the token). */
  readonly url: string;
  readonly token: string;
  readonly port: number;
  readonly services: VigilServices;
  close(): Promise<void>;
}

type Json = Result<unknown> | { ok: true; value: unknown };

function sendJson(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  sendJson(res, status, { ok: false, error: { code, message } });
}

/**
 * A display transcode failure in the contract's terms: the file's own data
 * (TRANSCODE_FAILED, 422) is IO_ERROR; a worker that died, hung, was closed or
 * is missing (WORKER_*, 503, worth retrying) is UNAVAILABLE. The specific
 * reason stays in the message, as the vigil:// handler's body has it.
 */
export function transcodeFailureError(err: DisplayTranscodeError): VigilError {
  return { code: err.code === 'TRANSCODE_FAILED' ? 'IO_ERROR' : 'UNAVAILABLE', message: `${err.code}: ${err.message}` };
}

/**
 * Turns a client-supplied relative path into safe path segments, or null.
 * Accepts "/" and "\" separators; rejects "..", NUL/control characters,
 * absolute paths, drive letters and empty results.
 */
export function sanitizeRelativePath(raw: string): string[] | null {
  if (raw.length === 0 || raw.length > 4096) return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(raw)) return null;
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:/.test(raw)) return null;
  const segments = raw.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) return null;
  for (const segment of segments) {
    if (segment === '..' || segment.length > 255) return null;
    if (/[:*?"<>|]/.test(segment)) return null;
    if (/[. ]$/.test(segment)) return null; // Windows silently strips these
  }
  return segments;
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

export async function startBridge(options: BridgeOptions): Promise<BridgeHandle> {
  const log = options.log ?? ((msg: string) => console.error(msg));
  const rendererDir = resolve(options.rendererDir);
  const services = await openVigilServices({
    dataDir: options.dataDir,
    host: 'bridge',
    importWorkers: options.importWorkers,
    importWorkerUrl: options.importWorkerUrl,
    ...(options.bundledModelsDir ? { modelsDir: options.bundledModelsDir } : {}),
    log,
  });
  const stagingRoot = join(services.dataDir, 'staging');
  /** How instances are served and their transcoded frames, between requests (bounded). */
  const displayCache = new DisplayBytesCache();
  /** Threads that transcode instances for display (started on the first file that needs it). */
  const displayTranscoder = new DisplayTranscodePool({ workerUrl: options.displayTranscodeWorkerUrl });
  const token = randomBytes(32).toString('hex');
  const tokenBuf = Buffer.from(token, 'utf8');
  let port = 0;

  const tokenOk = (candidate: string | null | undefined): boolean => {
    if (typeof candidate !== 'string') return false;
    const buf = Buffer.from(candidate, 'utf8');
    return buf.length === tokenBuf.length && timingSafeEqual(buf, tokenBuf);
  };
  const requestToken = (req: IncomingMessage, url: URL): string | null => {
    const header = req.headers['x-vigil-token'];
    if (typeof header === 'string') return header;
    return url.searchParams.get('token');
  };
  const hostOk = (req: IncomingMessage): boolean => {
    const host = req.headers.host;
    return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  };

  const readBody = (req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> =>
    new Promise((resolveBody, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) over = true;
        if (!over) chunks.push(chunk);
      });
      req.on('end', () => resolveBody(over ? 'too-large' : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  /** Staging batch folders removed once the import that read them finished (copy mode only). */
  const cleanupStaging = async (paths: readonly string[], storageMode: string | undefined): Promise<void> => {
    const mode = storageMode ?? services.library.storageMode;
    if (mode !== 'copy') return;
    for (const p of paths) {
      const abs = resolve(p);
      if (isInside(stagingRoot, abs) && dirname(abs) === stagingRoot) {
        await rm(abs, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  };

  /** Staging paths mean nothing to the user: show what they picked ("folder/file.dcm"). */
  const pickedPath = (p: string): string => {
    if (!p.startsWith(stagingRoot + sep)) return p;
    const rest = p.slice(stagingRoot.length + 1);
    const cut = rest.indexOf(sep);
    return cut >= 0 ? rest.slice(cut + 1) : rest;
  };
  const withPickedPaths = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null || !Array.isArray((value as { rejected?: unknown }).rejected)) return value;
    const v = value as { rejected: { path?: unknown }[] };
    return { ...v, rejected: v.rejected.map((r) => (typeof r.path === 'string' ? { ...r, path: pickedPath(r.path) } : r)) };
  };

  const handleInvoke = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, MAX_INVOKE_BODY);
    if (body === 'too-large') return sendError(res, 413, 'BAD_REQUEST', 'Request body too large.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', 'Body is not valid JSON.');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return sendError(res, 400, 'BAD_REQUEST', 'Body must be an object { channel, payload }.');
    }
    const { channel, payload } = parsed as { channel?: unknown; payload?: unknown };
    const result = await services.router.dispatch(channel, payload);
    if (result.ok && (channel === 'library.import' || channel === 'library.lastImport')) {
      result.value = withPickedPaths(result.value);
    }
    sendJson(res, 200, result);
    if (channel === 'library.import' && typeof payload === 'object' && payload !== null) {
      const { paths, storageMode } = payload as { paths?: unknown; storageMode?: string };
      if (Array.isArray(paths)) {
        void cleanupStaging(paths.filter((p): p is string => typeof p === 'string'), storageMode);
      }
    }
  };

  const handleUpload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const batch = url.searchParams.get('batch') ?? '';
    if (!BATCH_ID.test(batch)) return sendError(res, 400, 'BAD_REQUEST', 'Missing or invalid batch id.');
    const segments = sanitizeRelativePath(url.searchParams.get('relativePath') ?? '');
    if (!segments) return sendError(res, 400, 'BAD_REQUEST', 'Missing or unsafe relativePath.');
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_UPLOAD_BYTES) return sendError(res, 413, 'BAD_REQUEST', 'File too large.');
    const batchDir = join(stagingRoot, batch);
    const target = join(batchDir, ...segments);
    if (!isInside(batchDir, target)) return sendError(res, 400, 'BAD_REQUEST', 'Unsafe relativePath.');
    try {
      await mkdir(dirname(target), { recursive: true });
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_UPLOAD_BYTES) req.destroy(new Error('upload too large'));
      });
      await pipeline(req, createWriteStream(target));
      sendJson(res, 200, { ok: true, value: { bytes } });
    } catch (err) {
      await rm(target, { force: true }).catch(() => undefined);
      log(`[bridge] upload failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendError(res, 500, 'IO_ERROR', 'Could not store the uploaded file.');
    }
  };

  const handleCommit = async (res: ServerResponse, url: URL): Promise<void> => {
    const batch = url.searchParams.get('batch') ?? '';
    if (!BATCH_ID.test(batch)) return sendError(res, 400, 'BAD_REQUEST', 'Missing or invalid batch id.');
    const batchDir = join(stagingRoot, batch);
    const info = await stat(batchDir).catch(() => null);
    if (!info?.isDirectory()) return sendError(res, 404, 'NOT_FOUND', 'No files were uploaded in this batch.');
    sendJson(res, 200, { ok: true, value: { paths: [batchDir] } });
  };

  /** The same display bytes as the Electron `vigil://dicom/instances/<uid>` handler (services/dicom/display-bytes). */
  const handleInstance = async (req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> => {
    if (!UID.test(uid)) return sendError(res, 400, 'BAD_REQUEST', 'Invalid SOP Instance UID.');
    let file: InstanceFile | null = null;
    try {
      file = services.instanceFile(uid);
    } catch {
      file = null;
    }
    let bytes: Awaited<ReturnType<typeof openDisplayBytes>> = null;
    try {
      bytes = file
        ? await openDisplayBytes(file.path, { cache: displayCache, head: req.method === 'HEAD', transcoder: displayTranscoder, reference: file.reference })
        : null;
    } catch (err) {
      // A referenced file replaced since import (409): never served under the indexed patient.
      if (err instanceof ReferencedFileChangedError) return sendError(res, REFERENCED_FILE_CHANGED_STATUS, 'IO_ERROR', err.message);
      if (!(err instanceof DisplayTranscodeError)) throw err;
      // The file's own data (422), or the worker transcoding it died or hung (503, worth retrying).
      const error = transcodeFailureError(err);
      return sendError(res, transcodeFailureStatus(err), error.code, error.message);
    }
    if (!bytes) return sendError(res, 404, 'NOT_FOUND', 'Unknown instance.');
    res.writeHead(200, {
      'content-type': bytes.contentType,
      'content-length': bytes.length,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') return void res.end();
    bytes
      .stream()
      .on('error', () => res.destroy())
      .pipe(res);
  };

  /** The same bytes as the Electron `vigil://results/<resultId>/<file>` handler: a result's gzip array file. */
  const handleResultFile = async (req: IncomingMessage, res: ServerResponse, id: string, rawFile: string): Promise<void> => {
    let file: string;
    try {
      file = decodeURIComponent(rawFile);
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', 'Malformed file name.');
    }
    const path = services.resultFile(Number(id), file);
    const info = path ? await stat(path).catch(() => null) : null;
    if (!path || !info?.isFile()) return sendError(res, 404, 'NOT_FOUND', 'Unknown result file.');
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': info.size, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(path)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const handleStatic = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      return void res.end();
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', 'Malformed path.');
    }
    if (pathname.includes('\0')) return sendError(res, 400, 'BAD_REQUEST', 'Malformed path.');
    const segments = pathname.split('/').filter((s) => s !== '');
    if (segments.some((s) => s === '..' || s.includes('\\'))) {
      return sendError(res, 404, 'NOT_FOUND', 'Not found.');
    }
    let file = resolve(rendererDir, ...segments);
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
      return sendError(res, 404, 'NOT_FOUND', 'Not found.');
    }
    let info = statSync(file, { throwIfNoEntry: false });
    if (info?.isDirectory()) {
      file = join(file, 'index.html');
      info = statSync(file, { throwIfNoEntry: false });
    }
    if (!info?.isFile()) {
      if (segments.length === 0) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        return void res.end('The renderer is not built: run `npm run build:renderer`.');
      }
      return sendError(res, 404, 'NOT_FOUND', 'Not found.');
    }
    const type = contentTypeFor(file);
    res.writeHead(200, {
      'content-type': type,
      'content-length': info.size,
      'cache-control': type.startsWith('text/html') ? 'no-store' : 'no-cache',
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const server = createServer((req, res) => {
    res.setHeader('content-security-policy', BRIDGE_CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    res.setHeader('x-frame-options', 'DENY');
    if (!hostOk(req)) return sendError(res, 403, 'FORBIDDEN', 'Bad Host header.');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', 'Malformed URL.');
    }
    const path = url.pathname;
    const isApi = path === '/api' || path.startsWith('/api/') || path.startsWith('/dicom/') || path.startsWith('/results/');
    if (!isApi) return handleStatic(req, res, url);
    if (!tokenOk(requestToken(req, url))) {
      req.resume();
      return sendError(res, 403, 'FORBIDDEN', 'Missing or invalid bridge token.');
    }
    const run = async (): Promise<void> => {
      if (path === '/api/invoke' && req.method === 'POST') return handleInvoke(req, res);
      if (path === '/api/upload' && req.method === 'POST') return handleUpload(req, res, url);
      if (path === '/api/upload/commit' && req.method === 'POST') return handleCommit(res, url);
      const instance = /^\/dicom\/instances\/([^/]+)$/.exec(path);
      if (instance && (req.method === 'GET' || req.method === 'HEAD')) {
        let uid: string;
        try {
          uid = decodeURIComponent(instance[1] ?? '');
        } catch {
          return sendError(res, 400, 'BAD_REQUEST', 'Malformed UID.');
        }
        return handleInstance(req, res, uid);
      }
      const resultMatch = /^\/results\/(\d{1,12})\/([^/]+)$/.exec(path);
      if (resultMatch && (req.method === 'GET' || req.method === 'HEAD')) return handleResultFile(req, res, resultMatch[1] ?? '', resultMatch[2] ?? '');
      req.resume();
      sendError(res, 404, 'NOT_FOUND', 'Unknown API route.');
    };
    run().catch((err: unknown) => {
      log(`[bridge] request failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'Internal error; details were written to the bridge log.');
      else res.destroy();
    });
  });
  // Imports answer when they finish; never cut a long request short.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Set<WebSocket>();
  const unsubscribe = services.events.subscribe((event, payload) => {
    const message = JSON.stringify({ event, payload });
    for (const ws of clients) {
      if (ws.readyState === WebSocket.OPEN) ws.send(message);
    }
  });
  server.on('upgrade', (req, socket, head) => {
    const reject = (status: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    } catch {
      return reject('400 Bad Request');
    }
    if (url.pathname !== '/api/events') return reject('404 Not Found');
    const origin = req.headers.origin;
    const originOk = origin === undefined || origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
    if (!hostOk(req) || !originOk || !tokenOk(requestToken(req, url))) return reject('403 Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      // The channel is server -> client only; ignore anything the page sends.
      ws.on('message', () => undefined);
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  if (!existsSync(join(rendererDir, 'index.html'))) {
    log(`[bridge] warning: no renderer build at ${rendererDir} (run \`npm run build:renderer\`).`);
  }

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}/`,
    token,
    port,
    services,
    close: () => {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of clients) ws.terminate();
        clients.clear();
        wss.close();
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        await displayTranscoder.close();
        await services.close();
      })();
      return closing;
    },
  };
}
