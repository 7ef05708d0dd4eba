/**
 * A dual B-mode capture (two equal tissue regions side by side) through the
 * product pipeline with the shipped breast model: each view is analysed on its
 * own, exactly as the same view saved alone; the image scores as its most
 * suspicious view; the heatmap holds each view's own map inside it and nothing
 * around them; the classification output records the regions and their
 * scores. In a series, each image counts once and the region warning counts
 * images. Then the real dual-view ALOKA capture (pydicom test data).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from '../../electron/services/ai/grid-geometry';
import { type InferenceJobResult, noUltrasoundRegionWarning, runInferenceJob } from '../../electron/services/ai/inference-job';
import type { AnalysedRegion } from '../../electron/services/ai/run-outputs';
import { type ModelManifest, parseManifest } from '../../electron/services/ai/model-manifest';
import { classificationScores } from '../../electron/services/ai/postprocessing';
import { runPreprocessing } from '../../electron/services/ai/preprocessing-pipeline';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { decodeImageFileAsync } from '../../electron/services/dicom/pixel-decoder';
import type { UltrasoundRegion } from '../../electron/services/dicom/ultrasound-regions';
import { type DicomElementSpec, syntheticDicom, ultrasoundRegionItem, ultrasoundRegions, US_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';
import { repoRoot } from './helpers';

const SHIPPED = join(repoRoot, 'models', 'us-breast-malignancy');
const MODEL_PATH = join(SHIPPED, 'model.onnx');
const ROWS = 480;
const COLUMNS = 640;
const LEFT: UltrasoundRegion = { x0: 16, y0: 48, x1: 315, y1: 431 }; // 300 × 384
const RIGHT: UltrasoundRegion = { x0: 324, y0: 48, x1: 623, y1: 431 }; // 300 × 384, the same size
const STUDY = '1.2.826.0.1.3680043.10.1138.960';

const speckle = (r: number, c: number) => Math.abs((Math.sin(r * 12.9898 + c * 78.233) * 43758.5453) % 1);
const clampByte = (v: number) => Math.round(Math.max(0, Math.min(255, v)));

/** The left view: even speckled tissue with a small round, sharply bounded dark "cyst". */
function leftView(r: number, c: number): number {
  const cyst = ((r - 190) / 40) ** 2 + ((c - 150) / 50) ** 2 < 1;
  return clampByte(cyst ? 10 + 8 * speckle(r, c) : 70 + 60 * speckle(r, c) + r * 0.05);
}

/** The right view: a spiculated hypoechoic mass with an acoustic shadow below it. */
function rightView(r: number, c: number): number {
  const dr = r - 160;
  const dc = c - 150;
  const radius = 60 + 40 * Math.abs(Math.sin(Math.atan2(dr, dc) * 11));
  const mass = Math.hypot(dr, dc) < radius;
  const shadow = r > 200 && Math.abs(dc) < 60;
  return clampByte(mass ? 15 + 15 * speckle(r, c) : shadow ? 30 + 10 * speckle(r, c) : 120 + 60 * speckle(r, c));
}

const inside = (g: UltrasoundRegion, r: number, c: number) => r >= g.y0 && r <= g.y1 && c >= g.x0 && c <= g.x1;
const widthOf = (g: UltrasoundRegion) => g.x1 - g.x0 + 1;
const heightOf = (g: UltrasoundRegion) => g.y1 - g.y0 + 1;

/** The capture: each view in its region, scanner UI (title bar, text, grey scale bar) around them at full brightness. */
function capturePixels(views: [UltrasoundRegion, (r: number, c: number) => number][]): Uint8Array {
  const px = new Uint8Array(ROWS * COLUMNS);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLUMNS; c++) {
      const view = views.find(([g]) => inside(g, r, c));
      if (view) px[r * COLUMNS + c] = view[1](r - view[0].y0, c - view[0].x0);
      else if (r < 40) px[r * COLUMNS + c] = 255;
      else if (r > 440 && c % 20 < 12) px[r * COLUMNS + c] = 250;
      else if (c < 12) px[r * COLUMNS + c] = Math.round((r / ROWS) * 255);
    }
  }
  return px;
}

/** One view saved alone: just the region's pixels, no Sequence of Ultrasound Regions. */
const viewPixels = (g: UltrasoundRegion, view: (r: number, c: number) => number) => Uint8Array.from({ length: widthOf(g) * heightOf(g) }, (_, i) => view(Math.floor(i / widthOf(g)), i % widthOf(g)));

/** One Sequence of Ultrasound Regions item (PS3.3 C.8.5.5). */
const regionItem = (spatialFormat: number, dataType: number, g: UltrasoundRegion): DicomElementSpec[] => ultrasoundRegionItem(g, { spatialFormat, dataType, flags: 2 });

function usFile(path: string, instance: number, rows: number, columns: number, pixels: Uint8Array, regions: DicomElementSpec[][] | null): string {
  writeFileSync(
    path,
    syntheticDicom({
      modality: 'US',
      sopClassUid: US_IMAGE_STORAGE,
      studyInstanceUid: STUDY,
      seriesInstanceUid: `${STUDY}.1`,
      sopInstanceUid: `${STUDY}.1.${instance}`,
      instanceNumber: instance,
      studyDescription: 'US BREAST',
      seriesDescription: 'B-MODE',
      pixelSpacing: null,
      rows,
      columns,
      pixels,
      // Implicit VR, as the real dual-view capture (gdcm-US-ALOKA-16).
      transferSyntax: '1.2.840.10008.1.2',
      ...(regions ? { extra: [ultrasoundRegions(regions)] } : {}),
    }),
  );
  return path;
}

function shippedManifest(): ModelManifest {
  const parsed = parseManifest(JSON.parse(readFileSync(join(SHIPPED, 'manifest.json'), 'utf8')));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.manifest;
}

interface Run {
  result: InferenceJobResult;
  /** [label, score] of the findings. */
  scores: [string, number][];
  regions: AnalysedRegion[] | undefined;
  perImage: number[][] | undefined;
  heatmap: Float32Array;
  shape: number[];
}

async function analyse(sessions: SessionManager, files: string[], outputDir: string): Promise<Run> {
  const manifest = shippedManifest();
  const result = await runInferenceJob({ jobId: outputDir, model: { id: manifest.id, modelPath: MODEL_PATH, manifest }, files, provider: 'cpu', outputDir }, sessions);
  expect(result.status, result.reason).toBe('done');
  const classification = result.outputs.find((o) => o.kind === 'classification');
  const heatmap = result.outputs.find((o) => o.kind === 'heatmap');
  if (classification?.kind !== 'classification' || heatmap?.kind !== 'heatmap') throw new Error('the breast model gives a classification and a heatmap');
  const bytes = gunzipSync(readFileSync(join(outputDir, heatmap.map.file)));
  return {
    result,
    scores: result.findings.map((f) => [f.label, f.score]),
    regions: classification.regions,
    perImage: classification.perImage,
    heatmap: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
    shape: heatmap.map.shape,
  };
}

const malignant = (scores: [string, number][]) => scores.find(([label]) => label === 'malignant')![1];

describe('a dual B-mode capture through the shipped breast model', () => {
  let root: string;
  let dual: Run;
  let left: Run;
  let right: Run;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'vigil-us-regions-'));
    // A colour-flow region over both views and a graphics region are not tissue; the sequence lists the right view first.
    const regions = [regionItem(1, 2, { x0: 0, y0: 40, x1: 639, y1: 479 }), regionItem(1, 1, RIGHT), regionItem(0, 13, { x0: 20, y0: 50, x1: 60, y1: 110 }), regionItem(1, 1, LEFT)];
    const capture = usFile(join(root, 'dual.dcm'), 1, ROWS, COLUMNS, capturePixels([[LEFT, leftView], [RIGHT, rightView]]), regions);
    dual = await analyse(sessions, [capture], join(root, 'out', 'dual'));
    left = await analyse(sessions, [usFile(join(root, 'left.dcm'), 2, heightOf(LEFT), widthOf(LEFT), viewPixels(LEFT, leftView), null)], join(root, 'out', 'left'));
    right = await analyse(sessions, [usFile(join(root, 'right.dcm'), 3, heightOf(RIGHT), widthOf(RIGHT), viewPixels(RIGHT, rightView), null)], join(root, 'out', 'right'));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('scores each view as the view saved alone, and the image as its most suspicious view', () => {
    // The fixture's point: the views differ, and the one the old rule analysed (the first of equal areas, the left) scores lower.
    expect(malignant(right.scores)).toBeGreaterThan(malignant(left.scores) + 0.5);
    expect(dual.regions).toEqual([
      { image: 0, ...LEFT, scores: left.scores.map(([, s]) => s) },
      { image: 0, ...RIGHT, scores: right.scores.map(([, s]) => s) },
    ]);
    expect(malignant(dual.scores)).toBe(Math.max(malignant(left.scores), malignant(right.scores)));
    // A softmax with a normal label: the whole row of that view, not a mix of the views' columns.
    expect(dual.scores).toEqual(right.scores);
    expect(dual.perImage).toBeUndefined();
    // Both views were cropped: nothing reached the model whole.
    expect(dual.result.warnings).toBeUndefined();
  });

  it("puts each view's heatmap inside its region and nothing around them", () => {
    expect(dual.shape).toEqual([1, ROWS, COLUMNS]);
    let worst = 0;
    let outside = 0;
    const peak = new Map<UltrasoundRegion, number>([
      [LEFT, 0],
      [RIGHT, 0],
    ]);
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        const v = dual.heatmap[r * COLUMNS + c]!;
        const [g, alone] = inside(LEFT, r, c) ? [LEFT, left] : inside(RIGHT, r, c) ? [RIGHT, right] : [null, null];
        if (!g || !alone) {
          outside = Math.max(outside, Math.abs(v));
          continue;
        }
        worst = Math.max(worst, Math.abs(v - alone.heatmap[(r - g.y0) * widthOf(g) + c - g.x0]!));
        peak.set(g, Math.max(peak.get(g)!, v));
      }
    }
    expect(outside).toBe(0);
    expect(worst).toBeLessThan(1e-6);
    // Each view has its own (minmax-normalised) map: both come near 1 (linear interpolation onto the source pixels).
    expect(peak.get(LEFT)).toBeGreaterThan(0.9);
    expect(peak.get(RIGHT)).toBeGreaterThan(0.9);
  });

  it('in a series: one score row per image, regions by image, and the warning counts images analysed whole', async () => {
    const dir = join(root, 'series');
    mkdirSync(dir, { recursive: true });
    const files = [
      usFile(join(dir, '1.dcm'), 1, ROWS, COLUMNS, capturePixels([[LEFT, leftView], [RIGHT, rightView]]), [regionItem(1, 1, LEFT), regionItem(1, 1, RIGHT)]),
      usFile(join(dir, '2.dcm'), 2, ROWS, COLUMNS, capturePixels([[LEFT, leftView]]), [regionItem(1, 1, LEFT)]),
      // Its region runs past the image: analysed whole.
      usFile(join(dir, '3.dcm'), 3, ROWS, COLUMNS, capturePixels([[LEFT, leftView]]), [regionItem(1, 1, { x0: 0, y0: 0, x1: 800, y1: 600 })]),
    ];
    const series = await analyse(sessions, files, join(root, 'out', 'series'));
    expect(series.result.inputSopInstanceUids).toEqual([1, 2, 3].map((i) => `${STUDY}.1.${i}`));
    const leftRow = left.scores.map(([, s]) => s);
    const rightRow = right.scores.map(([, s]) => s);
    expect(series.regions).toEqual([
      { image: 0, ...LEFT, scores: leftRow },
      { image: 0, ...RIGHT, scores: rightRow },
      { image: 1, ...LEFT, scores: leftRow },
    ]);
    expect(series.perImage).toHaveLength(3);
    expect(series.perImage![0]).toEqual(rightRow);
    expect(series.perImage![1]).toEqual(leftRow);
    expect(series.result.warnings).toEqual([noUltrasoundRegionWarning(1, 3)]);
    expect(series.shape).toEqual([3, ROWS, COLUMNS]);
    // The second image's plane: the left view's map inside LEFT, nothing where its capture has no region.
    const plane = ROWS * COLUMNS;
    const at = (image: number, r: number, c: number) => series.heatmap[image * plane + r * COLUMNS + c]!;
    const probe: [number, number][] = [
      [LEFT.y0 + 100, LEFT.x0 + 100],
      [RIGHT.y0 + 100, RIGHT.x0 + 100],
    ];
    expect(at(1, probe[0]![0], probe[0]![1])).toBeCloseTo(left.heatmap[100 * widthOf(LEFT) + 100]!, 6);
    expect(at(1, probe[1]![0], probe[1]![1])).toBe(0);
    expect(at(0, probe[1]![0], probe[1]![1])).toBeCloseTo(right.heatmap[100 * widthOf(RIGHT) + 100]!, 6);
  });
});

const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
/** Two tissue regions of 304×392 side by side and a graphics one; dcmdump (DCMTK 3.6.7) on the file shows Region Location 32,24–335,415 and 336,24–639,415. */
const ALOKA = 'dicom-pydicom/pydicom-data/data/gdcm-US-ALOKA-16.dcm';
const ALOKA_VIEWS: UltrasoundRegion[] = [
  { x0: 32, y0: 24, x1: 335, y1: 415 },
  { x0: 336, y0: 24, x1: 639, y1: 415 },
];
const alokaPresent = existsSync(join(SHARED, ALOKA));
if (!alokaPresent) console.warn(`\n*** [analyses-every-ultrasound-region] SKIPPING the real dual B-mode capture: ${ALOKA} missing under ${SHARED} ***\n`);

describe.skipIf(!alokaPresent)('the real dual B-mode capture (gdcm-US-ALOKA-16, pydicom test data)', () => {
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-us-aloka-'));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('analyses both views, each as the model scores that view on its own, and reports the higher', async () => {
    const file = join(SHARED, ALOKA);
    const run = await analyse(sessions, [file], join(root, 'out'));
    expect(run.result.warnings).toBeUndefined();
    expect(run.regions?.map(({ image, x0, y0, x1, y1 }) => ({ image, x0, y0, x1, y1 }))).toEqual(ALOKA_VIEWS.map((g) => ({ image: 0, ...g })));

    // Each view on its own, apart from the job: the pipeline's input for that rectangle, run by ONNX Runtime directly.
    const manifest = shippedManifest();
    const spec = manifest.outputs.find((o) => o.kind === 'classification');
    if (spec?.kind !== 'classification') throw new Error('no classification output');
    const img = await decodeImageFileAsync(file);
    const session = await ort.InferenceSession.create(MODEL_PATH);
    try {
      const alone: number[][] = [];
      for (const view of ALOKA_VIEWS) {
        const source = { grid: { data: Float32Array.from(img.data), shape: [1, img.rows, img.columns] as [number, number, number], toSource: identity() }, rescale: [{ slope: img.rescaleSlope, intercept: img.rescaleIntercept }], photometric: img.photometric, sourceToPatient: null, ultrasoundRegion: view };
        const input = runPreprocessing(manifest.preprocessing, source).channels[0]!;
        const out = await session.run({ image: new ort.Tensor('float32', input, [1, 1, 28, 28]) });
        alone.push(classificationScores(spec, { dims: out.logits!.dims, data: out.logits!.data as Float32Array })[0]!);
      }
      run.regions!.forEach((r, k) => r.scores.forEach((s, l) => expect(s, `view ${k} label ${l}`).toBeCloseTo(alone[k]![l]!, 6)));
      const m = spec.labels.indexOf('malignant');
      expect(malignant(run.scores)).toBeCloseTo(Math.max(alone[0]![m]!, alone[1]![m]!), 6);
    } finally {
      await session.release();
    }

    // The heatmap: inside the views only, and in each of them.
    expect(run.shape).toEqual([1, img.rows, img.columns]);
    const nonZero = [0, 0];
    let outside = 0;
    for (let r = 0; r < img.rows; r++) {
      for (let c = 0; c < img.columns; c++) {
        const v = run.heatmap[r * img.columns + c]!;
        const k = ALOKA_VIEWS.findIndex((g) => inside(g, r, c));
        if (k < 0) outside = Math.max(outside, Math.abs(v));
        else if (v > 0) nonZero[k]!++;
      }
    }
    expect(outside).toBe(0);
    expect(nonZero[0]).toBeGreaterThan(1000);
    expect(nonZero[1]).toBeGreaterThan(1000);
  });
});
