/**
 * The inverse geometry of every geometric preprocessing op: a model-space
 * index mapped through the composed affine (`grid.toSource`) lands on the
 * image pixel the model actually saw there, and outputs mapped back with
 * `toSourceGrid` cover the right source pixels. Non-square images and
 * anisotropic voxel spacing throughout.
 */
import { describe, expect, it } from 'vitest';
import { apply, identity, type Mat4, multiply, orientedGrid, type Shape3 } from '../../electron/services/ai/grid-geometry';
import type { PreprocessOp } from '../../electron/services/ai/model-manifest';
import { blockCentre, heatmapStep, toCoarseSourceGrid, toSourceGrid } from '../../electron/services/ai/postprocessing';
import { runPreprocessing, type SourceVolume } from '../../electron/services/ai/preprocessing-pipeline';

/** Each voxel's value encodes its own index: s·1e6 + r·1e3 + c (exact in float32 up to 16M). */
const code = (s: number, r: number, c: number) => s * 1_000_000 + r * 1_000 + c;
const decode = (v: number): Shape3 => [Math.floor(v / 1_000_000), Math.floor((v % 1_000_000) / 1_000), v % 1_000];

function indexVolume(shape: Shape3, sourceToPatient: Mat4 | null = null): SourceVolume {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let s = 0; s < shape[0]; s++) for (let r = 0; r < shape[1]; r++) for (let c = 0; c < shape[2]; c++) data[(s * shape[1] + r) * shape[2] + c] = code(s, r, c);
  return { grid: { data, shape, toSource: identity() }, rescale: [], photometric: 'MONOCHROME2', sourceToPatient, ultrasoundRegion: null };
}

/**
 * For every model voxel that took a source value (nearest interpolation), the
 * inverse affine maps the model index to within half a pixel of that source
 * pixel on every axis; padded voxels map outside the source. Returns the
 * number of voxels checked.
 */
function expectInverseHits(ops: PreprocessOp[], shape: Shape3, sourceToPatient: Mat4 | null = null, pad = -1): number {
  const out = runPreprocessing(ops, indexVolume(shape, sourceToPatient));
  const [d, h, w] = out.grid.shape;
  let checked = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < h; j++) {
      for (let k = 0; k < w; k++) {
        const v = out.grid.data[(i * h + j) * w + k]!;
        const at = apply(out.grid.toSource, [i, j, k]);
        // Exactly on the source's outer edge: either the edge pixel or the fill is right.
        if (at.some((x, a) => Math.abs(x + 0.5) < 1e-6 || Math.abs(x - (shape[a]! - 0.5)) < 1e-6)) continue;
        if (at.some((x, a) => x < -0.5 || x > shape[a]! - 0.5)) {
          expect(v, `model voxel ${[i, j, k]} maps outside the source (${at}) and must hold the fill`).toBe(pad);
          continue;
        }
        const src = decode(v);
        for (let a = 0; a < 3; a++) expect(Math.abs(at[a]! - src[a]!), `model ${[i, j, k]} -> ${at} but the model saw source ${src}`).toBeLessThanOrEqual(0.5 + 1e-9);
        checked++;
      }
    }
  }
  return checked;
}

describe('inverse geometry of each preprocessing op', () => {
  it('centre crop + resize on a non-square image (crop the long side, pad the short one, down- and up-sample)', () => {
    // 1 × 30 × 50: crop columns 50 -> 36 (offset 7), pad rows 30 -> 36 (offset -3), then resize.
    expect(expectInverseHits([{ op: 'cropPad', size: [36, 36], pad: -1 }, { op: 'resize', size: [12, 12], interpolation: 'nearest' }], [1, 30, 50])).toBeGreaterThan(100);
    expect(expectInverseHits([{ op: 'cropPad', size: [36, 36], pad: -1 }, { op: 'resize', size: [72, 72], interpolation: 'nearest' }], [1, 30, 50])).toBeGreaterThan(4000);
    // Resize first (non-uniform scale 30/7 and 50/9), then crop.
    expect(expectInverseHits([{ op: 'resize', size: [7, 9], interpolation: 'nearest' }, { op: 'cropPad', size: [5, 5], pad: -1 }], [1, 30, 50])).toBe(25);
  });

  it('maps a model pixel centre to the exact (fractional) source position: pixel-centre aligned resize, centred crop', () => {
    const out = runPreprocessing([{ op: 'cropPad', size: [30, 40], pad: 0 }, { op: 'resize', size: [10, 8], interpolation: 'linear' }], indexVolume([1, 30, 50]));
    // Crop: column offset (50 − 40)/2 = 5. Resize 30 -> 10 rows (×3), 40 -> 8 columns (×5): src = (m + 0.5)·s − 0.5.
    expect(apply(out.grid.toSource, [0, 0, 0])).toEqual([0, 1, 5 + 2]);
    expect(apply(out.grid.toSource, [0, 9, 7])).toEqual([0, 28, 5 + 37]);
    // Linear resampling of an index ramp reproduces the ramp at the mapped position.
    const v = out.grid.data[4 * 8 + 3]!;
    const at = apply(out.grid.toSource, [0, 4, 3]);
    expect(v).toBeCloseTo(at[1] * 1_000 + at[2], 2);
  });

  it('flip on each axis and rotate90 k = 1, 2, 3 on a non-square volume', () => {
    const shape: Shape3 = [3, 5, 7];
    const n = shape[0] * shape[1] * shape[2];
    for (const axes of [['rows'], ['columns'], ['slices'], ['rows', 'columns', 'slices']] as const) {
      expect(expectInverseHits([{ op: 'flip', axes: [...axes] }], shape)).toBe(n);
    }
    for (const k of [1, 2, 3]) {
      const out = runPreprocessing([{ op: 'rotate90', k }], indexVolume(shape));
      expect(out.grid.shape).toEqual(k % 2 ? [3, 7, 5] : shape);
      expect(expectInverseHits([{ op: 'rotate90', k }], shape)).toBe(n);
    }
    // Counter-clockwise like numpy.rot90: the top-right source pixel becomes the top-left model pixel.
    const once = runPreprocessing([{ op: 'rotate90', k: 1 }], indexVolume(shape));
    expect(decode(once.grid.data[0]!)).toEqual([0, 0, 6]);
    // Composed with flips and a crop.
    expect(expectInverseHits([{ op: 'flip', axes: ['columns'] }, { op: 'rotate90', k: 3 }, { op: 'cropPad', size: [4, 4], pad: -1 }], shape)).toBe(3 * 4 * 4);
  });

  it('reorients an anisotropic, non-cubic volume (0.5 × 0.8 mm in plane, 2 mm slices) to 1 mm LIA; model voxels map back to the source voxel they sampled', () => {
    const shape: Shape3 = [10, 24, 30];
    // Axial LPS: column -> +x (0.5 mm), row -> +y (0.8 mm), slice -> +z (2 mm), origin (−7, 3, 11).
    const s2p: Mat4 = [0, 0, 0.5, -7, 0, 0.8, 0, 3, 2, 0, 0, 11, 0, 0, 0, 1];
    const ops: PreprocessOp[] = [{ op: 'reorient', orientation: 'LIA', spacingMm: [1, 1, 1], size: [16, 22, 20], interpolation: 'nearest' }];
    // Outside the source the grid holds the volume minimum (0 here).
    const checked = expectInverseHits(ops, shape, s2p, 0);
    expect(checked).toBeGreaterThan(2000);

    // The model grid's patient geometry is consistent: sourceToPatient · toSource is the LIA 1 mm grid.
    const out = runPreprocessing(ops, indexVolume(shape, s2p));
    const modelToPatient = multiply(s2p, out.grid.toSource);
    const centre = apply(s2p, [(shape[0] - 1) / 2, (shape[1] - 1) / 2, (shape[2] - 1) / 2]);
    const expected = orientedGrid('LIA', [1, 1, 1], [16, 22, 20], centre);
    modelToPatient.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 9));
    // Axis 0 of the model points to L (+x), axis 1 to I (−z), axis 2 to A (−y).
    const o = apply(modelToPatient, [0, 0, 0]);
    expect(apply(modelToPatient, [1, 0, 0]).map((x, i) => x - o[i]!)).toEqual([1, 0, 0].map((x) => expect.closeTo(x, 9)));
    expect(apply(modelToPatient, [0, 1, 0]).map((x, i) => x - o[i]!)).toEqual([0, 0, -1].map((x) => expect.closeTo(x, 9)));
    expect(apply(modelToPatient, [0, 0, 1]).map((x, i) => x - o[i]!)).toEqual([0, -1, 0].map((x) => expect.closeTo(x, 9)));
  });

  it('maps a model-space label back onto the source pixels whose centres fall in it (nearest), for a non-square crop + resize + rotate', () => {
    const shape: Shape3 = [1, 20, 32];
    const out = runPreprocessing([{ op: 'cropPad', size: [20, 24], pad: 0 }, { op: 'rotate90', k: 1 }, { op: 'resize', size: [12, 10], interpolation: 'nearest' }], indexVolume(shape));
    const [, h, w] = out.grid.shape;
    const label = new Uint8Array(h * w);
    const [mj, mk] = [5, 3];
    label[mj * w + mk] = 1;
    const back = toSourceGrid(label, out.grid, shape, 'nearest');
    const inv = (() => {
      // source -> model via the inverse of toSource (what toSourceGrid samples with).
      const m = out.grid.toSource;
      const a = [m[5]!, m[6]!, m[9]!, m[10]!];
      const det = a[0]! * a[3]! - a[1]! * a[2]!;
      return (r: number, c: number): [number, number] => {
        const y = r - m[7]!;
        const x = c - m[11]!;
        return [(a[3]! * y - a[1]! * x) / det, (-a[2]! * y + a[0]! * x) / det];
      };
    })();
    let hits = 0;
    for (let r = 0; r < shape[1]; r++) {
      for (let c = 0; c < shape[2]; c++) {
        const [j, k] = inv(r, c);
        const inside = Math.round(j) === mj && Math.round(k) === mk;
        if (Math.abs(j - Math.round(j)) === 0.5 || Math.abs(k - Math.round(k)) === 0.5) continue; // ties
        expect(back[r * shape[2] + c], `source (${r}, ${c}) -> model (${j}, ${k})`).toBe(inside ? 1 : 0);
        if (inside) hits++;
      }
    }
    expect(hits).toBeGreaterThan(0);
  });
});

describe('coarse heatmaps: heatmapStep and coarserGrid', () => {
  it('keeps every pixel within budget, else the smallest step whose stored array fits', () => {
    expect(heatmapStep(1, 512, 512, 1000 * 1000)).toBe(1);
    expect(heatmapStep(300, 600, 800, 16 * 1024 * 1024)).toBe(3);
    // 4 planes of 100 × 100 in a budget of 10,000: step 2 stores 4 × 50 × 50.
    expect(heatmapStep(4, 100, 100, 10_000)).toBe(2);
    // Odd sizes round up: 3 × ceil(101 / 2)² = 7,803 > 7,500, so step 3.
    expect(heatmapStep(3, 101, 101, 7_500)).toBe(3);
    for (const [slices, rows, columns, budget] of [[7, 333, 517, 20_000], [1, 6000, 2, 1000], [50, 64, 64, 5000]] as const) {
      const step = heatmapStep(slices, rows, columns, budget);
      const stored = (s: number) => slices * Math.ceil(rows / s) * Math.ceil(columns / s);
      expect(stored(step) <= budget || (step >= rows && step >= columns)).toBe(true);
      if (step > 1) expect(stored(step - 1)).toBeGreaterThan(budget);
    }
  });

  it('a coarse map holds the full map at each block centre (odd step: the centre pixel itself), a partial last block at its own', () => {
    // A model grid a quarter of the source's size (scale 4, offset 1.5: a 2×2-pixel-centred downsample).
    const model = { data: new Float32Array(2 * 8 * 11), shape: [2, 8, 11] as Shape3, toSource: [1, 0, 0, 0, 0, 4, 0, 1.5, 0, 0, 4, 1.5, 0, 0, 0, 1] };
    model.data.forEach((_, i) => (model.data[i] = Math.sin(i * 0.37) * 10 + i * 0.01 + 20));
    // 31 rows and 41 columns at step 3: last blocks of one row (30) and two columns (39–40, centre 39.5).
    const source: Shape3 = [2, 31, 41];
    const full = toSourceGrid(model.data, model, source, 'linear');
    const at = (s: number, r: number, c: number) => {
      // Bilinear between full-grid pixels (for the half-pixel centre of the partial column block).
      const [c0, c1] = [Math.floor(c), Math.ceil(c)];
      return (full[(s * 31 + r) * 41 + c0]! + full[(s * 31 + r) * 41 + c1]!) / 2;
    };
    const step = 3;
    const coarse = toCoarseSourceGrid(model.data, model, source, step);
    expect(coarse.shape).toEqual([2, 11, 14]);
    for (let s = 0; s < 2; s++) {
      for (let r = 0; r < 11; r++) {
        for (let c = 0; c < 14; c++) {
          expect(blockCentre(r, step, 31)).toBe(r === 10 ? 30 : r * step + 1);
          expect(blockCentre(c, step, 41)).toBe(c === 13 ? 39.5 : c * step + 1);
          expect(coarse.data[(s * 11 + r) * 14 + c], `(${s}, ${r}, ${c})`).toBeCloseTo(at(s, blockCentre(r, step, 31), blockCentre(c, step, 41)), 4);
        }
      }
    }
    // Inside the image everywhere: no zeros on the last row or column (the full map is ≥ 10 wherever it is defined).
    expect(Math.min(...coarse.data)).toBeGreaterThan(5);
    expect(toCoarseSourceGrid(model.data, model, source, 1)).toEqual({ data: full, shape: source });
  });
});
