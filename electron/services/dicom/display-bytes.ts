/**
 * The bytes of a stored instance as they are served for display (Electron
 * `vigil://dicom/instances/<uid>` and the bridge's `/dicom/instances/<uid>`).
 *
 * Almost always the stored file, streamed as is. Some encodings are valid
 * DICOM that the viewer's loader (Cornerstone's dicom-image-loader + dicomParser)
 * cannot read; those are rewritten on the fly into an equivalent Part-10 stream
 * it can read. The stored file is never modified:
 *
 *  - Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99): the dataset is
 *    inflated and the file meta rewritten (TransferSyntaxUID = Explicit VR
 *    Little Endian, FileMetaInformationGroupLength recomputed). The loader
 *    otherwise fails ("no pixel data").
 *  - File meta without the 128-byte preamble and "DICM": a zero preamble and
 *    "DICM" are put in front (dicomParser requires them).
 *  - A bare dataset (no file meta at all): a preamble and a minimal file meta
 *    are put in front, with the transfer syntax the dataset is encoded in
 *    (sniffed as the metadata reader does) and the SOP Class/Instance UIDs.
 *  - Encodings whose pixels the loader misreads (big endian, 12-bit JPEG, 32-bit
 *    and 16-bit colour RLE, 1-bit frames off byte boundaries, uncompressed
 *    YBR_FULL_422, segmented palettes, Double Float Pixel Data, a dataset whose
 *    VR encoding is not the declared one): 'transcoded' to native little endian
 *    by display-transcode.ts; `transcoding` lists the steps. The header is built
 *    once, the frames are produced one at a time as the stream is read (one
 *    frame ahead). That work runs in worker threads (display-transcode-pool.ts),
 *    never on the event loop serving the request: reading the header and
 *    deciding whether a file needs it are all that happen here.
 *
 * A file indexed in place (a 'reference' row) is served only while it is still
 * the file imported: same size and modification time as recorded at import,
 * and still readable as DICOM. Otherwise ReferencedFileChangedError: another
 * image saved under that name must never be shown under the indexed patient.
 * Managed copies are content-addressed and not checked.
 *
 * With a DisplayBytesCache (the endpoints pass one), a repeated request for an
 * unchanged file (same path, size, mtime, ctime) reuses how it is served and the
 * frames already transcoded; a HEAD request (`head: true`) needs only the
 * length and decodes nothing.
 *
 * Plain Node: no electron import (the protocol handler and the bridge both use it).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { inflateRaw, inflate } from 'node:zlib';
import { BufferByteSource, FileByteSource } from './byte-source';
import type { DisplayBytesCache, FileIdentity } from './display-bytes-cache';
import { type DicomFileInfo, readDicom, Tag } from './dicom-dataset-reader';
import { type TranscodeStep, mayNeedDisplayTranscode } from './display-transcode';
import type { DisplayTranscode, DisplayTranscoder } from './display-transcode-pool';
import { TS } from './transfer-syntax';

export const DICOM_CONTENT_TYPE = 'application/dicom';

/** Refuse to inflate a deflated dataset beyond this (a zip bomb must not take the app down). */
export const MAX_INFLATED_BYTES = 2 * 1024 * 1024 * 1024 - 1;

const inflateRawAsync = promisify(inflateRaw);
const inflateAsync = promisify(inflate);

export type DisplayRewrite = 'none' | 'inflated' | 'added-preamble' | 'added-file-meta' | 'added-transfer-syntax' | 'transcoded';
export type { TranscodeStep } from './display-transcode';

export interface DisplayBytes {
  readonly contentType: typeof DICOM_CONTENT_TYPE;
  /** Exact number of bytes `stream()` yields. */
  readonly length: number;
  /** What was done to the stored bytes ('none': served as stored). */
  readonly rewrite: DisplayRewrite;
  /** Transfer syntax of the served stream ('' when unknown: served as stored). */
  readonly transferSyntaxUid: string;
  /** For 'transcoded' (also a deflated dataset transcoded after inflating): what was done. Empty otherwise. */
  readonly transcoding: readonly TranscodeStep[];
  /** A fresh stream of the served bytes (each call starts from the beginning). */
  stream(): Readable;
}

interface MetaElement {
  tag: number;
  /** The element's complete encoding (header + value), explicit VR little endian. */
  raw: Buffer;
  value: Buffer;
}

interface MetaInfo {
  /** Offset of the first meta element (132 with a preamble, 0 without). */
  start: number;
  /** Offset of the first dataset byte. */
  end: number;
  elements: MetaElement[];
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const MAX_META_BYTES = 1024 * 1024;

function uidValue(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '');
}

/** Reads group 0002 (always explicit VR little endian), or null when the file has none. */
function readMeta(src: FileByteSource): MetaInfo | null {
  const size = src.size;
  const headOf = (offset: number, length: number): Buffer | null => {
    if (offset + length > size) return null;
    const { buf, start } = src.window(offset, length);
    return Buffer.from(buf.subarray(start, start + length));
  };
  const dicm = headOf(128, 4);
  let start: number;
  if (dicm?.toString('latin1') === 'DICM') start = 132;
  else {
    const first = headOf(0, 6);
    if (!first || first.readUInt16LE(0) !== 0x0002 || !/^[A-Z]{2}$/.test(first.toString('latin1', 4, 6))) return null;
    start = 0;
  }
  const elements: MetaElement[] = [];
  let pos = start;
  while (pos + 8 <= size && pos - start < MAX_META_BYTES) {
    const h = headOf(pos, 8)!;
    if (h.readUInt16LE(0) !== 0x0002) break;
    const tag = ((h.readUInt16LE(0) << 16) | h.readUInt16LE(2)) >>> 0;
    const vr = h.toString('latin1', 4, 6);
    let headerLength: number;
    let length: number;
    if (LONG_VRS.has(vr)) {
      const h12 = headOf(pos, 12);
      if (!h12) return null;
      length = h12.readUInt32LE(8);
      headerLength = 12;
    } else {
      length = h.readUInt16LE(6);
      headerLength = 8;
    }
    if (length === 0xffffffff || pos + headerLength + length > size) return null;
    const raw = headOf(pos, headerLength + length)!;
    elements.push({ tag, raw, value: raw.subarray(headerLength) });
    pos += headerLength + length;
  }
  return { start, end: pos, elements };
}

function explicitLeElement(tag: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

function uidBytes(uid: string): Buffer {
  const b = Buffer.from(uid, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([0])]) : b;
}

/** Preamble + "DICM" + group 0002 made of `elements` (group length recomputed, TS replaced when given). */
function buildHeader(elements: readonly MetaElement[], transferSyntaxUid?: string): Buffer {
  const body: Buffer[] = [];
  let tsWritten = false;
  for (const el of [...elements].sort((a, b) => a.tag - b.tag)) {
    if (el.tag === 0x00020000) continue;
    if (el.tag === Tag.TransferSyntaxUid && transferSyntaxUid !== undefined) {
      body.push(explicitLeElement(el.tag, 'UI', uidBytes(transferSyntaxUid)));
      tsWritten = true;
      continue;
    }
    body.push(el.raw);
  }
  if (!tsWritten && transferSyntaxUid !== undefined) {
    // Keep tag order: insert before the first element after (0002,0010).
    const ts = explicitLeElement(Tag.TransferSyntaxUid, 'UI', uidBytes(transferSyntaxUid));
    const sorted = [...elements].filter((e) => e.tag !== 0x00020000).sort((a, b) => a.tag - b.tag);
    const at = sorted.findIndex((e) => e.tag > Tag.TransferSyntaxUid);
    body.splice(at < 0 ? body.length : at, 0, ts);
  }
  const metaBody = Buffer.concat(body);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), explicitLeElement(0x00020000, 'UL', groupLength), metaBody]);
}

function bufferBytes(buffer: Buffer, rewrite: DisplayRewrite, transferSyntaxUid: string): DisplayBytes {
  return {
    contentType: DICOM_CONTENT_TYPE,
    length: buffer.length,
    rewrite,
    transferSyntaxUid,
    transcoding: [],
    stream: () => Readable.from([buffer]),
  };
}

/** Where transcoded frames are kept between requests (absent: produced on every request). */
interface FrameStore {
  cache: DisplayBytesCache;
  file: FileIdentity;
}

interface Transcoded {
  bytes: DisplayBytes;
  /** Decodes frame 1 (kept in the frame store) when the plan did not: a corrupt stream fails before anything is served. */
  verifyFirstFrame: (() => Promise<void>) | null;
}

/** `promise`, with its rejection marked handled: a frame produced ahead may be abandoned with the stream. */
function producedAhead<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** File meta + the plan's header, then its frames produced one by one (by the transcoder, or from the frame store). */
function transcodedBytes(metaHeader: Buffer, plan: DisplayTranscode, store: FrameStore | null): Transcoded {
  const head = Buffer.concat([metaHeader, plan.head]);
  // Without a store the plan's decoded frame 1 is kept for the stream; with one it lives (bounded) in the store.
  let firstFrame = plan.firstFrame;
  if (store && firstFrame) {
    store.cache.setFrame(store.file, 0, firstFrame);
    firstFrame = null;
  }
  /** Frame `f`: from the store, else produced and stored. */
  const frameAt = async (f: number): Promise<Uint8Array> => {
    if (f === 0 && firstFrame) return firstFrame;
    const kept = store?.cache.frame(store.file, f);
    if (kept) return kept;
    const frame = await plan.frame(f);
    store?.cache.setFrame(store.file, f, frame);
    return frame;
  };
  async function* chunks(): AsyncGenerator<Buffer> {
    yield head;
    // One frame ahead: the next is produced while this one is written; at most two are held.
    let next = plan.frames > 0 ? producedAhead(frameAt(0)) : null;
    for (let f = 0; f < plan.frames && next; f++) {
      const frame = await next;
      next = f + 1 < plan.frames ? producedAhead(frameAt(f + 1)) : null;
      yield Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    }
    if (plan.pad) yield Buffer.alloc(1);
    if (plan.tail.length > 0) yield plan.tail;
  }
  // Concurrent GETs after a HEAD share one frame-1 decode; a failed check can be retried.
  let verifying: Promise<void> | null = null;
  const verifyFirstFrame =
    plan.firstFrame !== null
      ? null
      : (): Promise<void> =>
          (verifying ??= frameAt(0).then(
            (frame) => {
              if (!store) firstFrame = frame;
            },
            (err: unknown) => {
              verifying = null;
              throw err;
            },
          ));
  return {
    bytes: {
      contentType: DICOM_CONTENT_TYPE,
      length: head.length + plan.frames * plan.frameBytes + (plan.pad ? 1 : 0) + plan.tail.length,
      rewrite: 'transcoded',
      transferSyntaxUid: plan.transferSyntaxUid,
      transcoding: plan.steps,
      stream: () => Readable.from(chunks(), { objectMode: false }),
    },
    verifyFirstFrame,
  };
}

/** `head` then the file's bytes from `from` to the end. */
function prefixedFileBytes(path: string, head: Buffer, from: number, size: number, rewrite: DisplayRewrite, transferSyntaxUid: string): DisplayBytes {
  return {
    contentType: DICOM_CONTENT_TYPE,
    length: head.length + (size - from),
    rewrite,
    transferSyntaxUid,
    transcoding: [],
    stream: () => {
      const out = new PassThrough();
      out.write(head);
      const file = createReadStream(path, { start: from });
      file.on('error', (err) => out.destroy(err));
      file.pipe(out);
      return out;
    },
  };
}

async function inflateDataset(compressed: Buffer): Promise<Buffer> {
  const opts = { maxOutputLength: MAX_INFLATED_BYTES };
  try {
    return await inflateRawAsync(compressed, opts);
  } catch (rawErr) {
    // A few writers wrap the deflate stream in a zlib header; dcmtk accepts that too.
    try {
      return await inflateAsync(compressed, opts);
    } catch {
      throw rawErr;
    }
  }
}

/** What the library recorded at import about a file it indexed in place. */
export interface ReferencedFileRecord {
  size: number;
  /** Modification time at import, whole milliseconds (null: not recorded, only the size is compared). */
  mtimeMs: number | null;
}

/** The file serving an instance: a managed copy (reference null) or a referenced original. */
export interface InstanceFile {
  /** Absolute path. */
  path: string;
  reference: ReferencedFileRecord | null;
}

/** HTTP status of a ReferencedFileChangedError, for every host that serves display bytes. */
export const REFERENCED_FILE_CHANGED_STATUS = 409;

/** A referenced file is no longer the file imported: refused, not served under the indexed patient and study. */
export class ReferencedFileChangedError extends Error {
  constructor(
    readonly path: string,
    readonly reason: 'modified' | 'not-dicom',
    purpose: 'view' | 'analyse' = 'view',
  ) {
    super(
      reason === 'modified'
        ? `the referenced file ${path} changed since it was imported (size/modification time differ); re-import it to ${purpose} it if it still holds this image, or delete the study if the original is gone`
        : `the referenced file ${path} is no longer readable as DICOM, so it changed since it was imported; re-import the original to ${purpose} it, or delete the study if it is gone`,
    );
    this.name = 'ReferencedFileChangedError';
  }
}

/** Whether a referenced original still has the size and mtime import recorded (import stored Math.trunc of the mtime). */
export function matchesImportRecord(record: ReferencedFileRecord, size: number, mtimeMs: number): boolean {
  return record.size === size && (record.mtimeMs === null || record.mtimeMs === Math.trunc(mtimeMs));
}

export interface DisplayBytesOptions {
  /** Keeps how files are served and their transcoded frames between requests (the endpoints pass one). */
  cache?: DisplayBytesCache;
  /** A HEAD request: only `length` and the headers are needed, no frame is decoded. */
  head?: boolean;
  /** Who plans transcodings and produces their frames: the endpoint's worker pool (inThreadTranscoder() for a one-shot tool). */
  transcoder: DisplayTranscoder;
  /** Set when the file is a referenced original: it must still match what was recorded at import. */
  reference?: ReferencedFileRecord | null;
}

/** Memory a description keeps besides its buffers: the parsed dataset behind a transcoding plan, closures. */
const DESCRIPTION_OVERHEAD_BYTES = 16 * 1024;

/**
 * Opens the stored file of an instance for display. Null when `path` is not a
 * regular file. Files that are not DICOM at all are served as stored (the
 * loader reports them); only the encodings listed above are rewritten.
 * With `reference`: throws ReferencedFileChangedError when the file's size or
 * mtime differs from the record, or when it is not readable as DICOM.
 */
export async function openDisplayBytes(path: string, options: DisplayBytesOptions): Promise<DisplayBytes | null> {
  let file: FileIdentity;
  try {
    const info = await stat(path);
    if (!info.isFile()) return null;
    file = { path, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
  } catch {
    return null;
  }
  const { cache, head = false, reference } = options;
  if (reference && !matchesImportRecord(reference, file.size, file.mtimeMs)) throw new ReferencedFileChangedError(path, 'modified');
  let described = cache?.description(file);
  if (!described) {
    const fresh = await describeDisplayBytes(file, head, cache ? { cache, file } : null, options.transcoder);
    described = { bytes: fresh.bytes, verifyFirstFrame: fresh.verifyFirstFrame, readable: fresh.readable };
    cache?.setDescription(file, described, fresh.retainedBytes + DESCRIPTION_OVERHEAD_BYTES);
  }
  // A managed copy that does not parse is served as stored (the loader reports it); a reference that does not is refused.
  if (reference && !described.readable) throw new ReferencedFileChangedError(path, 'not-dicom');
  if (!head && described.verifyFirstFrame) {
    await described.verifyFirstFrame();
    described.verifyFirstFrame = null;
  }
  return described.bytes;
}

interface Described {
  bytes: DisplayBytes;
  verifyFirstFrame: (() => Promise<void>) | null;
  /** The metadata reader could read the file (after inflating a deflated dataset). */
  readable: boolean;
  /** Buffers the description keeps in memory. */
  retainedBytes: number;
}

async function describeDisplayBytes(file: FileIdentity, head: boolean, store: FrameStore | null, transcoder: DisplayTranscoder): Promise<Described> {
  const { path, size } = file;
  /** Whether the metadata reader could read what is served (set below, read when a description is returned). */
  let readable = false;
  const plain = (bytes: DisplayBytes, retainedBytes = 0): Described => ({ bytes, verifyFirstFrame: null, readable, retainedBytes });
  const transcoded = (t: Transcoded, retainedBytes: number): Described => ({ ...t, readable, retainedBytes });
  const asStored = (transferSyntaxUid = ''): Described =>
    plain({
      contentType: DICOM_CONTENT_TYPE,
      length: size,
      rewrite: 'none',
      transferSyntaxUid,
      transcoding: [],
      stream: () => createReadStream(path),
    });
  const planOptions = { verifyFirstFrame: !head };

  const src = new FileByteSource(path, size);
  let meta: MetaInfo | null;
  /** What the metadata reader finds (declared or sniffed encoding), or null when it cannot read the file. */
  let info: DicomFileInfo | null = null;
  /** Header and bounded reads say the file may need transcoding. */
  let candidate = false;
  try {
    meta = readMeta(src);
    const declared = meta?.elements.find((e) => e.tag === Tag.TransferSyntaxUid);
    // A deflated dataset is inflated first (below); everything else is read in place.
    if (!declared || uidValue(declared.value) !== TS.DeflatedExplicitVrLittleEndian) {
      try {
        info = readDicom(src);
      } catch {
        info = null; // not readable: served as stored, the loader reports it
      }
      try {
        candidate = info !== null && mayNeedDisplayTranscode(info);
      } catch {
        candidate = true; // planning (in the transcoder) reports what is wrong
      }
    }
  } finally {
    src.close();
  }
  readable = info !== null;
  // Planning reads the file again in the transcoder's thread (headers re-encoded, codecs loaded, frame 1 decoded).
  const plan = info && candidate ? await transcoder.plan({ kind: 'file', path: file.path, size: file.size, mtimeMs: file.mtimeMs }, meta ? meta.end : 0, planOptions) : null;
  const planBytes = (p: DisplayTranscode): number => p.head.length + p.tail.length;

  if (!meta) {
    // No file meta: a bare dataset? Give it one, with the encoding the reader sniffs.
    if (!info?.bareDataset || !info.transferSyntaxUid) return asStored(info?.transferSyntaxUid ?? '');
    const sopClass = info.dataset.uid(Tag.SopClassUid);
    const sopInstance = info.dataset.uid(Tag.SopInstanceUid);
    const elements = [
      { tag: 0x00020001, vr: 'OB', value: Buffer.from([0, 1]) },
      { tag: 0x00020002, vr: 'UI', value: uidBytes(sopClass) },
      { tag: 0x00020003, vr: 'UI', value: uidBytes(sopInstance) },
      { tag: 0x00020012, vr: 'UI', value: uidBytes('1.2.826.0.1.3680043.10.1138.0.1') },
      { tag: 0x00020013, vr: 'SH', value: Buffer.from('VIGIL_DISPLAY   ', 'latin1') },
    ].map((e) => ({ tag: e.tag, raw: explicitLeElement(e.tag, e.vr, e.value), value: e.value }));
    if (plan) return transcoded(transcodedBytes(buildHeader(elements, plan.transferSyntaxUid), plan, store), planBytes(plan));
    const header = buildHeader(elements, info.transferSyntaxUid);
    return plain(prefixedFileBytes(path, header, 0, size, 'added-file-meta', info.transferSyntaxUid), header.length);
  }
  if (plan) return transcoded(transcodedBytes(buildHeader(meta.elements, plan.transferSyntaxUid), plan, store), planBytes(plan));

  const tsElement = meta.elements.find((e) => e.tag === Tag.TransferSyntaxUid);
  if (!tsElement) {
    // File meta without a Transfer Syntax UID: declare the one the dataset is written in.
    if (!info?.transferSyntaxUid) return asStored();
    const header = buildHeader(meta.elements, info.transferSyntaxUid);
    return plain(prefixedFileBytes(path, header, meta.end, size, 'added-transfer-syntax', info.transferSyntaxUid), header.length);
  }
  const transferSyntaxUid = uidValue(tsElement.value);
  if (transferSyntaxUid === TS.DeflatedExplicitVrLittleEndian) {
    const stored = await readFile(path);
    const inflated = await inflateDataset(stored.subarray(meta.end));
    const header = buildHeader(meta.elements, TS.ExplicitVrLittleEndian);
    const served = Buffer.concat([header, inflated]);
    // The inflated dataset may itself need transcoding (e.g. 1-bit frames off byte boundaries).
    let inflatedInfo: DicomFileInfo | null = null;
    try {
      inflatedInfo = readDicom(new BufferByteSource(served));
    } catch {
      inflatedInfo = null; // served inflated as it is; the loader reports what it cannot read
    }
    readable = inflatedInfo !== null;
    if (inflatedInfo && mayNeedDisplayTranscode(inflatedInfo)) {
      // The transcoder's thread reads the inflated dataset from shared memory (not a copy per frame).
      const shared = new SharedArrayBuffer(served.length);
      new Uint8Array(shared).set(served);
      const inflatedPlan = await transcoder.plan({ kind: 'buffer', id: randomUUID(), bytes: shared }, header.length, planOptions);
      if (inflatedPlan) {
        const t = transcodedBytes(buildHeader(meta.elements, inflatedPlan.transferSyntaxUid), inflatedPlan, store);
        return transcoded(t, served.length + planBytes(inflatedPlan));
      }
    }
    return plain(bufferBytes(served, 'inflated', TS.ExplicitVrLittleEndian), served.length);
  }
  if (meta.start === 0) {
    // File meta without preamble: put one in front, keep everything else.
    const header = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1')]);
    return plain(prefixedFileBytes(path, header, 0, size, 'added-preamble', transferSyntaxUid), header.length);
  }
  return asStored(transferSyntaxUid);
}

/** Reads everything `stream()` yields (tests, small files). */
export async function displayBytesBuffer(bytes: DisplayBytes): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of bytes.stream()) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
