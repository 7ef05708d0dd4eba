/**
 * Display transcoding off the serving thread (display-transcode-pool.ts): the
 * worker threads produce exactly the bytes the in-thread transcoder does (real
 * files from ../shared/data and synthetic ones), the serving event loop keeps
 * turning while they work, and a worker that dies or hangs fails only the
 * request it held, with a typed error, while the next request succeeds; a
 * request waiting for a busy thread is not timed out for waiting.
 * Runs the bundled worker, out/node/display-transcode-worker.js (ensureBuilt).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProtocolHandler } from '../../electron/main/app-protocol';
import { type DisplayBytes, displayBytesBuffer, openDisplayBytes } from '../../electron/services/dicom/display-bytes';
import { DisplayBytesCache } from '../../electron/services/dicom/display-bytes-cache';
import { DisplayTranscodeError } from '../../electron/services/dicom/display-transcode';
import { type DisplayTranscoder, DisplayTranscodePool, type DisplayTranscodePoolOptions, inThreadTranscoder } from '../../electron/services/dicom/display-transcode-pool';
import { type DicomElementSpec, encodeElements, filePreambleAndMeta } from '../fixtures/synthetic-dicom';
import { ensureBuilt, repoRoot } from './helpers';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const SC = '1.2.840.10008.5.1.4.1.1.7';

/** The worker script the bridge runs (the app runs its out/main twin). */
const WORKER = pathToFileURL(join(repoRoot, 'out/node/display-transcode-worker.js'));

let dir: string;
let counter = 0;
const pools: DisplayTranscodePool[] = [];
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'vigil-transcode-pool-'));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

function pool(options: Partial<DisplayTranscodePoolOptions> = {}): DisplayTranscodePool {
  const p = new DisplayTranscodePool({ workerUrl: WORKER, ...options });
  pools.push(p);
  return p;
}

function write(bytes: Buffer): string {
  const path = join(dir, `f${++counter}.dcm`);
  writeFileSync(path, bytes);
  return path;
}

interface NativeImage {
  rows: number;
  columns: number;
  frames: number;
  bitsAllocated: number;
  samples?: number;
  photometric?: string;
  /** Pixel element tag and VR (default Pixel Data, OW/OB by Bits Allocated). */
  pixelTag?: number;
  pixelVr?: string;
}

/** A Part-10 file with native pixels given as the stored value bytes (already in the file's byte order). */
function nativeFile(s: NativeImage, ts: string, value: Uint8Array): Buffer {
  const uid = `1.2.826.0.1.3680043.10.1138.881.${++counter}`;
  const elements: DicomElementSpec[] = [
    { tag: 0x00080016, vr: 'UI', value: SC },
    { tag: 0x00080018, vr: 'UI', value: uid },
    { tag: 0x00080060, vr: 'CS', value: 'OT' },
    { tag: 0x00280002, vr: 'US', value: s.samples ?? 1 },
    { tag: 0x00280004, vr: 'CS', value: s.photometric ?? 'MONOCHROME2' },
    { tag: 0x00280008, vr: 'IS', value: String(s.frames) },
    { tag: 0x00280010, vr: 'US', value: s.rows },
    { tag: 0x00280011, vr: 'US', value: s.columns },
    { tag: 0x00280100, vr: 'US', value: s.bitsAllocated },
    { tag: 0x00280101, vr: 'US', value: s.bitsAllocated },
    { tag: 0x00280102, vr: 'US', value: s.bitsAllocated - 1 },
    { tag: 0x00280103, vr: 'US', value: 0 },
    { tag: s.pixelTag ?? 0x7fe00010, vr: s.pixelVr ?? (s.bitsAllocated > 8 ? 'OW' : 'OB'), value },
  ];
  const deflated = ts === DEFLATED;
  const dataset = encodeElements(elements, true, ts !== EXPLICIT_BE);
  return Buffer.concat([filePreambleAndMeta(SC, uid, ts), deflated ? deflateRawSync(dataset) : dataset]);
}

/** `frames` frames of rows x columns 16-bit values, stored big endian. */
function bigEndianFile(rows: number, columns: number, frames: number): Buffer {
  const value = Buffer.alloc(rows * columns * frames * 2);
  for (let i = 0; i < rows * columns * frames; i++) value.writeUInt16BE((i * 7919) & 0xffff, i * 2);
  return nativeFile({ rows, columns, frames, bitsAllocated: 16 }, EXPLICIT_BE, value);
}

async function served(path: string, transcoder: DisplayTranscoder, cache?: DisplayBytesCache): Promise<{ out: DisplayBytes; bytes: Buffer }> {
  const out = await openDisplayBytes(path, { transcoder, ...(cache ? { cache } : {}) });
  if (!out) throw new Error(`${path} was not served`);
  return { out, bytes: await displayBytesBuffer(out) };
}

/** Serves `path` on this thread and through `workers`: the same description, the same bytes. */
async function expectSameAsInThread(path: string, workers: DisplayTranscoder): Promise<DisplayBytes> {
  const reference = await served(path, inThreadTranscoder());
  const threaded = await served(path, workers);
  expect(threaded.out.rewrite).toBe('transcoded');
  expect({ ...threaded.out, stream: null }).toEqual({ ...reference.out, stream: null });
  expect(threaded.bytes.length).toBe(threaded.out.length);
  expect(threaded.bytes.equals(reference.bytes)).toBe(true);
  return threaded.out;
}

describe('worker threads serve the bytes the calling thread would', () => {
  it('for synthetic files of each kind, the inflated (shared-memory) source included', async () => {
    const workers = pool();
    expect((await expectSameAsInThread(write(bigEndianFile(48, 64, 5)), workers)).transcoding).toEqual(['byte-swapped']);
    // Nine 3x3 1-bit frames (81 bits: frames off byte boundaries) in a deflated dataset.
    const bits = new Uint8Array(11).map((_, i) => (i * 0x5b) & 0xff);
    const deflated = write(nativeFile({ rows: 3, columns: 3, frames: 9, bitsAllocated: 1 }, DEFLATED, bits));
    expect((await expectSameAsInThread(deflated, workers)).transcoding).toEqual(['bits-unpacked']);
    const ybr = Uint8Array.from({ length: 4 * 4 * 2 * 2 }, (_, i) => (i * 37) & 0xff);
    expect((await expectSameAsInThread(write(nativeFile({ rows: 4, columns: 4, frames: 2, bitsAllocated: 8, samples: 3, photometric: 'YBR_FULL_422' }, EXPLICIT_LE, ybr)), workers)).transcoding).toEqual(['ybr-to-rgb']);
    const doubles = Buffer.alloc(2 * 3 * 3 * 8);
    for (let i = 0; i < 18; i++) doubles.writeDoubleLE(Math.PI * (i - 9), i * 8);
    const float = write(nativeFile({ rows: 3, columns: 3, frames: 2, bitsAllocated: 64, pixelTag: 0x7fe00009, pixelVr: 'OD' }, EXPLICIT_LE, doubles));
    expect((await expectSameAsInThread(float, workers)).transcoding).toEqual(['float-narrowed']);
    expect(workers.started).toBeGreaterThan(0);
  });

  it('with a cache: frames kept between requests are the ones the workers produced', async () => {
    const workers = pool();
    const path = write(bigEndianFile(16, 16, 4));
    const cache = new DisplayBytesCache();
    const first = await served(path, workers, cache);
    expect(cache.size.entries).toBe(5); // the description and four frames
    const again = await served(path, workers, cache);
    expect(again.out).toBe(first.out);
    expect(again.bytes.equals(first.bytes)).toBe(true);
    expect(again.bytes.equals((await served(path, inThreadTranscoder())).bytes)).toBe(true);
  });
});

const SHARED = resolve(__dirname, '../..', process.env.VIGIL_SHARED_DATA ?? '../shared/data');
/** Real files of several transcoded kinds (relative to ../shared/data). */
const REAL_FILES = [
  'dicom-dicomparser/dicomParser/CT1_UNC.explicit_big_endian.dcm', // byte-swapped, 512x512 16-bit
  'dicom-pydicom/pydicom-data/data/emri_small_big_endian.dcm', // byte-swapped, 10 frames
  'dicom-pydicom/pydicom-data/data/OBXXXX1A_expb_2frame.dcm', // byte-swapped palette colour, 2 frames
  'dicom-dicomparser/dicomParser/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm', // 12-bit JPEG, fragmented
  'dicom-pydicom/pydicom/test_files/SC_rgb_rle_32bit_2frame.dcm', // 32-bit colour RLE
  'dicom-syntax-matrix/wadoloader/US-YBR_FULL_422-EVRLE.dcm', // YBR_FULL_422
  'dicom-pydicom/pydicom-data/data/liver_nonbyte_aligned.dcm', // 1-bit frames off byte boundaries
];
const realPresent = REAL_FILES.filter((f) => existsSync(join(SHARED, f)));
if (realPresent.length < REAL_FILES.length) {
  console.warn(`[display-transcode-pool] SKIPPING ${REAL_FILES.length - realPresent.length} of ${REAL_FILES.length} real-file comparisons: missing under ${SHARED}: ${REAL_FILES.filter((f) => !realPresent.includes(f)).join(', ')}`);
}

describe.skipIf(realPresent.length === 0)('real files of ../shared/data', () => {
  it.each(realPresent)('%s: the same bytes from the workers as on this thread', { timeout: 60_000 }, async (file) => {
    await expectSameAsInThread(join(SHARED, file), pool());
  });
});

/** Wraps a transcoder: counts the event-loop turns (`ticks()`) that pass while each frame is being produced. */
function observed(inner: DisplayTranscoder, ticks: () => number, log: { frame: number; ticksWhileProduced: number }[]): DisplayTranscoder {
  return {
    plan: async (source, datasetStart, options) => {
      const planned = await inner.plan(source, datasetStart, options);
      if (!planned) return null;
      return {
        ...planned,
        frame: async (f) => {
          const before = ticks();
          const frame = await planned.frame(f);
          log.push({ frame: f, ticksWhileProduced: ticks() - before });
          return frame;
        },
      };
    },
  };
}

describe('the serving event loop keeps turning', () => {
  it('while the workers byte-swap a large multi-frame big-endian file (and not while this thread does)', { timeout: 120_000 }, async () => {
    const frames = 24;
    const path = write(bigEndianFile(768, 768, frames));
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      const inWorkers: { frame: number; ticksWhileProduced: number }[] = [];
      const threaded = await served(path, observed(pool(), () => ticks, inWorkers));
      const onThisThread: { frame: number; ticksWhileProduced: number }[] = [];
      const reference = await served(path, observed(inThreadTranscoder(), () => ticks, onThisThread));
      expect(threaded.bytes.equals(reference.bytes)).toBe(true);
      // Frame 1 was decoded while planning (the check); frames 2..24 were asked for as the stream was read.
      expect(inWorkers.map((e) => e.frame).sort((a, b) => a - b)).toEqual(Array.from({ length: frames - 1 }, (_, i) => i + 1));
      expect(onThisThread.map((e) => e.frame)).toEqual(inWorkers.map((e) => e.frame).sort((a, b) => a - b));
      // On this thread a frame is produced within one turn of the loop: no tick can pass.
      expect(onThisThread.every((e) => e.ticksWhileProduced === 0)).toBe(true);
      // In the workers the loop keeps turning while frames are produced (typically thousands of turns per
      // frame; a frame produced ahead may be ready before the loop gets a turn, so not necessarily every one).
      expect(inWorkers.some((e) => e.ticksWhileProduced > 0)).toBe(true);
      expect(inWorkers.reduce((sum, e) => sum + e.ticksWhileProduced, 0)).toBeGreaterThanOrEqual(frames - 1);
    } finally {
      ticking = false;
    }
  });
});

/** What the fault-injecting worker (test/fixtures/faulty-display-transcode-worker.mjs) does to the requests it matches. */
interface Fault {
  op: 'plan' | 'frame';
  frame?: number;
  kind: 'exit' | 'throw' | 'hang' | 'slow';
  /** For 'slow': how long the thread is kept busy before it answers. */
  ms?: number;
}

const faultyWorker = pathToFileURL(resolve(__dirname, '../fixtures/faulty-display-transcode-worker.mjs'));
/** A pool whose threads run the real worker with `fault` injected (the first matching request only, unless `every`). */
const faultyPool = (fault: Fault, extra: Partial<DisplayTranscodePoolOptions> = {}, every = false): DisplayTranscodePool =>
  pool({ workerUrl: faultyWorker, workerData: { realWorker: WORKER.href, fault, onceFlag: every ? null : join(dir, `fault-${++counter}`) }, ...extra });

/** The code of the DisplayTranscodeError `promise` fails with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DisplayTranscodeError);
    return (err as DisplayTranscodeError).code;
  }
  throw new Error('expected the request to fail');
}

describe('a worker that dies or hangs', () => {
  it('mid-stream: the stream fails with WORKER_CRASHED, the next request is served whole by a new worker', { timeout: 60_000 }, async () => {
    const path = write(bigEndianFile(32, 32, 6));
    const expected = (await served(path, inThreadTranscoder())).bytes;
    for (const kind of ['exit', 'throw'] as const) {
      const workers = faultyPool({ op: 'frame', frame: 3, kind }, { size: 1 });
      const out = await openDisplayBytes(path, { transcoder: workers });
      expect(await codeOf(displayBytesBuffer(out!))).toBe('WORKER_CRASHED');
      const again = await served(path, workers);
      expect(again.bytes.equals(expected)).toBe(true);
      expect(workers.started).toBe(2);
    }
  });

  it('a hung worker: WORKER_TIMEOUT for its request, then a fresh worker serves the next', { timeout: 60_000 }, async () => {
    const path = write(bigEndianFile(32, 32, 3));
    const workers = faultyPool({ op: 'frame', frame: 1, kind: 'hang' }, { size: 1, requestTimeoutMs: 1_500 });
    const out = await openDisplayBytes(path, { transcoder: workers });
    expect(await codeOf(displayBytesBuffer(out!))).toBe('WORKER_TIMEOUT');
    expect((await served(path, workers)).bytes.equals((await served(path, inThreadTranscoder())).bytes)).toBe(true);
    expect(workers.started).toBe(2);
  });

  it('while planning, behind vigil://: a 503 with the code, then the file is served', { timeout: 60_000 }, async () => {
    const path = write(bigEndianFile(8, 8, 2));
    const handle = createProtocolHandler({ rendererDir: dir, instanceFile: () => ({ path, reference: null }), displayTranscoder: faultyPool({ op: 'plan', kind: 'exit' }), log: () => undefined });
    const failed = await handle({ url: 'vigil://dicom/instances/1.2.3', method: 'GET' });
    expect(failed.status).toBe(503);
    expect(failed.headers.get('x-vigil-error-code')).toBe('WORKER_CRASHED');
    const ok = await handle({ url: 'vigil://dicom/instances/1.2.3', method: 'GET' });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals((await served(path, inThreadTranscoder())).bytes)).toBe(true);
  });
});

describe('requests waiting for a thread', () => {
  it('are not timed out for waiting: the countdown starts when a thread is given the request', { timeout: 60_000 }, async () => {
    // Every plan keeps the only thread busy for busyMs (legitimately: it answers), within the timeout of 2 x busyMs.
    const busyMs = 2_500;
    const requestTimeoutMs = 2 * busyMs;
    const workers = faultyPool({ op: 'plan', kind: 'slow', ms: busyMs }, { size: 1, requestTimeoutMs }, true);
    const files = [write(bigEndianFile(8, 8, 2)), write(bigEndianFile(8, 8, 3)), write(bigEndianFile(8, 8, 4))];
    const began = performance.now();
    const heads = Promise.all(files.map((path) => openDisplayBytes(path, { transcoder: workers, head: true })));
    await vi.waitFor(() => expect(workers.queued).toBe(2), { timeout: busyMs });
    const described = await heads;
    const elapsedMs = performance.now() - began;
    expect(described.map((out) => out?.transcoding)).toEqual([['byte-swapped'], ['byte-swapped'], ['byte-swapped']]);
    // The last one was made before the first was answered and answered after more than the timeout.
    expect(elapsedMs).toBeGreaterThan(requestTimeoutMs);
    expect(workers.started).toBe(1);
    expect(workers.queued).toBe(0);
  });

  it('behind a hung one: the hung request times out alone, the waiting one is served by a fresh thread', { timeout: 60_000 }, async () => {
    const workers = faultyPool({ op: 'plan', kind: 'hang' }, { size: 1, requestTimeoutMs: 3_000 });
    const hung = openDisplayBytes(write(bigEndianFile(8, 8, 2)), { transcoder: workers, head: true });
    // The first plan is on the thread (and hangs there) before the second is made.
    await vi.waitFor(() => expect(workers.threads).toBe(1));
    const waiting = openDisplayBytes(write(bigEndianFile(8, 8, 3)), { transcoder: workers, head: true });
    expect(await codeOf(hung)).toBe('WORKER_TIMEOUT');
    expect(await waiting).toMatchObject({ rewrite: 'transcoded', transcoding: ['byte-swapped'] });
    expect(workers.started).toBe(2);
  });
});

describe('pool lifecycle', () => {
  it('starts threads on first use, ends them when idle, and starts again for the next request', { timeout: 60_000 }, async () => {
    const workers = pool({ idleMs: 100 });
    expect(workers.threads).toBe(0);
    const path = write(bigEndianFile(8, 8, 2));
    await served(path, workers);
    expect(workers.threads).toBeGreaterThan(0);
    for (let i = 0; i < 100 && workers.threads > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(workers.threads).toBe(0);
    const startedBefore = workers.started;
    await served(path, workers);
    expect(workers.started).toBeGreaterThan(startedBefore);
  });

  it('a HEAD request plans without decoding a frame', async () => {
    const log: { frame: number; ticksWhileProduced: number }[] = [];
    const path = write(bigEndianFile(8, 8, 3));
    const out = await openDisplayBytes(path, { head: true, transcoder: observed(pool(), () => 0, log) });
    expect(out).toMatchObject({ rewrite: 'transcoded', transcoding: ['byte-swapped'] });
    expect(log).toEqual([]);
  });

  it('a closed pool refuses requests with WORKER_CLOSED', async () => {
    const workers = pool();
    await workers.close();
    await expect(openDisplayBytes(write(bigEndianFile(8, 8, 1)), { transcoder: workers })).rejects.toMatchObject({ code: 'WORKER_CLOSED' });
  });
});
