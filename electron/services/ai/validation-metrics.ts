/**
 * Binary classification metrics for local model validation: AUC, ROC curve,
 * confusion matrix and the rates derived from it, calibration (ECE and a
 * reliability table) and percentile-bootstrap 95% confidence intervals.
 * Definitions match models/training/metrics.py, so `vigil validate` on the
 * training data reproduces the numbers in a package's metrics.json.
 */
import { type CancelCheck, throwIfCancelled } from './run-cancel';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Score at or above which a case is called positive for this point (Infinity for the origin). */
  threshold: number;
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  meanPredicted: number | null;
  observed: number | null;
}

export const METRIC_KEYS = ['auc', 'accuracy', 'sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'ece', 'brier'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];
export type PointMetrics = Record<MetricKey, number | null>;

export interface ValidationMetrics extends PointMetrics {
  n: number;
  positives: number;
  threshold: number;
  confusion: Confusion;
  ci95: Record<MetricKey, [number | null, number | null]>;
  ciMethod: string;
  roc: RocPoint[];
  reliability: ReliabilityBin[];
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Mann-Whitney AUC: P(score of a random positive > score of a random negative), ties count 1/2. Null without both classes. */
export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? pos : neg).push(scores[i]!);
  if (pos.length === 0 || neg.length === 0) return null;
  neg.sort((a, b) => a - b);
  // For every positive: negatives strictly below + half the negatives equal to it.
  const lowerBound = (v: number, strict: boolean) => {
    let lo = 0;
    let hi = neg.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? neg[mid]! < v : neg[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let u = 0;
  for (const p of pos) {
    const below = lowerBound(p, true);
    const belowOrEqual = lowerBound(p, false);
    u += below + 0.5 * (belowOrEqual - below);
  }
  return u / (pos.length * neg.length);
}

/** ROC points over every distinct score, highest first, starting at (0, 0) and ending at (1, 1). */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): RocPoint[] {
  const idx = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let P = 0;
  for (let i = 0; i < labels.length; i++) P += labels[i] === 1 ? 1 : 0;
  const N = labels.length - P;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (labels[i] === 1) tp++;
    else fp++;
    const next = idx[k + 1];
    if (next === undefined || scores[next]! !== scores[i]!) points.push({ fpr: N > 0 ? fp / N : 0, tpr: P > 0 ? tp / P : 0, threshold: scores[i]! });
  }
  return points;
}

export function confusionAt(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const predicted = scores[i]! >= threshold;
    const positive = labels[i] === 1;
    if (predicted && positive) c.tp++;
    else if (predicted) c.fp++;
    else if (positive) c.fn++;
    else c.tn++;
  }
  return c;
}

export function rates(c: Confusion): Pick<PointMetrics, 'accuracy' | 'sensitivity' | 'specificity' | 'ppv' | 'npv' | 'f1'> {
  return {
    accuracy: ratio(c.tp + c.tn, c.tp + c.fp + c.tn + c.fn),
    sensitivity: ratio(c.tp, c.tp + c.fn),
    specificity: ratio(c.tn, c.tn + c.fp),
    ppv: ratio(c.tp, c.tp + c.fp),
    npv: ratio(c.tn, c.tn + c.fn),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
  };
}

/** Equal-width reliability bins over [0, 1] (a score of exactly 1 falls in the last); ECE = Σ n_b/N · |observed_b − meanPredicted_b|. */
export function calibration(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): { ece: number | null; bins: ReliabilityBin[] } {
  const n = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const p = scores[i]!;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    n[b]!++;
    sumP[b]! += p;
    sumY[b]! += labels[i] === 1 ? 1 : 0;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = b / bins;
    const hi = (b + 1) / bins;
    if (n[b] === 0) {
      out.push({ lo, hi, n: 0, meanPredicted: null, observed: null });
      continue;
    }
    const conf = sumP[b]! / n[b]!;
    const obs = sumY[b]! / n[b]!;
    ece += (n[b]! / labels.length) * Math.abs(obs - conf);
    out.push({ lo, hi, n: n[b]!, meanPredicted: conf, observed: obs });
  }
  return { ece: labels.length > 0 ? ece : null, bins: out };
}

export function brier(labels: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  if (labels.length === 0) return null;
  let s = 0;
  for (let i = 0; i < labels.length; i++) s += (scores[i]! - (labels[i] === 1 ? 1 : 0)) ** 2;
  return s / labels.length;
}

export function pointMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): PointMetrics & { confusion: Confusion } {
  const confusion = confusionAt(labels, scores, threshold);
  return { auc: auc(labels, scores), ...rates(confusion), ece: calibration(labels, scores).ece, brier: brier(labels, scores), confusion };
}

/** Small seeded PRNG (mulberry32) so confidence intervals are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Linear-interpolated quantile (numpy's default) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Percentile bootstrap 95% CI of every metric at a fixed threshold (cases resampled with replacement). `cancel` is
 * read before each resample (tens of thousands of cases take seconds).
 */
export function bootstrapCi(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
  resamples = 2000,
  seed = 12345,
  cancel: CancelCheck | null = null,
): Record<MetricKey, [number | null, number | null]> {
  const rand = seededRandom(seed);
  const n = labels.length;
  const draws: Record<MetricKey, number[]> = { auc: [], accuracy: [], sensitivity: [], specificity: [], ppv: [], npv: [], f1: [], ece: [], brier: [] };
  const yb = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let r = 0; r < resamples && n > 0; r++) {
    throwIfCancelled(cancel);
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rand() * n);
      yb[i] = labels[j]!;
      pb[i] = scores[j]!;
    }
    const m = pointMetrics(yb, pb, threshold);
    for (const k of METRIC_KEYS) {
      const v = m[k];
      if (v !== null && Number.isFinite(v)) draws[k].push(v);
    }
  }
  const out = {} as Record<MetricKey, [number | null, number | null]>;
  for (const k of METRIC_KEYS) {
    const sorted = draws[k].sort((a, b) => a - b);
    out[k] = [quantile(sorted, 0.025), quantile(sorted, 0.975)];
  }
  return out;
}

/** Everything `vigil validate` reports for one set of labelled cases (labels: 1 = positive class). */
export function validationMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, opts: { resamples?: number; seed?: number; cancel?: CancelCheck } = {}): ValidationMetrics {
  const resamples = opts.resamples ?? 2000;
  const seed = opts.seed ?? 12345;
  const point = pointMetrics(labels, scores, threshold);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] === 1 ? 1 : 0;
  return {
    n: labels.length,
    positives,
    threshold,
    ...point,
    ci95: bootstrapCi(labels, scores, threshold, resamples, seed, opts.cancel ?? null),
    ciMethod: `percentile bootstrap, ${resamples} resamples of the cases, seed ${seed}`,
    roc: rocCurve(labels, scores),
    reliability: calibration(labels, scores).bins,
  };
}
