/**
 * The built validation worker (out/node/validation-worker.js, as models.validate runs it off the main event loop):
 * series cases are read first, reported as phase "reading" over the labelled files, then analysed, reported as phase
 * "analysing" over the cases, ending at total; the report crosses back with its cases compact. A cancelled run ends at
 * once with ValidationCancelledError (its worker terminated), and the runner takes the next run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { ValidationCancelledError } from '../../electron/services/ai/local-validation';
import { ValidationRunner } from '../../electron/services/ai/validation-runner';
import { writeBrightnessClassifier, writeConstantCase } from '../fixtures/models/model-package-fixture';
import { ensureBuilt, repoRoot } from './helpers';

const STUDY = '1.2.826.0.1.3680043.10.1138.903';
let root: string;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'vigil-validation-worker-'));
  writeBrightnessClassifier(join(root, 'models', 'bright'));
  // bright: one series of two files and one of one; dark: two series of one file.
  const write = (label: string, name: string, series: number, image: number, value: number) => writeConstantCase(join(root, 'cases', label, name), { study: STUDY, series, image, value });
  write('bright', 'a1.dcm', 1, 1, 90);
  write('bright', 'a2.dcm', 1, 2, 20);
  write('bright', 'b.dcm', 2, 1, 80);
  write('dark', 'c.dcm', 3, 1, 10);
  write('dark', 'd.dcm', 4, 1, 20);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the validation worker', () => {
  it('reports reading the files, then analysing the cases, and returns the series cases', async () => {
    const model = await new ModelRegistry([{ dir: join(root, 'models'), origin: 'user' }]).get('test-brightness');
    if (!model) throw new Error('the test model did not load');
    const runner = new ValidationRunner({ workerUrl: pathToFileURL(join(repoRoot, 'out/node/validation-worker.js')), threads: 1, providers: ['cpu'] });
    const progress: [number, number, string][] = [];
    const report = await runner.run({ model, casesPath: join(root, 'cases'), provider: 'cpu' }, (done, total, phase) => progress.push([done, total, phase]));
    expect(report).toMatchObject({ caseUnit: 'series', n: 4, positives: 2 });
    expect(report.cases.find((c) => c.file.endsWith('a1.dcm'))).toMatchObject({ files: 2, label: 'bright', predictedPositive: true });
    const phases = progress.map(([, , phase]) => phase);
    // Every "reading" before the first "analysing"; the first of each phase and the last one always arrive.
    expect(phases.lastIndexOf('reading')).toBeLessThan(phases.indexOf('analysing'));
    expect(progress[0]).toEqual([0, 5, 'reading']);
    expect(progress.find(([, , p]) => p === 'analysing')).toEqual([0, 4, 'analysing']);
    expect(progress.at(-1)).toEqual([4, 4, 'analysing']);
  });

  it('stops at once when cancelled, and then runs the next validation', async () => {
    const model = await new ModelRegistry([{ dir: join(root, 'models'), origin: 'user' }]).get('test-brightness');
    if (!model) throw new Error('the test model did not load');
    const runner = new ValidationRunner({ workerUrl: pathToFileURL(join(repoRoot, 'out/node/validation-worker.js')), threads: 1, providers: ['cpu'] });
    expect(runner.cancel()).toBe(false);
    let cancelled = false;
    const run = runner.run({ model, casesPath: join(root, 'cases'), provider: 'cpu' }, () => {
      if (!cancelled) cancelled = runner.cancel();
    });
    await expect(run).rejects.toBeInstanceOf(ValidationCancelledError);
    expect(cancelled).toBe(true);
    expect(runner.busy).toBe(false);
    expect(await runner.run({ model, casesPath: join(root, 'cases'), provider: 'cpu' })).toMatchObject({ n: 4 });
  });
});
