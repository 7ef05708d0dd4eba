/**
 * "Not recorded" is not "wrong": a US image without Body Part Examined (as real scanners write them) is refused by
 * a breast model with the attributes it lacks recorded on the result; with the reader's vouch (analysis.run
 * vouchForUnrecorded, over the IPC router) it is analysed and its run carries an APPLICABILITY_NOT_RECORDED
 * warning. A recorded value that contradicts the model (Body Part Examined HEAD) is refused even with the vouch.
 * The vouch sticks to that series and model: later runs without it analyse the series again, with the warning,
 * as long as it lacks no more than was vouched for and records nothing that contradicts the model.
 * In local validation the case's label vouches: such cases are analysed, carry the warning and are counted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AnalysisResultSchema, type AnalysisRunRequest, type ResponseOf, ValidationResultSchema } from '../../contract/ipc-contract';
import { validateCommand, vouchedUnrecordedLine } from '../../electron/cli/validate-command';
import type { VigilServices } from '../../electron/services/vigil-services';
import { useAnalysedLibrary } from '../fixtures/analysed-library';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec, syntheticDicom } from '../fixtures/synthetic-dicom';

const ROOT_UID = '1.2.826.0.1.3680043.10.1138.951';
const library = useAnalysedLibrary('vigil-vouch-');
const bodyPart = (value: string): DicomElementSpec => ({ tag: 0x00180015, vr: 'CS', value });

/** `side`×`side` pixels, the first 5/8 of them bright. */
const brightPixels = (side: number) => Uint16Array.from({ length: side * side }, (_, k) => (k < (side * side * 5) / 8 ? 1000 : 0));
/**
 * A US file of study n with the given extra attributes (descriptions that name no body part, as scanners write them):
 * by default the only image of its only series; `series`, `image` and `side` (8) make other images of it.
 * `spacingMm` is its Pixel Spacing (the fixture's 0.5 when absent; null records none).
 */
const usFile = (
  n: number,
  extra: DicomElementSpec[],
  { series = 1, image = 1, side = 8, spacingMm }: { series?: number; image?: number; side?: number; spacingMm?: number | null } = {},
) => {
  const study = `${ROOT_UID}.${n}`;
  return syntheticDicom({
    modality: 'US',
    patientId: `P${n}`,
    studyInstanceUid: study,
    seriesInstanceUid: `${study}.${series}`,
    sopInstanceUid: `${study}.${series}.${image}`,
    seriesNumber: series,
    instanceNumber: image,
    studyDescription: 'Ultrasound',
    seriesDescription: 'B-mode',
    rows: side,
    columns: side,
    pixels: brightPixels(side),
    ...(spacingMm === undefined ? {} : { pixelSpacing: spacingMm === null ? null : `${spacingMm}\\${spacingMm}` }),
    extra,
  });
};

/** A one-image US study with the given extra attributes. */
function writeStudy(n: number, extra: DicomElementSpec[], { spacingMm }: { spacingMm?: number | null } = {}): string {
  const dir = join(library.root, 'in', String(n));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '1.dcm'), usFile(n, extra, { spacingMm }));
  return `${ROOT_UID}.${n}`;
}

beforeEach(() => {
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  writeModelPackage(join(library.root, 'models', 'breast'), onnx, classifierManifest(onnx, { id: 'test-breast-us', applicability: { modalities: ['US'], bodyParts: ['BREAST'] } }));
});

async function run(s: VigilServices, request: AnalysisRunRequest): Promise<ResponseOf<'analysis.run'>> {
  const r = await s.router.dispatch('analysis.run', request);
  if (!r.ok) throw new Error(r.error.message);
  await s.analysis.queue.whenIdle();
  return r.value as ResponseOf<'analysis.run'>;
}

/** A file imported later (another image, another series) into the open library, in a folder of its own. */
async function importLater(s: VigilServices, name: string, file: Buffer): Promise<void> {
  const dir = join(library.root, 'later', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '1.dcm'), file);
  const summary = await s.library.import({ paths: [dir] });
  expect(summary.imported).toBe(1);
}

/** The latest result of each (series, model) of the study, as the findings panel reads them. */
async function resultsOverIpc(s: VigilServices, study: string) {
  const r = await s.router.dispatch('analysis.results', { studyInstanceUid: study });
  if (!r.ok) throw new Error(r.error.message);
  return (r.value as { results: unknown[] }).results.map((x) => AnalysisResultSchema.parse(x));
}

async function resultOverIpc(s: VigilServices, study: string) {
  const [only, ...more] = await resultsOverIpc(s, study);
  expect(more).toEqual([]);
  return only!;
}

/** The warning a run carries when the reader vouched for the attributes its series does not record. */
const readerVouched = (attributes: string[]) => ({
  code: 'APPLICABILITY_NOT_RECORDED',
  message: `Analysed although ${attributes.join(', ')} ${attributes.length === 1 ? 'is' : 'are'} not recorded: the reader vouched that the series is what the model needs`,
  attributes,
  vouchedBy: 'reader',
});

describe('vouching for a series that does not record what the applicability rules read', () => {
  it('refuses without the vouch and says what is not recorded; analyses with it, carrying the warning', async () => {
    const unrecorded = writeStudy(1, []);
    const s = await library.analyse([join(library.root, 'in')]);

    const refused = await resultOverIpc(s, unrecorded);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs BREAST', unrecorded: ['Body Part Examined'] });

    const vouched = await run(s, { studyInstanceUid: unrecorded, modelId: 'test-breast-us', provider: 'cpu', vouchForUnrecorded: true });
    expect(vouched.notAnalysed).toEqual([]);
    expect(vouched.queued).toHaveLength(1);
    const done = await resultOverIpc(s, unrecorded);
    expect(done.status, done.reason ?? '').toBe('done');
    expect(done.findings).toHaveLength(1);
    expect(done.unrecorded).toBeUndefined();
    expect(done.warnings).toEqual([
      {
        code: 'APPLICABILITY_NOT_RECORDED',
        message: 'Analysed although Body Part Examined is not recorded: the reader vouched that the series is what the model needs',
        attributes: ['Body Part Examined'],
        vouchedBy: 'reader',
      },
    ]);

    // Analysing again without the vouch (the panel's Run, vigil analyze) keeps it analysed: the vouch sticks.
    const plain = await run(s, { studyInstanceUid: unrecorded, modelId: 'test-breast-us', provider: 'cpu' });
    expect(plain.notAnalysed).toEqual([]);
    expect(plain.queued).toHaveLength(1);
    const again = await resultOverIpc(s, unrecorded);
    expect(again.resultId).toBeGreaterThan(done.resultId);
    expect(again).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'])] });
  });

  it('never analyses a series whose recorded body part contradicts the model, vouch or not', async () => {
    const head = writeStudy(2, [bodyPart('HEAD')]);
    const s = await library.analyse([join(library.root, 'in')]);
    const r = await run(s, { studyInstanceUid: head, provider: 'cpu', vouchForUnrecorded: true });
    expect(r.queued).toEqual([]);
    expect(r.notAnalysed).toMatchObject([{ status: 'not-analysed', reason: 'body part HEAD is not one of BREAST' }]);
    const result = await resultOverIpc(s, head);
    expect(result).toMatchObject({ status: 'not-analysed', reason: 'body part HEAD is not one of BREAST' });
    expect(result.unrecorded).toBeUndefined();
  });

  it('does not vouch when analysing new imports automatically', async () => {
    const unrecorded = writeStudy(3, []);
    const s = await library.analyse([join(library.root, 'in')]);
    s.analysis.forgetStudy(unrecorded);
    await s.analysis.analyzeUnanalysed();
    await s.analysis.queue.whenIdle();
    expect(await resultOverIpc(s, unrecorded)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });
  });
});

describe("a reader's vouch sticks to the series and model it was given for", () => {
  const vouch = (s: VigilServices, study: string, modelId: string) => run(s, { studyInstanceUid: study, modelId, provider: 'cpu', vouchForUnrecorded: true });
  const plainRun = (s: VigilServices, study: string, modelId?: string) => run(s, { studyInstanceUid: study, provider: 'cpu', ...(modelId ? { modelId } : {}) });

  it('holds on plain re-runs, also after a run that did not end done', async () => {
    const study = writeStudy(31, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study, 'test-breast-us');
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'])] });

    // An image of another size makes the job refuse the series for a reason that has nothing to do with the vouch.
    await importLater(s, 'smaller', usFile(31, [], { image: 2, side: 4 }));
    expect((await plainRun(s, study)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', reason: 'the images of the series differ in size', warnings: [readerVouched(['Body Part Examined'])] });

    const afterwards = await plainRun(s, study);
    expect(afterwards.notAnalysed).toEqual([]);
    expect(afterwards.queued).toMatchObject([{ modelId: 'test-breast-us', status: 'pending' }]);
  });

  it('does not carry over to another model that needs the same attribute', async () => {
    const onnx = tinyClassifierModel({ w: 4, b: -2 });
    writeModelPackage(join(library.root, 'models', 'breast-other'), onnx, classifierManifest(onnx, { id: 'test-breast-us-other', applicability: { modalities: ['US'], bodyParts: ['BREAST'] } }));
    const study = writeStudy(32, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study, 'test-breast-us');

    const plain = await plainRun(s, study);
    expect(plain.queued).toMatchObject([{ modelId: 'test-breast-us' }]);
    expect(plain.notAnalysed).toMatchObject([{ modelId: 'test-breast-us-other', status: 'not-analysed' }]);
    const byModel = new Map((await resultsOverIpc(s, study)).map((r) => [r.modelId, r]));
    expect(byModel.get('test-breast-us')).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'])] });
    expect(byModel.get('test-breast-us-other')).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });
  });

  it('covers fewer unrecorded attributes than were vouched for, never a contradicting value recorded since', async () => {
    const onnx = tinyClassifierModel({ w: 4, b: -2 });
    const modelId = 'test-breast-spacing-us';
    writeModelPackage(join(library.root, 'models', 'spacing'), onnx, classifierManifest(onnx, { id: modelId, applicability: { modalities: ['US'], bodyParts: ['BREAST'], pixelSpacingMm: { max: 1 } } }));
    const study = writeStudy(33, [], { spacingMm: null });
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study, modelId);
    const ofModel = async () => (await resultsOverIpc(s, study)).find((r) => r.modelId === modelId);
    expect(await ofModel()).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined', 'Pixel Spacing'])] });

    // An image recording a spacing the model accepts: only Body Part Examined is missing now, which the vouch covers.
    await importLater(s, 'spacing-ok', usFile(33, [], { image: 2, spacingMm: 0.1 }));
    expect((await plainRun(s, study, modelId)).queued).toHaveLength(1);
    expect(await ofModel()).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'])] });

    // An image recording a spacing the model refuses: a contradiction, refused with or without the vouch.
    await importLater(s, 'spacing-wrong', usFile(33, [], { image: 3, spacingMm: 5 }));
    const plain = await plainRun(s, study, modelId);
    expect(plain.queued).toEqual([]);
    const refused = await ofModel();
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'pixel spacing 5×5 mm is outside …–1 mm', warnings: [] });
    expect(refused?.unrecorded).toBeUndefined();
    expect((await vouch(s, study, modelId)).queued).toEqual([]);
  });

  it('auto-run on import vouches for no series nobody vouched for, in the same study either', async () => {
    const study = writeStudy(34, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study, 'test-breast-us');
    const vouchedSeries = `${study}.1`;
    const otherSeries = `${study}.2`;

    await importLater(s, 'second-series', usFile(34, [], { series: 2 }));
    await s.analysis.analyzeUnanalysed();
    await s.analysis.queue.whenIdle();
    const bySeries = async () => new Map((await resultsOverIpc(s, study)).map((r) => [r.seriesInstanceUid, r]));
    expect((await bySeries()).get(otherSeries)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });

    // A plain run of the study: the series the reader vouched for stays analysed, the other stays refused.
    const plain = await plainRun(s, study);
    expect(plain.queued).toMatchObject([{ seriesInstanceUid: vouchedSeries }]);
    expect(plain.notAnalysed).toMatchObject([{ seriesInstanceUid: otherSeries }]);
    const after = await bySeries();
    expect(after.get(vouchedSeries)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'])] });
    expect(after.get(otherSeries)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });
  });
});

describe('local validation: the case label vouches for what the files do not record', () => {
  it('analyses labelled cases without Body Part Examined with the warning and counts them; a contradiction stays excluded', async () => {
    const cases = join(library.root, 'cases');
    mkdirSync(join(cases, 'bright'), { recursive: true });
    mkdirSync(join(library.root, 'bundled'));
    writeFileSync(join(cases, 'bright', 'unrecorded.dcm'), usFile(11, []));
    writeFileSync(join(cases, 'bright', 'recorded.dcm'), usFile(12, [bodyPart('BREAST')]));
    writeFileSync(join(cases, 'bright', 'head.dcm'), usFile(13, [bodyPart('HEAD')]));
    const validate = async (json: boolean, only?: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await validateCommand({ modelId: 'test-breast-us', cases: only ?? cases, json, provider: 'cpu', bundledModelsDir: join(library.root, 'bundled'), modelsDir: join(library.root, 'models'), out: (l) => out.push(l), err: (l) => err.push(l) });
      expect(code, err.join('\n')).toBe(0);
      return { out, err };
    };

    const json = JSON.parse((await validate(true)).out.join('\n')) as { n: number; vouchedUnrecorded: number; cases: { file: string; status: string; reason?: string; warnings?: unknown[] }[] };
    expect(json).toMatchObject({ n: 2, vouchedUnrecorded: 1 });
    const byName = (name: string) => json.cases.find((c) => c.file.endsWith(name));
    expect(byName('unrecorded.dcm')).toMatchObject({
      status: 'done',
      warnings: [{ code: 'APPLICABILITY_NOT_RECORDED', message: "Analysed although Body Part Examined is not recorded: the case's label vouched that the series is what the model needs", attributes: ['Body Part Examined'], vouchedBy: 'case-label' }],
    });
    expect(byName('recorded.dcm')).toMatchObject({ status: 'done' });
    expect(byName('recorded.dcm')?.warnings).toBeUndefined();
    expect(byName('head.dcm')).toMatchObject({ status: 'not-applicable', reason: 'body part HEAD is not one of BREAST' });

    const text = await validate(false);
    expect(text.err).toContain(vouchedUnrecordedLine(1, 2, ['Body Part Examined']));
    expect(vouchedUnrecordedLine(1, 2, ['Body Part Examined'])).toMatch(/^! 1 of 2 case\(s\) analysed although their files do not record Body Part Examined, which/);

    // Over IPC (the Validate-model page): the count crosses the contract.
    const s = await library.analyse([join(cases, 'bright', 'recorded.dcm')]);
    const r = await s.router.dispatch('models.validate', { modelId: 'test-breast-us', casesPath: cases });
    if (!r.ok) throw new Error(r.error.message);
    expect(ValidationResultSchema.parse(r.value)).toMatchObject({ n: 2, vouchedUnrecorded: 1 });
  });

  it('validates a folder where no case records Body Part Examined (it used to find none analysable)', async () => {
    const cases = join(library.root, 'nobp');
    mkdirSync(join(cases, 'bright'), { recursive: true });
    mkdirSync(join(library.root, 'bundled'));
    for (const n of [21, 22, 23]) writeFileSync(join(cases, 'bright', `${n}.dcm`), usFile(n, []));
    const out: string[] = [];
    const err: string[] = [];
    const code = await validateCommand({ modelId: 'test-breast-us', cases, json: true, provider: 'cpu', bundledModelsDir: join(library.root, 'bundled'), modelsDir: join(library.root, 'models'), out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code, err.join('\n')).toBe(0);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ n: 3, vouchedUnrecorded: 3, excluded: [] });
  });
});
