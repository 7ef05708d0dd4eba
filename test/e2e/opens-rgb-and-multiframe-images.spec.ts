import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpus, corpusOrSkip, importByReference, listStudies, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string } };

const RGB = corpusOrSkip('dicom-pydicom/pydicom/test_files/examples_rgb_color.dcm');
const MULTI = corpusOrSkip('dicom-pydicom/pydicom-data/data/emri_small.dcm');

describe.skipIf(!RGB || !MULTI)('opening an RGB image and a multi-frame file', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('renders the RGB ultrasound in colour', async () => {
    const { page, bridge } = session;
    const studies = await importByReference(bridge, [RGB!]);
    await openStudy(page, studies[0]!.studyInstanceUid);
    await waitForRender(page);
    const stats = await canvasStats(page);
    expect(stats.std).toBeGreaterThan(5);
    expect(stats.chroma).toBeGreaterThan(0.5);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 1 });
    await screenshot(page, 'viewer-rgb.png');
  });

  it('shows every frame of a multi-frame MR and scrolls through them', async () => {
    const { page, bridge } = session;
    const before = new Set((await listStudies(bridge)).map((s) => s.studyInstanceUid));
    const studies = (await importByReference(bridge, [MULTI!])).filter((s) => !before.has(s.studyInstanceUid));
    const uid = studies[0]?.studyInstanceUid ?? '';
    expect(uid, `emri_small from ${corpus('dicom-pydicom')}`).not.toBe('');
    const series = await bridge.invoke<{ series: { seriesInstanceUid: string }[] }>('library.getStudy', { studyInstanceUid: uid });
    if (!series.ok) throw new Error(series.error.message);
    const inst = await bridge.invoke<{ instances: { frames: number }[] }>('library.listInstances', { seriesInstanceUid: series.value.series[0]!.seriesInstanceUid });
    if (!inst.ok) throw new Error(inst.error.message);
    const frames = inst.value.instances.reduce((n, i) => n + i.frames, 0);
    expect(frames).toBeGreaterThan(1);
    await page.evaluate(() => {
      window.location.hash = '#/';
    });
    await openStudy(page, uid);
    await waitForRender(page);
    expect(await overlayImage(page)).toEqual({ index: 1, count: frames });
    const first = await canvasStats(page);
    expect(first.std).toBeGreaterThan(3);
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(frames);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 10_000 }).not.toBe(first.hash);
    await screenshot(page, 'viewer-multiframe.png');
    expect(session.pageErrors).toEqual([]);
  });
});
