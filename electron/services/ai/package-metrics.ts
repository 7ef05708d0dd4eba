/**
 * The performance a model package ships in `metrics.json` (written by
 * models/training): test-split discrimination, the operating point, the
 * reliability (calibration) bins and, where present, the ROC points. Optional:
 * a package without it, or with one that does not describe its model.onnx,
 * simply has no metrics to show.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ModelMetrics } from '../../../contract/ipc-contract';

export const METRICS_FILE = 'metrics.json';

const Rate = z.number().min(0).max(1);
const MetricsFileSchema = z.object({
  sha256: z.string().optional(),
  positiveLabel: z.string().optional(),
  dataset: z.string().optional(),
  threshold: z.number().optional(),
  test: z.object({
    n: z.number().int().nonnegative(),
    positives: z.number().int().nonnegative(),
    auc: Rate.optional(),
    sensitivity: Rate.optional(),
    specificity: Rate.optional(),
    ece: z.number().nonnegative().optional(),
    ci95: z.object({ auc: z.tuple([Rate, Rate]).optional() }).optional(),
    reliability: z
      .array(z.object({ lo: Rate, hi: Rate, n: z.number().int().nonnegative(), meanPredicted: Rate.nullable(), observed: Rate.nullable() }))
      .optional(),
    roc: z
      .object({ fpr: z.array(Rate), tpr: z.array(Rate) })
      .refine((r) => r.fpr.length === r.tpr.length && r.fpr.length >= 2, 'fpr and tpr of equal length (at least 2 points)')
      .optional(),
  }),
});

/** The package's test-split metrics, or null when it ships none (or ones for another build of the model). */
export function readPackageMetrics(dir: string, modelSha256: string): ModelMetrics | null {
  const path = join(dir, METRICS_FILE);
  if (!existsSync(path)) return null;
  let parsed;
  try {
    parsed = MetricsFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return null;
  }
  if (!parsed.success) return null;
  const m = parsed.data;
  // Metrics measured on another model.onnx say nothing about this one.
  if (m.sha256 !== undefined && m.sha256 !== modelSha256) return null;
  const t = m.test;
  return {
    split: 'test',
    n: t.n,
    positives: t.positives,
    positiveLabel: m.positiveLabel ?? null,
    dataset: m.dataset ?? null,
    auc: t.auc ?? null,
    aucCi95: t.ci95?.auc ?? null,
    threshold: m.threshold ?? null,
    sensitivity: t.sensitivity ?? null,
    specificity: t.specificity ?? null,
    ece: t.ece ?? null,
    reliability: t.reliability ?? [],
    roc: t.roc ?? null,
  };
}
