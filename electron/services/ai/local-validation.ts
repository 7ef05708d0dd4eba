/**
 * Local validation: runs a model through the full product pipeline (DICOM
 * decode -> manifest preprocessing -> ONNX Runtime -> operating point) on a
 * clinic's own labelled cases and reports the same metrics, with bootstrap
 * confidence intervals, as the model's card.
 *
 * Cases: a folder with one sub-folder per label id of the model (every file
 * below it is one case), or a CSV of `file,label` rows (paths relative to the
 * CSV; an optional header row `file,label`).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { decodeImageFile } from '../dicom/pixel-decoder';
import { checkApplicability } from './applicability';
import { runInferenceJob } from './inference-job';
import type { ModelManifest, OutputSpec } from './model-manifest';
import type { ReadyModel } from './model-registry';
import type { ProviderPreference, SessionManager } from './session-manager';
import { validationMetrics, type ValidationMetrics } from './validation-metrics';

export interface LabelledCase {
  file: string;
  label: string;
}

export class ValidationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationInputError';
  }
}

type ClassificationSpec = Extract<OutputSpec, { kind: 'classification' }>;

/** The classification output, its positive label and operating point. */
export function operatingPoint(manifest: ModelManifest, positiveLabel?: string): { output: ClassificationSpec; positive: string; threshold: number } {
  const output = manifest.outputs.find((o): o is ClassificationSpec => o.kind === 'classification');
  if (!output) throw new ValidationInputError(`model "${manifest.id}" has no classification output; local validation covers classifiers`);
  // Convention: a two-label classifier's positive class is its second label.
  const positive = positiveLabel ?? output.labels[output.labels.length - 1]!;
  const index = output.labels.indexOf(positive);
  if (index < 0) throw new ValidationInputError(`"${positive}" is not a label of model "${manifest.id}" (labels: ${output.labels.join(', ')})`);
  const threshold = Array.isArray(output.thresholds) ? output.thresholds[index]! : output.thresholds;
  return { output, positive, threshold };
}

function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name.toUpperCase() === 'DICOMDIR') continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...filesBelow(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

/** Reads the labelled cases from a folder (one sub-folder per label id) or a CSV (file,label). */
export function collectCases(casesPath: string, labels: readonly string[]): LabelledCase[] {
  const path = resolve(casesPath);
  if (!existsSync(path)) throw new ValidationInputError(`${casesPath} does not exist`);
  const cases: LabelledCase[] = [];
  if (statSync(path).isDirectory()) {
    const subdirs = readdirSync(path).filter((n) => !n.startsWith('.') && statSync(join(path, n)).isDirectory());
    const unknown = subdirs.filter((n) => !labels.includes(n));
    if (unknown.length > 0) throw new ValidationInputError(`sub-folder(s) ${unknown.map((n) => `"${n}"`).join(', ')} of ${casesPath} are not label ids of the model (labels: ${labels.join(', ')})`);
    for (const label of labels) {
      const dir = join(path, label);
      if (existsSync(dir)) for (const file of filesBelow(dir)) cases.push({ file, label });
    }
  } else {
    const base = dirname(path);
    const lines = readFileSync(path, 'utf8').split(/\r?\n/);
    lines.forEach((line, i) => {
      if (line.trim() === '' || line.trim().startsWith('#')) return;
      const [file, label] = parseCsvLine(line);
      if (i === 0 && file?.toLowerCase() === 'file' && label?.toLowerCase() === 'label') return;
      if (!file || !label) throw new ValidationInputError(`${basename(path)} line ${i + 1}: expected "file,label"`);
      if (!labels.includes(label)) throw new ValidationInputError(`${basename(path)} line ${i + 1}: "${label}" is not a label id of the model (labels: ${labels.join(', ')})`);
      cases.push({ file: isAbsolute(file) ? file : resolve(base, file), label });
    });
  }
  if (cases.length === 0) throw new ValidationInputError(`no cases found in ${casesPath}`);
  return cases;
}

export interface CaseResult {
  file: string;
  label: string;
  status: 'done' | 'not-applicable' | 'not-analysed' | 'failed';
  reason?: string;
  /** Score of the positive label. */
  score?: number;
  predictedPositive?: boolean;
}

export interface ValidationReport extends ValidationMetrics {
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  positiveLabel: string;
  negativeLabels: string[];
  provider: string | null;
  excluded: { file: string; label: string; status: string; reason: string }[];
  cases: CaseResult[];
  ortVersion: string | null;
  seconds: number;
}

export interface ValidateOptions {
  model: ReadyModel;
  cases: LabelledCase[];
  sessions: SessionManager;
  provider?: ProviderPreference;
  positiveLabel?: string;
  /** Run cases whose DICOM attributes fall outside the manifest's applicability (default: exclude them). */
  ignoreApplicability?: boolean;
  resamples?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function validateModel(o: ValidateOptions): Promise<ValidationReport> {
  const started = performance.now();
  const manifest = o.model.manifest;
  const { output, positive, threshold } = operatingPoint(manifest, o.positiveLabel);
  // Only the classification output is needed; heatmaps etc. are not computed or written.
  const jobManifest: ModelManifest = { ...manifest, outputs: [output] };
  const scratch = mkdtempSync(join(tmpdir(), 'vigil-validate-'));
  const results: CaseResult[] = [];
  let provider: string | null = null;
  let ortVersion: string | null = null;
  try {
    for (const [i, c] of o.cases.entries()) {
      o.onProgress?.(i, o.cases.length);
      if (!o.ignoreApplicability) {
        let reason: string | null = null;
        try {
          const img = decodeImageFile(c.file);
          const ok = checkApplicability(manifest, {
            modality: img.modality,
            bodyPart: img.bodyPart,
            viewPositions: img.viewPosition ? [img.viewPosition] : [],
            photometric: [img.photometric],
            pixelSpacings: img.pixelSpacing ? [img.pixelSpacing] : [],
            sliceCount: img.frames,
            patientAgeYears: img.patientAgeYears,
          });
          if (!ok.ok) reason = ok.reason;
        } catch (err) {
          results.push({ file: c.file, label: c.label, status: 'not-analysed', reason: (err as Error).message });
          continue;
        }
        if (reason) {
          results.push({ file: c.file, label: c.label, status: 'not-applicable', reason });
          continue;
        }
      }
      const r = await runInferenceJob(
        { jobId: `validate-${i}`, model: { id: manifest.id, modelPath: o.model.modelPath, manifest: jobManifest }, files: [c.file], provider: o.provider ?? 'auto', outputDir: scratch },
        o.sessions,
      );
      ortVersion = r.ortVersion;
      provider = r.provider ?? provider;
      const finding = r.findings.find((f) => f.label === positive);
      if (r.status !== 'done' || !finding) {
        results.push({ file: c.file, label: c.label, status: r.status === 'done' ? 'failed' : r.status, reason: r.reason ?? `no score for "${positive}"` });
        continue;
      }
      results.push({ file: c.file, label: c.label, status: 'done', score: finding.score, predictedPositive: finding.score >= threshold });
    }
    o.onProgress?.(o.cases.length, o.cases.length);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const done = results.filter((r) => r.status === 'done');
  if (done.length === 0) throw new ValidationInputError(`none of the ${o.cases.length} cases could be analysed (first reason: ${results[0]?.reason ?? 'unknown'})`);
  const y = done.map((r) => (r.label === positive ? 1 : 0));
  const s = done.map((r) => r.score!);
  const m = validationMetrics(y, s, threshold, { ...(o.resamples !== undefined ? { resamples: o.resamples } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) });
  return {
    modelId: manifest.id,
    modelVersion: manifest.version,
    modelSha256: manifest.sha256,
    positiveLabel: positive,
    negativeLabels: output.labels.filter((l) => l !== positive),
    provider,
    ortVersion,
    ...m,
    excluded: results.filter((r) => r.status !== 'done').map((r) => ({ file: r.file, label: r.label, status: r.status, reason: r.reason ?? '' })),
    cases: results,
    seconds: (performance.now() - started) / 1000,
  };
}
