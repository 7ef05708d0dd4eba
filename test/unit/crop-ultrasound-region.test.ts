/**
 * The cropUltrasoundRegion preprocessing op: cuts the source grid to the
 * ultrasound B-mode region, keeps the inverse geometry (outputs land on the
 * source pixels), does nothing without a region, refuses to follow a geometric
 * op, and needs manifest schemaVersion 4.
 */
import { describe, expect, it } from 'vitest';
import { apply, identity } from '../../electron/services/ai/grid-geometry';
import { parseManifest, type PreprocessOp } from '../../electron/services/ai/model-manifest';
import { toSourceGrid } from '../../electron/services/ai/postprocessing';
import { PreprocessingError, runPreprocessing, type SourceVolume } from '../../electron/services/ai/preprocessing-pipeline';
import type { UltrasoundRegion } from '../../electron/services/dicom/ultrasound-regions';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';

const ROWS = 30;
const COLUMNS = 40;
const REGION: UltrasoundRegion = { x0: 7, y0: 5, x1: 26, y1: 28 }; // 20 columns × 24 rows

/** One 30 × 40 capture: value = row * 100 + column, so every value names its source pixel. */
function capture(region: UltrasoundRegion | null): SourceVolume {
  const data = Float32Array.from({ length: ROWS * COLUMNS }, (_, i) => Math.floor(i / COLUMNS) * 100 + (i % COLUMNS));
  return { grid: { data, shape: [1, ROWS, COLUMNS], toSource: identity() }, rescale: [{ slope: 1, intercept: 0 }], photometric: 'MONOCHROME2', sourceToPatient: null, ultrasoundRegion: region };
}

describe('cropUltrasoundRegion', () => {
  it('crops each image to the region, with model-grid indices mapping back to source pixels', () => {
    const out = runPreprocessing([{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }], capture(REGION));
    expect(out.grid.shape).toEqual([1, 24, 20]);
    for (let r = 0; r < 24; r++) for (let c = 0; c < 20; c++) expect(out.grid.data[r * 20 + c]).toBe((REGION.y0 + r) * 100 + REGION.x0 + c);
    expect(apply(out.grid.toSource, [0, 0, 0])).toEqual([0, REGION.y0, REGION.x0]);
    expect(apply(out.grid.toSource, [0, 23, 19])).toEqual([0, REGION.y1, REGION.x1]);
  });

  it('a heatmap value at a source pixel inside the region maps back onto that pixel, through the crops after it', () => {
    const ops: PreprocessOp[] = [{ op: 'cropUltrasoundRegion' }, { op: 'cropSquare' }];
    const out = runPreprocessing(ops, capture(REGION));
    // Region 20 × 24 -> centred square 20 × 20 starting 2 rows down: source (y, x) sits at model (y - 5 - 2, x - 7).
    expect(out.grid.shape).toEqual([1, 20, 20]);
    const source: [number, number] = [17, 12];
    const at = out.grid.data.indexOf(source[0] * 100 + source[1]);
    expect([Math.floor(at / 20), at % 20]).toEqual([source[0] - REGION.y0 - 2, source[1] - REGION.x0]);
    // A model output with one hot pixel there, mapped back as overlays are.
    const heatmap = new Float32Array(20 * 20);
    heatmap[at] = 1;
    const back = toSourceGrid(heatmap, out.grid, [1, ROWS, COLUMNS], 'nearest');
    expect(back[source[0] * COLUMNS + source[1]]).toBe(1);
    expect(back.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0)).toBe(1);
    // Linear interpolation (heatmaps): the model grid's corners land on the square's source corners.
    const ones = toSourceGrid(new Float32Array(400).fill(1), out.grid, [1, ROWS, COLUMNS], 'linear');
    expect(ones[(REGION.y0 + 2) * COLUMNS + REGION.x0]).toBe(1);
    expect(ones[(REGION.y0 + 21) * COLUMNS + REGION.x1]).toBe(1);
    expect(ones[0]).toBe(0);
    expect(ones[(ROWS - 1) * COLUMNS + COLUMNS - 1]).toBe(0);
  });

  it('is a no-op when the source has no region', () => {
    const ops: PreprocessOp[] = [{ op: 'cropSquare' }, { op: 'resize', size: [8, 8], interpolation: 'area' }];
    const without = runPreprocessing(ops, capture(null));
    const withOp = runPreprocessing([{ op: 'cropUltrasoundRegion' }, ...ops], capture(null));
    expect(withOp.grid.shape).toEqual(without.grid.shape);
    expect(withOp.grid.toSource).toEqual(without.grid.toSource);
    expect([...withOp.grid.data]).toEqual([...without.grid.data]);
  });

  it('refuses to run after a geometric op, region or not', () => {
    for (const earlier of [{ op: 'cropSquare' }, { op: 'resize', size: [8, 8], interpolation: 'linear' }, { op: 'flip', axes: ['rows'] }] as PreprocessOp[]) {
      for (const region of [REGION, null]) {
        expect(() => runPreprocessing([earlier, { op: 'cropUltrasoundRegion' }], capture(region))).toThrow(PreprocessingError);
        expect(() => runPreprocessing([earlier, { op: 'cropUltrasoundRegion' }], capture(region))).toThrow(`cropUltrasoundRegion must come before geometric ops ("${earlier.op}" comes first)`);
      }
    }
  });

  it('refuses a region that does not fit the grid', () => {
    expect(() => runPreprocessing([{ op: 'cropUltrasoundRegion' }], capture({ x0: 0, y0: 0, x1: COLUMNS, y1: 10 }))).toThrow(PreprocessingError);
  });
});

describe('manifest: cropUltrasoundRegion', () => {
  const onnx = tinyClassifierModel();
  const withCrop = (schemaVersion: number) => ({
    ...classifierManifest(onnx),
    schemaVersion,
    preprocessing: [{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }, { op: 'resize', size: [4, 4], interpolation: 'linear' }],
  });

  it('needs schemaVersion 4', () => {
    expect(parseManifest(withCrop(4)).ok).toBe(true);
    for (const v of [1, 2, 3]) {
      expect(parseManifest(withCrop(v))).toEqual({ ok: false, reason: 'manifest.json is invalid at preprocessing.1.op: cropUltrasoundRegion needs schemaVersion 4' });
    }
  });

  it('is refused at load when misplaced, so the package is listed invalid instead of failing on the first image with a region', () => {
    const reason = (preprocessing: unknown[]) => {
      const r = parseManifest({ ...withCrop(4), preprocessing });
      return r.ok ? null : r.reason;
    };
    expect(reason([{ op: 'cropSquare' }, { op: 'cropUltrasoundRegion' }])).toBe('manifest.json is invalid at preprocessing.1.op: cropUltrasoundRegion must come before "cropSquare" (a geometric op)');
    expect(reason([{ op: 'cropUltrasoundRegion' }, { op: 'modalityRescale' }])).toBe('manifest.json is invalid at preprocessing.0.op: cropUltrasoundRegion must come after modalityRescale');
    expect(reason([{ op: 'cropUltrasoundRegion' }, { op: 'cropUltrasoundRegion' }])).toBe('manifest.json is invalid at preprocessing.1.op: cropUltrasoundRegion may appear once');
    expect(reason([{ op: 'normalize', method: 'minmax' }, { op: 'cropUltrasoundRegion' }])).toBe('manifest.json is invalid at preprocessing.1.op: cropUltrasoundRegion must come before "normalize"');
    expect(reason([{ op: 'replicateChannels', channels: 3 }, { op: 'cropUltrasoundRegion' }])).toBe('manifest.json is invalid at preprocessing.1.op: cropUltrasoundRegion must come before "replicateChannels"');
    expect(reason([{ op: 'modalityRescale' }, { op: 'invertMonochrome1' }, { op: 'cropUltrasoundRegion' }])).toBe('manifest.json is invalid at preprocessing.2.op: cropUltrasoundRegion must come before "invertMonochrome1"');
    expect(reason([{ op: 'normalize', method: 'fixed', mean: [0], std: [1] }, { op: 'cropUltrasoundRegion' }])).toBeNull();
    expect(reason([{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }, { op: 'invertMonochrome1' }, { op: 'cropSquare' }])).toBeNull();
  });

  it('takes no fields', () => {
    const r = parseManifest({ ...withCrop(4), preprocessing: [{ op: 'cropUltrasoundRegion', region: [0, 0, 1, 1] }] });
    expect(r.ok).toBe(false);
  });
});
