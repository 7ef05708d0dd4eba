/**
 * Angle and ellipse/rectangle ROI measurements on synthetic images whose
 * geometry and values are known: angles in degrees, ROI mean/SD/min/max in HU
 * on a CT, areas in mm² from PixelSpacing, and a radiograph calibrated only by
 * ImagerPixelSpacing, whose measurements say so.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { imageToPage, importByReference, openStudy, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const SIZE = 256;
const CT_SPACING_MM = 0.5; // the synthetic writer's default PixelSpacing
const CR_IMAGER_SPACING_MM = 0.2;
const CT_STUDY = '1.2.826.0.1.3680043.10.1138.510';
const CR_STUDY = '1.2.826.0.1.3680043.10.1138.511';

/** Water (0 HU) with a 64² square of 1-pixel stripes alternating 0 and 100 HU (cols/rows 96–159); intercept −1024. */
function stripedPhantom(): Uint16Array {
  const px = new Uint16Array(SIZE * SIZE).fill(1024);
  for (let y = 96; y < 160; y++) for (let x = 96; x < 160; x++) px[y * SIZE + x] = x % 2 ? 1124 : 1024;
  return px;
}

function writeStudies(dir: string): void {
  mkdirSync(join(dir, 'ct'), { recursive: true });
  mkdirSync(join(dir, 'cr'), { recursive: true });
  writeFileSync(
    join(dir, 'ct', 'IM1.dcm'),
    syntheticDicom({
      rows: SIZE,
      columns: SIZE,
      pixels: stripedPhantom(),
      patientName: 'Phantom^Stripes',
      studyInstanceUid: CT_STUDY,
      seriesInstanceUid: `${CT_STUDY}.1`,
      sopInstanceUid: `${CT_STUDY}.1.1`,
      extra: [
        { tag: 0x00200032, vr: 'DS', value: '-64\\-64\\0' },
        { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
        { tag: 0x00281050, vr: 'DS', value: '50' },
        { tag: 0x00281051, vr: 'DS', value: '400' },
        { tag: 0x00281052, vr: 'DS', value: '-1024' },
        { tag: 0x00281053, vr: 'DS', value: '1' },
      ],
    }),
  );
  // A computed radiograph with no PixelSpacing: only the detector's ImagerPixelSpacing calibrates it.
  const cr = new Uint16Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) cr[y * SIZE + x] = 500 + ((x * 7 + y * 3) % 1500);
  writeFileSync(
    join(dir, 'cr', 'IM1.dcm'),
    syntheticDicom({
      rows: SIZE,
      columns: SIZE,
      pixels: cr,
      modality: 'CR',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
      patientName: 'Phantom^Radiograph',
      patientId: 'PID-CR-1',
      studyDescription: 'CR CHEST PA',
      seriesDescription: 'PA',
      studyInstanceUid: CR_STUDY,
      seriesInstanceUid: `${CR_STUDY}.1`,
      sopInstanceUid: `${CR_STUDY}.1.1`,
      pixelSpacing: null,
      extra: [
        { tag: 0x00181164, vr: 'DS', value: `${CR_IMAGER_SPACING_MM}\\${CR_IMAGER_SPACING_MM}` },
        { tag: 0x00281050, vr: 'DS', value: '1250' },
        { tag: 0x00281051, vr: 'DS', value: '1500' },
      ],
    }),
  );
}

type Page = VigilSession['page'];

/** Drags with the left button between two image pixels. */
async function dragImage(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const a = await imageToPage(page, 0, from[0], from[1]);
  const b = await imageToPage(page, 0, to[0], to[1]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 10 });
  await page.mouse.up();
}

/** The angle tool: press at the first end, drag to the vertex, release, move to the second end and click there. */
async function drawAngle(page: Page, end1: [number, number], vertex: [number, number], end2: [number, number]): Promise<string> {
  const rows = page.locator('[data-testid="measurement"][data-tool="Angle"]');
  await dragImage(page, end1, vertex);
  const c = await imageToPage(page, 0, end2[0], end2[1]);
  await page.mouse.move(c.x, c.y, { steps: 10 });
  await page.mouse.down();
  await page.mouse.up();
  // Cornerstone holds a lone click back for its double-click window before handling it; once handled, the
  // angle is complete and no longer follows the mouse.
  const done = await imageToPage(page, 0, 250, 250);
  let text = '';
  await expect
    .poll(
      async () => {
        await page.mouse.move(done.x - (text.length % 2), done.y, { steps: 2 });
        const now = (await rows.last().textContent()) ?? '';
        const stable = now === text;
        text = now;
        return stable;
      },
      { timeout: 10_000, interval: 700 },
    )
    .toBe(true);
  return text;
}

const number = (re: RegExp, text: string): number => {
  const m = re.exec(text);
  if (!m?.[1]) throw new Error(`no ${re} in "${text}"`);
  return Number(m[1]);
};

/** The text of a measurement row once `ready` accepts it (the panel follows the drag); index −1: the newest. */
async function settledText(page: Page, tool: string, index: number, ready: (text: string) => boolean): Promise<string> {
  const rows = page.locator(`[data-testid="measurement"][data-tool="${tool}"]`);
  const item = index < 0 ? rows.last() : rows.nth(index);
  await item.waitFor({ timeout: 10_000 });
  await expect.poll(async () => (await item.textContent()) ?? '', { timeout: 10_000 }).toSatisfy(ready);
  return (await item.textContent()) ?? '';
}

describe('angle and ROI measurements', () => {
  let session: VigilSession;
  let dir: string;

  beforeAll(async () => {
    dir = makeTempDir('measure-roi');
    writeStudies(dir);
    session = await openVigil();
    await importByReference(session.bridge, [join(dir, 'ct'), join(dir, 'cr')]);
  });

  afterAll(async () => {
    await session?.close();
    if (dir) removeDir(dir);
  });

  it('reads angles in degrees', async () => {
    const { page } = session;
    await openStudy(page, CT_STUDY);
    await waitForRender(page);
    await page.getByTestId('tool-angle').click();
    const right = await drawAngle(page, [70, 200], [128, 200], [128, 142]); // a right angle
    expect(Math.abs(number(/(\d+(?:\.\d+)?)°/, right) - 90)).toBeLessThan(1);
    const half = await drawAngle(page, [70, 60], [128, 60], [88, 20]); // 45°: vertex (128,60), ends to the left and up-left
    expect(Math.abs(number(/(\d+(?:\.\d+)?)°/, half) - 45)).toBeLessThan(1);
    expect(await page.locator('[data-testid="measurement"][data-tool="Angle"]').count()).toBe(2);
  });

  it('reads an ellipse ROI: mean/SD/min/max in HU and its area in mm² from PixelSpacing', async () => {
    const { page } = session;
    await page.getByTestId('tool-ellipse').click();
    // Centre (128,128), radii 20 px = 10 mm: π·10·10 = 314.2 mm², entirely inside the striped square.
    await dragImage(page, [128, 128], [148, 148]);
    const text = await settledText(page, 'Ellipse', 0, (t) => /area \d/.test(t) && Math.abs(number(/area (\d+(?:\.\d+)?)/, t) - Math.PI * 100) < 9);
    const radiusMm = 20 * CT_SPACING_MM;
    const area = number(/area (\d+(?:\.\d+)?) mm²/, text);
    expect(area).toBeGreaterThan(Math.PI * radiusMm * radiusMm * 0.97);
    expect(area).toBeLessThan(Math.PI * radiusMm * radiusMm * 1.03);
    // Half the pixels 0 HU, half 100 HU: mean ≈ 50, SD ≈ 50, min 0, max 100.
    expect(number(/mean (-?\d+(?:\.\d+)?)/, text)).toBeGreaterThan(47);
    expect(number(/mean (-?\d+(?:\.\d+)?)/, text)).toBeLessThan(53);
    expect(number(/SD (\d+(?:\.\d+)?)/, text)).toBeGreaterThan(48);
    expect(number(/SD (\d+(?:\.\d+)?)/, text)).toBeLessThan(52);
    expect(number(/min (-?\d+)/, text)).toBe(0);
    expect(number(/max (-?\d+)/, text)).toBe(100);
    expect(text).toContain('HU');
    expect(text).not.toContain('ImagerPixelSpacing');
  });

  it('reads a rectangle ROI over water and the stripes', async () => {
    const { page } = session;
    await page.getByTestId('tool-rect').click();
    // 40×40 px over pure water (rows 10–50): 0 HU everywhere, 20 mm × 20 mm = 400 mm².
    await dragImage(page, [20, 10], [60, 50]);
    const water = await settledText(page, 'Rectangle', 0, (t) => /area \d/.test(t) && Math.abs(number(/area (\d+(?:\.\d+)?)/, t) - 400) < 20);
    expect(water).toContain('mean 0.0');
    expect(water).toContain('SD 0.0');
    expect(number(/min (-?\d+)/, water)).toBe(0);
    expect(number(/max (-?\d+)/, water)).toBe(0);
    const area = number(/area (\d+(?:\.\d+)?) mm²/, water);
    expect(area).toBeGreaterThan(400 * 0.95);
    expect(area).toBeLessThan(400 * 1.05);
    await page.getByTestId('tool-wl').click();
    await screenshot(page, 'viewer-angle-ellipse-rectangle.png');
    expect(session.pageErrors).toEqual([]);
  });

  it('labels measurements on a radiograph calibrated by ImagerPixelSpacing', async () => {
    const { page } = session;
    await openStudy(page, CR_STUDY);
    await waitForRender(page);
    await page.getByTestId('tool-length').click();
    // 150 px along a row at 0.2 mm per pixel = 30 mm at the detector.
    await dragImage(page, [50, 128], [200, 128]);
    const length = await settledText(page, 'Length', -1, (t) => /\d mm/.test(t) && Math.abs(number(/(\d+(?:\.\d+)?) mm/, t) - 30) < 0.6);
    const mm = number(/(\d+(?:\.\d+)?) mm/, length);
    expect(mm).toBeGreaterThan(150 * CR_IMAGER_SPACING_MM * 0.98);
    expect(mm).toBeLessThan(150 * CR_IMAGER_SPACING_MM * 1.02);
    expect(length).toContain('ImagerPixelSpacing');
    await page.getByTestId('tool-ellipse').click();
    await dragImage(page, [128, 60], [148, 80]); // away from the length line; radius 20 px = 4 mm: π·4·4 = 50.3 mm²
    const roi = await settledText(page, 'Ellipse', -1, (t) => /area \d/.test(t) && Math.abs(number(/area (\d+(?:\.\d+)?)/, t) - Math.PI * 16) < 1.5);
    const area = number(/area (\d+(?:\.\d+)?) mm²/, roi);
    expect(area).toBeGreaterThan(Math.PI * 16 * 0.97);
    expect(area).toBeLessThan(Math.PI * 16 * 1.03);
    expect(roi).toContain('ImagerPixelSpacing');
    expect(roi).not.toContain('HU');
    await page.getByTestId('tool-wl').click();
    await screenshot(page, 'viewer-cr-imager-pixel-spacing.png');
    expect(session.pageErrors).toEqual([]);
  });
});
