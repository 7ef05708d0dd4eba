/**
 * The viewer decode worker's own codecs (renderer/src/viewer/cornerstone):
 * jpeg-lossless-decoder.ts and rle-decoder.ts, against DCMTK and against the
 * dicom-image-loader decoders they replace.
 *
 *  - JPEG lossless: synthetic 16-bit and 8-bit images encoded by dcmcjpeg with
 *    every predictor (selection value 1..7) and a point transform decode exactly
 *    to the pixels dcmdjpeg gives (= the original pixels without point transform),
 *    and to the stock decoder's output where that one supports the stream;
 *    restart intervals (a small T.81 encoder below; dcmcjpeg writes none) decode
 *    to the original pixels, and dcmdjpeg agrees on the same file.
 *  - RLE: dcmcrle-encoded 16-bit images (signed and unsigned) decode exactly,
 *    like the stock decoder, including a truncated segment; other layouts -> null.
 *  - The shared corpus' JPEG lossless files: identical to the stock decoder,
 *    frame by frame (skipped loudly when ../shared/data is absent; RLE over the
 *    corpus is checked against DCMTK by test/e2e/decodes-every-transfer-syntax.spec.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Decoder as StockLosslessDecoder } from '@cornerstonejs/jpeg-lossless-decoder-js';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../../electron/services/dicom/byte-source';
import { Tag, readDicom } from '../../../electron/services/dicom/dicom-dataset-reader';
import { frameFragments } from '../../../electron/services/dicom/pixel-decoder';
import stockDecodeRLE from '../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/decodeRLE.js';
import { decodeJpegLossless } from '../../../renderer/src/viewer/cornerstone/jpeg-lossless-decoder';
import { decodeRle16 } from '../../../renderer/src/viewer/cornerstone/rle-decoder';
import { syntheticDicom } from '../../fixtures/synthetic-dicom';
import { repoRoot } from '../helpers';

const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
const tool = (name: string) => ['/usr/bin', '/usr/local/bin'].map((d) => join(d, name)).find((p) => existsSync(p));
const DCMTK = { cjpeg: tool('dcmcjpeg'), djpeg: tool('dcmdjpeg'), crle: tool('dcmcrle') };
const dcmtkPresent = Object.values(DCMTK).every(Boolean);
if (!dcmtkPresent) console.warn('\n!!! viewer-codecs: DCMTK (dcmcjpeg/dcmdjpeg/dcmcrle) not found: the DCMTK comparisons are SKIPPED.\n');

const work = mkdtempSync(join(tmpdir(), 'vigil-viewer-codecs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Pixel Data (7FE0,0010) of a Part-10 file, read by Vigil's DICOM reader: the native bytes, or each frame's encoded bytes (its fragments joined). */
function pixelData(file: Buffer): { native?: Buffer; frames?: Buffer[] } {
  const info = readDicom(new BufferByteSource(file));
  if (!info.pixelData) throw new Error('no Pixel Data element');
  const source = info.dataset.source;
  const bytes = (offset: number, length: number): Buffer => {
    const { buf, start } = source.window(offset, length);
    return buf.subarray(start, start + length);
  };
  const { offset, length, encapsulated } = info.pixelData;
  if (!encapsulated) return { native: bytes(offset, length) };
  const frames = Math.max(1, Math.trunc(info.dataset.number(Tag.NumberOfFrames) ?? 1));
  return { frames: frameFragments(source, offset, length, frames).map((group) => Buffer.concat(group.map((f) => bytes(f.offset, f.length)))) };
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** A 16-bit image with 12 bits stored: smooth structure plus noise (a realistic spread of difference categories). */
function image16(rows: number, columns: number, seed: number): Uint16Array {
  let s = seed;
  const noise = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) % 64;
  return Uint16Array.from({ length: rows * columns }, (_, i) => (Math.round(2000 + 1500 * Math.sin((i % columns) / 9) * Math.cos(Math.floor(i / columns) / 13)) + noise()) & 0xfff);
}

function image8(rows: number, columns: number): Uint8Array {
  return Uint8Array.from({ length: rows * columns }, (_, i) => (((i % columns) * 3) ^ Math.floor(i / columns)) & 0xff);
}

function writeNative(name: string, pixels: Uint16Array | Uint8Array, rows: number, columns: number): string {
  const file = join(work, `${name}.dcm`);
  writeFileSync(file, syntheticDicom({ rows, columns, pixels }));
  return file;
}

const d = dcmtkPresent ? describe : describe.skip;

d('JPEG lossless decoder vs DCMTK', () => {
  const cases = [
    { name: 'u16', rows: 67, columns: 93, pixels: image16(67, 93, 7) },
    { name: 'u8', rows: 40, columns: 51, pixels: image8(40, 51) },
  ];
  for (const c of cases) {
    for (const [sv, pt] of [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0], [7, 0], [1, 2], [6, 3]] as const) {
      it(`${c.name}, selection value ${sv}, point transform ${pt}`, () => {
        const native = writeNative(`${c.name}-native`, c.pixels, c.rows, c.columns);
        const encoded = join(work, `${c.name}-sv${sv}-pt${pt}.dcm`);
        run(DCMTK.cjpeg!, ['+el', '+sv', String(sv), '+pt', String(pt), native, encoded]);
        const decodedByDcmtk = join(work, `${c.name}-sv${sv}-pt${pt}-d.dcm`);
        run(DCMTK.djpeg!, [encoded, decodedByDcmtk]);
        const reference = pixelData(readFileSync(decodedByDcmtk)).native!;
        const frame = new Uint8Array(pixelData(readFileSync(encoded)).frames![0]!);
        const bytes = c.pixels instanceof Uint8Array ? 1 : 2;
        const ours = decodeJpegLossless(frame, bytes);
        expect(ours).not.toBeNull();
        expect([ours!.width, ours!.height, ours!.components]).toEqual([c.columns, c.rows, 1]);
        const expected = bytes === 1 ? new Uint8Array(reference.subarray(0, c.rows * c.columns)) : new Uint16Array(new Uint8Array(reference).buffer, 0, c.rows * c.columns);
        expect(Array.from(ours!.pixels)).toEqual(Array.from(expected));
        if (pt === 0) {
          expect(Array.from(ours!.pixels)).toEqual(Array.from(c.pixels));
          const stock = new StockLosslessDecoder().decode(frame.buffer, frame.byteOffset, frame.length, bytes);
          expect(Array.from(ours!.pixels)).toEqual(Array.from(stock as ArrayLike<number>));
        }
      });
    }
  }

  it('restart intervals (every 3 rows): the original pixels, as dcmdjpeg decodes the same stream', () => {
    const rows = 31;
    const columns = 45;
    const pixels = image16(rows, columns, 3);
    const stream = encodeLosslessWithRestarts(pixels, rows, columns, 16, 1, 3);
    const ours = decodeJpegLossless(stream, 2);
    expect(Array.from(ours!.pixels)).toEqual(Array.from(pixels));
    // The same stream inside a DICOM file, for dcmdjpeg (process 14, SV1).
    const file = syntheticDicom({ rows, columns, pixels, transferSyntax: '1.2.840.10008.1.2.4.50', encodedFrame: stream });
    const jpegBaseline = Buffer.from('1.2.840.10008.1.2.4.50');
    const lossless = Buffer.from('1.2.840.10008.1.2.4.70');
    lossless.copy(file, file.indexOf(jpegBaseline));
    const encoded = join(work, 'restart.dcm');
    const decoded = join(work, 'restart-d.dcm');
    writeFileSync(encoded, file);
    run(DCMTK.djpeg!, [encoded, decoded]);
    const reference = new Uint16Array(new Uint8Array(pixelData(readFileSync(decoded)).native!).buffer, 0, rows * columns);
    expect(Array.from(reference)).toEqual(Array.from(pixels));
  });

  it('returns null for JPEG it does not decode (a baseline DCT stream), so the stock decoder runs', () => {
    const native = writeNative('u8-for-baseline', image8(16, 16), 16, 16);
    const encoded = join(work, 'baseline.dcm');
    run(DCMTK.cjpeg!, ['+eb', native, encoded]);
    const frame = new Uint8Array(pixelData(readFileSync(encoded)).frames![0]!);
    expect(decodeJpegLossless(frame, 1)).toBeNull();
  });
});

d('RLE decoder vs DCMTK and the stock decoder', () => {
  for (const signed of [false, true]) {
    it(`16-bit, ${signed ? 'signed' : 'unsigned'}`, async () => {
      const rows = 50;
      const columns = 77;
      const pixels = image16(rows, columns, 11).map((v, i) => (i % 7 === 0 ? v : v & 0xff00)); // runs and literals
      const native = writeNative(`rle-${signed}`, pixels, rows, columns);
      const encoded = join(work, `rle-${signed}-e.dcm`);
      run(DCMTK.crle!, [native, encoded]);
      const frame = new Uint8Array(pixelData(readFileSync(encoded)).frames![0]!);
      const ours = decodeRle16(frame, rows, columns, signed)!;
      expect(ours.pixels).toBeInstanceOf(signed ? Int16Array : Uint16Array);
      expect(Array.from(new Uint16Array(ours.pixels.buffer))).toEqual(Array.from(pixels));
      const stock = await stockDecodeRLE({ rows, columns, bitsAllocated: 16, samplesPerPixel: 1, pixelRepresentation: signed ? 1 : 0 } as never, frame);
      expect(Array.from(ours.pixels)).toEqual(Array.from(stock.pixelData as ArrayLike<number>));
      // The min/max it reports (post-processing trusts them instead of scanning again).
      expect([ours.min, ours.max]).toEqual([Math.min(...ours.pixels), Math.max(...ours.pixels)]);
      // A truncated frame: both leave the missing samples' bytes at zero.
      const cut = frame.slice(0, Math.floor(frame.length * 0.6));
      const oursCut = decodeRle16(cut, rows, columns, signed)!;
      const stockCut = await stockDecodeRLE({ rows, columns, bitsAllocated: 16, samplesPerPixel: 1, pixelRepresentation: signed ? 1 : 0 } as never, cut);
      expect(Array.from(oursCut.pixels)).toEqual(Array.from(stockCut.pixelData as ArrayLike<number>));
      expect([oursCut.min, oursCut.max]).toEqual([Math.min(...oursCut.pixels), Math.max(...oursCut.pixels)]);
    });
  }

  it('returns null for 8-bit (one segment) frames', () => {
    const native = writeNative('rle-8', image8(20, 20), 20, 20);
    const encoded = join(work, 'rle-8-e.dcm');
    run(DCMTK.crle!, [native, encoded]);
    const frame = new Uint8Array(pixelData(readFileSync(encoded)).frames![0]!);
    expect(decodeRle16(frame, 20, 20, false)).toBeNull();
  });
});

/** Corpus files in a transfer syntax, by their meta header (first 1 KB). */
function corpusFiles(syntaxes: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const info = statSync(p);
      if (info.isDirectory()) walk(p);
      else if (info.isFile() && info.size > 1024) {
        const head = readFileSync(p).subarray(0, 1024).toString('latin1');
        if (syntaxes.some((ts) => new RegExp(`${ts.replace(/\./g, '\\.')}(?![0-9.])`).test(head))) out.push(p);
      }
    }
  };
  for (const folder of ['dicom-syntax-matrix', 'dicom-pydicom', 'dicom-dicomparser', 'dicom-misc', 'mr-series-dicom2nifti']) if (existsSync(join(SHARED, folder))) walk(join(SHARED, folder));
  return out;
}

const sharedPresent = existsSync(join(SHARED, 'dicom-syntax-matrix'));
if (!sharedPresent) console.warn(`\n!!! viewer-codecs: ${SHARED} is missing: the corpus comparisons with the stock decoders are SKIPPED.\n`);
const ds = sharedPresent ? describe : describe.skip;

ds('shared corpus: identical to the stock decoders', () => {
  it('JPEG lossless (.57/.70) frames', () => {
    let compared = 0;
    for (const file of corpusFiles(['1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'])) {
      let frames: Buffer[] | undefined;
      try {
        frames = pixelData(readFileSync(file)).frames;
      } catch {
        continue;
      }
      for (const raw of (frames ?? []).slice(0, 3)) {
        const frame = new Uint8Array(raw);
        for (const bytes of [1, 2] as const) {
          const ours = decodeJpegLossless(frame, bytes);
          if (!ours || (bytes === 1) !== ours.precision <= 8) continue;
          const stock = new StockLosslessDecoder().decode(frame.buffer, frame.byteOffset, frame.length, bytes) as ArrayLike<number>;
          expect(Array.from(ours.pixels), `${file} (${bytes} byte output)`).toEqual(Array.from(stock));
          compared++;
        }
      }
    }
    console.log(`[viewer-codecs] ${compared} corpus JPEG lossless frames identical to the stock decoder`);
    expect(compared).toBeGreaterThan(0);
  });
});

/**
 * A T.81 lossless encoder (single component, one Huffman table with every
 * category 0..16 at 5 bits) that writes DRI + RSTn markers every `restartRows`
 * rows: the only way here to get restart markers into a lossless stream.
 */
function encodeLosslessWithRestarts(pixels: Uint16Array, rows: number, columns: number, precision: number, predictor: 1, restartRows: number): Uint8Array {
  const bytes: number[] = [];
  const u16 = (v: number) => bytes.push(v >> 8, v & 0xff);
  u16(0xffd8);
  u16(0xffc4);
  u16(2 + 17 + 17);
  bytes.push(0x00);
  const counts = new Array(16).fill(0);
  counts[4] = 17; // 17 codes of length 5
  bytes.push(...counts);
  for (let s = 0; s <= 16; s++) bytes.push(s);
  u16(0xffdd);
  u16(4);
  u16(restartRows * columns);
  u16(0xffc3);
  u16(11);
  bytes.push(precision);
  u16(rows);
  u16(columns);
  bytes.push(1, 1, 0x11, 0);
  u16(0xffda);
  u16(8);
  bytes.push(1, 1, 0x00, predictor, 0, 0);
  let acc = 0;
  let n = 0;
  const put = (value: number, length: number) => {
    for (let b = length - 1; b >= 0; b--) {
      acc = (acc << 1) | ((value >> b) & 1);
      if (++n === 8) {
        bytes.push(acc);
        if (acc === 0xff) bytes.push(0);
        acc = 0;
        n = 0;
      }
    }
  };
  const flush = () => {
    while (n !== 0) put(1, 1);
  };
  let marker = 0;
  for (let y = 0; y < rows; y++) {
    if (y > 0 && y % restartRows === 0) {
      flush();
      bytes.push(0xff, 0xd0 + (marker++ % 8));
    }
    const firstLine = y % restartRows === 0;
    for (let x = 0; x < columns; x++) {
      const i = y * columns + x;
      const prediction = x === 0 ? (firstLine ? 1 << (precision - 1) : pixels[i - columns]!) : pixels[i - 1]!;
      let diff = (pixels[i]! - prediction) & 0xffff;
      if (diff >= 0x8000) diff -= 0x10000;
      const magnitude = Math.abs(diff);
      const ssss = magnitude === 0 ? 0 : magnitude === 32768 ? 16 : 32 - Math.clz32(magnitude);
      put(ssss, 5);
      if (ssss > 0 && ssss < 16) put(diff < 0 ? diff + (1 << ssss) - 1 : diff, ssss);
    }
  }
  flush();
  u16(0xffd9);
  return Uint8Array.from(bytes);
}
