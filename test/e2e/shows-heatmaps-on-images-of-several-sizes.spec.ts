/**
 * The shipped breast-ultrasound model (a per-image model) on a real
 * ultrasound series whose images differ in size: pydicom-data's US1_UNCR
 * (640×480 RGB) and pydicom's examples_rgb_color (320×240 RGB), two images of
 * one series (same Series Instance UID, different SOP Instance UIDs). Such a
 * series used to be refused whole ("the images of the series differ in size").
 * Now each image is scored at its own size; the stored heatmap has one plane
 * per image at the larger size, the smaller image in its top-left corner with
 * zeros beyond, and `imageShapes` names each image's size; and the viewer
 * draws each image's map on that image.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiOverlayPixel, corpusOrSkip, heatmapValues, hoverViewport, importByReference, imageToCanvas, modelResult, openStudy, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const LARGE = corpusOrSkip('dicom-pydicom/pydicom-data/data/US1_UNCR.dcm');
const SMALL = corpusOrSkip('dicom-pydicom/pydicom/test_files/examples_rgb_color.dcm');
const MODEL_ID = 'us-breast-malignancy';
const MODEL = join(repoRoot, 'models', MODEL_ID);
if (!existsSync(join(MODEL, 'model.onnx'))) console.warn(`[e2e] SKIPPED: ${MODEL}/model.onnx is missing`);
const ready = Boolean(LARGE && SMALL && existsSync(join(MODEL, 'model.onnx')));

/** The result outputs this spec reads (analysis.results types them loosely). */
interface Output {
  kind: string;
  tensor?: string;
  perImage?: number[][];
  map?: { file: string; shape: [number, number, number]; imageShapes?: [number, number][]; sourceToPatient: number[] | null };
}

/** The SOP Instance UID of the image slot 0 shows (the overlay canvas records it at each draw). */
const shownSop = (page: Page) => page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]').getAttribute('data-sop');

describe.skipIf(!ready)('a per-image model on a series whose images differ in size', () => {
  let root: string;
  let session: VigilSession;
  let study: string;

  beforeAll(async () => {
    root = makeTempDir('us-sizes');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, MODEL_ID);
    session = await openVigil({ dataDir });
    const studies = await importByReference(session.bridge, [LARGE!, SMALL!]);
    expect(studies, 'both images in one study').toHaveLength(1);
    study = studies[0]!.studyInstanceUid;
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('scores each image at its own size and draws each image its own map', async () => {
    const { page, bridge } = session;
    // The files record no Body Part Examined: the reader vouches (the vouch itself is shown elsewhere).
    const run = await bridge.invoke<{ queued: unknown[] }>('analysis.run', { studyInstanceUid: study, modelId: MODEL_ID, provider: 'cpu', vouchForUnrecorded: true });
    if (!run.ok) throw new Error(run.error.message);
    expect(run.value.queued).toHaveLength(1);
    await openStudy(page, study);
    await waitForRender(page);
    const row = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`);
    await expect.poll(() => row.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('done');

    const result = (await modelResult(bridge, study, MODEL_ID))!;
    const outputs = result.outputs as unknown as Output[];
    expect(result.status, result.reason ?? '').toBe('done');
    expect(result.inputSopInstanceUids).toHaveLength(2);
    const classification = outputs.find((o) => o.kind === 'classification')!;
    expect(classification.perImage, 'one score row per image').toHaveLength(2);
    const heat = outputs.find((o) => o.kind === 'heatmap')!;
    const map = heat.map!;
    expect(map.shape).toEqual([2, 480, 640]);
    const shapes = map.imageShapes!;
    expect([...shapes].sort((a, b) => a[0] - b[0])).toEqual([
      [240, 320],
      [480, 640],
    ]);
    expect(map.sourceToPatient).toBeNull();

    // Each plane: the map covers its image (the model saw each whole: no B-mode region) and nothing beyond it.
    const values = await heatmapValues(bridge, result.resultId, map.file);
    const plane = 480 * 640;
    const hottest: number[] = [];
    shapes.forEach(([rows, columns], k) => {
      let beyond = 0;
      let hot = -1;
      for (let r = 0; r < 480; r++) {
        for (let c = 0; c < 640; c++) {
          const i = k * plane + r * 640 + c;
          if (r >= rows || c >= columns) {
            if (values[i] !== 0) beyond++;
          } else if (hot < 0 || values[i]! > values[hot]!) hot = i;
        }
      }
      expect(beyond, `image ${k}: map values beyond its ${rows}×${columns} pixels`).toBe(0);
      expect(values[hot]!, `image ${k}: a map over the image`).toBeGreaterThan(0.5);
      hottest.push(hot - k * plane);
    });

    // On screen: each image shows its own map at its own hottest pixel.
    const malignant = result.findings.find((f) => f.label === 'malignant')!;
    if (!malignant.positive) await page.getByTestId('overlay-negative-heatmaps').check();
    await page.getByTestId('overlay-opacity').fill('100');
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    const key = `${result.resultId}:${heat.tensor}`;
    await hoverViewport(page);
    for (let step = 0; step < 2; step++) {
      if (step > 0) {
        const before = await shownSop(page);
        await page.mouse.wheel(0, 120);
        await expect.poll(() => shownSop(page), { timeout: 15_000 }).not.toBe(before);
      }
      await expect.poll(() => canvas.getAttribute('data-drawn'), { timeout: 15_000 }).toContain(key);
      const k = result.inputSopInstanceUids.indexOf((await shownSop(page))!);
      expect(k).toBeGreaterThanOrEqual(0);
      const at = await imageToCanvas(page, 0, hottest[k]! % 640, Math.floor(hottest[k]! / 640));
      await expect.poll(async () => (await aiOverlayPixel(page, at))[3], { timeout: 10_000 }).toBeGreaterThan(100);
      await screenshot(page, `ai-us-sizes-${shapes[k]![1]}.png`);
    }
    await page.getByTestId('overlay-opacity').fill('60');
    expect(session.pageErrors).toEqual([]);
  });
});
