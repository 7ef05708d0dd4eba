import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusOrSkip, importByReference, openStudy } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string } };
declare const document: { querySelector(selector: string): BrowserElement | null; body: { textContent: string | null } };
interface BrowserElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  querySelector(selector: string): BrowserElement | null;
}

const SR_SEG = corpusOrSkip('dicom-seg-sr/dcmqi/sr-example');

describe.skipIf(!SR_SEG)('non-image objects (SR, SEG) in the viewer', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('lists them as such in the series strip and shows them without crashing', async () => {
    const { page, bridge } = session;
    const studies = await importByReference(bridge, [SR_SEG!]);
    expect(studies.length).toBeGreaterThan(0);
    for (const study of studies) {
      await openStudy(page, study.studyInstanceUid);
      const thumbs = page.getByTestId('series-thumbnail');
      await expect.poll(() => thumbs.count()).toBeGreaterThan(0);
      await expect.poll(() => page.locator('[data-testid="series-thumbnail"][data-non-image="true"]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
      const n = await thumbs.count();
      for (let i = 0; i < n; i++) {
        await thumbs.nth(i).click();
        await page.waitForTimeout(300);
      }
      await screenshot(page, 'viewer-non-image.png');
      await page.evaluate(() => {
        window.location.hash = '#/';
      });
      await page.getByTestId('study-table').waitFor();
    }
    const labels = await page.evaluate(() => document.body.textContent ?? '');
    expect(labels).not.toContain('Vigil could not start');
    expect(session.pageErrors).toEqual([]);
  });
});
