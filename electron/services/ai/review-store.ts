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
import { existsSync, renameSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants as zlibConstants, gunzip, gunzipSync, gzip } from 'node:zlib';
import type Database from 'better-sqlite3';
import { type Finding, needsReview, type Review, type ReviewList, type ReviewSetRequest } from '../../../contract/ipc-contract';
import { ServiceError } from '../service-error';
import type { ResultsStore } from './results-store';

const SETTING_REVIEWER = 'review.reviewerName';
const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
/** Voxels counted between two turns of the event loop (a 300-frame cine's mask is 144 M of them). */
const COUNT_CHUNK = 1 << 22;

/** How many voxels hold each value, counted in chunks that let the event loop turn between them. */
async function countLabels(mask: Uint8Array): Promise<Uint32Array> {
  const counts = new Uint32Array(256);
  for (let start = 0; start < mask.length; start += COUNT_CHUNK) {
    const end = Math.min(mask.length, start + COUNT_CHUNK);
    for (let i = start; i < end; i++) counts[mask[i]!]!++;
    if (end < mask.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return counts;
}

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

  /** Settles when every mask edit saved so far is written (or has failed): the database may then close. */
  async whenWritten(): Promise<void> {
    while (this.maskWrites.size > 0) await Promise.allSettled([...this.maskWrites.values()]);
  }

  /** Each mask's edits in progress, one at a time: an edit reads the reviewed copy the one before it wrote. */
  private readonly maskWrites = new Map<string, Promise<unknown>>();

  /**
   * Brush / eraser edits of a segmentation mask: replaces whole slices in the
   * reviewed copy (made from the model's mask on the first edit) and records
   * who edited which slices when. The model's mask file is never written.
   * The request is checked at once; the mask is read, counted and written
   * without holding the event loop (a cine's mask is over 100 MB, and the
   * main process serves every window meanwhile), one edit of a mask at a time,
   * so that strokes saved in quick succession all land.
   */
  saveMaskEdits(req: MaskEditRequest): Promise<{ reviewedFile: string; voxels: Record<string, number> }> {
    const result = this.results?.get(req.resultId);
    if (!result) throw new ServiceError('NOT_FOUND', `No analysis result ${req.resultId}.`);
    const seg = result.outputs.find((o) => o.kind === 'segmentation' && o.mask.file === req.file);
    if (!seg || seg.kind !== 'segmentation') throw new ServiceError('NOT_FOUND', `Result ${req.resultId} has no mask ${req.file}.`);
    const reviewer = this.reviewerName;
    if (!reviewer) throw new ServiceError('BAD_REQUEST', 'Set the reviewer name in the settings before editing a label map.');
    const [slices, rows, cols] = seg.mask.shape;
    const plane = rows * cols;
    const allowed = new Set(seg.labels.map((l) => l.index));
    const planes = req.slices.map(({ slice, planeGzBase64 }) => {
      if (slice >= slices) throw new ServiceError('BAD_REQUEST', `Slice ${slice} is outside the mask (${slices} slices).`);
      let values: Uint8Array;
      try {
        values = new Uint8Array(gunzipSync(Buffer.from(planeGzBase64, 'base64'), { maxOutputLength: plane + 1 }));
      } catch {
        throw new ServiceError('BAD_REQUEST', `Slice ${slice}: not a gzip plane of ${rows}×${cols} voxels.`);
      }
      if (values.length !== plane) throw new ServiceError('BAD_REQUEST', `Slice ${slice}: ${values.length} voxels, expected ${plane}.`);
      for (const v of values) if (!allowed.has(v)) throw new ServiceError('BAD_REQUEST', `Slice ${slice}: label ${v} is not one of the model's labels.`);
      return { slice, values };
    });
    const reviewedFile = reviewedMaskFile(req.file);
    const reviewedPath = join(result.filesDir, reviewedFile);
    const write = async () => {
      const source = existsSync(reviewedPath) ? reviewedPath : join(result.filesDir, req.file);
      const expected = slices * plane;
      const wrongSize = (held: string) => new ServiceError('IO_ERROR', `Mask ${req.file} holds ${held} the ${expected} voxels of its ${slices}×${rows}×${cols} grid: the file does not match its result.`);
      const inflated = await readFile(source)
        .then((gz) => gunzipAsync(gz, { maxOutputLength: expected }))
        .catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ERR_BUFFER_TOO_LARGE' ? wrongSize('more than') : new ServiceError('IO_ERROR', `Mask ${req.file} cannot be read (${err.message}): nothing was saved.`);
        });
      const mask = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
      if (mask.length !== expected) throw wrongSize(`${mask.length} voxels, not`);
      for (const { slice, values } of planes) mask.set(values, slice * plane);
      const counts = await countLabels(mask);
      const voxels: Record<string, number> = {};
      for (const l of seg.labels) voxels[String(l.index)] = counts[l.index]!;
      counts.forEach((n, v) => n > 0 && (voxels[String(v)] = n));
      // Write-then-rename: a crash never leaves a half-written reviewed mask. Run-length coding, as the model's masks.
      const tmp = `${reviewedPath}.tmp`;
      await writeFile(tmp, await gzipAsync(mask, { level: 1, strategy: zlibConstants.Z_RLE }));
      // The row and the rename stand or fall together: a save answered as failed (the reader's screen undoes it) is
      // then in neither the record nor the file the next save starts from.
      try {
        this.db.transaction(() => {
          this.db
            .prepare('INSERT INTO ai_mask_edits (result_id, study_uid, file, reviewed_file, slices, voxels, reviewer, edited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(req.resultId, result.studyInstanceUid, req.file, reviewedFile, JSON.stringify(planes.map((x) => x.slice)), JSON.stringify(voxels), reviewer, this.now().toISOString());
          renameSync(tmp, reviewedPath);
        })();
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err instanceof ServiceError ? err : new ServiceError('IO_ERROR', `The reviewed mask could not be stored (${(err as Error).message}): nothing was saved.`);
      }
      return { reviewedFile, voxels };
    };
    const previous = this.maskWrites.get(reviewedPath) ?? Promise.resolve();
    const done = previous.then(write, write);
    this.maskWrites.set(reviewedPath, done);
    const forget = () => {
      if (this.maskWrites.get(reviewedPath) === done) this.maskWrites.delete(reviewedPath);
    };
    done.then(forget, forget);
    return done;
  }
}
