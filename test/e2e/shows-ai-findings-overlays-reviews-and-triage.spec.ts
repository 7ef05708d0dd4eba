/**
 * AI findings in the viewer, end to end through the bridge: the shipped CXR
 * pneumonia model on a chest X-ray and the MeshNet tissue model (test-fixture
 * package) on the 256-slice T1 MR series. The findings panel lists both runs;
 * the heatmap (shown by default only for a positive finding) is drawn where
 * the model put it; the label map is a Cornerstone3D segmentation whose
 * colours land on the voxels the model labelled — read back from the
 * viewport's own canvas at known voxels of the stored result, through
 * Cornerstone's image → canvas transform, after zoom, pan, rotate, flip and a
 * layout change, against the same pixels with the overlay off; per-label
 * visibility, outline and opacity; BrushTool brush / eraser edits saved as a
 * reviewed mask beside the model's; accept/reject, the reviewer and the
 * edited mask survive a new bridge on the same data directory (and show under
 * CPU rendering, where the label map falls back to the canvas overlay); only
 * positive findings are reviewable (the CXR model's "normal" call and the
 * tissue volumes are not); the worklist sorts the study a fixture detector
 * found a nodule on above the MR study (whose tissue volumes are measurements,
 * never positive), filters it, and shows it reviewed once the nodule is accepted.
 */
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMl, formatScore } from '../../renderer/src/viewer/ai/finding-format';
import { heatColor } from '../../renderer/src/viewer/ai/overlay-model';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { buildOnnxModel } from '../fixtures/models/onnx-builder';
import { MESHNET, meshnetDataPresent, writeMeshnetPackage } from '../fixtures/models/meshnet-packages';
import type { AnalysisResult } from '../../contract/ipc-contract';
import { aiOverlayPixel, corpusOrSkip, heatmapValues, importByReference, modelResult, openStudy, resultArray, studyResults, viewportBox, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const CXR = corpusOrSkip('dicom-misc/dwv/gdcm-CR-MONO1-10-chest.dcm');
const MR = corpusOrSkip('series-derived/mr-brainchop-t1');
const CXR_MODEL = join(repoRoot, 'models/cxr-pneumonia');
const ready = Boolean(CXR && MR && meshnetDataPresent() && existsSync(join(CXR_MODEL, 'model.onnx')));
const REVIEWER = 'Dr Test Reader';

/** The result outputs this spec reads (analysis.results types them loosely). */
interface Output {
  kind: string;
  tensor: string;
  map?: { file: string; shape: [number, number, number] };
  mask?: { file: string; shape: [number, number, number] };
  labels?: { index: number; name: string; color: [number, number, number] }[];
}
const outputsOf = (result: AnalysisResult): Output[] => result.outputs as unknown as Output[];

/** Canvas CSS position of an image pixel centre, through Cornerstone's own metadata path. */
async function imageToCanvas(page: Page, col: number, row: number): Promise<[number, number]> {
  const p = await page.evaluate(
    ([c, r]) => (globalThis as unknown as { __vigilImageToCanvas: (s: number, c: number, r: number) => [number, number] | null }).__vigilImageToCanvas(0, c, r),
    [col, row] as const,
  );
  if (!p) throw new Error('no image displayed');
  return p;
}

/** RGBA of the AI overlay canvas of slot 0 at a CSS position. */
const overlayPixel = (page: Page, [x, y]: [number, number]) => aiOverlayPixel(page, { x, y });

type Rgba = [number, number, number, number];
type Rgb = readonly [number, number, number];
const VIEWPORT_0 = '[data-testid="viewport-pane"][data-slot="0"] [data-testid="viewport"]';

/** RGBA of the viewport canvas of slot 0 (the image with Cornerstone's segmentation composited) at CSS positions. */
async function viewportPixels(page: Page, points: [number, number][]): Promise<Rgba[]> {
  return page.$eval(
    VIEWPORT_0,
    (el, pts) => {
      const c = el.querySelector('canvas') as unknown as { width: number; clientWidth: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } } | null;
      if (!c) throw new Error('no canvas in the viewport');
      const s = c.width / c.clientWidth;
      return pts.map(([px, py]) => {
        const d = c.getContext('2d').getImageData(Math.floor(px * s), Math.floor(py * s), 1, 1).data;
        return [d[0]!, d[1]!, d[2]!, d[3]!] as Rgba;
      });
    },
    points,
  );
}

/** Whether two colours agree in R, G and B within a tolerance (alpha is not compared). */
const near = (p: readonly number[], want: readonly number[], tolerance = 3): boolean => [0, 1, 2].every((i) => Math.abs(p[i]! - want[i]!) <= tolerance);

async function segRenders(page: Page): Promise<number> {
  return page.$eval(VIEWPORT_0, (el) => Number((el as unknown as { dataset: Record<string, string> }).dataset.segRenders ?? '0'));
}

/** Runs an action and waits until Cornerstone drew the segmentation again afterwards (SEGMENTATION_RENDERED). */
async function afterSegRender(page: Page, action: () => Promise<void>): Promise<void> {
  const n = await segRenders(page);
  await action();
  await expect.poll(() => segRenders(page), { timeout: 10_000 }).toBeGreaterThan(n);
}

async function overlayDraws(page: Page): Promise<number> {
  return page.$eval('[data-testid="viewport-pane"][data-slot="0"] [data-testid="ai-overlay-canvas"]', (el) => Number((el as unknown as { dataset: Record<string, string> }).dataset.draws ?? '0'));
}

/** Waits until the overlay was redrawn after an interaction. */
async function settle(page: Page, before: number): Promise<void> {
  await expect.poll(() => overlayDraws(page), { timeout: 10_000 }).toBeGreaterThan(before);
  await page.waitForTimeout(150);
}

async function drag(page: Page, from: [number, number], to: [number, number], button: 'left' | 'middle' | 'right' = 'left'): Promise<void> {
  await page.mouse.move(...from);
  await page.mouse.down({ button });
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2, { steps: 4 });
  await page.mouse.move(...to, { steps: 4 });
  await page.mouse.up({ button });
}

/** Interior voxels (all 5×5 neighbours the same label) of a label in one slice, nearest the slice centre first. */
function interiorVoxels(mask: Uint8Array, shape: [number, number, number], slice: number, label: number): [number, number][] {
  const [, rows, cols] = shape;
  const base = slice * rows * cols;
  const out: [number, number][] = [];
  for (let r = 2; r < rows - 2; r++) {
    for (let c = 2; c < cols - 2; c++) {
      let ok = true;
      for (let dr = -2; dr <= 2 && ok; dr++) for (let dc = -2; dc <= 2 && ok; dc++) ok = mask[base + (r + dr) * cols + c + dc] === label;
      if (ok) out.push([r, c]);
    }
  }
  return out.sort((a, b) => Math.hypot(a[0] - rows / 2, a[1] - cols / 2) - Math.hypot(b[0] - rows / 2, b[1] - cols / 2));
}

/** A fixture detector for CR: one constant box [1, 1]-[3, 3] (score 0.9, "nodule") on its 4×4 input. */
function writeDetectorPackage(dataDir: string): void {
  const onnx = buildOnnxModel({
    inputs: [{ name: 'image', shape: [1, 1, 'H', 'W'] }],
    outputs: [{ name: 'boxes', shape: [1, 1, 1, 6] }],
    initializers: [
      { name: 'zero', dims: [1], data: [0] },
      { name: 'const', dims: [1, 1, 6], data: [1, 1, 3, 3, 0.9, 0] },
    ],
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['image'], outputs: ['pooled'] },
      { op: 'Mul', inputs: ['pooled', 'zero'], outputs: ['z'] },
      { op: 'Add', inputs: ['z', 'const'], outputs: ['boxes'] },
    ],
  });
  writeModelPackage(
    join(dataDir, 'models', 'box'),
    onnx,
    classifierManifest(onnx, {
      id: 'test-cr-detector',
      name: 'Test CR detector',
      applicability: { modalities: ['CR'] },
      preprocessing: [{ op: 'modalityRescale' }, { op: 'resize', size: [4, 4], interpolation: 'linear' }],
      outputs: [{ kind: 'detection', tensor: 'boxes', boxFormat: 'xyxy', normalized: false, labels: ['nodule'], scoreThreshold: 0.5, nmsIouThreshold: 0.5 }],
    }),
  );
}

describe.skipIf(!ready)('AI findings in the viewer', () => {
  let root: string;
  let dataDir: string;
  let session: VigilSession;
  let cxrStudy: string;
  let mrStudy: string;
  /** Where the MR test erased and painted, for the checks after a restart. */
  let labelled: { resultId: number; slice: number; white: [number, number]; grey: [number, number]; whiteColor: Rgb; greyColor: Rgb } | null = null;
  let labelledFar: [number, number] | null = null;
  /** The detector result the triage test produced (the viewer test runs the detector again). */
  let detectorResultId = 0;

  beforeAll(async () => {
    root = makeTempDir('ai-findings');
    dataDir = join(root, 'library');
    const models = join(dataDir, 'models');
    mkdirSync(models, { recursive: true });
    cpSync(CXR_MODEL, join(models, 'cxr-pneumonia'), { recursive: true });
    writeMeshnetPackage(models, MESHNET.gwm);
    session = await openVigil({ dataDir });
    const studies = await importByReference(session.bridge, [CXR!, MR!]);
    cxrStudy = studies.find((s) => s.modalities.includes('CR'))!.studyInstanceUid;
    mrStudy = studies.find((s) => s.modalities.includes('MR'))!.studyInstanceUid;
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('runs the CXR model from the viewer, lists its run and findings, draws the heatmap where the model put it, and offers review only on positive findings', async () => {
    const { page, bridge } = session;
    await openStudy(page, cxrStudy);
    await waitForRender(page);
    const name = page.getByTestId('reviewer-name');
    await name.fill(REVIEWER);
    await name.press('Enter');
    await page.getByTestId('run-model').click();

    const cxrRun = page.locator('[data-testid="finding-run"][data-model-id="cxr-pneumonia"]');
    await expect.poll(() => cxrRun.getAttribute('data-status'), { timeout: 60_000 }).toBe('done');
    // MeshNet does not apply to a chest X-ray: listed as not analysed, with the reason.
    const meshRun = page.locator(`[data-testid="finding-run"][data-model-id="${MESHNET.gwm.id}"]`);
    await expect.poll(() => meshRun.getAttribute('data-status'), { timeout: 10_000 }).toBe('not-analysed');
    expect(await meshRun.getByTestId('run-not-analysed').textContent()).toMatch(/Not analysed: .*MR/);
    expect(await cxrRun.getByTestId('clinical-use-banner').textContent()).toContain('Research use only, not for clinical decisions');
    expect(await cxrRun.textContent()).toMatch(/on cpu/);
    const items = cxrRun.getByTestId('finding-item');
    expect(await items.evaluateAll((els) => els.map((e) => (e as unknown as { dataset: Record<string, string> }).dataset.label))).toEqual(['normal', 'pneumonia']);

    // Each finding's threshold is the manifest's operating point for its label, stored with the result and shown
    // rounded like the score.
    const result = await modelResult(bridge, cxrStudy, 'cxr-pneumonia');
    const manifest = JSON.parse(readFileSync(join(CXR_MODEL, 'manifest.json'), 'utf8')) as { outputs: { kind: string; labels?: string[]; thresholds?: number[] }[] };
    const classifier = manifest.outputs.find((o) => o.kind === 'classification')!;
    expect(result!.findings.map((f) => f.label)).toEqual(classifier.labels);
    for (const f of result!.findings) {
      expect(f.threshold, `${f.label}: the manifest's threshold`).toBe(classifier.thresholds![classifier.labels!.indexOf(f.label)]);
      const item = cxrRun.locator(`[data-testid="finding-item"][data-label="${f.label}"]`);
      expect(await item.getByTestId('finding-threshold').textContent()).toBe(`threshold ${formatScore(f.threshold!)}`);
      expect(await item.getByTestId('finding-score').textContent()).toBe(`score ${formatScore(f.score)}`);
    }

    // The heatmap: its strongest pixel on the stored source grid is drawn hot, a cold pixel is not drawn.
    const heat = outputsOf(result!).find((o) => o.kind === 'heatmap')!;
    const map = await heatmapValues(bridge, result!.resultId, heat.map!.file);
    const [, rows, cols] = heat.map!.shape;
    let hot = 0;
    let cold = -1;
    for (let i = 0; i < map.length; i++) {
      if (map[i]! > map[hot]!) hot = i;
      if (cold < 0 && map[i]! < 0.01 && i % cols > 20 && i % cols < cols - 20 && i / cols > 20 && i / cols < rows - 20) cold = i;
    }
    const heatKey = `${result!.resultId}:cam`;
    const heatCanvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    // Heatmaps show by default only for positive findings; a negative finding's map is one click away.
    const pneumonia = result!.findings.find((f) => f.label === 'pneumonia')!;
    if (!pneumonia.positive) {
      await expect.poll(() => heatCanvas.getAttribute('data-draws'), { timeout: 15_000 }).not.toBeNull();
      const draws = await overlayDraws(page);
      await page.getByTestId('overlay-opacity').fill('60');
      await settle(page, draws);
      expect(await heatCanvas.getAttribute('data-drawn'), 'a negative finding\'s heatmap is hidden by default').not.toContain(heatKey);
      await page.getByTestId('overlay-negative-heatmaps').check();
    } else {
      expect(await page.getByTestId('overlay-negative-heatmaps').count(), 'no negative heatmap to show').toBe(0);
    }
    await expect.poll(() => heatCanvas.getAttribute('data-drawn'), { timeout: 15_000 }).toContain(heatKey);
    await page.getByTestId('overlay-opacity').fill('100');
    await page.waitForTimeout(300);
    const hotPx = await overlayPixel(page, await imageToCanvas(page, hot % cols, Math.floor(hot / cols)));
    // The colour map's colour for the stored value (the heatmap is smoothed on screen: a small tolerance).
    const want = heatColor(map[hot]!);
    expect(hotPx[3], `alpha at the hottest pixel ${JSON.stringify(hotPx)}`).toBeGreaterThan(200);
    hotPx.slice(0, 3).forEach((v, i) => expect(Math.abs(v - want[i]!), `hottest pixel ${JSON.stringify(hotPx)} vs colour map ${JSON.stringify(want)}`).toBeLessThan(30));
    if (cold >= 0) expect((await overlayPixel(page, await imageToCanvas(page, cold % cols, Math.floor(cold / cols))))[3]).toBe(0);
    expect(await page.getByTestId('heatmap-legend').isVisible()).toBe(true);
    await screenshot(page, 'ai-cxr-heatmap.png');

    // Toggle off: nothing drawn.
    await page.getByTestId('overlay-toggle').uncheck();
    await page.waitForTimeout(200);
    expect((await overlayPixel(page, await imageToCanvas(page, hot % cols, Math.floor(hot / cols))))[3]).toBe(0);
    await page.getByTestId('overlay-toggle').check();
    await page.getByTestId('overlay-opacity').fill('50');

    // Only a positive finding needs a decision: the "normal" label never does; pneumonia only when called positive.
    const normalItem = cxrRun.locator('[data-testid="finding-item"][data-label="normal"]');
    const pneumoniaItem = cxrRun.locator('[data-testid="finding-item"][data-label="pneumonia"]');
    expect(await normalItem.getAttribute('data-reviewable')).toBe('false');
    expect(await normalItem.getByTestId('finding-accept').count()).toBe(0);
    if (pneumonia.positive) {
      await pneumoniaItem.getByTestId('finding-accept').click();
      await expect.poll(() => pneumoniaItem.getAttribute('data-review')).toBe('accepted');
      await expect.poll(() => page.getByTestId('review-state').getAttribute('data-state')).toBe('done');
      expect(await pneumoniaItem.getByTestId('finding-review').textContent()).toContain(REVIEWER);
    } else {
      expect(await pneumoniaItem.getAttribute('data-reviewable')).toBe('false');
      expect(await cxrRun.getByTestId('finding-accept').count()).toBe(0);
      await expect.poll(() => page.getByTestId('review-state').getAttribute('data-state')).toBe('none');
      expect(await page.getByTestId('review-state').textContent()).toBe('No positive findings to review');
    }
    await screenshot(page, 'ai-cxr-reviewed.png');
    expect(session.pageErrors).toEqual([]);
  }, 180_000);

  it('runs MeshNet on the MR series and draws its label map on the voxels the model labelled, through zoom, pan, rotate, flip and a layout change', async () => {
    const { page, bridge } = session;
    await openStudy(page, mrStudy);
    await waitForRender(page);
    await page.getByTestId('run-model').click();
    const queued = page.locator('[data-testid="queue-item"]');
    await expect.poll(() => queued.count(), { timeout: 20_000 }).toBeGreaterThan(0);
    const meshRun = page.locator(`[data-testid="finding-run"][data-model-id="${MESHNET.gwm.id}"]`);
    await expect.poll(() => meshRun.getAttribute('data-status'), { timeout: 400_000, interval: 1000 }).toBe('done');
    await expect.poll(() => queued.count(), { timeout: 10_000 }).toBe(0);
    // Both runs are listed: MeshNet done, the CXR model not analysed on an MR series.
    await expect.poll(() => page.locator('[data-testid="finding-run"][data-model-id="cxr-pneumonia"]').getAttribute('data-status')).toBe('not-analysed');
    const result = (await modelResult(bridge, mrStudy, MESHNET.gwm.id))!;
    // Tissue labels (manifest findings role "anatomy") are measurements: their volume, no positive/negative call.
    expect(result.findings.map((f) => f.label).sort()).toEqual(['Grey Matter', 'White Matter']);
    expect(await meshRun.getByTestId('label-volume').count()).toBe(2);
    for (const f of result.findings) {
      expect(f, `${f.label} is a measurement`).toMatchObject({ measurement: true, positive: false });
      expect(f.volumeMl, `${f.label} volume`).toBeGreaterThan(0);
      const item = meshRun.locator(`[data-testid="finding-item"][data-label="${f.label}"]`);
      expect(await item.getAttribute('data-measurement')).toBe('true');
      expect(await item.getByTestId('label-volume').textContent()).toBe(`${formatMl(f.volumeMl!)} mL`);
      expect(await item.locator('.finding-flag').textContent()).toBe('measurement');
    }
    const seg = outputsOf(result).find((o) => o.kind === 'segmentation')!;
    const mask = new Uint8Array(await resultArray(bridge, result.resultId, seg.mask!.file));
    const shape = seg.mask!.shape;
    const white = seg.labels!.find((l) => l.name === 'White Matter')!;
    const grey = seg.labels!.find((l) => l.name === 'Grey Matter')!;

    // Clicking the finding shows the slice where White Matter is largest.
    const plane = shape[1] * shape[2];
    let slice = 0;
    let most = -1;
    for (let k = 0; k < shape[0]; k++) {
      let n = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) if (mask[i] === white.index) n++;
      if (n > most) [most, slice] = [n, k];
    }
    await meshRun.locator('[data-testid="finding-item"][data-label="White Matter"]').getByTestId('finding-jump').click();
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    const viewport = page.locator(VIEWPORT_0);
    await expect.poll(() => canvas.getAttribute('data-sop'), { timeout: 15_000 }).toBe(result.inputSopInstanceUids[slice]);
    // Under GPU rendering the label map is a Cornerstone segmentation filled from the stored mask.
    expect(await viewport.getAttribute('data-rendering')).toBe('gpu');
    await expect.poll(() => viewport.getAttribute('data-labelmaps-filled'), { timeout: 15_000 }).toContain(`${result.resultId}:logits`);
    expect(await canvas.getAttribute('data-drawn'), 'not drawn on the canvas as well').not.toContain(`${result.resultId}:logits`);
    await afterSegRender(page, () => page.getByTestId('overlay-opacity').fill('100'));

    const [wr, wc] = interiorVoxels(mask, shape, slice, white.index)[0]!;
    // A Grey Matter voxel well away from the White Matter one (the eraser below must not reach it).
    const [gr, gc] = interiorVoxels(mask, shape, slice, grey.index).find(([r, c]) => Math.hypot(r - wr, c - wc) > 6)!;
    const [br, bc] = interiorVoxels(mask, shape, slice, 0)[0] ?? [2, 2];
    labelled = { resultId: result.resultId, slice, white: [wr, wc], grey: [gr, gc], whiteColor: white.color, greyColor: grey.color };
    // Another White Matter voxel the edits below do not reach.
    labelledFar = interiorVoxels(mask, shape, slice, white.index).find(([r, c]) => Math.hypot(r - wr, c - wc) > 6) ?? null;
    const points = async (): Promise<[number, number][]> => [await imageToCanvas(page, wc, wr), await imageToCanvas(page, gc, gr), await imageToCanvas(page, bc, br)];
    /** The image alone at the three voxels (overlay off), for the current camera. */
    const bare = async (): Promise<Rgba[]> => {
      await afterSegRender(page, () => page.getByTestId('overlay-toggle').uncheck());
      const px = await viewportPixels(page, await points());
      await afterSegRender(page, () => page.getByTestId('overlay-toggle').check());
      return px;
    };
    /** Polls the three voxels until they show what is expected: a label colour (opaque fill) or the bare image. */
    const expectVoxels = async (when: string, want: { white: Rgb | 'image'; grey: Rgb | 'image' }, image: Rgba[]) => {
      const [imgW, imgG, imgB] = image;
      // The colours are only evidence where the image itself is not that colour.
      if (want.white !== 'image') expect(near(imgW!, want.white, 10), `${when}: the image at the White Matter voxel is not already ${want.white.join(',')}`).toBe(false);
      if (want.grey !== 'image') expect(near(imgG!, want.grey, 10), `${when}: the image at the Grey Matter voxel is not already ${want.grey.join(',')}`).toBe(false);
      const target = [want.white === 'image' ? imgW! : want.white, want.grey === 'image' ? imgG! : want.grey, imgB!];
      await expect
        .poll(async () => (await viewportPixels(page, await points())).map((p) => p.slice(0, 3)), { timeout: 10_000, message: `${when}: White Matter (${wr}, ${wc}), Grey Matter (${gr}, ${gc}), background (${br}, ${bc}) want ${JSON.stringify(target.map((p) => p.slice(0, 3)))}` })
        .toSatisfy((got: number[][]) => got.every((p, i) => near(p, target[i]!)));
    };
    const check = async (when: string) => expectVoxels(when, { white: white.color, grey: grey.color }, await bare());
    await check('at rest');

    // Zoom (right drag) and pan (middle drag), then check the same voxels again.
    const box = await viewportBox(page);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const zoom = async () => Number((await page.getByTestId('overlay-zoom').textContent())?.match(/[\d.]+/)?.[0]);
    const zoom0 = await zoom();
    let before = await overlayDraws(page);
    await drag(page, [cx, cy], [cx, cy + 120], 'right');
    await drag(page, [cx, cy], [cx + 60, cy + 40], 'middle');
    await settle(page, before);
    expect(Math.abs((await zoom()) / zoom0 - 1), `zoom ${zoom0} -> ${await zoom()}`).toBeGreaterThan(0.1);
    await check('after zoom and pan');
    await screenshot(page, 'ai-mr-labelmap-zoom-pan.png');

    before = await overlayDraws(page);
    await page.getByTestId('view-rotate').click();
    await page.getByTestId('view-flip-h').click();
    await settle(page, before);
    await check('after rotate and flip');
    await screenshot(page, 'ai-mr-labelmap-rotate-flip.png');

    // Per-label controls: visibility, outline only and opacity, each on one label while the other stays filled.
    const image = await bare();
    const whiteItem = meshRun.locator('[data-testid="finding-item"][data-label="White Matter"]');
    const greyItem = meshRun.locator('[data-testid="finding-item"][data-label="Grey Matter"]');
    await afterSegRender(page, () => whiteItem.getByTestId('label-visibility').uncheck());
    await expectVoxels('White Matter hidden', { white: 'image', grey: grey.color }, image);
    await afterSegRender(page, () => greyItem.getByTestId('label-visibility').uncheck());
    await expectVoxels('both labels hidden', { white: 'image', grey: 'image' }, image);
    await afterSegRender(page, () => whiteItem.getByTestId('label-visibility').check());
    await afterSegRender(page, () => greyItem.getByTestId('label-visibility').check());
    await afterSegRender(page, () => greyItem.getByTestId('label-outline').check());
    await expectVoxels('Grey Matter outlined only', { white: white.color, grey: 'image' }, image);
    await afterSegRender(page, () => greyItem.getByTestId('label-outline').uncheck());
    await afterSegRender(page, () => whiteItem.getByTestId('label-opacity').fill('50'));
    const half = white.color.map((v, i) => Math.round(0.5 * v + 0.5 * image[0]![i]!)) as unknown as Rgb;
    await expectVoxels('White Matter at half opacity', { white: half, grey: grey.color }, image);
    await afterSegRender(page, () => whiteItem.getByTestId('label-opacity').fill('100'));
    // The overlay-wide switch: outline only for every label.
    await afterSegRender(page, () => page.getByTestId('overlay-outline').check());
    await expectVoxels('outline mode', { white: 'image', grey: 'image' }, image);
    await afterSegRender(page, () => page.getByTestId('overlay-fill').check());
    await expectVoxels('fill mode again', { white: white.color, grey: grey.color }, image);

    // A layout change keeps the label map on slot 0.
    before = await overlayDraws(page);
    await page.locator('[data-testid="layout-button"][data-layout="1x2"]').click();
    await waitForRender(page, 1);
    await settle(page, before);
    await expect.poll(() => viewport.getAttribute('data-labelmaps-filled'), { timeout: 15_000 }).toContain(`${result.resultId}:logits`);
    await check('after the layout change');
    await screenshot(page, 'ai-mr-labelmap-layout.png');

    // Brush and eraser (Cornerstone's BrushTool on the segmentation): erase a disc around the White Matter voxel,
    // then paint Grey Matter on part of it. Saved as a reviewed mask beside the model's, which stays unchanged.
    const pagePoint = async (col: number, row: number): Promise<[number, number]> => {
      const [x, y] = await imageToCanvas(page, col, row);
      const b = (await viewport.boundingBox())!;
      return [b.x + x, b.y + y];
    };
    const edits = async () => {
      const r = await bridge.invoke<{ maskEdits: { reviewedFile: string; voxels: Record<string, number> }[] }>('review.list', { studyInstanceUid: mrStudy });
      return r.ok ? r.value.maskEdits : [];
    };
    const editor = meshRun.getByTestId('label-editor');
    const imageBeforeEdit = await bare();
    await editor.getByTestId('seg-eraser').click();
    await editor.getByTestId('seg-radius').fill('3');
    expect(await canvas.getAttribute('data-editing')).toBe('true');
    await page.mouse.click(...(await pagePoint(wc, wr)));
    await expect.poll(async () => (await edits()).length, { timeout: 15_000 }).toBe(1);
    await expectVoxels('erased White Matter voxel', { white: 'image', grey: grey.color }, imageBeforeEdit);
    const [edit] = await edits();
    const reviewed = new Uint8Array(await resultArray(bridge, result.resultId, edit!.reviewedFile));
    const at = (m: Uint8Array, r: number, c: number) => m[slice * plane + r * shape[2] + c];
    expect(at(mask, wr, wc), 'the model mask is unchanged').toBe(white.index);
    expect(Buffer.from(mask).equals(await resultArray(bridge, result.resultId, seg.mask!.file)), 'the model mask file is unchanged').toBe(true);
    const whiteVoxels = (m: Uint8Array) => m.reduce((n, v) => n + (v === white.index ? 1 : 0), 0);
    expect(edit!.voxels[String(white.index)]).toBe(whiteVoxels(reviewed));
    // Every labelled voxel within 3 px of the clicked one was erased; nothing changed beyond the brush disc
    // (radius 3 px plus half a pixel: BrushTool's circle is centred where the click landed inside the voxel).
    const changed: [number, number][] = [];
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === reviewed[i]) continue;
      expect(Math.floor(i / plane), 'an edit on another slice').toBe(slice);
      expect(reviewed[i], 'the eraser only writes background').toBe(0);
      changed.push([Math.floor((i % plane) / shape[2]), i % shape[2]]);
    }
    for (let r = wr - 3; r <= wr + 3; r++) for (let c = wc - 3; c <= wc + 3; c++) if (Math.hypot(r - wr, c - wc) <= 3) expect(at(reviewed, r, c), `voxel (${r}, ${c}) erased`).toBe(0);
    for (const [r, c] of changed) expect(Math.hypot(r - wr, c - wc), `changed voxel (${r}, ${c})`).toBeLessThanOrEqual(4);
    expect(changed.length).toBeGreaterThanOrEqual(29);
    expect(at(reviewed, wr, wc + 5), 'outside the disc').toBe(white.index);
    await expect.poll(() => meshRun.getByTestId('label-volume-reviewed').count()).toBe(2);

    await editor.getByTestId('seg-brush').click();
    await editor.getByTestId('seg-label').selectOption(String(grey.index));
    await editor.getByTestId('seg-radius').fill('0');
    await page.mouse.click(...(await pagePoint(wc, wr)));
    await expect
      .poll(
        async () => {
          const [e] = await edits();
          return at(new Uint8Array(await resultArray(bridge, result.resultId, e!.reviewedFile)), wr, wc);
        },
        { timeout: 15_000 },
      )
      .toBe(grey.index);
    await expectVoxels('painted Grey Matter', { white: grey.color, grey: grey.color }, imageBeforeEdit);
    expect(await meshRun.getByTestId('mask-edited').textContent()).toContain(REVIEWER);
    await screenshot(page, 'ai-mr-labelmap-edited.png');

    // A stroke the store refuses is undone on the label map (Cornerstone's labelmap images too), and says so; the
    // stored edit stays as it was.
    const storedEdits = JSON.stringify(await edits());
    let refusedSaves = 0;
    await page.route('**/api/invoke', async (route) => {
      const body = route.request().postDataJSON() as { channel?: string };
      if (body.channel !== 'review.saveMaskEdits') return route.continue();
      refusedSaves++;
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ ok: false, error: { code: 'IO_ERROR', message: 'no space left on device' } }) });
    });
    await editor.getByTestId('seg-eraser').click();
    await page.mouse.click(...(await pagePoint(wc, wr)));
    await expect.poll(() => refusedSaves, { timeout: 15_000 }).toBe(1);
    const banner = page.getByTestId('error-item').filter({ hasText: 'The mask edit could not be saved and was undone: no space left on device' });
    await banner.waitFor({ timeout: 15_000 });
    await expectVoxels('a refused erase, undone', { white: grey.color, grey: grey.color }, imageBeforeEdit);
    await page.unroute('**/api/invoke');
    expect(JSON.stringify(await edits())).toBe(storedEdits);
    await banner.getByRole('button').click();
    await editor.getByTestId('seg-eraser').click(); // tool off
    expect(await canvas.getAttribute('data-editing')).toBe('false');

    // The queue: a new run can be cancelled from the queue panel; the stored result stays.
    await page.getByTestId('run-model-select').selectOption(MESHNET.gwm.id);
    await page.getByTestId('run-model').click();
    await expect.poll(() => queued.count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await queued.first().getByTestId('queue-cancel').click();
    await expect.poll(() => queued.count(), { timeout: 30_000 }).toBe(0);
    expect(await meshRun.getAttribute('data-status')).toBe('done');
    expect(session.pageErrors).toEqual([]);
  }, 600_000);

  it('keeps the reviewer and the mask edit across a new bridge on the same data, triages the worklist by AI priority, and shows a reviewed study as reviewed', async () => {
    await session.close();
    // A detector package for the last test, installed while the app is closed (the registry scans on start).
    writeDetectorPackage(dataDir);
    session = await openVigil({ dataDir });
    const { page, bridge } = session;
    await page.waitForSelector('[data-testid="study-row"]');

    // The reviewer and the mask edit are still there (reviews across a restart: triages-the-worklist-by-ai.spec.ts).
    await openStudy(page, cxrStudy);
    const cxrRun = page.locator('[data-testid="finding-run"][data-model-id="cxr-pneumonia"]');
    await expect.poll(() => cxrRun.getAttribute('data-status'), { timeout: 15_000 }).toBe('done');
    await expect.poll(() => page.getByTestId('reviewer-name').inputValue()).toBe(REVIEWER);
    const maskEdits = await bridge.invoke<{ maskEdits: { reviewer: string }[] }>('review.list', { studyInstanceUid: mrStudy });
    expect(maskEdits.ok && maskEdits.value.maskEdits.map((e) => e.reviewer)).toEqual([REVIEWER]);

    // Triage. So far no study is AI-positive: the CXR model called the X-ray normal (a "nothing found" label never
    // raises priority) and MeshNet's tissue volumes are measurements. The fixture detector boxes a nodule on the
    // X-ray (queued as a user or the CLI would, while the worklist is open), which makes the CXR study positive.
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#/';
    });
    await page.waitForSelector('[data-testid="study-row"]');
    await page.getByTestId('sort-aiPriority').click();
    const order = async () => page.$$eval('[data-testid="study-row"]', (rows) => rows.map((r) => (r as unknown as { dataset: Record<string, string> }).dataset.studyUid));
    const status = (uid: string) => page.locator(`[data-testid="study-row"][data-study-uid="${uid}"] [data-testid="ai-status"]`);
    await expect.poll(() => status(cxrStudy).getAttribute('data-status'), { timeout: 15_000 }).toBe('done');
    expect(await status(cxrStudy).getAttribute('data-priority')).toBe('false');
    const queuedRun = await bridge.invoke<{ queued: unknown[] }>('analysis.run', { studyInstanceUid: cxrStudy, modelId: 'test-cr-detector' });
    expect(queuedRun.ok && queuedRun.value.queued.length, JSON.stringify(queuedRun)).toBe(1);
    await expect.poll(async () => (await modelResult(bridge, cxrStudy, 'test-cr-detector'))?.status, { timeout: 60_000 }).toBe('done');
    const detected = (await modelResult(bridge, cxrStudy, 'test-cr-detector'))!;
    expect(detected.findings.map((f) => [f.label, f.positive])).toEqual([['nodule', true]]);
    detectorResultId = detected.resultId;

    // The worklist follows (it refreshes on the queue's events): the positive study first, flagged.
    await expect.poll(() => status(cxrStudy).getAttribute('data-status'), { timeout: 15_000 }).toBe('positive');
    await expect.poll(order).toEqual([cxrStudy, mrStudy]);
    expect(await status(cxrStudy).getAttribute('data-priority')).toBe('true');
    expect(await status(mrStudy).getAttribute('data-status')).toBe('done');
    expect(await status(mrStudy).getAttribute('data-priority')).toBe('false');
    await screenshot(page, 'ai-worklist.png');
    expect(await status(cxrStudy).textContent()).toBe('Positivenot reviewed');
    expect(await page.getByTestId('ai-counts').textContent()).toBe('1 flagged by AI·1 not reviewed');
    // "AI positive, not yet reviewed": the nodule is not reviewed yet.
    await page.getByTestId('ai-filter').check();
    await expect.poll(order).toEqual([cxrStudy]);
    await screenshot(page, 'ai-worklist-filtered.png');
    await page.getByTestId('ai-filter').uncheck();
    await expect.poll(order).toEqual([cxrStudy, mrStudy]);

    // Accept the nodule in the viewer: the worklist shows the study reviewed, still first, and the filter drops it.
    await openStudy(page, cxrStudy);
    const nodule = page.locator('[data-testid="finding-run"][data-model-id="test-cr-detector"] [data-testid="finding-item"][data-label="nodule"]');
    await expect.poll(() => nodule.getAttribute('data-reviewable'), { timeout: 15_000 }).toBe('true');
    await nodule.getByTestId('finding-accept').click();
    await expect.poll(() => nodule.getAttribute('data-review')).toBe('accepted');
    await expect.poll(() => page.getByTestId('review-state').getAttribute('data-state')).toBe('done');
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#/';
    });
    await page.waitForSelector('[data-testid="study-row"]');
    await expect.poll(() => status(cxrStudy).getAttribute('data-triage'), { timeout: 15_000 }).toBe('positive-reviewed');
    expect(await status(cxrStudy).textContent()).toBe('Positive · reviewed1 accepted');
    await page.getByTestId('sort-aiPriority').click(); // the worklist opened afresh, sorted by date
    await expect.poll(order).toEqual([cxrStudy, mrStudy]);
    await page.getByTestId('ai-filter').check();
    await expect.poll(order).toEqual([]);
    await page.getByTestId('ai-filter').uncheck();

    // The edited label map after the restart: the reviewed version is drawn (the voxel painted Grey Matter),
    // the model's own volumes are still listed beside the reviewed ones.
    expect(labelled, 'the MeshNet test ran first').not.toBeNull();
    const { resultId, slice, white: [wr, wc], whiteColor, greyColor } = labelled!;
    const showEditedSlice = async () => {
      await openStudy(page, mrStudy);
      await waitForRender(page);
      const meshRun = page.locator(`[data-testid="finding-run"][data-model-id="${MESHNET.gwm.id}"]`);
      await expect.poll(() => meshRun.getByTestId('label-volume-reviewed').count(), { timeout: 15_000 }).toBe(2);
      expect(await meshRun.getByTestId('label-volume').count()).toBe(2);
      await meshRun.locator('[data-testid="finding-item"][data-label="White Matter"]').getByTestId('finding-jump').click();
      const uids = (await studyResults(session.bridge, mrStudy)).find((r) => r.resultId === resultId)!.inputSopInstanceUids;
      await expect.poll(() => page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]').getAttribute('data-sop'), { timeout: 15_000 }).toBe(uids[slice]);
      await page.getByTestId('overlay-opacity').fill('100');
    };
    await showEditedSlice();
    await expect.poll(() => page.locator(VIEWPORT_0).getAttribute('data-labelmaps-filled'), { timeout: 15_000 }).toContain(`${resultId}:logits:reviewed`);
    const edited = async () => (await viewportPixels(page, [await imageToCanvas(page, wc, wr), ...(labelledFar ? [await imageToCanvas(page, labelledFar[1], labelledFar[0])] : [])])).map((p) => p.slice(0, 3));
    await expect.poll(edited, { timeout: 10_000 }).toSatisfy((px: number[][]) => near(px[0]!, greyColor) && (!px[1] || near(px[1], whiteColor)));
    await screenshot(page, 'ai-mr-labelmap-reviewed-after-restart.png');

    // CPU rendering: this Cornerstone version draws no labelmaps on a CPU stack viewport, so the label map falls back
    // to the canvas overlay, on the same voxels.
    await page.evaluate(() => (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('vigil.viewer.rendering', 'cpu'));
    await page.reload();
    // The page reopens where it was: the MR study in the viewer.
    await page.getByTestId('viewer').waitFor({ timeout: 30_000 });
    try {
      await showEditedSlice();
      expect(await page.locator(VIEWPORT_0).getAttribute('data-rendering')).toBe('cpu');
      const overlay = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
      await expect.poll(() => overlay.getAttribute('data-drawn'), { timeout: 15_000 }).toContain(`${resultId}:logits:reviewed`);
      await expect.poll(async () => overlayPixel(page, await imageToCanvas(page, wc, wr)), { timeout: 10_000 }).toEqual([...greyColor, 255]);
      if (labelledFar) expect(await overlayPixel(page, await imageToCanvas(page, labelledFar[1], labelledFar[0]))).toEqual([...whiteColor, 255]);
      await screenshot(page, 'ai-mr-labelmap-cpu.png');
    } finally {
      await page.evaluate(() => (globalThis as unknown as { localStorage: { removeItem(k: string): void } }).localStorage.removeItem('vigil.viewer.rendering'));
      await page.reload();
      await page.getByTestId('viewer').waitFor({ timeout: 30_000 });
    }
    expect(session.pageErrors).toEqual([]);
  }, 180_000);
  it('draws detection boxes with label and score on the image pixels the model boxed', async () => {
    const { page } = session;
    await openStudy(page, cxrStudy);
    await waitForRender(page);
    const listed = await session.bridge.invoke<{ models: { id: string; status: string; reason?: string }[] }>('models.list', {});
    expect(listed.ok && listed.value.models.find((m) => m.id === 'test-cr-detector'), JSON.stringify(listed)).toMatchObject({ status: 'ok' });
    await expect.poll(() => page.locator('[data-testid="run-model-select"] option[value="test-cr-detector"]').count(), { timeout: 15_000 }).toBe(1);
    await page.getByTestId('run-model-select').selectOption('test-cr-detector');
    await page.getByTestId('run-model').click();
    const run = page.locator('[data-testid="finding-run"][data-model-id="test-cr-detector"]');
    const nodule = run.locator('[data-testid="finding-item"][data-label="nodule"]');
    // The run from the triage test is listed until this one replaces it.
    expect(detectorResultId, 'the triage test ran the detector first').toBeGreaterThan(0);
    await expect.poll(async () => Number((await nodule.getAttribute('data-result-id')) ?? 0), { timeout: 60_000 }).toBeGreaterThan(detectorResultId);
    expect(await run.getAttribute('data-status')).toBe('done');
    expect(await nodule.getAttribute('data-positive')).toBe('true');
    await page.getByTestId('overlay-opacity').fill('100');
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    await expect.poll(() => canvas.getAttribute('data-drawn'), { timeout: 15_000 }).toMatch(/:boxes/);
    // 440 px source / 4 = 110 px per model pixel: the box covers source pixels 110..329; its top edge is at row 109.5.
    const yellowNear = async (col: number, row: number) => {
      const [x, y] = await imageToCanvas(page, col, row);
      for (const dx of [-1, 0, 1]) for (const dy of [-1, 0, 1]) {
        const p = await overlayPixel(page, [x + dx, y + dy]);
        if (p[3] > 100 && p[0] > 200 && p[1] > 150 && p[2] < 80) return true;
      }
      return false;
    };
    expect(await yellowNear(220, 109.5), 'top edge').toBe(true);
    expect(await yellowNear(329.5, 220), 'right edge').toBe(true);
    expect((await overlayPixel(page, await imageToCanvas(page, 220, 220)))[3], 'inside the box nothing is painted').toBe(0);
    expect(await yellowNear(220, 60), 'above the box').toBe(false);
    await screenshot(page, 'ai-cxr-boxes.png');
    expect(session.pageErrors).toEqual([]);
  }, 180_000);
});
