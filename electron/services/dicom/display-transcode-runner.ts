/**
 * The CPU-heavy half of display transcoding, as requests that can cross a
 * thread boundary: plan the transcoding of a file (header re-encoding, codec
 * loading, frame 1 decoded as a check) and produce its frames one at a time.
 *
 * A request names its source (a stored file by identity, or an inflated
 * dataset in shared memory) instead of holding a plan object, so any thread
 * can answer it: the runner keeps recent plans of files (bounded) and plans
 * again, without decoding, when a frame of a file it has not planned is asked
 * for (another worker planned it, or this one was restarted). Plans of
 * in-memory sources are never kept: a plan holds its dataset, and an inflated
 * dataset kept here would escape the display cache's memory limit; each frame
 * of one is planned again from the shared bytes.
 *
 * display-transcode-worker.ts runs one in each worker thread of
 * DisplayTranscodePool; the in-thread transcoder runs one on the calling
 * thread (the reference the worker's bytes are compared with). No electron import.
 */
import { BufferByteSource, type ByteSource, FileByteSource } from './byte-source';
import { readDicom } from './dicom-dataset-reader';
import { DisplayTranscodeError, type TranscodePlan, type TranscodeStep, planDisplayTranscode } from './display-transcode';

/** Where the bytes to transcode are. */
export type TranscodeSource =
  /** A stored file, as stat() saw it when the request was made. */
  | { kind: 'file'; path: string; size: number; mtimeMs: number }
  /** A dataset held in memory (an inflated deflated file): `id` names this buffer for as long as it lives. */
  | { kind: 'buffer'; id: string; bytes: SharedArrayBuffer };

export type TranscodeRequest =
  | { op: 'plan'; source: TranscodeSource; datasetStart: number; verifyFirstFrame: boolean }
  | { op: 'frame'; source: TranscodeSource; datasetStart: number; frame: number };

/** A plan without its frame producer: what crosses the thread boundary. */
export interface PlanSummary {
  steps: TranscodeStep[];
  transferSyntaxUid: string;
  head: Uint8Array;
  frames: number;
  frameBytes: number;
  pad: boolean;
  tail: Uint8Array;
  /** Frame 1, when it was decoded as a check. */
  firstFrame: Uint8Array | null;
}

/** An error as it crosses the thread boundary. */
export interface TranscodeFailure {
  name: string;
  message: string;
  code: DisplayTranscodeError['code'] | null;
}

export type TranscodeResult = { ok: true; plan: PlanSummary | null } | { ok: true; frame: Uint8Array } | { ok: false; error: TranscodeFailure };

/** Messages between DisplayTranscodePool and its workers. */
export interface TranscodeEnvelope {
  id: number;
  request: TranscodeRequest;
}
export interface TranscodeReplyEnvelope {
  id: number;
  result: TranscodeResult;
}

/** Plans of files kept per runner: a few files being streamed at once. */
const MAX_PLANS = 8;

function sourceKey(source: TranscodeSource, datasetStart: number): string {
  return source.kind === 'file' ? `file\0${source.path}\0${source.size}\0${source.mtimeMs}\0${datasetStart}` : `buffer\0${source.id}\0${datasetStart}`;
}

function openSource(source: TranscodeSource): ByteSource {
  return source.kind === 'file' ? new FileByteSource(source.path, source.size) : new BufferByteSource(Buffer.from(source.bytes));
}

export function failureOf(err: unknown): TranscodeFailure {
  if (err instanceof DisplayTranscodeError) return { name: err.name, message: err.message, code: err.code };
  if (err instanceof Error) return { name: err.name, message: err.message, code: null };
  return { name: 'Error', message: String(err), code: null };
}

/** The error a failure stands for: a DisplayTranscodeError keeps its class and code. */
export function errorOf(failure: TranscodeFailure): Error {
  if (failure.name === 'DisplayTranscodeError') return new DisplayTranscodeError(failure.message, failure.code ?? 'TRANSCODE_FAILED');
  const err = new Error(failure.message);
  err.name = failure.name;
  return err;
}

/** Buffers a result can hand over instead of copying: frames that own their whole ArrayBuffer (never a pooled slice). */
export function transferablesOf(result: TranscodeResult): ArrayBuffer[] {
  const own = (bytes: Uint8Array | null | undefined): ArrayBuffer[] =>
    bytes && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer] : [];
  if (!result.ok) return [];
  if ('frame' in result) return own(result.frame);
  return own(result.plan?.firstFrame);
}

export class DisplayTranscodeRunner {
  /** Source key -> plan of a stored file, least recently used first. */
  private readonly plans = new Map<string, { source: TranscodeSource; plan: TranscodePlan }>();

  /** The sources whose plans this runner holds, least recently used first (tests, diagnostics). */
  heldPlanSources(): TranscodeSource[] {
    return [...this.plans.values()].map((kept) => kept.source);
  }

  async run(request: TranscodeRequest): Promise<TranscodeResult> {
    try {
      if (request.op === 'plan') return { ok: true, plan: await this.plan(request.source, request.datasetStart, request.verifyFirstFrame) };
      return { ok: true, frame: await this.frame(request.source, request.datasetStart, request.frame) };
    } catch (err) {
      return { ok: false, error: failureOf(err) };
    }
  }

  private async plan(source: TranscodeSource, datasetStart: number, verifyFirstFrame: boolean): Promise<PlanSummary | null> {
    const plan = await this.makePlan(source, datasetStart, verifyFirstFrame);
    if (!plan) return null;
    return {
      steps: plan.steps,
      transferSyntaxUid: plan.transferSyntaxUid,
      head: plan.head,
      frames: plan.frames,
      frameBytes: plan.frameBytes,
      pad: plan.pad,
      tail: plan.tail,
      firstFrame: plan.firstFrame,
    };
  }

  private async frame(source: TranscodeSource, datasetStart: number, f: number): Promise<Uint8Array> {
    const key = sourceKey(source, datasetStart);
    const kept = this.plans.get(key);
    if (kept) {
      this.plans.delete(key);
      this.plans.set(key, kept);
    }
    const plan = kept?.plan ?? (await this.makePlan(source, datasetStart, false));
    if (!plan) throw new DisplayTranscodeError('the file no longer needs transcoding: it changed while it was being served');
    if (!Number.isInteger(f) || f < 0 || f >= plan.frames) throw new DisplayTranscodeError(`frame ${f + 1} asked for, the file has ${plan.frames}`);
    const src = openSource(source);
    try {
      return plan.frame(src, f);
    } finally {
      src.close();
    }
  }

  private async makePlan(source: TranscodeSource, datasetStart: number, verifyFirstFrame: boolean): Promise<TranscodePlan | null> {
    const src = openSource(source);
    let plan: TranscodePlan | null;
    try {
      plan = await planDisplayTranscode(readDicom(src), datasetStart, { verifyFirstFrame });
    } finally {
      src.close();
    }
    if (plan && source.kind === 'file') {
      const key = sourceKey(source, datasetStart);
      this.plans.delete(key);
      this.plans.set(key, { source, plan: { ...plan, firstFrame: null } }); // frame 1 is the caller's now; a later request decodes it again
      while (this.plans.size > MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
    }
    return plan;
  }
}
