import { describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { decodeImage, frameFragments, PixelDecodeError } from '../../electron/services/dicom/pixel-decoder';
import { apply, identity, invert, multiply } from '../../electron/services/ai/grid-geometry';
import type { PreprocessOp } from '../../electron/services/ai/model-manifest';
import { toSourceGrid } from '../../electron/services/ai/postprocessing';
import { runPreprocessing, type SourceVolume } from '../../electron/services/ai/preprocessing-pipeline';
import { rleFrame } from '../fixtures/rle-encoder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const decode = (buf: Buffer) => decodeImage(readDicom(new BufferByteSource(buf)));
const px = Uint16Array.from({ length: 16 }, (_, i) => i * 100);

describe('pixel decoder', () => {
  it('decodes native little endian, big endian, implicit VR and deflated', () => {
    for (const ts of ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2', '1.2.840.10008.1.2.1.99'] as const) {
      const img = decode(syntheticDicom({ rows: 4, columns: 4, pixels: px, transferSyntax: ts }));
      expect([...img.data], ts).toEqual([...px]);
      expect(img.rows).toBe(4);
    }
  });

  it('applies Bits Stored and signed Pixel Representation, and reads rescale and spacing', () => {
    // 12 bits stored with junk in the high bits (synthetic sets Bits Stored 12).
    const junk = Uint16Array.from(px, (v) => v | 0xf000);
    expect([...decode(syntheticDicom({ rows: 4, columns: 4, pixels: junk })).data]).toEqual([...px]);
    const signed = Uint16Array.from([0x0fff, 0x0800, 0x07ff, 0x0001]); // 12-bit two's complement: -1, -2048, 2047, 1
    const file = syntheticDicom({ rows: 2, columns: 2, pixels: signed, extra: [{ tag: 0x00281052, vr: 'DS', value: '-1024' }, { tag: 0x00281053, vr: 'DS', value: '2' }] });
    // Patch Pixel Representation (0028,0103) US 0 -> 1.
    const at = file.indexOf(Buffer.from([0x28, 0x00, 0x03, 0x01, 0x55, 0x53, 0x02, 0x00, 0x00, 0x00]));
    expect(at).toBeGreaterThan(0);
    file[at + 8] = 1;
    const img = decode(file);
    expect([...img.data]).toEqual([-1, -2048, 2047, 1]);
    expect(img.rescaleIntercept).toBe(-1024);
    expect(img.rescaleSlope).toBe(2);
    expect(img.pixelSpacing).toEqual([0.5, 0.5]);
  });

  it('decodes RLE Lossless (16-bit: high byte segment, then low byte)', () => {
    const values = [0x0102, 0x0a0b, 0xff00, 0x0010];
    const frame = rleFrame([values.map((v) => v >> 8), values.map((v) => v & 0xff)]);
    // syntheticDicom writes 16-bit words: the frame, padded to an even length as a fragment is.
    const words = new Uint16Array(Math.ceil(frame.length / 2));
    new Uint8Array(words.buffer).set(frame);
    const file = syntheticDicom({ rows: 2, columns: 2, transferSyntax: '1.2.840.10008.1.2.5', pixels: words, extra: [{ tag: 0x00280101, vr: 'US', value: 16 }] });
    // synthetic-dicom declares Bits Stored 12 first; the later duplicate is ignored, so mask to 12 bits.
    expect([...decode(file).data]).toEqual(values.map((v) => v & 0x0fff));
  });

  it('groups encapsulated fragments into frames: offset table, one per frame, or by frame start markers', () => {
    const item = (bytes: number[]) => {
      const b = Buffer.alloc(8 + bytes.length);
      b.writeUInt16LE(0xfffe, 0);
      b.writeUInt16LE(0xe000, 2);
      b.writeUInt32LE(bytes.length, 4);
      Buffer.from(bytes).copy(b, 8);
      return b;
    };
    const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    const f1 = [0xff, 0xd8, 1, 2];
    const f2 = [3, 4];
    const f3 = [0xff, 0xd8, 5, 6];
    const bot = (offsets: number[]) => item(offsets.flatMap((o) => [o & 0xff, (o >> 8) & 0xff, 0, 0]));
    const bytesOf = (src: BufferByteSource, groups: ReturnType<typeof frameFragments>) =>
      groups.map((g) => g.flatMap((f) => [...src.window(f.offset, f.length).buf.subarray(src.window(f.offset, f.length).start, src.window(f.offset, f.length).start + f.length)]));
    // No offset table, 3 fragments, 2 frames: split where a fragment starts with SOI.
    let buf = Buffer.concat([item([]), item(f1), item(f2), item(f3), end]);
    let src = new BufferByteSource(buf);
    expect(bytesOf(src, frameFragments(src, 0, buf.length, 2))).toEqual([[...f1, ...f2], [...f3]]);
    // Offset table (item offsets from the first fragment's tag): frame 2 starts at the third fragment.
    buf = Buffer.concat([bot([0, 8 + f1.length + 8 + f2.length]), item(f1), item(f2), item(f3), end]);
    src = new BufferByteSource(buf);
    expect(bytesOf(src, frameFragments(src, 0, buf.length, 2))).toEqual([[...f1, ...f2], [...f3]]);
    // One frame: every fragment, concatenated.
    expect(bytesOf(src, frameFragments(src, 0, buf.length, 1))).toEqual([[...f1, ...f2, ...f3]]);
    // As many fragments as frames: one each.
    expect(bytesOf(src, frameFragments(src, 0, buf.length, 3))).toEqual([f1, f2, f3]);
    // A count that fits nothing is corrupt data.
    buf = Buffer.concat([item([]), item(f1), item(f2), item(f3), end]);
    src = new BufferByteSource(buf);
    expect(() => frameFragments(src, 0, buf.length, 4)).toThrow(/holds 2 frames, Number of Frames says 4/);
  });

  it('refuses other compressed syntaxes with a clear reason', () => {
    const file = syntheticDicom({ rows: 2, columns: 2, transferSyntax: '1.2.840.10008.1.2.4.90', pixels: new Uint16Array(4) });
    expect(() => decode(file)).toThrow(PixelDecodeError);
    expect(() => decode(file)).toThrow('transfer syntax 1.2.840.10008.1.2.4.90 is not supported by the AI pipeline yet');
  });
});

function volume(shape: [number, number, number], fill: (s: number, r: number, c: number) => number, photometric = 'MONOCHROME2'): SourceVolume {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let s = 0; s < shape[0]; s++) for (let r = 0; r < shape[1]; r++) for (let c = 0; c < shape[2]; c++) data[(s * shape[1] + r) * shape[2] + c] = fill(s, r, c);
  return {
    grid: { data, shape, toSource: identity() },
    rescale: Array.from({ length: shape[0] }, () => ({ slope: 2, intercept: -10 })),
    photometric,
    // Axial slices, 1 mm, rows toward posterior, columns toward left (LPS): index (s, r, c) -> (x=c, y=r, z=s).
    sourceToPatient: [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1],
    ultrasoundRegion: null,
  };
}

describe('preprocessing pipeline', () => {
  it('rescales, inverts MONOCHROME1, windows and normalises', () => {
    const v = volume([1, 2, 2], (_s, r, c) => r * 2 + c, 'MONOCHROME1');
    const out = runPreprocessing([{ op: 'modalityRescale' }, { op: 'invertMonochrome1' }, { op: 'window', center: -6, width: 4 }, { op: 'normalize', method: 'minmax' }], v);
    // stored 0,1,2,3 -> -10,-8,-6,-4 -> inverted -4,-6,-8,-10 -> window [-8,-4] -> -4,-6,-8,-8 -> [1, .5, 0, 0]
    expect([...out.channels[0]!]).toEqual([1, 0.5, 0, 0]);
  });

  it('reorients to LIA exactly (a permutation for a 1 mm grid) and maps masks back to the source pixels', () => {
    const v = volume([4, 4, 4], (s, r, c) => s * 100 + r * 10 + c);
    const out = runPreprocessing([{ op: 'reorient', orientation: 'LIA', spacingMm: [1, 1, 1], size: [4, 4, 4], interpolation: 'linear' }], v);
    const at = (i: number, j: number, k: number) => out.grid.data[(i * 4 + j) * 4 + k]!;
    // LIA: i -> +x (column), j -> -z (slice reversed), k -> -y (row reversed): input[i][j][k] = vol[3-j][3-k][i].
    for (const [i, j, k] of [[0, 0, 0], [1, 2, 3], [3, 0, 2]] as const) expect(at(i, j, k)).toBe((3 - j) * 100 + (3 - k) * 10 + i);
    const back = toSourceGrid(out.grid.data, out.grid, [4, 4, 4], 'nearest');
    expect([...back]).toEqual([...v.grid.data]);
  });

  it('reorient + min-max in one pass gives bitwise the two-pass result, geometry included', () => {
    const fill = (s: number, r: number, c: number) => Math.fround(Math.sin(s * 7 + r * 3 + c) * 1234.5 + (s * r) / 7);
    const reorient: PreprocessOp = { op: 'reorient', orientation: 'LIA', spacingMm: [1, 1, 1], size: [6, 5, 7], interpolation: 'linear' };
    const fused = runPreprocessing([reorient, { op: 'normalize', method: 'minmax' }], volume([5, 7, 6], fill));
    // A no-op window between the two keeps them apart: the reference two passes.
    const twoPass = runPreprocessing([reorient, { op: 'window', center: 0, width: 1e9 }, { op: 'normalize', method: 'minmax' }], volume([5, 7, 6], fill));
    expect(fused.grid.shape).toEqual([6, 5, 7]);
    expect(fused.grid.toSource).toEqual(twoPass.grid.toSource);
    expect(Buffer.from(fused.grid.data.buffer).equals(Buffer.from(twoPass.grid.data.buffer))).toBe(true);
    expect(Math.min(...fused.grid.data)).toBe(0);
    expect(Math.max(...fused.grid.data)).toBe(1);
  });

  it('resizes, crops/pads, flips and rotates with a composed inverse geometry', () => {
    const v = volume([1, 4, 6], (_s, r, c) => r * 6 + c);
    const out = runPreprocessing(
      [
        { op: 'cropPad', size: [6, 6], pad: 0 },
        { op: 'flip', axes: ['columns'] },
        { op: 'rotate90', k: 1 },
        { op: 'resize', size: [12, 12], interpolation: 'nearest' },
      ],
      v,
    );
    expect(out.grid.shape).toEqual([1, 12, 12]);
    const back = toSourceGrid(out.grid.data, out.grid, [1, 4, 6], 'nearest');
    expect([...back]).toEqual([...v.grid.data]);
    // The geometry composes: source = toSource · model, and inverting it is exact.
    const roundTrip = multiply(out.grid.toSource, invert(out.grid.toSource));
    roundTrip.forEach((x, i) => expect(x).toBeCloseTo(identity()[i]!, 9));
  });

  it('centre-crops to the short edge and area-averages down (MedMNIST preprocessing), mapping back exactly', () => {
    // 6 rows x 10 columns: the square is columns 2..7.
    const v = volume([1, 6, 10], (_s, r, c) => r * 10 + c);
    const out = runPreprocessing([{ op: 'cropSquare' }, { op: 'resize', size: [3, 3], interpolation: 'area' }], v);
    expect(out.grid.shape).toEqual([1, 3, 3]);
    // Each output pixel averages a 2x2 block of the 6x6 crop: block (0,0) = {2, 3, 12, 13} -> 7.5.
    const expected = [7.5, 9.5, 11.5, 27.5, 29.5, 31.5, 47.5, 49.5, 51.5];
    [...out.grid.data].forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 5));
    // Model pixel (0, 1, 1) is centred on source (0, 2.5, 4.5): the middle of its 2x2 block in the original image.
    const centre = apply(out.grid.toSource, [0, 1, 1]);
    expect(centre.map((x) => Math.round(x * 1000) / 1000)).toEqual([0, 2.5, 4.5]);
    // Non-integer ratios keep the total: a 7x7 area-downsampled to 3x3 preserves the mean.
    const w = volume([1, 7, 7], (_s, r, c) => (r * 7 + c) % 5);
    const small = runPreprocessing([{ op: 'resize', size: [3, 3], interpolation: 'area' }], w);
    const mean = (d: Float32Array) => d.reduce((a, b) => a + b, 0) / d.length;
    expect(mean(small.grid.data)).toBeCloseTo(mean(w.grid.data), 4);
  });

  it('replicates channels and applies fixed per-channel normalisation', () => {
    const v = volume([1, 1, 2], (_s, _r, c) => c);
    const out = runPreprocessing([{ op: 'replicateChannels', channels: 3 }, { op: 'normalize', method: 'fixed', mean: [0, 0.5, 1], std: [1, 0.5, 2] }], v);
    expect(out.channels.map((c) => [...c])).toEqual([[0, 1], [-1, 1], [-0.5, 0]]);
  });
});

describe('integer-affine resampling fast paths', () => {
  it('permutations, flips, crops and pads copy exactly what a per-voxel lookup gives', async () => {
    const { resample } = await import('../../electron/services/ai/grid-geometry');
    const inShape: [number, number, number] = [5, 7, 9];
    const src = Float32Array.from({ length: 5 * 7 * 9 }, (_, i) => i + 1);
    const perms = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0], [0, 2, 1], [1, 0, 2]];
    for (const perm of perms) {
      for (const flips of [0, 1, 2, 5, 7]) {
        for (const offset of [0, -2, 3]) {
          // out axis a reads input axis perm[a], optionally flipped, shifted by `offset` (pads and crops).
          const shape = perm.map((p) => inShape[p]! + (offset === -2 ? 1 : 0)) as [number, number, number];
          const m = new Array<number>(16).fill(0);
          m[15] = 1;
          for (let a = 0; a < 3; a++) {
            const flip = (flips >> a) & 1;
            m[perm[a]! * 4 + a] = flip ? -1 : 1;
            m[perm[a]! * 4 + 3] = (flip ? inShape[perm[a]!]! - 1 : 0) + offset;
          }
          const got = resample({ data: src, shape: inShape }, m, shape, 'nearest', -7);
          const want = new Float32Array(shape[0] * shape[1] * shape[2]);
          let o = 0;
          for (let i = 0; i < shape[0]; i++)
            for (let j = 0; j < shape[1]; j++)
              for (let k = 0; k < shape[2]; k++, o++) {
                const p = [0, 1, 2].map((r) => m[r * 4]! * i + m[r * 4 + 1]! * j + m[r * 4 + 2]! * k + m[r * 4 + 3]!);
                want[o] = p.every((v, ax) => v >= 0 && v < inShape[ax]!) ? src[(p[0]! * inShape[1] + p[1]!) * inShape[2] + p[2]!]! : -7;
              }
          expect([...got], `perm ${perm} flips ${flips} offset ${offset}`).toEqual([...want]);
        }
      }
    }
  });
});
