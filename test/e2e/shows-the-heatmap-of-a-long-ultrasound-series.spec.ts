/**
 * A heatmap too large to keep at every pixel: the shipped breast-ultrasound
 * model (per image) on a series of 60 captures of 601×800, 28.8 million pixels,
 * above the 16 M values a result keeps of one map (MAX_HEATMAP_VALUES). The
 * map is stored with one value per 2×2 block of image pixels (`step` 2, a
 * 60×301×400 array a quarter the size; the last row of blocks holds the
 * image's last row alone), and the viewer stretches it back over
 * the whole image: the map's hottest block outside the image's top-left
 * quarter is drawn at its own image pixels (a viewer ignoring the step would
 * draw the 300×400 array over that quarter only and nothing there).
 *
 * Each capture holds a malignant BreastMNIST test image (28×28, upscaled to
 * 600×600) between black side bars and above one black row, so the model scores it malignant and its
 * map has a clear hot area.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom, US_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';
import { breastCaseCapture } from './support/breast-case';
import { aiOverlayPixel, corpusOrSkip, heatmapValues, hoverViewport, imageToCanvas, importByReference, runModelAndOpen } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const BREAST = corpusOrSkip('medmnist/breastmnist.npz');
const MODEL_ID = 'us-breast-malignancy';
const ROWS = 601;
/** The upscaled case's side (the image's top 600 rows). */
const SIDE = 600;
const COLUMNS = 800;
const IMAGES = 60;
const STORED_ROWS = Math.ceil(ROWS / 2);
const STORED_COLUMNS = COLUMNS / 2;
const STUDY = '1.2.826.0.1.3680043.10.1138.7801';

function writeSeries(dir: string): void {
  const pixels = breastCaseCapture(BREAST!, { rows: ROWS, columns: COLUMNS, side: SIDE });
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= IMAGES; i++) {
    writeFileSync(
      join(dir, `${String(i).padStart(3, '0')}.dcm`),
      syntheticDicom({
        modality: 'US',
        sopClassUid: US_IMAGE_STORAGE,
        studyInstanceUid: STUDY,
        seriesInstanceUid: `${STUDY}.1`,
        sopInstanceUid: `${STUDY}.1.${i}`,
        instanceNumber: i,
        studyDescription: 'US BREAST',
        seriesDescription: 'LEFT BREAST',
        rows: ROWS,
        columns: COLUMNS,
        pixels,
        pixelSpacing: null,
      }),
    );
  }
}

describe.skipIf(!BREAST)('the heatmap of a long ultrasound series', () => {
  let root: string;
  let session: VigilSession;

  beforeAll(async () => {
    root = makeTempDir('us-long');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, MODEL_ID);
    writeSeries(join(root, 'series'));
    session = await openVigil({ dataDir });
    const studies = await importByReference(session.bridge, [join(root, 'series')]);
    expect(studies.map((s) => s.studyInstanceUid)).toEqual([STUDY]);
  }, 120_000);
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('keeps one value per 2×2 block and draws it over the whole image', async () => {
    const { page, bridge } = session;
    const result = await runModelAndOpen(bridge, page, STUDY, MODEL_ID);
    expect(result.status, result.reason ?? '').toBe('done');
    expect(result.findings.find((f) => f.label === 'malignant')?.positive).toBe(true);
    const heat = result.outputs.find((o) => o.kind === 'heatmap') as unknown as { tensor: string; map: { file: string; shape: number[]; step?: number } };
    expect(heat.map.shape).toEqual([IMAGES, STORED_ROWS, STORED_COLUMNS]);
    expect(heat.map.step).toBe(2);

    // The first image's hottest block outside the top-left quarter of the image (stored rows ≥ 150 or columns ≥ 200).
    const values = await heatmapValues(bridge, result.resultId, heat.map.file);
    expect(values.length).toBe(IMAGES * STORED_ROWS * STORED_COLUMNS);
    const k = result.inputSopInstanceUids.indexOf(`${STUDY}.1.1`);
    const plane = STORED_ROWS * STORED_COLUMNS;
    let hot = -1;
    for (let r = 0; r < STORED_ROWS; r++) {
      for (let c = 0; c < STORED_COLUMNS; c++) {
        const i = k * plane + r * STORED_COLUMNS + c;
        if ((r >= 150 || c >= 200) && (hot < 0 || values[i]! > values[hot]!)) hot = i;
      }
    }
    expect(values[hot]!, 'a hot area outside the top-left quarter').toBeGreaterThan(0.5);
    const storedRow = Math.floor((hot - k * plane) / STORED_COLUMNS);
    const storedCol = (hot - k * plane) % STORED_COLUMNS;

    await page.getByTestId('overlay-opacity').fill('100');
    await hoverViewport(page);
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    await expect.poll(() => canvas.getAttribute('data-sop'), { timeout: 15_000 }).toBe(`${STUDY}.1.1`);
    await expect.poll(() => canvas.getAttribute('data-drawn'), { timeout: 30_000 }).toContain(`${result.resultId}:${heat.tensor}`);
    // The block's image pixels are (2·row … 2·row + 1, 2·column … 2·column + 1): its lower-right one, past the quarter.
    const at = await imageToCanvas(page, 0, 2 * storedCol + 1, 2 * storedRow + 1);
    await expect.poll(async () => (await aiOverlayPixel(page, at))[3], { timeout: 10_000 }).toBeGreaterThan(100);
    await screenshot(page, 'ai-us-long-series-coarse-heatmap.png');
    await page.getByTestId('overlay-opacity').fill('60');
    expect(session.pageErrors).toEqual([]);
  }, 240_000);
});
