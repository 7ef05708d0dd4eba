/**
 * A per-image segmentation model on an ultrasound cine (one multi-frame instance): each frame gets its own plane
 * of the mask, and with CPU rendering (no WebGL: the label map is drawn and edited on the canvas overlay) the
 * brush paints the plane of the frame shown, not the cine's first frame (all frames share one SOP Instance UID).
 * The model's mask stays as it was; the edit is saved as the reviewed mask.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { pixelProbeModel } from '../fixtures/models/onnx-builder';
import { ultrasoundCine } from '../fixtures/synthetic-dicom';
import { aiOverlayPixel, imageToPage, importByReference, resultArray, runModelAndOpen } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const ROWS = 48;
const COLUMNS = 64;
const FRAMES = 6;
const STUDY = '1.2.826.0.1.3680043.10.1138.7803';
const MODEL_ID = 'test-us-frame-segmenter';
const REVIEWER = 'Dr Cine Reader';
const LESION = 1;

/** Frame f: background 50 and a bright (200) 8 × 8 square at column 6 + 8·f, rows 20–27. */
const bright = (f: number, r: number, c: number) => r >= 20 && r < 28 && c >= 6 + 8 * f && c < 14 + 8 * f;

function writeFixtures(root: string, dataDir: string): string {
  // heat = image − 100 read as a one-channel threshold map: the lesion where a pixel is 100 or more.
  const onnx = pixelProbeModel();
  writeModelPackage(
    join(dataDir, 'models', 'frame-segmenter'),
    onnx,
    classifierManifest(onnx, {
      schemaVersion: 4,
      id: MODEL_ID,
      name: 'Test per-frame ultrasound segmenter',
      applicability: { modalities: ['US'] },
      input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 'H', 'W'], layout: 'NCHW' }] },
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'segmentation', tensor: 'heat', method: 'threshold', threshold: 0.5, labels: [{ index: 0, name: 'background', color: [0, 0, 0] }, { index: LESION, name: 'lesion', color: [255, 0, 0] }], findings: { role: 'lesion', minVolumeMl: 0 } }],
    }),
  );
  const pixels = new Uint8Array(FRAMES * ROWS * COLUMNS);
  for (let f = 0; f < FRAMES; f++) for (let r = 0; r < ROWS; r++) for (let c = 0; c < COLUMNS; c++) pixels[(f * ROWS + r) * COLUMNS + c] = bright(f, r, c) ? 200 : 50;
  const file = join(root, 'cine.dcm');
  writeFileSync(
    file,
    ultrasoundCine({
      frames: FRAMES,
      studyInstanceUid: STUDY,
      seriesInstanceUid: `${STUDY}.1`,
      sopInstanceUid: `${STUDY}.1.1`,
      instanceNumber: 1,
      studyDescription: 'US BREAST',
      rows: ROWS,
      columns: COLUMNS,
      pixels,
    }),
  );
  return file;
}

describe('a cine\'s mask, edited with CPU rendering', () => {
  let root: string;
  let session: VigilSession;

  beforeAll(async () => {
    root = makeTempDir('us-cine-mask');
    const dataDir = join(root, 'library');
    const cine = writeFixtures(root, dataDir);
    session = await openVigil({ dataDir });
    expect((await importByReference(session.bridge, [cine])).map((s) => s.studyInstanceUid)).toEqual([STUDY]);
    // CPU rendering, as without WebGL.
    await session.page.evaluate(() => (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('vigil.viewer.rendering', 'cpu'));
    await session.page.reload();
  }, 120_000);
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('paints the shown frame\'s plane', async () => {
    const { page, bridge } = session;
    const result = await runModelAndOpen(bridge, page, STUDY, MODEL_ID);
    expect(result.inputSopInstanceUids).toHaveLength(FRAMES);
    const seg = result.outputs.find((o) => o.kind === 'segmentation') as unknown as { mask: { file: string; shape: number[] } };
    expect(seg.mask.shape).toEqual([FRAMES, ROWS, COLUMNS]);
    const mask = new Uint8Array(await resultArray(bridge, result.resultId, seg.mask.file));
    const plane = ROWS * COLUMNS;
    // Each frame's own square.
    for (let f = 0; f < FRAMES; f++) for (const [r, c] of [[22, 8 + 8 * f], [10, 40]] as const) expect(mask[f * plane + r * COLUMNS + c], `frame ${f + 1} (${r}, ${c})`).toBe(bright(f, r, c) ? LESION : 0);
    expect(await page.locator('[data-testid="viewport-pane"][data-slot="0"] [data-testid="viewport"]').getAttribute('data-rendering')).toBe('cpu');

    const name = page.getByTestId('reviewer-name');
    await name.fill(REVIEWER);
    await name.press('Enter');
    // Frame 4 of 6.
    await name.blur();
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    await expect.poll(() => canvas.getAttribute('data-frame'), { timeout: 15_000 }).toBe('4');

    const run = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`);
    const editor = run.getByTestId('label-editor');
    await editor.getByTestId('seg-brush').click();
    await editor.getByTestId('seg-label').selectOption(String(LESION));
    await editor.getByTestId('seg-radius').fill('0');
    await expect.poll(() => canvas.getAttribute('data-editing'), { timeout: 15_000 }).toBe('true');
    const at = await imageToPage(page, 0, 40, 10);
    await page.mouse.click(at.x, at.y);
    const edits = async () => {
      const r = await bridge.invoke<{ maskEdits: { reviewedFile: string }[] }>('review.list', { studyInstanceUid: STUDY });
      return r.ok ? r.value.maskEdits : [];
    };
    await expect.poll(async () => (await edits()).length, { timeout: 15_000 }).toBe(1);
    const reviewed = new Uint8Array(await resultArray(bridge, result.resultId, (await edits())[0]!.reviewedFile));
    // Painted on frame 4's plane at (10, 40); every other plane as the model left it.
    expect(reviewed[3 * plane + 10 * COLUMNS + 40]).toBe(LESION);
    const changed: number[] = [];
    for (let i = 0; i < mask.length; i++) if (mask[i] !== reviewed[i]) changed.push(Math.floor(i / plane));
    expect(new Set(changed)).toEqual(new Set([3]));
    expect(Buffer.from(mask).equals(await resultArray(bridge, result.resultId, seg.mask.file)), 'the model mask file is unchanged').toBe(true);
    await screenshot(page, 'ai-us-cine-mask-cpu-edited.png');
    expect(session.pageErrors).toEqual([]);
  }, 180_000);

  it('undoes on screen a stroke the store refused, and says so', async () => {
    const { page, bridge } = session;
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    expect(await canvas.getAttribute('data-editing')).toBe('true');
    // The store refuses the next save (as a full disk would).
    const refused: string[] = [];
    await page.route('**/api/invoke', async (route) => {
      const body = route.request().postDataJSON() as { channel?: string };
      if (body.channel !== 'review.saveMaskEdits') return route.continue();
      refused.push(body.channel);
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ ok: false, error: { code: 'IO_ERROR', message: 'no space left on device' } }) });
    });
    const edits = async () => {
      const r = await bridge.invoke<{ maskEdits: { reviewedFile: string; voxels: Record<string, number> }[] }>('review.list', { studyInstanceUid: STUDY });
      return r.ok ? r.value.maskEdits : [];
    };
    const stored = JSON.stringify(await edits());
    // A 4-pixel brush on background, away from the lesion and the first edit.
    const editor = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`).getByTestId('label-editor');
    await editor.getByTestId('seg-radius').fill('4');
    const at = await imageToPage(page, 0, 52, 38);
    const box = (await canvas.boundingBox())!;
    const pixel = () => aiOverlayPixel(page, { x: at.x - box.x, y: at.y - box.y });
    expect((await pixel())[3], 'nothing drawn there before the stroke').toBe(0);
    await page.mouse.click(at.x, at.y);
    await expect.poll(() => refused.length, { timeout: 15_000 }).toBe(1);
    const banner = page.getByTestId('error-banner');
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.textContent()).toContain('The mask edit could not be saved and was undone: no space left on device');
    // Gone from the screen, as it is from the store.
    await expect.poll(async () => (await pixel())[3], { timeout: 15_000 }).toBe(0);
    await screenshot(page, 'ai-us-cine-mask-edit-refused.png');
    await page.unroute('**/api/invoke');
    expect(JSON.stringify(await edits())).toBe(stored);
    await page.getByTestId('error-item').getByRole('button').click();
    expect(session.pageErrors).toEqual([]);
  }, 120_000);

  it('keeps every stroke of a quick succession, on screen and in the store', async () => {
    const { page, bridge } = session;
    const canvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    const box = (await canvas.boundingBox())!;
    const result = (await bridge.invoke<{ results: { resultId: number; modelId: string }[] }>('analysis.results', { studyInstanceUid: STUDY }));
    const resultId = result.ok ? result.value.results.find((r) => r.modelId === MODEL_ID)!.resultId : 0;
    const editor = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`).getByTestId('label-editor');
    await editor.getByTestId('seg-radius').fill('1');
    // Three strokes on frame 4, each sent before the one before it is answered.
    const points = [[44, 4], [50, 4], [56, 4]] as const;
    const pagePoints = await Promise.all(points.map(([c, r]) => imageToPage(page, 0, c, r)));
    for (const p of pagePoints) await page.mouse.click(p.x, p.y);
    const reviewedAt = async () => {
      const r = await bridge.invoke<{ maskEdits: { reviewedFile: string }[] }>('review.list', { studyInstanceUid: STUDY });
      const file = r.ok ? r.value.maskEdits[0]?.reviewedFile : undefined;
      if (!file) return [];
      const mask = new Uint8Array(await resultArray(bridge, resultId, file));
      return points.map(([c, r]) => mask[3 * ROWS * COLUMNS + r * COLUMNS + c]);
    };
    await expect.poll(reviewedAt, { timeout: 15_000 }).toEqual([LESION, LESION, LESION]);
    for (const p of pagePoints) expect((await aiOverlayPixel(page, { x: p.x - box.x, y: p.y - box.y }))[3], 'drawn').toBeGreaterThan(0);
    expect(session.pageErrors).toEqual([]);
  }, 120_000);
});
