/**
 * The shipped breast-ultrasound model on a real dual-view ultrasound capture
 * (GDCM's gdcm-US-ALOKA-16 in pydicom-data: 640×480 PALETTE COLOR, a Sequence
 * of Ultrasound Regions with two B-mode tissue regions side by side,
 * 32,24–335,415 and 336,24–639,415, and a small graphics region). The file
 * records no Body Part Examined, so the model first refuses it as not
 * analysed, naming the missing attribute, and offers "Analyse anyway"; the
 * reader clicks it, the model runs, and the run says the reader vouched for
 * the unrecorded attribute. Both B-mode views are analysed: the panel says the
 * image was scored on its 2 B-mode regions, and the heatmap is non-zero inside
 * each view and zero outside them (the stored map and the overlay drawn on
 * screen).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiOverlayPixel, corpusOrSkip, heatmapValues, importByReference, imageToCanvas, modelResult, openStudy, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const CAPTURE = corpusOrSkip('dicom-pydicom/pydicom-data/data/gdcm-US-ALOKA-16.dcm');
const MODEL_ID = 'us-breast-malignancy';
const MODEL = join(repoRoot, 'models', MODEL_ID);
if (!existsSync(join(MODEL, 'model.onnx'))) console.warn(`[e2e] SKIPPED: ${MODEL}/model.onnx is missing`);
const ready = Boolean(CAPTURE && existsSync(join(MODEL, 'model.onnx')));
/** The capture's size and its two B-mode regions (dcmdump: Region Location 32,24–335,415 and 336,24–639,415). */
const ROWS = 480;
const COLUMNS = 640;
const VIEWS = [
  { x0: 32, y0: 24, x1: 335, y1: 415 },
  { x0: 336, y0: 24, x1: 639, y1: 415 },
] as const;
const viewOf = (col: number, row: number): number => VIEWS.findIndex((v) => col >= v.x0 && col <= v.x1 && row >= v.y0 && row <= v.y1);

/** The result outputs this spec reads (analysis.results types them loosely). */
interface Output {
  kind: string;
  regions?: { image: number; x0: number; y0: number; x1: number; y1: number }[];
  map?: { file: string; shape: [number, number, number] };
}

/** Alpha of the AI overlay canvas of slot 0 at a CSS position relative to the viewport. */
const overlayAlpha = async (page: Page, at: { x: number; y: number }): Promise<number> => (await aiOverlayPixel(page, at))[3];

/** Whether box `inner` lies wholly within box `outer` (CSS px, page coordinates). */
function within(inner: { x: number; y: number; width: number; height: number }, outer: { x: number; y: number; width: number; height: number }): boolean {
  return inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;
}

describe.skipIf(!ready)('a dual-view ultrasound without Body Part Examined, analysed on the reader\'s word', () => {
  let root: string;
  let session: VigilSession;
  let study: string;

  beforeAll(async () => {
    root = makeTempDir('us-vouch');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, MODEL_ID);
    session = await openVigil({ dataDir });
    const [first] = await importByReference(session.bridge, [CAPTURE!]);
    study = first!.studyInstanceUid;
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('refuses it as not recorded, analyses it when the reader vouches, and scores both B-mode views', async () => {
    const { page, bridge } = session;
    await openStudy(page, study);
    await waitForRender(page);
    const runs = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`);

    // Not recorded: the model refuses the series, names what is missing and offers to analyse it anyway.
    await page.getByTestId('run-model').click();
    await expect.poll(() => runs.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('not-analysed');
    expect(await runs.count(), 'one run per series and model').toBe(1);
    const refused = runs.first();
    expect(await refused.getByTestId('run-not-analysed').textContent()).toMatch(/^Not analysed: body part not recorded/i);
    const refusal = (await modelResult(bridge, study, MODEL_ID))!;
    expect(refusal.status).toBe('not-analysed');
    expect(refusal.unrecorded).toEqual(['Body Part Examined']);
    const anyway = refused.getByTestId('analyse-anyway');
    expect(await anyway.isVisible()).toBe(true);
    expect(await anyway.textContent()).toBe('Analyse anyway');
    expect(await anyway.getAttribute('title')).toMatch(/^This series does not record Body Part Examined\. Analyse it only if you vouch/);
    // The button is whole: inside its run row and inside the findings panel's visible area, its label not cut.
    const buttonBox = (await anyway.boundingBox())!;
    const rowBox = (await refused.boundingBox())!;
    expect(within(buttonBox, rowBox), 'button inside its run row').toBe(true);
    expect(buttonBox.width, 'a button as wide as its label, not a bar across the row').toBeLessThan(rowBox.width / 2);
    expect(within(buttonBox, { x: 0, y: 0, ...page.viewportSize()! }), 'button inside the window').toBe(true);
    const [scrollWidth, clientWidth] = await anyway.evaluate((el) => [(el as unknown as { scrollWidth: number }).scrollWidth, (el as unknown as { clientWidth: number }).clientWidth]);
    expect(scrollWidth, 'the button label fits the button').toBeLessThanOrEqual(clientWidth);
    await screenshot(page, 'ai-us-vouch-before.png');

    // The reader vouches: the model runs, and its result replaces the refusal.
    await anyway.click();
    await expect.poll(() => runs.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('done');
    expect(await runs.count(), 'the result replaces the refusal').toBe(1);
    const run = runs.first();
    expect(await run.getByTestId('analyse-anyway').count()).toBe(0);
    const warning = run.getByTestId('unrecorded-warning');
    await expect.poll(() => warning.count(), { timeout: 10_000 }).toBe(1);
    expect(await warning.getAttribute('data-vouched-by')).toBe('reader');
    expect(await warning.textContent()).toBe('Not recorded: Body Part Examined. Analysed because the reader vouched that the series is what the model needs');
    const views = run.getByTestId('ultrasound-views');
    await expect.poll(() => views.count(), { timeout: 10_000 }).toBe(1);
    expect(await views.textContent()).toBe('Scored on 2 B-mode regions of the image; the highest is shown');
    // Both views had a region: nothing was analysed whole.
    expect(await run.getByTestId('ultrasound-region-warning').count()).toBe(0);

    const result = (await modelResult(bridge, study, MODEL_ID))!;
    const outputs = result.outputs as unknown as Output[];
    expect(result.status).toBe('done');
    expect(result.warnings?.filter((w) => w.code === 'APPLICABILITY_NOT_RECORDED')).toEqual([
      expect.objectContaining({ attributes: ['Body Part Examined'], vouchedBy: 'reader' }),
    ]);
    expect(result.findings.map((f) => f.label)).toEqual(['normal_or_benign', 'malignant']);
    const classification = outputs.find((o) => o.kind === 'classification')!;
    expect(classification.regions?.map(({ image, x0, y0, x1, y1 }) => ({ image, x0, y0, x1, y1 }))).toEqual(VIEWS.map((v) => ({ image: 0, ...v })));

    // The stored heatmap: non-zero in each view, zero outside both.
    const heat = outputs.find((o) => o.kind === 'heatmap')!;
    expect(heat.map!.shape).toEqual([1, ROWS, COLUMNS]);
    const map = await heatmapValues(bridge, result.resultId, heat.map!.file);
    expect(map.length).toBe(ROWS * COLUMNS);
    const inside = [0, 0];
    const hottest = [-1, -1];
    let outside = 0;
    for (let row = 0; row < ROWS; row++) {
      for (let col = 0; col < COLUMNS; col++) {
        const i = row * COLUMNS + col;
        const v = map[i]!;
        const k = viewOf(col, row);
        if (k < 0) {
          if (v !== 0) outside++;
        } else if (v > 0) {
          inside[k]!++;
          if (hottest[k]! < 0 || v > map[hottest[k]!]!) hottest[k] = i;
        }
      }
    }
    expect(outside, 'heatmap pixels outside the B-mode views').toBe(0);
    expect(inside[0], 'heatmap pixels in the left view').toBeGreaterThan(1000);
    expect(inside[1], 'heatmap pixels in the right view').toBeGreaterThan(1000);

    // On screen: the overlay is drawn at each view's hottest pixel and not outside the views.
    const malignant = result.findings.find((f) => f.label === 'malignant')!;
    if (!malignant.positive) await page.getByTestId('overlay-negative-heatmaps').check();
    const heatCanvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    await expect.poll(() => heatCanvas.getAttribute('data-drawn'), { timeout: 15_000 }).toContain(`${result.resultId}:cam`);
    await page.getByTestId('overlay-opacity').fill('100');
    await page.waitForTimeout(300);
    for (const [k, i] of hottest.entries()) {
      const alpha = await overlayAlpha(page, await imageToCanvas(page, 0, i % COLUMNS, Math.floor(i / COLUMNS)));
      expect(alpha, `overlay alpha at the hottest pixel of view ${k}`).toBeGreaterThan(100);
    }
    // Below the views (the scanner's text area) and left of the left view: nothing drawn.
    for (const [col, row] of [
      [160, 460],
      [480, 460],
      [10, 220],
    ] as const) {
      expect(viewOf(col, row)).toBe(-1);
      expect(await overlayAlpha(page, await imageToCanvas(page, 0, col, row)), `overlay alpha at image pixel ${col},${row}`).toBe(0);
    }
    await page.getByTestId('overlay-opacity').fill('60');
    await page.waitForTimeout(300);
    await screenshot(page, 'ai-us-vouch-after.png');
    expect(session.pageErrors).toEqual([]);
  });
});
