/**
 * `vigil models` and `vigil analyze` JSON output, end to end through the built
 * CLI: import, applicability, queue, inference worker, results store.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { ensureBuilt, repoRoot, runCli } from './helpers';

interface ModelsJson {
  models: { id: string; name: string; version: string; status: 'ok' | 'invalid'; reason?: string; path: string }[];
}
export interface AnalyzeJson {
  results: {
    studyInstanceUid: string;
    seriesInstanceUid: string;
    modelId: string;
    modelVersion: string;
    provider: string | null;
    status: string;
    reason?: string;
    findings: { label: string; score: number; positive: boolean }[];
    timingsMs: Record<string, number>;
    outputs?: { kind: string; labels?: { index: number; voxels: number }[]; modelVoxelCounts?: number[] }[];
  }[];
}

let root: string;
const STUDY = '1.2.826.0.1.3680043.10.1138.900';

beforeAll(() => {
  ensureBuilt();
  if (!existsSync(join(repoRoot, 'out/node/inference-worker.js'))) throw new Error('out/node/inference-worker.js missing: run node scripts/build-node.mjs');
  root = mkdtempSync(join(tmpdir(), 'vigil-analyze-'));
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  writeModelPackage(join(root, 'models', 'classifier'), onnx, classifierManifest(onnx));
  writeModelPackage(join(root, 'models', 'broken'), onnx, classifierManifest(onnx, { id: 'broken', sha256: 'f'.repeat(64) }));
  mkdirSync(join(root, 'in'), { recursive: true });
  // A CT series of two images (bright), and an MR image the classifier does not apply to.
  for (let i = 1; i <= 2; i++) {
    const pixels = Uint16Array.from({ length: 64 }, (_, k) => (k < 48 ? 1000 : 0));
    writeFileSync(join(root, 'in', `ct${i}.dcm`), syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${i}`, instanceNumber: i, pixels }));
  }
  writeFileSync(join(root, 'in', 'mr.dcm'), syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.2`, sopInstanceUid: `${STUDY}.2.1`, modality: 'MR', seriesNumber: 2 }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('vigil models --json', () => {
  it('lists packages with status and reasons', () => {
    const r = runCli<ModelsJson>(['models', '--models-dir', join(root, 'models'), '--json']);
    expect(r.code).toBe(0);
    const byId = Object.fromEntries(r.json.models.map((m) => [m.id, m]));
    expect(byId['test-mean-classifier']).toEqual({ id: 'test-mean-classifier', name: 'Test mean-intensity classifier', version: '1.0.0', status: 'ok', path: join(root, 'models', 'classifier') });
    expect(byId.broken).toMatchObject({ status: 'invalid', reason: expect.stringContaining('sha-256'), path: join(root, 'models', 'broken') });
  });
});

describe('vigil analyze --json', () => {
  it('imports, runs applicable models, and reports not-analysed series with the reason', () => {
    const dataDir = join(root, 'data');
    const r = runCli<AnalyzeJson>(['analyze', join(root, 'in'), '--data-dir', dataDir, '--models-dir', join(root, 'models'), '--provider', 'cpu', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ct = r.json.results.find((x) => x.seriesInstanceUid === `${STUDY}.1`);
    const mr = r.json.results.find((x) => x.seriesInstanceUid === `${STUDY}.2`);
    expect(ct).toMatchObject({ studyInstanceUid: STUDY, modelId: 'test-mean-classifier', modelVersion: '1.0.0', provider: 'cpu', status: 'done' });
    // Each image: min-max to [0,1] -> mean 0.75 -> logit 4*0.75-2 = 1 -> sigmoid 0.731.
    expect(ct!.findings).toHaveLength(1);
    expect(ct!.findings[0]!.label).toBe('bright');
    expect(ct!.findings[0]!.score).toBeCloseTo(1 / (1 + Math.exp(-1)), 5);
    expect(ct!.findings[0]!.positive).toBe(true);
    expect(Object.keys(ct!.timingsMs).sort()).toEqual(expect.arrayContaining(['decode', 'inference', 'postprocess', 'preprocess', 'session', 'total']));
    expect(mr).toMatchObject({ status: 'not-analysed', reason: expect.stringContaining('modality MR'), findings: [] });
    expect(r.json.results.some((x) => x.modelId === 'broken')).toBe(false);

    // Analysing again re-uses the library (duplicates) and runs again.
    const again = runCli<AnalyzeJson>(['analyze', join(root, 'in'), '--data-dir', dataDir, '--models-dir', join(root, 'models'), '--model', 'test-mean-classifier', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.results.find((x) => x.seriesInstanceUid === `${STUDY}.1`)?.status).toBe('done');
  });

  it('refuses an invalid model by name with its reason', () => {
    const r = runCli<{ error: { code: string; message: string } }>(['analyze', join(root, 'in'), '--data-dir', join(root, 'data2'), '--models-dir', join(root, 'models'), '--model', 'broken', '--json']);
    expect(r.code).toBe(1);
    expect(r.json.error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('sha-256') });
  });
});
