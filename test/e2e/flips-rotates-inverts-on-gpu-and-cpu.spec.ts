/**
 * The drawn pixels follow the view: on a synthetic axial CT whose content is
 * known (a bright block at the patient's right-anterior, a 40 HU patch, air),
 * scrolling, window presets, horizontal/vertical flip, rotation, invert and
 * reset put the right grey values in the right canvas places, and the
 * orientation markers agree with them. Rotate and flip combine in the order
 * pressed, on the image as displayed (rotate then flip ≠ flip then rotate),
 * the same on both backends. Run twice: WebGL (SwiftShader here) and
 * with WebGL unavailable (`--disable-software-rasterizer`), where the viewer
 * must switch to CPU rendering by itself and say so. Both backends must show
 * the same fitted image: the same zoom readout (1.00× = one image pixel per CSS
 * pixel) and the same image-to-canvas mapping, within 0.25 CSS px.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { brightRegion, canvasStats, greyAt, hoverViewport, imageToCanvas, importByReference, openStudy, overlayImage, viewportBox, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const SIZE = 256;
const STUDY = '1.2.826.0.1.3680043.10.1138.520';
const AIR = -1000;
const BLOCK_HU = 1000;
const PATCH_HU = 40;
/** Block: columns 30–89, rows 40–79 on slice 1, 80 rows lower on slice 2 (image left/top = patient right/anterior). */
const BLOCK = { col: 59.5, row: [59.5, 139.5, 59.5] };
/** 40 HU patch: columns 150–209, rows 180–219 on every slice. */
const PATCH = { col: 179.5, row: 199.5 };

function slice(index: number): Uint16Array {
  const px = new Uint16Array(SIZE * SIZE).fill(AIR + 1024);
  const top = index === 1 ? 120 : 40;
  for (let y = top; y < top + 40; y++) for (let x = 30; x < 90; x++) px[y * SIZE + x] = BLOCK_HU + 1024;
  for (let y = 180; y < 220; y++) for (let x = 150; x < 210; x++) px[y * SIZE + x] = PATCH_HU + 1024;
  return px;
}

function writeSeries(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 3; i++) {
    writeFileSync(
      join(dir, `IM${i + 1}.dcm`),
      syntheticDicom({
        rows: SIZE,
        columns: SIZE,
        pixels: slice(i),
        patientName: 'Phantom^Orientation',
        patientId: 'PID-ORIENT',
        studyInstanceUid: STUDY,
        seriesInstanceUid: `${STUDY}.1`,
        sopInstanceUid: `${STUDY}.1.${i + 1}`,
        instanceNumber: i + 1,
        extra: [
          { tag: 0x00200032, vr: 'DS', value: `-64\\-64\\${i * 2}` },
          { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
          { tag: 0x00281050, vr: 'DS', value: '40' },
          { tag: 0x00281051, vr: 'DS', value: '400' },
          { tag: 0x00281052, vr: 'DS', value: '-1024' },
          { tag: 0x00281053, vr: 'DS', value: '1' },
        ],
      }),
    );
  }
}

/** Grey (0–255) that DICOM's linear window (PS3.3 C.11.2.1.2.1) gives a value. */
function windowed(value: number, center: number, width: number): number {
  const y = ((value - (center - 0.5)) / (width - 1) + 0.5) * 255;
  return Math.max(0, Math.min(255, y));
}

type Page = VigilSession['page'];

async function markers(page: Page): Promise<{ top: string; bottom: string; left: string; right: string }> {
  const read = async (side: string) => ((await page.getByTestId(`orientation-${side}`).textContent()) ?? '').trim();
  return { top: await read('top'), bottom: await read('bottom'), left: await read('left'), right: await read('right') };
}

/** Image points whose canvas positions the two backends must agree on: corners, centre, the block. */
const PROBES: readonly [number, number][] = [
  [0, 0],
  [SIZE - 1, 0],
  [0, SIZE - 1],
  [SIZE - 1, SIZE - 1],
  [(SIZE - 1) / 2, (SIZE - 1) / 2],
  [BLOCK.col, BLOCK.row[0]!],
];

interface FittedView {
  zoomText: string;
  mapping: { x: number; y: number }[];
}

/** What the GPU run saw, for the CPU run to compare with (describe.each runs the two in order). */
const fittedViews = new Map<string, FittedView>();

/** The GPU run's canvas positions of PROBES after each order of rotate and flip, for the CPU run to compare with. */
const transformedViews = new Map<string, { x: number; y: number }[]>();

/** The overlay's "Zoom 3.04×" as a number. */
async function zoomReadout(page: Page): Promise<{ text: string; value: number }> {
  const text = ((await page.getByTestId('overlay-zoom').textContent()) ?? '').trim();
  const m = /^Zoom (\d+\.\d+)×$/.exec(text);
  if (!m) throw new Error(`unexpected zoom readout: ${text}`);
  return { text, value: Number(m[1]) };
}

/** CSS px per image pixel at the current zoom. */
async function pixelSize(page: Page): Promise<number> {
  const a = await imageToCanvas(page, 0, 0, 0);
  const b = await imageToCanvas(page, 0, 1, 0);
  return Math.hypot(b.x - a.x, b.y - a.y);
}

/**
 * Polls until the bright block's centroid is within one image pixel of where the viewer's geometry (the one
 * measurements use) puts the image point (after a view change; the fitted view is held to a quarter pixel above).
 */
async function expectBlockAt(page: Page, col: number, row: number): Promise<{ x: number; y: number }> {
  const pixel = await pixelSize(page);
  let expected = await imageToCanvas(page, 0, col, row);
  await expect
    .poll(
      async () => {
        expected = await imageToCanvas(page, 0, col, row);
        const seen = await brightRegion(page, 0, 200);
        return seen.count > 0 ? Math.hypot(seen.x - expected.x, seen.y - expected.y) / pixel : Infinity;
      },
      { timeout: 10_000 },
    )
    .toBeLessThan(1);
  return brightRegion(page, 0, 200);
}

async function expectGrey(page: Page, col: number, row: number, grey: number): Promise<void> {
  await expect.poll(async () => Math.abs((await greyAt(page, 0, await imageToCanvas(page, 0, col, row))) - grey), { timeout: 10_000 }).toBeLessThan(4);
}

describe.each([
  { backend: 'gpu', args: [] as string[], badge: 'GPU' },
  { backend: 'cpu', args: ['--disable-software-rasterizer'], badge: 'CPU' },
])('view transforms with $backend rendering', ({ backend, args, badge }) => {
  let session: VigilSession;
  let dir: string;
  let size = { width: 0, height: 0 };
  /** Tolerance of mirrored / rotated positions: 1.5 image pixels, in CSS px. */
  let near = 2;

  beforeAll(async () => {
    dir = makeTempDir(`transforms-${backend}`);
    writeSeries(join(dir, 'ct'));
    session = await openVigil({ chromiumArgs: args });
    await importByReference(session.bridge, [join(dir, 'ct')]);
    await openStudy(session.page, STUDY);
    await waitForRender(session.page);
    const box = await viewportBox(session.page);
    size = { width: box.width, height: box.height };
    near = 1.5 * (await pixelSize(session.page));
  });

  afterAll(async () => {
    await session?.close();
    if (dir) removeDir(dir);
  });

  it(`renders non-blank with ${badge} rendering, chosen by itself`, async () => {
    const { page } = session;
    const webgl = await page.evaluate(() => {
      const canvas = (globalThis as unknown as { document: { createElement(t: 'canvas'): { getContext(k: string): unknown } } }).document.createElement('canvas');
      return Boolean(canvas.getContext('webgl2') ?? canvas.getContext('webgl'));
    });
    expect(webgl).toBe(backend === 'gpu');
    expect((await page.getByTestId('rendering-mode').textContent())?.trim()).toBe(badge);
    expect(await page.getByTestId('viewport').getAttribute('data-rendering')).toBe(backend);
    expect((await canvasStats(page)).std).toBeGreaterThan(20);
    expect(await markers(page)).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
    await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    await expectGrey(page, BLOCK.col, BLOCK.row[0]!, windowed(BLOCK_HU, 40, 400));
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 40, 400));
    await expectGrey(page, 128, 20, windowed(AIR, 40, 400));
    await screenshot(page, `viewer-transforms-${backend}-initial.png`);
  });

  it('shows the fitted image like the other backend: zoom readout 1:1-based, same image-to-canvas mapping', async () => {
    const { page } = session;
    const pixel = await pixelSize(page);
    // The readout is CSS px per image pixel (1.00× = 1:1), whatever the backend.
    await expect.poll(async () => Math.abs((await zoomReadout(page)).value - pixel), { timeout: 5_000 }).toBeLessThan(0.006);
    // Drawn where the geometry says: the block's centroid within a quarter image pixel of its centre.
    const block = await brightRegion(page, 0, 200);
    const centre = await imageToCanvas(page, 0, BLOCK.col, BLOCK.row[0]!);
    expect(Math.hypot(block.x - centre.x, block.y - centre.y) / pixel).toBeLessThan(0.25);
    const view: FittedView = { zoomText: (await zoomReadout(page)).text, mapping: [] };
    for (const [col, row] of PROBES) view.mapping.push(await imageToCanvas(page, 0, col, row));
    fittedViews.set(backend, view);
    const gpu = fittedViews.get('gpu');
    if (backend === 'cpu') {
      expect(gpu, 'the GPU run records its fitted view first').toBeDefined();
      expect(view.zoomText).toBe(gpu!.zoomText);
      const apart = view.mapping.map((p, i) => Math.hypot(p.x - gpu!.mapping[i]!.x, p.y - gpu!.mapping[i]!.y));
      expect(Math.max(...apart), `CPU vs GPU canvas positions of ${JSON.stringify(PROBES)}: ${apart.map((d) => d.toFixed(3)).join(', ')} px`).toBeLessThan(0.25);
    }
  });

  it('scrolls to the next slice: the block moves 80 rows down', async () => {
    const { page } = session;
    await hoverViewport(page);
    await page.mouse.wheel(0, 120);
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(2);
    await expectBlockAt(page, BLOCK.col, BLOCK.row[1]!);
    await page.keyboard.press('ArrowUp');
    await expect.poll(async () => (await overlayImage(page)).index, { timeout: 10_000 }).toBe(1);
    await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
  });

  it('applies window presets with the grey values the DICOM window gives', async () => {
    const { page } = session;
    await page.keyboard.press('5'); // bone 480/2500
    await expectGrey(page, BLOCK.col, BLOCK.row[0]!, windowed(BLOCK_HU, 480, 2500));
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 480, 2500));
    await page.keyboard.press('1'); // brain 40/80
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 40, 80));
    await page.keyboard.press('4'); // abdomen 40/400
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 40, 400));
    // A left-drag changes the window and the pixels.
    const before = await canvasStats(page);
    const b = await viewportBox(page);
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width / 2 + 80, b.y + b.height / 2 + 40, { steps: 6 });
    await page.mouse.up();
    await expect.poll(async () => (await canvasStats(page)).hash, { timeout: 5_000 }).not.toBe(before.hash);
    await page.keyboard.press('4');
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 40, 400));
  });

  it('flips horizontally and vertically: the block is mirrored and the markers follow', async () => {
    const { page } = session;
    const start = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    await page.getByTestId('view-flip-h').click();
    const mirrored = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    // Mirrored about the vertical centre line, same height: the block is now on the patient-right (screen-right) side.
    expect(Math.abs(mirrored.x - (size.width - start.x))).toBeLessThan(near);
    expect(Math.abs(mirrored.y - start.y)).toBeLessThan(near);
    expect(mirrored.x).toBeGreaterThan(size.width / 2);
    await expect.poll(() => markers(page), { timeout: 5_000 }).toEqual({ top: 'A', bottom: 'P', left: 'L', right: 'R' });
    await page.getByTestId('view-flip-h').click();
    await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    await page.getByTestId('view-flip-v').click();
    const flipped = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    expect(Math.abs(flipped.y - (size.height - start.y))).toBeLessThan(near);
    expect(Math.abs(flipped.x - start.x)).toBeLessThan(near);
    await expect.poll(() => markers(page), { timeout: 5_000 }).toEqual({ top: 'P', bottom: 'A', left: 'R', right: 'L' });
    await screenshot(page, `viewer-transforms-${backend}-flipped-v.png`);
    await page.getByTestId('view-flip-v').click();
    await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
  });

  it('rotates by 90°: the block turns about the centre and lies towards the R and A markers', async () => {
    const { page } = session;
    const start = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    await page.getByTestId('view-rotate').click();
    await expect.poll(async () => (await markers(page)).top, { timeout: 5_000 }).not.toBe('A');
    const turned = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    const c = { x: size.width / 2, y: size.height / 2 };
    // A quarter turn: the offset from the centre keeps its length and swaps axes.
    expect(Math.abs(Math.abs(turned.x - c.x) - Math.abs(start.y - c.y))).toBeLessThan(near);
    expect(Math.abs(Math.abs(turned.y - c.y) - Math.abs(start.x - c.x))).toBeLessThan(near);
    const m = await markers(page);
    const rightAnterior = (label: string) => label === 'R' || label === 'A';
    expect(turned.x < c.x).toBe(rightAnterior(m.left));
    expect(turned.y < c.y).toBe(rightAnterior(m.top));
    expect([m.left, m.right].sort().join('') === 'AP' && [m.top, m.bottom].sort().join('') === 'LR').toBe(true);
    await screenshot(page, `viewer-transforms-${backend}-rotated.png`);
  });

  // Rotate and flip act on the image as displayed, in the order pressed: rotate turns it a quarter turn clockwise on
  // the screen, flip mirrors it left↔right (or top↔bottom) on the screen, whatever was done before. Offsets (x, y)
  // from the image centre on the canvas (y down) go to: rotate (−y, x); flip horizontal (−x, y); flip vertical (x, −y).
  describe.each([
    {
      order: 'rotate then flip horizontal',
      buttons: ['view-rotate', 'view-flip-h'],
      // Transposed: the image's first row runs down the left edge; patient right-anterior stays top-left.
      to: (x: number, y: number) => [y, x],
      markers: { top: 'R', bottom: 'L', left: 'A', right: 'P' },
    },
    {
      order: 'flip horizontal then rotate',
      buttons: ['view-flip-h', 'view-rotate'],
      // Anti-transposed: patient right-anterior goes bottom-right.
      to: (x: number, y: number) => [-y, -x],
      markers: { top: 'L', bottom: 'R', left: 'P', right: 'A' },
    },
    {
      order: 'rotate then flip vertical',
      buttons: ['view-rotate', 'view-flip-v'],
      to: (x: number, y: number) => [-y, -x],
      markers: { top: 'L', bottom: 'R', left: 'P', right: 'A' },
    },
    {
      order: 'rotate, flip horizontal, rotate (the flip alone)',
      buttons: ['view-rotate', 'view-flip-h', 'view-rotate'],
      to: (x: number, y: number) => [-x, y],
      markers: { top: 'A', bottom: 'P', left: 'L', right: 'R' },
    },
  ])('$order', ({ order, buttons, to, markers: expected }) => {
    it('puts the corners, the block and the markers where the displayed image was turned and mirrored to, as on the other backend', async () => {
      const { page } = session;
      await page.getByTestId('view-reset').click();
      await expect.poll(() => markers(page), { timeout: 5_000 }).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
      await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
      const centre = await imageToCanvas(page, 0, (SIZE - 1) / 2, (SIZE - 1) / 2);
      const before: { x: number; y: number }[] = [];
      for (const [col, row] of PROBES) before.push(await imageToCanvas(page, 0, col, row));
      for (const button of buttons) await page.getByTestId(button).click();
      // Settled (the markers follow each render); a wrong view is reported with its positions below.
      await expect
        .poll(() => markers(page), { timeout: 5_000 })
        .toEqual(expected)
        .catch(() => undefined);
      // The drawn block is where the geometry puts it (within an image pixel) ...
      const block = await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
      const after: { x: number; y: number }[] = [];
      for (const [col, row] of PROBES) after.push(await imageToCanvas(page, 0, col, row));
      // ... and the geometry is the expected turn and mirror of the view before, about the image centre.
      const want = before.map((p) => {
        const [dx, dy] = to(p.x - centre.x, p.y - centre.y);
        return { x: centre.x + dx!, y: centre.y + dy! };
      });
      const off = after.map((p, i) => Math.hypot(p.x - want[i]!.x, p.y - want[i]!.y));
      const seen = `${backend} ${order}: probes ${JSON.stringify(PROBES)} at ${JSON.stringify(after.map((p) => [+p.x.toFixed(2), +p.y.toFixed(2)]))}, expected ${JSON.stringify(want.map((p) => [+p.x.toFixed(2), +p.y.toFixed(2)]))}, markers ${JSON.stringify(await markers(page))}`;
      console.log(seen);
      expect(await markers(page), seen).toEqual(expected);
      expect(Math.max(...off), seen).toBeLessThan(0.5);
      const blockWant = want[PROBES.length - 1]!;
      expect(Math.hypot(block.x - blockWant.x, block.y - blockWant.y), seen).toBeLessThan(near);
      // The same view on both backends (the GPU run goes first).
      if (backend === 'gpu') transformedViews.set(order, after);
      else {
        const gpu = transformedViews.get(order);
        expect(gpu, 'the GPU run records its view first').toBeDefined();
        const apart = after.map((p, i) => Math.hypot(p.x - gpu![i]!.x, p.y - gpu![i]!.y));
        expect(Math.max(...apart), `CPU vs GPU after ${order}: ${apart.map((d) => d.toFixed(3)).join(', ')} px`).toBeLessThan(0.5);
      }
      await screenshot(page, `viewer-transforms-${backend}-${buttons.map((b) => b.replace('view-', '')).join('-')}.png`);
      await page.getByTestId('view-reset').click();
      await expect.poll(() => markers(page), { timeout: 5_000 }).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
    });
  });

  it('inverts the grey scale, and reset restores view, window and markers', async () => {
    const { page } = session;
    await page.getByTestId('view-invert').click();
    await expectGrey(page, BLOCK.col, BLOCK.row[0]!, 255 - windowed(BLOCK_HU, 40, 400));
    await expectGrey(page, PATCH.col, PATCH.row, 255 - windowed(PATCH_HU, 40, 400));
    await expectGrey(page, 128, 20, 255 - windowed(AIR, 40, 400));
    await page.getByTestId('view-flip-h').click();
    await page.keyboard.press('5');
    await page.getByTestId('view-reset').click();
    await expect.poll(() => markers(page), { timeout: 5_000 }).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
    await expectBlockAt(page, BLOCK.col, BLOCK.row[0]!);
    await expectGrey(page, BLOCK.col, BLOCK.row[0]!, windowed(BLOCK_HU, 40, 400));
    await expectGrey(page, PATCH.col, PATCH.row, windowed(PATCH_HU, 40, 400));
    await screenshot(page, `viewer-transforms-${backend}-reset.png`);
    expect(session.pageErrors).toEqual([]);
  });
});
