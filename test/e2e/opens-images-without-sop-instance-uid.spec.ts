/**
 * Real files whose SOP Instance UID (and Study/Series UIDs) are empty open in
 * the viewer: the library derives deterministic 2.25 UIDs for them (flagged as
 * derived), the display bytes are served under the derived UID, and every
 * image renders. Cases from ../shared/data: TotalSegmentator's raw example CT
 * (20 slices, no UIDs in the dataset), an RLE 16-bit secondary capture and a
 * JPEG-LS RGB image without one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, hoverViewport, importByReference, listStudies, openStudy, overlayImage, waitForRender } from './support/viewer';
import { openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string } };

const CT = corpusOrSkip('ct-series-totalsegmentator/totalseg/example_ct_dicom');
const RLE = corpusOrSkip('dicom-misc/dwv/leadtools-flowers-16-mono2-rle.dcm');
const JPEG_LS_RGB = corpusOrSkip('dicom-pydicom/pydicom-data/data/JLSL_RGB_ILV0.dcm');

interface SeriesRow {
  seriesInstanceUid: string;
  modality: string;
  instances: number;
  uidDerived: boolean;
}

describe.skipIf(!CT || !RLE || !JPEG_LS_RGB)('opening images that have no SOP Instance UID', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  async function importNew(paths: string[]): Promise<{ studyUid: string; series: SeriesRow[] }> {
    const { bridge } = session;
    const before = new Set((await listStudies(bridge)).map((s) => s.studyInstanceUid));
    const added = (await importByReference(bridge, paths)).filter((s) => !before.has(s.studyInstanceUid));
    expect(added, `one new study from ${paths.join(', ')}`).toHaveLength(1);
    const studyUid = added[0]!.studyInstanceUid;
    const detail = await bridge.invoke<{ series: SeriesRow[] }>('library.getStudy', { studyInstanceUid: studyUid });
    if (!detail.ok) throw new Error(detail.error.message);
    return { studyUid, series: detail.value.series };
  }

  async function instanceUids(seriesInstanceUid: string): Promise<string[]> {
    const list = await session.bridge.invoke<{ instances: { sopInstanceUid: string }[] }>('library.listInstances', { seriesInstanceUid });
    if (!list.ok) throw new Error(list.error.message);
    return list.value.instances.map((i) => i.sopInstanceUid);
  }

  it('derives UIDs for a CT series without any and shows all its slices', async () => {
    const { page } = session;
    const { studyUid, series } = await importNew([CT!]);
    expect(studyUid).toMatch(/^2\.25\.\d+$/);
    expect(series).toHaveLength(1);
    expect(series[0]).toMatchObject({ modality: 'CT', instances: 20, uidDerived: true });
    const uids = await instanceUids(series[0]!.seriesInstanceUid);
    expect(new Set(uids).size).toBe(20);
    await openStudy(page, studyUid);
    await waitForRender(page);
    expect(await overlayImage(page)).toEqual({ index: 1, count: 20 });
    const first = await canvasStats(page);
    expect(first.std).toBeGreaterThan(10);
    await hoverViewport(page);
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(20);
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 10_000 }).not.toBe(first.hash);
    expect((await canvasStats(page)).std).toBeGreaterThan(10);
    await screenshot(page, 'viewer-no-sop-uid-ct.png');
  });

  it('opens an RLE 16-bit secondary capture and a JPEG-LS RGB image without UIDs (one derived study, two series)', async () => {
    const { page } = session;
    // Neither has a patient or study: the derived study UID comes from the same (empty) identifying attributes.
    const { studyUid, series } = await importNew([RLE!, JPEG_LS_RGB!]);
    expect(studyUid).toMatch(/^2\.25\.\d+$/);
    expect(series.map((s) => s.instances)).toEqual([1, 1]);
    const colour: number[] = [];
    for (const s of series) {
      const [uid] = await instanceUids(s.seriesInstanceUid);
      expect(uid).toMatch(/^2\.25\.\d+$/);
      // Through the study list: the viewer reads `?series=` when it opens.
      await page.evaluate(() => {
        window.location.hash = '#/';
      });
      await page.getByTestId('study-table').waitFor();
      await openStudy(page, studyUid, s.seriesInstanceUid);
      await waitForRender(page);
      await expect.poll(() => page.getByTestId('viewport').getAttribute('data-series-uid'), { timeout: 10_000 }).toBe(s.seriesInstanceUid);
      expect(await overlayImage(page)).toEqual({ index: 1, count: 1 });
      const stats = await canvasStats(page);
      expect(stats.std, `series ${s.modality || '(no modality)'}`).toBeGreaterThan(10);
      colour.push(stats.chroma);
      expect(await page.getByTestId('viewport-error').count()).toBe(0);
      await screenshot(page, `viewer-no-sop-uid-${s.modality || 'rgb'}.png`);
    }
    // The RLE image is grey, the JPEG-LS one in colour.
    expect(Math.min(...colour)).toBeLessThan(0.05);
    expect(Math.max(...colour)).toBeGreaterThan(0.5);
    expect(session.pageErrors).toEqual([]);
  });
});
