import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importThroughUi, makeTempDir, openVigil, removeDir, screenshot, type VigilSession, waitForImportSummary } from './support/vigil-bridge';
import { type SyntheticCorpus, writeSyntheticCorpus } from './support/synthetic-corpus';

describe('importing a folder through the study browser', () => {
  let session: VigilSession;
  let corpusDir: string;
  let corpus: SyntheticCorpus;

  beforeAll(async () => {
    corpusDir = makeTempDir('corpus');
    corpus = writeSyntheticCorpus(join(corpusDir, 'incoming'));
    session = await openVigil();
  });

  afterAll(async () => {
    await session?.close();
    if (corpusDir) removeDir(corpusDir);
  });

  it('starts on the empty library', async () => {
    const { page } = session;
    await page.getByTestId('empty-state').waitFor();
    expect(await page.getByTestId('empty-state').textContent()).toContain('Your library is empty');
    await screenshot(page, 'empty-library.png');
  });

  it('imports the picked folder and lists its studies', async () => {
    const { page } = session;
    await importThroughUi(page, 'folder', corpus.root);
    const summary = await waitForImportSummary(page);
    expect(summary).toContain('6 imported');
    const rows = page.getByTestId('study-row');
    await expect.poll(() => rows.count()).toBe(2);
    const doe = rows.filter({ hasText: 'Doe, Jane' });
    expect(await doe.count()).toBe(1);
    const doeText = (await doe.textContent()) ?? '';
    expect(doeText).toContain('PID-DOE-1');
    expect(doeText).toContain('1962-03-14');
    expect(doeText).toContain('2024-03-11');
    expect(doeText).toContain('CT CHEST WITH CONTRAST');
    expect(await page.getByTestId('study-count').textContent()).toContain('2');
  });

  it('lists each rejected file with its reason', async () => {
    const { page } = session;
    const rejected = page.getByTestId('rejected-file');
    const notes = rejected.filter({ hasText: 'notes.txt' });
    expect(await notes.count()).toBe(1);
    const text = (await notes.textContent()) ?? '';
    expect(text).toMatch(/DICOM/i);
    // Shown as the path the user picked, not the bridge's staging copy.
    expect(text).toContain('incoming/notes.txt');
    expect(text).not.toContain('staging');
    // The truncated file is either rejected with a reason or (if the library salvages it) listed as a study.
    const truncatedRejected = await rejected.filter({ hasText: 'truncated.dcm' }).count();
    if (truncatedRejected === 0) console.warn('[e2e] truncated.dcm was not rejected by the library');
  });

  it('narrows the rows when searching and expands a study into its series', async () => {
    const { page } = session;
    const rows = page.getByTestId('study-row');
    await page.getByTestId('search-input').fill('roe');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('Roe, Richard');
    await page.getByTestId('search-input').fill('ACC-3101');
    await expect.poll(async () => (await rows.count()) === 1 && ((await rows.first().textContent()) ?? '').includes('Doe, Jane')).toBe(true);
    await page.getByTestId('search-input').fill('');
    await expect.poll(() => rows.count()).toBe(2);

    await page.getByTestId('modality-filter').selectOption('MR');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByTestId('modality-filter').selectOption('');
    await expect.poll(() => rows.count()).toBe(2);

    await page.getByTestId('sort-patientName').click();
    await expect.poll(async () => (await rows.first().textContent())?.includes('Doe, Jane')).toBe(true);
    await page.getByTestId('sort-patientName').click();
    await expect.poll(async () => (await rows.first().textContent())?.includes('Roe, Richard')).toBe(true);

    const doe = rows.filter({ hasText: 'Doe, Jane' });
    await doe.click();
    const series = page.getByTestId('series-row');
    await expect.poll(() => series.count()).toBe(2);
    const seriesText = await series.allTextContents();
    expect(seriesText[0]).toContain('Scout');
    expect(seriesText[1]).toContain('Axial 1.25mm');
    await screenshot(session.page, 'study-browser.png');
  });

  it('cleans up the upload staging folder and reports no page errors', async () => {
    const staging = join(session.bridge.dataDir, 'staging');
    await expect.poll(() => (existsSync(staging) ? readdirSync(staging).length : 0), { timeout: 10_000 }).toBe(0);
    expect(session.pageErrors).toEqual([]);
    expect(session.dialogs).toEqual([]);
  });

  it('serves stored instances to the page with the token only', async () => {
    const { page, bridge } = session;
    const uid = corpus.sopInstanceUids[0]!;
    // A string (browser code; the Node test project has no DOM typings).
    const result = await page.evaluate(`(async () => {
      const u = ${JSON.stringify(uid)};
      const withToken = await fetch('/dicom/instances/' + u + '?token=' + new URLSearchParams(location.search).get('token'));
      const bytes = new Uint8Array(await withToken.arrayBuffer());
      const without = await fetch('/dicom/instances/' + u);
      return { status: withToken.status, type: withToken.headers.get('content-type'), magic: String.fromCharCode(...bytes.slice(128, 132)), without: without.status };
    })()`);
    expect(result).toEqual({ status: 200, type: 'application/dicom', magic: 'DICM', without: 403 });
    expect(bridge.token).toMatch(/^[0-9a-f]{64}$/);
  });
});
