/**
 * Images arriving in the open series (the viewer reloads the study on
 * library.changed and re-creates the pane's stack) leave the reader where they
 * were: on the same frame of a multi-frame instance, at their zoom, pan and
 * window. Another series shown in the pane starts at its own fit, and an
 * explicit reset stays a reset when more images arrive, and so does a series
 * shown again after the pane passed through a series without images (a
 * structured report). A study deleted while open leaves the panes (one error,
 * not one per later library change), takes its AI runs and measurements with
 * it, and shows again in every pane of the layout once it is re-imported,
 * without asking for the deleted results' overlays. Synthetic ultrasound
 * images, with GPU and with CPU rendering (Cornerstone keeps the view
 * differently on each); the shipped breast ultrasound model where present.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom, US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';
import { hoverViewport, importByReference, openStudy, overlayImage, overlayImageText, viewportBox, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const STUDY = '1.2.826.0.1.3680043.10.1138.982';
const SERIES = `${STUDY}.1`;
const OTHER_SERIES = `${STUDY}.2`;
const REPORT_SERIES = `${STUDY}.3`;
const BASIC_TEXT_SR = '1.2.840.10008.5.1.4.1.1.88.11';
const SIZE = 96;
const MODEL_ID = 'us-breast-malignancy';
const modelReady = existsSync(join(repoRoot, 'models', MODEL_ID, 'model.onnx'));
if (!modelReady) console.warn(`[e2e] AI part SKIPPED: models/${MODEL_ID}/model.onnx is missing`);

/** One frame: a grey gradient with a bright disc that moves with `seed` (so frames and images differ). */
function frame(seed: number): Uint8Array {
  return Uint8Array.from({ length: SIZE * SIZE }, (_, k) => {
    const r = Math.floor(k / SIZE);
    const c = k % SIZE;
    const disc = (r - 30 - seed * 9) ** 2 + (c - 48) ** 2 < 10 ** 2;
    return disc ? 230 : 40 + ((r + c + seed * 13) % 90);
  });
}

/** Instance `n` of a series; `frames` > 1 writes an ultrasound multi-frame image. */
function usImage(series: string, n: number, frames = 1): Buffer {
  const pixels = new Uint8Array(SIZE * SIZE * frames);
  for (let f = 0; f < frames; f++) pixels.set(frame(n * 3 + f), f * SIZE * SIZE);
  return syntheticDicom({
    modality: 'US',
    sopClassUid: frames > 1 ? US_MULTIFRAME_IMAGE_STORAGE : US_IMAGE_STORAGE,
    studyInstanceUid: STUDY,
    seriesInstanceUid: series,
    seriesNumber: series === SERIES ? 1 : 2,
    sopInstanceUid: `${series}.${n}`,
    instanceNumber: n,
    studyDescription: 'Ultrasound',
    seriesDescription: series === SERIES ? 'Cine' : 'Still',
    rows: SIZE,
    columns: SIZE,
    pixels,
    // The second series records its body part: the breast ultrasound model analyses it.
    extra: [...(frames > 1 ? [{ tag: 0x00280008, vr: 'IS', value: String(frames) }] : []), ...(series === OTHER_SERIES ? [{ tag: 0x00180015, vr: 'CS', value: 'BREAST' }] : [])],
  });
}

const zoomText = async (page: Page): Promise<string> => ((await page.getByTestId('overlay-zoom').textContent()) ?? '').trim();
const wlText = async (page: Page): Promise<string> => ((await page.getByTestId('overlay-wl').textContent()) ?? '').trim();

async function drag(page: Page, dx: number, dy: number, button: 'left' | 'middle' | 'right'): Promise<void> {
  const b = await viewportBox(page);
  const x = b.x + b.width / 2;
  const y = b.y + b.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down({ button });
  await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 4 });
  await page.mouse.move(x + dx, y + dy, { steps: 4 });
  await page.mouse.up({ button });
}

describe.each([
  { backend: 'gpu', args: [] as string[] },
  { backend: 'cpu', args: ['--disable-software-rasterizer'] },
])('images arriving in the open series ($backend rendering)', ({ backend, args }) => {
  let root: string;
  let session: VigilSession;
  const file = (name: string, data: Buffer): string => {
    const p = join(root, 'in', name);
    writeFileSync(p, data);
    return p;
  };

  beforeAll(async () => {
    root = makeTempDir(`keeps-view-${backend}`);
    mkdirSync(join(root, 'in'));
    if (modelReady) installRepoModel(join(root, 'library'), MODEL_ID);
    session = await openVigil({ dataDir: join(root, 'library'), chromiumArgs: args });
    // Instance 2 of the first series has three frames; the second series one image.
    await importByReference(session.bridge, [file('s1-2.dcm', usImage(SERIES, 2, 3)), file('s2-1.dcm', usImage(OTHER_SERIES, 1))]);
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('keeps the frame, zoom, pan and window; another series and a reset start afresh', async () => {
    const { page, bridge } = session;
    await openStudy(page, STUDY, SERIES);
    await waitForRender(page);
    expect(await page.getByTestId('viewport').getAttribute('data-rendering')).toBe(backend);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 3 });
    const fitZoom = await zoomText(page);
    const fileWl = await wlText(page);

    // The second frame of the multi-frame instance, zoomed in (right drag), panned (middle drag), windowed (left
    // drag), rotated and flipped.
    await hoverViewport(page);
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => overlayImageText(page), { timeout: 10_000 }).toBe('Im 2 / 3 · fr 2');
    await drag(page, 0, 30, 'right');
    await drag(page, 80, 60, 'middle');
    await drag(page, 60, -40, 'left');
    await page.getByTestId('view-rotate').click();
    await page.getByTestId('view-flip-h').click();
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).not.toBe(fitZoom);
    await expect.poll(() => wlText(page), { timeout: 10_000 }).not.toBe(fileWl);
    const zoomed = await zoomText(page);
    const windowed = await wlText(page);
    // Where the image's top-left, top-right and bottom-left pixels are drawn: zoom, pan, rotation and flip together.
    const corners = async () =>
      page.evaluate((n) => {
        const at = (globalThis as unknown as { __vigilImageToCanvas: (s: number, c: number, r: number) => [number, number] | null }).__vigilImageToCanvas;
        return [at(0, 0, 0), at(0, n - 1, 0), at(0, 0, n - 1)];
      }, SIZE);
    const panned = await corners();
    // Rotated: the first row no longer runs left to right along the screen.
    expect(Math.abs(panned[1]![1] - panned[0]![1])).toBeGreaterThan(100);

    // Instance 1 (one image) arrives and sorts before it: the same frame is now the third image, the view unchanged.
    await importByReference(bridge, [file('s1-1.dcm', usImage(SERIES, 1))]);
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(4);
    await expect.poll(() => overlayImageText(page), { timeout: 10_000 }).toBe('Im 3 / 4 · fr 2');
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).toBe(zoomed);
    expect(await wlText(page)).toBe(windowed);
    await expect
      .poll(async () => Math.max(...(await corners()).map((p, i) => (p ? Math.hypot(p[0] - panned[i]![0], p[1] - panned[i]![1]) : Infinity))), { timeout: 10_000 })
      .toBeLessThan(0.5);
    expect(await page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]').getAttribute('data-sop')).toBe(`${SERIES}.2`);
    await screenshot(page, `viewer-keeps-view-when-images-arrive-${backend}.png`);

    // Another series in the pane starts at its own fit and window, and does not hand its view back either.
    await page.locator(`[data-testid="series-thumbnail"][data-series-uid="${OTHER_SERIES}"]`).click();
    await expect.poll(async () => page.getByTestId('viewport').first().getAttribute('data-series-uid'), { timeout: 10_000 }).toBe(OTHER_SERIES);
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).toBe(fitZoom);
    expect(await wlText(page)).not.toBe(windowed);
    await page.locator(`[data-testid="series-thumbnail"][data-series-uid="${SERIES}"]`).click();
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(4);
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).toBe(fitZoom);
    expect(await wlText(page)).not.toBe(windowed);

    // Zoomed and windowed again, then reset by the reader: the next arrival keeps the reset view.
    await drag(page, 0, 30, 'right');
    await drag(page, 60, -40, 'left');
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).not.toBe(fitZoom);
    await expect.poll(() => wlText(page), { timeout: 10_000 }).not.toBe(fileWl);
    await page.getByTestId('view-reset').click();
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).toBe(fitZoom);
    const resetWl = await wlText(page);
    await importByReference(bridge, [file('s1-3.dcm', usImage(SERIES, 3))]);
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(5);
    expect(await zoomText(page)).toBe(fitZoom);
    expect(await wlText(page)).toBe(resetWl);
    expect(session.pageErrors).toEqual([]);
  });

  it('forgets the view of a series once the pane showed a series without images', async () => {
    const { page, bridge } = session;
    // A structured report arrives in the open study: a series the pane lists but builds no stack for.
    const report = syntheticDicom({
      modality: 'SR',
      sopClassUid: BASIC_TEXT_SR,
      studyInstanceUid: STUDY,
      seriesInstanceUid: REPORT_SERIES,
      seriesNumber: 3,
      sopInstanceUid: `${REPORT_SERIES}.1`,
      studyDescription: 'Ultrasound',
      seriesDescription: 'Report',
      rows: SIZE,
      columns: SIZE,
      pixels: frame(0),
    });
    await importByReference(bridge, [file('sr.dcm', report)]);
    const reportThumb = page.locator(`[data-testid="series-thumbnail"][data-series-uid="${REPORT_SERIES}"]`);
    await expect.poll(() => reportThumb.count(), { timeout: 15_000 }).toBe(1);
    await waitForRender(page);
    await page.getByTestId('view-reset').click();
    expect(await overlayImage(page)).toEqual({ index: 1, count: 5 });
    const fitZoom = await zoomText(page);
    const fitWl = await wlText(page);
    const firstRow = async () =>
      page.evaluate((n) => {
        const at = (globalThis as unknown as { __vigilImageToCanvas: (s: number, c: number, r: number) => [number, number] | null }).__vigilImageToCanvas;
        return [at(0, 0, 0), at(0, n - 1, 0)];
      }, SIZE);

    // The second image, zoomed, windowed, rotated and flipped.
    await hoverViewport(page);
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => overlayImage(page), { timeout: 10_000 }).toEqual({ index: 2, count: 5 });
    await drag(page, 0, 30, 'right');
    await drag(page, 60, -40, 'left');
    await page.getByTestId('view-rotate').click();
    await page.getByTestId('view-flip-h').click();
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).not.toBe(fitZoom);
    await expect.poll(() => wlText(page), { timeout: 10_000 }).not.toBe(fitWl);
    const windowed = await wlText(page);

    // The report in the pane (no stack), then the series again: it starts on its first image, at its own fit, window
    // and orientation, as any series shown afresh does.
    await reportThumb.click();
    await expect.poll(() => page.locator('[data-slot="0"] [data-testid="viewport-non-image"]').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.getByTestId('viewport').first().getAttribute('data-series-uid')).toBe(REPORT_SERIES);
    await page.locator(`[data-testid="series-thumbnail"][data-series-uid="${SERIES}"]`).click();
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(5);
    await expect.poll(() => zoomText(page), { timeout: 10_000 }).toBe(fitZoom);
    expect((await overlayImage(page)).index).toBe(1);
    expect(await wlText(page)).not.toBe(windowed);
    // Not rotated: the first row runs left to right along the screen again.
    const [left, right] = await firstRow();
    expect(right![0] - left![0]).toBeGreaterThan(100);
    expect(Math.abs(right![1] - left![1])).toBeLessThan(0.5);
    await screenshot(page, `viewer-fresh-view-after-report-${backend}.png`);
    expect(session.pageErrors).toEqual([]);
  });

  it('keeps a rotated, flipped and panned view through a change of the window size', async () => {
    const { page } = session;
    await openStudy(page, STUDY, SERIES);
    await waitForRender(page);
    await page.getByTestId('view-reset').click();
    await hoverViewport(page);
    await page.getByTestId('view-rotate').click();
    await page.getByTestId('view-flip-h').click();
    await drag(page, 80, 60, 'middle');
    /** The image's first row (its direction on screen) and its centre relative to the viewport's centre. */
    const geometry = async () => {
      const b = await viewportBox(page);
      const [a, c, m] = await page.evaluate((n) => {
        const at = (globalThis as unknown as { __vigilImageToCanvas: (s: number, c: number, r: number) => [number, number] | null }).__vigilImageToCanvas;
        return [at(0, 0, 0), at(0, n - 1, 0), at(0, n / 2, n / 2)];
      }, SIZE);
      return { row: [c![0] - a![0], c![1] - a![1]], centre: [m![0] - b.width / 2, m![1] - b.height / 2] };
    };
    const unit = (v: number[]) => v.map((x) => x / Math.hypot(v[0]!, v[1]!));
    const before = await geometry();
    expect(Math.hypot(before.centre[0]!, before.centre[1]!), 'panned off centre').toBeGreaterThan(20);
    const size = page.viewportSize()!;
    const paneWidth = (await viewportBox(page)).width;
    try {
      await page.setViewportSize({ width: size.width - 240, height: size.height - 120 });
      await expect.poll(async () => (await viewportBox(page)).width, { timeout: 10_000 }).toBeLessThan(paneWidth);
      // The same orientation, and the image still off centre the same way (the pan not mirrored), at the new size.
      await expect
        .poll(async () => {
          const after = await geometry();
          const [r0, r1, c0, c1] = [unit(before.row), unit(after.row), unit(before.centre), unit(after.centre)];
          return Math.min(r0[0]! * r1[0]! + r0[1]! * r1[1]!, c0[0]! * c1[0]! + c0[1]! * c1[1]!);
        }, { timeout: 10_000 })
        .toBeGreaterThan(0.99);
    } finally {
      await page.setViewportSize(size);
    }
    await page.getByTestId('view-reset').click();
    expect(session.pageErrors).toEqual([]);
  });

  it('leaves the panes when the open study is deleted, says so once, and shows it again when re-imported', async () => {
    const { page, bridge } = session;
    await waitForRender(page);
    const runs = page.getByTestId('finding-run');
    if (modelReady) {
      // The model runs on the second series (not shown: its heatmap is never fetched before the study is deleted).
      const queued = await bridge.invoke<{ queued: unknown[] }>('analysis.run', { studyInstanceUid: STUDY, seriesInstanceUid: OTHER_SERIES, modelId: MODEL_ID });
      if (!queued.ok) throw new Error(queued.error.message);
      expect(queued.value.queued).toHaveLength(1);
      await expect.poll(() => runs.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('done');
    }
    // A measurement on the image shown.
    await page.getByTestId('tool-length').click();
    {
      const b = await viewportBox(page);
      await page.mouse.move(b.x + b.width * 0.4, b.y + b.height * 0.5);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width * 0.6, b.y + b.height * 0.5, { steps: 5 });
      await page.mouse.up();
    }
    await expect.poll(() => page.getByTestId('measurement').count(), { timeout: 10_000 }).toBe(1);
    await page.getByTestId('tool-wl').click();

    const deleted = await bridge.invoke<{ deleted: boolean }>('library.deleteStudy', { studyInstanceUid: STUDY });
    if (!deleted.ok) throw new Error(deleted.error.message);
    expect(deleted.value.deleted).toBe(true);
    await expect.poll(() => page.getByTestId('viewport-pane').count(), { timeout: 15_000 }).toBe(0);
    expect(await page.getByTestId('viewer-patient').count()).toBe(0);
    expect(await page.getByTestId('viewport-grid').textContent()).toContain(`Study not found: ${STUDY}`);
    const notFound = page.getByTestId('error-item').filter({ hasText: 'NOT_FOUND' }).filter({ hasText: STUDY });
    await expect.poll(() => notFound.count(), { timeout: 10_000 }).toBe(1);
    // Its AI runs went with it (nothing left to accept or reject), and so did the measurement made on its image.
    await expect.poll(() => runs.count(), { timeout: 10_000 }).toBe(0);
    expect(await page.getByTestId('measurement').count()).toBe(0);
    // The reader picks 2×2 while the study is away.
    await page.locator('[data-testid="layout-button"][data-layout="2x2"]').click();
    await screenshot(page, `viewer-open-study-deleted-${backend}.png`);

    // Another study arrives (library.changed): the viewer asks again, and says nothing new.
    const otherStudy = syntheticDicom({ modality: 'US', sopClassUid: US_IMAGE_STORAGE, studyInstanceUid: `${STUDY}.9`, seriesInstanceUid: `${STUDY}.9.1`, sopInstanceUid: `${STUDY}.9.1.1`, rows: SIZE, columns: SIZE, pixels: frame(0) });
    await importByReference(bridge, [file('other.dcm', otherStudy)]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await notFound.count()).toBe(1);
    expect(await notFound.first().locator('.error-repeat').count()).toBe(0);

    // Re-imported: the viewer shows it again, in every pane of the layout (the first series, then the second, which
    // the deleted run had analysed), with no runs and no request for the deleted results' overlays.
    await importByReference(bridge, [join(root, 'in', 's1-1.dcm'), join(root, 'in', 's1-2.dcm'), join(root, 'in', 's2-1.dcm')]);
    await expect.poll(() => page.getByTestId('viewport-pane').count(), { timeout: 15_000 }).toBe(4);
    for (let slot = 0; slot < 4; slot++) await waitForRender(page, slot);
    expect(await page.getByTestId('viewport-grid').textContent()).not.toContain('Study not found');
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(4);
    const paneSeries = await page.getByTestId('viewport').evaluateAll((els) => els.map((el) => el.getAttribute('data-series-uid')));
    expect(paneSeries).toEqual([SERIES, OTHER_SERIES, SERIES, SERIES]);
    expect((await overlayImage(page, 1)).count).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runs.count()).toBe(0);
    expect(await page.getByTestId('error-item').allTextContents()).toEqual([expect.stringContaining('NOT_FOUND')]);
    await screenshot(page, `viewer-deleted-study-reimported-${backend}.png`);
    expect(session.pageErrors).toEqual([]);
  });
});
