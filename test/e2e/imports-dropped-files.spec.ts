import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { openVigil, screenshot, type VigilSession, waitForImportSummary } from './support/vigil-bridge';

describe('dropping files onto the window imports them', () => {
  let session: VigilSession;

  beforeAll(async () => {
    session = await openVigil();
  });
  afterAll(async () => {
    await session?.close();
  });

  it('shows the drop overlay, uploads the dropped files and lists the study', async () => {
    const { page } = session;
    const study = '1.2.826.0.1.3680043.10.1138.91';
    const files = [1, 2].map((i) => ({
      name: `IM${i}.dcm`,
      b64: syntheticDicom({
        patientName: 'Drop^Dana',
        patientId: 'PID-DROP',
        studyInstanceUid: study,
        seriesInstanceUid: `${study}.1`,
        sopInstanceUid: `${study}.1.${i}`,
        instanceNumber: i,
        modality: 'CR',
        studyDescription: 'CHEST PA',
      }).toString('base64'),
    }));
    files.push({ name: 'readme.txt', b64: Buffer.from('not dicom').toString('base64') });

    // Browser code as a string (the Node test project has no DOM typings).
    await page.evaluate(`(() => {
      const dt = new DataTransfer();
      for (const f of ${JSON.stringify(files)}) {
        const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], f.name));
      }
      window.__vigilDrop = dt;
      document.body.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }));
      document.body.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }));
    })()`);
    await page.getByTestId('drop-overlay').waitFor();
    expect(await page.getByTestId('drop-overlay').textContent()).toContain('Drop DICOM files or folders to import');
    await screenshot(page, 'drop-overlay.png');

    await page.evaluate(`document.body.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: window.__vigilDrop }))`);
    await page.getByTestId('drop-overlay').waitFor({ state: 'detached' });
    const summary = await waitForImportSummary(page);
    expect(summary).toContain('2 imported');
    const rows = page.getByTestId('study-row');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('Drop, Dana');
    expect(await page.getByTestId('rejected-file').filter({ hasText: 'readme.txt' }).count()).toBe(1);
    expect(session.pageErrors).toEqual([]);
  });
});
