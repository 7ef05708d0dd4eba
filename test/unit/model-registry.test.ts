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
    const r = parseManifest({ ...classifierManifest(onnx), schemaVersion: 2 });
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('schemaVersion 2 is not supported') });
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
