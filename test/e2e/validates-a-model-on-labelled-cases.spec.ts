/**
 * Issue 5 / 7 through the bridge: the Models page lists the shipped
 * cxr-pneumonia package and the AI runtime, validates it on a small labelled
 * case set (20 + 20 MedMNIST test images written as DICOM, plus two files that
 * are not DICOM), and shows the metrics table, ROC curve, confusion matrix and
 * the excluded cases with their reason, calibration (ECE, Brier, reliability diagram), and the
 * analysed cases, mistakes first (false negatives, then false positives);
 * one pneumonia case is a series of two files, scored together as one case;
 * "Save report" downloads a self-contained HTML report that shows the same
 * offline, with every misclassified case.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMedmnistDicom } from '../fixtures/medmnist-dicom';
import { anotherImageOfSeries } from './support/series-image';
import { artifactsDir, installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, sharedData, type VigilSession } from './support/vigil-bridge';

const NPZ = join(process.env.VIGIL_MEDMNIST ?? join(sharedData, 'medmnist'), 'pneumoniamnist_kaggle-variant.npz');
const haveData = existsSync(NPZ);
if (!haveData) console.warn(`\n*** SKIPPED validates-a-model-on-labelled-cases: MedMNIST data not found at ${NPZ} (set VIGIL_MEDMNIST) ***\n`);

const PER_LABEL = 20;
/** The cases sit in a deep export folder, as a clinic's often do: the cases table must keep the file names readable. */
const EXPORT_FOLDER = 'pacs-export-2024-11-chest-radiographs-site-north-reading-room-3';

/**
 * Whether a case's file cell keeps its text readable: the long folder part gives way, so the cell does not overflow
 * and the file name (and a "+N more files" note, when the case has one) is shown whole inside it.
 */
function fits(cell: Locator) {
  return cell.evaluate((td) => {
    const cellRight = td.getBoundingClientRect().right;
    /** Inside the cell and whole: the text's own width against its box (an ellipsis shows as soon as the box is narrower by any fraction); null when absent. */
    const shown = (selector: string) => {
      const el = td.querySelector(selector);
      if (!el) return null;
      const text = td.ownerDocument.createRange();
      text.selectNodeContents(el);
      const box = el.getBoundingClientRect();
      return { inside: box.right <= cellRight + 0.5, whole: text.getBoundingClientRect().width <= box.width + 0.01 };
    };
    const name = shown('.case-name');
    const more = shown('.case-more');
    return { overflows: td.scrollWidth > td.clientWidth + 1, nameInside: name?.inside, nameWhole: name?.whole, moreInside: more === null || (more.inside && more.whole) };
  });
}

(haveData ? describe : describe.skip)('validating a model on labelled cases (Models page)', () => {
  let session: VigilSession;
  let tmp: string;
  let cases: string;
  /** The two files of the one case that is a series of two (relative to the cases folder). */
  let seriesFiles: string[];

  beforeAll(async () => {
    tmp = makeTempDir('validate');
    // The MedMNIST test split as DICOM, then the first 20 cases of each label.
    const all = join(tmp, 'all');
    writeMedmnistDicom({ npz: NPZ, split: 'test', outDir: all, labelIds: { 0: 'normal', 1: 'pneumonia' }, modality: 'DX', bodyPart: 'CHEST', viewPosition: 'PA' });
    cases = join(tmp, 'cases');
    for (const label of ['normal', 'pneumonia']) {
      mkdirSync(join(cases, label, EXPORT_FOLDER), { recursive: true });
      for (const f of readdirSync(join(all, label)).sort().slice(0, PER_LABEL)) cpSync(join(all, label, f), join(cases, label, EXPORT_FOLDER, f));
    }
    writeFileSync(join(cases, 'pneumonia', 'notes.txt'), 'not a DICOM file');
    writeFileSync(join(cases, 'normal', 'worklist-export.xml'), '<worklist/>');
    // A second image of the first pneumonia case's series: still one case (a series is one by default), of two files.
    const first = readdirSync(join(cases, 'pneumonia', EXPORT_FOLDER)).sort()[0]!;
    seriesFiles = [first, first.replace(/\.dcm$/, '_2.dcm')].map((f) => join('pneumonia', EXPORT_FOLDER, f));
    writeFileSync(join(cases, seriesFiles[1]!), anotherImageOfSeries(readFileSync(join(cases, seriesFiles[0]!))));
    const dataDir = join(tmp, 'library');
    installRepoModel(dataDir, 'cxr-pneumonia');
    session = await openVigil({ dataDir, viewport: { width: 1440, height: 1000 } });
  });

  afterAll(async () => {
    await session?.close();
    if (tmp) removeDir(tmp);
  });

  it('opens #/models from the study browser: models with status and the runtime providers', async () => {
    const { page } = session;
    await page.getByTestId('open-models').click();
    await page.getByTestId('models-page').waitFor();
    expect(page.url()).toContain('#/models');
    const item = page.getByTestId('model-item').filter({ hasText: 'cxr-pneumonia' });
    await item.waitFor();
    const text = (await item.textContent()) ?? '';
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'models', 'cxr-pneumonia', 'manifest.json'), 'utf8')) as { version: string };
    expect(text).toContain(`v${version}`);
    expect(text).toContain('ok');
    expect(text).toContain('research only');
    const providers = page.getByTestId('runtime-providers');
    await providers.waitFor();
    expect(await providers.locator('[data-provider="cpu"]').textContent()).toContain('available');
    expect(await page.getByTestId('runtime-last-run').textContent()).toContain('No model has run yet');
  });

  it('validates cxr-pneumonia: metrics with CIs, ROC curve, confusion matrix and the excluded case', async () => {
    const { page } = session;
    await page.getByTestId('validate-model').selectOption('cxr-pneumonia');
    await page.getByTestId('validate-cases').fill(cases);
    // A series is one case unless the reader says each file is.
    expect(await page.getByTestId('validate-case-unit-series').isChecked()).toBe(true);
    await page.locator('.validate-panel').scrollIntoViewIfNeeded();
    await screenshot(page, 'models-validate-form.png');
    await page.getByTestId('validate-run').click();
    const metrics = page.getByTestId('validation-metrics');
    await metrics.waitFor({ timeout: 120_000 });

    const auc = Number((await metrics.locator('[data-metric="auc"] td').first().textContent())?.trim());
    expect(auc).toBeGreaterThan(0.6);
    expect(auc).toBeLessThanOrEqual(1);
    expect(await metrics.locator('[data-metric="auc"]').textContent()).toMatch(/\d\.\d{3}–\d\.\d{3}/);
    expect(await metrics.locator('[data-metric="n"] td').first().textContent()).toBe(String(2 * PER_LABEL));
    for (const key of ['accuracy', 'sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'ece', 'brier']) expect(await metrics.locator(`[data-metric="${key}"]`).count()).toBe(1);
    // Calibration: ECE and Brier are probabilities' errors in [0, 1], with bootstrap CIs.
    for (const key of ['ece', 'brier']) {
      const value = Number((await metrics.locator(`[data-metric="${key}"] td`).first().textContent())?.trim());
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
      expect(await metrics.locator(`[data-metric="${key}"]`).textContent()).toMatch(/\d\.\d{3}–\d\.\d{3}/);
    }
    // The reliability diagram: one dot per non-empty bin, the bins' cases adding up to the cases analysed.
    const bins = page.getByTestId('validation-reliability').getByTestId('reliability-bin');
    expect(await bins.count()).toBeGreaterThan(0);
    const binCases = await bins.evaluateAll((dots) => dots.map((d) => Number(d.getAttribute('data-n'))));
    expect(binCases.reduce((a, b) => a + b, 0)).toBe(2 * PER_LABEL);

    const counts = await Promise.all(['tp', 'fn', 'fp', 'tn'].map(async (k) => Number(((await page.getByTestId(`cm-${k}`).textContent()) ?? '').match(/\d+/)?.[0])));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2 * PER_LABEL);
    expect(counts[0]! + counts[1]!).toBe(PER_LABEL);

    const path = (await page.getByTestId('roc-curve').locator('[data-testid="roc-path"]').getAttribute('d')) ?? '';
    expect(path.split('L').length).toBeGreaterThan(5);
    expect(await page.getByTestId('intended-use').first().textContent()).toContain('Not for clinical use');
    expect(await page.getByTestId('excluded-cases').textContent()).toContain('notes.txt');
    // Above the list, why: one reason for both files that are not DICOM.
    expect(await page.getByTestId('excluded-reasons').locator('li').allTextContents()).toEqual([expect.stringMatching(/^2 × not a DICOM file/)]);
    // One case per series: the 41 files are 40 cases.
    const threshold = (await metrics.locator('[data-metric="threshold"] td').first().textContent())?.trim();
    expect(await page.getByTestId('validation-summary').textContent()).toBe(`${2 * PER_LABEL} cases analysed, each a series (${2 * PER_LABEL + 1} files in all); ${PER_LABEL} pneumonia; positive when score ≥ ${threshold}`);

    await expect.poll(async () => page.getByTestId('runtime-last-run').textContent()).toContain('cxr-pneumonia');
    await page.getByTestId('validation-metrics').scrollIntoViewIfNeeded();
    const shot = await screenshot(page, 'models-validate.png', true);
    // The result alone, legible at its real size (metrics with calibration, ROC, confusion matrix, reliability).
    // The page scrolls inside its main area: a tall viewport shows the whole result in one shot.
    const viewport = page.viewportSize();
    await page.setViewportSize({ width: 1440, height: 1800 });
    await page.locator('.validation-report').screenshot({ path: join(artifactsDir, 'models-validate-result.png') });
    if (viewport) await page.setViewportSize(viewport);
    expect(existsSync(shot)).toBe(true);
  });

  it('lists the analysed cases, the mistakes first and only them by default; the file name stays readable in a long path', async () => {
    const { page } = session;
    const [fn, fp] = await Promise.all(['fn', 'fp'].map(async (k) => Number(((await page.getByTestId(`cm-${k}`).textContent()) ?? '').match(/\d+/)?.[0])));
    const section = page.getByTestId('validation-cases');
    await section.scrollIntoViewIfNeeded();
    expect(await section.getByTestId('validation-cases-summary').textContent()).toBe(`${fn! + fp!} of ${2 * PER_LABEL} misclassified: ${fn} false negatives, ${fp} false positives`);
    const only = section.getByTestId('cases-only-mistakes');
    expect(await only.isChecked()).toBe(fn! + fp! > 0);
    const rows = section.getByTestId('case-row');
    const outcomes = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-outcome')));
    if (fn! + fp! > 0) expect(await outcomes()).toEqual([...Array<string>(fn!).fill('fn'), ...Array<string>(fp!).fill('fp')]);
    // Relative to the cases folder, the full path in the title (a case of two files says so after its path).
    const file = rows.first().getByTestId('case-file');
    const [shown = '', more] = ((await file.textContent()) ?? '').split('\u00a0');
    expect(shown).toMatch(new RegExp(`^(normal|pneumonia)/${EXPORT_FOLDER}/\\d{4}\\.dcm$`));
    expect(more === undefined || more === '+1 more file of its series').toBe(true);
    expect(await file.getAttribute('title')).toBe(join(cases, shown));
    expect(await fits(file)).toEqual({ overflows: false, nameInside: true, nameWhole: true, moreInside: true });
    await screenshot(page, 'models-validate-cases.png');
    // Every case: the mistakes still lead, then the correct ones.
    if (fn! + fp! > 0) await only.uncheck();
    const all = await outcomes();
    expect(all).toHaveLength(2 * PER_LABEL);
    expect(all.slice(0, fn! + fp!)).toEqual([...Array<string>(fn!).fill('fn'), ...Array<string>(fp!).fill('fp')]);
    expect(all.slice(fn! + fp!).every((o) => o === 'tp' || o === 'tn')).toBe(true);
    await section.screenshot({ path: join(artifactsDir, 'models-validate-cases-all.png') });

    // The series of two files is one row: its first file, "+1 more file", the name and the note both whole.
    const series = rows.filter({ has: page.getByTestId('case-more-files') });
    expect(await series.count()).toBe(1);
    const seriesFile = series.getByTestId('case-file');
    expect(await seriesFile.textContent()).toBe(`${seriesFiles[0]}\u00a0+1 more file of its series`);
    // The title says it too, for a name long enough to push the note out of sight.
    expect(await seriesFile.getAttribute('title')).toBe(`${join(cases, seriesFiles[0]!)} +1 more file of its series`);
    expect(await series.locator('td.case-label').first().textContent()).toBe('pneumonia');
    await series.scrollIntoViewIfNeeded();
    expect(await fits(seriesFile)).toEqual({ overflows: false, nameInside: true, nameWhole: true, moreInside: true });
    await screenshot(page, 'models-validate-case-series.png');
  });

  it('saves the report as a self-contained HTML download', async () => {
    const { page } = session;
    const download = page.waitForEvent('download');
    await page.getByTestId('save-report').click();
    const d = await download;
    expect(d.suggestedFilename()).toMatch(/^validation-cxr-pneumonia-\d{8}-\d{4}\.html$/);
    const file = join(tmp, 'report.html');
    await d.saveAs(file);
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Not for clinical use');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(session.pageErrors).toEqual([]);

    // The saved file alone (no network, no app) shows the calibration rows and the reliability diagram.
    const reportPage = await session.browser.newPage({ viewport: { width: 1100, height: 900 } });
    try {
      await reportPage.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
      await reportPage.goto(pathToFileURL(file).href);
      expect(await reportPage.locator('.metrics [data-metric="ece"]').textContent()).toMatch(/ECE.*\d\.\d{3}/);
      expect(await reportPage.locator('.metrics [data-metric="brier"]').textContent()).toMatch(/Brier score.*\d\.\d{3}/);
      expect(await reportPage.locator('svg[aria-label^="Reliability diagram"] circle').count()).toBeGreaterThan(0);
      expect(await reportPage.locator('.bins tbody tr').count()).toBe(10);
      // Every misclassified case, false negatives first, and how many were right.
      const outcomes = await reportPage.locator('[data-testid="misclassified"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-outcome')));
      expect(outcomes).toEqual([...outcomes].sort());
      expect(await reportPage.locator('[data-testid="correct-count"]').textContent()).toBe(`${2 * PER_LABEL - outcomes.length} of ${2 * PER_LABEL} cases were classified correctly.`);
      await reportPage.screenshot({ path: join(artifactsDir, 'models-validate-report.png'), fullPage: true });
    } finally {
      await reportPage.close();
    }
  });

  it('keeps a running validation while the reader is in the library, and cancels it', async () => {
    const { page } = session;
    // A split of thousands of cases (the train split, as clinics' archives can be): long enough to leave the page and
    // come back while it runs.
    const all = join(tmp, 'train');
    const counts = writeMedmnistDicom({ npz: NPZ, split: 'train', outDir: all, labelIds: { 0: 'normal', 1: 'pneumonia' }, modality: 'DX', bodyPart: 'CHEST', viewPosition: 'PA' });
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(2000);
    await page.getByTestId('validate-cases').fill(all);
    await page.getByTestId('validate-run').click();
    const progress = page.getByTestId('validate-progress');
    await expect.poll(async () => (await progress.textContent()) ?? '', { timeout: 60_000 }).toMatch(new RegExp(` of ${total} cases`));
    await page.getByTestId('back-to-library').click();
    await page.getByTestId('open-models').click();
    await page.getByTestId('models-page').waitFor();
    // Back on the page: the same run, still going, with its form.
    expect(await page.getByTestId('validate-cases').inputValue()).toBe(all);
    expect(await progress.textContent()).toMatch(new RegExp(` of ${total} cases`));
    expect(await page.getByTestId('validate-run').isDisabled()).toBe(true);
    await page.locator('.validate-panel').scrollIntoViewIfNeeded();
    await screenshot(page, 'models-validate-running.png');
    await page.getByTestId('validate-cancel').click();
    await page.getByTestId('validate-cancelled').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('validate-cancelled').textContent()).toBe('Validation cancelled: nothing was scored.');
    expect(await page.getByTestId('validation-metrics').count()).toBe(0);
    expect(await page.getByTestId('validate-run').isDisabled()).toBe(false);
    await screenshot(page, 'models-validate-cancelled.png');
    expect(session.pageErrors).toEqual([]);
  });
});
