import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, hoverViewport, importByReference, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

const MR = corpusOrSkip('series-derived/mr-brainchop-t1');

describe.skipIf(!MR)('opening an MR series', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('renders the 256-slice T1 series, shows the image count and scrolls', async () => {
    const { page, bridge } = session;
    const studies = await importByReference(bridge, [MR!]);
    await openStudy(page, studies[0]!.studyInstanceUid);
    await waitForRender(page);
    // The first sagittal slice is outside the head (air); the count is what matters here.
    const first = await canvasStats(page);
    expect((await overlayImage(page)).count).toBe(256);
    await hoverViewport(page);
    await page.keyboard.press('PageDown');
    await page.keyboard.press('PageDown');
    await page.keyboard.press('PageDown');
    await page.keyboard.press('PageDown');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 15_000 }).toBe(1 + 4 * 26);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 10_000 }).not.toBe(first.hash);
    await expect.poll(async () => (await canvasStats(page)).std, { timeout: 10_000 }).toBeGreaterThan(5);
    await screenshot(page, 'viewer-mr.png');
    expect(session.pageErrors).toEqual([]);
  });
});
