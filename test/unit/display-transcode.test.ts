/**
 * Display transcoding (electron/services/dicom/display-transcode.ts through
 * openDisplayBytes): each kind on synthetic files with known pixels, header
 * consistency of the served Part-10 stream, and clear errors for broken input.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { type DicomFileInfo, readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { displayBytesBuffer, openDisplayBytes } from '../../electron/services/dicom/display-bytes';
import { DisplayBytesCache } from '../../electron/services/dicom/display-bytes-cache';
import { inThreadTranscoder } from '../../electron/services/dicom/display-transcode-pool';
import { rleFrame, rleFrameOfSamples } from '../fixtures/rle-encoder';
import { expandSegmentedLut } from '../../electron/services/dicom/palette-color-lut';
import { type DicomElementSpec, encodeElements, filePreambleAndMeta, syntheticDicom } from '../fixtures/synthetic-dicom';

/** Transcodes on the test's thread (the worker pool is tested in test/integration/display-transcode-pool.test.ts). */
const transcoder = inThreadTranscoder();

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const RLE = '1.2.840.10008.1.2.5';
const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
const SC = '1.2.840.10008.5.1.4.1.1.7';

let dir: string;
let counter = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-transcode-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(bytes: Buffer): string {
  const path = join(dir, `f${++counter}.dcm`);
  writeFileSync(path, bytes);
  return path;
}

interface ImageSpec {
  rows: number;
  columns: number;
  samples?: number;
  bitsAllocated: number;
  bitsStored?: number;
  photometric?: string;
  frames?: number;
  extra?: DicomElementSpec[];
}

function imageElements(s: ImageSpec): DicomElementSpec[] {
  return [
    { tag: 0x00080016, vr: 'UI', value: SC },
    { tag: 0x00080018, vr: 'UI', value: `1.2.826.0.1.3680043.10.1138.777.${counter + 1}` },
    { tag: 0x00080060, vr: 'CS', value: 'OT' },
    { tag: 0x00280002, vr: 'US', value: s.samples ?? 1 },
    { tag: 0x00280004, vr: 'CS', value: s.photometric ?? 'MONOCHROME2' },
    ...(s.frames ? [{ tag: 0x00280008, vr: 'IS', value: String(s.frames) }] : []),
    { tag: 0x00280010, vr: 'US', value: s.rows },
    { tag: 0x00280011, vr: 'US', value: s.columns },
    { tag: 0x00280100, vr: 'US', value: s.bitsAllocated },
    { tag: 0x00280101, vr: 'US', value: s.bitsStored ?? s.bitsAllocated },
    { tag: 0x00280102, vr: 'US', value: (s.bitsStored ?? s.bitsAllocated) - 1 },
    { tag: 0x00280103, vr: 'US', value: 0 },
    ...(s.extra ?? []),
  ];
}

/** A Part-10 file with native pixel data given as the raw value bytes (already in the file's byte order). */
function nativeFile(s: ImageSpec, ts: string, pixelVr: string, value: Uint8Array, pixelTag = 0x7fe00010): Buffer {
  const explicit = ts !== IMPLICIT_LE;
  const le = ts !== EXPLICIT_BE;
  const elements = [...imageElements(s), { tag: pixelTag, vr: pixelVr, value }];
  return Buffer.concat([filePreambleAndMeta(SC, String(elements[1]!.value), ts), encodeElements(elements, explicit, le)]);
}

/** A Part-10 file with encapsulated pixel data: empty offset table, one fragment per frame. */
function encapsulatedFile(s: ImageSpec, ts: string, frames: Uint8Array[], datasetExplicit = true): Buffer {
  const u16 = (v: number) => Buffer.from([v & 0xff, v >> 8]);
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const items = frames.flatMap((f) => {
    const even = f.length % 2 ? Buffer.concat([Buffer.from(f), Buffer.from([0])]) : Buffer.from(f);
    return [u16(0xfffe), u16(0xe000), u32(even.length), even];
  });
  const pixelHeader = datasetExplicit ? [u16(0x7fe0), u16(0x0010), Buffer.from('OB'), Buffer.alloc(2), u32(0xffffffff)] : [u16(0x7fe0), u16(0x0010), u32(0xffffffff)];
  const pixel = Buffer.concat([...pixelHeader, u16(0xfffe), u16(0xe000), u32(0), ...items, u16(0xfffe), u16(0xe0dd), u32(0)]);
  const elements = imageElements(s);
  return Buffer.concat([filePreambleAndMeta(SC, String(elements[1]!.value), ts), encodeElements(elements, datasetExplicit, true), pixel]);
}

interface Served {
  rewrite: string;
  steps: readonly string[];
  ts: string;
  info: DicomFileInfo;
  pixels: Buffer;
  bytes: Buffer;
}

async function serve(file: Buffer): Promise<Served> {
  const path = write(file);
  const out = await openDisplayBytes(path, { transcoder });
  if (!out) throw new Error('not served');
  const bytes = await displayBytesBuffer(out);
  expect(bytes.length).toBe(out.length);
  // The stored file is never touched.
  expect(readFileSync(path).equals(file)).toBe(true);
  const info = readDicom(new BufferByteSource(bytes));
  expect(info.bareDataset).toBe(false);
  expect(info.transferSyntaxUid).toBe(out.transferSyntaxUid);
  // File meta group length matches the meta actually written.
  const groupLength = bytes.readUInt32LE(132 + 8);
  expect(info.meta!.elements.get(0x00020010)).toBeDefined();
  expect(132 + 12 + groupLength).toBe(lastMetaEnd(info));
  // Pixel data: even length, runs exactly to the end of the dataset or to the elements after it.
  expect(info.pixelData!.length % 2).toBe(0);
  return {
    rewrite: out.rewrite,
    steps: out.transcoding,
    ts: out.transferSyntaxUid,
    info,
    pixels: bytes.subarray(info.pixelData!.offset, info.pixelData!.offset + info.pixelData!.length),
    bytes,
  };
}

function lastMetaEnd(info: DicomFileInfo): number {
  let end = 0;
  for (const el of info.meta!.elements.values()) end = Math.max(end, el.offset + el.length);
  return end;
}

function us(info: DicomFileInfo, tag: number): number | null {
  const el = info.dataset.elements.get(tag);
  if (!el) return null;
  const { buf, start } = info.dataset.source.window(el.offset, 2);
  return buf.readUInt16LE(start);
}

describe('display transcoding', () => {
  it('serves Explicit VR Big Endian as the equivalent explicit little endian file, nested sequences included', async () => {
    const pixels = Uint16Array.from({ length: 6 * 5 }, (_, i) => (i * 613) % 4096);
    const extra: DicomElementSpec[] = [
      { tag: 0x00081140, vr: 'SQ', value: [[{ tag: 0x00081150, vr: 'UI', value: '1.2.3' }, { tag: 0x00281050, vr: 'DS', value: '40' }, { tag: 0x00189219, vr: 'US', value: [513, 2] }]], undefinedLength: true },
      { tag: 0x00189220, vr: 'FD', value: [1.5, -2.25] },
      { tag: 0x00189221, vr: 'UL', value: [0x01020304] },
    ];
    const spec = { sopInstanceUid: '1.2.826.0.1.3680043.10.1138.778.1', rows: 6, columns: 5, pixels, extra };
    const served = await serve(syntheticDicom({ ...spec, transferSyntax: EXPLICIT_BE }));
    expect(served).toMatchObject({ rewrite: 'transcoded', steps: ['byte-swapped'], ts: EXPLICIT_LE });
    // Byte for byte what the writer produces for explicit VR little endian.
    expect(served.bytes.equals(syntheticDicom({ ...spec, transferSyntax: EXPLICIT_LE }))).toBe(true);
  });

  it('swaps 8-bit OW big-endian pixels in 16-bit words and 32-bit samples value-preserving', async () => {
    // 8-bit values 1..6 as OW in big endian are stored in swapped pairs: 02 01 04 03 06 05.
    const eight = await serve(nativeFile({ rows: 2, columns: 3, bitsAllocated: 8 }, EXPLICIT_BE, 'OW', Uint8Array.from([2, 1, 4, 3, 6, 5])));
    expect([...eight.pixels]).toEqual([1, 2, 3, 4, 5, 6]);
    const values = [1249000, 7, 0xfedcba98, 65536];
    const be = Buffer.alloc(16);
    values.forEach((v, i) => be.writeUInt32BE(v, i * 4));
    const wide = await serve(nativeFile({ rows: 2, columns: 2, bitsAllocated: 32 }, EXPLICIT_BE, 'OW', be));
    expect(wide.steps).toEqual(['byte-swapped']);
    expect([0, 1, 2, 3].map((i) => wide.pixels.readUInt32LE(i * 4))).toEqual(values);
  });

  it('unpacks 1-bit frames that do not start on a byte boundary to one byte per pixel', async () => {
    // Three 3x3 frames: 27 bits packed LSB first across byte boundaries.
    const bits = Array.from({ length: 27 }, (_, i) => ((i * 7) % 5 === 0 ? 1 : 0));
    const packed = new Uint8Array(4);
    bits.forEach((b, i) => {
      packed[i >> 3]! |= b << (i & 7);
    });
    const served = await serve(nativeFile({ rows: 3, columns: 3, bitsAllocated: 1, frames: 3 }, EXPLICIT_LE, 'OB', packed));
    expect(served.steps).toEqual(['bits-unpacked']);
    expect(us(served.info, 0x00280100)).toBe(8);
    expect(us(served.info, 0x00280101)).toBe(1);
    expect(us(served.info, 0x00280102)).toBe(0);
    expect([...served.pixels.subarray(0, 27)]).toEqual(bits);
    expect(served.pixels.length).toBe(28); // 27 bytes, padded to even
  });

  it('converts uncompressed YBR_FULL_422 to RGB', async () => {
    // Two pixel pairs: grey (Y 128, Cb = Cr = 128) and pure red in YCbCr (Y 76, Cb 85, Cr 255).
    const ybr = Uint8Array.from([128, 128, 128, 128, 76, 76, 85, 255]);
    const served = await serve(nativeFile({ rows: 2, columns: 2, samples: 3, bitsAllocated: 8, photometric: 'YBR_FULL_422', extra: [{ tag: 0x00280006, vr: 'US', value: 0 }] }, EXPLICIT_LE, 'OB', ybr));
    expect(served.steps).toEqual(['ybr-to-rgb']);
    expect(served.info.dataset.string(0x00280004)).toBe('RGB');
    expect(us(served.info, 0x00280006)).toBe(0);
    const rgb = [...served.pixels];
    expect(rgb.slice(0, 6)).toEqual([128, 128, 128, 128, 128, 128]);
    const red = rgb.slice(6, 9);
    expect(Math.abs(red[0]! - 254)).toBeLessThanOrEqual(1);
    expect(red[1]).toBeLessThanOrEqual(1);
    expect(red[2]).toBeLessThanOrEqual(1);
  });

  it('serves an expanded 8-bit segmented palette as one word per entry, also for an odd number of entries', async () => {
    // 255 entries of 8 bits: packed, 255 bytes padded to 256 would be read by the loader as 128 16-bit words.
    const words = Uint16Array.from([0, 1, 0, 1, 254, 254]);
    const extra: DicomElementSpec[] = [0, 1, 2].flatMap((c) => [
      { tag: 0x00281101 + c, vr: 'US', value: [255, 0, 8] },
      { tag: 0x00281221 + c, vr: 'OW', value: new Uint8Array(words.buffer) },
    ]);
    const served = await serve(nativeFile({ rows: 1, columns: 4, bitsAllocated: 8, photometric: 'PALETTE COLOR', extra }, EXPLICIT_LE, 'OB', Uint8Array.from([0, 1, 128, 254])));
    const ds = served.info.dataset;
    const lut = ds.elements.get(0x00281201)!;
    expect(lut.length).toBe(2 * 255);
    const { buf, start } = ds.source.window(lut.offset, lut.length);
    expect([0, 1, 128, 254].map((i) => buf.readUInt16LE(start + 2 * i))).toEqual([0, 1, 128, 254]);
  });

  it('expands segmented palette colour LUTs to ordinary LUT data', async () => {
    // Discrete [0], then linear to 65535 over 255 entries: a 256-entry ramp.
    const segmented = (top: number) => {
      const words = Uint16Array.from([0, 1, 0, 1, 255, top]);
      return new Uint8Array(words.buffer);
    };
    const extra: DicomElementSpec[] = [0, 1, 2].flatMap((c) => [
      { tag: 0x00281101 + c, vr: 'US', value: [256, 0, 16] },
      { tag: 0x00281221 + c, vr: 'OW', value: segmented([65535, 32768, 255][c]!) },
    ]);
    const served = await serve(nativeFile({ rows: 1, columns: 4, bitsAllocated: 8, photometric: 'PALETTE COLOR', extra }, EXPLICIT_LE, 'OB', Uint8Array.from([0, 1, 128, 255])));
    expect(served.steps).toEqual(['palette-expanded']);
    const ds = served.info.dataset;
    for (let c = 0; c < 3; c++) {
      expect(ds.has(0x00281221 + c)).toBe(false);
      const lut = ds.elements.get(0x00281201 + c)!;
      expect(lut.length).toBe(512);
      const { buf, start } = ds.source.window(lut.offset, 512);
      const top = [65535, 32768, 255][c]!;
      expect(buf.readUInt16LE(start)).toBe(0);
      expect(buf.readUInt16LE(start + 2 * 128)).toBe(Math.round((top * 128) / 255));
      expect(buf.readUInt16LE(start + 2 * 255)).toBe(top);
    }
    expect([...served.pixels.subarray(0, 4)]).toEqual([0, 1, 128, 255]);
  });

  it('expands indirect segments and refuses unknown opcodes', () => {
    // Segment 0: discrete [10, 20]; then an indirect copy of 1 segment at word offset 0.
    expect([...expandSegmentedLut(Uint16Array.from([0, 2, 10, 20, 2, 1, 0, 0]), 4)]).toEqual([10, 20, 10, 20]);
    expect([...expandSegmentedLut(Uint16Array.from([0, 2, 10, 20]), 4)]).toEqual([10, 20, 20, 20]);
    expect(() => expandSegmentedLut(Uint16Array.from([7, 1, 1]), 4)).toThrow(/unknown segment type 7/);
  });

  it('serves Double Float Pixel Data as Float Pixel Data (float32)', async () => {
    const values = [0.1, -2.5, 1e10, Math.PI];
    const doubles = new Uint8Array(Float64Array.from(values).buffer);
    const served = await serve(nativeFile({ rows: 2, columns: 2, bitsAllocated: 64 }, EXPLICIT_LE, 'OD', doubles, 0x7fe00009));
    expect(served.steps).toEqual(['float-narrowed']);
    expect(us(served.info, 0x00280100)).toBe(32);
    expect(served.info.dataset.elements.get(0x7fe00008)?.vr).toBe('OF');
    expect(served.info.dataset.has(0x7fe00009)).toBe(false);
    expect([0, 1, 2, 3].map((i) => served.pixels.readFloatLE(i * 4))).toEqual(values.map((v) => Math.fround(v)));
  });

  it('decompresses 32-bit RLE to native little endian', async () => {
    const values = [0, 1, 0x01020304, 0xffffffff];
    const served = await serve(encapsulatedFile({ rows: 2, columns: 2, bitsAllocated: 32 }, RLE, [rleFrameOfSamples(values, 4)]));
    expect(served).toMatchObject({ steps: ['decompressed'], ts: EXPLICIT_LE });
    expect(served.info.pixelData?.encapsulated).toBe(false);
    expect([0, 1, 2, 3].map((i) => served.pixels.readUInt32LE(i * 4))).toEqual(values);
  });

  it('keeps YBR_FULL on colour a decoder returns as stored (16-bit RLE), so the loader converts it, not labelled RGB', async () => {
    // Y, Cb, Cr planes of 2 pixels, 16 bits each: segments Y hi, Y lo, Cb hi, Cb lo, Cr hi, Cr lo (PS3.5 G.2).
    const planes = [[100, 200], [0x8000, 0x8000], [0x8000, 0x9000]];
    const segments = planes.flatMap((p) => [p.map((v) => v >> 8), p.map((v) => v & 0xff)]);
    const served = await serve(encapsulatedFile({ rows: 1, columns: 2, samples: 3, bitsAllocated: 16, photometric: 'YBR_FULL' }, RLE, [rleFrame(segments)]));
    expect(served.steps).toEqual(['decompressed']);
    expect(served.info.dataset.string(0x00280004)).toBe('YBR_FULL');
    expect([0, 1, 2, 3, 4, 5].map((i) => served.pixels.readUInt16LE(i * 2))).toEqual([100, 0x8000, 0x8000, 200, 0x8000, 0x9000]);
    // Labelled YBR_FULL_422, decoded samples are still three a pixel: served as YBR_FULL, not as native 4:2:2 pairs.
    const subsampled = await serve(encapsulatedFile({ rows: 1, columns: 2, samples: 3, bitsAllocated: 16, photometric: 'YBR_FULL_422' }, RLE, [rleFrame(segments)]));
    expect(subsampled.info.dataset.string(0x00280004)).toBe('YBR_FULL');
  });

  it('decodes 12-bit lossy JPEG to native 16-bit samples, frame by frame', async () => {
    const served = await serve(encapsulatedFile({ rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 12, frames: 2 }, JPEG_EXTENDED, [jpeg12Flat(800), jpeg12Flat(-800)]));
    expect(served).toMatchObject({ steps: ['decompressed'], ts: EXPLICIT_LE });
    // DC 800 with unit quantisation: 800 / 8 + 2048 = 2148; DC -800: 1948.
    const samples = Array.from({ length: 128 }, (_, i) => served.pixels.readUInt16LE(i * 2));
    expect(samples.slice(0, 64).every((v) => v === 2148)).toBe(true);
    expect(samples.slice(64).every((v) => v === 1948)).toBe(true);
  });

  it('declares the encoding an implicit VR dataset really has, and decodes its encapsulated pixels', async () => {
    const served = await serve(encapsulatedFile({ rows: 2, columns: 2, bitsAllocated: 16 }, RLE, [rleFrameOfSamples([1, 2, 3, 65535], 2)], false));
    expect(served).toMatchObject({ steps: ['encoding-declared', 'decompressed'], ts: IMPLICIT_LE });
    expect([0, 1, 2, 3].map((i) => served.pixels.readUInt16LE(i * 2))).toEqual([1, 2, 3, 65535]);
  });

  it('leaves what the loader reads alone', async () => {
    const plain = syntheticDicom({ rows: 4, columns: 4 });
    const out = await openDisplayBytes(write(plain), { transcoder });
    expect(out).toMatchObject({ rewrite: 'none', transcoding: [] });
    const rle16 = encapsulatedFile({ rows: 2, columns: 2, bitsAllocated: 16 }, RLE, [rleFrameOfSamples([1, 2, 3, 4], 2)]);
    expect((await openDisplayBytes(write(rle16), { transcoder }))?.rewrite).toBe('none');
  });

  it('refuses broken input with a clear error', async () => {
    // RLE frame declaring the wrong number of segments.
    const badRle = Buffer.from(rleFrameOfSamples([1, 2, 3, 4], 4));
    badRle.writeUInt32LE(3, 0);
    await expect(openDisplayBytes(write(encapsulatedFile({ rows: 2, columns: 2, bitsAllocated: 32 }, RLE, [badRle])), { transcoder })).rejects.toThrow(/cannot transcode for display.*segments/);
    // 1-bit pixel data shorter than its frames need.
    await expect(openDisplayBytes(write(nativeFile({ rows: 3, columns: 3, bitsAllocated: 1, frames: 9 }, EXPLICIT_LE, 'OB', new Uint8Array(4))), { transcoder })).rejects.toThrow(/Pixel Data holds 4 bytes, 11 needed/);
    // A JPEG frame whose size is not the one the header declares.
    await expect(openDisplayBytes(write(encapsulatedFile({ rows: 16, columns: 16, bitsAllocated: 16, bitsStored: 12 }, JPEG_EXTENDED, [jpeg12Flat(800)])), { transcoder })).rejects.toThrow(/JPEG frame 1 is 8x8x1, the header says 16x16x1/);
  });

  it('plans a HEAD request without decoding, and a GET still refuses a corrupt frame before serving', async () => {
    const badRle = Buffer.from(rleFrameOfSamples([1, 2, 3, 4], 4));
    badRle.writeUInt32LE(3, 0);
    const path = write(encapsulatedFile({ rows: 2, columns: 2, bitsAllocated: 32 }, RLE, [badRle]));
    const head = await openDisplayBytes(path, { transcoder, head: true });
    expect(head).toMatchObject({ rewrite: 'transcoded', transcoding: ['decompressed'] });
    expect(head!.length).toBeGreaterThan(16);
    await expect(openDisplayBytes(path, { transcoder })).rejects.toThrow(/segments/);
    // With a cache, the description planned for HEAD is reused and verified by the GET.
    const cache = new DisplayBytesCache();
    await openDisplayBytes(path, { transcoder, cache, head: true });
    await expect(openDisplayBytes(path, { transcoder, cache })).rejects.toThrow(/segments/);
  });

  it('places the smaller edge tiles of a tiled image at the top-left of a zero full-size frame', async () => {
    // Two 16x16 JPEG tiles per the header; the second is coded 8x8 (an edge tile of a 24x16 total pixel matrix).
    const tiled: DicomElementSpec[] = [
      { tag: 0x00209311, vr: 'CS', value: 'TILED_FULL' },
      { tag: 0x00480006, vr: 'UL', value: [24] },
      { tag: 0x00480007, vr: 'UL', value: [16] },
    ];
    const full = jpeg12Flat(800, 16);
    const served = await serve(encapsulatedFile({ rows: 16, columns: 16, bitsAllocated: 16, bitsStored: 12, frames: 2, extra: tiled }, JPEG_EXTENDED, [full, jpeg12Flat(-800)]));
    expect(served).toMatchObject({ steps: ['decompressed', 'tiles-padded'], ts: EXPLICIT_LE });
    const samples = Array.from({ length: 2 * 256 }, (_, i) => served.pixels.readUInt16LE(i * 2));
    expect(samples.slice(0, 256).every((v) => v === 2148)).toBe(true);
    const edge = samples.slice(256);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) expect(edge[y * 16 + x], `edge tile pixel ${x},${y}`).toBe(x < 8 && y < 8 ? 1948 : 0);
    }
  });
});

const SHARED = resolve(__dirname, '../..', process.env.VIGIL_SHARED_DATA ?? '../shared/data');
const WSI_TILES = join(SHARED, 'dicom-misc/fo-dicom/multiframe.dcm');
const DCMDJPEG = spawnSync('which', ['dcmdjpeg'], { encoding: 'utf8' }).stdout.trim();
const tilesReferencePresent = existsSync(WSI_TILES) && DCMDJPEG !== '';
if (!tilesReferencePresent) console.warn(`[display-transcode] SKIPPING the whole-slide edge-tile comparison: ${existsSync(WSI_TILES) ? 'dcmdjpeg (dcmtk) is not installed' : `${WSI_TILES} is missing`}.`);

describe.skipIf(!tilesReferencePresent)('whole-slide tiles with short edge tiles (fo-dicom multiframe.dcm) against dcmdjpeg', () => {
  it('serves every frame as the dcmtk decode of that tile, edge tiles at the top-left of a zero 240x240 frame', { timeout: 60_000 }, async () => {
    const reference = join(dir, 'multiframe.dcmdjpeg.dcm');
    const run = spawnSync(DCMDJPEG, [WSI_TILES, reference], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const refInfo = readDicom(new BufferByteSource(readFileSync(reference)));
    const refPixels = refInfo.dataset.source.window(refInfo.pixelData!.offset, refInfo.pixelData!.length);
    const ref = refPixels.buf.subarray(refPixels.start, refPixels.start + refInfo.pixelData!.length);
    const out = await openDisplayBytes(WSI_TILES, { transcoder });
    expect(out).toMatchObject({ rewrite: 'transcoded', transcoding: ['decompressed', 'tiles-padded'], transferSyntaxUid: EXPLICIT_LE });
    const bytes = await displayBytesBuffer(out!);
    const info = readDicom(new BufferByteSource(bytes));
    expect(info.dataset.string(0x00280004)).toBe('RGB');
    const served = bytes.subarray(info.pixelData!.offset, info.pixelData!.offset + info.pixelData!.length);
    // Total pixel matrix 3175 x 2281 in 240 x 240 tiles, row by row: 14 tiles across, 10 down.
    const [tile, across, totalColumns, totalRows] = [240, 14, 3175, 2281];
    const frameBytes = tile * tile * 3;
    let edgeTiles = 0;
    let differing = 0;
    for (let f = 0; f < 140; f++) {
      const width = Math.min(tile, totalColumns - (f % across) * tile);
      const height = Math.min(tile, totalRows - Math.floor(f / across) * tile);
      if (width < tile || height < tile) edgeTiles++;
      // dcmdjpeg copies the short decode to the start of the frame, row pitch = the tile's coded width.
      const dcmtk = ref.subarray(f * frameBytes, f * frameBytes + width * height * 3);
      const ours = served.subarray(f * frameBytes, (f + 1) * frameBytes);
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile * 3; x++) {
          const want = y < height && x < width * 3 ? dcmtk[y * width * 3 + x]! : 0;
          if (ours[y * tile * 3 + x] !== want) differing++;
        }
      }
    }
    expect(edgeTiles).toBe(23);
    expect(differing).toBe(0);
  });
});

/**
 * A hand-built `size` x `size` (a multiple of 8) 12-bit extended sequential
 * JPEG (SOF1) whose blocks all have only the DC coefficient `dc` (unit
 * quantisation): every sample is dc / 8 + 2048.
 */
function jpeg12Flat(dc: number, size = 8): Uint8Array {
  const category = Math.ceil(Math.log2(Math.abs(dc) + 1));
  const bits = dc >= 0 ? dc : dc + 2 ** category - 1;
  // First block: DC code '00' (symbol: the category) and its bits; later blocks: DC code '01' (symbol 0: no
  // difference). Each block then ends with AC code '0' (EOB). Padded with 1s.
  const blocks = (size / 8) ** 2;
  const bitString = `00${bits.toString(2).padStart(category, '0')}0` + '010'.repeat(blocks - 1);
  const padded = bitString.padEnd(Math.ceil(bitString.length / 8) * 8, '1');
  const scan: number[] = [];
  for (let i = 0; i < padded.length; i += 8) {
    const byte = parseInt(padded.slice(i, i + 8), 2);
    scan.push(byte);
    if (byte === 0xff) scan.push(0);
  }
  const dqt = [0xff, 0xdb, 0, 67, 0x00, ...new Array<number>(64).fill(1)];
  const sof = [0xff, 0xc1, 0, 11, 12, 0, size, 0, size, 1, 1, 0x11, 0];
  // `n` codes of length `length`.
  const counts = (length: number, n: number) => Array.from({ length: 16 }, (_, i) => (i === length - 1 ? n : 0));
  const dhtDc = [0xff, 0xc4, 0, 21, 0x00, ...counts(2, 2), category, 0];
  const dhtAc = [0xff, 0xc4, 0, 20, 0x10, ...counts(1, 1), 0x00];
  const sos = [0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 63, 0];
  return Uint8Array.from([0xff, 0xd8, ...dqt, ...sof, ...dhtDc, ...dhtAc, ...sos, ...scan, 0xff, 0xd9]);
}
