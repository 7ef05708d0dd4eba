/**
 * A series thumbnail shows the image even when the file's window is missing,
 * empty or invalid: it falls back to a window over the pixel range, as the
 * viewport does. (The LEADTOOLS "flowers" RLE file has WindowCenter/Width and
 * a VOI LUT Sequence item that are present but empty; its thumbnail was black.)
 *
 * Checked on that corpus file (skipped loudly when ../shared/data is absent)
 * and on generated files with the same empty elements, a zero width and a
 * width given as text, so a fresh clone tests it too. The thumbnail PNG
 * (what the strip shows) is decoded in the page and must show real contrast.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DicomElementSpec, syntheticDicom, testUid } from '../fixtures/synthetic-dicom';
import { corpus, importByReference, openStudy, waitForRender } from './support/viewer';
import { artifactsDir, makeTempDir, openVigil, screenshot, type VigilSession } from './support/vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const document: { createElement(tag: 'canvas'): BrowserCanvas };
declare const Image: new () => { src: string; decode(): Promise<void>; width: number; height: number };
interface BrowserCanvas {
  width: number;
  height: number;
  getContext(type: '2d'): { drawImage(img: unknown, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}

interface ThumbnailGreys {
  mean: number;
  min: number;
  max: number;
  /** Share of pixels brighter than 24 (of 255). */
  lit: number;
}

/** The grey levels of the series thumbnail's PNG (its red channel), decoded in the page. */
async function thumbnailGreys(session: VigilSession, seriesUid: string): Promise<ThumbnailGreys> {
  const img = session.page.locator(`[data-testid="series-thumbnail"][data-series-uid="${seriesUid}"] img`);
  await img.waitFor({ timeout: 60_000 });
  const src = (await img.getAttribute('src')) ?? '';
  return session.page.evaluate(async (url) => {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    let min = 255;
    let max = 0;
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) {
      const v = data[i]!;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (v > 24) lit++;
    }
    const n = data.length / 4;
    return { mean: sum / n, min, max, lit: lit / n };
  }, src);
}

/** A 64x64 12-bit diagonal ramp 0..4095, with the given window/VOI elements. */
function windowlessFile(dir: string, name: string, studyUid: string, extra: DicomElementSpec[]): string {
  const rows = 64;
  const columns = 64;
  const pixels = Uint16Array.from({ length: rows * columns }, (_, i) => Math.round((4095 * ((i % columns) + Math.floor(i / columns))) / (rows + columns - 2)));
  const file = join(dir, `${name}.dcm`);
  writeFileSync(
    file,
    syntheticDicom({
      rows,
      columns,
      pixels,
      modality: 'OT',
      studyInstanceUid: studyUid,
      seriesInstanceUid: testUid(),
      seriesDescription: name,
      extra,
    }),
  );
  return file;
}

const FLOWERS = corpus('dicom-misc/dwv/leadtools-flowers-16-mono2-rle.dcm');
if (!existsSync(FLOWERS)) console.warn(`[e2e] SKIPPED (flowers part): shared corpus file missing: ${FLOWERS}`);

describe('series thumbnails without a usable window', () => {
  let session: VigilSession;
  const dir = makeTempDir('thumb-window');

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('fall back to the pixel range when WindowCenter/Width are empty, zero or not numbers', async () => {
    const studyUid = testUid();
    const emptyVoiLutItem = [[{ tag: 0x00283002, vr: 'US', value: [] as number[] }, { tag: 0x00283006, vr: 'US', value: [] as number[] }]];
    const files = [
      windowlessFile(dir, 'empty-window-and-voi-lut', studyUid, [
        { tag: 0x00281050, vr: 'DS', value: '' },
        { tag: 0x00281051, vr: 'DS', value: '' },
        { tag: 0x00283010, vr: 'SQ', value: emptyVoiLutItem, undefinedLength: true },
      ]),
      windowlessFile(dir, 'zero-width', studyUid, [
        { tag: 0x00281050, vr: 'DS', value: '40' },
        { tag: 0x00281051, vr: 'DS', value: '0' },
      ]),
      windowlessFile(dir, 'width-not-a-number', studyUid, [
        { tag: 0x00281050, vr: 'DS', value: 'AUTO' },
        { tag: 0x00281051, vr: 'DS', value: 'AUTO' },
      ]),
    ];
    const paths = existsSync(FLOWERS) ? [...files, FLOWERS] : files;
    const studies = await importByReference(session.bridge, paths);
    const series = await session.bridge.invoke<{ series: { seriesInstanceUid: string; description: string }[] }>('library.getStudy', { studyInstanceUid: studyUid });
    expect(series.ok).toBe(true);

    await openStudy(session.page, studyUid);
    const strip = session.page.getByTestId('series-strip');
    for (const s of series.ok ? series.value.series : []) {
      const greys = await thumbnailGreys(session, s.seriesInstanceUid);
      // The ramp spans the window: dark to bright, most of it lit.
      expect(greys.max - greys.min, `${s.description}: ${JSON.stringify(greys)}`).toBeGreaterThan(150);
      expect(greys.lit, `${s.description}: ${JSON.stringify(greys)}`).toBeGreaterThan(0.5);
    }
    await strip.screenshot({ path: join(artifactsDir, 'series-thumbnails-without-window.png') });

    if (existsSync(FLOWERS)) {
      const flowersStudy = studies.find((st) => st.studyInstanceUid !== studyUid);
      expect(flowersStudy, 'the flowers file was imported').toBeDefined();
      await openStudy(session.page, flowersStudy!.studyInstanceUid);
      const flowerSeries = await session.bridge.invoke<{ series: { seriesInstanceUid: string }[] }>('library.getStudy', { studyInstanceUid: flowersStudy!.studyInstanceUid });
      const uid = flowerSeries.ok ? flowerSeries.value.series[0]!.seriesInstanceUid : '';
      const greys = await thumbnailGreys(session, uid);
      // A photograph of flowers: a broad spread of greys, far from black.
      expect(greys.max - greys.min, JSON.stringify(greys)).toBeGreaterThan(150);
      expect(greys.mean, JSON.stringify(greys)).toBeGreaterThan(40);
      await session.page.getByTestId('series-strip').screenshot({ path: join(artifactsDir, 'series-thumbnail-flowers-rle.png') });
      await waitForRender(session.page);
      await screenshot(session.page, 'viewer-flowers-rle.png');
    }
    expect(session.pageErrors).toEqual([]);
  });
});
