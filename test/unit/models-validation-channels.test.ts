/**
 * The Models page's channels: models.validate (local validation of a
 * classifier on labelled cases, with progress events and excluded cases),
 * ai.runtimeInfo (providers, force-CPU, the provider that ran last), the AI
 * settings in settings.get/update, reports.save through a host save dialog, and
 * dialog.chooseValidationCases (the host's labelled-cases picker behind "Choose
 * folder…" / "Choose CSV…"; UNAVAILABLE where the host has none, e.g. bridge and CLI,
 * where the page takes a typed path).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventPayload, RuntimeInfo, Settings, ValidationResult } from '../../contract/ipc-contract';
import { runtimeInfo } from '../../electron/services/ai/runtime-info';
import { openVigilServices, type VigilServices, type VigilServicesOptions } from '../../electron/services/vigil-services';
import { writeBrightnessClassifier, writeConstantCase } from '../fixtures/models/model-package-fixture';
import { brightnessScore } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

let root: string;
let services: VigilServices | undefined;

const installModel = () => writeBrightnessClassifier(join(root, 'models', 'bright'));

/** <root>/cases/<label>/<i>.dcm with a constant pixel value per case, plus one file that is not DICOM. */
function writeCases(values: Record<'dark' | 'bright', number[]>): string {
  const dir = join(root, 'cases');
  let k = 0;
  for (const [label, list] of Object.entries(values)) {
    mkdirSync(join(dir, label), { recursive: true });
    list.forEach((v, i) => {
      k++;
      const uid = `1.2.826.0.1.3680043.10.1138.900.${k}`;
      writeFileSync(join(dir, label, `${i}.dcm`), syntheticDicom({ rows: 8, columns: 8, pixels: new Uint16Array(64).fill(v), studyInstanceUid: uid, seriesInstanceUid: `${uid}.1`, sopInstanceUid: `${uid}.1.1` }));
    });
  }
  writeFileSync(join(dir, 'bright', 'notes.txt'), 'not a DICOM file');
  return dir;
}

async function open(extra: Partial<VigilServicesOptions> = {}): Promise<VigilServices> {
  services = await openVigilServices({
    dataDir: join(root, 'data'),
    host: 'cli',
    importWorkers: 0,
    userModelsDir: join(root, 'models'),
    inferenceWorkerUrl: null,
    startAnalysisQueue: false,
    inferenceThreads: 1,
    executionProviders: ['cpu'],
    ...extra,
  });
  return services;
}

async function dispatch<T>(s: VigilServices, channel: Parameters<VigilServices['router']['dispatch']>[0], payload: unknown): Promise<T> {
  const r = await s.router.dispatch(channel, payload);
  if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.message}`);
  return r.value as T;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-models-page-'));
});
afterEach(async () => {
  await services?.close();
  services = undefined;
  rmSync(root, { recursive: true, force: true });
});

describe('models.validate', () => {
  it('validates a classifier on labelled sub-folders: metrics, ROC, confusion, excluded cases and progress', async () => {
    installModel();
    const s = await open();
    // dark: means 10, 20, 30, 60 (the last one scores 0.73: a false positive); bright: 40 (0.27: a false negative), 80, 90, 100.
    const cases = writeCases({ dark: [10, 20, 30, 60], bright: [40, 80, 90, 100] });
    const progress: EventPayload<'models.validateProgress'>[] = [];
    const off = s.events.subscribe((event, payload) => {
      if (event === 'models.validateProgress') progress.push(payload as EventPayload<'models.validateProgress'>);
    });
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases });
    off();
    expect(r).toMatchObject({ modelId: 'test-brightness', modelName: 'Test brightness classifier', clinicalUse: false, positiveLabel: 'bright', negativeLabels: ['dark'], n: 8, positives: 4, threshold: 0.5, provider: 'cpu' });
    expect(r.intendedUse).toContain('Not for clinical use');
    expect(r.confusion).toEqual({ tp: 3, fn: 1, fp: 1, tn: 3 });
    expect(r.accuracy).toBeCloseTo(0.75, 6);
    expect(r.sensitivity).toBeCloseTo(0.75, 6);
    expect(r.specificity).toBeCloseTo(0.75, 6);
    // 15 of 16 (positive, negative) pairs ordered: only 40 (bright) < 60 (dark).
    expect(r.auc).toBeCloseTo(15 / 16, 6);
    expect(r.ci95.auc).toHaveLength(2);
    expect(r.roc[0]).toEqual({ fpr: 0, tpr: 0, threshold: null });
    expect(r.roc.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    expect(r.excluded).toEqual([expect.objectContaining({ label: 'bright', status: 'not-analysed', file: expect.stringContaining('notes.txt') })]);
    // Every analysed case crosses with its call: 60 (dark) a false positive, 40 (bright) a false negative; the excluded file does not.
    const byFile = Object.fromEntries(r.cases.map((c) => [c.file.slice(cases.length + 1), c]));
    expect(Object.keys(byFile)).toEqual(['dark/0.dcm', 'dark/1.dcm', 'dark/2.dcm', 'dark/3.dcm', 'bright/0.dcm', 'bright/1.dcm', 'bright/2.dcm', 'bright/3.dcm']);
    expect(byFile['dark/3.dcm']).toEqual({ file: join(cases, 'dark', '3.dcm'), label: 'dark', score: expect.closeTo(1 / (1 + Math.exp(-1)), 4), predictedPositive: true, correct: false });
    expect(byFile['bright/0.dcm']).toEqual({ file: join(cases, 'bright', '0.dcm'), label: 'bright', score: expect.closeTo(1 / (1 + Math.exp(1)), 4), predictedPositive: false, correct: false });
    expect(r.cases.filter((c) => !c.correct).map((c) => c.file)).toEqual([join(cases, 'dark', '3.dcm'), join(cases, 'bright', '0.dcm')]);
    for (const c of r.cases) expect(c.correct).toBe(c.predictedPositive === (c.label === 'bright'));
    expect(r.cases.every((c) => c.warnings === undefined)).toBe(true);
    expect(progress.at(-1)).toEqual({ modelId: 'test-brightness', done: 9, total: 9, phase: 'analysing' });
    expect(progress.length).toBeGreaterThan(1);
    // The response passes the contract's schema (the router checks requests; check the response here).
    const { channels } = await import('../../contract/ipc-contract');
    expect(channels['models.validate'].response.safeParse(r).success).toBe(true);

    const runtime = await dispatch<RuntimeInfo>(s, 'ai.runtimeInfo', {});
    expect(runtime.lastRun).toMatchObject({ provider: 'cpu', modelId: 'test-brightness' });
  });

  it('reports unknown models, missing folders and sub-folders that are not labels as typed errors', async () => {
    installModel();
    const s = await open();
    const unknown = await s.router.dispatch('models.validate', { modelId: 'nope', casesPath: root });
    expect(unknown.ok ? null : unknown.error.code).toBe('NOT_FOUND');
    const missing = await s.router.dispatch('models.validate', { modelId: 'test-brightness', casesPath: join(root, 'absent') });
    expect(missing.ok ? null : missing.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('does not exist') });
    mkdirSync(join(root, 'wrong', 'cats'), { recursive: true });
    const wrong = await s.router.dispatch('models.validate', { modelId: 'test-brightness', casesPath: join(root, 'wrong') });
    expect(wrong.ok ? null : wrong.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('"cats"') });
  });

  it('when no case can be analysed, says every reason with its count, the most common first; a pasted path may keep its quotes', async () => {
    installModel();
    const s = await open();
    const dir = join(root, 'csv-cases');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), 'not a DICOM file');
    writeFileSync(join(dir, 'b.txt'), 'not a DICOM file either');
    writeFileSync(join(dir, 'cases.csv'), 'a.txt,dark\nb.txt,bright\ngone.dcm,dark\n');
    const r = await s.router.dispatch('models.validate', { modelId: 'test-brightness', casesPath: `"${join(dir, 'cases.csv')}"` });
    expect(r.ok ? null : r.error.code).toBe('BAD_REQUEST');
    expect(r.ok ? '' : r.error.message).toMatch(/^none of the 3 file\(s\) could be analysed: 2 × .*not .*DICOM.*; 1 × the file does not exist \(moved or renamed since it was labelled, or a typo in the CSV\)$/);
    // Cases the model does not apply to (MR for a CT model): the reason, and how to run them anyway.
    for (const label of ['dark', 'bright']) {
      mkdirSync(join(dir, 'mr', label), { recursive: true });
      const uid = `1.2.826.0.1.3680043.10.1138.990.${label.length}`;
      writeFileSync(join(dir, 'mr', label, '1.dcm'), syntheticDicom({ modality: 'MR', rows: 8, columns: 8, pixels: new Uint16Array(64).fill(50), studyInstanceUid: uid, seriesInstanceUid: `${uid}.1`, sopInstanceUid: `${uid}.1.1` }));
    }
    const mr = await s.router.dispatch('models.validate', { modelId: 'test-brightness', casesPath: join(dir, 'mr') });
    expect(mr.ok ? '' : mr.error.message).toMatch(/^none of the 2 case\(s\) could be analysed: 2 × .*MR.*\. Cases outside the model's applicability run anyway with `vigil validate --ignore-applicability`$/);
  });

  it('cancels a running validation (it answers CANCELLED) and then runs the next; with none running, cancels nothing', async () => {
    installModel();
    const s = await open();
    const cases = writeCases({ dark: [10, 20, 30, 40, 50], bright: [60, 70, 80, 90, 100] });
    expect(await dispatch(s, 'models.cancelValidation', {})).toEqual({ cancelled: false });
    const answers: unknown[] = [];
    const off = s.events.subscribe((event, payload) => {
      const p = payload as EventPayload<'models.validateProgress'>;
      if (event === 'models.validateProgress' && p.phase === 'analysing' && p.done === 2 && answers.length === 0) answers.push(s.router.dispatch('models.cancelValidation', {}));
    });
    const r = await s.router.dispatch('models.validate', { modelId: 'test-brightness', casesPath: cases });
    off();
    expect(r.ok ? null : r.error).toEqual({ code: 'CANCELLED', message: 'The validation was cancelled: nothing was scored.' });
    expect(await answers[0]).toEqual({ ok: true, value: { cancelled: true } });
    expect(await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases })).toMatchObject({ n: 10 });
  });

  it('lists models with their intended use', async () => {
    installModel();
    const s = await open();
    const { models } = await dispatch<{ models: { id: string; intendedUse?: string }[] }>(s, 'models.list', {});
    expect(models).toEqual([expect.objectContaining({ id: 'test-brightness', intendedUse: 'Tests only. Not for clinical use.' })]);
  });
});

/** One 8×8 file of a constant value, image `image` of series `series` (study 1.2.826.0.1.3680043.10.1138.901). */
const seriesFile = (path: string, series: number, image: number, value: number, sopInstanceUid?: string): void =>
  writeConstantCase(path, { study: '1.2.826.0.1.3680043.10.1138.901', series, image, value, sopInstanceUid });

describe('models.validate: what one case is', () => {
  /**
   * bright/exam: one series of three files, only one of them bright (the lesion on one image of the exam);
   * bright/single.dcm and dark/a.dcm, dark/b.dcm: series of one file each.
   */
  function writeExamCases(): string {
    const cases = join(root, 'cases');
    seriesFile(join(cases, 'bright', 'exam', '1.dcm'), 1, 1, 10);
    seriesFile(join(cases, 'bright', 'exam', '2.dcm'), 1, 2, 90);
    seriesFile(join(cases, 'bright', 'exam', '3.dcm'), 1, 3, 20);
    seriesFile(join(cases, 'bright', 'single.dcm'), 2, 1, 80);
    seriesFile(join(cases, 'dark', 'a.dcm'), 3, 1, 10);
    seriesFile(join(cases, 'dark', 'b.dcm'), 4, 1, 20);
    return cases;
  }

  it('by default scores the files of one series together, as the viewer scores the series, and counts it once', async () => {
    installModel();
    const s = await open({ startAnalysisQueue: true });
    const cases = writeExamCases();
    const progress: EventPayload<'models.validateProgress'>[] = [];
    const off = s.events.subscribe((event, payload) => {
      if (event === 'models.validateProgress') progress.push(payload as EventPayload<'models.validateProgress'>);
    });
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases });
    off();
    expect(r).toMatchObject({ caseUnit: 'series', n: 4, positives: 2, excluded: [] });
    // In the order read: the model's labels, then the files (a series where its first file is).
    expect(r.cases).toEqual([
      { file: join(cases, 'dark', 'a.dcm'), label: 'dark', score: expect.closeTo(brightnessScore(10), 5), predictedPositive: false, correct: true },
      { file: join(cases, 'dark', 'b.dcm'), label: 'dark', score: expect.closeTo(brightnessScore(20), 5), predictedPositive: false, correct: true },
      { file: join(cases, 'bright', 'exam', '1.dcm'), files: 3, label: 'bright', score: expect.closeTo(brightnessScore(90), 5), predictedPositive: true, correct: true },
      { file: join(cases, 'bright', 'single.dcm'), label: 'bright', score: expect.closeTo(brightnessScore(80), 5), predictedPositive: true, correct: true },
    ]);
    expect(r.confusion).toEqual({ tp: 2, fn: 0, fp: 0, tn: 2 });
    expect(progress.at(-1)).toEqual({ modelId: 'test-brightness', done: 4, total: 4, phase: 'analysing' });
    // Before the cases, every labelled file's header (six files) to group them into series.
    expect(progress.filter((p) => p.phase === 'reading').map((p) => [p.done, p.total])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, 6]));
    expect(progress.findIndex((p) => p.phase === 'analysing')).toBe(6);
    const { channels } = await import('../../contract/ipc-contract');
    expect(channels['models.validate'].response.safeParse(r).success).toBe(true);

    // The series' score is the one the viewer's analysis of the same series gives.
    await dispatch(s, 'library.import', { paths: [join(cases, 'bright', 'exam')] });
    const run = await dispatch<{ queued: unknown[] }>(s, 'analysis.run', { studyInstanceUid: '1.2.826.0.1.3680043.10.1138.901', modelId: 'test-brightness', provider: 'cpu' });
    expect(run.queued).toHaveLength(1);
    await s.analysis.queue.whenIdle();
    const { results } = await dispatch<{ results: { status: string; inputSopInstanceUids: string[]; findings: { label: string; score: number }[] }[] }>(s, 'analysis.results', { studyInstanceUid: '1.2.826.0.1.3680043.10.1138.901' });
    expect(results).toHaveLength(1);
    expect(results[0]!.inputSopInstanceUids).toHaveLength(3);
    expect(results[0]!.findings.find((f) => f.label === 'bright')!.score).toBeCloseTo(r.cases[2]!.score, 6);
  });

  it('with caseUnit "file" counts every file as a case of its own', async () => {
    installModel();
    const s = await open();
    const cases = writeExamCases();
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases, caseUnit: 'file' });
    expect(r).toMatchObject({ caseUnit: 'file', n: 6, positives: 4 });
    // The exam's two dark images are now false negatives of their own.
    expect(r.confusion).toEqual({ tp: 2, fn: 2, fp: 0, tn: 2 });
    expect(r.cases.every((c) => c.files === undefined)).toBe(true);
  });

  it('excludes a series listed under two labels, and a second file of an image already in its series', async () => {
    installModel();
    const s = await open();
    const cases = writeExamCases();
    // Series 5: one file under each label; image 1 of series 2 again (another file, same SOP Instance UID).
    seriesFile(join(cases, 'dark', 'split-1.dcm'), 5, 1, 10);
    seriesFile(join(cases, 'bright', 'split-2.dcm'), 5, 2, 90);
    seriesFile(join(cases, 'bright', 'single-copy.dcm'), 2, 1, 80);
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases });
    expect(r.n).toBe(4);
    expect(r.excluded).toEqual(
      expect.arrayContaining([
        { file: join(cases, 'bright', 'single.dcm'), label: 'bright', status: 'not-analysed', reason: `the same image (SOP Instance UID 1.2.826.0.1.3680043.10.1138.901.2.1) as ${join(cases, 'bright', 'single-copy.dcm')}: counted once` },
        { file: join(cases, 'bright', 'split-2.dcm'), label: 'bright', status: 'not-analysed', reason: 'its series is listed under "dark" and "bright": its label is unknown' },
        { file: join(cases, 'dark', 'split-1.dcm'), label: 'dark', status: 'not-analysed', reason: 'its series is listed under "dark" and "bright": its label is unknown' },
      ]),
    );
    expect(r.excluded).toHaveLength(3);
  });

  it('keeps the images of a series that records no SOP Instance UIDs, and makes a file with no Series Instance UID its own case', async () => {
    installModel();
    const s = await open();
    const cases = join(root, 'cases');
    // Series 1 under bright: two images without a SOP Instance UID (the library tells them apart by their content).
    seriesFile(join(cases, 'bright', 'exam', '1.dcm'), 1, 1, 10, '');
    seriesFile(join(cases, 'bright', 'exam', '2.dcm'), 1, 2, 90, '');
    // Two dark files that record neither Study nor Series Instance UID: grouping them by what Vigil would derive
    // (blank patient and study attributes in anonymised files) could merge patients.
    for (const [i, v] of [10, 20].entries()) {
      mkdirSync(join(cases, 'dark'), { recursive: true });
      writeFileSync(join(cases, 'dark', `${i}.dcm`), syntheticDicom({ rows: 8, columns: 8, pixels: new Uint16Array(64).fill(v), studyInstanceUid: '', seriesInstanceUid: '', sopInstanceUid: `1.2.826.0.1.3680043.10.1138.902.${i}` }));
    }
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: cases });
    expect(r.excluded).toEqual([]);
    expect(r.n).toBe(3);
    expect(r.cases.map((c) => [c.file.slice(cases.length + 1), c.files ?? 1])).toEqual([
      ['dark/0.dcm', 1],
      ['dark/1.dcm', 1],
      ['bright/exam/1.dcm', 2],
    ]);
    expect(r.cases[2]!.score).toBeCloseTo(brightnessScore(90), 5);
  });

  it('excludes the whole series when one of its files is listed under two labels (CSV)', async () => {
    installModel();
    const s = await open();
    const dir = join(root, 'files');
    seriesFile(join(dir, 'a.dcm'), 7, 1, 90);
    seriesFile(join(dir, 'b.dcm'), 7, 2, 10);
    seriesFile(join(dir, 'c.dcm'), 7, 3, 10);
    seriesFile(join(dir, 'd.dcm'), 8, 1, 10);
    seriesFile(join(dir, 'e.dcm'), 9, 1, 90);
    writeFileSync(join(root, 'cases.csv'), 'file,label\nfiles/a.dcm,dark\nfiles/a.dcm,bright\nfiles/b.dcm,dark\nfiles/c.dcm,dark\nfiles/d.dcm,dark\nfiles/e.dcm,bright\n');
    const r = await dispatch<ValidationResult>(s, 'models.validate', { modelId: 'test-brightness', casesPath: join(root, 'cases.csv') });
    expect(r.cases.map((c) => c.file)).toEqual([join(dir, 'd.dcm'), join(dir, 'e.dcm')]);
    expect(r.excluded.map((e) => [e.file.slice(dir.length + 1), e.files ?? 1, e.reason])).toEqual([
      ['a.dcm', 1, expect.stringContaining('listed under')],
      ['a.dcm', 1, expect.stringContaining('listed under')],
      ['b.dcm', 2, 'its series is listed under "dark" and "bright": its label is unknown'],
    ]);
  });
});

describe('ai.runtimeInfo and the AI settings', () => {
  it('shows the providers, the force-CPU setting and no last run on a fresh library', async () => {
    const s = await open({ executionProviderInfo: [{ name: 'cuda', bundled: false, requires: 'an NVIDIA GPU' }, { name: 'cpu', bundled: true, requires: 'Nothing' }] });
    const info = await dispatch<RuntimeInfo>(s, 'ai.runtimeInfo', {});
    expect(info).toMatchObject({ platform: process.platform, arch: process.arch, forceCpu: false, lastRun: null });
    expect(info.ortVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.providers).toEqual([
      { name: 'cuda', available: false, reason: expect.stringContaining('an NVIDIA GPU') },
      { name: 'cpu', available: true },
    ]);

    expect(await dispatch<Settings>(s, 'settings.get', {})).toMatchObject({ aiForceCpu: false, aiAutoRunOnImport: false });
    expect(await dispatch<Settings>(s, 'settings.update', { aiForceCpu: true, aiAutoRunOnImport: true })).toMatchObject({ aiForceCpu: true, aiAutoRunOnImport: true });
    expect(s.analysis.forceCpu).toBe(true);
    expect(s.analysis.autoRunOnImport).toBe(true);
    expect((await dispatch<RuntimeInfo>(s, 'ai.runtimeInfo', {})).forceCpu).toBe(true);
    const bad = await s.router.dispatch('settings.update', { aiForceCpu: 'yes' });
    expect(bad.ok ? null : bad.error.code).toBe('BAD_REQUEST');
  });

  it('says why a bundled GPU provider is not used when CPU is forced', () => {
    const info = runtimeInfo({
      ortVersion: '1.30.0',
      platform: 'linux',
      arch: 'x64',
      bundled: [{ name: 'cuda', bundled: true, requires: 'GPU' }, { name: 'cpu', bundled: true, requires: 'Nothing' }],
      order: ['cuda', 'cpu'],
      forceCpu: true,
      lastRun: null,
    });
    expect(info.providers).toEqual([
      { name: 'cuda', available: true, reason: expect.stringContaining('Force CPU') },
      { name: 'cpu', available: true },
    ]);
  });
});

describe('reports.save', () => {
  const html = '<!doctype html><html><body><h1>Report</h1></body></html>';

  it('is unavailable without a host save dialog (the bridge downloads instead)', async () => {
    const s = await open();
    const r = await s.router.dispatch('reports.save', { suggestedName: 'report.html', html });
    expect(r.ok ? null : r.error.code).toBe('UNAVAILABLE');
  });

  it('writes the HTML where the save dialog says, and nothing when it is cancelled', async () => {
    const target = join(root, 'out', 'saved.html');
    mkdirSync(join(root, 'out'));
    const asked: string[] = [];
    let answer: string | null = target;
    const s = await open({
      chooseSavePath: async (name) => {
        asked.push(name);
        return answer;
      },
    });
    expect(await dispatch(s, 'reports.save', { suggestedName: 'validation-test.html', html })).toEqual({ saved: true, path: target });
    expect(asked).toEqual(['validation-test.html']);
    expect(readFileSync(target, 'utf8')).toBe(html);
    answer = null;
    rmSync(target);
    expect(await dispatch(s, 'reports.save', { suggestedName: 'x.html', html })).toEqual({ saved: false, path: null });
    expect(existsSync(target)).toBe(false);
  });
});

describe('dialog.chooseValidationCases', () => {
  it('is unavailable without a host picker', async () => {
    const s = await open();
    const r = await s.router.dispatch('dialog.chooseValidationCases', { kind: 'folder' });
    expect(r.ok ? null : r.error.code).toBe('UNAVAILABLE');
  });

  it('asks the host picker for the kind and returns its path, null when cancelled', async () => {
    const asked: string[] = [];
    const answers: (string | null)[] = ['/cases/labels.csv', null];
    const s = await open({
      chooseValidationCases: async (kind) => {
        asked.push(kind);
        return answers.shift() ?? null;
      },
    });
    expect(await s.router.dispatch('dialog.chooseValidationCases', { kind: 'csv' })).toEqual({ ok: true, value: { path: '/cases/labels.csv' } });
    expect(await s.router.dispatch('dialog.chooseValidationCases', { kind: 'folder' })).toEqual({ ok: true, value: { path: null } });
    expect(asked).toEqual(['csv', 'folder']);
    const bad = await s.router.dispatch('dialog.chooseValidationCases', { kind: 'files' });
    expect(bad.ok ? null : bad.error.code).toBe('BAD_REQUEST');
  });
});
