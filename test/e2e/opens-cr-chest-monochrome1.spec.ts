import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, importByReference, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

const CR = corpusOrSkip('dicom-pydicom/pydicom-data/data/RG1_J2KI.dcm');

describe.skipIf(!CR)('opening a CR chest (MONOCHROME1, JPEG 2000)', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('renders the radiograph with MONOCHROME1 inversion and toggles invert', async () => {
    const { page, bridge } = session;
    const studies = await importByReference(bridge, [CR!]);
    await openStudy(page, studies[0]!.studyInstanceUid);
    await waitForRender(page, 0, 1, 90_000);
    await screenshot(page, 'viewer-cr-monochrome1.png');
    await expect.poll(async () => (await canvasStats(page)).std, { timeout: 15_000 }).toBeGreaterThan(10);
    const shown = await canvasStats(page);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 1 });
    await screenshot(page, 'viewer-cr-monochrome1.png');
    await page.getByTestId('view-invert').click();
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 5_000 }).not.toBe(shown.hash);
    const inverted = await canvasStats(page);
    // Inverting a displayed image maps v → 255 − v over the image area.
    expect(Math.abs(inverted.mean - shown.mean)).toBeGreaterThan(5);
    await page.getByTestId('view-invert').click();
    expect(session.pageErrors).toEqual([]);
  });
});
