import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importThroughUi, openVigil, screenshot, sharedData, type VigilSession, waitForImportSummary } from './support/vigil-bridge';

const hostile = join(sharedData, 'hostile-text');
const present = existsSync(hostile);
if (!present) {
  console.warn(`[e2e] SKIPPING shows-dicom-text-as-text: ${hostile} is missing (the shared hostile-text corpus is not checked out beside the repo).`);
}

describe.skipIf(!present)('DICOM text with markup is shown as text, never executed', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
    await session.page.evaluate('window.__pwned = undefined');
  });

  afterAll(async () => {
    await session?.close();
  });

  it('imports the hostile-text files through the page and renders their text verbatim', async () => {
    const { page } = session;
    await importThroughUi(page, 'folder', hostile);
    await waitForImportSummary(page);
    const rows = page.getByTestId('study-row');
    await expect.poll(() => rows.count()).toBe(5);

    const tableText = (await page.getByTestId('study-table').textContent()) ?? '';
    expect(tableText).toContain('<script>');
    expect(tableText).toContain('<img src=x onerror=');
    expect(tableText).toContain('"><svg onload');
    expect(tableText).toContain('HOSTILE-a-gb18030');
    expect(tableText).toMatch(/王/);
    expect(tableText).toMatch(/Müller/);

    // Expand every study so series descriptions (javascript: URLs, HTML) are rendered too.
    for (let i = 0; i < 5; i++) await rows.nth(i).click();
    await expect.poll(() => page.getByTestId('series-row').count()).toBe(5);
    const seriesText = (await page.getByTestId('series-row').allTextContents()).join('\n');
    expect(seriesText).toContain('javascript:window.__pwned=1');

    // A string (browser code; the Node test project has no DOM typings).
    const dom = await page.evaluate(`({
      pwned: window.__pwned,
      inlineScripts: document.querySelectorAll('script:not([src])').length,
      svgs: document.querySelectorAll('svg[onload]').length,
      imgs: document.querySelectorAll('img').length,
      links: document.querySelectorAll('a[href^="javascript"]').length,
      bold: document.querySelectorAll('b').length,
    })`);
    expect(dom).toEqual({ pwned: undefined, inlineScripts: 0, svgs: 0, imgs: 0, links: 0, bold: 0 });
    expect(session.dialogs).toEqual([]);
    expect(session.pageErrors).toEqual([]);
    await screenshot(page, 'hostile-text.png');
  });
});
