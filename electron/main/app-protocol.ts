/**
 * The `vigil:` protocol. The renderer is never loaded from file://:
 *   vigil://app/<path>                    files of the built renderer folder
 *   vigil://dicom/instances/<sopUid>      DICOM bytes of one instance for display
 *                                         (services/dicom/display-bytes: the stored file,
 *                                         or an equivalent the viewer's loader can read;
 *                                         transcoding runs in the worker threads of the
 *                                         pool the app passes, never here in the main process)
 *   vigil://results/<resultId>/<file>     one array file (mask, heatmap) of an analysis result,
 *                                         gzip bytes as stored (the renderer inflates them)
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { CustomScheme, Protocol } from 'electron';
import { type InstanceFile, openDisplayBytes, REFERENCED_FILE_CHANGED_STATUS, ReferencedFileChangedError } from '../services/dicom/display-bytes';
import { DisplayBytesCache } from '../services/dicom/display-bytes-cache';
import { DisplayTranscodeError, transcodeFailureStatus } from '../services/dicom/display-transcode';
import type { DisplayTranscoder } from '../services/dicom/display-transcode-pool';
import { APP_HOST, APP_ORIGIN, APP_SCHEME, DICOM_HOST, RESULTS_HOST } from './app-urls';
import { CONTENT_SECURITY_POLICY } from './content-security-policy';
import { contentTypeFor } from '../services/content-types';

/** Must be registered before the app is ready. */
export const vigilScheme: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, stream: true },
};

export interface AppProtocolOptions {
  /** Folder holding the built renderer (index.html + assets). */
  rendererDir: string;
  /** The file of an instance's stored bytes (with the import record of a referenced original), or null if unknown. */
  instanceFile(sopInstanceUid: string): InstanceFile | null;
  /** Absolute path of a result's declared array file, or null (absent: no result files are served). */
  resultFile?(resultId: number, file: string): string | null;
  /** Transcodes instances for display: the app's DisplayTranscodePool (its owner closes it). */
  displayTranscoder: DisplayTranscoder;
  log?: (msg: string) => void;
}

export type ProtocolRequest = Pick<Request, 'url' | 'method'>;
export type ProtocolHandler = (request: ProtocolRequest) => Promise<Response>;

const MAX_UID_LENGTH = 64;

/** A plain-text answer; errorCode adds X-Vigil-Error-Code so the renderer can tell failures apart. */
function textResponse(status: number, text: string, errorCode?: string): Response {
  return new Response(text, {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...(errorCode === undefined ? {} : { 'X-Vigil-Error-Code': errorCode }) },
  });
}

async function regularFileSize(path: string): Promise<number | null> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : null;
  } catch {
    return null;
  }
}

/** Resolves a URL path inside root; null when it would leave root or is malformed. */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const relativePath = decoded === '' || decoded === '/' ? 'index.html' : decoded.replace(/^[/\\]+/, '');
  const rootDir = resolve(root);
  const target = resolve(rootDir, relativePath);
  return target.startsWith(rootDir + sep) ? target : null;
}

async function serveAsset(rendererDir: string, url: URL, method: string): Promise<Response> {
  const target = resolveInside(rendererDir, url.pathname);
  if (target === null) return textResponse(403, 'Forbidden');
  const size = await regularFileSize(target);
  if (size === null) return textResponse(404, 'Not found');
  const headers = {
    'Content-Type': contentTypeFor(target),
    'Content-Length': String(size),
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
  if (method === 'HEAD') return new Response(null, { status: 200, headers });
  return new Response(new Uint8Array(await readFile(target)), { status: 200, headers });
}

interface DisplayServing {
  cache: DisplayBytesCache;
  transcoder: DisplayTranscoder;
}

async function serveInstance(options: AppProtocolOptions, display: DisplayServing, url: URL, method: string): Promise<Response> {
  const match = /^\/instances\/([^/]+)$/.exec(url.pathname);
  if (!match?.[1]) return textResponse(404, 'Not found');
  let uid: string;
  try {
    uid = decodeURIComponent(match[1]);
  } catch {
    return textResponse(400, 'Malformed instance UID');
  }
  if (uid.length === 0 || uid.length > MAX_UID_LENGTH) return textResponse(400, 'Malformed instance UID');
  const file = options.instanceFile(uid);
  if (file === null) return textResponse(404, 'Unknown instance');
  let bytes: Awaited<ReturnType<typeof openDisplayBytes>>;
  try {
    bytes = await openDisplayBytes(file.path, { cache: display.cache, head: method === 'HEAD', transcoder: display.transcoder, reference: file.reference });
  } catch (err) {
    if (err instanceof ReferencedFileChangedError) {
      // Same code as the bridge's IO_ERROR answer; the message says to re-import.
      return textResponse(REFERENCED_FILE_CHANGED_STATUS, err.message, 'IO_ERROR');
    }
    if (!(err instanceof DisplayTranscodeError)) throw err;
    return textResponse(transcodeFailureStatus(err), `${err.code}: ${err.message}`, err.code);
  }
  if (bytes === null) return textResponse(404, 'Instance file is missing');
  const headers = {
    'Content-Type': bytes.contentType,
    'Content-Length': String(bytes.length),
    'Access-Control-Allow-Origin': APP_ORIGIN,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
  if (method === 'HEAD') return new Response(null, { status: 200, headers });
  const body = Readable.toWeb(bytes.stream()) as ReadableStream<Uint8Array>;
  return new Response(body, { status: 200, headers });
}

async function serveResultFile(options: AppProtocolOptions, url: URL, method: string): Promise<Response> {
  const match = /^\/(\d{1,12})\/([^/]+)$/.exec(url.pathname);
  if (!match?.[1] || !match[2] || !options.resultFile) return textResponse(404, 'Not found');
  let file: string;
  try {
    file = decodeURIComponent(match[2]);
  } catch {
    return textResponse(400, 'Malformed file name');
  }
  const path = options.resultFile(Number(match[1]), file);
  if (path === null) return textResponse(404, 'Unknown result file');
  const size = await regularFileSize(path);
  if (size === null) return textResponse(404, 'Result file is missing');
  const headers = {
    'Content-Type': 'application/gzip',
    'Content-Length': String(size),
    'Access-Control-Allow-Origin': APP_ORIGIN,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
  if (method === 'HEAD') return new Response(null, { status: 200, headers });
  return new Response(new Uint8Array(await readFile(path)), { status: 200, headers });
}

export function createProtocolHandler(options: AppProtocolOptions): ProtocolHandler {
  const log = options.log ?? ((msg: string) => console.error(msg));
  const display: DisplayServing = {
    /** How instances are served and their transcoded frames, between requests (bounded). */
    cache: new DisplayBytesCache(),
    transcoder: options.displayTranscoder,
  };
  return async (request) => {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return textResponse(405, 'Method not allowed');
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return textResponse(400, 'Bad request');
    }
    if (url.protocol !== `${APP_SCHEME}:`) return textResponse(404, 'Not found');
    try {
      switch (url.host.toLowerCase()) {
        case APP_HOST:
          return await serveAsset(options.rendererDir, url, method);
        case DICOM_HOST:
          return await serveInstance(options, display, url, method);
        case RESULTS_HOST:
          return await serveResultFile(options, url, method);
        default:
          return textResponse(404, 'Not found');
      }
    } catch (err) {
      log(`[vigil] protocol error for ${request.url}: ${err instanceof Error ? err.message : String(err)}`);
      return textResponse(500, 'Internal error');
    }
  };
}

/** Registers the privileged scheme; call before `app` is ready. */
export function registerVigilScheme(protocol: Pick<Protocol, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([vigilScheme]);
}

/** Installs the handler on the default session; returns the function that removes it. */
export function handleVigilProtocol(protocol: Pick<Protocol, 'handle' | 'unhandle'>, handler: ProtocolHandler): () => void {
  protocol.handle(APP_SCHEME, (request) => handler(request));
  return () => protocol.unhandle(APP_SCHEME);
}
