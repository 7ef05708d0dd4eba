/**
 * The runtime is proven on three architectures — a CNN classifier, a GRU over
 * a slice sequence (case-level aggregation) and a ViT-style self-attention
 * model — exported from PyTorch by the test helper and run through the product
 * pipeline (DICOM decode, declared preprocessing, ONNX Runtime,
 * post-processing). Scores must match torch's to 1e-5. Case-level aggregation
 * by a second model (a per-slice CNN's embeddings read by a GRU head) runs
 * through the whole product path: import, queue, inference worker, results store.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInferenceJob } from '../../electron/services/ai/inference-job';
import type { ModelManifest } from '../../electron/services/ai/model-manifest';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { type AggregatorFixture, type ArchitectureFixture, buildArchitectureFixtures } from '../fixtures/models/architecture-fixtures';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { ensureBuilt, openServicesOnBuiltWorker } from './helpers';

const built = buildArchitectureFixtures();
if ('error' in built) console.warn(`\n!!! Architecture fixture models could not be built (${built.error}): CNN/GRU/attention tests are SKIPPED !!!\n`);

const STUDY = '1.2.826.0.1.3680043.10.1138.700';

describe.skipIf('error' in built)('architecture fixtures through the pipeline', () => {
  let root: string;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-arch-'));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function run(name: string, fx: ArchitectureFixture, manifest: ModelManifest) {
    writeModelPackage(join(root, 'models', name), fx.onnx, manifest);
    const registry = new ModelRegistry([{ dir: join(root, 'models'), origin: 'user' }]);
    const model = await registry.get(manifest.id);
    expect(model, JSON.stringify(await registry.list())).not.toBeNull();
    const [slices, rows, cols] = fx.shape;
    const dir = join(root, 'dicom', name);
    mkdirSync(dir, { recursive: true });
    const files = Array.from({ length: slices }, (_, s) => {
      const file = join(dir, `${s + 1}.dcm`);
      const pixels = fx.pixels.slice(s * rows * cols, (s + 1) * rows * cols);
      // Shuffled instance numbers: the pipeline must stack by position/number, not file order.
      writeFileSync(file, syntheticDicom({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.${name.length}`, sopInstanceUid: `${STUDY}.${name.length}.${s + 1}`, instanceNumber: s + 1, rows, columns: cols, pixels }));
      return file;
    });
    const result = await runInferenceJob({ jobId: name, model: { id: manifest.id, modelPath: model!.modelPath, manifest }, files: files.reverse(), provider: 'cpu', outputDir: join(root, 'out') }, sessions);
    expect(result.status, result.reason).toBe('done');
    expect(result.provider).toBe('cpu');
    return result;
  }

  const base = (fx: ArchitectureFixture, id: string, overrides: Partial<ModelManifest>): ModelManifest =>
    classifierManifest(fx.onnx, { id, name: id, preprocessing: [{ op: 'modalityRescale' }, { op: 'normalize', method: 'minmax' }], ...overrides });

  it('CNN classifier (conv, batch norm, pooling, softmax)', async () => {
    if ('error' in built) return;
    const fx = built.get('cnn');
    const manifest = base(fx, 'fixture-cnn', {
      input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 32, 32], layout: 'NCHW' }] },
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['normal', 'abnormal'], activation: 'softmax', thresholds: [0.5, 0.5] }],
    });
    const r = await run('cnn', fx, manifest);
    expect(r.findings.map((f) => f.label)).toEqual(['normal', 'abnormal']);
    r.findings.forEach((f, i) => expect(Math.abs(f.score - fx.probabilities[i]!)).toBeLessThan(1e-5));
  });

  it('GRU over the slice sequence (case-level prediction)', async () => {
    if ('error' in built) return;
    const fx = built.get('gru');
    const manifest = base(fx, 'fixture-gru', {
      input: { unit: 'slices', tensors: [{ name: 'slices', dtype: 'float32', shape: [1, 'S', 1, 16, 16], layout: 'NSCHW' }] },
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['finding'], activation: 'sigmoid', thresholds: 0.5 }],
    });
    const r = await run('gru', fx, manifest);
    expect(r.inputSopInstanceUids).toHaveLength(6);
    expect(r.inputSopInstanceUids[0]).toMatch(/\.1$/);
    expect(Math.abs(r.findings[0]!.score - fx.probabilities[0]!)).toBeLessThan(1e-5);
  });

  it('ViT-style self-attention model (multi-label sigmoid)', async () => {
    if ('error' in built) return;
    const fx = built.get('attention');
    const manifest = base(fx, 'fixture-attention', {
      input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 32, 32], layout: 'NCHW' }] },
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['a', 'b', 'c'], activation: 'sigmoid', thresholds: [0.3, 0.5, 0.7] }],
    });
    const r = await run('attention', fx, manifest);
    r.findings.forEach((f, i) => {
      expect(Math.abs(f.score - fx.probabilities[i]!)).toBeLessThan(1e-5);
      expect(f.positive).toBe(fx.probabilities[i]! >= [0.3, 0.5, 0.7][i]!);
    });
  });
});

/** The per-slice CNN + GRU-head pair as one package: the GRU reads the CNN's embeddings in slice order. */
function aggregatorManifest(fx: AggregatorFixture, overrides: Partial<Extract<NonNullable<ModelManifest['aggregation']>, { method: 'model' }>> = {}): ModelManifest {
  return classifierManifest(fx.perSliceOnnx, {
    schemaVersion: 2,
    id: 'fixture-slice-gru',
    name: 'fixture-slice-gru',
    preprocessing: [{ op: 'modalityRescale' }, { op: 'normalize', method: 'minmax' }],
    input: { unit: 'slices', tensors: [{ name: 'image', dtype: 'float32', shape: ['N', 1, 16, 16], layout: 'NCHW' }] },
    outputs: [{ kind: 'classification', tensor: 'logits', labels: ['normal', 'abnormal'], activation: 'softmax', thresholds: [0.5, 0.5] }],
    aggregation: {
      method: 'model',
      onnx: 'aggregator.onnx',
      sha256: sha256(fx.aggregatorOnnx),
      embeddingOutput: 'embedding',
      input: { name: 'embeddings', dtype: 'float32', shape: [1, 'S', 12], layout: 'NSE' },
      output: { kind: 'classification', tensor: 'case_logits', labels: ['abnormal case'], activation: 'sigmoid', thresholds: 0.5 },
      ...overrides,
    },
  });
}

function writeSeries(dir: string, fx: { pixels: Uint16Array; shape: [number, number, number] }, study: string, series: string): string[] {
  const [slices, rows, cols] = fx.shape;
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: slices }, (_, s) => {
    const file = join(dir, `${s + 1}.dcm`);
    const pixels = fx.pixels.slice(s * rows * cols, (s + 1) * rows * cols);
    writeFileSync(file, syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: `${series}.${s + 1}`, instanceNumber: s + 1, rows, columns: cols, pixels }));
    return file;
  });
}

describe.skipIf('error' in built)('case-level aggregation by a second model (per-slice CNN embeddings -> GRU head)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-aggregator-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('matches torch end to end through import, queue, worker and results store', async () => {
    if ('error' in built) return;
    ensureBuilt();
    const fx = built.aggregator();
    const manifest = aggregatorManifest(fx);
    writeModelPackage(join(root, 'models', 'slice-gru'), fx.perSliceOnnx, manifest, { 'aggregator.onnx': fx.aggregatorOnnx });
    const study = `${STUDY}.9`;
    writeSeries(join(root, 'dicom'), fx, study, `${study}.1`);
    const services = await openServicesOnBuiltWorker(root, { storageMode: 'reference', importWorkers: 0, inferenceThreads: 1 });
    try {
      expect(await services.models.list()).toEqual([expect.objectContaining({ id: manifest.id, status: 'ok' })]);
      await services.library.import({ paths: [join(root, 'dicom')] });
      await services.analysis.analyze({ studyInstanceUid: study, modelId: manifest.id, provider: 'cpu' });
      await services.analysis.queue.whenIdle();
      const [r] = services.analysis.resultsForStudy(study);
      expect(r?.status, r?.reason ?? '').toBe('done');
      expect(r!.provider).toBe('cpu');
      expect(r!.inputSopInstanceUids).toEqual(Array.from({ length: fx.shape[0] }, (_, s) => `${study}.1.${s + 1}`));
      // The case-level finding is the aggregator's (the per-slice classification gives no findings of its own).
      expect(r!.findings.map((f) => f.label)).toEqual(['abnormal case']);
      expect(Math.abs(r!.findings[0]!.score - fx.caseProbability)).toBeLessThan(1e-5);
      expect(r!.findings[0]!.positive).toBe(fx.caseProbability >= 0.5);
      const perSlice = r!.outputs.find((o) => o.kind === 'classification');
      if (perSlice?.kind !== 'classification') throw new Error('no per-slice classification output');
      expect(perSlice.perImage).toHaveLength(fx.shape[0]);
      perSlice.perImage!.forEach((row, s) => row.forEach((p, k) => expect(Math.abs(p - fx.perSliceProbabilities[s]![k]!)).toBeLessThan(1e-5)));
      const agg = r!.outputs.find((o) => o.kind === 'aggregation');
      expect(agg).toMatchObject({ kind: 'aggregation', tensor: 'case_logits', model: 'aggregator.onnx', modelSha256: sha256(fx.aggregatorOnnx), embeddingOutput: 'embedding', embeddingDims: [1, fx.shape[0], 12], provider: 'cpu', providerNote: null });
      expect(r!.timingsMs.aggregation).toBeGreaterThan(0);
      expect(r!.timingsMs.inference).toBeGreaterThan(0);
    } finally {
      await services.close();
    }
  });

  it('runs in-process with slices in any file order (stacked by position), the same scores', async () => {
    if ('error' in built) return;
    const fx = built.aggregator();
    const manifest = { ...aggregatorManifest(fx), id: 'fixture-slice-gru-local' };
    writeModelPackage(join(root, 'local-models', 'slice-gru'), fx.perSliceOnnx, manifest, { 'aggregator.onnx': fx.aggregatorOnnx });
    const model = await new ModelRegistry([{ dir: join(root, 'local-models'), origin: 'user' }]).get(manifest.id);
    expect(model).not.toBeNull();
    const files = writeSeries(join(root, 'dicom-local'), fx, `${STUDY}.10`, `${STUDY}.10.1`);
    const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
    try {
      const r = await runInferenceJob({ jobId: 'agg', model: { id: manifest.id, modelPath: model!.modelPath, manifest }, files: files.reverse(), provider: 'cpu', outputDir: join(root, 'out') }, sessions);
      expect(r.status, r.reason).toBe('done');
      expect(Math.abs(r.findings[0]!.score - fx.caseProbability)).toBeLessThan(1e-5);
    } finally {
      await sessions.close();
    }
  });

  it('refuses packages whose aggregator is wrong: hash, missing file, names, escaping symlink, a path in the name', async () => {
    if ('error' in built) return;
    const fx = built.aggregator();
    const dir = join(root, 'bad-models');
    const cases: [string, ModelManifest, RegExp][] = [
      ['bad-hash', aggregatorManifest(fx, { sha256: '0'.repeat(64) }), /sha-256 of aggregator\.onnx is [0-9a-f]{64}, the manifest declares 0{64}/],
      ['missing', aggregatorManifest(fx, { onnx: 'head.onnx' }), /aggregator head\.onnx is missing/],
      ['input-name', aggregatorManifest(fx, { input: { name: 'sequence', dtype: 'float32', shape: [1, 'S', 12], layout: 'NSE' } }), /aggregator input "sequence" is not an input of aggregator\.onnx \(graph inputs: embeddings\)/],
      ['embedding', aggregatorManifest(fx, { embeddingOutput: 'features' }), /aggregation\.embeddingOutput "features" is not an output of model\.onnx/],
      ['size', aggregatorManifest(fx, { input: { name: 'embeddings', dtype: 'float32', shape: [1, 'S', 16], layout: 'NSE' } }), /aggregator input "embeddings" dim 2 is 12 in the graph but declared 16/],
      ['output', aggregatorManifest(fx, { output: { kind: 'classification', tensor: 'logit', labels: ['x'], activation: 'sigmoid', thresholds: 0.5 } }), /aggregator output "logit" is not an output of aggregator\.onnx/],
      ['path', aggregatorManifest(fx, { onnx: '../aggregator.onnx' }), /manifest\.json is invalid at aggregation\.onnx: a plain \.onnx file name/],
    ];
    for (const [name, manifest, _] of cases) writeModelPackage(join(dir, name), fx.perSliceOnnx, { ...manifest, id: `agg-${name}` }, { 'aggregator.onnx': fx.aggregatorOnnx });
    // A symlink in the folder pointing at a file outside it.
    writeFileSync(join(root, 'outside.onnx'), fx.aggregatorOnnx);
    writeModelPackage(join(dir, 'symlink'), fx.perSliceOnnx, { ...aggregatorManifest(fx, { onnx: 'linked.onnx' }), id: 'agg-symlink' });
    symlinkSync(join(root, 'outside.onnx'), join(dir, 'symlink', 'linked.onnx'));
    cases.push(['symlink', aggregatorManifest(fx), /aggregator linked\.onnx resolves outside the package folder/]);
    const registry = new ModelRegistry([{ dir, origin: 'user' }]);
    const list = await registry.list();
    for (const [name, , reason] of cases) {
      const entry = list.find((m) => m.path === join(dir, name));
      expect(entry, name).toMatchObject({ status: 'invalid', reason: expect.stringMatching(reason) });
    }
    expect(await registry.ready()).toEqual([]);
  });
});
