import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { importByReference, openStudy, viewportBox, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const SIZE = 256;
const SPACING_MM = 0.5; // the synthetic writer's PixelSpacing

/** A 256² CT: water (0 HU) with a 40 HU square in the middle; RescaleIntercept −1024. */
function phantom(): Uint16Array {
  const px = new Uint16Array(SIZE * SIZE).fill(1024);
  for (let y = 96; y < 160; y++) for (let x = 96; x < 160; x++) px[y * SIZE + x] = 1064;
  return px;
}

/** The 40 HU square's left/right edges on the canvas centre row (CSS px, page coordinates). */
async function squareEdges(page: VigilSession['page']): Promise<{ left: number; right: number; y: number }> {
  const b = await viewportBox(page);
  const edges = await page.$eval('[data-testid="viewport"] canvas', (c) => {
    const canvas = c as unknown as {
      width: number;
      height: number;
      clientWidth: number;
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
    };
    const ctx = canvas.getContext('2d');
    const y = Math.floor(canvas.height / 2);
    const row = ctx.getImageData(0, y, canvas.width, 1).data;
    const mid = Math.floor(canvas.width / 2);
    const inside = row[mid * 4]!;
    let l = mid;
    while (l > 0 && Math.abs(row[(l - 1) * 4]! - inside) < 8) l--;
    let r = mid;
    while (r < canvas.width - 1 && Math.abs(row[(r + 1) * 4]! - inside) < 8) r++;
    return { l, r: r + 1, ratio: canvas.width / canvas.clientWidth };
  });
  return { left: b.x + edges.l / edges.ratio, right: b.x + edges.r / edges.ratio, y: b.y + b.height / 2 };
}

describe('measuring on a CT with known pixel spacing', () => {
  let session: VigilSession;
  let dir: string;

  beforeAll(async () => {
    dir = makeTempDir('measure');
    mkdirSync(join(dir, 'ct'), { recursive: true });
    writeFileSync(
      join(dir, 'ct', 'IM1.dcm'),
      syntheticDicom({
        rows: SIZE,
        columns: SIZE,
        pixels: phantom(),
        patientName: 'Phantom^Water',
        studyInstanceUid: '1.2.826.0.1.3680043.10.1138.500',
        seriesInstanceUid: '1.2.826.0.1.3680043.10.1138.500.1',
        sopInstanceUid: '1.2.826.0.1.3680043.10.1138.500.1.1',
        extra: [
          { tag: 0x00200032, vr: 'DS', value: '-64\\-64\\0' },
          { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
          { tag: 0x00281050, vr: 'DS', value: '40' },
          { tag: 0x00281051, vr: 'DS', value: '400' },
          { tag: 0x00281052, vr: 'DS', value: '-1024' },
          { tag: 0x00281053, vr: 'DS', value: '1' },
        ],
      }),
    );
    session = await openVigil();
    const studies = await importByReference(session.bridge, [join(dir, 'ct')]);
    await openStudy(session.page, studies[0]!.studyInstanceUid);
    await waitForRender(session.page);
  });

  afterAll(async () => {
    await session?.close();
    if (dir) removeDir(dir);
  });

  it('reads a length in mm from PixelSpacing', async () => {
    const { page } = session;
    await page.getByTestId('tool-length').click();
    // Measure across the 64-pixel (32 mm) square, found on the canvas.
    const sq = await squareEdges(page);
    const scale = (sq.right - sq.left) / 64; // CSS px per image pixel
    expect(scale).toBeGreaterThan(1);
    const dx = sq.right - sq.left;
    await page.mouse.move(sq.left, sq.y + 40);
    await page.mouse.down();
    await page.mouse.move(sq.right, sq.y + 40, { steps: 10 });
    await page.mouse.up();
    const item = page.getByTestId('measurement').first();
    await item.waitFor({ timeout: 10_000 });
    const expected = (dx / scale) * SPACING_MM; // = 64 px × 0.5 mm = 32 mm
    expect(expected).toBeCloseTo(32, 5);
    const mm = async () => Number(/(\d+(?:\.\d+)?) mm/.exec((await item.textContent()) ?? '')?.[1]);
    // The panel follows the drag; wait for the final value.
    await expect.poll(mm, { timeout: 5_000 }).toBeGreaterThan(expected * 0.97);
    expect(await mm()).toBeLessThan(expected * 1.03);
  });

  it('reads a rectangle ROI in HU with area in mm²', async () => {
    const { page } = session;
    await page.getByTestId('tool-rect').click();
    const sq = await squareEdges(page);
    const scale = (sq.right - sq.left) / 64;
    const cx = (sq.left + sq.right) / 2;
    const cy = sq.y;
    const half = 20 * scale; // 40×40 image pixels, inside the 64×64 square
    await page.mouse.move(cx - half, cy - half);
    await page.mouse.down();
    await page.mouse.move(cx + half, cy + half, { steps: 10 });
    await page.mouse.up();
    const item = page.locator('[data-testid="measurement"][data-tool="Rectangle"]');
    await item.waitFor({ timeout: 10_000 });
    const areaOf = async () => Number(/area (\d+(?:\.\d+)?) mm/.exec((await item.textContent()) ?? '')?.[1]);
    await expect.poll(areaOf, { timeout: 5_000 }).toBeGreaterThan(40 * 40 * 0.25 * 0.9);
    const text = (await item.textContent()) ?? '';
    expect(text).toContain('mean 40.0');
    expect(text).toContain('SD 0.0');
    expect(text).toContain('HU');
    const area = Number(/area (\d+(?:\.\d+)?) mm/.exec(text)?.[1]);
    expect(area).toBeGreaterThan(40 * 40 * 0.25 * 0.9);
    expect(area).toBeLessThan(40 * 40 * 0.25 * 1.1);
    await page.getByTestId('tool-wl').click();
    await screenshot(page, 'viewer-measurements.png');
    expect(session.pageErrors).toEqual([]);
  });
});
