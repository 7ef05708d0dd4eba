/**
 * Pure helpers shared by the Validate view and its HTML report: the metric
 * rows, number formatting, the cases-analysed-whole warning, the ROC and
 * reliability plots' geometry, what one case was, and the per-case table's
 * order, paths and tags (so the page and the saved report draw the same curves
 * and say the same things).
 */
import type { ReliabilityBin, RunWarning, ValidationCase, ValidationResult } from '../../../contract/ipc-contract';
import { type StringId, t } from '../i18n/strings';

type RunWarningCode = RunWarning['code'];

export type MetricRowKey = 'auc' | 'accuracy' | 'sensitivity' | 'specificity' | 'ppv' | 'npv' | 'f1' | 'ece' | 'brier';

export interface MetricRow {
  key: MetricRowKey;
  label: string;
  /** Shown under the label: what the number means when the name alone does not say (calibration). */
  note?: StringId;
}

/** Discrimination and the operating point, then calibration (lower is better for both ECE and Brier). */
export const METRIC_ROWS: readonly MetricRow[] = [
  { key: 'auc', label: 'AUC' },
  { key: 'accuracy', label: 'Accuracy' },
  { key: 'sensitivity', label: 'Sensitivity' },
  { key: 'specificity', label: 'Specificity' },
  { key: 'ppv', label: 'PPV' },
  { key: 'npv', label: 'NPV' },
  { key: 'f1', label: 'F1' },
  { key: 'ece', label: 'ECE', note: 'models.eceNote' },
  { key: 'brier', label: 'Brier score', note: 'models.brierNote' },
];

export function fmtMetric(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3);
}

export function fmtCi(ci: readonly [number | null, number | null]): string {
  return ci[0] === null || ci[1] === null ? 'n/a' : `${ci[0].toFixed(3)}–${ci[1].toFixed(3)}`;
}

/** The operating point (the model's threshold) in ROC space, null without both classes. */
export function operatingPoint(r: Pick<ValidationResult, 'confusion'>): { fpr: number; tpr: number } | null {
  const { tp, fn, fp, tn } = r.confusion;
  if (tp + fn === 0 || fp + tn === 0) return null;
  return { fpr: fp / (fp + tn), tpr: tp / (tp + fn) };
}

export interface RocGeometry {
  size: number;
  /** Plot area inside the axes. */
  left: number;
  top: number;
  plot: number;
  /** SVG path of the curve. */
  curve: string;
  /** The chance diagonal. */
  diagonal: string;
  ticks: { value: number; pos: number }[];
  point: { x: number; y: number } | null;
}

/** Geometry of a square ROC plot of `size` px: FPR on x (0 left), TPR on y (0 bottom). */
export function rocGeometry(roc: ValidationResult['roc'], confusion: ValidationResult['confusion'], size = 320): RocGeometry {
  return rocGeometryOf(roc, operatingPoint({ confusion }), size);
}

/** The unit square (probability or rate on both axes) inside a `size` px plot with room for tick and axis labels. */
function unitPlot(size: number) {
  const left = 44;
  const top = 12;
  const plot = size - left - 34;
  return { left, top, plot, x: (v: number) => left + v * plot, y: (v: number) => top + (1 - v) * plot, ticks: [0, 0.25, 0.5, 0.75, 1].map((value) => ({ value, pos: value * plot })) };
}

/** ROC geometry from curve points (none: the chance line stands in) and an operating point. */
export function rocGeometryOf(points: readonly { fpr: number; tpr: number }[], op: { fpr: number; tpr: number } | null, size = 320): RocGeometry {
  const { left, top, plot, x, y, ticks } = unitPlot(size);
  const pts = points.length > 0 ? points : [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }];
  const curve = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.fpr).toFixed(2)},${y(p.tpr).toFixed(2)}`).join(' ');
  const diagonal = `M${x(0)},${y(0)} L${x(1)},${y(1)}`;
  return { size, left, top, plot, curve, diagonal, ticks, point: op ? { x: x(op.fpr), y: y(op.tpr) } : null };
}

export interface ReliabilityGeometry {
  size: number;
  left: number;
  top: number;
  plot: number;
  /** Perfect calibration (predicted = observed). */
  diagonal: string;
  /** Through the non-empty bins in order. */
  curve: string;
  ticks: { value: number; pos: number }[];
  /** One per non-empty bin; the dot's area is proportional to its cases. */
  points: { x: number; y: number; r: number; bin: ReliabilityBin }[];
}

/** Geometry of a reliability diagram: mean predicted probability on x, observed positive rate on y. */
export function reliabilityGeometry(bins: readonly ReliabilityBin[], size = 320): ReliabilityGeometry {
  const { left, top, plot, x, y, ticks } = unitPlot(size);
  const filled = bins.filter((b): b is ReliabilityBin & { meanPredicted: number; observed: number } => b.n > 0 && b.meanPredicted !== null && b.observed !== null);
  const most = Math.max(1, ...filled.map((b) => b.n));
  const points = filled.map((b) => ({ x: x(b.meanPredicted), y: y(b.observed), r: 2.5 + 6 * Math.sqrt(b.n / most), bin: b }));
  const curve = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(2)},${p.y.toFixed(2)}`).join(' ');
  return { size, left, top, plot, diagonal: `M${x(0)},${y(0)} L${x(1)},${y(1)}`, curve, ticks, points };
}

/** Says how many cases reached the model uncropped (no B-mode region although the model crops to it); null when none did. */
export function analysedWholeWarning(r: Pick<ValidationResult, 'analysedWhole' | 'n'>): string | null {
  return r.analysedWhole > 0 ? t('models.analysedWhole', { count: r.analysedWhole, n: r.n }) : null;
}

/** Says how many cases were analysed although their files do not record what the model checks (their label vouched); null when none were. */
export function vouchedUnrecordedWarning(r: Pick<ValidationResult, 'vouchedUnrecorded' | 'n'>): string | null {
  return r.vouchedUnrecorded > 0 ? t('models.vouchedUnrecorded', { count: r.vouchedUnrecorded, n: r.n }) : null;
}

/**
 * Says when every analysed case has one truth (all of the positive label, or none): AUC, sensitivity or specificity
 * are then undefined and the ROC curve means nothing; null when both truths are present.
 */
export function oneTruthWarning(r: Pick<ValidationResult, 'positives' | 'n' | 'positiveLabel' | 'negativeLabels'>): string | null {
  if (r.n > 0 && r.positives === 0) return t('models.noPositives', { label: r.positiveLabel });
  if (r.n > 0 && r.positives === r.n) return t('models.noNegatives', { label: r.positiveLabel, others: r.negativeLabels.join(', ') });
  return null;
}

/** How many excluded cases each reason accounts for, the most common first (ties: the reason first met first). */
export function excludedReasons(excluded: readonly Pick<ValidationResult['excluded'][number], 'reason'>[]): { reason: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const x of excluded) counts.set(x.reason, (counts.get(x.reason) ?? 0) + 1);
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}

/** At most this many reasons are named above the excluded cases; the rest are counted. */
export const EXCLUDED_REASONS_SHOWN = 5;

export type CaseUnit = ValidationResult['caseUnit'];

/** The case units the Validate form offers, the default (what the viewer does: one score per series) first. */
export const CASE_UNITS: readonly { unit: CaseUnit; label: StringId; hint: StringId }[] = [
  { unit: 'series', label: 'models.caseUnit.series', hint: 'models.caseUnitHint.series' },
  { unit: 'file', label: 'models.caseUnit.file', hint: 'models.caseUnitHint.file' },
];

/** Files the analysed cases hold: a series case may hold several. */
export function analysedFiles(cases: readonly Pick<ValidationCase, 'files'>[]): number {
  return cases.reduce((sum, c) => sum + (c.files ?? 1), 0);
}

/**
 * The result in one line: how many cases and what one was (a series, with the files they held, or a file), the
 * positives and the operating point. The metrics count these cases, so the reader must know what they were.
 */
export function validationSummary(r: Pick<ValidationResult, 'caseUnit' | 'n' | 'cases' | 'positives' | 'positiveLabel' | 'threshold'>): string {
  const params = { n: r.n, positives: r.positives, label: r.positiveLabel, threshold: r.threshold };
  return r.caseUnit === 'file' ? t('models.summary.file', params) : t('models.summary.series', { ...params, files: analysedFiles(r.cases) });
}

/** "+4 more files of its series" for a case of several files (shown after its first file); null for one file. */
export function moreFilesNote(c: { files?: number | undefined }): string | null {
  const more = (c.files ?? 1) - 1;
  if (more < 1) return null;
  return more === 1 ? t('models.caseMoreFile') : t('models.caseMoreFiles', { count: more });
}

/** A file name for the saved report: validation-<model>-<YYYYMMDD-HHMM>.html. */
export function reportFileName(r: Pick<ValidationResult, 'modelId' | 'finishedAt'>): string {
  const stamp = r.finishedAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 13);
  return `validation-${r.modelId.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.html`;
}

/** A case's call against its truth: missed positive, false alarm, or correct. */
export type CaseOutcome = 'fn' | 'fp' | 'tp' | 'tn';

export function caseOutcome(c: Pick<ValidationCase, 'correct' | 'predictedPositive'>): CaseOutcome {
  if (c.correct) return c.predictedPositive ? 'tp' : 'tn';
  return c.predictedPositive ? 'fp' : 'fn';
}

/** Missed positives first (what matters most for a screening model), then false positives, then correct cases. */
const OUTCOME_RANK: Record<CaseOutcome, number> = { fn: 0, fp: 1, tp: 2, tn: 2 };

/**
 * Mistakes first: false negatives, then false positives, each the farthest from the threshold (the most confident
 * mistake) first; then the correct cases in the order they were read.
 */
export function orderedCases<C extends Pick<ValidationCase, 'correct' | 'predictedPositive' | 'score'>>(cases: readonly C[], threshold: number): C[] {
  return [...cases].sort((a, b) => {
    const rank = OUTCOME_RANK[caseOutcome(a)] - OUTCOME_RANK[caseOutcome(b)];
    if (rank !== 0 || a.correct) return rank;
    return Math.abs(b.score - threshold) - Math.abs(a.score - threshold);
  });
}

export interface CaseCounts {
  fn: number;
  fp: number;
  correct: number;
}

export function caseCounts(cases: readonly Pick<ValidationCase, 'correct' | 'predictedPositive'>[]): CaseCounts {
  const counts: CaseCounts = { fn: 0, fp: 0, correct: 0 };
  for (const c of cases) {
    const outcome = caseOutcome(c);
    if (outcome === 'fn' || outcome === 'fp') counts[outcome]++;
    else counts.correct++;
  }
  return counts;
}

const SEPARATOR = /[\\/]/;

function withoutTrailingSeparator(path: string): string {
  return path.length > 1 && SEPARATOR.test(path.at(-1)!) ? path.slice(0, -1) : path;
}

/** `file` below `folder` (either separator: the host may be Windows), as the part after the folder; null when not below it. */
function pathBelow(file: string, folder: string): string | null {
  if (folder === '' || !file.startsWith(folder)) return null;
  if (SEPARATOR.test(folder.at(-1)!)) return file.slice(folder.length) || null;
  return SEPARATOR.test(file.charAt(folder.length)) ? file.slice(folder.length + 1) || null : null;
}

/**
 * The folder case paths are shown relative to: the cases folder itself, or the folder of a CSV of cases (its rows
 * are relative to it). Every case of a folder lies below it and no file lies below a CSV, which tells them apart.
 */
export function casesFolder(r: Pick<ValidationResult, 'casesPath' | 'cases' | 'excluded'>): string {
  const path = withoutTrailingSeparator(r.casesPath);
  if ([...r.cases, ...r.excluded].some((c) => pathBelow(c.file, path) !== null)) return path;
  // "/labels.csv" sits in the root folder "/": its separator is kept, any other folder's dropped.
  const { dir } = splitCasePath(path);
  return dir.length <= 1 ? dir : dir.slice(0, -1);
}

/** A case file relative to the cases folder when it lies inside it, else the full path. */
export function caseDisplayPath(file: string, folder: string): string {
  return pathBelow(file, folder) ?? file;
}

/** A case path as its folder part (with its trailing separator; '' when none) and its file name. */
export function splitCasePath(path: string): { dir: string; name: string } {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return { dir: path.slice(0, cut + 1), name: path.slice(cut + 1) };
}

/** What a case that is not positive is called: the negative label(s), or "not <positive>". */
export function negativeName(r: Pick<ValidationResult, 'negativeLabels' | 'positiveLabel'>): string {
  return r.negativeLabels.join(' / ') || t('models.notLabel', { label: r.positiveLabel });
}

export function predictedName(c: Pick<ValidationCase, 'predictedPositive'>, r: Pick<ValidationResult, 'negativeLabels' | 'positiveLabel'>): string {
  return c.predictedPositive ? r.positiveLabel : negativeName(r);
}

export function fmtScore(score: number): string {
  return score.toFixed(3);
}

/** The marker of a mistake (short) and what it means (a title); a correct case has a check mark. */
export function caseMarker(outcome: CaseOutcome, positiveLabel: string): { text: string; title: string } {
  if (outcome === 'fn') return { text: t('models.caseMarker.fn'), title: t('models.caseTitle.fn', { label: positiveLabel }) };
  if (outcome === 'fp') return { text: t('models.caseMarker.fp'), title: t('models.caseTitle.fp', { label: positiveLabel }) };
  return { text: '✓', title: t('models.caseTitle.correct') };
}

const WARNING_TAGS: Record<string, { tag: StringId; title: StringId }> = {
  NO_ULTRASOUND_REGION: { tag: 'models.caseWarning.NO_ULTRASOUND_REGION', title: 'models.caseWarningTitle.NO_ULTRASOUND_REGION' },
  APPLICABILITY_NOT_RECORDED: { tag: 'models.caseWarning.APPLICABILITY_NOT_RECORDED', title: 'models.caseWarningTitle.APPLICABILITY_NOT_RECORDED' },
  OUTSIDE_INTENDED_POPULATION: { tag: 'models.caseWarning.OUTSIDE_INTENDED_POPULATION', title: 'models.caseWarningTitle.OUTSIDE_INTENDED_POPULATION' },
} satisfies Record<RunWarningCode, { tag: StringId; title: StringId }>;

/** A run warning code as a short tag and its full meaning; a code this version does not know is shown as it is. */
export function caseWarningTag(code: string): { tag: string; title: string } {
  const known = Object.hasOwn(WARNING_TAGS, code) ? WARNING_TAGS[code] : undefined;
  return known ? { tag: t(known.tag), title: t(known.title) } : { tag: code, title: code };
}
