/**
 * ReviewStore: the radiologist's decision on each AI finding (accept, reject,
 * correct the class), with the reviewer's name and the time, in table
 * ai_reviews (migration v3 in study-index.ts). Append-only: every decision is
 * kept and the latest per (result, finding) is the current one. The model's
 * own output in ai_results is never modified, so original and reviewed
 * versions sit side by side.
 */
import type Database from 'better-sqlite3';
import type { Review, ReviewList, ReviewSetRequest } from '../../../contract/ipc-contract';
import { ServiceError } from '../service-error';

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

export class ReviewStore {
  constructor(
    private readonly db: Database.Database,
    private readonly settings: SettingsAccess,
    private readonly now: () => Date = () => new Date(),
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
    const findings = JSON.parse(result.findings) as { label: string }[];
    if (!findings.some((f) => f.label === req.findingLabel)) {
      throw new ServiceError('NOT_FOUND', `Result ${req.resultId} has no finding "${req.findingLabel}".`);
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
   * Current reviews of a study, and whether every finding of its latest done
   * results (one per series and model) has one.
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
    const done = new Set(reviews.map((r) => `${r.resultId}\0${r.findingLabel}`));
    let findings = 0;
    let reviewed = 0;
    for (const r of latest) {
      for (const f of JSON.parse(r.findings) as { label: string }[]) {
        findings++;
        if (done.has(`${r.id}\0${f.label}`)) reviewed++;
      }
    }
    return { reviews, findings, reviewed, allReviewed: findings > 0 && reviewed === findings };
  }
}
