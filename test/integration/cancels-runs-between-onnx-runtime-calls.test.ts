/**
 * Cancelling a validation or an analysis job at any moment leaves the process running. A worker thread terminated
 * inside an ONNX Runtime run aborts the whole process (onnxruntime-node throws a C++ exception nothing catches:
 * Electron's main would go with it), which is how a cancelled validation once took the app down. So the built workers
 * stop a run at its next step through a shared flag: each cancel below lands at a different moment of runs that
 * spend most of their time inside ONNX Runtime, and the runner then takes the next run. Through the services: a job
 * cancelled before its model has loaded never runs, and one running when Vigil closes is pending again and runs at
 * the next start.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InferenceRunner, JobCancelledError } from '../../electron/services/ai/inference-runner';
import { ValidationCancelledError } from '../../electron/services/ai/local-validation';
import { ModelRegistry, type ReadyModel } from '../../electron/services/ai/model-registry';
import type { VigilServices } from '../../electron/services/vigil-services';
import { ValidationRunner } from '../../electron/services/ai/validation-runner';
import { writeConstantCase, writeSlowBrightnessClassifier } from '../fixtures/models/model-package-fixture';
import { ensureBuilt, openLibrary, openServicesOnBuiltWorker, repoRoot } from './helpers';

const STUDY = '1.2.826.0.1.3680043.10.1138.907';
const CASES_PER_LABEL = 6;
/** Cancels land this far apart, from at once to past the end of a whole run. */
const STEP_MS = 70;
const TRIES = 12;
/** Images of the analysed series: a job runs the model once per image, for a second or more in all. */
const SERIES_IMAGES = 30;

let root: string;
let model: ReadyModel;
const seriesFiles: string[] = [];

beforeAll(async () => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'vigil-cancel-runs-'));
  writeSlowBrightnessClassifier(join(root, 'models', 'slow'));
  for (let i = 0; i < CASES_PER_LABEL; i++) {
    writeConstantCase(join(root, 'cases', 'dark', `d${i}.dcm`), { study: STUDY, series: 100 + i, image: 1, value: 10 });
    writeConstantCase(join(root, 'cases', 'bright', `b${i}.dcm`), { study: STUDY, series: 200 + i, image: 1, value: 90 });
  }
  // One series of many images for analysis jobs (an image-unit model runs once per image).
  for (let i = 1; i <= SERIES_IMAGES; i++) {
    const file = join(root, 'series', `${i}.dcm`);
    writeConstantCase(file, { study: STUDY, series: 300, image: i, value: 90 });
    seriesFiles.push(file);
  }
  const loaded = await new ModelRegistry([{ dir: join(root, 'models'), origin: 'user' }]).get('test-slow-brightness');
  if (!loaded) throw new Error('the slow test model did not load');
  model = loaded;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cancelling runs that spend their time inside ONNX Runtime', () => {
  it('a validation cancelled at any moment ends as cancelled, and the next one runs whole', async () => {
    const runner = new ValidationRunner({ workerUrl: pathToFileURL(join(repoRoot, 'out/node/validation-worker.js')), threads: 1, providers: ['cpu'] });
    const job = { model, casesPath: join(root, 'cases'), provider: 'cpu' as const, resamples: 200 };
    const outcomes: string[] = [];
    for (let i = 0; i < TRIES; i++) {
      let cancelled: boolean | null = null;
      const run = runner.run(job);
      const timer = setTimeout(() => (cancelled = runner.cancel()), i * STEP_MS);
      const outcome = await run.then(
        (report) => `finished ${report.n}`,
        (err: unknown) => (err instanceof ValidationCancelledError ? 'cancelled' : `failed: ${String(err)}`),
      );
      clearTimeout(timer);
      // Cancelled whenever cancel() said it would be; else the run had ended first.
      expect(outcome).toBe(cancelled ? 'cancelled' : `finished ${2 * CASES_PER_LABEL}`);
      expect(runner.busy).toBe(false);
      outcomes.push(outcome);
    }
    expect(outcomes.filter((o) => o === 'cancelled').length).toBeGreaterThan(TRIES / 2);
    const report = await runner.run(job);
    expect(report).toMatchObject({ n: 2 * CASES_PER_LABEL, positives: CASES_PER_LABEL, auc: 1 });
    // Closed (Vigil quitting) right after a cancel, inside a run: close waits for the run to stop, never cuts it.
    const last = runner.run(job).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 300));
    expect(runner.cancel()).toBe(true);
    await runner.close();
    expect(await last).toBeInstanceOf(ValidationCancelledError);
    expect(runner.busy).toBe(false);
  });

  it('an analysis job cancelled at any moment rejects as cancelled once its worker has left it, and the next job runs', async () => {
    const runner = new InferenceRunner({ workerUrl: pathToFileURL(join(repoRoot, 'out/node/inference-worker.js')), threads: 1, providers: ['cpu'] });
    const job = (id: string) => ({
      jobId: id,
      model: { id: model.manifest.id, modelPath: model.modelPath, manifest: model.manifest },
      files: seriesFiles,
      provider: 'cpu' as const,
      outputDir: join(root, 'runs', id),
    });
    let cancelledCount = 0;
    for (let i = 0; i < TRIES; i++) {
      let cancelled: boolean | null = null;
      const run = runner.run(job(`job-${i}`));
      expect(runner.cancel('another-job')).toBe(false);
      const timer = setTimeout(() => (cancelled = runner.cancel(`job-${i}`)), i * STEP_MS);
      const outcome = await run.then(
        (r) => r.status,
        (err: unknown) => (err instanceof JobCancelledError ? 'cancelled' : `failed: ${String(err)}`),
      );
      clearTimeout(timer);
      expect(outcome).toBe(cancelled ? 'cancelled' : 'done');
      if (cancelled) cancelledCount++;
    }
    expect(cancelledCount).toBeGreaterThan(TRIES / 2);
    const r = await runner.run(job('whole'));
    expect(r.status).toBe('done');
    expect(r.inputSopInstanceUids).toHaveLength(SERIES_IMAGES);
    expect(r.findings.find((f) => f.label === 'bright')?.score).toBeGreaterThan(0.5);
    await runner.close();
    // Only classification: no job wrote arrays.
    expect(readdirSync(root)).not.toContain('runs');
  });
});

describe('stopping analysis jobs through the services', () => {
  const open = (): Promise<VigilServices> => openServicesOnBuiltWorker(root, { importWorkers: 0, inferenceThreads: 1 });
  const jobOf = (services: VigilServices) => services.analysis.queue.list().find((j) => j.modelId === 'test-slow-brightness');

  it('never runs a job cancelled while its model was still loading', async () => {
    const services = await open();
    try {
      await services.library.import({ paths: [join(root, 'series')] });
      // The job's package lookup held back, as a first scan hashing large packages would (analyze's own goes through).
      let release!: () => void;
      const held = new Promise<void>((done) => (release = done));
      const get = ModelRegistry.prototype.get;
      let calls = 0;
      const spy = vi.spyOn(ModelRegistry.prototype, 'get').mockImplementation(async function (this: ModelRegistry, id: string) {
        if (++calls > 1) await held;
        return get.call(this, id);
      });
      const run = vi.spyOn(InferenceRunner.prototype, 'run');
      try {
        await services.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'test-slow-brightness', provider: 'cpu' });
        await vi.waitFor(() => expect(jobOf(services)?.status).toBe('running'));
        expect(services.analysis.queue.cancel(jobOf(services)!.id)).toBe(true);
        release();
        await services.analysis.queue.whenIdle();
      } finally {
        spy.mockRestore();
        run.mockRestore();
      }
      expect(run).not.toHaveBeenCalled();
      expect(jobOf(services)).toMatchObject({ status: 'cancelled', reason: 'cancelled by the user' });
      expect(services.analysis.resultsForStudy(STUDY)).toEqual([]);
    } finally {
      await services.close();
    }
  });

  it('leaves a job running when Vigil closes pending, and runs it at the next start', async () => {
    const first = await open();
    let jobId: string;
    try {
      await first.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'test-slow-brightness', provider: 'cpu' });
      const inference = new Promise<void>((done) => {
        const off = first.events.subscribe((event, payload) => {
          if (event === 'analysis.progress' && (payload as { phase?: string }).phase === 'inference') {
            off();
            done();
          }
        });
      });
      await inference;
      jobId = jobOf(first)!.id;
    } finally {
      await first.close();
    }
    // Recorded as pending (not cancelled by the user), with no result.
    const db = openLibrary(join(root, 'data'));
    try {
      expect(db.prepare('SELECT status, reason FROM ai_jobs WHERE id = ?').get(jobId)).toEqual({ status: 'pending', reason: null });
      expect(db.prepare('SELECT count(*) AS n FROM ai_results WHERE job_id = ?').get(jobId)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const again = await open();
    try {
      await again.analysis.queue.whenIdle();
      const job = jobOf(again)!;
      expect(job).toMatchObject({ id: jobId, status: 'done' });
      expect(again.analysis.resultsForStudy(STUDY).map((r) => r.status)).toEqual(['done']);
    } finally {
      await again.close();
    }
  });
});
