/**
 * The inference job on multi-region ultrasound captures (manifest op
 * cropUltrasoundRegion, unit "image"), with a tiny model whose outputs name
 * the pixels they came from: every B-mode region is its own unit; an image's
 * sigmoid scores are each label's highest region; its heatmap plane holds each
 * region's map inside it, negative values included, and 0 elsewhere; detection
 * boxes land in their region with the image's slice index; the region warning
 * counts images analysed whole. Unit "slices" keeps one common region.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noUltrasoundRegionWarning, runInferenceJob } from '../../electron/services/ai/inference-job';
import type { ModelManifest } from '../../electron/services/ai/model-manifest';
import { SessionManager } from '../../electron/services/ai/session-manager';
import type { UltrasoundRegion } from '../../electron/services/dicom/ultrasound-regions';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { pixelProbeModel, PROBE_HEAT_OFFSET } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec, syntheticDicom, ultrasoundRegionItem, ultrasoundRegions } from '../fixtures/synthetic-dicom';

const ROWS = 24;
const COLUMNS = 40;
const LEFT: UltrasoundRegion = { x0: 2, y0: 4, x1: 17, y1: 19 }; // 16 × 16
const RIGHT: UltrasoundRegion = { x0: 22, y0: 4, x1: 37, y1: 19 }; // 16 × 16
const STUDY = '1.2.826.0.1.3680043.10.1138.961';
const HEAT_OFFSET = PROBE_HEAT_OFFSET;

const ONNX = pixelProbeModel();
const OUTPUTS: ModelManifest['outputs'] = [
  { kind: 'classification', tensor: 'logits', labels: ['bright'], activation: 'sigmoid', thresholds: 0.5 },
  { kind: 'heatmap', tensor: 'heat', label: 'bright', normalize: 'none' },
  { kind: 'detection', tensor: 'boxes', boxFormat: 'xyxy', normalized: false, labels: ['bright'], scoreThreshold: 0.5, nmsIouThreshold: 0.5 },
];
const manifest = (unit: 'image' | 'slices'): ModelManifest =>
  classifierManifest(ONNX, {
    schemaVersion: 4,
    id: `test-us-regions-${unit}`,
    applicability: { modalities: ['US'] },
    input: { unit, tensors: [{ name: 'image', dtype: 'float32', shape: [unit === 'slices' ? 'N' : 1, 1, 'H', 'W'], layout: 'NCHW' }] },
    preprocessing: [{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }],
    outputs: OUTPUTS,
  });

const inside = (g: UltrasoundRegion, r: number, c: number) => r >= g.y0 && r <= g.y1 && c >= g.x0 && c <= g.x1;

/** Left view dark (40–55), right view bright (180–195), the UI around them 255. */
function pixelValue(r: number, c: number): number {
  if (inside(LEFT, r, c)) return 40 + ((r + c) % 16);
  if (inside(RIGHT, r, c)) return 180 + ((r * 3 + c) % 16);
  return 255;
}
const PIXELS = Uint8Array.from({ length: ROWS * COLUMNS }, (_, i) => pixelValue(Math.floor(i / COLUMNS), i % COLUMNS));

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const meanOf = (g: UltrasoundRegion) => {
  let sum = 0;
  for (let r = g.y0; r <= g.y1; r++) for (let c = g.x0; c <= g.x1; c++) sum += pixelValue(r, c);
  return sum / ((g.x1 - g.x0 + 1) * (g.y1 - g.y0 + 1));
};
const scoreOf = (g: UltrasoundRegion) => sigmoid(meanOf(g) * 0.01 - 1);

describe('inference job: each B-mode region of an image is analysed', () => {
  let root: string;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  const files: string[] = [];
  /** A capture of the series (`${STUDY}.1` unless said), ROWS × COLUMNS of PIXELS unless said, with these B-mode regions. */
  const write = (instance: number, regions: DicomElementSpec[][] | null, o: { series?: string; rows?: number; columns?: number; pixels?: Uint8Array } = {}) => {
    const file = join(root, `${instance}.dcm`);
    const series = o.series ?? `${STUDY}.1`;
    writeFileSync(
      file,
      syntheticDicom({
        modality: 'US',
        studyInstanceUid: STUDY,
        seriesInstanceUid: series,
        sopInstanceUid: `${series}.${instance}`,
        instanceNumber: instance,
        rows: o.rows ?? ROWS,
        columns: o.columns ?? COLUMNS,
        pixels: o.pixels ?? PIXELS,
        pixelSpacing: null,
        ...(regions ? { extra: [ultrasoundRegions(regions)] } : {}),
      }),
    );
    return file;
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-job-regions-'));
    // Image 0: the left view only; image 1: both views (listed right first); image 2: no regions.
    files.push(write(1, [ultrasoundRegionItem(LEFT)]), write(2, [ultrasoundRegionItem(RIGHT), ultrasoundRegionItem(LEFT)]), write(3, null));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  const run = async (m: ModelManifest, name: string, series = files) => {
    const outputDir = join(root, 'out', name);
    const modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, ONNX);
    const r = await runInferenceJob({ jobId: name, model: { id: m.id, modelPath, manifest: m }, files: series, provider: 'cpu', outputDir }, sessions);
    expect(r.status, r.reason).toBe('done');
    const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
    if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap');
    const bytes = gunzipSync(readFileSync(join(outputDir, heatmap.map.file)));
    return { r, heat: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  };

  it('unit "image": scores, regions, heatmap planes, boxes and the warning per image', async () => {
    const { r, heat } = await run(manifest('image'), 'image');
    const classification = r.outputs.find((o) => o.kind === 'classification');
    if (classification?.kind !== 'classification') throw new Error('no classification');
    const left = scoreOf(LEFT);
    const right = scoreOf(RIGHT);
    const whole = sigmoid(meanOf({ x0: 0, y0: 0, x1: COLUMNS - 1, y1: ROWS - 1 }) * 0.01 - 1);
    expect(right).toBeGreaterThan(left);
    expect(classification.regions?.map(({ scores, ...g }) => ({ ...g, score: scores[0] }))).toEqual([
      { image: 0, ...LEFT, score: expect.closeTo(left, 6) as number },
      { image: 1, ...LEFT, score: expect.closeTo(left, 6) as number },
      { image: 1, ...RIGHT, score: expect.closeTo(right, 6) as number },
    ]);
    // One row per image: the dual image scores as its brighter view.
    expect(classification.perImage?.map((row) => row.length)).toEqual([1, 1, 1]);
    expect(classification.perImage?.[0]?.[0]).toBeCloseTo(left, 6);
    expect(classification.perImage?.[1]?.[0]).toBeCloseTo(right, 6);
    expect(classification.perImage?.[2]?.[0]).toBeCloseTo(whole, 6);
    expect(r.findings[0]?.score).toBeCloseTo(Math.max(left, right, whole), 6);
    // Counted in images, not units: one of three analysed whole.
    expect(r.warnings).toEqual([noUltrasoundRegionWarning(1, 3)]);

    const plane = ROWS * COLUMNS;
    for (let image = 0; image < 3; image++) {
      for (let row = 0; row < ROWS; row++) {
        for (let col = 0; col < COLUMNS; col++) {
          const analysed = image === 2 || inside(LEFT, row, col) || (image === 1 && inside(RIGHT, row, col));
          const expected = analysed ? pixelValue(row, col) - HEAT_OFFSET : 0;
          expect(heat[image * plane + row * COLUMNS + col], `image ${image} (${row}, ${col})`).toBeCloseTo(expected, 4);
        }
      }
    }
    // The left view's map is negative (dark pixels): kept as is next to the right view.
    expect(heat[plane + (LEFT.y0 + 1) * COLUMNS + LEFT.x0 + 1]).toBeLessThan(0);

    const detection = r.outputs.find((o) => o.kind === 'detection');
    if (detection?.kind !== 'detection') throw new Error('no detection');
    const uid = (i: number) => `${STUDY}.1.${i + 1}`;
    const box = (slice: number, x0: number, y0: number) => ({ label: 'bright', score: expect.closeTo(0.9, 6) as number, slice, sopInstanceUid: uid(slice), x0: x0 + 1, y0: y0 + 1, x1: x0 + 4, y1: y0 + 4 });
    expect(detection.boxes).toEqual([box(0, LEFT.x0, LEFT.y0), box(1, LEFT.x0, LEFT.y0), box(1, RIGHT.x0, RIGHT.y0), box(2, 0, 0)]);
  });

  it('images of several sizes: unit "image" analyses each at its own size; the heatmap planes are the largest, each image top-left', async () => {
    // A smaller capture (20 × 36) with two views of its own, between two images of the first size.
    const SMALL = { rows: 20, columns: 36 };
    const L2: UltrasoundRegion = { x0: 1, y0: 2, x1: 16, y1: 17 };
    const R2: UltrasoundRegion = { x0: 19, y0: 2, x1: 34, y1: 17 };
    const smallValue = (r: number, c: number) => (inside(L2, r, c) ? 60 + ((r + 2 * c) % 16) : inside(R2, r, c) ? 200 + ((r + c) % 16) : 255);
    const small = write(22, [ultrasoundRegionItem(L2), ultrasoundRegionItem(R2)], {
      ...SMALL,
      pixels: Uint8Array.from({ length: SMALL.rows * SMALL.columns }, (_, i) => smallValue(Math.floor(i / SMALL.columns), i % SMALL.columns)),
    });
    const series = [write(21, [ultrasoundRegionItem(LEFT)]), small, write(23, null)];
    const { r, heat } = await run(manifest('image'), 'sizes', series);
    const classification = r.outputs.find((o) => o.kind === 'classification');
    if (classification?.kind !== 'classification') throw new Error('no classification');
    const smallMean = (g: UltrasoundRegion) => {
      let sum = 0;
      for (let y = g.y0; y <= g.y1; y++) for (let x = g.x0; x <= g.x1; x++) sum += smallValue(y, x);
      return sum / ((g.x1 - g.x0 + 1) * (g.y1 - g.y0 + 1));
    };
    const whole = sigmoid(meanOf({ x0: 0, y0: 0, x1: COLUMNS - 1, y1: ROWS - 1 }) * 0.01 - 1);
    expect(classification.perImage?.map((row) => row[0])).toEqual([
      expect.closeTo(scoreOf(LEFT), 6),
      expect.closeTo(sigmoid(smallMean(R2) * 0.01 - 1), 6),
      expect.closeTo(whole, 6),
    ]);
    expect(classification.regions?.filter((g) => g.image === 1).map(({ scores, ...g }) => ({ ...g, score: scores[0] }))).toEqual([
      { image: 1, ...L2, score: expect.closeTo(sigmoid(smallMean(L2) * 0.01 - 1), 6) as number },
      { image: 1, ...R2, score: expect.closeTo(sigmoid(smallMean(R2) * 0.01 - 1), 6) as number },
    ]);

    const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
    if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap');
    expect(heatmap.map.shape).toEqual([3, ROWS, COLUMNS]);
    expect(heatmap.map.imageShapes).toEqual([[ROWS, COLUMNS], [SMALL.rows, SMALL.columns], [ROWS, COLUMNS]]);
    // One plane per image no longer maps one patient grid.
    expect(heatmap.map.sourceToPatient).toBeNull();
    const plane = ROWS * COLUMNS;
    for (let row = 0; row < ROWS; row++) {
      for (let col = 0; col < COLUMNS; col++) {
        const own = row < SMALL.rows && col < SMALL.columns && (inside(L2, row, col) || inside(R2, row, col));
        expect(heat[plane + row * COLUMNS + col], `small image (${row}, ${col})`).toBeCloseTo(own ? smallValue(row, col) - HEAT_OFFSET : 0, 4);
        expect(heat[row * COLUMNS + col]).toBeCloseTo(inside(LEFT, row, col) ? pixelValue(row, col) - HEAT_OFFSET : 0, 4);
        expect(heat[2 * plane + row * COLUMNS + col]).toBeCloseTo(pixelValue(row, col) - HEAT_OFFSET, 4);
      }
    }
    // Boxes stay in each image's own pixels.
    const detection = r.outputs.find((o) => o.kind === 'detection');
    if (detection?.kind !== 'detection') throw new Error('no detection');
    expect(detection.boxes.filter((b) => b.slice === 1).map((b) => [b.x0, b.y0])).toEqual([
      [L2.x0 + 1, L2.y0 + 1],
      [R2.x0 + 1, R2.y0 + 1],
    ]);

    // A model that reads the series as one volume cannot: it says which sizes.
    const modelPath = join(root, 'model.onnx');
    const volume = await runInferenceJob({ jobId: 'sizes-slices', model: { id: 'slices', modelPath, manifest: manifest('slices') }, files: series, provider: 'cpu', outputDir: join(root, 'out', 'sizes-slices') }, sessions);
    expect(volume).toMatchObject({ status: 'not-analysed', reason: `the images of the series differ in size (${ROWS}×${COLUMNS}, ${SMALL.rows}×${SMALL.columns}) and this model reads the series as one volume` });
  });

  it('images whose shapes are far apart: analysed, their padded heatmap planes kept coarse enough to stay within budget', async () => {
    const strip = (instance: number, rows: number, columns: number) => write(instance, null, { rows, columns, pixels: new Uint8Array(rows * columns).fill(128) });
    // 2 × 6000 + 6000 × 2 pixels, which one 6000 × 6000 plane each would turn into 72 million values.
    const series = [strip(31, 2, 6000), strip(32, 6000, 2)];
    const { r, heat } = await run(manifest('image'), 'strips', series);
    const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
    if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap');
    // 72 M padded values: step 3 stores 2 × 2000 × 2000; each strip fills one block line of its plane (heat 128 − 100).
    expect(heatmap.map).toMatchObject({ shape: [2, 2000, 2000], step: 3, imageShapes: [[2, 6000], [6000, 2]] });
    const plane = 2000 * 2000;
    const own = (k: number, i: number) => (k === 0 ? i < 2000 : i % 2000 === 0);
    let wrong = 0;
    for (let k = 0; k < 2; k++) for (let i = 0; i < plane; i++) if (Math.abs(heat[k * plane + i]! - (own(k, i) ? 28 : 0)) > 1e-4) wrong++;
    expect(wrong).toBe(0);
  });

  it('a series too large for its heatmap at every pixel: one value per 2×2 block, each view in its region, the array within budget', async () => {
    // Two 4101 × 4101 captures (33.6 M pixels, above MAX_HEATMAP_VALUES): the first with two views that touch between
    // columns 2000 and 2001 (inside the block of columns 2000–2001), the second none. 4101 is odd: the last block of
    // rows and of columns holds one image pixel.
    const SIDE = 4101;
    const L: UltrasoundRegion = { x0: 2, y0: 4, x1: 2000, y1: 4003 };
    const R: UltrasoundRegion = { x0: 2001, y0: 4, x1: 4049, y1: 4003 };
    const value = (r: number, c: number) => (inside(L, r, c) ? 40 + ((r + 2 * c) % 31) : inside(R, r, c) ? 170 + ((3 * r + c) % 29) : 255 - ((r * c) % 7));
    const pixels = new Uint8Array(SIDE * SIDE);
    for (let r = 0, i = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++, i++) pixels[i] = value(r, c);
    const big = (instance: number, regions: DicomElementSpec[][] | null) => write(instance, regions, { series: `${STUDY}.4`, rows: SIDE, columns: SIDE, pixels });
    const { r, heat } = await run(manifest('image'), 'coarse', [big(41, [ultrasoundRegionItem(L), ultrasoundRegionItem(R)]), big(42, null)]);
    const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
    if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap');
    const STORED = Math.ceil(SIDE / 2);
    expect(heatmap.map).toMatchObject({ shape: [2, STORED, STORED], step: 2 });
    expect(heat.length).toBe(2 * STORED * STORED);
    // The heat is the image − 100 on the grid the model saw (a view, or the whole image), sampled bilinearly at each
    // block's centre (a partial last block: its own pixel); a centre on a view's edge takes the edge pixels.
    const centre = (i: number) => Math.min(2 * i + 0.5, SIDE - 1);
    const sample = (g: UltrasoundRegion, y: number, x: number) => {
      const cy = Math.min(g.y1, Math.max(g.y0, y));
      const cx = Math.min(g.x1, Math.max(g.x0, x));
      const [y0, x0] = [Math.floor(cy), Math.floor(cx)];
      const [y1, x1] = [Math.min(g.y1, y0 + 1), Math.min(g.x1, x0 + 1)];
      const [ty, tx] = [cy - y0, cx - x0];
      const v = (rr: number, cc: number) => value(rr, cc) - HEAT_OFFSET;
      return (v(y0, x0) * (1 - tx) + v(y0, x1) * tx) * (1 - ty) + (v(y1, x0) * (1 - tx) + v(y1, x1) * tx) * ty;
    };
    const onView = (g: UltrasoundRegion, y: number, x: number) => y >= g.y0 - 0.5 && y <= g.y1 + 0.5 && x >= g.x0 - 0.5 && x <= g.x1 + 0.5;
    const whole: UltrasoundRegion = { x0: 0, y0: 0, x1: SIDE - 1, y1: SIDE - 1 };
    let worst = 0;
    let where = '';
    for (let y = 0; y < STORED; y++) {
      for (let x = 0; x < STORED; x++) {
        const [cy, cx] = [centre(y), centre(x)];
        const views = [L, R].filter((g) => onView(g, cy, cx));
        const checks: [number, number, string][] = [
          [heat[y * STORED + x]!, views.length ? Math.max(...views.map((g) => sample(g, cy, cx))) : 0, 'views'],
          [heat[STORED * STORED + y * STORED + x]!, sample(whole, cy, cx), 'whole'],
        ];
        for (const [got, expected, image] of checks) {
          if (Math.abs(got - expected) > worst) {
            worst = Math.abs(got - expected);
            where = `${image} (${y}, ${x}): ${got} vs ${expected}`;
          }
        }
      }
    }
    expect(worst, where).toBeLessThan(1e-3);
    // No seam where the views touch: the block of columns 2000–2001 holds the brighter (right) view's edge.
    expect(heat[100 * STORED + 1000]).toBeCloseTo(sample(R, 200.5, 2000.5), 3);
    // The last block of the whole image (its pixel 4100) is not 0.
    expect(heat[2 * STORED * STORED - 1]).toBeCloseTo(value(SIDE - 1, SIDE - 1) - HEAT_OFFSET, 3);
    // The left view's map is negative (dark pixels) and kept beside the right one's positive map.
    expect(heat[(L.y0 / 2 + 1) * STORED + L.x0 / 2 + 1]).toBeLessThan(0);
    expect(heat[(R.y0 / 2 + 1) * STORED + 1100]).toBeGreaterThan(0);
  }, 60_000);

  it('unit "slices": the largest region when every image has the same, else none; no per-region units', async () => {
    const dual = [write(11, [ultrasoundRegionItem(RIGHT), ultrasoundRegionItem(LEFT)]), write(12, [ultrasoundRegionItem(LEFT), ultrasoundRegionItem(RIGHT)])];
    const { r, heat } = await run(manifest('slices'), 'slices-common', dual);
    const classification = r.outputs.find((o) => o.kind === 'classification');
    if (classification?.kind !== 'classification') throw new Error('no classification');
    expect(classification.regions).toBeUndefined();
    expect(r.warnings).toBeUndefined();
    // Equal areas: the first in position order (the left view), on both slices.
    const plane = ROWS * COLUMNS;
    for (let slice = 0; slice < 2; slice++) {
      for (let row = 0; row < ROWS; row++) {
        for (let col = 0; col < COLUMNS; col++) {
          expect(heat[slice * plane + row * COLUMNS + col]).toBeCloseTo(inside(LEFT, row, col) ? pixelValue(row, col) - HEAT_OFFSET : 0, 4);
        }
      }
    }
    // The images differ (one has no region): the series is analysed whole.
    const mixed = await run(manifest('slices'), 'slices-mixed', [dual[0]!, write(13, null)]);
    expect(mixed.r.warnings).toEqual([noUltrasoundRegionWarning(2, 2)]);
  });
});
