/**
 * InferenceQueue: persistent analysis jobs (table ai_jobs), one per
 * (series, model). STAT jobs run first, then in order of arrival. Jobs can be
 * cancelled (pending or running) and retried; jobs left pending or running
 * when the app stopped resume on the next start.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { sameSet, type VouchCoverage } from './applicability';

export type JobStatus = 'pending' | 'running' | 'done' | 'not-analysed' | 'failed' | 'cancelled';

/** The reader's vouch a job was queued on: the image instances they saw and the model package (sha-256) they vouched for. */
export interface ReaderVouch extends VouchCoverage {
  /** The attributes the series did not record when the reader vouched. */
  attributes: string[];
}

export interface QueuedJob {
  id: string;
  studyUid: string;
  seriesUid: string;
  modelId: string;
  priority: number;
  status: JobStatus;
  provider: 'auto' | 'cpu';
  attempts: number;
  reason: string | null;
  resultId: number | null;
  /** The reader's vouch for what the series does not record, when the job was queued on one; null: nobody vouched. */
  readerVouch: ReaderVouch | null;
}

export interface JobOutcome {
  /** interrupted: stopped because Vigil is closing; pending again, so it runs at the next start. */
  status: 'done' | 'not-analysed' | 'failed' | 'cancelled' | 'interrupted';
  reason?: string;
  resultId?: number | null;
}

export type JobExecutor = (job: QueuedJob) => Promise<JobOutcome>;
export type JobListener = (job: QueuedJob) => void;

interface Row {
  id: string;
  study_uid: string;
  series_uid: string;
  model_id: string;
  priority: number;
  status: JobStatus;
  provider_pref: string;
  attempts: number;
  reason: string | null;
  result_ref: number | null;
  /** JSON ReaderVouch, or NULL (migration v8). */
  reader_vouch: string | null;
}

const ReaderVouchSchema = z.object({ sopInstanceUids: z.array(z.string()), modelSha256: z.string(), attributes: z.array(z.string()) });

/** A stored vouch, or null when there is none or it cannot be read (a vouch never stands on a value it cannot read). */
function parseReaderVouch(json: string | null): ReaderVouch | null {
  if (json === null) return null;
  try {
    const parsed = ReaderVouchSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Whether two vouches cover the same: the same images, attributes and model package (null: nobody vouched). */
function sameVouch(a: ReaderVouch | null, b: ReaderVouch | null): boolean {
  if (a === null || b === null) return a === b;
  return a.modelSha256 === b.modelSha256 && sameSet(a.sopInstanceUids, b.sopInstanceUids) && sameSet(a.attributes, b.attributes);
}

const toJob = (r: Row): QueuedJob => ({
  id: r.id,
  studyUid: r.study_uid,
  seriesUid: r.series_uid,
  modelId: r.model_id,
  priority: r.priority,
  status: r.status,
  provider: r.provider_pref === 'cpu' ? 'cpu' : 'auto',
  attempts: r.attempts,
  reason: r.reason,
  resultId: r.result_ref,
  readerVouch: parseReaderVouch(r.reader_vouch),
});

export const STAT_PRIORITY = 10;

export class InferenceQueue {
  private running: QueuedJob | null = null;
  private started = false;
  private pumping = false;
  private idleWaiters: (() => void)[] = [];
  private readonly listeners = new Set<JobListener>();
  private cancelRunning: (jobId: string) => void = () => undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly execute: JobExecutor,
  ) {
    // Jobs interrupted by a crash or quit run again.
    this.db.prepare("UPDATE ai_jobs SET status = 'pending', updated_at = ? WHERE status = 'running'").run(new Date().toISOString());
  }

  /** How a running job is stopped (the runner terminates its worker). */
  onCancelRunning(fn: (jobId: string) => void): void {
    this.cancelRunning = fn;
  }

  subscribe(fn: JobListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(job: QueuedJob): void {
    for (const l of this.listeners) {
      try {
        l(job);
      } catch {
        // listeners never stop the queue
      }
    }
  }

  get(id: string): QueuedJob | null {
    const row = this.db.prepare<[string], Row>('SELECT * FROM ai_jobs WHERE id = ?').get(id);
    return row ? toJob(row) : null;
  }

  find(seriesUid: string, modelId: string): QueuedJob | null {
    const row = this.db.prepare<[string, string], Row>('SELECT * FROM ai_jobs WHERE series_uid = ? AND model_id = ?').get(seriesUid, modelId);
    return row ? toJob(row) : null;
  }

  list(status?: JobStatus): QueuedJob[] {
    const rows = status
      ? this.db.prepare<[string], Row>('SELECT * FROM ai_jobs WHERE status = ? ORDER BY priority DESC, seq').all(status)
      : this.db.prepare<[], Row>('SELECT * FROM ai_jobs ORDER BY priority DESC, seq').all();
    return rows.map(toJob);
  }

  private nextSeq(): number {
    return (this.db.prepare<[], { s: number | null }>('SELECT max(seq) AS s FROM ai_jobs').get()?.s ?? 0) + 1;
  }

  /**
   * Queues (series, model). A job already pending or running is kept (a STAT
   * request raises its priority, a reader's vouch is recorded on it: a running job whose run began on another vouch
   * runs again on the new one when it finishes, see pump); a finished one is queued again, with the request's vouch or none.
   */
  enqueue(req: { studyUid: string; seriesUid: string; modelId: string; stat?: boolean; provider?: 'auto' | 'cpu'; readerVouch?: ReaderVouch | null }): QueuedJob {
    const now = new Date().toISOString();
    const priority = req.stat ? STAT_PRIORITY : 0;
    const vouch = req.readerVouch ? JSON.stringify(req.readerVouch) : null;
    const existing = this.find(req.seriesUid, req.modelId);
    if (existing && (existing.status === 'pending' || existing.status === 'running')) {
      if (priority > existing.priority) this.db.prepare('UPDATE ai_jobs SET priority = ?, updated_at = ? WHERE id = ?').run(priority, now, existing.id);
      // A plain request leaves an earlier request's vouch on the job: the reader gave it for the series as it is.
      if (vouch !== null) this.db.prepare('UPDATE ai_jobs SET reader_vouch = ?, updated_at = ? WHERE id = ?').run(vouch, now, existing.id);
      this.kick();
      return this.get(existing.id)!;
    }
    const id = existing?.id ?? randomUUID();
    this.db
      .prepare(
        `INSERT INTO ai_jobs (id, study_uid, series_uid, model_id, priority, status, provider_pref, attempts, reason, result_ref, seq, created_at, updated_at, reader_vouch)
         VALUES (@id, @study, @series, @model, @priority, 'pending', @provider, 0, NULL, NULL, @seq, @now, @now, @vouch)
         ON CONFLICT(series_uid, model_id) DO UPDATE SET status = 'pending', priority = @priority, provider_pref = @provider, reason = NULL, seq = @seq, updated_at = @now, reader_vouch = @vouch`,
      )
      .run({ id, study: req.studyUid, series: req.seriesUid, model: req.modelId, priority, provider: req.provider ?? 'auto', seq: this.nextSeq(), now, vouch });
    const job = this.get(id)!;
    this.emit(job);
    this.kick();
    return job;
  }

  /** Records a (series, model) that was not run, with the reason, as a finished job. */
  recordFinished(req: { studyUid: string; seriesUid: string; modelId: string }, outcome: JobOutcome): QueuedJob {
    const now = new Date().toISOString();
    const id = this.find(req.seriesUid, req.modelId)?.id ?? randomUUID();
    this.db
      .prepare(
        `INSERT INTO ai_jobs (id, study_uid, series_uid, model_id, priority, status, provider_pref, attempts, reason, result_ref, seq, created_at, updated_at)
         VALUES (@id, @study, @series, @model, 0, @status, 'auto', 0, @reason, @result, @seq, @now, @now)
         ON CONFLICT(series_uid, model_id) DO UPDATE SET status = @status, reason = @reason, result_ref = @result, updated_at = @now, reader_vouch = NULL`,
      )
      .run({ id, study: req.studyUid, series: req.seriesUid, model: req.modelId, status: outcome.status, reason: outcome.reason ?? null, result: outcome.resultId ?? null, seq: this.nextSeq(), now });
    const job = this.get(id)!;
    this.emit(job);
    return job;
  }

  cancel(id: string): boolean {
    const job = this.get(id);
    if (!job) return false;
    if (job.status === 'pending') {
      this.setStatus(id, 'cancelled', 'cancelled by the user');
      return true;
    }
    if (job.status === 'running') {
      this.cancelRunning(id);
      return true;
    }
    return false;
  }

  retry(id: string): boolean {
    const job = this.get(id);
    if (!job || (job.status !== 'failed' && job.status !== 'cancelled')) return false;
    this.db.prepare("UPDATE ai_jobs SET status = 'pending', reason = NULL, attempts = attempts + 1, seq = ?, updated_at = ? WHERE id = ?").run(this.nextSeq(), new Date().toISOString(), id);
    this.emit(this.get(id)!);
    this.kick();
    return true;
  }

  private setStatus(id: string, status: JobStatus, reason: string | null, resultId: number | null = null): void {
    this.db.prepare('UPDATE ai_jobs SET status = ?, reason = ?, result_ref = coalesce(?, result_ref), updated_at = ? WHERE id = ?').run(status, reason, resultId, new Date().toISOString(), id);
    const job = this.get(id);
    if (job) this.emit(job);
  }

  /** Starts processing (pending jobs from a previous run included). */
  start(): void {
    this.started = true;
    this.kick();
  }

  stop(): void {
    this.started = false;
  }

  get isIdle(): boolean {
    return !this.running && !this.pumping && (!this.started || this.list('pending').length === 0);
  }

  /** Resolves when nothing is pending or running. */
  whenIdle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (!this.started || this.pumping) return;
    this.pumping = true;
    setImmediate(() => void this.pump());
  }

  /**
   * A reader's vouch given while the job ran is recorded on its row (enqueue), after the run read its own: the run
   * finished on the vouch it began with, so the series is queued again to run on the new one. Not after a cancel
   * (the reader stopped it, or its study is being deleted), nor when the row's vouch is the one the run had.
   */
  private rerunOnNewVouch(ran: QueuedJob): void {
    const now = this.get(ran.id);
    if (!now || now.status === 'cancelled' || now.readerVouch === null || sameVouch(now.readerVouch, ran.readerVouch)) return;
    this.db.prepare("UPDATE ai_jobs SET status = 'pending', reason = NULL, seq = ?, updated_at = ? WHERE id = ?").run(this.nextSeq(), new Date().toISOString(), ran.id);
    this.emit(this.get(ran.id)!);
  }

  private async pump(): Promise<void> {
    try {
      while (this.started) {
        const row = this.db.prepare<[], Row>("SELECT * FROM ai_jobs WHERE status = 'pending' ORDER BY priority DESC, seq LIMIT 1").get();
        if (!row) break;
        const job = toJob(row);
        this.setStatus(job.id, 'running', null);
        this.running = { ...job, status: 'running' };
        let outcome: JobOutcome;
        try {
          outcome = await this.execute(this.running);
        } catch (err) {
          outcome = { status: 'failed', reason: (err as Error).message };
        }
        this.running = null;
        if (outcome.status === 'interrupted') {
          this.setStatus(job.id, 'pending', null);
          continue;
        }
        this.setStatus(job.id, outcome.status, outcome.reason ?? null, outcome.resultId ?? null);
        this.rerunOnNewVouch(job);
      }
    } finally {
      this.pumping = false;
      if (this.isIdle) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
