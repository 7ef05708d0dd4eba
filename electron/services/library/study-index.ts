/**
 * StudyIndex: the SQLite (WAL) database of patients, studies, series and
 * instances, plus the import log. Schema is versioned; later capabilities
 * (AI results, audit trail, network nodes) add tables through migrations.
 */
import Database from 'better-sqlite3';
import type { AiTriage, ImportRecord, InstanceSummary, RejectedFile, SeriesInstances, SeriesSummary, SortKey, StudyList, StudyQuery, StudySummary } from '../../../contract/ipc-contract';
import { sortInstancesForReading } from './reading-order';
import type { InstanceMetadata } from '../dicom/instance-metadata';

const MIGRATIONS: string[] = [
  `
  CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    patient_key TEXT NOT NULL UNIQUE,
    patient_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    name TEXT NOT NULL,
    name_raw TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL
  );
  CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    study_uid TEXT NOT NULL UNIQUE,
    patient_ref INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    accession TEXT NOT NULL,
    description TEXT NOT NULL,
    study_id TEXT NOT NULL,
    referring TEXT NOT NULL,
    search_text TEXT NOT NULL,
    uid_derived INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX studies_patient ON studies(patient_ref);
  CREATE INDEX studies_date ON studies(study_date);
  CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    series_uid TEXT NOT NULL UNIQUE,
    study_ref INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    modality TEXT NOT NULL,
    series_number INTEGER,
    description TEXT NOT NULL,
    body_part TEXT NOT NULL,
    series_date TEXT NOT NULL,
    series_time TEXT NOT NULL,
    uid_derived INTEGER NOT NULL
  );
  CREATE INDEX series_study ON series(study_ref);
  CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL UNIQUE,
    series_ref INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    sop_class_uid TEXT NOT NULL,
    instance_number INTEGER,
    transfer_syntax TEXT NOT NULL,
    rows INTEGER, columns INTEGER, frames INTEGER,
    photometric TEXT NOT NULL,
    samples_per_pixel INTEGER, bits_allocated INTEGER,
    pixel_spacing TEXT NOT NULL,
    image_position TEXT NOT NULL,
    image_orientation TEXT NOT NULL,
    slice_location REAL, slice_thickness REAL,
    view_position TEXT NOT NULL,
    image_type TEXT NOT NULL,
    body_part TEXT NOT NULL,
    charset TEXT NOT NULL,
    has_pixel_data INTEGER NOT NULL,
    sha256 TEXT,
    size INTEGER NOT NULL,
    storage TEXT NOT NULL CHECK (storage IN ('copy', 'reference')),
    path TEXT NOT NULL,
    source_path TEXT NOT NULL,
    source_mtime INTEGER,
    uid_derived INTEGER NOT NULL,
    import_ref TEXT,
    imported_at TEXT NOT NULL
  );
  CREATE INDEX instances_series ON instances(series_ref);
  CREATE INDEX instances_sha ON instances(sha256);
  CREATE TABLE file_sets (
    sha256 TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    records INTEGER NOT NULL,
    imported_at TEXT NOT NULL
  );
  CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    sources TEXT NOT NULL,
    offered INTEGER NOT NULL DEFAULT 0,
    imported INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE import_rejections (
    import_ref TEXT NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE INDEX import_rejections_import ON import_rejections(import_ref);
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // v2: AI analysis queue and results (electron/services/ai). Rows follow their study:
  // deleting a study deletes its jobs and results (arrays on disk are swept by ResultsStore).
  `
  CREATE TABLE ai_jobs (
    id TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    model_id TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'not-analysed', 'failed', 'cancelled')),
    provider_pref TEXT NOT NULL DEFAULT 'auto',
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    result_ref INTEGER,
    seq INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE UNIQUE INDEX ai_jobs_target ON ai_jobs(series_uid, model_id);
  CREATE INDEX ai_jobs_pending ON ai_jobs(status, priority DESC, seq);
  CREATE TABLE ai_results (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    ort_version TEXT NOT NULL,
    provider TEXT,
    provider_note TEXT,
    status TEXT NOT NULL CHECK (status IN ('done', 'not-analysed', 'failed')),
    reason TEXT,
    timings TEXT NOT NULL,
    input_uids TEXT NOT NULL,
    findings TEXT NOT NULL,
    outputs TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX ai_results_study ON ai_results(study_uid);
  CREATE INDEX ai_results_series ON ai_results(series_uid, model_id);
  CREATE TRIGGER ai_follow_study_delete AFTER DELETE ON studies BEGIN
    DELETE FROM ai_results WHERE study_uid = OLD.study_uid;
    DELETE FROM ai_jobs WHERE study_uid = OLD.study_uid;
  END;
  `,
  // v3: human review of AI findings (electron/services/ai/review-store.ts). Append-only: every decision is a row,
  // the latest per (result, finding) is the current one; the model's output in ai_results is never changed.
  `
  CREATE TABLE ai_reviews (
    id INTEGER PRIMARY KEY,
    result_id INTEGER NOT NULL,
    study_uid TEXT NOT NULL,
    finding_label TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected', 'corrected')),
    corrected_label TEXT,
    note TEXT,
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL
  );
  CREATE INDEX ai_reviews_result ON ai_reviews(result_id, finding_label);
  CREATE INDEX ai_reviews_study ON ai_reviews(study_uid);
  CREATE INDEX ai_jobs_study ON ai_jobs(study_uid, status);
  CREATE TRIGGER ai_reviews_follow_study_delete AFTER DELETE ON studies BEGIN
    DELETE FROM ai_reviews WHERE study_uid = OLD.study_uid;
  END;
  `,
  // v4: reviewer edits of segmentation masks (brush / eraser). The edited mask is a second file in the
  // result's folder; each save is a row (who, when, which slices), the latest is the current state.
  `
  CREATE TABLE ai_mask_edits (
    id INTEGER PRIMARY KEY,
    result_id INTEGER NOT NULL,
    study_uid TEXT NOT NULL,
    file TEXT NOT NULL,
    reviewed_file TEXT NOT NULL,
    slices TEXT NOT NULL,
    voxels TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    edited_at TEXT NOT NULL
  );
  CREATE INDEX ai_mask_edits_study ON ai_mask_edits(study_uid);
  CREATE TRIGGER ai_mask_edits_follow_study_delete AFTER DELETE ON studies BEGIN
    DELETE FROM ai_mask_edits WHERE study_uid = OLD.study_uid;
  END;
  `,
  // v5: segmentation findings stored before manifests could declare a findings rule (schema v2) were
  // "positive" whenever a label was non-empty. An output that declares nothing gives measurements, so
  // those findings become measurements (positive false); masks, voxel counts and reviews are unchanged.
  `
  UPDATE ai_results SET findings = (
    SELECT json_group_array(
      CASE WHEN json_type(f.value, '$.threshold') IS NULL AND json_type(f.value, '$.measurement') IS NULL AND json_type(f.value, '$.minVolumeMl') IS NULL
            AND EXISTS (SELECT 1 FROM json_each(ai_results.outputs, '$.outputs') o, json_each(o.value, '$.labels') l
                        WHERE json_extract(o.value, '$.kind') = 'segmentation' AND json_extract(l.value, '$.name') = json_extract(f.value, '$.label'))
        THEN json_set(f.value, '$.positive', json('false'), '$.measurement', json('true'))
        ELSE json(f.value) END ORDER BY f.key)
    FROM json_each(ai_results.findings) f)
  WHERE json_array_length(findings) > 0
    AND EXISTS (SELECT 1 FROM json_each(ai_results.outputs, '$.outputs') o WHERE json_extract(o.value, '$.kind') = 'segmentation');
  `,
  // v6: what the AI applicability rules and population warnings read besides Body Part Examined and Birth Date:
  // Patient's Age (AS) of the study and the first Anatomic Region Sequence code of the series ("scheme^code^meaning").
  // Studies imported before are '' (unknown): age then comes from the birth date, as before.
  `
  ALTER TABLE studies ADD COLUMN patient_age TEXT NOT NULL DEFAULT '';
  ALTER TABLE series ADD COLUMN anatomic_region TEXT NOT NULL DEFAULT '';
  `,
  // v7: each instance's own patient key (patientKey() of its file). A study is filed under its first file's patient, so
  // the study's patient is not always the instance's: a re-encoded copy was compared with the wrong patient and
  // rejected as a conflict. Rows stored before only have the study's patient to go by: the best information there is.
  `
  ALTER TABLE instances ADD COLUMN patient_key TEXT NOT NULL DEFAULT '';
  UPDATE instances SET patient_key = coalesce((SELECT p.patient_key FROM series m JOIN studies s ON s.id = m.study_ref JOIN patients p ON p.id = s.patient_ref WHERE m.id = instances.series_ref), '');
  `,
  // v8: the AI applicability rules judge each image's own body part, so each instance keeps its own Anatomic Region
  // Sequence code (as it keeps its Body Part Examined); rows stored before only have their series' (its first file's),
  // the best information there is. And a queued AI job records the reader's vouch it was queued on (JSON: the image
  // instances the reader saw and the model sha-256; NULL: nobody vouched), so its run is stamped "vouched" only then.
  `
  ALTER TABLE instances ADD COLUMN anatomic_region TEXT NOT NULL DEFAULT '';
  UPDATE instances SET anatomic_region = coalesce((SELECT m.anatomic_region FROM series m WHERE m.id = instances.series_ref), '');
  ALTER TABLE ai_jobs ADD COLUMN reader_vouch TEXT;
  `,
];

export interface LibraryTotals {
  patients: number;
  studies: number;
  series: number;
  instances: number;
}

/** One row of insertInstance, in its column order. */
type InstanceRow = [
  sopInstanceUid: string, seriesRef: number, sopClassUid: string, instanceNumber: number | null, transferSyntax: string,
  rows: number | null, columns: number | null, frames: number | null, photometric: string, samplesPerPixel: number | null,
  bitsAllocated: number | null, pixelSpacing: string, imagePosition: string, imageOrientation: string, sliceLocation: number | null,
  sliceThickness: number | null, viewPosition: string, imageType: string, bodyPart: string, charset: string,
  hasPixelData: 0 | 1, sha256: string | null, size: number, storage: 'copy' | 'reference', path: string,
  sourcePath: string, sourceMtime: number | null, uidDerived: 0 | 1, importRef: string, importedAt: string, patientKey: string,
  anatomicRegion: string,
];

export interface NewInstance {
  metadata: InstanceMetadata;
  /** Null when indexed in place without hashing. */
  sha256: string | null;
  size: number;
  storage: 'copy' | 'reference';
  path: string;
  sourcePath: string;
  sourceMtimeMs: number | null;
  importId: string;
}

export interface InstanceLocation {
  /** Relative to the data folder for a copy, absolute for a reference. */
  path: string;
  storage: 'copy' | 'reference';
  size: number;
  /** Whole milliseconds, as recorded at import. */
  sourceMtimeMs: number | null;
}

/** What the library holds for a SOP Instance UID: where it is filed and which file serves it. */
export interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** patientKey() of the instance's own file, which can differ from its study's patient (rows from before v7: the study's). */
  patientKey: string;
  storage: 'copy' | 'reference';
  sha256: string | null;
  size: number;
  sourcePath: string;
  sourceMtimeMs: number | null;
}

/** A managed copy that replaces a referenced original as the file of a stored instance. */
export interface ManagedCopy {
  sopInstanceUid: string;
  sha256: string;
  size: number;
  /** Relative to the data folder. */
  path: string;
  sourcePath: string;
  sourceMtimeMs: number;
  /** The copy may be another encoding of the instance: the columns that describe the encoding follow it. */
  encoding: InstanceEncoding;
}

/** The columns that describe how an instance's file encodes it (InstanceMetadata has them under these names). */
export interface InstanceEncoding {
  transferSyntaxUid: string;
  photometricInterpretation: string;
  samplesPerPixel: number | null;
  bitsAllocated: number | null;
}

/** A referenced original recorded again after it changed in place, still holding the same instance. */
export interface ReferenceRecord {
  sopInstanceUid: string;
  /** The reference row's path (the original's absolute path). */
  path: string;
  size: number;
  sourceMtimeMs: number;
  encoding: InstanceEncoding;
}

/** Integer columns: whole numbers, or null for a missing or non-finite value. */
function optionalInt(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? Math.trunc(v) : null;
}

/** The encoding columns' statement parameters (refreshReference, switchToCopy). */
function encodingParams(e: InstanceEncoding): { transferSyntax: string; photometric: string; samplesPerPixel: number | null; bitsAllocated: number | null } {
  return { transferSyntax: e.transferSyntaxUid, photometric: e.photometricInterpretation, samplesPerPixel: optionalInt(e.samplesPerPixel), bitsAllocated: optionalInt(e.bitsAllocated) };
}

const SORT_SQL: Record<SortKey, string> = {
  patientName: 'p.name COLLATE NOCASE',
  patientId: 'p.patient_id COLLATE NOCASE',
  birthDate: 'p.birth_date',
  sex: 'p.sex',
  studyDate: "s.study_date || s.study_time",
  modalities: 'modalities',
  description: 's.description COLLATE NOCASE',
  seriesCount: 'series_count',
  instanceCount: 'instance_count',
  accessionNumber: 's.accession COLLATE NOCASE',
  // ai_rank 0 is the most urgent group: "descending priority" is ascending rank.
  aiPriority: '-ai_rank',
};

// AI triage per study, from the latest result per (series, model) and the queue (indexes ai_results_study, ai_jobs_study).
// r is the latest result of its (series, model).
const LATEST_OF_R = 'r.id = (SELECT max(id) FROM ai_results x WHERE x.series_uid = r.series_uid AND x.model_id = r.model_id)';
const AI_LATEST = `FROM ai_results r WHERE r.study_uid = s.study_uid AND ${LATEST_OF_R}`;
// A finding needs review, and flags the study, when it is positive above its threshold, not a "nothing found" label
// (manifest normalLabels) and not a measurement (an anatomy segmentation's volumes, or one whose manifest declares no
// findings rule): the contract's needsReview, in SQL.
const AI_FLAGGED = "json_extract(f.value, '$.positive') AND NOT coalesce(json_extract(f.value, '$.normal'), 0) AND NOT coalesce(json_extract(f.value, '$.measurement'), 0)";
const AI_POSITIVE = `EXISTS (SELECT 1 ${AI_LATEST} AND r.status = 'done' AND EXISTS (SELECT 1 FROM json_each(r.findings) f WHERE ${AI_FLAGGED}))`;
const AI_UNREVIEWED = `EXISTS (SELECT 1 ${AI_LATEST} AND r.status = 'done' AND EXISTS (SELECT 1 FROM json_each(r.findings) f WHERE ${AI_FLAGGED}
  AND NOT EXISTS (SELECT 1 FROM ai_reviews v WHERE v.result_id = r.id AND v.finding_label = json_extract(f.value, '$.label'))))`;
// 2: a job of the study is running, 1: only queued ones, 0: none.
const AI_JOBS_STATE = "(SELECT coalesce(max(j.status = 'running') + 1, 0) FROM ai_jobs j WHERE j.study_uid = s.study_uid AND j.status IN ('pending', 'running'))";

/**
 * The worklist's AI groups in sort order, most urgent first, each with the SQL condition that puts a study in it
 * (the first that holds wins): flagged and not fully reviewed; flagged, every flagged finding reviewed; a job queued
 * or running; analysed, nothing flagged; not analysed (outside every model's intended use); failed; never sent to
 * a model. Within a group the newest study comes first.
 */
export const AI_TRIAGE_ORDER: readonly { readonly group: AiTriage; readonly when: string }[] = [
  { group: 'positive-unreviewed', when: AI_UNREVIEWED },
  { group: 'positive-reviewed', when: AI_POSITIVE },
  { group: 'in-progress', when: `${AI_JOBS_STATE} > 0` },
  { group: 'negative', when: `EXISTS (SELECT 1 ${AI_LATEST} AND r.status = 'done')` },
  { group: 'not-analysed', when: `EXISTS (SELECT 1 ${AI_LATEST} AND r.status = 'not-analysed')` },
  { group: 'failed', when: `EXISTS (SELECT 1 ${AI_LATEST} AND r.status = 'failed')` },
  { group: 'none', when: '1' },
];
const AI_RANK = `(CASE ${AI_TRIAGE_ORDER.map((g, i) => `WHEN ${g.when} THEN ${i}`).join(' ')} END)`;
const rankOf = (group: AiTriage): number => AI_TRIAGE_ORDER.findIndex((g) => g.group === group);
// The AI filters are the first two groups: their conditions alone (rank 0, rank <= 1) without computing the rank.
const AI_FILTER_SQL: Record<NonNullable<StudyQuery['aiFilter']>, string> = {
  'positive-unreviewed': AI_TRIAGE_ORDER[rankOf('positive-unreviewed')]!.when,
  positive: AI_TRIAGE_ORDER[rankOf('positive-reviewed')]!.when,
};
// The current (latest) decision on each flagged finding of the latest done results, counted by decision.
const AI_REVIEW_COUNTS = `(SELECT json_object('toReview', count(*), 'accepted', coalesce(sum(d = 'accepted'), 0), 'rejected', coalesce(sum(d = 'rejected'), 0), 'corrected', coalesce(sum(d = 'corrected'), 0))
    FROM (SELECT (SELECT v.decision FROM ai_reviews v WHERE v.result_id = r.id AND v.finding_label = json_extract(f.value, '$.label') ORDER BY v.id DESC LIMIT 1) AS d
      FROM ai_results r, json_each(r.findings) f
      WHERE r.study_uid = s.study_uid AND r.status = 'done' AND ${LATEST_OF_R} AND ${AI_FLAGGED}))`;
const AI_COLUMNS = `${AI_RANK} AS ai_rank,
  ${AI_JOBS_STATE} AS ai_jobs,
  ${AI_REVIEW_COUNTS} AS ai_review,
  (SELECT count(*) ${AI_LATEST} AND r.status = 'failed') AS ai_failed`;

type AiSummary = NonNullable<StudySummary['ai']>;

/** The status word the worklist shows for each group (a queued or running job is told apart by ai_jobs). */
const GROUP_STATUS: Record<Exclude<AiTriage, 'in-progress'>, AiSummary['status']> = {
  'positive-unreviewed': 'positive',
  'positive-reviewed': 'positive',
  negative: 'done',
  'not-analysed': 'not-analysed',
  failed: 'failed',
  none: null,
};

/** The AI_COLUMNS of a study row (selected together, or not at all). */
interface AiColumns {
  ai_rank: number;
  ai_jobs: number;
  ai_review: string;
  ai_failed: number;
}

/** The AI column of a study from its triage rank and counts. */
function toAiSummary(r: AiColumns): AiSummary {
  const triage = AI_TRIAGE_ORDER[r.ai_rank]?.group ?? 'none';
  const counts = JSON.parse(r.ai_review) as { toReview: number; accepted: number; rejected: number; corrected: number };
  const status = triage === 'in-progress' ? (r.ai_jobs === 2 ? 'running' : 'pending') : GROUP_STATUS[triage];
  return {
    status,
    priority: counts.toReview > 0,
    unreviewedPositive: triage === 'positive-unreviewed',
    triage,
    active: r.ai_jobs > 0,
    ...counts,
    failedRuns: r.ai_failed,
  };
}

interface StudyRow extends Partial<AiColumns> {
  study_uid: string;
  name: string;
  patient_id: string;
  birth_date: string;
  sex: string;
  study_date: string;
  study_time: string;
  accession: string;
  description: string;
  uid_derived: number;
  modalities: string | null;
  series_count: number;
  instance_count: number;
}

function toSummary(r: StudyRow): StudySummary {
  return {
    studyInstanceUid: r.study_uid,
    patientName: r.name,
    patientId: r.patient_id,
    birthDate: r.birth_date,
    sex: r.sex,
    studyDate: r.study_date,
    studyTime: r.study_time,
    accessionNumber: r.accession,
    description: r.description,
    modalities: r.modalities ? r.modalities.split('\\').filter(Boolean).sort() : [],
    seriesCount: r.series_count,
    instanceCount: r.instance_count,
    uidDerived: r.uid_derived !== 0,
    ...(r.ai_rank !== undefined ? { ai: toAiSummary(r as StudyRow & AiColumns) } : {}),
  };
}

/** Patients are identified by issuer + ID; without an ID, by name + birth date. */
export function patientKey(m: InstanceMetadata): string {
  return m.patientId ? `id\0${m.issuerOfPatientId}\0${m.patientId}` : `name\0${m.patientNameRaw}\0${m.birthDate}`;
}

export class StudyIndex {
  readonly db: Database.Database;
  private readonly stmts;
  /**
   * Row ids already known to exist, so a 5,000-slice series costs one lookup per batch, not 5,000. Kept only
   * for one transaction: between two, this process or another on the same library may delete those rows.
   */
  private readonly knownIds = { patient: new Map<string, number>(), study: new Map<string, number>(), series: new Map<string, number>() };

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const db = this.db;
    this.stmts = {
      shaReferenced: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM instances WHERE sha256 = ?'),
      copyReferenced: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM instances WHERE storage = 'copy' AND path = ?"),
      patientByKey: db.prepare<[string], { id: number }>('SELECT id FROM patients WHERE patient_key = ?'),
      insertPatient: db.prepare(
        'INSERT INTO patients (patient_key, patient_id, issuer, name, name_raw, birth_date, sex) VALUES (@key, @patientId, @issuer, @name, @nameRaw, @birthDate, @sex)',
      ),
      fillPatient: db.prepare(
        "UPDATE patients SET name = CASE WHEN name = '' THEN @name ELSE name END, name_raw = CASE WHEN name_raw = '' THEN @nameRaw ELSE name_raw END, birth_date = CASE WHEN birth_date = '' THEN @birthDate ELSE birth_date END, sex = CASE WHEN sex = '' THEN @sex ELSE sex END WHERE id = @id",
      ),
      studyByUid: db.prepare<[string], { id: number }>('SELECT id FROM studies WHERE study_uid = ?'),
      insertStudy: db.prepare(
        'INSERT INTO studies (study_uid, patient_ref, study_date, study_time, accession, description, study_id, referring, search_text, uid_derived, created_at, patient_age) VALUES (@uid, @patientRef, @date, @time, @accession, @description, @studyId, @referring, @search, @derived, @now, @patientAge)',
      ),
      seriesByUid: db.prepare<[string], { id: number }>('SELECT id FROM series WHERE series_uid = ?'),
      insertSeries: db.prepare(
        'INSERT INTO series (series_uid, study_ref, modality, series_number, description, body_part, series_date, series_time, uid_derived, anatomic_region) VALUES (@uid, @studyRef, @modality, @number, @description, @bodyPart, @date, @time, @derived, @anatomicRegion)',
      ),
      // Positional parameters: binding 32 values from an array is markedly cheaper than by name,
      // and this statement runs once per imported file.
      insertInstance: db.prepare<InstanceRow>(`INSERT INTO instances (
        sop_instance_uid, series_ref, sop_class_uid, instance_number, transfer_syntax, rows, columns, frames, photometric,
        samples_per_pixel, bits_allocated, pixel_spacing, image_position, image_orientation, slice_location, slice_thickness,
        view_position, image_type, body_part, charset, has_pixel_data, sha256, size, storage, path, source_path, source_mtime, uid_derived, import_ref, imported_at,
        patient_key, anatomic_region
      ) VALUES (${Array.from({ length: 32 }, () => '?').join(', ')})`),
      fileSetKnown: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM file_sets WHERE sha256 = ?'),
      insertFileSet: db.prepare('INSERT OR IGNORE INTO file_sets (sha256, source_path, records, imported_at) VALUES (?, ?, ?, ?)'),
      instancePath: db.prepare<[string], { path: string; storage: string; size: number; source_mtime: number | null }>(
        'SELECT path, storage, size, source_mtime FROM instances WHERE sop_instance_uid = ?',
      ),
      storedInstance: db.prepare<[string], {
        study_uid: string; series_uid: string; patient_key: string; storage: string; sha256: string | null; size: number; source_path: string; source_mtime: number | null;
      }>(
        `SELECT s.study_uid, m.series_uid, i.patient_key, i.storage, i.sha256, i.size, i.source_path, i.source_mtime
        FROM instances i JOIN series m ON m.id = i.series_ref JOIN studies s ON s.id = m.study_ref
        WHERE i.sop_instance_uid = ?`,
      ),
      // Only a reference becomes a copy: a managed copy is never given up for removable media. Neither rewrites the
      // instance's identity (series, patient key): the new file was accepted as the same instance.
      refreshReference: db.prepare(
        `UPDATE instances SET size = @size, source_mtime = @sourceMtime,
          transfer_syntax = @transferSyntax, photometric = @photometric, samples_per_pixel = @samplesPerPixel, bits_allocated = @bitsAllocated
        WHERE sop_instance_uid = @uid AND storage = 'reference' AND path = @path`,
      ),
      switchToCopy: db.prepare(
        `UPDATE instances SET storage = 'copy', path = @path, sha256 = @sha256, size = @size, source_path = @sourcePath, source_mtime = @sourceMtime,
          transfer_syntax = @transferSyntax, photometric = @photometric, samples_per_pixel = @samplesPerPixel, bits_allocated = @bitsAllocated
        WHERE sop_instance_uid = @uid AND storage = 'reference'`,
      ),
    };
  }

  private schemaVersion(): number | null {
    const table = this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
    if (!table?.n) return null;
    return this.db.prepare<[], { version: number }>('SELECT version FROM schema_version').get()?.version ?? null;
  }

  /**
   * Brings the schema to the latest version in one write transaction, taken before the version is
   * read: a new library is created in a single commit, and two processes opening the same library
   * never both run a migration. A library already up to date is only read.
   */
  private migrate(): void {
    const tooNew = (v: number) => new Error(`library database schema v${v} is newer than this Vigil (v${MIGRATIONS.length}); install the newer Vigil`);
    const current = this.schemaVersion();
    if (current !== null && current > MIGRATIONS.length) throw tooNew(current);
    if (current === MIGRATIONS.length) return;
    this.db
      .transaction(() => {
        this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
        const row = this.db.prepare<[], { version: number }>('SELECT version FROM schema_version').get();
        let version = row?.version ?? 0;
        if (!row) this.db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
        if (version > MIGRATIONS.length) throw tooNew(version);
        if (version === MIGRATIONS.length) return;
        while (version < MIGRATIONS.length) this.db.exec(MIGRATIONS[version++]!);
        this.db.prepare('UPDATE schema_version SET version = ?').run(version);
      })
      .immediate();
  }

  /** The stored instance with this SOP Instance UID, with its study, series and patient; null when unknown. */
  storedInstance(sopInstanceUid: string): StoredInstance | null {
    const r = this.stmts.storedInstance.get(sopInstanceUid);
    if (!r) return null;
    return {
      studyInstanceUid: r.study_uid,
      seriesInstanceUid: r.series_uid,
      patientKey: r.patient_key,
      storage: r.storage === 'reference' ? 'reference' : 'copy',
      sha256: r.sha256,
      size: r.size,
      sourcePath: r.source_path,
      sourceMtimeMs: r.source_mtime,
    };
  }

  /** Points a referenced instance at a managed copy. False when the instance is unknown or already a copy. */
  switchToManagedCopy(c: ManagedCopy): boolean {
    const { sopInstanceUid: uid, path, sha256, size, sourcePath, sourceMtimeMs: sourceMtime, encoding } = c;
    return this.stmts.switchToCopy.run({ uid, path, sha256, size, sourcePath, sourceMtime, ...encodingParams(encoding) }).changes > 0;
  }

  /**
   * Records a referenced original again after it changed in place but still holds the same instance (re-saved,
   * re-encoded): the new size, mtime and encoding, so display and analysis accept it. Only a reference row at
   * that very path; false when there is none.
   */
  refreshReference(r: ReferenceRecord): boolean {
    const { sopInstanceUid: uid, path, size, sourceMtimeMs: sourceMtime, encoding } = r;
    return this.stmts.refreshReference.run({ uid, path, size, sourceMtime, ...encodingParams(encoding) }).changes > 0;
  }

  isShaReferenced(sha256: string): boolean {
    return (this.stmts.shaReferenced.get(sha256)?.n ?? 0) > 0;
  }

  /** A row serves the managed copy at `path` (relative to the data folder). */
  isCopyReferenced(path: string): boolean {
    return (this.stmts.copyReferenced.get(path)?.n ?? 0) > 0;
  }

  isFileSetKnown(sha256: string): boolean {
    return (this.stmts.fileSetKnown.get(sha256)?.n ?? 0) > 0;
  }

  addFileSet(sha256: string, sourcePath: string, records: number): void {
    this.stmts.insertFileSet.run(sha256, sourcePath, records, new Date().toISOString());
  }

  /** Inserts an instance and any missing patient/study/series rows. Caller checks duplicates first. */
  addInstance(n: NewInstance): void {
    const m = n.metadata;
    const now = new Date().toISOString();
    const key = patientKey(m);
    let patientRef = this.knownIds.patient.get(key);
    if (patientRef === undefined) {
      const patientValues = { name: m.patientName, nameRaw: m.patientNameRaw, birthDate: m.birthDate, sex: m.sex };
      patientRef = this.stmts.patientByKey.get(key)?.id;
      if (patientRef === undefined) {
        patientRef = Number(
          this.stmts.insertPatient.run({ key, patientId: m.patientId, issuer: m.issuerOfPatientId, ...patientValues }).lastInsertRowid,
        );
      } else {
        // Fill attributes an earlier file of this patient left empty.
        this.stmts.fillPatient.run({ id: patientRef, ...patientValues });
      }
      this.knownIds.patient.set(key, patientRef);
    }
    let studyRef = this.knownIds.study.get(m.studyInstanceUid) ?? this.stmts.studyByUid.get(m.studyInstanceUid)?.id;
    if (studyRef === undefined) {
      const search = [m.patientName, m.patientNameRaw, m.patientNameSearch, m.patientId, m.studyDescription, m.accessionNumber]
        .join('\n')
        .toLowerCase();
      studyRef = Number(
        this.stmts.insertStudy.run({
          uid: m.studyInstanceUid,
          patientRef,
          date: m.studyDate,
          time: m.studyTime,
          accession: m.accessionNumber,
          description: m.studyDescription,
          studyId: m.studyId,
          referring: m.referringPhysician,
          search,
          derived: m.derived.study ? 1 : 0,
          now,
          patientAge: m.patientAge,
        }).lastInsertRowid,
      );
    }
    this.knownIds.study.set(m.studyInstanceUid, studyRef);
    let seriesRef = this.knownIds.series.get(m.seriesInstanceUid) ?? this.stmts.seriesByUid.get(m.seriesInstanceUid)?.id;
    if (seriesRef === undefined) {
      seriesRef = Number(
        this.stmts.insertSeries.run({
          uid: m.seriesInstanceUid,
          studyRef,
          modality: m.modality,
          number: m.seriesNumber !== null && Number.isInteger(m.seriesNumber) ? m.seriesNumber : null,
          description: m.seriesDescription,
          bodyPart: m.bodyPartExamined,
          date: m.seriesDate,
          time: m.seriesTime,
          derived: m.derived.series ? 1 : 0,
          anatomicRegion: m.anatomicRegion,
        }).lastInsertRowid,
      );
    }
    this.knownIds.series.set(m.seriesInstanceUid, seriesRef);
    // In the column order of insertInstance.
    this.stmts.insertInstance.run(
      m.sopInstanceUid,
      seriesRef,
      m.sopClassUid,
      optionalInt(m.instanceNumber),
      m.transferSyntaxUid,
      optionalInt(m.rows),
      optionalInt(m.columns),
      optionalInt(m.numberOfFrames),
      m.photometricInterpretation,
      optionalInt(m.samplesPerPixel),
      optionalInt(m.bitsAllocated),
      m.pixelSpacing,
      m.imagePositionPatient,
      m.imageOrientationPatient,
      m.sliceLocation,
      m.sliceThickness,
      m.viewPosition,
      m.imageType,
      m.bodyPartExamined,
      m.specificCharacterSet,
      m.hasPixelData ? 1 : 0,
      n.sha256,
      n.size,
      n.storage,
      n.path,
      n.sourcePath,
      n.sourceMtimeMs,
      m.derived.instance ? 1 : 0,
      n.importId,
      now,
      key,
      m.anatomicRegion,
    );
  }

  /**
   * Runs `fn` in one write transaction. IMMEDIATE: a batch reads (duplicates, known rows) before it writes,
   * and a deferred read upgraded to a write fails at once with SQLITE_BUSY when another process on the
   * same library (the app and the CLI) wrote in between; busy_timeout only covers waiting for the lock.
   */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      // Rolled back, the cached ids may be of rows never stored; committed, another process may delete them next.
      this.forgetKnownIds();
    }
  }

  /** Call after anything deletes patients, studies or series. */
  private forgetKnownIds(): void {
    this.knownIds.patient.clear();
    this.knownIds.study.clear();
    this.knownIds.series.clear();
  }

  totals(): LibraryTotals {
    const row = this.db
      .prepare<[], LibraryTotals>(
        'SELECT (SELECT count(*) FROM patients) AS patients, (SELECT count(*) FROM studies) AS studies, (SELECT count(*) FROM series) AS series, (SELECT count(*) FROM instances) AS instances',
      )
      .get();
    return row ?? { patients: 0, studies: 0, series: 0, instances: 0 };
  }

  /** Where an instance's bytes are, with the size and source mtime recorded at import (a reference is checked against them before it is served). */
  instanceLocation(sopInstanceUid: string): InstanceLocation | null {
    const row = this.stmts.instancePath.get(sopInstanceUid);
    if (!row) return null;
    return { path: row.path, storage: row.storage === 'reference' ? 'reference' : 'copy', size: row.size, sourceMtimeMs: row.source_mtime };
  }

  listStudies(q: StudyQuery): StudyList {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    const search = q.search?.trim().toLowerCase();
    if (search) {
      // Every whitespace-separated term must match (name, ID, description or accession).
      search.split(/\s+/).forEach((term, i) => {
        where.push(`instr(s.search_text, @t${i}) > 0`);
        params[`t${i}`] = term;
      });
    }
    if (q.modality) {
      where.push('EXISTS (SELECT 1 FROM series m WHERE m.study_ref = s.id AND m.modality = @modality)');
      params.modality = q.modality.toUpperCase();
    }
    if (q.dateFrom) {
      where.push("s.study_date <> '' AND s.study_date >= @dateFrom");
      params.dateFrom = q.dateFrom;
    }
    if (q.dateTo) {
      where.push("s.study_date <> '' AND s.study_date <= @dateTo");
      params.dateTo = q.dateTo;
    }
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const aiFilterSql = q.aiFilter ? AI_FILTER_SQL[q.aiFilter] : null;
    const listWhereSql = aiFilterSql ? (whereSql ? `${whereSql} AND ${aiFilterSql}` : `WHERE ${aiFilterSql}`) : whereSql;
    const dir = q.sortDir === 'asc' ? 'ASC' : 'DESC';
    const sortBy = q.sortBy ?? 'studyDate';
    const order = `${SORT_SQL[sortBy]} ${dir}, s.study_date || s.study_time DESC, s.id ASC`;
    const limit = q.limit ?? 5000;
    const offset = q.offset ?? 0;
    const rows = this.db
      .prepare<Record<string, string | number>, StudyRow>(
        `SELECT s.study_uid, p.name, p.patient_id, p.birth_date, p.sex, s.study_date, s.study_time, s.accession, s.description, s.uid_derived,
          (SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT modality FROM series m WHERE m.study_ref = s.id AND modality <> '' ORDER BY modality)) AS modalities,
          (SELECT count(*) FROM series m WHERE m.study_ref = s.id) AS series_count,
          (SELECT count(*) FROM instances i JOIN series m ON i.series_ref = m.id WHERE m.study_ref = s.id) AS instance_count,
          ${AI_COLUMNS}
        FROM studies s JOIN patients p ON p.id = s.patient_ref
        ${listWhereSql}
        ORDER BY ${order}
        LIMIT ${limit} OFFSET ${offset}`,
      )
      .all(params);
    // The total (with the AI filter) and the flagged counts (without it): from the rows when they are every study the
    // other filters match, else one more pass over those studies.
    const complete = !aiFilterSql && offset === 0 && rows.length < limit;
    const counts = complete
      ? {
          total: rows.length,
          flagged: rows.filter((r) => (r.ai_rank ?? Infinity) <= rankOf('positive-reviewed')).length,
          unreviewed: rows.filter((r) => r.ai_rank === rankOf('positive-unreviewed')).length,
        }
      : this.db
          .prepare<Record<string, string | number>, { total: number; flagged: number | null; unreviewed: number | null }>(
            `SELECT count(*) FILTER (WHERE ${aiFilterSql ?? '1'}) AS total, sum(${AI_FILTER_SQL.positive}) AS flagged, sum(${AI_FILTER_SQL['positive-unreviewed']}) AS unreviewed
            FROM studies s JOIN patients p ON p.id = s.patient_ref ${whereSql}`,
          )
          .get(params);
    const total = counts?.total ?? 0;
    const modalities = this.db
      .prepare<[], { modality: string }>("SELECT DISTINCT modality FROM series WHERE modality <> '' ORDER BY modality")
      .all()
      .map((r) => r.modality);
    return { total, studies: rows.map(toSummary), modalities, aiCounts: { flagged: counts?.flagged ?? 0, unreviewed: counts?.unreviewed ?? 0 } };
  }

  getStudy(studyInstanceUid: string): { study: StudySummary; series: SeriesSummary[] } | null {
    const row = this.db
      .prepare<[string], StudyRow & { id: number }>(
        `SELECT s.id, s.study_uid, p.name, p.patient_id, p.birth_date, p.sex, s.study_date, s.study_time, s.accession, s.description, s.uid_derived,
          (SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT modality FROM series m WHERE m.study_ref = s.id AND modality <> '' ORDER BY modality)) AS modalities,
          (SELECT count(*) FROM series m WHERE m.study_ref = s.id) AS series_count,
          (SELECT count(*) FROM instances i JOIN series m ON i.series_ref = m.id WHERE m.study_ref = s.id) AS instance_count,
          ${AI_COLUMNS}
        FROM studies s JOIN patients p ON p.id = s.patient_ref WHERE s.study_uid = ?`,
      )
      .get(studyInstanceUid);
    if (!row) return null;
    const series = this.db
      .prepare<[number], { series_uid: string; modality: string; series_number: number | null; description: string; body_part: string; uid_derived: number; instances: number }>(
        `SELECT m.series_uid, m.modality, m.series_number, m.description, m.body_part, m.uid_derived,
          (SELECT count(*) FROM instances i WHERE i.series_ref = m.id) AS instances
        FROM series m WHERE m.study_ref = ? ORDER BY m.series_number IS NULL, m.series_number, m.series_date, m.series_time, m.id`,
      )
      .all(row.id)
      .map(
        (r): SeriesSummary => ({
          seriesInstanceUid: r.series_uid,
          modality: r.modality,
          seriesNumber: r.series_number,
          description: r.description,
          bodyPart: r.body_part,
          instances: r.instances,
          uidDerived: r.uid_derived !== 0,
        }),
      );
    return { study: toSummary(row), series };
  }

  listInstances(seriesInstanceUid: string): SeriesInstances | null {
    const series = this.db
      .prepare<[string], { id: number; modality: string; study_uid: string }>(
        'SELECT m.id, m.modality, s.study_uid FROM series m JOIN studies s ON s.id = m.study_ref WHERE m.series_uid = ?',
      )
      .get(seriesInstanceUid);
    if (!series) return null;
    const rows = this.db
      .prepare<[number], {
        sop_instance_uid: string; sop_class_uid: string; instance_number: number | null; frames: number | null; rows: number | null;
        columns: number | null; photometric: string; transfer_syntax: string; image_position: string; image_orientation: string;
        pixel_spacing: string; slice_location: number | null; slice_thickness: number | null; has_pixel_data: number;
      }>(
        `SELECT sop_instance_uid, sop_class_uid, instance_number, frames, rows, columns, photometric, transfer_syntax, image_position,
          image_orientation, pixel_spacing, slice_location, slice_thickness, has_pixel_data
        FROM instances WHERE series_ref = ?`,
      )
      .all(series.id);
    const instances = rows.map(
      (r): InstanceSummary => ({
        sopInstanceUid: r.sop_instance_uid,
        sopClassUid: r.sop_class_uid,
        instanceNumber: r.instance_number,
        frames: r.has_pixel_data ? Math.max(1, r.frames ?? 1) : 0,
        rows: r.rows,
        columns: r.columns,
        photometricInterpretation: r.photometric,
        transferSyntaxUid: r.transfer_syntax,
        imagePositionPatient: r.image_position,
        imageOrientationPatient: r.image_orientation,
        pixelSpacing: r.pixel_spacing,
        sliceLocation: r.slice_location,
        sliceThickness: r.slice_thickness,
        hasPixelData: r.has_pixel_data !== 0,
      }),
    );
    return { seriesInstanceUid, studyInstanceUid: series.study_uid, modality: series.modality, instances: sortInstancesForReading(instances) };
  }

  // --- import log ---------------------------------------------------------

  startImport(id: string, sources: readonly string[]): void {
    this.db.prepare("INSERT INTO imports (id, started_at, status, sources) VALUES (?, ?, 'running', ?)").run(id, new Date().toISOString(), JSON.stringify(sources));
  }

  addRejections(importId: string, rejected: readonly RejectedFile[]): void {
    if (rejected.length === 0) return;
    const stmt = this.db.prepare('INSERT INTO import_rejections (import_ref, path, code, reason) VALUES (?, ?, ?, ?)');
    // One transaction: a corpus with many non-DICOM files would otherwise pay a commit per row.
    this.db.transaction(() => {
      for (const r of rejected) stmt.run(importId, r.path, r.code, r.reason);
    })();
  }

  finishImport(id: string, status: 'done' | 'cancelled' | 'failed', counts: { offered: number; imported: number; duplicates: number }): void {
    this.db
      .prepare('UPDATE imports SET finished_at = ?, status = ?, offered = ?, imported = ?, duplicates = ? WHERE id = ?')
      .run(new Date().toISOString(), status, counts.offered, counts.imported, counts.duplicates, id);
  }

  /** Imports left 'running' by a crash are marked interrupted at start-up. */
  markInterruptedImports(): void {
    this.db.prepare("UPDATE imports SET status = 'interrupted', finished_at = ? WHERE status = 'running'").run(new Date().toISOString());
  }

  lastImport(): ImportRecord | null {
    const row = this.db
      .prepare<[], { id: string; started_at: string; finished_at: string | null; status: string; offered: number; imported: number; duplicates: number }>(
        'SELECT id, started_at, finished_at, status, offered, imported, duplicates FROM imports ORDER BY started_at DESC, rowid DESC LIMIT 1',
      )
      .get();
    if (!row) return null;
    const rejected = this.db
      .prepare<[string], RejectedFile>('SELECT path, code, reason FROM import_rejections WHERE import_ref = ? ORDER BY rowid')
      .all(row.id);
    return {
      importId: row.id,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      status: row.status,
      offered: row.offered,
      imported: row.imported,
      duplicates: row.duplicates,
      rejected,
    };
  }

  getSetting(key: string): string | null {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?').get(key)?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /**
   * Deletes a study's rows (series and instances follow by cascade, AI jobs and
   * results by trigger; the patient too when no other study is left) in one
   * transaction. Returns the managed-storage paths (relative to the data folder)
   * that no remaining instance references (at its commit: the caller re-checks under the write lock before removing one),
   * or null when the study is unknown.
   */
  deleteStudy(studyUid: string): { unreferencedCopies: string[] } | null {
    // transaction(): immediate, and the ids cached for addInstance (maybe of the rows deleted) are forgotten.
    return this.transaction(() => {
      const study = this.db.prepare<[string], { id: number; patient_ref: number }>('SELECT id, patient_ref FROM studies WHERE study_uid = ?').get(studyUid);
      if (!study) return null;
      const copies = this.db
        .prepare<[number], { path: string }>("SELECT DISTINCT i.path FROM instances i JOIN series m ON m.id = i.series_ref WHERE m.study_ref = ? AND i.storage = 'copy'")
        .all(study.id)
        .map((r) => r.path);
      this.db.prepare('DELETE FROM studies WHERE id = ?').run(study.id);
      this.db.prepare('DELETE FROM patients WHERE id = ? AND NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = ?)').run(study.patient_ref, study.patient_ref);
      return { unreferencedCopies: copies.filter((p) => !this.isCopyReferenced(p)) };
    });
  }

  close(): void {
    this.db.close();
  }
}
