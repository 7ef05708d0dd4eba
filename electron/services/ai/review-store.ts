/**
 * ReviewStore: the radiologist's decision on each AI finding (accept, reject,
 * correct the class), with the reviewer's name and the time, in table
 * ai_reviews (migration v3 in study-index.ts). Append-only: every decision is
 * kept and the latest per (result, finding) is the current one. The model's
 * own output in ai_results is never modified, so original and reviewed
 * versions sit side by side.
 *
 * What needs a decision is each positive finding (contract needsReview): for a
 * classifier, the model's positive call of a run (a run that called only its
 * "nothing found" label has nothing to review: the radiologist reads the images
 * anyway, and the worklist shows it as negative); for a detector, each box
 * label; for a lesion segmentation, each label at or above its minimum volume.
 * Negative scores, normal labels and anatomy volumes are shown, not reviewable,
 * and never hold back "all findings reviewed".
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import { type Finding, needsReview, type Review, type ReviewList, type ReviewSetRequest } from '../../../contract/ipc-contract';
import { ServiceError } from '../service-error';
import type { ResultsStore } from './results-store';

const SETTING_REVIEWER = 'review.reviewerName';

interface Row {
  id: number;
  result_id: number;
  study_uid: string;
  finding_label: string;
  decision: Review['decision'];
  corrected_label: string | null;
  note: string | null;
  reviewer: string;
  reviewed_at: string;
}

function toReview(r: Row): Review {
  return {
    reviewId: r.id,
    resultId: r.result_id,
    studyInstanceUid: r.study_uid,
    findingLabel: r.finding_label,
    decision: r.decision,
    correctedLabel: r.corrected_label,
    note: r.note,
    reviewer: r.reviewer,
    reviewedAt: r.reviewed_at,
  };
}

export interface SettingsAccess {
  getSetting(key: string): string | null;
  setSetting(key: string, value: string): void;
}

/** The reviewed copy of a mask file: `seg-mask.u8.gz` -> `seg-mask.u8.reviewed.gz`. */
export function reviewedMaskFile(file: string): string {
  return file.replace(/\.gz$/, '') + '.reviewed.gz';
}

export interface MaskEditRequest {
  resultId: number;
  file: string;
  slices: { slice: number; planeGzBase64: string }[];
}

export class ReviewStore {
  constructor(
    private readonly db: Database.Database,
    private readonly settings: SettingsAccess,
    private readonly now: () => Date = () => new Date(),
    private readonly results: ResultsStore | null = null,
  ) {}

  get reviewerName(): string {
    return this.settings.getSetting(SETTING_REVIEWER) ?? '';
  }

  setReviewerName(name: string): void {
    this.settings.setSetting(SETTING_REVIEWER, name.trim());
  }

  /** Records a decision on one finding of a stored result. */
  set(req: ReviewSetRequest): Review {
    const result = this.db
      .prepare<[number], { study_uid: string; status: string; findings: string }>('SELECT study_uid, status, findings FROM ai_results WHERE id = ?')
      .get(req.resultId);
    if (!result) throw new ServiceError('NOT_FOUND', `No analysis result ${req.resultId}.`);
    const findings = JSON.parse(result.findings) as Finding[];
    const finding = findings.find((f) => f.label === req.findingLabel);
    if (!finding) throw new ServiceError('NOT_FOUND', `Result ${req.resultId} has no finding "${req.findingLabel}".`);
    if (!needsReview(finding)) {
      const what = finding.measurement ? 'a measurement' : finding.normal ? 'a "nothing found" label' : 'below its threshold';
      throw new ServiceError('BAD_REQUEST', `"${req.findingLabel}" is ${what}: only positive findings are reviewed.`);
    }
    if (req.decision === 'corrected' && !req.correctedLabel) throw new ServiceError('BAD_REQUEST', 'A correction needs the corrected label.');
    const reviewer = this.reviewerName;
    if (!reviewer) throw new ServiceError('BAD_REQUEST', 'Set the reviewer name in the settings before reviewing findings.');
    const info = this.db
      .prepare(
        'INSERT INTO ai_reviews (result_id, study_uid, finding_label, decision, corrected_label, note, reviewer, reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        req.resultId,
        result.study_uid,
        req.findingLabel,
        req.decision,
        req.decision === 'corrected' ? (req.correctedLabel ?? null) : null,
        req.note ?? null,
        reviewer,
        this.now().toISOString(),
      );
    return toReview(this.db.prepare<[number], Row>('SELECT * FROM ai_reviews WHERE id = ?').get(Number(info.lastInsertRowid))!);
  }

  /** Every decision on a finding, oldest first (the audit trail). */
  history(resultId: number, findingLabel: string): Review[] {
    return this.db
      .prepare<[number, string], Row>('SELECT * FROM ai_reviews WHERE result_id = ? AND finding_label = ? ORDER BY id')
      .all(resultId, findingLabel)
      .map(toReview);
  }

  /**
   * Current reviews of a study, and whether every finding that needs review in
   * its latest done results (one per series and model) has a decision.
   */
  list(studyUid: string): ReviewList {
    const reviews = this.db
      .prepare<[string], Row>(
        'SELECT * FROM ai_reviews v WHERE study_uid = ? AND id = (SELECT max(id) FROM ai_reviews x WHERE x.result_id = v.result_id AND x.finding_label = v.finding_label) ORDER BY id',
      )
      .all(studyUid)
      .map(toReview);
    const latest = this.db
      .prepare<[string], { id: number; findings: string }>(
        "SELECT id, findings FROM ai_results r WHERE study_uid = ? AND status = 'done' AND id = (SELECT max(id) FROM ai_results x WHERE x.series_uid = r.series_uid AND x.model_id = r.model_id)",
      )
      .all(studyUid);
    const current = new Map(reviews.map((r) => [`${r.resultId}\0${r.findingLabel}`, r.decision]));
    const decided = { accepted: 0, rejected: 0, corrected: 0 };
    let findings = 0;
    for (const r of latest) {
      for (const f of JSON.parse(r.findings) as Finding[]) {
        if (!needsReview(f)) continue;
        findings++;
        const decision = current.get(`${r.id}\0${f.label}`);
        if (decision) decided[decision]++;
      }
    }
    const reviewed = decided.accepted + decided.rejected + decided.corrected;
    const maskEdits = this.db
      .prepare<[string], { result_id: number; file: string; reviewed_file: string; voxels: string; reviewer: string; edited_at: string }>(
        'SELECT * FROM ai_mask_edits e WHERE study_uid = ? AND id = (SELECT max(id) FROM ai_mask_edits x WHERE x.result_id = e.result_id AND x.file = e.file) ORDER BY id',
      )
      .all(studyUid)
      .map((e) => ({ resultId: e.result_id, file: e.file, reviewedFile: e.reviewed_file, voxels: JSON.parse(e.voxels) as Record<string, number>, reviewer: e.reviewer, editedAt: e.edited_at }));
    return { reviews, findings, reviewed, ...decided, allReviewed: findings > 0 && reviewed === findings, maskEdits };
  }

  /**
   * Brush / eraser edits of a segmentation mask: replaces whole slices in the
   * reviewed copy (made from the model's mask on the first edit) and records
   * who edited which slices when. The model's mask file is never written.
   */
  saveMaskEdits(req: MaskEditRequest): { reviewedFile: string; voxels: Record<string, number> } {
    const result = this.results?.get(req.resultId);
    if (!result) throw new ServiceError('NOT_FOUND', `No analysis result ${req.resultId}.`);
    const seg = result.outputs.find((o) => o.kind === 'segmentation' && o.mask.file === req.file);
    if (!seg || seg.kind !== 'segmentation') throw new ServiceError('NOT_FOUND', `Result ${req.resultId} has no mask ${req.file}.`);
    const reviewer = this.reviewerName;
    if (!reviewer) throw new ServiceError('BAD_REQUEST', 'Set the reviewer name in the settings before editing a label map.');
    const [slices, rows, cols] = seg.mask.shape;
    const plane = rows * cols;
    const reviewedFile = reviewedMaskFile(req.file);
    const reviewedPath = join(result.filesDir, reviewedFile);
    const source = existsSync(reviewedPath) ? reviewedPath : join(result.filesDir, req.file);
    const mask = new Uint8Array(gunzipSync(readFileSync(source)));
    if (mask.length !== slices * plane) throw new ServiceError('IO_ERROR', `Mask ${req.file} has ${mask.length} voxels, expected ${slices * plane}.`);
    const allowed = new Set(seg.labels.map((l) => l.index));
    for (const { slice, planeGzBase64 } of req.slices) {
      if (slice >= slices) throw new ServiceError('BAD_REQUEST', `Slice ${slice} is outside the mask (${slices} slices).`);
      let values: Uint8Array;
      try {
        values = new Uint8Array(gunzipSync(Buffer.from(planeGzBase64, 'base64'), { maxOutputLength: plane + 1 }));
      } catch {
        throw new ServiceError('BAD_REQUEST', `Slice ${slice}: not a gzip plane of ${rows}×${cols} voxels.`);
      }
      if (values.length !== plane) throw new ServiceError('BAD_REQUEST', `Slice ${slice}: ${values.length} voxels, expected ${plane}.`);
      for (const v of values) if (!allowed.has(v)) throw new ServiceError('BAD_REQUEST', `Slice ${slice}: label ${v} is not one of the model's labels.`);
      mask.set(values, slice * plane);
    }
    const voxels: Record<string, number> = {};
    for (const l of seg.labels) voxels[String(l.index)] = 0;
    for (const v of mask) voxels[String(v)] = (voxels[String(v)] ?? 0) + 1;
    // Write-then-rename: a crash never leaves a half-written reviewed mask.
    writeFileSync(`${reviewedPath}.tmp`, gzipSync(mask, { level: 1 }));
    renameSync(`${reviewedPath}.tmp`, reviewedPath);
    this.db
      .prepare('INSERT INTO ai_mask_edits (result_id, study_uid, file, reviewed_file, slices, voxels, reviewer, edited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(req.resultId, result.studyInstanceUid, req.file, reviewedFile, JSON.stringify(req.slices.map((x) => x.slice)), JSON.stringify(voxels), reviewer, this.now().toISOString());
    return { reviewedFile, voxels };
  }
}
