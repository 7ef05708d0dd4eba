/**
 * The AI worklist a newcomer sees after the models ran, through the bridge in
 * headless Chromium at 1440×900: studies in every AI state (flagged and not
 * reviewed, flagged and reviewed in the viewer, negative, not analysed, failed,
 * never analysed) from fixture models on synthetic studies; the AI column
 * words and counts; the AI sort order; "3 flagged by AI · 2 not reviewed" as
 * one-click filters; the AI column on screen without horizontal scrolling at
 * 1280 px; and the reviewed state after a new bridge on the same data.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { importByReference, openStudy } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const REVIEWER = 'Dr Triage Reader';
const CLASSIFIER = 'test-nodule-classifier';
const BROKEN = 'test-broken-classifier';

/**
 * One study per AI state. Each image is a bright disc of `lesion` pixels radius on black: the classifier's score is
 * sigmoid(4 × mean − 2), so a radius of 10 (mean ≈ 1.2) is positive and 3 (mean ≈ 0.1) negative. The never-analysed
 * study carries long values, so the column widths are tried at 1280 px.
 */
const STUDIES = {
  flaggedNew: { name: 'Ito^Kenji', id: 'PID-1', accession: 'ACC-101', modality: 'CT', date: '20250310', lesion: 10, description: 'CT CHEST LOW DOSE' },
  flaggedOld: { name: 'Chen^Wei', id: 'PID-2', accession: 'ACC-102', modality: 'CT', date: '20250110', lesion: 11, description: 'CT CHEST' },
  reviewed: { name: 'Novak^Anna', id: 'PID-3', accession: 'ACC-103', modality: 'CT', date: '20250212', lesion: 10, description: 'CT CHEST FOLLOW-UP' },
  negative: { name: 'Okafor^Chidi', id: 'PID-4', accession: 'ACC-104', modality: 'CT', date: '20250301', lesion: 3, description: 'CT CHEST' },
  notAnalysed: { name: 'Larsen^Freja', id: 'PID-5', accession: 'ACC-105', modality: 'MR', date: '20250305', lesion: 3, description: 'MR KNEE LEFT' },
  failed: { name: 'Schmidt^Paul', id: 'PID-6', accession: 'ACC-106', modality: 'CR', date: '20250220', lesion: 3, description: 'CHEST PA' },
  never: {
    name: 'Vandenberghe-Oosterhuis^Maximiliaan Alexander',
    id: 'NL-UMC-000012345678',
    accession: 'RAD-2025-000987654321',
    modality: 'CT',
    date: '20250314',
    lesion: 3,
    description: 'CT ABDOMEN AND PELVIS WITH INTRAVENOUS CONTRAST, PORTAL VENOUS PHASE',
  },
} as const;
type Key = keyof typeof STUDIES;
const KEYS = Object.keys(STUDIES) as Key[];
const uidOf = (k: Key) => `1.2.826.0.1.3680043.10.1138.88${KEYS.indexOf(k) + 1}`;

function writeStudies(dir: string): void {
  for (const k of KEYS) {
    const s = STUDIES[k];
    const uid = uidOf(k);
    mkdirSync(join(dir, k), { recursive: true });
    writeFileSync(
      join(dir, k, '1.dcm'),
      syntheticDicom({
        rows: 32,
        columns: 32,
        pixels: Uint16Array.from({ length: 32 * 32 }, (_, i) => (Math.hypot((i % 32) - 15.5, Math.floor(i / 32) - 15.5) <= s.lesion ? 4 : 0)),
        modality: s.modality,
        patientName: s.name,
        patientId: s.id,
        studyDate: s.date,
        studyDescription: s.description,
        accessionNumber: s.accession,
        studyInstanceUid: uid,
        seriesInstanceUid: `${uid}.1`,
        sopInstanceUid: `${uid}.1.1`,
      }),
    );
  }
}

/** A "nodule" classifier for CT, and a CR model whose post-processing fails (two labels, one output value). */
function writeModels(dataDir: string): void {
  const onnx = tinyClassifierModel();
  writeModelPackage(
    join(dataDir, 'models', 'nodule'),
    onnx,
    classifierManifest(onnx, {
      id: CLASSIFIER,
      name: 'Test nodule classifier',
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['nodule'], activation: 'sigmoid', thresholds: 0.5 }],
    }),
  );
  writeModelPackage(
    join(dataDir, 'models', 'broken'),
    onnx,
    classifierManifest(onnx, {
      id: BROKEN,
      name: 'Test broken classifier',
      applicability: { modalities: ['CR'] },
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['normal', 'finding'], activation: 'softmax', thresholds: 0.5, normalLabels: ['normal'] }],
    }),
  );
}

const row = (page: Page, k: Key) => page.locator(`[data-testid="study-row"][data-study-uid="${uidOf(k)}"]`);
const aiCell = (page: Page, k: Key) => row(page, k).getByTestId('ai-status');
const order = async (page: Page): Promise<Key[]> =>
  (await page.$$eval('[data-testid="study-row"]', (rows) => rows.map((r) => (r as unknown as { dataset: Record<string, string> }).dataset.studyUid ?? ''))).map(
    (uid) => KEYS.find((k) => uidOf(k) === uid)!,
  );

/** The worklist fits its container: no horizontal scrolling, and the AI cells lie inside the window. */
async function aiColumnVisible(page: Page, width: number): Promise<void> {
  await screenshot(page, `ai-triage-worklist-${width}.png`);
  const overflow = await page.$eval('.worklist', (el) => {
    const e = el as unknown as { scrollWidth: number; clientWidth: number };
    return e.scrollWidth - e.clientWidth;
  });
  expect(overflow, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(0);
  for (const k of KEYS) {
    const box = await aiCell(page, k).boundingBox();
    expect(box, `${k}: AI cell rendered`).not.toBeNull();
    expect(box!.x + box!.width, `${k}: AI cell inside ${width} px`).toBeLessThanOrEqual(width);
  }
  const header = await page.getByTestId('sort-aiPriority').boundingBox();
  expect(header!.x + header!.width).toBeLessThanOrEqual(width);
}

describe('AI triage of the worklist', () => {
  let root: string;
  let dataDir: string;
  let session: VigilSession;

  beforeAll(async () => {
    root = makeTempDir('ai-triage');
    dataDir = join(root, 'library');
    writeModels(dataDir);
    writeStudies(join(root, 'in'));
    session = await openVigil({ dataDir, viewport: { width: 1440, height: 900 } });
    await importByReference(session.bridge, [join(root, 'in')]);
    const runs: [Key, string | undefined][] = [
      ['flaggedNew', CLASSIFIER],
      ['flaggedOld', CLASSIFIER],
      ['reviewed', CLASSIFIER],
      ['negative', CLASSIFIER],
      ['notAnalysed', undefined], // every model: none applies to MR
      ['failed', BROKEN],
    ];
    for (const [k, modelId] of runs) {
      const r = await session.bridge.invoke('analysis.run', { studyInstanceUid: uidOf(k), ...(modelId ? { modelId } : {}), provider: 'cpu' });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    // Wait until the queue is empty: every run has its result (expect.poll is for tests, not hooks).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await session.bridge.invoke<{ jobs: { status: string }[] }>('analysis.jobs', {});
      if (!r.ok) throw new Error(r.error.message);
      if (!r.value.jobs.some((j) => j.status === 'pending' || j.status === 'running')) break;
      if (Date.now() > deadline) throw new Error(`analysis still running after 60 s: ${JSON.stringify(r.value.jobs)}`);
      await new Promise((done) => setTimeout(done, 250));
    }
  }, 120_000);

  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('shows each study\'s AI state, reviews a flagged finding in the viewer, and sorts and filters by AI', async () => {
    const { page } = session;
    await page.waitForSelector('[data-testid="study-row"]');
    await expect.poll(() => aiCell(page, 'failed').getAttribute('data-triage'), { timeout: 15_000 }).toBe('failed');
    const expected: Record<Key, [string, string]> = {
      flaggedNew: ['positive-unreviewed', 'Positivenot reviewed'],
      flaggedOld: ['positive-unreviewed', 'Positivenot reviewed'],
      reviewed: ['positive-unreviewed', 'Positivenot reviewed'],
      negative: ['negative', 'Negative'],
      notAnalysed: ['not-analysed', 'Not analysed'],
      failed: ['failed', 'Failed'],
      never: ['none', '—'],
    };
    for (const k of KEYS) expect([await aiCell(page, k).getAttribute('data-triage'), await aiCell(page, k).textContent()], k).toEqual(expected[k]);
    expect(await page.getByTestId('ai-counts').textContent()).toBe('3 flagged by AI·3 not reviewed');

    // Review in the viewer: open the study from the worklist, accept its one flagged finding.
    await row(page, 'reviewed').dblclick();
    await page.getByTestId('viewer').waitFor({ timeout: 30_000 });
    const name = page.getByTestId('reviewer-name');
    await name.fill(REVIEWER);
    await name.press('Enter');
    const nodule = page.locator(`[data-testid="finding-run"][data-model-id="${CLASSIFIER}"] [data-testid="finding-item"][data-label="nodule"]`);
    await expect.poll(() => nodule.getAttribute('data-reviewable'), { timeout: 15_000 }).toBe('true');
    expect(await page.getByTestId('review-state').textContent()).toBe('0 of 1 positive findings reviewed');
    await nodule.getByTestId('finding-accept').click();
    await expect.poll(() => nodule.getAttribute('data-review')).toBe('accepted');
    await expect.poll(() => page.getByTestId('review-state').getAttribute('data-state')).toBe('done');
    expect(await page.getByTestId('review-state').textContent()).toBe('All positive findings reviewed');
    expect(await nodule.getByTestId('finding-review').textContent()).toContain(`Accepted by ${REVIEWER}`);
    await screenshot(page, 'ai-triage-findings-reviewed.png');

    // A negative run has nothing to review: no accept / reject, and the panel says so.
    await openStudy(page, uidOf('negative'));
    await expect.poll(() => page.getByTestId('review-state').getAttribute('data-state'), { timeout: 15_000 }).toBe('none');
    expect(await page.getByTestId('finding-accept').count()).toBe(0);
    expect(await page.getByTestId('review-state').textContent()).toBe('No positive findings to review');
    await screenshot(page, 'ai-triage-findings-negative.png');
    expect(await page.locator('[data-testid="finding-item"][data-label="nodule"]').getAttribute('data-reviewable')).toBe('false');

    // Back to the worklist: the reviewed study says so, and the counts follow.
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#/';
    });
    await page.waitForSelector('[data-testid="study-row"]');
    await expect.poll(() => aiCell(page, 'reviewed').getAttribute('data-triage'), { timeout: 15_000 }).toBe('positive-reviewed');
    expect(await aiCell(page, 'reviewed').textContent()).toBe('Positive · reviewed1 accepted');
    expect(await page.getByTestId('ai-counts').textContent()).toBe('3 flagged by AI·2 not reviewed');

    // Sort by AI: flagged and unreviewed (newest first), flagged and reviewed, negative, not analysed, failed, never.
    await page.getByTestId('sort-aiPriority').click();
    await expect.poll(() => order(page)).toEqual(['flaggedNew', 'flaggedOld', 'reviewed', 'negative', 'notAnalysed', 'failed', 'never']);
    await aiColumnVisible(page, 1440);

    // One-click filters from the counts; a second click shows every study again.
    await page.getByTestId('ai-unreviewed-count').click();
    await expect.poll(() => order(page)).toEqual(['flaggedNew', 'flaggedOld']);
    expect(await page.getByTestId('ai-filter').isChecked()).toBe(true);
    await screenshot(page, 'ai-triage-worklist-not-reviewed.png');
    await page.getByTestId('ai-flagged-count').click();
    await expect.poll(() => order(page)).toEqual(['flaggedNew', 'flaggedOld', 'reviewed']);
    expect(await page.getByTestId('ai-flagged-count').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('ai-filter').isChecked()).toBe(false);
    await page.getByTestId('ai-flagged-count').click();
    await expect.poll(async () => (await order(page)).length).toBe(KEYS.length);
    // The checkbox filter drops the reviewed study too.
    await page.getByTestId('ai-filter').check();
    await expect.poll(() => order(page)).toEqual(['flaggedNew', 'flaggedOld']);
    await page.getByTestId('ai-filter').uncheck();
    await expect.poll(async () => (await order(page)).length).toBe(KEYS.length);

    // 1280 px: every column, the AI column included, without horizontal scrolling.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForTimeout(200);
    await aiColumnVisible(page, 1280);
    // An expanded study lists its series under the row, inside the same width.
    await row(page, 'never').getByTestId('study-expand').click();
    await page.getByTestId('series-row').first().waitFor();
    await screenshot(page, 'ai-triage-worklist-1280-expanded.png');
    expect(await page.$eval('.worklist', (el) => (el as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth - (el as unknown as { clientWidth: number }).clientWidth)).toBeLessThanOrEqual(0);
    expect(session.pageErrors).toEqual([]);
  }, 180_000);

  it('keeps the reviewed state after a new bridge on the same data', async () => {
    await session.close();
    session = await openVigil({ dataDir, viewport: { width: 1440, height: 900 } });
    const { page } = session;
    await page.waitForSelector('[data-testid="study-row"]');
    await expect.poll(() => aiCell(page, 'reviewed').getAttribute('data-triage'), { timeout: 15_000 }).toBe('positive-reviewed');
    expect(await page.getByTestId('ai-counts').getAttribute('data-unreviewed')).toBe('2');
    await openStudy(page, uidOf('reviewed'));
    const nodule = page.locator(`[data-testid="finding-run"][data-model-id="${CLASSIFIER}"] [data-testid="finding-item"][data-label="nodule"]`);
    await expect.poll(() => nodule.getAttribute('data-review'), { timeout: 15_000 }).toBe('accepted');
    expect(await nodule.getByTestId('finding-review').textContent()).toContain(REVIEWER);
    expect(await page.getByTestId('review-state').getAttribute('data-all-reviewed')).toBe('true');
    expect(session.pageErrors).toEqual([]);
  }, 120_000);
});
