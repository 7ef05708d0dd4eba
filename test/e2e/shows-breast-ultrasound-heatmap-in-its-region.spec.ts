/**
 * The shipped breast-ultrasound model on a real ultrasound screen capture
 * (pydicom's OBXXXX1A: 800×600 PALETTE COLOR, a Sequence of Ultrasound
 * Regions whose 2D tissue region is columns 120–799, rows 60–518), given
 * Body Part Examined BREAST with dcmodify so the model applies. The palette
 * is shown in colour, the model runs from the viewer, and its heatmap lies
 * inside the B-mode region only: the scanner's UI around it never reaches
 * the model (cropUltrasoundRegion), so nothing is drawn there. A capture
 * whose regions do not fit its pixels (pydicom's examples_palette, cut from
 * OBXXXX1A) is analysed whole, and the run says so.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasStats, corpusOrSkip, heatmapValues, importByReference, modelResult, openStudy, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const CAPTURE = corpusOrSkip('dicom-pydicom/pydicom-data/data/OBXXXX1A.dcm');
const CUT_CAPTURE = corpusOrSkip('dicom-pydicom/pydicom/test_files/examples_palette.dcm');
const MODEL = join(repoRoot, 'models/us-breast-malignancy');
const hasDcmodify = spawnSync('dcmodify', ['--version']).status === 0;
if (!hasDcmodify) console.warn('[e2e] SKIPPED: dcmodify (dcmtk) is not installed');
const ready = Boolean(CAPTURE && CUT_CAPTURE && hasDcmodify && existsSync(join(MODEL, 'model.onnx')));
/** The tissue region of OBXXXX1A (dcmdump: 120, 60, 800, 518), clamped to its 800 columns. */
const REGION = { x0: 120, y0: 60, x1: 799, y1: 518 };

/** The result outputs this spec reads (analysis.results types them loosely). */
interface Output {
  kind: string;
  map?: { file: string; shape: [number, number, number] };
}

describe.skipIf(!ready)('breast ultrasound model on a real screen capture', () => {
  let root: string;
  let session: VigilSession;
  let study: string;
  let cutStudy: string;

  beforeAll(async () => {
    root = makeTempDir('us-breast');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, 'us-breast-malignancy');
    const breast = (source: string, name: string, extra: string[] = []): string => {
      const file = join(root, name);
      copyFileSync(source, file);
      const mod = spawnSync('dcmodify', ['-nb', '-i', '(0018,0015)=BREAST', ...extra, file], { encoding: 'utf8' });
      if (mod.status !== 0) throw new Error(`dcmodify failed: ${mod.stderr}`);
      return file;
    };
    const file = breast(CAPTURE!, 'us-breast.dcm');
    // The cut copy shares OBXXXX1A's study: give it its own so each opens alone.
    const cut = breast(CUT_CAPTURE!, 'us-breast-cut.dcm', ['-gst', '-gse', '-gin']);
    session = await openVigil({ dataDir });
    const [first] = await importByReference(session.bridge, [file]);
    study = first!.studyInstanceUid;
    const studies = await importByReference(session.bridge, [cut]);
    expect(studies).toHaveLength(2);
    cutStudy = studies.find((s) => s.studyInstanceUid !== study)!.studyInstanceUid;
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('shows the palette image in colour and draws the heatmap only inside the B-mode region', async () => {
    const { page, bridge } = session;
    await openStudy(page, study);
    await waitForRender(page);
    // The palette's colours (the blue title bar, the blue depth ticks) are drawn: a grey rendering has chroma 0.
    const shown = await canvasStats(page);
    expect(shown.chroma).toBeGreaterThan(1);
    expect(shown.std).toBeGreaterThan(5);
    await screenshot(page, 'us-breast-palette.png');
    await page.getByTestId('run-model').click();
    const run = page.locator('[data-testid="finding-run"][data-model-id="us-breast-malignancy"]');
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 60_000 }).toBe('done');

    const result = (await modelResult(bridge, study, 'us-breast-malignancy'))!;
    expect(result.findings.map((f) => f.label)).toEqual(['normal_or_benign', 'malignant']);
    const heat = (result.outputs as unknown as Output[]).find((o) => o.kind === 'heatmap')!;
    expect(heat.map!.shape).toEqual([1, 600, 800]);
    const map = await heatmapValues(bridge, result.resultId, heat.map!.file);
    let outside = 0;
    let inside = 0;
    for (let row = 0; row < 600; row++) {
      for (let col = 0; col < 800; col++) {
        const v = map[row * 800 + col]!;
        const inRegion = col >= REGION.x0 && col <= REGION.x1 && row >= REGION.y0 && row <= REGION.y1;
        if (inRegion && v > 0) inside++;
        if (!inRegion && v !== 0) outside++;
      }
    }
    expect(outside, 'heatmap pixels outside the B-mode region').toBe(0);
    expect(inside, 'heatmap pixels inside the B-mode region').toBeGreaterThan(1000);

    // Show the map whatever the call, at full opacity, and look at it.
    const malignant = result.findings.find((f) => f.label === 'malignant')!;
    if (!malignant.positive) await page.getByTestId('overlay-negative-heatmaps').check();
    const heatCanvas = page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]');
    await expect.poll(() => heatCanvas.getAttribute('data-drawn'), { timeout: 15_000 }).toContain(`${result.resultId}:cam`);
    await page.getByTestId('overlay-opacity').fill('60');
    await page.waitForTimeout(300);
    await screenshot(page, 'ai-us-breast-heatmap.png');
    expect(await run.getByTestId('ultrasound-region-warning').count(), 'a region was used: no warning').toBe(0);
    expect(session.pageErrors).toEqual([]);
  });

  it('says so on the run when a capture was analysed whole because its regions do not fit its pixels', async () => {
    const { page } = session;
    await openStudy(page, cutStudy);
    await waitForRender(page);
    await page.getByTestId('run-model').click();
    const run = page.locator('[data-testid="finding-run"][data-model-id="us-breast-malignancy"]');
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 60_000 }).toBe('done');
    const warning = run.getByTestId('ultrasound-region-warning');
    await expect.poll(() => warning.count(), { timeout: 10_000 }).toBe(1);
    expect(await warning.textContent()).toMatch(/1 of 1/);
    await screenshot(page, 'ai-us-breast-no-region-warning.png');
    expect(session.pageErrors).toEqual([]);
  });
});
