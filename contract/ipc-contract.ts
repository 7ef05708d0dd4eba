/**
 * The IPC contract: the one module main, preload, the loopback bridge and the
 * renderer share. Every channel's name, request schema and response type, the
 * typed events main pushes, and the shape of `window.vigil`.
 *
 * Layer rule: this file imports nothing but zod. No Node, no DOM, no Electron.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------
// Errors are values with codes at the boundary, never stack traces.
// ---------------------------------------------------------------------------

export const ErrorCode = z.enum([
  'BAD_REQUEST', // payload failed schema validation
  'UNKNOWN_CHANNEL',
  'FORBIDDEN', // sender origin not allowed / bad bridge token
  'NOT_FOUND',
  'CANCELLED',
  'BUSY', // e.g. an import is already running
  'IO_ERROR',
  'UNAVAILABLE', // capability not present in this host (e.g. native dialog in the bridge)
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const VigilErrorSchema = z.object({
  code: ErrorCode,
  message: z.string(),
});
export type VigilError = z.infer<typeof VigilErrorSchema>;

export type Result<T> = { ok: true; value: T } | { ok: false; error: VigilError };

// ---------------------------------------------------------------------------
// Shared value schemas
// ---------------------------------------------------------------------------

const Uid = z.string().min(1).max(64);
/** DICOM DA as stored (YYYYMMDD) or empty. */
const DicomDate = z.string().max(18);
const Path = z.string().min(1).max(4096);

export const ImportRequestSchema = z.object({
  /** Files, folders (walked recursively) or DICOMDIR files. */
  paths: z.array(Path).min(1).max(10_000),
  /** Override the library's storage mode for this import. */
  storageMode: z.enum(['copy', 'reference']).optional(),
});
export type ImportRequest = z.infer<typeof ImportRequestSchema>;

export const RejectedFileSchema = z.object({
  path: z.string(),
  /** Stable machine-readable reason code. */
  code: z.string(),
  /** Human-readable, actionable reason. */
  reason: z.string(),
});
export type RejectedFile = z.infer<typeof RejectedFileSchema>;

export const ImportSummarySchema = z.object({
  importId: z.string(),
  status: z.enum(['done', 'cancelled']),
  offered: z.number().int(),
  imported: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.array(RejectedFileSchema),
  /** Totals in the library after the import. */
  patients: z.number().int(),
  studies: z.number().int(),
  series: z.number().int(),
  instances: z.number().int(),
  elapsedMs: z.number(),
  /** Studies the offered files belong to (new or already in the library), in the order first seen. */
  studyInstanceUids: z.array(z.string()).optional(),
});
export type ImportSummary = z.infer<typeof ImportSummarySchema>;

export const ImportProgressSchema = z.object({
  importId: z.string(),
  phase: z.enum(['scanning', 'importing', 'done', 'cancelled']),
  scanned: z.number().int(),
  processed: z.number().int(),
  imported: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  /** Files per second over the import so far. */
  rate: z.number(),
  /** Seconds remaining, null while unknown. */
  etaSeconds: z.number().nullable(),
});
export type ImportProgress = z.infer<typeof ImportProgressSchema>;

export const SortKey = z.enum([
  'patientName',
  'patientId',
  'birthDate',
  'sex',
  'studyDate',
  'modalities',
  'description',
  'seriesCount',
  'instanceCount',
  'accessionNumber',
  /** AI priority (a positive finding above its threshold first), then study date. */
  'aiPriority',
]);
export type SortKey = z.infer<typeof SortKey>;

export const StudyQuerySchema = z.object({
  /** Matches patient name, patient ID, description and accession number. */
  search: z.string().max(256).optional(),
  modality: z.string().max(16).optional(),
  /** Inclusive, YYYYMMDD. */
  dateFrom: DicomDate.optional(),
  dateTo: DicomDate.optional(),
  sortBy: SortKey.optional(),
  sortDir: z.enum(['asc', 'desc']).optional(),
  limit: z.number().int().min(1).max(10_000).optional(),
  offset: z.number().int().min(0).optional(),
  /**
   * 'positive': only studies the AI flagged (a finding that needs review, see needsReview);
   * 'positive-unreviewed': of those, only studies with a flagged finding no one has reviewed yet.
   */
  aiFilter: z.enum(['positive-unreviewed', 'positive']).optional(),
});
export type StudyQuery = z.infer<typeof StudyQuerySchema>;

export const SeriesSummarySchema = z.object({
  seriesInstanceUid: z.string(),
  modality: z.string(),
  seriesNumber: z.number().nullable(),
  description: z.string(),
  bodyPart: z.string(),
  instances: z.number().int(),
  uidDerived: z.boolean(),
});
export type SeriesSummary = z.infer<typeof SeriesSummarySchema>;

/**
 * Worklist AI groups in sort order, most urgent first: flagged and not fully reviewed, flagged and reviewed,
 * queued or running, analysed with nothing flagged, not analysed (outside every model's intended use),
 * failed, never sent to a model. Within a group, newest study first.
 */
export const AiTriage = z.enum(['positive-unreviewed', 'positive-reviewed', 'in-progress', 'negative', 'not-analysed', 'failed', 'none']);
export type AiTriage = z.infer<typeof AiTriage>;

export const StudySummarySchema = z.object({
  studyInstanceUid: z.string(),
  patientName: z.string(),
  patientId: z.string(),
  birthDate: z.string(),
  sex: z.string(),
  studyDate: z.string(),
  studyTime: z.string(),
  accessionNumber: z.string(),
  description: z.string(),
  modalities: z.array(z.string()),
  seriesCount: z.number().int(),
  instanceCount: z.number().int(),
  uidDerived: z.boolean(),
  /** AI triage state of the study (absent where the host does not compute it). */
  ai: z
    .object({
      /** null: no model has been asked to look at the study. */
      status: z.enum(['pending', 'running', 'done', 'positive', 'not-analysed', 'failed']).nullable(),
      /** A finding is positive above its threshold. */
      priority: z.boolean(),
      /** A positive finding has no review yet. */
      unreviewedPositive: z.boolean(),
      /** The study's worklist group (AI sort order, most urgent first: see AiTriage). */
      triage: AiTriage,
      /** A job for the study is queued or running (also while an earlier result is shown). */
      active: z.boolean(),
      /** Findings of the latest done results that need a decision (needsReview), and the current decisions on them. */
      toReview: z.number().int(),
      accepted: z.number().int(),
      rejected: z.number().int(),
      corrected: z.number().int(),
      /** Latest runs (per series and model) that failed. */
      failedRuns: z.number().int(),
    })
    .optional(),
});
export type StudySummary = z.infer<typeof StudySummarySchema>;

export const StudyListSchema = z.object({
  total: z.number().int(),
  studies: z.array(StudySummarySchema),
  /** Every modality present in the library, for the filter menu. */
  modalities: z.array(z.string()),
  /** Studies matching the query's other filters (not aiFilter) that the AI flagged, and of those, not fully reviewed. */
  aiCounts: z.object({ flagged: z.number().int(), unreviewed: z.number().int() }).optional(),
});
export type StudyList = z.infer<typeof StudyListSchema>;

export const StudyDetailSchema = z.object({
  study: StudySummarySchema,
  series: z.array(SeriesSummarySchema),
});
export type StudyDetail = z.infer<typeof StudyDetailSchema>;

export const InstanceSummarySchema = z.object({
  sopInstanceUid: z.string(),
  sopClassUid: z.string(),
  instanceNumber: z.number().nullable(),
  /** Frames in the object (1 for single-frame images, 0 for non-image objects). */
  frames: z.number().int(),
  rows: z.number().nullable(),
  columns: z.number().nullable(),
  photometricInterpretation: z.string(),
  transferSyntaxUid: z.string(),
  /** DICOM DS strings as stored, e.g. "-125\\-125\\40.5". */
  imagePositionPatient: z.string(),
  imageOrientationPatient: z.string(),
  pixelSpacing: z.string(),
  sliceLocation: z.number().nullable(),
  sliceThickness: z.number().nullable(),
  hasPixelData: z.boolean(),
});
export type InstanceSummary = z.infer<typeof InstanceSummarySchema>;

export const SeriesInstancesSchema = z.object({
  seriesInstanceUid: z.string(),
  studyInstanceUid: z.string(),
  modality: z.string(),
  /** In reading order: by position along the slice normal when known, else instance number. */
  instances: z.array(InstanceSummarySchema),
});
export type SeriesInstances = z.infer<typeof SeriesInstancesSchema>;

export const ImportRecordSchema = z.object({
  importId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  status: z.string(),
  offered: z.number().int(),
  imported: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.array(RejectedFileSchema),
});
export type ImportRecord = z.infer<typeof ImportRecordSchema>;

export const AppInfoSchema = z.object({
  version: z.string(),
  host: z.enum(['electron', 'bridge', 'cli']),
  dataDir: z.string(),
  storageMode: z.enum(['copy', 'reference']),
});
export type AppInfo = z.infer<typeof AppInfoSchema>;

// --- AI analysis (models, queue, results) ---------------------------------

/** One equal-width reliability (calibration) bin: mean predicted probability vs observed positive rate. */
export const ReliabilityBinSchema = z.object({
  lo: z.number(),
  hi: z.number(),
  n: z.number().int(),
  /** null for an empty bin. */
  meanPredicted: z.number().nullable(),
  observed: z.number().nullable(),
});
export type ReliabilityBin = z.infer<typeof ReliabilityBinSchema>;

export const ModelMetricsSchema = z.object({
  /** The cases measured (the package's held-out test split). */
  split: z.literal('test'),
  n: z.number().int(),
  positives: z.number().int(),
  positiveLabel: z.string().nullable(),
  dataset: z.string().nullable(),
  auc: z.number().nullable(),
  aucCi95: z.tuple([z.number(), z.number()]).nullable(),
  /** The operating point (probability of the positive label) and the rates there. */
  threshold: z.number().nullable(),
  sensitivity: z.number().nullable(),
  specificity: z.number().nullable(),
  /** Expected calibration error over the reliability bins. */
  ece: z.number().nullable(),
  reliability: z.array(ReliabilityBinSchema),
  /** ROC points (false / true positive rate), when the package ships them. */
  roc: z.object({ fpr: z.array(z.number()), tpr: z.array(z.number()) }).nullable(),
});
export type ModelMetrics = z.infer<typeof ModelMetricsSchema>;

export const ModelInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  status: z.enum(['ok', 'invalid']),
  reason: z.string().optional(),
  path: z.string(),
  origin: z.enum(['bundled', 'user']),
  /** false: research use only; the UI must say so with every result. null when the manifest is unreadable. */
  clinicalUse: z.boolean().nullable(),
  /** The manifest's intended-use statement (absent when the manifest is unreadable). */
  intendedUse: z.string().optional(),
  /** Test-split performance the package ships (metrics.json); absent when it ships none for this model.onnx. */
  metrics: ModelMetricsSchema.optional(),
});
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

export const AnalysisStatus = z.enum(['pending', 'running', 'done', 'not-analysed', 'failed', 'cancelled']);
export type AnalysisStatus = z.infer<typeof AnalysisStatus>;

export const AnalysisJobSchema = z.object({
  jobId: z.string(),
  studyInstanceUid: z.string(),
  seriesInstanceUid: z.string(),
  modelId: z.string(),
  status: AnalysisStatus,
  reason: z.string().nullable(),
});
export type AnalysisJob = z.infer<typeof AnalysisJobSchema>;

export const AnalysisRunRequestSchema = z.object({
  studyInstanceUid: Uid,
  seriesInstanceUid: Uid.optional(),
  modelId: z.string().min(1).max(64).optional(),
  /** STAT jobs run before everything else. */
  stat: z.boolean().optional(),
  provider: z.enum(['auto', 'cpu']).optional(),
  /**
   * The reader vouches that the series is what the model needs where it does not record an attribute the model's
   * applicability rules read (e.g. no Body Part Examined): such a series is analysed, its run carrying an
   * APPLICABILITY_NOT_RECORDED warning. A recorded value that contradicts the model still refuses it. The vouch
   * sticks to the series and model: later runs without the flag analyse it again while the latest result carries it,
   * the series has no image the reader did not see and the model package is the same (sha-256).
   */
  vouchForUnrecorded: z.boolean().optional(),
  /**
   * With vouchForUnrecorded: the refusal (resultId) the reader answers, whose series and model are run. The vouch is
   * given only for what that refusal showed: if the series' images, the attributes it does not record or the model
   * package differ now, no vouch is given and a fresh refusal is recorded (which the reader may answer in turn).
   * Without it the vouch covers the series as it is when the request arrives (the CLI, whose user sees that state).
   */
  vouchForResultId: z.number().int().positive().optional(),
});
export type AnalysisRunRequest = z.infer<typeof AnalysisRunRequestSchema>;

export const FindingSchema = z.object({
  label: z.string(),
  score: z.number(),
  positive: z.boolean(),
  /** Operating point the score was compared with (absent in results stored before it was recorded). */
  threshold: z.number().optional(),
  /** A "nothing found" label (e.g. normal): shown, never an AI priority. */
  normal: z.boolean().optional(),
  /** A measurement (e.g. an anatomical structure's volume): no positive/negative call, never an AI priority. */
  measurement: z.boolean().optional(),
  /** Segmentation: the label's voxels on the source grid. */
  voxels: z.number().int().optional(),
  /** Segmentation: the label's volume in mL (absent when the series has no geometry to measure it). */
  volumeMl: z.number().optional(),
  /** Segmentation lesion rule: positive when volumeMl is at least this (manifest findings.minVolumeMl). */
  minVolumeMl: z.number().optional(),
});
export type Finding = z.infer<typeof FindingSchema>;

/**
 * Whether a finding needs a radiologist's decision (accept / reject / correct): a positive call that is not a
 * "nothing found" label and not a measurement. For a classifier this is the model's positive call of a run; a
 * run that called only its normal label has nothing to review. Negative scores and anatomy volumes are shown,
 * never reviewed, and never hold back "all findings reviewed". Mirrored in SQL by study-index.ts (AI_FLAGGED).
 */
export function needsReview(f: Pick<Finding, 'positive' | 'normal' | 'measurement'>): boolean {
  return f.positive && f.normal !== true && f.measurement !== true;
}

const AgeRangeSchema = z.object({ min: z.number().optional(), max: z.number().optional() });

/** A run outside its model's intended population (manifest intendedPopulation): analysed, with this warning. */
export const PopulationRunWarningSchema = z.object({
  code: z.literal('OUTSIDE_INTENDED_POPULATION'),
  /** English text (CLI, logs); the UI builds its own from the fields. */
  message: z.string(),
  patientAgeYears: z.number(),
  intendedAgeYears: AgeRangeSchema,
});

/**
 * The manifest crops ultrasound images to their B-mode region (cropUltrasoundRegion), but some images had none
 * (no usable Sequence of Ultrasound Regions, or the images of one unit differ): those were analysed whole, scanner
 * text and scale bars included.
 */
export const UltrasoundRegionRunWarningSchema = z.object({
  code: z.literal('NO_ULTRASOUND_REGION'),
  /** English text (CLI, logs); the UI builds its own from the fields. */
  message: z.string(),
  /** Images (frames) analysed whole. */
  units: z.number().int(),
  /** Images (frames) in the run. */
  of: z.number().int(),
});

/**
 * Analysed although the series does not record attributes the model's applicability rules read (e.g. an ultrasound
 * without Body Part Examined), because someone vouched that it is what the model needs: the reader
 * (analysis.run vouchForUnrecorded) or, in local validation, the case's label.
 */
export const ApplicabilityVouchedRunWarningSchema = z.object({
  code: z.literal('APPLICABILITY_NOT_RECORDED'),
  /** English text (CLI, logs); the UI builds its own from the fields. */
  message: z.string(),
  /** DICOM attribute names, e.g. "Body Part Examined", "View Position", "Pixel Spacing". */
  attributes: z.array(z.string()),
  vouchedBy: z.enum(['reader', 'case-label']),
  /**
   * The reader's vouch covers only the images they saw: the series' image instances when they vouched. A later run
   * of a series holding an image not listed here is not analysed until the reader vouches again. Absent for a case
   * label's vouch and in runs stored before it was recorded (such a vouch covers nothing later).
   */
  sopInstanceUids: z.array(z.string()).optional(),
  /** The sha-256 of the model package the reader vouched for: another version of the model is not covered. */
  modelSha256: z.string().optional(),
});

export const RunWarningSchema = z.discriminatedUnion('code', [PopulationRunWarningSchema, UltrasoundRegionRunWarningSchema, ApplicabilityVouchedRunWarningSchema]);
export type RunWarning = z.infer<typeof RunWarningSchema>;

export const RunPopulationSchema = z.object({
  /** null: unknown (no Patient's Age, no Birth Date + Study Date). */
  patientAgeYears: z.number().nullable(),
  ageSource: z.enum(['PatientAge', 'PatientBirthDate']).nullable(),
  intendedAgeYears: AgeRangeSchema.nullable(),
  note: z.string().nullable(),
});
export type RunPopulation = z.infer<typeof RunPopulationSchema>;

/** Why a reader's vouch for a series no longer covers it (either or both). */
export const VouchLapseSchema = z.object({
  /** Images of the series the reader did not see when they vouched (imported since). */
  imagesAdded: z.number().int(),
  /** The model package is another version (sha-256) than the one they vouched for. */
  modelChanged: z.boolean(),
  /** Attributes the series does not record now that the vouch was not given for (absent: none, or not known). */
  attributesNotVouched: z.array(z.string()).optional(),
  /**
   * The vouch is the one just given by answering a refusal ("Analyse anyway", analysis.run vouchForResultId) that no
   * longer showed the series and model as they are: it was not given, nothing was analysed, and this fresh refusal
   * may be answered in turn. Such a lapse is told on that fresh refusal only. Absent: an earlier vouch lapsed.
   */
  answered: z.boolean().optional(),
  /**
   * With `answered`: the refusal answered was stored before refusals recorded the images they judged, so what the
   * reader saw is not known (imagesAdded is then 0). Absent otherwise.
   */
  imagesNotRecorded: z.boolean().optional(),
  /**
   * With `answered`: attributes the refusal answered listed as not recorded that the series is no longer refused
   * for lacking (absent: none).
   */
  attributesNoLongerUnrecorded: z.array(z.string()).optional(),
  /** With `answered`: images the refusal answered judged that the series no longer holds (absent: none). */
  imagesRemoved: z.number().int().optional(),
});
export type VouchLapse = z.infer<typeof VouchLapseSchema>;

export const AnalysisResultSchema = z.object({
  resultId: z.number().int(),
  studyInstanceUid: z.string(),
  seriesInstanceUid: z.string(),
  modelId: z.string(),
  modelVersion: z.string(),
  modelSha256: z.string(),
  ortVersion: z.string(),
  provider: z.string().nullable(),
  providerNote: z.string().nullable(),
  status: z.enum(['done', 'not-analysed', 'failed']),
  reason: z.string().nullable(),
  findings: z.array(FindingSchema),
  timingsMs: z.record(z.string(), z.number()),
  /** The images the run analysed; [] in analysis.results for a not-analysed result (the renderer draws nothing of it). */
  inputSopInstanceUids: z.array(z.string()),
  /** Masks, heatmaps and boxes with their geometry (see models/README.md). */
  outputs: z.array(z.record(z.string(), z.unknown())),
  createdAt: z.string(),
  /**
   * Warnings the run carries, e.g. the patient is outside the model's intended population (absent: none recorded).
   * analysis.results leaves out what a reader's vouch covers (sopInstanceUids, modelSha256): only the services read it.
   */
  warnings: z.array(RunWarningSchema).optional(),
  /** The patient's age against the model's intended population (null / absent: the manifest declares none). */
  population: RunPopulationSchema.nullable().optional(),
  /**
   * A not-analysed result whose only reason is that the series does not record these attributes (no recorded
   * value contradicts the model): the reader may vouch for it (analysis.run vouchForUnrecorded). Absent otherwise.
   */
  unrecorded: z.array(z.string()).optional(),
  /**
   * Such a result (`unrecorded`) of a series the reader had vouched for, whose vouch no longer holds: why (images
   * added since, which the reader has not seen; another version of the model), so they know before vouching again.
   * Also the fresh refusal recorded when the reader answered a refusal that no longer held (`answered`).
   * Absent otherwise.
   */
  vouchLapsed: VouchLapseSchema.optional(),
  /**
   * With `vouchLapsed`: the refusal's reason alone. `reason` adds an English account of the lapse (for the job list,
   * logs and the CLI); the findings panel shows this one and tells the lapse from `vouchLapsed`, in the reader's language.
   */
  refusalReason: z.string().optional(),
});
export type AnalysisResult = z.infer<typeof AnalysisResultSchema>;


export const AnalysisProgressSchema = AnalysisJobSchema.extend({
  phase: z.enum(['decode', 'preprocess', 'inference', 'postprocess']).optional(),
});
export type AnalysisProgress = z.infer<typeof AnalysisProgressSchema>;

// --- Human review of findings ----------------------------------------------

export const ReviewDecision = z.enum(['accepted', 'rejected', 'corrected']);
export type ReviewDecision = z.infer<typeof ReviewDecision>;

export const ReviewSetRequestSchema = z.object({
  resultId: z.number().int().positive(),
  /** The model's finding label (the original output is never changed). */
  findingLabel: z.string().min(1).max(200),
  decision: ReviewDecision,
  /** corrected: the class the reviewer says it is. */
  correctedLabel: z.string().min(1).max(200).optional(),
  note: z.string().max(2000).optional(),
});
export type ReviewSetRequest = z.infer<typeof ReviewSetRequestSchema>;

export const ReviewSchema = z.object({
  reviewId: z.number().int(),
  resultId: z.number().int(),
  studyInstanceUid: z.string(),
  findingLabel: z.string(),
  decision: ReviewDecision,
  correctedLabel: z.string().nullable(),
  note: z.string().nullable(),
  reviewer: z.string(),
  reviewedAt: z.string(),
});
export type Review = z.infer<typeof ReviewSchema>;

export const ReviewListSchema = z.object({
  /** The current review of each reviewed finding (latest decision). */
  reviews: z.array(ReviewSchema),
  /** Findings of the study's latest done results that need a decision (needsReview). */
  findings: z.number().int(),
  /** Of those, the ones with a decision, by decision. */
  reviewed: z.number().int(),
  accepted: z.number().int(),
  rejected: z.number().int(),
  corrected: z.number().int(),
  /** There is at least one finding to review and every one has a decision. */
  allReviewed: z.boolean(),
  /** Reviewer-edited label maps (brush / eraser), kept beside the model's original mask. */
  maskEdits: z.array(
    z.object({
      resultId: z.number().int(),
      /** The original mask file the edit applies to. */
      file: z.string(),
      /** The reviewed mask, served like the original (resultUrl). */
      reviewedFile: z.string(),
      /** Per-label voxel counts of the reviewed mask (index -> count). */
      voxels: z.record(z.string(), z.number().int()),
      reviewer: z.string(),
      editedAt: z.string(),
    }),
  ),
});
export type ReviewList = z.infer<typeof ReviewListSchema>;

export const SettingsSchema = z.object({
  /** Stored with every review. */
  reviewerName: z.string(),
  /** Setting ai.forceCpu: every analysis (and validation) runs on CPU whatever provider is bundled. */
  aiForceCpu: z.boolean(),
  /** Setting ai.autoRunOnImport: newly imported studies are analysed by every applicable model. */
  aiAutoRunOnImport: z.boolean(),
});
export type Settings = z.infer<typeof SettingsSchema>;

// --- Local model validation and the AI runtime -----------------------------

const NullableNumber = z.number().nullable();
const Ci95 = z.tuple([NullableNumber, NullableNumber]);

export const ValidateModelRequestSchema = z.object({
  modelId: z.string().min(1).max(64),
  /** A folder with one sub-folder per label id, or a CSV of file,label rows (a path on the host machine). */
  casesPath: Path,
  /** Defaults to the model's last label. */
  positiveLabel: z.string().min(1).max(200).optional(),
  /**
   * What one case is: "series" (default), every labelled file of one Series Instance UID analysed together as the
   * viewer analyses a series; "file", each file alone (labels given per image).
   */
  caseUnit: z.enum(['series', 'file']).optional(),
});
export type ValidateModelRequest = z.infer<typeof ValidateModelRequestSchema>;

export const ValidationResultSchema = z.object({
  modelId: z.string(),
  modelName: z.string(),
  modelVersion: z.string(),
  modelSha256: z.string(),
  intendedUse: z.string(),
  clinicalUse: z.boolean(),
  casesPath: z.string(),
  positiveLabel: z.string(),
  negativeLabels: z.array(z.string()),
  provider: z.string().nullable(),
  ortVersion: z.string().nullable(),
  /** Cases analysed (excluded ones not counted). */
  n: z.number().int(),
  positives: z.number().int(),
  /** Operating point: positive when score >= threshold. */
  threshold: z.number(),
  auc: NullableNumber,
  accuracy: NullableNumber,
  sensitivity: NullableNumber,
  specificity: NullableNumber,
  ppv: NullableNumber,
  npv: NullableNumber,
  f1: NullableNumber,
  ece: NullableNumber,
  brier: NullableNumber,
  ci95: z.object({ auc: Ci95, accuracy: Ci95, sensitivity: Ci95, specificity: Ci95, ppv: Ci95, npv: Ci95, f1: Ci95, ece: Ci95, brier: Ci95 }),
  ciMethod: z.string(),
  confusion: z.object({ tp: z.number().int(), fp: z.number().int(), tn: z.number().int(), fn: z.number().int() }),
  /** Highest threshold first, from (0, 0) to (1, 1); threshold null for the origin. */
  roc: z.array(z.object({ fpr: z.number(), tpr: z.number(), threshold: NullableNumber })),
  reliability: z.array(z.object({ lo: z.number(), hi: z.number(), n: z.number().int(), meanPredicted: NullableNumber, observed: NullableNumber })),
  /** Cases not analysed, and why; `files` when the case is a series of several files. */
  excluded: z.array(z.object({ file: z.string(), label: z.string(), status: z.string(), reason: z.string(), files: z.number().int().optional() })),
  seconds: z.number(),
  finishedAt: z.string(),
  /**
   * Cases among n analysed whole: the model crops ultrasound images to their B-mode region (manifest op
   * cropUltrasoundRegion) and the case had no usable Sequence of Ultrasound Regions (a NO_ULTRASOUND_REGION
   * run warning), so scanner text and scale bars reached the model. 0 when the model does not crop.
   */
  analysedWhole: z.number().int(),
  /**
   * Cases among n analysed although their files do not record an attribute the model's applicability rules read
   * (e.g. no Body Part Examined): their label (a folder or CSV row for this model) vouches that they are what the
   * model needs, and each carries an APPLICABILITY_NOT_RECORDED warning. Contradicting cases are still excluded.
   */
  vouchedUnrecorded: z.number().int(),
  /**
   * Each of the n analysed cases, in the order they were read (excluded ones are in `excluded`): its truth label,
   * the positive label's score, the call at the threshold and whether that call matches the label. Kept compact
   * (thousands of cases cross IPC): warnings are RunWarning codes only, absent when the run noticed nothing.
   */
  cases: z.array(
    z.object({
      /** The case's file (the first one read, when the case is a series of several). */
      file: z.string(),
      label: z.string(),
      score: z.number(),
      predictedPositive: z.boolean(),
      correct: z.boolean(),
      warnings: z.array(z.string()).optional(),
      /** Files the case holds when more than one (a series of several images); absent: one. */
      files: z.number().int().optional(),
    }),
  ),
  /** What one case was (ValidateModelRequest.caseUnit); n, the metrics and their intervals count these. */
  caseUnit: z.enum(['series', 'file']),
});
export type ValidationResult = z.infer<typeof ValidationResultSchema>;
export type ValidationCase = ValidationResult['cases'][number];

export const ValidateProgressSchema = z.object({
  modelId: z.string(),
  done: z.number().int(),
  total: z.number().int(),
  /** "reading": the case files' headers, read to group them into series (done / total files); "analysing" (absent too): the cases. */
  phase: z.enum(['reading', 'analysing']).optional(),
});
export type ValidateProgress = z.infer<typeof ValidateProgressSchema>;

export const RuntimeInfoSchema = z.object({
  /** ONNX Runtime version of this installation (null when it cannot be read). */
  ortVersion: z.string().nullable(),
  platform: z.string(),
  arch: z.string(),
  /** Best first; cpu last (the fallback). */
  providers: z.array(
    z.object({
      name: z.string(),
      /** Its binaries are in this installation and it is in the provider order (whether the machine can run it shows when a session is created). */
      available: z.boolean(),
      /** Why it is not available, or not used. */
      reason: z.string().optional(),
    }),
  ),
  forceCpu: z.boolean(),
  /** The provider that ran the latest analysis or validation. */
  lastRun: z.object({ provider: z.string(), modelId: z.string(), at: z.string(), note: z.string().nullable().optional() }).nullable(),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfoSchema>;

const Empty = z.object({}).strict();

// ---------------------------------------------------------------------------
// Channels: name -> request schema + response schema.
// ---------------------------------------------------------------------------

export const channels = {
  'app.info': { request: Empty, response: AppInfoSchema },
  'library.import': { request: ImportRequestSchema.strict(), response: ImportSummarySchema },
  'library.cancelImport': {
    request: z.object({ importId: z.string().min(1).max(64) }).strict(),
    response: z.object({ cancelled: z.boolean() }),
  },
  'library.listStudies': { request: StudyQuerySchema.strict(), response: StudyListSchema },
  'library.getStudy': {
    request: z.object({ studyInstanceUid: Uid }).strict(),
    response: StudyDetailSchema,
  },
  'library.lastImport': { request: Empty, response: ImportRecordSchema.nullable() },
  'library.listInstances': {
    request: z.object({ seriesInstanceUid: Uid }).strict(),
    response: SeriesInstancesSchema,
  },
  /** Native file/folder picker. Only the Electron host can show one. */
  'dialog.chooseImportSources': {
    request: z.object({ kind: z.enum(['folder', 'files']) }).strict(),
    response: z.object({ paths: z.array(z.string()) }),
  },
  /** Model packages (bundled and user) with their validation status. */
  'models.list': { request: Empty, response: z.object({ models: z.array(ModelInfoSchema) }) },
  /** Queues every applicable (or the named) model for a study or one series. */
  'analysis.run': {
    request: AnalysisRunRequestSchema.strict(),
    response: z.object({ queued: z.array(AnalysisJobSchema), notAnalysed: z.array(AnalysisJobSchema) }),
  },
  'analysis.results': {
    request: z.object({ studyInstanceUid: Uid }).strict(),
    response: z.object({ results: z.array(AnalysisResultSchema) }),
  },
  'analysis.jobs': { request: Empty, response: z.object({ jobs: z.array(AnalysisJobSchema) }) },
  'analysis.cancel': { request: z.object({ jobId: z.string().min(1).max(64) }).strict(), response: z.object({ cancelled: z.boolean() }) },
  'analysis.retry': { request: z.object({ jobId: z.string().min(1).max(64) }).strict(), response: z.object({ retried: z.boolean() }) },
  /** Series thumbnail cached on disk (<dataDir>/thumbnails), PNG as base64; null until one is saved. */
  'library.getThumbnail': {
    request: z.object({ seriesInstanceUid: Uid }).strict(),
    response: z.object({ pngBase64: z.string().nullable() }),
  },
  /** Stores a small series thumbnail (PNG, ≤ 96 KB) the viewer rendered. */
  'library.saveThumbnail': {
    request: z.object({ seriesInstanceUid: Uid, pngBase64: z.string().min(8).max(131_072) }).strict(),
    response: z.object({ saved: z.boolean() }),
  },
  /**
   * Deletes a study: its rows, its managed-storage copies no other instance
   * references (referenced originals are never touched), its AI jobs, results
   * and result files. `deleted` is false when the study is not in the library.
   */
  'library.deleteStudy': {
    request: z.object({ studyInstanceUid: Uid }).strict(),
    response: z.object({ deleted: z.boolean() }),
  },
  /** Accept, reject or correct one finding; stored with the reviewer's name and the time. */
  'review.set': { request: ReviewSetRequestSchema.strict(), response: ReviewSchema },
  'review.list': { request: z.object({ studyInstanceUid: Uid }).strict(), response: ReviewListSchema },
  /**
   * Saves brush / eraser edits of a segmentation mask: whole slices (planes of the source grid,
   * uint8, gzip, base64). The model's mask is never changed; the reviewed mask is a second file.
   */
  'review.saveMaskEdits': {
    request: z
      .object({
        resultId: z.number().int().positive(),
        file: z.string().min(1).max(200),
        slices: z.array(z.object({ slice: z.number().int().min(0), planeGzBase64: z.string().min(4).max(8_000_000) }).strict()).min(1).max(64),
      })
      .strict(),
    response: z.object({ reviewedFile: z.string(), voxels: z.record(z.string(), z.number().int()) }),
  },
  'settings.get': { request: Empty, response: SettingsSchema },
  'settings.update': {
    request: z.object({ reviewerName: z.string().max(200).optional(), aiForceCpu: z.boolean().optional(), aiAutoRunOnImport: z.boolean().optional() }).strict(),
    response: SettingsSchema,
  },
  /** Local validation of a classifier on labelled cases (runs off the main thread; progress as models.validateProgress). */
  'models.validate': { request: ValidateModelRequestSchema.strict(), response: ValidationResultSchema },
  /**
   * Stops the running local validation (its models.validate answers CANCELLED) and answers once it has stopped, at its
   * next step (a file decoded, a model run); cancelled false when none runs.
   */
  'models.cancelValidation': { request: Empty, response: z.object({ cancelled: z.boolean() }) },
  /** ONNX Runtime version, execution providers and the provider that ran last. */
  'ai.runtimeInfo': { request: Empty, response: RuntimeInfoSchema },
  /** Saves a self-contained HTML report through a native save dialog (Electron only); saved false when cancelled. */
  'reports.save': {
    request: z.object({ suggestedName: z.string().min(1).max(200), html: z.string().min(1).max(20_000_000) }).strict(),
    response: z.object({ saved: z.boolean(), path: z.string().nullable() }),
  },
  /**
   * Re-scans the bundled and user model folders and re-validates every package (a changed model.onnx is
   * hashed again), so packages added, removed or replaced need no restart. Running jobs keep the model they
   * started with. Lists what changed by package folder; emits models.changed.
   */
  'models.rescan': {
    request: Empty,
    response: z.object({ models: z.array(ModelInfoSchema), added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
  },
  /**
   * Native picker for models.validate's labelled cases (Electron only): a folder with one sub-folder per
   * label, or a CSV of file,label rows. Two kinds because Linux and Windows cannot offer files and folders
   * in one dialog. path null when cancelled.
   */
  'dialog.chooseValidationCases': {
    request: z.object({ kind: z.enum(['folder', 'csv']) }).strict(),
    response: z.object({ path: z.string().nullable() }),
  },
} as const;

export type Channel = keyof typeof channels;
export type RequestOf<C extends Channel> = z.input<(typeof channels)[C]['request']>;
export type ResponseOf<C extends Channel> = z.infer<(typeof channels)[C]['response']>;
export const channelNames = Object.keys(channels) as Channel[];

export function isChannel(name: unknown): name is Channel {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(channels, name);
}

/** Validates a request payload. Returns a typed error value on failure. */
export function parseRequest<C extends Channel>(
  channel: C,
  payload: unknown,
): Result<z.infer<(typeof channels)[C]['request']>> {
  const parsed = channels[channel].request.safeParse(payload ?? {});
  if (parsed.success) return { ok: true, value: parsed.data as z.infer<(typeof channels)[C]['request']> };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  return {
    ok: false,
    error: { code: 'BAD_REQUEST', message: `Invalid ${channel} request${where}: ${issue?.message ?? 'malformed'}` },
  };
}

// ---------------------------------------------------------------------------
// Events main pushes to the renderer.
// ---------------------------------------------------------------------------

export const events = {
  'import.progress': ImportProgressSchema,
  /** The library changed (import finished, study deleted): refresh lists. */
  'library.changed': z.object({ reason: z.string() }),
  /** The OS asked Vigil to open a file (file association, second launch): show its study. */
  'app.openStudy': z.object({ studyInstanceUid: z.string() }),
  /** An analysis job changed state (queued, running phase, finished). */
  'analysis.progress': AnalysisProgressSchema,
  /** Cases done of a running models.validate. */
  'models.validateProgress': ValidateProgressSchema,
  /** The model list changed (models.rescan): refresh model lists and pickers. */
  'models.changed': z.object({ reason: z.string() }),
} as const;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.infer<(typeof events)[E]>;
export const eventNames = Object.keys(events) as EventName[];
export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

/** Electron IPC channel names are prefixed so nothing else can collide. */
export const IPC_INVOKE_PREFIX = 'vigil:invoke:';
export const IPC_EVENT_PREFIX = 'vigil:event:';

// ---------------------------------------------------------------------------
// window.vigil: declared once. Preload (Electron) and the bridge client
// (dev/test) both build it with `buildVigilApi`, so the shape cannot drift.
// ---------------------------------------------------------------------------

type Namespaces<C extends string> = C extends `${infer N}.${string}` ? N : never;
type MethodsOf<N extends string> = {
  [C in Channel as C extends `${N}.${infer M}` ? M : never]: (
    request: RequestOf<C>,
  ) => Promise<Result<ResponseOf<C>>>;
};
export type VigilInvokeApi = { [N in Namespaces<Channel>]: MethodsOf<N> };

/** A dropped or picked File as the renderer sees it (the DOM File type is not imported here). */
export interface DroppedFile {
  readonly name: string;
  /** Path inside a dropped folder, e.g. "CT/IM0001"; empty for a loose file. */
  readonly relativePath: string;
  readonly file: unknown;
}

export interface VigilApi extends VigilInvokeApi {
  readonly host: 'electron' | 'bridge';
  /** Subscribe to a typed event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
  /**
   * Turns files dropped on (or picked in) the window into paths main can import.
   * Electron resolves real paths; the bridge uploads bytes to a staging folder.
   */
  resolveDroppedFiles(files: readonly DroppedFile[]): Promise<Result<{ paths: string[] }>>;
  /** URL of an instance's DICOM bytes (custom protocol in Electron, bridge URL in tests). */
  instanceUrl(sopInstanceUid: string): string;
  /** URL of one array file (mask, heatmap; gzip bytes) of an analysis result. */
  resultUrl(resultId: number, file: string): string;
}

export interface ApiTransport {
  invoke(channel: Channel, request: unknown): Promise<Result<unknown>>;
}

/** Builds the namespaced invoke methods from the channel list. */
export function buildInvokeApi(transport: ApiTransport): VigilInvokeApi {
  const api: Record<string, Record<string, (request: unknown) => Promise<Result<unknown>>>> = {};
  for (const channel of channelNames) {
    const [ns, method] = channel.split('.') as [string, string];
    api[ns] ??= {};
    api[ns][method] = (request: unknown) => transport.invoke(channel, request ?? {});
  }
  return api as unknown as VigilInvokeApi;
}

/** Unwraps a Result or throws an Error carrying the code (renderer convenience). */
export class VigilRequestError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'VigilRequestError';
  }
}
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new VigilRequestError(result.error.code, result.error.message);
}

/** What the validation-cases picker asks for: one labelled folder or one CSV. */
export type ValidationCasesKind = RequestOf<'dialog.chooseValidationCases'>['kind'];
