/**
 * Cancelling an analysis while the model runs, from the AI queue: the job says it is stopping after its current step
 * (a run inside ONNX Runtime is never cut, which would take the app down), then leaves the queue as cancelled, with no
 * result, and the app keeps working: the same model runs the series to the end afterwards.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisJob } from '../../contract/ipc-contract';
import { writeConstantCase, writeSlowBrightnessClassifier } from '../fixtures/models/model-package-fixture';
import { importByReference, openStudy, studyResults, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

const STUDY = '1.2.826.0.1.3680043.10.1138.911';
const MODEL = 'test-slow-brightness';
/** One model run per image, each a second or so inside ONNX Runtime: the job runs for several seconds. */
const IMAGES = 6;

let tmp: string;
let session: VigilSession;

beforeAll(async () => {
  tmp = makeTempDir('cancel-analysis');
  const dataDir = join(tmp, 'library');
  mkdirSync(dataDir, { recursive: true });
  writeSlowBrightnessClassifier(join(dataDir, 'models', 'slow'), { size: 1024, matmuls: 20 });
  for (let i = 1; i <= IMAGES; i++) writeConstantCase(join(tmp, 'series', `${i}.dcm`), { study: STUDY, series: 1, image: i, value: 90 });
  session = await openVigil({ dataDir });
  await importByReference(session.bridge, [join(tmp, 'series')]);
});

afterAll(async () => {
  await session?.close();
  removeDir(tmp);
});

describe('cancelling a running analysis', () => {
  it('says the job is stopping after its current step, then drops it as cancelled; the model then runs to the end', async () => {
    const { page, bridge } = session;
    await page.reload();
    await openStudy(page, STUDY);
    await waitForRender(page);
    const job = async (): Promise<AnalysisJob | undefined> => {
      const r = await bridge.invoke<{ jobs: AnalysisJob[] }>('analysis.jobs', {});
      return r.ok ? r.value.jobs.find((j) => j.modelId === MODEL) : undefined;
    };

    await page.getByTestId('run-model-select').selectOption(MODEL);
    await page.getByTestId('run-model').click();
    const item = page.locator('[data-testid="queue-item"][data-status="running"]');
    await item.waitFor({ timeout: 30_000 });
    await item.getByTestId('queue-cancel').click();
    // Until the worker has left the job (the model run it is in ends first): said so, and no second cancel.
    expect(await item.getByTestId('queue-status').textContent()).toBe('Stopping after the current step…');
    expect(await item.getByTestId('queue-cancel').isDisabled()).toBe(true);
    await screenshot(page, 'ai-queue-stopping.png');
    await expect.poll(() => page.getByTestId('queue-item').count(), { timeout: 30_000 }).toBe(0);
    expect(await job()).toMatchObject({ status: 'cancelled', reason: 'cancelled by the user' });
    expect((await studyResults(bridge, STUDY)).filter((r) => r.modelId === MODEL)).toEqual([]);

    // The app is still here, and the model runs the whole series.
    await page.getByTestId('run-model').click();
    await expect.poll(async () => (await job())?.status, { timeout: 60_000 }).toBe('done');
    const [result] = (await studyResults(bridge, STUDY)).filter((r) => r.modelId === MODEL);
    expect(result?.inputSopInstanceUids).toHaveLength(IMAGES);
    expect(session.pageErrors).toEqual([]);
  });
});
