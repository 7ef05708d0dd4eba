/**
 * A 3,000-slice 512² CT (generated here, 1.5 GB, imported by reference) opens
 * and scrolls end to end without a crash; the renderer stays under 2 GB.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rendererRssBytes } from './support/renderer-memory';
import { writeSyntheticCtSeries } from './support/synthetic-corpus';
import { canvasStats, hoverViewport, importByReference, openStudy, overlayImage, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const SLICES = Number(process.env.VIGIL_E2E_SLICES ?? 3000);
const GB = 1024 ** 3;

describe('a 3,000-slice CT series', () => {
  let session: VigilSession;
  let dir: string;
  let studyUid = '';

  beforeAll(async () => {
    dir = makeTempDir('3000');
    const seriesDir = join(dir, 'ct');
    const t0 = Date.now();
    writeSyntheticCtSeries(seriesDir, { studyInstanceUid: '1.2.826.0.1.3680043.10.1138.3000', slices: SLICES, patientName: 'Long^Series', patientId: 'PID-3000' });
    console.log(`[e2e] generated ${SLICES} slices in ${Date.now() - t0} ms`);
    session = await openVigil();
    const t1 = Date.now();
    const studies = await importByReference(session.bridge, [seriesDir]);
    console.log(`[e2e] imported by reference in ${Date.now() - t1} ms`);
    studyUid = studies[0]?.studyInstanceUid ?? '';
    expect(studies[0]?.instanceCount).toBe(SLICES);
  }, 600_000);

  afterAll(async () => {
    await session?.close();
    if (dir) removeDir(dir);
  });

  it('opens and scrolls end to end, staying under 2 GB', { timeout: 600_000 }, async () => {
    const { page } = session;
    await openStudy(page, studyUid);
    await waitForRender(page);
    expect(await overlayImage(page)).toEqual({ index: 1, count: SLICES });
    await hoverViewport(page);
    const t0 = Date.now();
    // Walk the whole series in PageDown steps (10% each), scrolling with the wheel at each stop.
    let peakRss = 0;
    for (let step = 0; step < 10; step++) {
      await page.keyboard.press('PageDown');
      for (let w = 0; w < 20; w++) await page.mouse.wheel(0, 100);
      await page.waitForTimeout(150);
      peakRss = Math.max(peakRss, rendererRssBytes() ?? 0);
    }
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 60_000 }).toBe(SLICES);
    // A burst of single steps backwards from the end (decode and cache churn).
    for (let k = 0; k < 150; k++) await page.keyboard.press('ArrowUp');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 60_000 }).toBe(SLICES - 150);
    await page.keyboard.press('Home');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 60_000 }).toBe(1);
    await page.waitForTimeout(1500);
    const stats = await canvasStats(page);
    expect(stats.std).toBeGreaterThan(5);
    const heap = Number(await page.evaluate('performance.memory?.usedJSHeapSize ?? 0'));
    const rss = rendererRssBytes() ?? 0;
    console.log('[e2e] viewer memory', JSON.stringify(await page.evaluate('window.__vigilViewerMemory?.()')));
    peakRss = Math.max(peakRss, rss);
    console.log(`[e2e] 3000-slice walk ${Date.now() - t0} ms; JS heap ${(heap / 2 ** 20).toFixed(0)} MB; renderer RSS now ${(rss / 2 ** 20).toFixed(0)} MB, peak ${(peakRss / 2 ** 20).toFixed(0)} MB`);
    expect(heap).toBeLessThan(2 * GB);
    if (peakRss > 0) expect(peakRss).toBeLessThan(2 * GB);
    await screenshot(page, 'viewer-3000-slices.png');
    expect(session.pageErrors).toEqual([]);
  });
});
