import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseManifest } from '../../electron/services/ai/model-manifest';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { externalDataLocations } from '../../electron/services/ai/onnx-external-data';
import { initializerBytes, tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-models-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('model manifest schema', () => {
  const onnx = tinyClassifierModel();
  it('accepts a complete manifest', () => {
    expect(parseManifest(classifierManifest(onnx)).ok).toBe(true);
  });
  it('rejects an unknown schema version with a clear reason', () => {
    const r = parseManifest({ ...classifierManifest(onnx), schemaVersion: 6 });
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('schemaVersion 6 is not supported') });
  });
  it('requires the clinicalUse flag', () => {
    const { clinicalUse: _drop, ...rest } = classifierManifest(onnx);
    const r = parseManifest(rest);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('clinicalUse');
  });
  it('rejects unknown keys, bad ids, bad hashes and unknown preprocessing ops', () => {
    const base = classifierManifest(onnx);
    expect(parseManifest({ ...base, extra: 1 }).ok).toBe(false);
    expect(parseManifest({ ...base, id: 'Has Spaces' }).ok).toBe(false);
    expect(parseManifest({ ...base, sha256: 'abc' }).ok).toBe(false);
    expect(parseManifest({ ...base, preprocessing: [{ op: 'sharpen' }] }).ok).toBe(false);
  });
  it('checks layout against the unit of input and shape rank', () => {
    const base = classifierManifest(onnx);
    const volume = { ...base, input: { unit: 'volume', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 'H', 'W'], layout: 'NCHW' }] } };
    expect(parseManifest(volume).ok).toBe(false);
    const rank = { ...base, input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 'H', 'W'], layout: 'NCHW' }] } };
    expect(parseManifest(rank).ok).toBe(false);
  });
  it('validates orientation codes and per-label thresholds', () => {
    const base = classifierManifest(onnx);
    const reorient = (orientation: string) => ({ ...base, preprocessing: [{ op: 'reorient', orientation, spacingMm: [1, 1, 1], size: [8, 8, 8], interpolation: 'linear' }] });
    expect(parseManifest(reorient('LIA')).ok).toBe(true);
    expect(parseManifest(reorient('LLA')).ok).toBe(false);
    const thresholds = { ...base, outputs: [{ kind: 'classification', tensor: 'logits', labels: ['a', 'b'], activation: 'sigmoid', thresholds: [0.5] }] };
    expect(parseManifest(thresholds).ok).toBe(false);
  });
  it('accepts case-level aggregation by a second model (schema version 2) and checks where it applies', () => {
    const base = { ...classifierManifest(onnx, { input: { unit: 'slices', tensors: [{ name: 'image', dtype: 'float32', shape: ['N', 1, 'H', 'W'], layout: 'NCHW' }] } }), schemaVersion: 2 };
    const model = {
      method: 'model',
      onnx: 'aggregator.onnx',
      sha256: 'a'.repeat(64),
      embeddingOutput: 'embedding',
      input: { name: 'embeddings', dtype: 'float32', shape: [1, 'S', 12], layout: 'NSE' },
      output: { kind: 'classification', tensor: 'case_logits', labels: ['finding'], activation: 'sigmoid', thresholds: 0.5 },
    };
    expect(parseManifest({ ...base, aggregation: { method: 'mean' } }).ok).toBe(true);
    expect(parseManifest({ ...base, aggregation: model })).toMatchObject({ ok: true, manifest: { schemaVersion: 2, aggregation: { method: 'model' } } });
    const reason = (m: unknown) => {
      const r = parseManifest(m);
      return r.ok ? 'ok' : r.reason;
    };
    // Version 1 keeps max/mean only (a version-1 reader would not know the second model).
    expect(reason({ ...base, schemaVersion: 1, aggregation: { method: 'max' } })).toBe('ok');
    expect(reason({ ...base, schemaVersion: 1, aggregation: model })).toMatch(/aggregation\.method: aggregation by a model needs schemaVersion 2/);
    expect(reason({ ...base, aggregation: { ...model, onnx: '../aggregator.onnx' } })).toMatch(/aggregation\.onnx: a plain \.onnx file name/);
    expect(reason({ ...base, aggregation: { ...model, onnx: 'model.onnx' } })).toMatch(/other than model\.onnx/);
    expect(reason({ ...base, aggregation: { ...model, input: { ...model.input, shape: ['S', 12] } } })).toMatch(/same rank/);
    expect(reason({ ...base, aggregation: { ...model, output: { ...model.output, thresholds: [0.5, 0.5] } } })).toMatch(/one threshold per label/);
    const sequence = { ...base, input: { unit: 'slices', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 'S', 1, 'H', 'W'], layout: 'NSCHW' }] }, aggregation: model };
    expect(reason(sequence)).toMatch(/per-slice input/);
    expect(reason({ ...classifierManifest(onnx), schemaVersion: 2, aggregation: model })).toMatch(/aggregation applies to unit "slices"/);
  });
});

describe('ModelRegistry', () => {
  async function listOf(dirs: string[]) {
    const registry = new ModelRegistry(dirs.map((dir, i) => ({ dir, origin: i === 0 ? 'bundled' : 'user' })));
    return { registry, list: await registry.list() };
  }

  it('loads a valid package and lists it as ok', async () => {
    const onnx = tinyClassifierModel();
    writeModelPackage(join(root, 'bundled', 'good'), onnx, classifierManifest(onnx));
    const { registry, list } = await listOf([join(root, 'bundled')]);
    expect(list).toEqual([expect.objectContaining({ id: 'test-mean-classifier', status: 'ok', version: '1.0.0', origin: 'bundled' })]);
    expect((await registry.ready()).map((m) => m.manifest.id)).toEqual(['test-mean-classifier']);
  });

  it('rejects a bad sha-256 and never offers the package to run', async () => {
    const onnx = tinyClassifierModel();
    writeModelPackage(join(root, 'm', 'bad-hash'), onnx, classifierManifest(onnx, { sha256: '0'.repeat(64) }));
    const { registry, list } = await listOf([join(root, 'm')]);
    expect(list[0]).toMatchObject({ status: 'invalid', reason: expect.stringContaining('sha-256 of model.onnx is') });
    expect(await registry.ready()).toEqual([]);
    expect(await registry.get('test-mean-classifier')).toBeNull();
  });

  it('rejects a declared input name that the graph does not have', async () => {
    const onnx = tinyClassifierModel({ inputName: 'pixels' });
    writeModelPackage(join(root, 'm', 'wrong-input'), onnx, classifierManifest(onnx));
    const { list } = await listOf([join(root, 'm')]);
    expect(list[0]).toMatchObject({ status: 'invalid', reason: expect.stringContaining('declared input "image" is not an input of the graph') });
  });

  it('rejects a declared output the graph does not have', async () => {
    const onnx = tinyClassifierModel();
    const manifest = classifierManifest(onnx, { outputs: [{ kind: 'classification', tensor: 'probs', labels: ['x'], activation: 'sigmoid', thresholds: 0.5 }] });
    writeModelPackage(join(root, 'm', 'wrong-output'), onnx, manifest);
    const { list } = await listOf([join(root, 'm')]);
    expect(list[0]).toMatchObject({ status: 'invalid', reason: expect.stringContaining('declared output "probs"') });
  });

  it('rejects external data that escapes the package folder, before ONNX Runtime opens it', async () => {
    const onnx = tinyClassifierModel({ externalLocation: '../secret.bin' });
    expect(externalDataLocations(onnx)).toEqual(['../secret.bin']);
    writeFileSync(join(root, 'secret.bin'), initializerBytes({ name: 'w', dims: [1], data: [4] }));
    writeModelPackage(join(root, 'm', 'escape'), onnx, classifierManifest(onnx));
    const abs = tinyClassifierModel({ externalLocation: '/etc/passwd' });
    writeModelPackage(join(root, 'm', 'absolute'), abs, classifierManifest(abs, { id: 'absolute' }));
    const { list } = await listOf([join(root, 'm')]);
    expect(list.find((m) => m.path.endsWith('escape'))).toMatchObject({ status: 'invalid', reason: expect.stringContaining('escapes the package folder') });
    expect(list.find((m) => m.path.endsWith('absolute'))).toMatchObject({ status: 'invalid', reason: expect.stringContaining('not a relative path') });
  });

  it('accepts external data inside the folder', async () => {
    const onnx = tinyClassifierModel({ externalLocation: 'weights.bin' });
    writeModelPackage(join(root, 'm', 'external-ok'), onnx, classifierManifest(onnx), { 'weights.bin': initializerBytes({ name: 'w', dims: [1], data: [4] }) });
    const { list } = await listOf([join(root, 'm')]);
    expect(list[0]).toMatchObject({ status: 'ok' });
  });

  it('reports a missing model card, broken JSON, an unopenable graph and duplicate ids', async () => {
    const onnx = tinyClassifierModel();
    const noCard = writeModelPackage(join(root, 'm', 'a-no-card'), onnx, classifierManifest(onnx, { id: 'no-card' }));
    rmSync(join(noCard, 'MODEL_CARD.md'));
    mkdirSync(join(root, 'm', 'b-broken-json'));
    writeFileSync(join(root, 'm', 'b-broken-json', 'manifest.json'), '{ nope');
    const garbage = Buffer.from('not an onnx file at all');
    writeModelPackage(join(root, 'm', 'c-garbage'), garbage, classifierManifest(garbage, { id: 'garbage' }));
    writeModelPackage(join(root, 'm', 'd-first'), onnx, classifierManifest(onnx, { id: 'dup' }));
    writeModelPackage(join(root, 'u', 'd-second'), onnx, classifierManifest(onnx, { id: 'dup' }));
    const { list } = await listOf([join(root, 'm'), join(root, 'u')]);
    const by = (suffix: string) => list.find((m) => m.path.endsWith(suffix));
    expect(by('a-no-card')).toMatchObject({ status: 'invalid', reason: 'MODEL_CARD.md is missing' });
    expect(by('b-broken-json')).toMatchObject({ status: 'invalid', reason: expect.stringContaining('not valid JSON') });
    expect(by('c-garbage')?.status).toBe('invalid');
    expect(by('d-first')).toMatchObject({ status: 'ok', origin: 'bundled' });
    expect(by('d-second')).toMatchObject({ status: 'invalid', origin: 'user', reason: expect.stringContaining('already provides model id "dup"') });
  });
});
