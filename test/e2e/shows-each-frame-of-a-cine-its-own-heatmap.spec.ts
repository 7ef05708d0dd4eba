/**
 * A breast-ultrasound cine (one multi-frame instance, 40 frames of 601×800, 19 MB) analysed by the shipped
 * per-image breast model: every frame is scored on its own (decoded from disk frame by frame), and the lesion
 * moves 3 columns a frame and turns over half way, so each frame's heatmap is its own. The viewer draws each frame's own map, not the
 * first frame's on all of them (all frames share one SOP Instance UID), and clicking the finding shows the frame
 * scored most malignant.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ultrasoundCine } from '../fixtures/synthetic-dicom';
import { breastCaseCapture } from './support/breast-case';
import { aiOverlayPixel, corpusOrSkip, heatmapValues, hoverViewport, imageToCanvas, importByReference, overlayImage, runModelAndOpen } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const BREAST = corpusOrSkip('medmnist/breastmnist.npz');
const MODEL_ID = 'us-breast-malignancy';
const ROWS = 601;
const COLUMNS = 800;
const FRAMES = 40;
/** Columns the lesion moves right per frame. */
const SHIFT = 3;
const STORED_ROWS = Math.ceil(ROWS / 2);
const STORED_COLUMNS = COLUMNS / 2;
const STUDY = '1.2.826.0.1.3680043.10.1138.7802';
const SOP = `${STUDY}.1.1`;

function writeCine(dir: string): string {
  const plane = ROWS * COLUMNS;
  const pixels = new Uint8Array(FRAMES * plane);
  // The first half of the cine turned over (the probe turned): the lesion, and its map, move far between frames.
  for (let f = 0; f < FRAMES; f++) pixels.set(breastCaseCapture(BREAST!, { rows: ROWS, columns: COLUMNS, side: 600, shift: f * SHIFT - 60, upsideDown: f < FRAMES / 2 }), f * plane);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'cine.dcm');
  writeFileSync(
    file,
    ultrasoundCine({
      frames: FRAMES,
      studyInstanceUid: STUDY,
      seriesInstanceUid: `${STUDY}.1`,
      sopInstanceUid: SOP,
      instanceNumber: 1,
      studyDescription: 'US BREAST',
      seriesDescription: 'LEFT BREAST CINE',
      rows: ROWS,
      columns: COLUMNS,
      pixels,
    }),
  );
  return file;
}

/** The frame the overlay canvas of slot 0 last drew on (1-based; the canvas records it at each draw). */
const shownFrame = (page: Page) => page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]').getAttribute('data-frame');

describe.skipIf(!BREAST)('a cine: each frame its own heatmap', () => {
  let root: string;
  let session: VigilSession;
  let cine: string;

  beforeAll(async () => {
    root = makeTempDir('us-cine');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, MODEL_ID);
    cine = writeCine(join(root, 'cine'));
    session = await openVigil({ dataDir });
    const studies = await importByReference(session.bridge, [cine]);
    expect(studies.map((s) => s.studyInstanceUid)).toEqual([STUDY]);
  }, 120_000);
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('draws the shown frame\'s map and jumps to the frame scored most malignant', async () => {
    const { page, bridge } = session;
    // Above what the job reads whole ahead: decoded from disk frame by frame.
    expect(statSync(cine).size).toBeGreaterThan(16 * 1024 * 1024);
    const result = await runModelAndOpen(bridge, page, STUDY, MODEL_ID);
    expect(result.status, result.reason ?? '').toBe('done');
    expect(result.inputSopInstanceUids).toEqual(new Array(FRAMES).fill(SOP));
    const classification = result.outputs.find((o) => o.kind === 'classification') as unknown as { perImage: number[][]; labels: string[] };
    expect(classification.perImage).toHaveLength(FRAMES);
    const heat = result.outputs.find((o) => o.kind === 'heatmap') as unknown as { tensor: string; map: { file: string; shape: number[]; step?: number } };
    expect(heat.map).toMatchObject({ shape: [FRAMES, STORED_ROWS, STORED_COLUMNS], step: 2 });
    const values = await heatmapValues(bridge, result.resultId, heat.map.file);
    const plane = STORED_ROWS * STORED_COLUMNS;

    // A block hot on the last frame and cold on the first (the lesion turned over and moved 117 columns).
    const last = (FRAMES - 1) * plane;
    let pick = -1;
    for (let i = 0; i < plane; i++) if (values[i]! < 0.05 && (pick < 0 || values[last + i]! > values[last + pick]!)) pick = i;
    expect(values[last + pick]!, 'a block hot on the last frame only').toBeGreaterThan(0.5);
    const [storedRow, storedCol] = [Math.floor(pick / STORED_COLUMNS), pick % STORED_COLUMNS];

    await page.getByTestId('overlay-opacity').fill('100');
    if (!result.findings.find((f) => f.label === 'malignant')?.positive) await page.getByTestId('overlay-negative-heatmaps').check();
    // The viewer's keys, not the opacity slider's (End would move the slider).
    await page.getByTestId('overlay-opacity').blur();
    await hoverViewport(page);
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    const key = `${result.resultId}:${heat.tensor}`;
    const alphaAtPick = async () => (await aiOverlayPixel(page, await imageToCanvas(page, 0, 2 * storedCol + 1, 2 * storedRow + 1)))[3];

    // Frame 1: that block is cold.
    await expect.poll(() => shownFrame(page), { timeout: 15_000 }).toBe('1');
    await expect.poll(() => canvas.getAttribute('data-drawn'), { timeout: 30_000 }).toContain(key);
    expect(await alphaAtPick()).toBeLessThan(60);
    // The last frame: hot there (a viewer drawing frame 1's map on every frame leaves it cold).
    await page.keyboard.press('End');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(FRAMES);
    await expect.poll(() => shownFrame(page), { timeout: 15_000 }).toBe(String(FRAMES));
    await expect.poll(alphaAtPick, { timeout: 10_000 }).toBeGreaterThan(100);
    await screenshot(page, 'ai-us-cine-last-frame.png');

    // The finding jumps to the frame scored most malignant.
    const column = classification.labels.indexOf('malignant');
    expect(column).toBeGreaterThanOrEqual(0);
    const scores = classification.perImage.map((r) => r[column]!);
    const strongest = scores.indexOf(Math.max(...scores));
    // Not the instance's first frame, where a jump by SOP Instance UID alone would land.
    expect(strongest).toBeGreaterThan(0);
    await page.getByTestId('overlay-opacity').blur();
    await page.keyboard.press('Home');
    await expect.poll(() => shownFrame(page), { timeout: 15_000 }).toBe('1');
    await page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"] [data-testid="finding-item"][data-label="malignant"]`).first().getByTestId('finding-jump').click();
    await expect.poll(() => shownFrame(page), { timeout: 15_000 }).toBe(String(strongest + 1));
    await page.getByTestId('overlay-opacity').fill('60');
    expect(session.pageErrors).toEqual([]);
  }, 240_000);
});
