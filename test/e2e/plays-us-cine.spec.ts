import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, importByReference, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

const US = corpusOrSkip('dicom-pydicom/pydicom/test_files/examples_ybr_color.dcm');

describe.skipIf(!US)('playing an ultrasound cine (30 frames, YBR_FULL_422 JPEG baseline)', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('renders colour frames and plays them at the chosen frame rate', async () => {
    const { page, bridge } = session;
    const studies = await importByReference(bridge, [US!]);
    await openStudy(page, studies[0]!.studyInstanceUid);
    await waitForRender(page);
    const first = await canvasStats(page);
    expect(first.std).toBeGreaterThan(5);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 30 });
    await screenshot(page, 'viewer-us-frame1.png');

    await page.getByTestId('cine-fps').fill('30');
    await page.getByTestId('cine-play').click();
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 15_000 }).toBeGreaterThan(5);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      seen.add((await overlayImage(page)).index);
      await page.waitForTimeout(100);
    }
    expect(seen.size).toBeGreaterThan(3);
    await page.getByTestId('cine-play').click();
    // Stopping cancels the timer; the one frame already being loaded (the loop has at most one in flight)
    // may still land, later under load. So over the next 3 s the index changes at most once.
    const after: number[] = [];
    for (let i = 0; i < 30; i++) {
      after.push((await overlayImage(page)).index);
      await page.waitForTimeout(100);
    }
    const changes = after.filter((v, i) => i > 0 && v !== after[i - 1]).length;
    expect(changes, `indices after stop: ${after.join(' ')}`).toBeLessThanOrEqual(1);
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 5_000 }).toBe(30);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 5_000 }).not.toBe(first.hash);
    await screenshot(page, 'viewer-us-cine.png');
    expect(session.pageErrors).toEqual([]);
  });
});
