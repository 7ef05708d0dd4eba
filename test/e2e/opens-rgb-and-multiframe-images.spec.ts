import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpus, corpusOrSkip, greyAt, imageToCanvas, importByReference, listStudies, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string } };

const RGB = corpusOrSkip('dicom-pydicom/pydicom/test_files/examples_rgb_color.dcm');
const MULTI = corpusOrSkip('dicom-pydicom/pydicom-data/data/emri_small.dcm');
/** fo-dicom's whole-slide tiles: 140 JPEG frames of 240x240, the right and bottom edge tiles coded smaller (55 / 121). */
const TILES = corpusOrSkip('dicom-misc/fo-dicom/multiframe.dcm');

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

  it.skipIf(!TILES)('shows whole-slide edge tiles at their place in a full-size frame, not stretched to it', async () => {
    const { page, bridge } = session;
    const before = new Set((await listStudies(bridge)).map((s) => s.studyInstanceUid));
    const uid = (await importByReference(bridge, [TILES!])).find((s) => !before.has(s.studyInstanceUid))?.studyInstanceUid ?? '';
    expect(uid).not.toBe('');
    await page.evaluate(() => {
      window.location.hash = '#/';
    });
    await openStudy(page, uid);
    await waitForRender(page);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 140 });
    /** CSS px per image pixel: every frame is fitted as the 240x240 tile the header declares. */
    const pixelSize = async () => {
      const a = await imageToCanvas(page, 0, 0, 0);
      const b = await imageToCanvas(page, 0, 239, 0);
      return Math.hypot(b.x - a.x, b.y - a.y) / 239;
    };
    const fullTile = await pixelSize();
    // The last tile (bottom-right corner) is coded 55 x 121: the slide's background there, black beyond it.
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(140);
    await expect.poll(async () => greyAt(page, 0, await imageToCanvas(page, 0, 27, 60)), { timeout: 10_000 }).toBeGreaterThan(200);
    expect(await greyAt(page, 0, await imageToCanvas(page, 0, 150, 60))).toBeLessThan(10);
    expect(await greyAt(page, 0, await imageToCanvas(page, 0, 27, 200))).toBeLessThan(10);
    expect(Math.abs((await pixelSize()) - fullTile)).toBeLessThan(0.01);
    await screenshot(page, 'viewer-wsi-edge-tile.png');
    expect(session.pageErrors).toEqual([]);
  });
});
