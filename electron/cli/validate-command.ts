/**
 * `vigil validate --model <id> --cases <dir-or-csv> [--json]`: local validation
 * of a model package on labelled DICOM cases through the full product
 * pipeline (see electron/services/ai/local-validation.ts).
 */
import { join, resolve } from 'node:path';
import { type CaseUnit, collectCases, operatingPoint, validateModel, ValidationInputError, type ValidationReport } from '../services/ai/local-validation';
import { ModelRegistry } from '../services/ai/model-registry';
import { SessionManager } from '../services/ai/session-manager';
import type { MetricKey } from '../services/ai/validation-metrics';

export interface ValidateCommandOptions {
  modelId: string;
  /** The cases folder or CSV (the CLI passes it resolved against the caller's folder). */
  cases: string;
  json: boolean;
  provider: 'auto' | 'cpu';
  bundledModelsDir: string;
  modelsDir?: string;
  dataDir?: string;
  positiveLabel?: string;
  ignoreApplicability?: boolean;
  /** What one case is (default "series"). */
  caseUnit?: CaseUnit;
  out: (line: string) => void;
  err: (line: string) => void;
}

const ROWS: [MetricKey, string][] = [
  ['auc', 'AUC'],
  ['accuracy', 'Accuracy'],
  ['sensitivity', 'Sensitivity'],
  ['specificity', 'Specificity'],
  ['ppv', 'PPV'],
  ['npv', 'NPV'],
  ['f1', 'F1'],
  ['ece', 'ECE'],
  ['brier', 'Brier'],
];

const fmt = (v: number | null) => (v === null ? '  n/a' : v.toFixed(3));

/** The --json shape: the issue's fields first, then the rest of the report. */
export function validationJson(r: ValidationReport): Record<string, unknown> {
  return {
    modelId: r.modelId,
    n: r.n,
    auc: r.auc,
    accuracy: r.accuracy,
    sensitivity: r.sensitivity,
    specificity: r.specificity,
    ppv: r.ppv,
    npv: r.npv,
    confusion: r.confusion,
    threshold: r.threshold,
    f1: r.f1,
    ece: r.ece,
    brier: r.brier,
    positives: r.positives,
    caseUnit: r.caseUnit,
    analysedWhole: r.analysedWhole,
    vouchedUnrecorded: r.vouchedUnrecorded,
    positiveLabel: r.positiveLabel,
    modelVersion: r.modelVersion,
    modelSha256: r.modelSha256,
    ci95: r.ci95,
    ciMethod: r.ciMethod,
    provider: r.provider,
    ortVersion: r.ortVersion,
    excluded: r.excluded,
    roc: r.roc.map((p) => ({ fpr: p.fpr, tpr: p.tpr, threshold: Number.isFinite(p.threshold) ? p.threshold : null })),
    reliability: r.reliability,
    cases: r.cases,
    seconds: r.seconds,
  };
}

/** Cases whose images reached the model uncropped although its manifest crops ultrasound images to their B-mode region. */
export function analysedWholeLine(cases: number, of: number): string {
  return `! ${cases} of ${of} case(s) analysed whole: no B-mode region (Sequence of Ultrasound Regions), so text and scale bars around the image reached the model (see --json cases[].warnings)`;
}

/** Cases analysed although their files do not record attributes the applicability rules read (named): their label vouched for them. */
export function vouchedUnrecordedLine(cases: number, of: number, attributes: readonly string[]): string {
  return `! ${cases} of ${of} case(s) analysed although their files do not record ${attributes.join(', ')}, which the model's applicability checks: their label vouches for them (see --json cases[].warnings)`;
}

/** The attributes the vouched cases do not record, each once. */
function vouchedAttributes(cases: ValidationReport['cases']): string[] {
  return [...new Set(cases.flatMap((c) => (c.warnings ?? []).flatMap((w) => (w.code === 'APPLICABILITY_NOT_RECORDED' ? w.attributes : []))))];
}

/** "156 cases (42 malignant)", or with series cases of several files "40 cases (12 malignant): each a series, 212 files". */
function casesLine(r: Pick<ValidationReport, 'n' | 'positives' | 'positiveLabel' | 'caseUnit' | 'cases'>): string {
  const head = `${r.n} case${r.n === 1 ? '' : 's'} (${r.positives} ${r.positiveLabel})`;
  const done = r.cases.filter((c) => c.status === 'done');
  const files = done.reduce((sum, c) => sum + (c.files ?? 1), 0);
  return r.caseUnit === 'series' && files > done.length ? `${head}: each a series, ${files} files` : head;
}

/** One excluded case for the text output; a case excluded before it was labelled (label '') shows no label. */
function excludedLine(e: ValidationReport['excluded'][number]): string {
  return `${e.file}${e.files ? ` and ${e.files - 1} more file(s) of its series` : ''}${e.label ? ` (${e.label})` : ''}: ${e.status}: ${e.reason}`;
}

export async function validateCommand(o: ValidateCommandOptions): Promise<number> {
  const userDir = o.modelsDir ?? (o.dataDir ? join(o.dataDir, 'models') : null);
  const registry = new ModelRegistry([{ dir: o.bundledModelsDir, origin: 'bundled' }, ...(userDir ? [{ dir: resolve(userDir), origin: 'user' as const }] : [])]);
  const model = await registry.get(o.modelId);
  if (!model) {
    const listed = (await registry.list()).find((m) => m.id === o.modelId);
    throw new ValidationInputError(listed ? `model "${o.modelId}" is not usable: ${listed.reason ?? listed.status}` : `no model package with id "${o.modelId}"`);
  }
  const { output } = operatingPoint(model.manifest, o.positiveLabel);
  const cases = collectCases(o.cases, output.labels);
  const sessions = new SessionManager();
  let report: ValidationReport;
  try {
    let last = 0;
    report = await validateModel({
      model,
      cases,
      sessions,
      provider: o.provider,
      ...(o.positiveLabel ? { positiveLabel: o.positiveLabel } : {}),
      ...(o.ignoreApplicability ? { ignoreApplicability: true } : {}),
      ...(o.caseUnit ? { caseUnit: o.caseUnit } : {}),
      onProgress: (done, total, phase) => {
        if (o.json || !process.stderr.isTTY || (Date.now() - last < 250 && done < total)) return;
        last = Date.now();
        const what = phase === 'reading' ? `reading case files ${done}/${total}` : `${done}/${total} cases`;
        process.stderr.write(`\rvalidating ${o.modelId}: ${what}   ${done === total && phase === 'analysing' ? '\n' : ''}`);
      },
    });
  } finally {
    await sessions.close();
  }
  if (o.json) {
    o.out(JSON.stringify(validationJson(report)));
    return 0;
  }
  const c = report.confusion;
  o.out(`Local validation of ${report.modelId} ${report.modelVersion} (sha-256 ${report.modelSha256.slice(0, 12)}…) on ${casesLine(report)}, provider ${report.provider ?? 'n/a'}`);
  o.out(`Operating point: ${report.positiveLabel} when score >= ${report.threshold}`);
  o.out('');
  o.out('  metric        value   95% CI');
  for (const [k, name] of ROWS) {
    const [lo, hi] = report.ci95[k];
    o.out(`  ${name.padEnd(12)}  ${fmt(report[k])}   ${fmt(lo)}–${fmt(hi)}`);
  }
  o.out('');
  o.out(`  confusion     predicted ${report.positiveLabel} / predicted ${report.negativeLabels.join('|')}`);
  o.out(`  truth ${report.positiveLabel}: TP ${c.tp}  FN ${c.fn}`);
  o.out(`  truth ${report.negativeLabels.join('|')}: FP ${c.fp}  TN ${c.tn}`);
  o.out('');
  o.out(`  ${report.ciMethod}; ${report.seconds.toFixed(1)} s`);
  if (report.positives === 0) o.err(`No analysed case is labelled ${report.positiveLabel}: AUC and sensitivity cannot be computed. Add ${report.positiveLabel} cases.`);
  else if (report.positives === report.n) o.err(`Every analysed case is labelled ${report.positiveLabel}: AUC and specificity cannot be computed. Add cases of ${report.negativeLabels.join(', ')}.`);
  if (report.analysedWhole > 0) o.err(analysedWholeLine(report.analysedWhole, report.n));
  if (report.vouchedUnrecorded > 0) o.err(vouchedUnrecordedLine(report.vouchedUnrecorded, report.n, vouchedAttributes(report.cases)));
  if (report.excluded.length > 0) {
    o.err(`${report.excluded.length} case(s) excluded:`);
    for (const e of report.excluded.slice(0, 20)) o.err(`  ${excludedLine(e)}`);
    if (report.excluded.length > 20) o.err(`  … and ${report.excluded.length - 20} more (see --json)`);
  }
  return 0;
}
