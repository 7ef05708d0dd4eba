/**
 * Who does the CPU work of display transcoding (display-transcode-runner.ts)
 * for openDisplayBytes:
 *
 *  - DisplayTranscodePool: worker threads, so decoding frames never blocks the
 *    event loop of the process serving them (Electron's main process for
 *    `vigil://`, the bridge). Started on the first request, up to `size`
 *    threads; terminated after `idleMs` without work; a thread that dies (out
 *    of memory on a hostile file) or does not answer within
 *    `requestTimeoutMs` fails the requests it held with a DisplayTranscodeError
 *    (WORKER_CRASHED / WORKER_TIMEOUT) and the next request starts a fresh one.
 *  - inThreadTranscoder: the same runner on the calling thread (a one-shot
 *    tool; the reference the pool's bytes are compared with in tests).
 *
 * The worker script: display-transcode-worker.js beside the bundle (out/main,
 * out/node; the packaged app passes its app.asar.unpacked copy). Running from
 * source (vitest) there is none: display-transcode-worker.ts is bundled with
 * esbuild on first use into node_modules/.cache/vigil-workers/.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { DisplayTranscodeError, type TranscodeStep } from './display-transcode';
import {
  DisplayTranscodeRunner,
  type PlanSummary,
  type TranscodeEnvelope,
  type TranscodeReplyEnvelope,
  type TranscodeRequest,
  type TranscodeResult,
  type TranscodeSource,
  errorOf,
} from './display-transcode-runner';

export type { TranscodeSource } from './display-transcode-runner';

/** A planned transcoding, on the thread that serves it; its frames are produced by whoever planned it. */
export interface DisplayTranscode {
  steps: TranscodeStep[];
  transferSyntaxUid: string;
  /** Dataset elements before the pixel data, then the pixel data element header. */
  head: Buffer;
  frames: number;
  frameBytes: number;
  /** One zero byte after the frames. */
  pad: boolean;
  /** Elements after the pixel data. */
  tail: Buffer;
  /** Frame 1, decoded while planning (null when planned without the check). */
  firstFrame: Uint8Array | null;
  /** Served frame `f` (0-based). */
  frame(f: number): Promise<Uint8Array>;
}

export interface DisplayTranscoder {
  /** The transcoding `source` needs for display (its dataset starting at `datasetStart`), or null when none. */
  plan(source: TranscodeSource, datasetStart: number, options: { verifyFirstFrame: boolean }): Promise<DisplayTranscode | null>;
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** A DisplayTranscode whose work is done by `run` (on this thread or in a worker). */
function transcodeOf(summary: PlanSummary, source: TranscodeSource, datasetStart: number, run: (request: TranscodeRequest) => Promise<TranscodeResult>): DisplayTranscode {
  return {
    steps: summary.steps,
    transferSyntaxUid: summary.transferSyntaxUid,
    head: asBuffer(summary.head),
    frames: summary.frames,
    frameBytes: summary.frameBytes,
    pad: summary.pad,
    tail: asBuffer(summary.tail),
    firstFrame: summary.firstFrame,
    frame: async (f) => {
      const result = await run({ op: 'frame', source, datasetStart, frame: f });
      if (!result.ok) throw errorOf(result.error);
      if (!('frame' in result)) throw new DisplayTranscodeError(`frame ${f + 1}: the transcoder answered with a plan`, 'WORKER_CRASHED');
      return result.frame;
    },
  };
}

async function planWith(run: (request: TranscodeRequest) => Promise<TranscodeResult>, source: TranscodeSource, datasetStart: number, verifyFirstFrame: boolean): Promise<DisplayTranscode | null> {
  const result = await run({ op: 'plan', source, datasetStart, verifyFirstFrame });
  if (!result.ok) throw errorOf(result.error);
  if (!('plan' in result)) throw new DisplayTranscodeError('the transcoder answered a plan request with a frame', 'WORKER_CRASHED');
  return result.plan ? transcodeOf(result.plan, source, datasetStart, run) : null;
}

/** Transcodes on the calling thread. */
export function inThreadTranscoder(): DisplayTranscoder {
  const runner = new DisplayTranscodeRunner();
  const run = (request: TranscodeRequest): Promise<TranscodeResult> => runner.run(request);
  return { plan: (source, datasetStart, { verifyFirstFrame }) => planWith(run, source, datasetStart, verifyFirstFrame) };
}

// ---------------------------------------------------------------- worker script

const requireHere = createRequire(import.meta.url);
const WORKER_FILE = 'display-transcode-worker.js';
let sourceBuild: Promise<URL> | null = null;

/**
 * Running from source: bundles display-transcode-worker.ts (esbuild, a
 * development dependency) once per process into node_modules/.cache, named by
 * content hash so that processes running side by side share it. Codecs stay
 * external (resolved from node_modules, as the source modules do).
 */
async function workerBuiltFromSource(): Promise<URL> {
  const esbuildName = 'esbuild'; // not a literal import: the bundles must never pull esbuild in
  const { build } = (await import(esbuildName)) as typeof import('esbuild');
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./display-transcode-worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    external: ['electron', '@cornerstonejs/codec-*', '@cornerstonejs/jpeg-lossless-decoder-js'],
    banner: { js: "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);" },
  });
  const code = result.outputFiles[0]!.contents;
  const dir = fileURLToPath(new URL('../../../node_modules/.cache/vigil-workers/', import.meta.url));
  const file = `${dir}display-transcode-worker-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(partial, code);
    renameSync(partial, file);
  }
  return pathToFileURL(file);
}

/** The worker script: the bundled one beside this module, else (running from source) one built from the source. */
export async function defaultDisplayTranscodeWorkerUrl(): Promise<URL> {
  const beside = new URL(`./${WORKER_FILE}`, import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  if (!import.meta.url.endsWith('.ts')) throw new DisplayTranscodeError(`the display transcode worker is missing from this build (${fileURLToPath(beside)})`, 'WORKER_UNAVAILABLE');
  sourceBuild ??= workerBuiltFromSource();
  sourceBuild.catch(() => {
    sourceBuild = null;
  });
  return sourceBuild;
}

// ---------------------------------------------------------------- the pool

export interface DisplayTranscodePoolOptions {
  /** Worker script (default: defaultDisplayTranscodeWorkerUrl()). */
  workerUrl?: URL;
  /** Threads at most (default: 2, fewer on a machine with fewer than 3 cores). */
  size?: number;
  /** Threads are terminated after this long without a request (default 30 s). */
  idleMs?: number;
  /** A request not answered within this is failed and its thread replaced (default 120 s: a 512 MiB frame decodes in seconds). */
  requestTimeoutMs?: number;
  /** Data passed to each worker (a test's fault-injecting wrapper script reads it). */
  workerData?: unknown;
}

interface Pending {
  resolve(result: TranscodeResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
  /** Source keys this thread planned or produced frames of recently (its runner holds their plans). */
  recent: string[];
  /** The thread has ended (or is being ended): it takes no more requests. */
  gone: boolean;
}

let WorkerClass: typeof Worker | null = null;

const RECENT_SOURCES = 8;

function sourceAffinityKey(request: TranscodeRequest): string {
  const s = request.source;
  return s.kind === 'file' ? `${s.path}\0${s.size}\0${s.mtimeMs}` : s.id;
}

export class DisplayTranscodePool implements DisplayTranscoder {
  private readonly slots: Slot[] = [];
  private readonly size: number;
  private readonly idleMs: number;
  private readonly requestTimeoutMs: number;
  private workerUrl: Promise<URL> | null = null;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Threads started so far (tests, diagnostics). */
  started = 0;

  constructor(private readonly options: DisplayTranscodePoolOptions = {}) {
    this.size = Math.max(1, Math.trunc(options.size ?? Math.min(2, Math.max(1, availableParallelism() - 1))));
    this.idleMs = options.idleMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  }

  /** Threads running now. */
  get threads(): number {
    return this.slots.filter((s) => !s.gone).length;
  }

  plan(source: TranscodeSource, datasetStart: number, { verifyFirstFrame }: { verifyFirstFrame: boolean }): Promise<DisplayTranscode | null> {
    return planWith((request) => this.request(request), source, datasetStart, verifyFirstFrame);
  }

  /** Terminates the threads; requests still in flight fail with WORKER_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdleTimer();
    await Promise.all([...this.slots].map((slot) => this.end(slot, new DisplayTranscodeError('the display transcoder was closed', 'WORKER_CLOSED'))));
  }

  private async request(request: TranscodeRequest): Promise<TranscodeResult> {
    if (this.closed) throw new DisplayTranscodeError('the display transcoder was closed', 'WORKER_CLOSED');
    this.clearIdleTimer();
    let url: URL;
    try {
      url = await (this.workerUrl ??= this.options.workerUrl ? Promise.resolve(this.options.workerUrl) : defaultDisplayTranscodeWorkerUrl());
    } catch (err) {
      this.workerUrl = null;
      this.scheduleIdle();
      if (err instanceof DisplayTranscodeError) throw err;
      throw new DisplayTranscodeError(`the display transcode worker could not be prepared: ${err instanceof Error ? err.message : String(err)}`, 'WORKER_UNAVAILABLE');
    }
    if (this.closed) throw new DisplayTranscodeError('the display transcoder was closed', 'WORKER_CLOSED');
    const key = sourceAffinityKey(request);
    let slot: Slot;
    try {
      slot = this.pick(url, key);
    } catch (err) {
      throw new DisplayTranscodeError(`the display transcode worker could not be started: ${err instanceof Error ? err.message : String(err)}`, 'WORKER_UNAVAILABLE');
    }
    slot.recent = [key, ...slot.recent.filter((k) => k !== key)].slice(0, RECENT_SOURCES);
    const id = this.nextId++;
    return new Promise<TranscodeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        const seconds = Math.round(this.requestTimeoutMs / 100) / 10;
        reject(new DisplayTranscodeError(`the display transcode worker did not answer within ${seconds} s (${request.op}${request.op === 'frame' ? ` ${request.frame + 1}` : ''})`, 'WORKER_TIMEOUT'));
        slot.inFlight.delete(id);
        void this.end(slot, new DisplayTranscodeError('its display transcode worker was stopped: another request on it hung', 'WORKER_CRASHED'));
      }, this.requestTimeoutMs);
      slot.inFlight.set(id, { resolve, reject, timer });
      // A thread with work keeps the process alive; an idle one does not.
      slot.worker.ref();
      const envelope: TranscodeEnvelope = { id, request };
      slot.worker.postMessage(envelope);
    });
  }

  /** The least busy thread (one that holds this source's plan on a tie), starting another while all are busy and there is room. */
  private pick(url: URL, key: string): Slot {
    const live = this.slots.filter((s) => !s.gone);
    const idle = live.filter((s) => s.inFlight.size === 0);
    const preferred = idle.find((s) => s.recent.includes(key)) ?? idle[0];
    if (preferred) return preferred;
    if (live.length < this.size) return this.start(url);
    const least = Math.min(...live.map((s) => s.inFlight.size));
    const candidates = live.filter((s) => s.inFlight.size === least);
    return candidates.find((s) => s.recent.includes(key)) ?? candidates[0]!;
  }

  private start(url: URL): Slot {
    WorkerClass ??= (requireHere('node:worker_threads') as typeof import('node:worker_threads')).Worker;
    const worker = new WorkerClass(url, { workerData: this.options.workerData });
    this.started++;
    const slot: Slot = { worker, inFlight: new Map(), recent: [], gone: false };
    worker.on('message', (reply: TranscodeReplyEnvelope) => {
      const pending = slot.inFlight.get(reply.id);
      if (!pending) return; // timed out already
      slot.inFlight.delete(reply.id);
      clearTimeout(pending.timer);
      pending.resolve(reply.result);
      this.settled(slot);
    });
    worker.on('error', (err: Error) => {
      void this.end(slot, new DisplayTranscodeError(`the display transcode worker crashed: ${err.message}`, 'WORKER_CRASHED'));
    });
    worker.on('exit', (code: number) => {
      void this.end(slot, new DisplayTranscodeError(`the display transcode worker exited (code ${code})`, 'WORKER_CRASHED'));
    });
    this.slots.push(slot);
    return slot;
  }

  /** After a reply: an idle thread no longer keeps the process alive; with no work anywhere, the idle countdown starts. */
  private settled(slot: Slot): void {
    if (slot.inFlight.size === 0 && !slot.gone) slot.worker.unref();
    this.scheduleIdle();
  }

  /** Fails what `slot` holds with `reason` and ends its thread (idempotent: 'error' is followed by 'exit'). */
  private async end(slot: Slot, reason: DisplayTranscodeError): Promise<void> {
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots.splice(index, 1);
    const wasGone = slot.gone;
    slot.gone = true;
    for (const pending of slot.inFlight.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    slot.inFlight.clear();
    this.scheduleIdle();
    if (!wasGone) await slot.worker.terminate();
  }

  private scheduleIdle(): void {
    if (this.closed || this.idleTimer || this.slots.some((s) => s.inFlight.size > 0) || this.slots.length === 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.slots.some((s) => s.inFlight.size > 0)) return;
      for (const slot of [...this.slots]) void this.end(slot, new DisplayTranscodeError('the display transcode worker was stopped while idle', 'WORKER_CLOSED'));
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

let shared: DisplayTranscodePool | null = null;

/** The process's pool for callers that bring none (its threads start on first use and end when idle). */
export function sharedDisplayTranscodePool(): DisplayTranscodePool {
  return (shared ??= new DisplayTranscodePool());
}
