/**
 * The shipped paediatric chest X-ray model on real chest radiographs, through
 * the bridge and the real renderer: an adult film (Birth Date 1940, studied
 * 2004) is still analysed and scored, and its run header warns that the
 * patient is outside the population the model was trained for; a film without
 * any age gives no warning and says the age is unknown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusOrSkip, importByReference, openStudy, waitForRender } from './support/viewer';
import { installRepoModel, makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const ADULT = corpusOrSkip('dicom-pydicom/pydicom-data/data/RG1_J2KI.dcm');
const AGE_UNKNOWN = corpusOrSkip('dicom-misc/dwv/gdcm-CR-MONO1-10-chest.dcm');

describe.skipIf(!ADULT || !AGE_UNKNOWN)('the intended population of a model in the findings panel', () => {
  let root: string;
  let session: VigilSession;
  let studies: { studyInstanceUid: string; description: string }[];

  beforeAll(async () => {
    root = makeTempDir('population');
    installRepoModel(root, 'cxr-pneumonia');
    session = await openVigil({ dataDir: root });
    studies = await importByReference(session.bridge, [ADULT!, AGE_UNKNOWN!]);
  });
  afterAll(async () => {
    await session?.close();
    if (root) removeDir(root);
  });

  async function runCxr(studyInstanceUid: string) {
    const { page } = session;
    await openStudy(page, studyInstanceUid);
    await waitForRender(page);
    await page.getByTestId('run-model').click();
    const run = page.locator('[data-testid="finding-run"][data-model-id="cxr-pneumonia"]');
    await expect.poll(() => run.getAttribute('data-status'), { timeout: 90_000 }).toBe('done');
    return run;
  }

  it('scores the adult film and warns in the run header that the patient is outside the model\'s population', async () => {
    const adult = studies.find((s) => s.description === 'THORAX')!;
    const run = await runCxr(adult.studyInstanceUid);
    expect(await run.getByTestId('population-warning').textContent()).toBe('Outside intended population: patient 64 y; model intended for 1–5 y');
    // A warning, not a refusal: the scores are there.
    expect(await run.getByTestId('finding-item').count()).toBe(2);
    await screenshot(session.page, 'population-warning-adult-cxr.png');
    expect(session.pageErrors).toEqual([]);
  });

  it('gives no warning for a film without any age, and says the age is unknown', async () => {
    const unknown = studies.find((s) => s.description !== 'THORAX')!;
    const run = await runCxr(unknown.studyInstanceUid);
    expect(await run.getByTestId('population-warning').count()).toBe(0);
    expect(await run.getByTestId('run-population').textContent()).toBe('Patient age unknown; model intended for 1–5 y');
    await screenshot(session.page, 'population-age-unknown-cxr.png');
    expect(session.pageErrors).toEqual([]);
  });
});
