import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVigil, screenshot, sharedData, type VigilSession } from './support/vigil-bridge';

const present = existsSync(sharedData);
if (!present) {
  console.warn(`[e2e] SKIPPING imports-shared-corpus: ${sharedData} is missing (the shared real-data corpus is not checked out beside the repo).`);
}

describe.skipIf(!present)('importing the shared real-data corpus', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil({ viewport: { width: 1600, height: 1000 } });
  });

  afterAll(async () => {
    await session?.close();
  });

  it('imports every folder through library.import and shows the studies with live progress', async () => {
    const { page, bridge } = session;
    const pending = bridge.invoke<{ imported: number; rejected: unknown[]; studies: number }>('library.import', { paths: [sharedData] });
    // The page follows the import through import.progress events.
    const sawProgress = await page
      .getByTestId('import-progress')
      .waitFor({ state: 'visible', timeout: 30_000 })
      .then(async () => {
        await screenshot(page, 'import-progress.png').catch(() => undefined);
        return true;
      })
      .catch(() => false);
    const result = await pending;
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.imported).toBeGreaterThan(100);
    if (!sawProgress) console.warn('[e2e] the import finished before the progress bar was seen');

    // library.changed refreshes the table without a reload.
    const rows = page.getByTestId('study-row');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(10);
    await page.getByTestId('import-progress').waitFor({ state: 'detached', timeout: 30_000 });
    const count = (await page.getByTestId('study-count').textContent()) ?? '';
    expect(count).toMatch(/studies/);
    await page.reload();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(10);
    await page.getByTestId('import-summary').waitFor();
    expect(await page.getByTestId('rejected-panel').count()).toBe(1);
    await rows.first().click();
    await page.getByTestId('series-row').first().waitFor();
    await screenshot(page, 'study-browser-corpus.png');
    expect(session.pageErrors).toEqual([]);
  });
});
