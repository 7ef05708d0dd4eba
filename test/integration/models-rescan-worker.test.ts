/**
 * models.rescan with the bundled inference worker (the product path): a
 * package whose model.onnx was replaced in place runs its new graph after the
 * rescan. The worker keeps sessions cached by model path, so this proves the
 * stale session is evicted in the worker thread, not only in-process.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { ensureBuilt, openServicesOnBuiltWorker } from './helpers';

const STUDY = '1.2.826.0.1.3680043.10.1138.990';
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('models.rescan with the inference worker', () => {
  let root: string;
  let services: VigilServices;
  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'vigil-rescan-worker-'));
    mkdirSync(join(root, 'in'));
    writeFileSync(join(root, 'in', '1.dcm'), syntheticDicom({ rows: 8, columns: 8, pixels: new Uint16Array(64).fill(1), studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.1` }));
    const onnx = tinyClassifierModel({ w: 4, b: -2 });
    writeModelPackage(join(root, 'models', 'cls'), onnx, classifierManifest(onnx, { id: 'cls', preprocessing: [{ op: 'modalityRescale' }] }));
    services = await openServicesOnBuiltWorker(root, { importWorkers: 0, inferenceThreads: 1 });
    await services.library.import({ paths: [join(root, 'in')] });
  });
  afterAll(async () => {
    await services?.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function scoreOfRun(): Promise<{ score: number | undefined; sha: string }> {
    await services.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'cls', provider: 'cpu' });
    await services.analysis.queue.whenIdle();
    const [result] = services.analysis.resultsForStudy(STUDY);
    expect(result?.status, result?.reason ?? '').toBe('done');
    return { score: result!.findings[0]?.score, sha: result!.modelSha256 };
  }

  it('runs the replaced graph after the rescan', async () => {
    expect((await scoreOfRun()).score).toBeCloseTo(sigmoid(2), 5);
    const replaced = tinyClassifierModel({ w: -4, b: 2 });
    writeModelPackage(join(root, 'models', 'cls'), replaced, classifierManifest(replaced, { id: 'cls', version: '1.0.1', preprocessing: [{ op: 'modalityRescale' }] }));
    const r = await services.router.dispatch('models.rescan', {});
    expect(r.ok && (r.value as { changed: string[] }).changed).toEqual([join(root, 'models', 'cls')]);
    const after = await scoreOfRun();
    expect(after.sha).toBe(sha256(replaced));
    expect(after.score).toBeCloseTo(sigmoid(-2), 5);
  });
});
