import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, hoverViewport, importByReference, openStudy, overlayImage, viewportBox, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

const CT = corpusOrSkip('series-derived/ct-totalseg-example');

async function wl(page: VigilSession['page']): Promise<{ w: number; l: number }> {
  const text = (await page.getByTestId('overlay-wl').textContent()) ?? '';
  const m = /W (-?\d+) L (-?\d+)/.exec(text);
  if (!m) throw new Error(`W/L overlay: ${text}`);
  return { w: Number(m[1]), l: Number(m[2]) };
}

describe.skipIf(!CT)('reading a CT: scroll, window/level drag, presets, layouts', () => {
  let session: VigilSession;
  let studyUid = '';

  beforeAll(async () => {
    session = await openVigil();
    const studies = await importByReference(session.bridge, [CT!]);
    studyUid = studies[0]?.studyInstanceUid ?? '';
    await openStudy(session.page, studyUid);
    await waitForRender(session.page);
  });

  afterAll(async () => {
    await session?.close();
  });

  it('scrolls with the wheel, arrows, PageDown, End and Home, and the pixels change', async () => {
    const { page } = session;
    const before = await canvasStats(page);
    await hoverViewport(page);
    await page.mouse.wheel(0, 120);
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(2);
    await page.keyboard.press('ArrowDown');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(3);
    await page.keyboard.press('PageDown');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(3 + 11);
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 20_000 }).toBe(112);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 10_000 }).not.toBe(before.hash);
    await page.keyboard.press('Home');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(1);
    await page.keyboard.press('ArrowUp');
    expect((await overlayImage(page)).index).toBe(1);
  });

  it('left-drag changes window/level and the pixels', async () => {
    const { page } = session;
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowDown');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(11);
    await page.waitForTimeout(200);
    const before = await wl(page);
    const pixels = await canvasStats(page);
    const b = await viewportBox(page);
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width / 2 + 120, b.y + b.height / 2 + 60, { steps: 8 });
    await page.mouse.up();
    await expect.poll(async () => (await wl(page)).w, { timeout: 5_000 }).not.toBe(before.w);
    const after = await wl(page);
    expect(after.l).not.toBe(before.l);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 5_000 }).not.toBe(pixels.hash);
  });

  it('applies CT presets by key and by button (HU windows)', async () => {
    const { page } = session;
    await page.keyboard.press('2');
    await expect.poll(() => wl(page), { timeout: 5_000 }).toEqual({ w: 1500, l: -600 });
    const lung = await canvasStats(page);
    await page.locator('[data-testid="wl-preset"][data-preset="bone"]').click();
    await expect.poll(() => wl(page), { timeout: 5_000 }).toEqual({ w: 2500, l: 480 });
    const bone = await canvasStats(page);
    // The bone window maps soft tissue near the bottom of the grey scale: darker than the lung window.
    expect(bone.mean).toBeLessThan(lung.mean);
    await page.keyboard.press('4');
    await expect.poll(() => wl(page), { timeout: 5_000 }).toEqual({ w: 400, l: 40 });
    expect(await page.getByTestId('wl-preset').count()).toBeGreaterThanOrEqual(5);
    await screenshot(page, 'viewer-ct-abdomen-window.png');
  });

  it('inverts, rotates and resets', async () => {
    const { page } = session;
    const base = await canvasStats(page);
    await page.getByTestId('view-invert').click();
    await expect.poll(async () => (await canvasStats(page)).mean, { timeout: 5_000 }).toBeGreaterThan(base.mean + 20);
    await page.getByTestId('view-invert').click();
    await page.getByTestId('view-rotate').click();
    await expect.poll(async () => (await page.getByTestId('orientation-top').textContent()) ?? '', { timeout: 5_000 }).not.toBe('A');
    await page.getByTestId('view-reset').click();
    await expect.poll(async () => (await page.getByTestId('orientation-top').textContent()) ?? '', { timeout: 5_000 }).toBe('A');
    expect(await page.getByTestId('orientation-left').textContent()).toBe('R');
  });

  it('switches layouts and shows the series in every viewport', async () => {
    const { page } = session;
    await page.locator('[data-testid="layout-button"][data-layout="2x2"]').click();
    await expect.poll(() => page.getByTestId('viewport').count()).toBe(4);
    for (const slot of [1, 2, 3]) await waitForRender(page, slot);
    await screenshot(page, 'viewer-ct-2x2.png');
    await page.locator('[data-testid="layout-button"][data-layout="1x2"]').click();
    await expect.poll(() => page.getByTestId('viewport').count()).toBe(2);
    await page.getByTestId('series-thumbnail').first().dragTo(page.locator('[data-testid="viewport-pane"][data-slot="1"]'));
    await waitForRender(page, 1);
    await page.locator('[data-testid="layout-button"][data-layout="1x1"]').click();
    await expect.poll(() => page.getByTestId('viewport').count()).toBe(1);
    expect(session.pageErrors).toEqual([]);
  });
});
