import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, importByReference, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string } };

const CT = corpusOrSkip('series-derived/ct-totalseg-example');

describe.skipIf(!CT)('opening a CT series in the viewer', () => {
  let session: VigilSession;
  let studyUid = '';

  beforeAll(async () => {
    session = await openVigil();
    const studies = await importByReference(session.bridge, [CT!]);
    studyUid = studies.find((s) => s.modalities.includes('CT'))?.studyInstanceUid ?? '';
    expect(studyUid).not.toBe('');
  });

  afterAll(async () => {
    await session?.close();
  });

  it('opens the study from the study list by double-click and renders the first slice', async () => {
    const { page } = session;
    await page.reload();
    await page.getByTestId('study-row').first().dblclick();
    await page.getByTestId('viewer').waitFor();
    expect(await page.evaluate(() => window.location.hash)).toBe(`#/study/${studyUid}`);
    await waitForRender(page);
    const stats = await canvasStats(page);
    expect(stats.std).toBeGreaterThan(10);
    expect(stats.distinct).toBeGreaterThan(32);
    const im = await overlayImage(page);
    expect(im).toEqual({ index: 1, count: 112 });
    expect(await page.getByTestId('series-thumbnail').count()).toBeGreaterThanOrEqual(1);
    await screenshot(page, 'viewer-ct.png');
    expect(session.pageErrors).toEqual([]);
  });

  it('opens directly at #/study/<uid>', async () => {
    const { page } = session;
    await page.evaluate(() => {
      window.location.hash = '#/';
    });
    await page.getByTestId('study-table').waitFor();
    await openStudy(page, studyUid);
    await waitForRender(page);
    expect((await overlayImage(page)).count).toBe(112);
  });
});
