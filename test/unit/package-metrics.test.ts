/**
 * The performance a package ships (metrics.json) reaches models.list: the
 * shipped models' test-split AUC, operating point and reliability bins as the
 * file states them; nothing for a package without the file, with a malformed
 * one, or with one measured on another model.onnx.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { readPackageMetrics } from '../../electron/services/ai/package-metrics';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';

const SHIPPED = resolve(import.meta.dirname, '../../models');

interface MetricsFile {
  sha256: string;
  positiveLabel: string;
  threshold: number;
  test: { n: number; positives: number; auc: number; sensitivity: number; specificity: number; ece: number; ci95: { auc: [number, number] }; reliability: unknown[]; roc?: { fpr: number[]; tpr: number[] } };
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-metrics-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('shipped package metrics in models.list', () => {
  it('every shipped model lists the test-split metrics its metrics.json states', async () => {
    const listed = await new ModelRegistry([{ dir: SHIPPED, origin: 'bundled' }]).list();
    expect(listed.length).toBeGreaterThan(0);
    for (const model of listed) {
      expect(model.status, model.reason).toBe('ok');
      const file = JSON.parse(readFileSync(join(model.path, 'metrics.json'), 'utf8')) as MetricsFile;
      expect(model.metrics, model.id).toEqual({
        split: 'test',
        n: file.test.n,
        positives: file.test.positives,
        positiveLabel: file.positiveLabel,
        dataset: expect.any(String),
        auc: file.test.auc,
        aucCi95: file.test.ci95.auc,
        threshold: file.threshold,
        sensitivity: file.test.sensitivity,
        specificity: file.test.specificity,
        ece: file.test.ece,
        reliability: file.test.reliability,
        roc: file.test.roc ?? null,
      });
      expect(model.metrics!.reliability.length).toBeGreaterThan(0);
    }
  });
});

describe('readPackageMetrics', () => {
  const onnx = tinyClassifierModel();
  const metrics = (overrides: Record<string, unknown> = {}) => ({
    sha256: sha256(onnx),
    positiveLabel: 'bright',
    threshold: 0.5,
    test: { n: 10, positives: 4, auc: 0.8, reliability: [{ lo: 0, hi: 1, n: 10, meanPredicted: 0.4, observed: 0.4 }] },
    ...overrides,
  });

  it('reads a package without the optional fields', () => {
    const dir = writeModelPackage(join(root, 'p'), onnx, classifierManifest(onnx), { 'metrics.json': JSON.stringify(metrics()) });
    expect(readPackageMetrics(dir, sha256(onnx))).toEqual({
      split: 'test', n: 10, positives: 4, positiveLabel: 'bright', dataset: null, auc: 0.8, aucCi95: null, threshold: 0.5, sensitivity: null, specificity: null, ece: null,
      reliability: [{ lo: 0, hi: 1, n: 10, meanPredicted: 0.4, observed: 0.4 }], roc: null,
    });
  });

  it('has none without the file, with a malformed file, or for another model.onnx', () => {
    const dir = writeModelPackage(join(root, 'p'), onnx, classifierManifest(onnx));
    expect(readPackageMetrics(dir, sha256(onnx))).toBeNull();
    writeFileSync(join(dir, 'metrics.json'), '{ not json');
    expect(readPackageMetrics(dir, sha256(onnx))).toBeNull();
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics({ test: { n: 'ten' } })));
    expect(readPackageMetrics(dir, sha256(onnx))).toBeNull();
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics({ test: { n: 10, positives: 4, roc: { fpr: [0, 1], tpr: [0] } } })));
    expect(readPackageMetrics(dir, sha256(onnx))).toBeNull();
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics({ sha256: '0'.repeat(64) })));
    expect(readPackageMetrics(dir, sha256(onnx))).toBeNull();
  });
});
