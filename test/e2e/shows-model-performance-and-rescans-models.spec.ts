/**
 * The Models page through the bridge: the chosen model's shipped performance
 * (metrics.json: AUC with CI, operating point, ROC, reliability diagram), and
 * "Rescan models" picking up a package copied into the user models folder
 * while the app runs — no restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

interface MetricsFile {
  test: { auc: number; reliability: { n: number }[]; roc?: { fpr: number[] } };
}

const metricsOf = (id: string) => JSON.parse(readFileSync(join(repoRoot, 'models', id, 'metrics.json'), 'utf8')) as MetricsFile;

describe('Models page: shipped performance and rescan', () => {
  let session: VigilSession;
  let tmp: string;
  let dataDir: string;

  beforeAll(async () => {
    tmp = makeTempDir('models-page');
    dataDir = join(tmp, 'library');
    installRepoModel(dataDir, 'cxr-pneumonia');
    session = await openVigil({ dataDir, viewport: { width: 1440, height: 1000 } });
  });

  afterAll(async () => {
    await session?.close();
    if (tmp) removeDir(tmp);
  });

  it('shows the chosen model’s AUC, operating point, ROC and reliability bins from its metrics.json', async () => {
    const { page } = session;
    await page.getByTestId('open-models').click();
    const detail = page.getByTestId('model-detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-model-id')).toBe('cxr-pneumonia');
    const shipped = metricsOf('cxr-pneumonia');
    expect(await detail.getByTestId('model-detail-summary').textContent()).toContain(`AUC ${shipped.test.auc.toFixed(3)}`);
    expect(await detail.getByTestId('reliability-bin').count()).toBe(shipped.test.reliability.filter((b) => b.n > 0).length);
    expect(await detail.getByTestId('shipped-roc-operating-point').count()).toBe(1);
    expect(await detail.getByTestId('shipped-roc-path').count()).toBe(shipped.test.roc ? 1 : 0);
    await screenshot(page, 'models-page.png', true);
    expect(session.pageErrors).toEqual([]);
  });

  it('"Rescan models" lists a package added to the user folder while running, and shows its metrics', async () => {
    const { page } = session;
    expect(await page.locator('[data-testid="model-item"][data-model-id="us-breast-malignancy"]').count()).toBe(0);
    installRepoModel(dataDir, 'us-breast-malignancy');
    await page.getByTestId('models-rescan').click();
    await expect.poll(() => page.getByTestId('models-rescan-status').textContent().catch(() => null), { timeout: 30_000 }).toContain('1 added, 0 changed, 0 removed');
    const item = page.locator('[data-testid="model-item"][data-model-id="us-breast-malignancy"]');
    expect(await item.textContent()).toContain('ok');
    await item.locator('input[type="radio"]').check();
    const detail = page.getByTestId('model-detail');
    await expect.poll(() => detail.getAttribute('data-model-id')).toBe('us-breast-malignancy');
    const shipped = metricsOf('us-breast-malignancy');
    expect(await detail.getByTestId('reliability-bin').count()).toBe(shipped.test.reliability.filter((b) => b.n > 0).length);
    await screenshot(page, 'models-page-after-rescan.png', true);
    expect(session.pageErrors).toEqual([]);
  });
});
