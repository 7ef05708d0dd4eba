import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InferenceQueue, type JobOutcome, type QueuedJob, type ReaderVouch } from '../../electron/services/ai/inference-queue';
import { StudyIndex } from '../../electron/services/library/study-index';

let root: string;
let index: StudyIndex;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-queue-'));
  index = new StudyIndex(join(root, 'library.sqlite'));
});
afterEach(() => {
  index.close();
  rmSync(root, { recursive: true, force: true });
});

const target = (n: number, stat = false) => ({ studyUid: '1.2.3', seriesUid: `1.2.3.${n}`, modelId: 'm', stat });

describe('InferenceQueue', () => {
  it('runs STAT jobs first, then in arrival order', async () => {
    const order: string[] = [];
    const q = new InferenceQueue(index.db, async (job) => {
      order.push(job.seriesUid);
      return { status: 'done' };
    });
    q.enqueue(target(1));
    q.enqueue(target(2));
    q.enqueue(target(3, true));
    q.start();
    await q.whenIdle();
    expect(order).toEqual(['1.2.3.3', '1.2.3.1', '1.2.3.2']);
    expect(q.list().every((j) => j.status === 'done')).toBe(true);
  });

  it('keeps one job per (series, model) and re-queues a finished one', async () => {
    let runs = 0;
    const q = new InferenceQueue(index.db, async () => {
      runs++;
      return { status: 'done' };
    });
    const a = q.enqueue(target(1));
    const b = q.enqueue(target(1, true));
    expect(b.id).toBe(a.id);
    expect(b.priority).toBeGreaterThan(0);
    q.start();
    await q.whenIdle();
    q.enqueue(target(1));
    await q.whenIdle();
    expect(runs).toBe(2);
    expect(q.list()).toHaveLength(1);
  });

  it('leaves a job interrupted by closing pending, and runs it when a queue starts on the same database', async () => {
    let release: (o: JobOutcome) => void = () => undefined;
    const q = new InferenceQueue(index.db, () => new Promise<JobOutcome>((r) => (release = r)));
    const job = q.enqueue(target(1));
    q.start();
    await vi.waitFor(() => expect(q.get(job.id)?.status).toBe('running'));
    // Closing: the queue stops, the runner stops the job at its next step and says it was interrupted.
    q.stop();
    release({ status: 'interrupted', reason: 'Vigil closed while it ran' });
    await q.whenIdle();
    expect(q.get(job.id)).toMatchObject({ status: 'pending', reason: null });
    let ran = 0;
    const next = new InferenceQueue(index.db, async () => {
      ran++;
      return { status: 'done' };
    });
    next.start();
    await next.whenIdle();
    expect(ran).toBe(1);
    expect(next.get(job.id)?.status).toBe('done');
  });

  it('cancels pending and running jobs; retry queues a cancelled or failed job again', async () => {
    let release: (o: JobOutcome) => void = () => undefined;
    const events: string[] = [];
    const q = new InferenceQueue(index.db, (job: QueuedJob) => {
      if (job.seriesUid.endsWith('.9')) return Promise.resolve({ status: 'failed', reason: 'boom' });
      return new Promise<JobOutcome>((r) => {
        release = r;
      });
    });
    q.onCancelRunning(() => release({ status: 'cancelled', reason: 'cancelled by the user' }));
    q.subscribe((j) => events.push(`${j.seriesUid}:${j.status}`));
    const running = q.enqueue(target(1));
    const pending = q.enqueue(target(2));
    q.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(q.get(running.id)?.status).toBe('running');
    expect(q.cancel(pending.id)).toBe(true);
    expect(q.get(pending.id)?.status).toBe('cancelled');
    expect(q.cancel(running.id)).toBe(true);
    await q.whenIdle();
    expect(q.get(running.id)?.status).toBe('cancelled');
    const failed = q.enqueue(target(9));
    await q.whenIdle();
    expect(q.get(failed.id)).toMatchObject({ status: 'failed', reason: 'boom' });
    expect(q.retry(failed.id)).toBe(true);
    await q.whenIdle();
    expect(q.get(failed.id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(events).toContain('1.2.3.1:running');
    expect(events).toContain('1.2.3.2:cancelled');
  });

  it("runs a job again on a reader's vouch given while it ran, once the run on its old vouch finishes", async () => {
    const vouchA: ReaderVouch = { sopInstanceUids: ['1.2.3.1.1'], modelSha256: 'a'.repeat(64), attributes: ['Body Part Examined'] };
    const vouchB: ReaderVouch = { ...vouchA, sopInstanceUids: ['1.2.3.1.1', '1.2.3.1.2'] };
    // Each run waits for the test to end it; `entered` resolves when the next run has begun.
    const ran: (ReaderVouch | null)[] = [];
    let began: () => void = () => undefined;
    let finish: (o: JobOutcome) => void = () => undefined;
    const entered = () => new Promise<void>((r) => (began = r));
    const q = new InferenceQueue(index.db, (job) => {
      ran.push(job.readerVouch);
      return new Promise<JobOutcome>((r) => {
        finish = r;
        began();
      });
    });
    q.onCancelRunning(() => finish({ status: 'cancelled', reason: 'cancelled by the user' }));
    /** Ends the current run; resolves once the next run began, or the queue went idle (then `ran` shows no re-run). */
    const end = async (o: JobOutcome) => {
      const next = entered();
      finish(o);
      await Promise.race([next, q.whenIdle()]);
    };

    // A plain run begins; the reader vouches while it runs (admit already read the job's vouch: none).
    let begun = entered();
    const job = q.enqueue(target(1));
    q.start();
    await begun;
    q.enqueue({ ...target(1), readerVouch: vouchA });
    expect(q.get(job.id)).toMatchObject({ status: 'running', readerVouch: vouchA });
    await end({ status: 'not-analysed', reason: 'body part not recorded' });
    expect(ran).toEqual([null, vouchA]);
    expect(q.get(job.id)?.status).toBe('running');

    // The same vouch again, or a plain request, while it runs on it: nothing more to run.
    q.enqueue({ ...target(1), readerVouch: { ...vouchA, sopInstanceUids: [...vouchA.sopInstanceUids] } });
    q.enqueue(target(1));
    await end({ status: 'done' });
    expect(ran).toEqual([null, vouchA]);
    expect(q.get(job.id)).toMatchObject({ status: 'done', readerVouch: vouchA });

    // Another vouch (more images) while it runs on the first: run again on it.
    begun = entered();
    q.enqueue({ ...target(1), readerVouch: vouchA });
    await begun;
    q.enqueue({ ...target(1), readerVouch: vouchB });
    await end({ status: 'done' });
    expect(ran).toEqual([null, vouchA, vouchA, vouchB]);
    await end({ status: 'done' });
    expect(q.get(job.id)?.status).toBe('done');

    // A cancelled run is not run again, whatever was vouched meanwhile.
    begun = entered();
    q.enqueue({ ...target(1), readerVouch: vouchB });
    await begun;
    q.enqueue({ ...target(1), readerVouch: vouchA });
    const idle = q.whenIdle();
    expect(q.cancel(job.id)).toBe(true);
    await idle;
    expect(ran).toHaveLength(5);
    expect(q.get(job.id)?.status).toBe('cancelled');
  });

  it('resumes pending and interrupted jobs after a restart', async () => {
    const first = new InferenceQueue(index.db, () => new Promise<JobOutcome>(() => undefined));
    first.enqueue(target(1));
    first.enqueue(target(2));
    first.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(first.list('running')).toHaveLength(1);
    first.stop();
    index.close();

    // "Restart": a new database connection and queue over the same file.
    index = new StudyIndex(join(root, 'library.sqlite'));
    const ran: string[] = [];
    const second = new InferenceQueue(index.db, async (job) => {
      ran.push(job.seriesUid);
      return { status: 'done' };
    });
    expect(second.list('pending')).toHaveLength(2);
    second.start();
    await second.whenIdle();
    expect(ran).toEqual(['1.2.3.1', '1.2.3.2']);
  });
});
