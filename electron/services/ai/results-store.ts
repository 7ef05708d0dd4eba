/**
 * ResultsStore: analysis results in the library database (table ai_results,
 * migration v2 in study-index.ts) with their arrays (masks, heatmaps) as gzip
 * files under <dataDir>/ai-results/<study>/<run>/. Every run records the model
 * id/version/sha-256, ONNX Runtime version, execution provider, timings, the
 * input SOP Instance UIDs, status and outputs. Results follow their study:
 * removing a study removes its rows (trigger) and files (deleteStudy / sweep).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import type Database from 'better-sqlite3';
import { type Finding, voxelVolumeMl } from './postprocessing';
import type { InferenceJobResult, Timings } from './inference-job';
import type { OutputRecord } from './run-outputs';
import type { ModelManifest } from './model-manifest';
import type { PopulationContext, RunWarning, VouchCoverage, VouchLapse } from './applicability';

export interface StoredResult {
  id: number;
  jobId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  ortVersion: string;
  provider: string | null;
  providerNote: string | null;
  status: 'done' | 'not-analysed' | 'failed';
  reason: string | null;
  timingsMs: Timings;
  inputSopInstanceUids: string[];
  findings: Finding[];
  outputs: OutputRecord[];
  /** Folder the output files are relative to. */
  filesDir: string;
  createdAt: string;
  /** Warnings the run carries (e.g. outside the model's intended population); [] for runs stored before. */
  warnings: RunWarning[];
  /** The patient against the model's intended population; null when the manifest declares none. */
  population: PopulationContext | null;
  /** Not analysed only because the series does not record these attributes (the reader may vouch for it); absent otherwise. */
  unrecorded?: string[];
  /**
   * Such a refusal of a series the reader had vouched for: why their vouch no longer holds; or, recorded when the reader
   * answered a refusal that no longer held (`answered`), why that answer was not taken as a vouch. Absent otherwise.
   */
  vouchLapsed?: VouchLapse;
  /**
   * The earlier vouch that lapsed (what it covered), so a later refusal can still say why; absent when none did (an
   * answered lapse keeps none: it vouched for nothing).
   */
  lapsedVouch?: VouchCoverage;
  /** With `vouchLapsed`: the applicability reason alone (`reason` adds an English account of the lapse). */
  refusalReason?: string;
}

/** What a run knew about its patient, stored with it (in the outputs JSON: no schema change). */
export interface RunContext {
  warnings: RunWarning[];
  population: PopulationContext | null;
  /** A not-analysed result: the attributes whose absence was its only reason (applicability's `unrecorded`). */
  unrecorded?: string[];
  /** With `unrecorded`: why the reader's earlier vouch, or their answer to a refusal, no longer holds. */
  vouchLapsed?: VouchLapse;
  /** With `unrecorded`: the reader's earlier vouch that no longer holds (stored apart: an answered lapse has none). */
  lapsedVouch?: VouchCoverage;
  /** With `vouchLapsed`: the applicability reason without the account of the lapse that the stored reason adds. */
  refusalReason?: string;
}

interface Row {
  id: number;
  job_id: string;
  study_uid: string;
  series_uid: string;
  model_id: string;
  model_version: string;
  model_sha256: string;
  ort_version: string;
  provider: string | null;
  provider_note: string | null;
  status: StoredResult['status'];
  reason: string | null;
  timings: string;
  input_uids: string;
  findings: string;
  outputs: string;
  created_at: string;
}

/** UIDs are digits and dots; anything else is hashed so it is always a safe folder name. */
export function folderName(uid: string): string {
  return /^[0-9.]{1,64}$/.test(uid) ? uid : createHash('sha256').update(uid).digest('hex').slice(0, 32);
}

/**
 * Segmentation findings stored before they carried their voxels and volume get
 * them from the stored output (label voxel counts and the mask's geometry), so
 * every result reads the same way; findings that have them are left as stored.
 */
export function withSegmentationMeasures(findings: Finding[], outputs: OutputRecord[]): Finding[] {
  const segmentations = outputs.filter((o): o is Extract<OutputRecord, { kind: 'segmentation' }> => o.kind === 'segmentation');
  if (segmentations.length === 0) return findings;
  return findings.map((f) => {
    if (f.voxels !== undefined || f.threshold !== undefined) return f;
    for (const o of segmentations) {
      const label = o.labels.find((l) => l.name === f.label && l.index !== 0);
      if (!label) continue;
      const voxelMl = voxelVolumeMl(o.mask.sourceToPatient, o.mask.shape[0]);
      return { ...f, voxels: label.voxels, ...(voxelMl !== null ? { volumeMl: label.voxels * voxelMl } : {}) };
    }
    return f;
  });
}

export class ResultsStore {
  readonly root: string;

  constructor(
    private readonly db: Database.Database,
    dataDir: string,
  ) {
    this.root = join(dataDir, 'ai-results');
    mkdirSync(this.root, { recursive: true });
    this.sweep();
  }

  /** The folder a run writes its arrays into. */
  runDir(studyUid: string, jobId: string): string {
    return join(this.root, folderName(studyUid), `${jobId}-${Date.now().toString(36)}`);
  }

  save(job: { jobId: string; studyUid: string; seriesUid: string }, manifest: ModelManifest, r: InferenceJobResult, runDir: string, context?: RunContext): number {
    const rel = runDir.startsWith(this.root) ? runDir.slice(this.root.length + 1) : runDir;
    const info = this.db
      .prepare(
        `INSERT INTO ai_results (job_id, study_uid, series_uid, model_id, model_version, model_sha256, ort_version, provider, provider_note, status, reason, timings, input_uids, findings, outputs, created_at)
         VALUES (@jobId, @study, @series, @modelId, @version, @sha, @ort, @provider, @note, @status, @reason, @timings, @uids, @findings, @outputs, @now)`,
      )
      .run({
        jobId: job.jobId,
        study: job.studyUid,
        series: job.seriesUid,
        modelId: manifest.id,
        version: manifest.version,
        sha: manifest.sha256,
        ort: r.ortVersion,
        provider: r.provider,
        note: r.providerNote,
        status: r.status,
        reason: r.reason ?? null,
        timings: JSON.stringify(r.timingsMs),
        uids: JSON.stringify(r.inputSopInstanceUids),
        findings: JSON.stringify(r.findings),
        outputs: JSON.stringify({
          dir: rel,
          outputs: r.outputs,
          ...(context ? { warnings: context.warnings, population: context.population } : {}),
          ...(context?.unrecorded ? { unrecorded: context.unrecorded } : {}),
          ...(context?.vouchLapsed ? { vouchLapsed: context.vouchLapsed } : {}),
          ...(context?.lapsedVouch ? { lapsedVouch: context.lapsedVouch } : {}),
          ...(context?.refusalReason !== undefined ? { refusalReason: context.refusalReason } : {}),
        }),
        now: new Date().toISOString(),
      });
    return Number(info.lastInsertRowid);
  }

  private toResult(row: Row): StoredResult {
    const out = JSON.parse(row.outputs) as { dir: string; outputs: OutputRecord[]; warnings?: RunWarning[]; population?: PopulationContext | null; unrecorded?: string[]; vouchLapsed?: VouchLapse; lapsedVouch?: VouchCoverage; refusalReason?: string };
    return {
      id: row.id,
      jobId: row.job_id,
      studyInstanceUid: row.study_uid,
      seriesInstanceUid: row.series_uid,
      modelId: row.model_id,
      modelVersion: row.model_version,
      modelSha256: row.model_sha256,
      ortVersion: row.ort_version,
      provider: row.provider,
      providerNote: row.provider_note,
      status: row.status,
      reason: row.reason,
      timingsMs: JSON.parse(row.timings) as Timings,
      inputSopInstanceUids: JSON.parse(row.input_uids) as string[],
      findings: withSegmentationMeasures(JSON.parse(row.findings) as Finding[], out.outputs),
      outputs: out.outputs,
      filesDir: join(this.root, out.dir),
      createdAt: row.created_at,
      warnings: out.warnings ?? [],
      population: out.population ?? null,
      ...(out.unrecorded ? { unrecorded: out.unrecorded } : {}),
      ...(out.vouchLapsed ? { vouchLapsed: out.vouchLapsed } : {}),
      ...(out.lapsedVouch ? { lapsedVouch: out.lapsedVouch } : {}),
      ...(out.refusalReason !== undefined ? { refusalReason: out.refusalReason } : {}),
    };
  }

  /** The latest result an execution provider ran (for the runtime panel), or null. */
  latestRun(): { provider: string; modelId: string; at: string; note: string | null } | null {
    const row = this.db
      .prepare<[], { provider: string; model_id: string; created_at: string; provider_note: string | null }>(
        'SELECT provider, model_id, created_at, provider_note FROM ai_results WHERE provider IS NOT NULL ORDER BY id DESC LIMIT 1',
      )
      .get();
    return row ? { provider: row.provider, modelId: row.model_id, at: row.created_at, note: row.provider_note } : null;
  }

  get(id: number): StoredResult | null {
    const row = this.db.prepare<[number], Row>('SELECT * FROM ai_results WHERE id = ?').get(id);
    return row ? this.toResult(row) : null;
  }

  /** The latest result of a (series, model), whatever its status, or null. */
  latestFor(seriesUid: string, modelId: string): StoredResult | null {
    const row = this.db.prepare<[string, string], Row>('SELECT * FROM ai_results WHERE series_uid = ? AND model_id = ? ORDER BY id DESC LIMIT 1').get(seriesUid, modelId);
    return row ? this.toResult(row) : null;
  }

  /** Latest result per (series, model) of a study, or every run with `all`. */
  forStudy(studyUid: string, all = false): StoredResult[] {
    const sql = all
      ? 'SELECT * FROM ai_results WHERE study_uid = ? ORDER BY id'
      : 'SELECT * FROM ai_results r WHERE study_uid = ? AND id = (SELECT max(id) FROM ai_results x WHERE x.series_uid = r.series_uid AND x.model_id = r.model_id) ORDER BY id';
    return this.db.prepare<[string], Row>(sql).all(studyUid).map((r) => this.toResult(r));
  }

  /**
   * Removes the folder of a run that saved no result (cancelled, or its worker died): whatever it wrote is partial and
   * nothing refers to it. Only a folder runDir() named, inside the results folder.
   */
  discardRun(runDir: string): void {
    if (!runDir.startsWith(this.root + sep)) return;
    rmSync(runDir, { recursive: true, force: true });
  }

  /** Removes a study's results and their files. */
  deleteStudy(studyUid: string): void {
    this.db.prepare('DELETE FROM ai_results WHERE study_uid = ?').run(studyUid);
    this.db.prepare('DELETE FROM ai_jobs WHERE study_uid = ?').run(studyUid);
    this.db.prepare('DELETE FROM ai_reviews WHERE study_uid = ?').run(studyUid);
    this.db.prepare('DELETE FROM ai_mask_edits WHERE study_uid = ?').run(studyUid);
    rmSync(join(this.root, folderName(studyUid)), { recursive: true, force: true });
  }

  /** Removes result folders whose study has no results any more (e.g. the study was deleted). */
  sweep(): void {
    if (!existsSync(this.root)) return;
    const live = new Set(this.db.prepare<[], { study_uid: string }>('SELECT DISTINCT study_uid FROM ai_results').all().map((r) => folderName(r.study_uid)));
    for (const name of readdirSync(this.root)) if (!live.has(name)) rmSync(join(this.root, name), { recursive: true, force: true });
  }
}
