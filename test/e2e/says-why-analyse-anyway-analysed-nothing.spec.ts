/**
 * "Analyse anyway" answers the refusal the reader saw. When the series changed
 * after that refusal was shown (here: another image of it arrives while the
 * panel still shows the old refusal), the click must not vouch for an image
 * the reader never saw: nothing is analysed, and the fresh refusal says why
 * ("1 image was added") and offers the button again; answering that one runs
 * the model on both images. The open study takes the arriving image in
 * (the viewer reloads on library.changed) and keeps the reader on the image
 * they were reading. The shipped breast model on synthetic B-mode images that
 * record no Body Part Examined.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { importByReference, modelResult, openStudy, overlayImage, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, repoRoot, screenshot, type VigilSession } from './support/vigil-bridge';

const MODEL_ID = 'us-breast-malignancy';
const ready = existsSync(join(repoRoot, 'models', MODEL_ID, 'model.onnx'));
if (!ready) console.warn(`[e2e] SKIPPED: models/${MODEL_ID}/model.onnx is missing`);
const STUDY = '1.2.826.0.1.3680043.10.1138.981';
const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';

/** Image `image` of the one US series: a grey speckle with a dark round "lesion", no Body Part Examined. */
function usImage(image: number): Buffer {
  const size = 128;
  const pixels = Uint8Array.from({ length: size * size }, (_, k) => {
    const r = Math.floor(k / size);
    const c = k % size;
    const lesion = (r - 60 - image * 4) ** 2 + (c - 64) ** 2 < 18 ** 2;
    return lesion ? 20 : 90 + ((r * 31 + c * 17 + image * 7) % 60);
  });
  return syntheticDicom({
    modality: 'US',
    sopClassUid: US_IMAGE_STORAGE,
    studyInstanceUid: STUDY,
    seriesInstanceUid: `${STUDY}.1`,
    sopInstanceUid: `${STUDY}.1.${image}`,
    instanceNumber: image,
    studyDescription: 'Ultrasound',
    seriesDescription: 'B-mode',
    rows: size,
    columns: size,
    pixels,
    extra: [{ tag: 0x00101010, vr: 'AS', value: '054Y' }],
  });
}

describe.skipIf(!ready)('Analyse anyway on a refusal the series has moved past', () => {
  let root: string;
  let session: VigilSession;

  beforeAll(async () => {
    root = makeTempDir('stale-vouch');
    const dataDir = join(root, 'library');
    installRepoModel(dataDir, MODEL_ID);
    mkdirSync(join(root, 'in'));
    writeFileSync(join(root, 'in', '2.dcm'), usImage(2));
    session = await openVigil({ dataDir });
    await importByReference(session.bridge, [join(root, 'in', '2.dcm')]);
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  it('analyses nothing, says an image was added, and runs on the second answer', async () => {
    const { page, bridge } = session;
    await openStudy(page, STUDY);
    await waitForRender(page);
    const runs = page.locator(`[data-testid="finding-run"][data-model-id="${MODEL_ID}"]`);
    await page.getByTestId('run-model').click();
    await expect.poll(() => runs.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('not-analysed');
    expect(await runs.first().getByTestId('vouch-lapsed').count()).toBe(0);

    // Another image of the series arrives (e.g. from the modality) while the panel shows the refusal of one image:
    // instance 1, which sorts before the one on screen.
    writeFileSync(join(root, 'in', '1.dcm'), usImage(1));
    await importByReference(bridge, [join(root, 'in', '1.dcm')]);
    // The open study takes the new image in; the reader stays on the image they were reading (now the second).
    await expect.poll(async () => (await overlayImage(page)).count, { timeout: 15_000 }).toBe(2);
    expect((await overlayImage(page)).index).toBe(2);
    expect(await page.locator('[data-slot="0"] [data-testid="ai-overlay-canvas"]').getAttribute('data-sop')).toBe(`${STUDY}.1.2`);
    await runs.first().getByTestId('analyse-anyway').click();

    const note = runs.first().getByTestId('vouch-lapsed');
    await expect.poll(() => note.count(), { timeout: 30_000 }).toBe(1);
    expect(await runs.first().getAttribute('data-status')).toBe('not-analysed');
    expect(await note.getAttribute('data-answered')).toBe('true');
    const text = (await note.textContent()) ?? '';
    expect(text).toContain('1 image was added');
    expect(text).toMatch(/Nothing was analysed/);
    // The refusal's reason is shown once, the lapse in the note only (not repeated in English in the reason).
    expect(await runs.first().getByTestId('run-not-analysed').textContent()).toMatch(/^Not analysed: body part not recorded[^;]*; the model needs BREAST$/);
    const again = runs.first().getByTestId('analyse-anyway');
    expect(await again.isEnabled()).toBe(true);
    await screenshot(page, 'ai-us-vouch-stale-answer.png');

    // Answering the fresh refusal vouches for both images.
    await again.click();
    await expect.poll(() => runs.first().getAttribute('data-status'), { timeout: 60_000 }).toBe('done');
    expect(await modelResult(bridge, STUDY, MODEL_ID)).toMatchObject({ status: 'done', inputSopInstanceUids: [`${STUDY}.1.1`, `${STUDY}.1.2`] });
    expect(session.pageErrors).toEqual([]);
  });
});
