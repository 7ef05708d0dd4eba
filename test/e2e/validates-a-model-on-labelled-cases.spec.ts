/**
 * Issue 5 / 7 through the bridge: the Models page lists the shipped
 * cxr-pneumonia package and the AI runtime, validates it on a small labelled
 * case set (20 + 20 MedMNIST test images written as DICOM, plus one file that
 * is not DICOM), and shows the metrics table, ROC curve, confusion matrix and
 * the excluded case; "Save report" downloads a self-contained HTML report.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMedmnistDicom } from '../fixtures/medmnist-dicom';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, sharedData, type VigilSession } from './support/vigil-bridge';

const NPZ = join(process.env.VIGIL_MEDMNIST ?? join(sharedData, 'medmnist'), 'pneumoniamnist_kaggle-variant.npz');
const haveData = existsSync(NPZ);
if (!haveData) console.warn(`\n*** SKIPPED validates-a-model-on-labelled-cases: MedMNIST data not found at ${NPZ} (set VIGIL_MEDMNIST) ***\n`);

const PER_LABEL = 20;

(haveData ? describe : describe.skip)('validating a model on labelled cases (Models page)', () => {
  let session: VigilSession;
  let tmp: string;
  let cases: string;

  beforeAll(async () => {
    tmp = makeTempDir('validate');
    // The MedMNIST test split as DICOM, then the first 20 cases of each label.
    const all = join(tmp, 'all');
    writeMedmnistDicom({ npz: NPZ, split: 'test', outDir: all, labelIds: { 0: 'normal', 1: 'pneumonia' }, modality: 'DX', bodyPart: 'CHEST', viewPosition: 'PA' });
    cases = join(tmp, 'cases');
    for (const label of ['normal', 'pneumonia']) {
      mkdirSync(join(cases, label), { recursive: true });
      for (const f of readdirSync(join(all, label)).sort().slice(0, PER_LABEL)) cpSync(join(all, label, f), join(cases, label, f));
    }
    writeFileSync(join(cases, 'pneumonia', 'notes.txt'), 'not a DICOM file');
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
    await page.getByTestId('validate-run').click();
    const metrics = page.getByTestId('validation-metrics');
    await metrics.waitFor({ timeout: 120_000 });

    const auc = Number((await metrics.locator('[data-metric="auc"] td').first().textContent())?.trim());
    expect(auc).toBeGreaterThan(0.6);
    expect(auc).toBeLessThanOrEqual(1);
    expect(await metrics.locator('[data-metric="auc"]').textContent()).toMatch(/\d\.\d{3}–\d\.\d{3}/);
    expect(await metrics.locator('[data-metric="n"] td').first().textContent()).toBe(String(2 * PER_LABEL));
    for (const key of ['accuracy', 'sensitivity', 'specificity', 'ppv', 'npv', 'f1']) expect(await metrics.locator(`[data-metric="${key}"]`).count()).toBe(1);

    const counts = await Promise.all(['tp', 'fn', 'fp', 'tn'].map(async (k) => Number(((await page.getByTestId(`cm-${k}`).textContent()) ?? '').match(/\d+/)?.[0])));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2 * PER_LABEL);
    expect(counts[0]! + counts[1]!).toBe(PER_LABEL);

    const path = (await page.getByTestId('roc-curve').locator('[data-testid="roc-path"]').getAttribute('d')) ?? '';
    expect(path.split('L').length).toBeGreaterThan(5);
    expect(await page.getByTestId('intended-use').first().textContent()).toContain('Not for clinical use');
    expect(await page.getByTestId('excluded-cases').textContent()).toContain('notes.txt');

    await expect.poll(async () => page.getByTestId('runtime-last-run').textContent()).toContain('cxr-pneumonia');
    await page.getByTestId('validation-metrics').scrollIntoViewIfNeeded();
    const shot = await screenshot(page, 'models-validate.png', true);
    expect(existsSync(shot)).toBe(true);
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
    expect(session.pageErrors).toEqual([]);
  });
});
