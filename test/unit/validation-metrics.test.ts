/**
 * Local-validation metrics: the same definitions as models/training/metrics.py
 * (reference values below were computed with it).
 */
import { describe, expect, it } from 'vitest';
import { auc, bootstrapCi, calibration, confusionAt, pointMetrics, quantile, rates, rocCurve, seededRandom, validationMetrics } from '../../electron/services/ai/validation-metrics';

const y = [1, 1, 1, 0, 0, 0, 0, 1, 0, 1];
const p = [0.9, 0.8, 0.4, 0.4, 0.1, 0.35, 0.7, 0.6, 0.2, 0.95];

describe('validation metrics', () => {
  it('AUC is the Mann-Whitney statistic with ties counted one half', () => {
    expect(auc(y, p)).toBeCloseTo(0.9, 12);
    expect(auc([1, 0], [0.5, 0.5])).toBe(0.5);
    expect(auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])).toBe(1);
    expect(auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])).toBe(0);
    expect(auc([1, 1], [0.1, 0.2])).toBeNull();
  });

  it('confusion matrix and rates at the operating point (score >= threshold is positive)', () => {
    const c = confusionAt(y, p, 0.5);
    expect(c).toEqual({ tp: 4, fp: 1, tn: 4, fn: 1 });
    expect(rates(c)).toEqual({ accuracy: 0.8, sensitivity: 0.8, specificity: 0.8, ppv: 0.8, npv: 0.8, f1: 0.8 });
    expect(confusionAt([1, 0], [0.5, 0.49], 0.5)).toEqual({ tp: 1, fp: 0, tn: 1, fn: 0 });
    expect(rates({ tp: 0, fp: 0, tn: 3, fn: 0 }).ppv).toBeNull();
  });

  it('ROC curve over distinct scores matches the training-side curve', () => {
    const roc = rocCurve(y, p);
    expect(roc.map((r) => r.fpr)).toEqual([0, 0, 0, 0, 0.2, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(roc.map((r) => r.tpr)).toEqual([0, 0.2, 0.4, 0.6, 0.6, 0.8, 1, 1, 1, 1]);
    expect(roc[0]!.threshold).toBe(Infinity);
  });

  it('calibration: ECE over 10 equal-width bins and Brier score', () => {
    const m = pointMetrics(y, p, 0.5);
    expect(m.ece).toBeCloseTo(0.23, 12);
    expect(m.brier).toBeCloseTo(0.1395, 12);
    const bins = calibration([1, 0, 1], [1, 0, 0.55]).bins;
    expect(bins[9]).toMatchObject({ n: 1, observed: 1, meanPredicted: 1 });
    expect(bins[5]).toMatchObject({ n: 1, observed: 1 });
    expect(bins[3]).toMatchObject({ n: 0, observed: null });
  });

  it('bootstrap CIs are seeded, bracket the point estimate and shrink with more cases', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    const r1 = seededRandom(7);
    const r2 = seededRandom(7);
    expect([r1(), r1(), r1()]).toEqual([r2(), r2(), r2()]);
    const a = bootstrapCi(y, p, 0.5, 500, 1);
    expect(a).toEqual(bootstrapCi(y, p, 0.5, 500, 1));
    expect(a.auc[0]!).toBeLessThanOrEqual(0.9);
    expect(a.auc[1]!).toBeGreaterThanOrEqual(0.9);
    const yy = Array.from({ length: 40 }, () => y).flat();
    const pp = Array.from({ length: 40 }, () => p).flat();
    const b = bootstrapCi(yy, pp, 0.5, 500, 1);
    expect(b.auc[1]! - b.auc[0]!).toBeLessThan(a.auc[1]! - a.auc[0]!);
  });

  it('validationMetrics bundles everything vigil validate reports', () => {
    const v = validationMetrics(y, p, 0.5, { resamples: 200 });
    expect(v).toMatchObject({ n: 10, positives: 5, threshold: 0.5, confusion: { tp: 4, fp: 1, tn: 4, fn: 1 }, accuracy: 0.8 });
    expect(v.auc).toBeCloseTo(0.9, 12);
    expect(v.ciMethod).toContain('200 resamples');
    expect(v.reliability).toHaveLength(10);
  });
});
