/**
 * "Not recorded" is not "wrong": a US image without Body Part Examined (as real scanners write them) is refused by
 * a breast model with the attributes it lacks recorded on the result; with the reader's vouch (analysis.run
 * vouchForUnrecorded, over the IPC router) it is analysed and its run carries an APPLICABILITY_NOT_RECORDED
 * warning. A recorded value that contradicts the model (Body Part Examined HEAD) is refused even with the vouch.
 * The vouch sticks to that series and model: later runs without it analyse the series again, with the warning,
 * as long as it lacks no more than was vouched for and records nothing that contradicts the model, holds no image the
 * reader did not see (imported since) and the model package is the one they vouched for (same sha-256).
 * Every image's own body part is judged: a later image that records another part contradicts the model.
 * A job is stamped "vouched" only when it was queued on a vouch that still covers the series when it runs.
 * In local validation the case's label vouches: such cases are analysed, carry the warning and are counted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AnalysisResultSchema, type AnalysisRunRequest, type ResponseOf, type RunWarning, ValidationResultSchema } from '../../contract/ipc-contract';
import { validateCommand, vouchedUnrecordedLine } from '../../electron/cli/validate-command';
import { StudyIndex } from '../../electron/services/library/study-index';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec } from '../fixtures/synthetic-dicom';
import { BREAST_ONNX, brightPixels, NOT_RECORDED, resultsOverIpc as resultViewsOverIpc, run, useVouchLibrary } from '../fixtures/vouch-library';

const ROOT_UID = '1.2.826.0.1.3680043.10.1138.951';
const library = useVouchLibrary('vigil-vouch-', ROOT_UID);
const { imageUid, usFile, writeStudy, importLater } = library;
const bodyPart = (value: string): DicomElementSpec => ({ tag: 0x00180015, vr: 'CS', value });
/** An Anatomic Region Sequence of one coded region. */
const anatomicRegion = (scheme: string, code: string, meaning: string): DicomElementSpec => ({
  tag: 0x00082218,
  vr: 'SQ',
  value: [
    [
      { tag: 0x00080100, vr: 'SH', value: code },
      { tag: 0x00080102, vr: 'SH', value: scheme },
      { tag: 0x00080104, vr: 'LO', value: meaning },
    ],
  ],
});
/** The breast model's package's sha-256. */
const BREAST_SHA = sha256(BREAST_ONNX);

/**
 * The latest result of each (series, model) of the study, as the findings panel reads them (analysis.results), with
 * its warnings as stored: the view leaves out what a reader's vouch covers (sopInstanceUids, modelSha256), which only
 * the services read. Checks that the view's warnings are the stored ones without it.
 */
async function resultsOverIpc(s: VigilServices, study: string) {
  const views = await resultViewsOverIpc(s, study);
  const stored = new Map(s.analysis.resultsForStudy(study).map((x) => [x.id, x.warnings]));
  return views.map((view) => {
    const warnings = stored.get(view.resultId) ?? [];
    expect(view.warnings).toEqual(warnings.map(withoutCoverage));
    return { ...view, warnings };
  });
}

/** A warning without what a reader's vouch covers, as analysis.results sends it. */
function withoutCoverage(w: RunWarning): RunWarning {
  if (w.code !== 'APPLICABILITY_NOT_RECORDED') return w;
  const { sopInstanceUids: _uids, modelSha256: _sha, ...shown } = w;
  return shown;
}

async function resultOverIpc(s: VigilServices, study: string) {
  const [only, ...more] = await resultsOverIpc(s, study);
  expect(more).toEqual([]);
  return only!;
}

/**
 * The warning a run carries when the reader vouched for the attributes its series does not record, having seen
 * the images `sopInstanceUids` and vouched for the model package `modelSha256`.
 */
const readerVouched = (attributes: string[], sopInstanceUids: string[], modelSha256 = BREAST_SHA) => ({
  code: 'APPLICABILITY_NOT_RECORDED',
  message: `Analysed although ${attributes.join(', ')} ${attributes.length === 1 ? 'is' : 'are'} not recorded: the reader vouched that the series is what the model needs`,
  attributes,
  vouchedBy: 'reader',
  sopInstanceUids,
  modelSha256,
});

describe('vouching for a series that does not record what the applicability rules read', () => {
  it('refuses without the vouch and says what is not recorded; analyses with it, carrying the warning', async () => {
    const unrecorded = writeStudy(1, []);
    const s = await library.analyse([join(library.root, 'in')]);

    const refused = await resultOverIpc(s, unrecorded);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: NOT_RECORDED, unrecorded: ['Body Part Examined'] });
    // Nobody vouched before: no vouch lapsed.
    expect(refused.vouchLapsed).toBeUndefined();

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
        sopInstanceUids: [imageUid(1)],
        modelSha256: BREAST_SHA,
      },
    ]);

    // Analysing again without the vouch (the panel's Run, vigil analyze) keeps it analysed: the vouch sticks.
    const plain = await run(s, { studyInstanceUid: unrecorded, modelId: 'test-breast-us', provider: 'cpu' });
    expect(plain.notAnalysed).toEqual([]);
    expect(plain.queued).toHaveLength(1);
    const again = await resultOverIpc(s, unrecorded);
    expect(again.resultId).toBeGreaterThan(done.resultId);
    expect(again).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(1)])] });
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

/** A run of the study with the reader's vouch for one model (the breast model by default). */
const vouch = (s: VigilServices, study: string, modelId = 'test-breast-us') => run(s, { studyInstanceUid: study, modelId, provider: 'cpu', vouchForUnrecorded: true });
/** A run of the study without the vouch, for one model or (no `modelId`) every ready model. */
const plainRun = (s: VigilServices, study: string, modelId?: string) => run(s, { studyInstanceUid: study, provider: 'cpu', ...(modelId ? { modelId } : {}) });

describe("a reader's vouch sticks to the series and model it was given for", () => {

  it('holds on plain re-runs, also after a run that did not end done', async () => {
    const study = writeStudy(31, []);
    // An image whose Pixel Data is short of its rows × columns makes the job refuse the series for a reason that has
    // nothing to do with the vouch.
    writeFileSync(join(library.root, 'in', '31', '2.dcm'), usFile(31, [], { image: 2, pixels: brightPixels(4) }));
    const s = await library.analyse([join(library.root, 'in')]);
    const seen = [imageUid(31), imageUid(31, 2)];
    expect((await vouch(s, study, 'test-breast-us')).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', reason: expect.stringMatching(/pixel data/i), warnings: [readerVouched(['Body Part Examined'], seen)] });

    const afterwards = await plainRun(s, study);
    expect(afterwards.notAnalysed).toEqual([]);
    expect(afterwards.queued).toMatchObject([{ modelId: 'test-breast-us', status: 'pending' }]);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', reason: expect.stringMatching(/pixel data/i), warnings: [readerVouched(['Body Part Examined'], seen)] });
    expect((await plainRun(s, study)).queued).toHaveLength(1);
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
    expect(byModel.get('test-breast-us')).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(32)])] });
    expect(byModel.get('test-breast-us-other')).toMatchObject({ status: 'not-analysed', reason: NOT_RECORDED, unrecorded: ['Body Part Examined'], warnings: [] });
    expect(byModel.get('test-breast-us-other')?.vouchLapsed).toBeUndefined();
  });

  it('covers the attributes still unrecorded of the images the reader saw, never a contradicting value recorded since', async () => {
    const onnx = tinyClassifierModel({ w: 4, b: -2 });
    const modelId = 'test-breast-spacing-us';
    writeModelPackage(join(library.root, 'models', 'spacing'), onnx, classifierManifest(onnx, { id: modelId, applicability: { modalities: ['US'], bodyParts: ['BREAST'], pixelSpacingMm: { max: 1 } } }));
    const study = writeStudy(33, [], { spacingMm: null });
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study, modelId);
    const ofModel = async () => (await resultsOverIpc(s, study)).find((r) => r.modelId === modelId);
    expect(await ofModel()).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined', 'Pixel Spacing'], [imageUid(33)])] });

    // An image recording a spacing the model accepts: only Body Part Examined is missing now, but the reader has not
    // seen that image; vouching again covers both images, for what is still not recorded.
    await importLater(s, 'spacing-ok', usFile(33, [], { image: 2, spacingMm: 0.1 }));
    expect((await plainRun(s, study, modelId)).queued).toEqual([]);
    expect(await ofModel()).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], vouchLapsed: { imagesAdded: 1, modelChanged: false }, warnings: [] });
    expect((await vouch(s, study, modelId)).queued).toHaveLength(1);
    expect(await ofModel()).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(33), imageUid(33, 2)])] });

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
    expect(after.get(vouchedSeries)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(34)])] });
    expect(after.get(otherSeries)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });
    // The reader never vouched for that series: no vouch of theirs lapsed there.
    expect(after.get(otherSeries)?.vouchLapsed).toBeUndefined();
  });
});

/** Writes image `image` (≥ 2) of study n's series next to its first, before the library imports the folder. */
const writeImage = (n: number, image: number, extra: DicomElementSpec[]) => writeFileSync(join(library.root, 'in', String(n), `${image}.dcm`), usFile(n, extra, { image }));

describe('every image of the series is judged, not only the first one imported', () => {
  it('refuses a series whose first image records no body part and a later one KNEE, vouch or not', async () => {
    const study = writeStudy(41, []);
    writeImage(41, 2, [bodyPart('KNEE')]);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'body part KNEE is not one of BREAST', warnings: [] });
    expect(refused.unrecorded).toBeUndefined();
    const vouched = await vouch(s, study);
    expect(vouched.queued).toEqual([]);
    expect(vouched.notAnalysed).toMatchObject([{ status: 'not-analysed', reason: 'body part KNEE is not one of BREAST' }]);
  });

  it('refuses a series whose first image records BREAST and a later one KNEE', async () => {
    const study = writeStudy(42, [bodyPart('BREAST')]);
    writeImage(42, 2, [bodyPart('KNEE')]);
    const s = await library.analyse([join(library.root, 'in')]);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', reason: 'body part KNEE is not one of BREAST' });
    expect((await plainRun(s, study)).queued).toEqual([]);
  });

  it("reads each image's own Anatomic Region Sequence, and finds the body part recorded when any image records it", async () => {
    const heart = writeStudy(43, []);
    writeImage(43, 2, [anatomicRegion('SCT', '80891009', 'Heart')]);
    const breast = writeStudy(44, []);
    writeImage(44, 2, [anatomicRegion('SCT', '76752008', 'Breast')]);
    const s = await library.analyse([join(library.root, 'in')]);
    expect(await resultOverIpc(s, heart)).toMatchObject({ status: 'not-analysed', reason: 'body part HEART (Anatomic Region Sequence SCT 80891009 Heart) is not one of BREAST' });
    const done = await resultOverIpc(s, breast);
    expect(done.status, done.reason ?? '').toBe('done');
    expect(done.warnings).toEqual([]);
  });

  it('refuses a KNEE image imported into a series the reader vouched for, vouch or not', async () => {
    const study = writeStudy(45, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(45)])] });
    await importLater(s, 'knee', usFile(45, [bodyPart('KNEE')], { image: 2 }));
    expect((await plainRun(s, study)).queued).toEqual([]);
    const refused = await resultOverIpc(s, study);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'body part KNEE is not one of BREAST', warnings: [] });
    // A contradiction is refused whatever was vouched: nothing lapsed to explain.
    expect(refused.vouchLapsed).toBeUndefined();
    expect((await vouch(s, study)).queued).toEqual([]);
  });
});

describe("a reader's vouch covers the images they saw and the model package they vouched for", () => {
  it('does not cover an image imported since: that run is not analysed, offering the vouch again', async () => {
    const study = writeStudy(51, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);
    await importLater(s, 'unseen', usFile(51, [], { image: 2 }));

    const plain = await plainRun(s, study);
    expect(plain.queued).toEqual([]);
    // The reader is told why their vouch no longer holds, in the reason (CLI, job list) and in fields (the panel, in their language).
    const lapsed = `${NOT_RECORDED}; your earlier vouch does not cover 1 image added since`;
    expect(plain.notAnalysed).toMatchObject([{ status: 'not-analysed', reason: lapsed }]);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', reason: lapsed, refusalReason: NOT_RECORDED, unrecorded: ['Body Part Examined'], vouchLapsed: { imagesAdded: 1, modelChanged: false }, warnings: [] });

    // Still said on later runs while nobody vouched again, counting every image added since the vouch.
    await importLater(s, 'unseen-too', usFile(51, [], { image: 3 }));
    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject({
      status: 'not-analysed',
      reason: `${NOT_RECORDED}; your earlier vouch does not cover 2 images added since`,
      vouchLapsed: { imagesAdded: 2, modelChanged: false },
    });

    // Vouching again covers the three images, and sticks to them.
    expect((await vouch(s, study)).queued).toHaveLength(1);
    const seen = [imageUid(51), imageUid(51, 2), imageUid(51, 3)];
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], seen)] });
    expect((await plainRun(s, study)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], seen)] });
  });

  it('does not cover another version of the model', async () => {
    const study = writeStudy(52, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);

    const newer = tinyClassifierModel({ w: 5, b: -2 });
    writeModelPackage(join(library.root, 'models', 'breast'), newer, classifierManifest(newer, { id: 'test-breast-us', version: '1.1.0', applicability: { modalities: ['US'], bodyParts: ['BREAST'] } }));
    const rescan = await s.router.dispatch('models.rescan', {});
    expect(rescan.ok).toBe(true);

    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject({
      status: 'not-analysed',
      modelVersion: '1.1.0',
      reason: `${NOT_RECORDED}; your earlier vouch was for another version of the model`,
      unrecorded: ['Body Part Examined'],
      vouchLapsed: { imagesAdded: 0, modelChanged: true },
      warnings: [],
    });
    // Both: another image too.
    await importLater(s, 'unseen', usFile(52, [], { image: 2 }));
    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject({
      reason: `${NOT_RECORDED}; your earlier vouch was for another version of the model and does not cover 1 image added since`,
      vouchLapsed: { imagesAdded: 1, modelChanged: true },
    });
    expect((await vouch(s, study)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', modelVersion: '1.1.0', warnings: [readerVouched(['Body Part Examined'], [imageUid(52), imageUid(52, 2)], sha256(newer))] });
  });

  it('stood on a warning that does not say what it covered (stored before it was recorded), covers nothing', async () => {
    const study = writeStudy(53, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);
    s.library.studyIndex.db.prepare("UPDATE ai_results SET outputs = json_remove(outputs, '$.warnings[0].sopInstanceUids', '$.warnings[0].modelSha256') WHERE study_uid = ?").run(study);
    expect((await resultOverIpc(s, study)).warnings).toEqual([
      { code: 'APPLICABILITY_NOT_RECORDED', message: expect.any(String) as string, attributes: ['Body Part Examined'], vouchedBy: 'reader' },
    ]);
    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'] });
  });
});

/** "Analyse anyway" in the findings panel: a vouching run that names the refusal the reader answers. */
const answer = (s: VigilServices, refusal: { studyInstanceUid: string; seriesInstanceUid: string; modelId: string; resultId: number }) =>
  run(s, { studyInstanceUid: refusal.studyInstanceUid, seriesInstanceUid: refusal.seriesInstanceUid, modelId: refusal.modelId, provider: 'cpu', vouchForUnrecorded: true, vouchForResultId: refusal.resultId });

/** A newer version of the breast model (other weights), with the given applicability; the registry rescanned. */
async function replaceBreastModel(s: VigilServices, applicability: { modalities: string[]; bodyParts: string[]; pixelSpacingMm?: { max: number } }): Promise<string> {
  const newer = tinyClassifierModel({ w: 5, b: -2 });
  writeModelPackage(join(library.root, 'models', 'breast'), newer, classifierManifest(newer, { id: 'test-breast-us', version: '1.1.0', applicability }));
  expect((await s.router.dispatch('models.rescan', {})).ok).toBe(true);
  return sha256(newer);
}

describe('"Analyse anyway" vouches for what the refusal it answers showed, not for the series as it is at the click', () => {
  it('records a fresh refusal when an image joined the series since the refusal, and vouches when that one is answered', async () => {
    const study = writeStudy(81, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    expect(refused).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'] });
    // The refusal records the images it judged; the view sends none (the renderer draws nothing of a refusal).
    expect(s.analysis.results.get(refused.resultId)?.inputSopInstanceUids).toEqual([imageUid(81)]);
    expect(refused.inputSopInstanceUids).toEqual([]);

    // An image joins the series while the panel still shows that refusal (nothing analyses it on import here).
    await importLater(s, 'unseen', usFile(81, [], { image: 2 }));
    const answered = await answer(s, refused);
    expect(answered.queued).toEqual([]);
    // The fresh refusal says why the answer was not taken (vouch-answer-lapse.test.ts).
    const stale = `${NOT_RECORDED}; not analysed on your vouch: the refusal you answered no longer holds (1 image was added since)`;
    expect(answered.notAnalysed).toMatchObject([{ status: 'not-analysed', reason: stale }]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh).toMatchObject({ status: 'not-analysed', reason: stale, unrecorded: ['Body Part Examined'], vouchLapsed: { imagesAdded: 1, modelChanged: false, answered: true }, warnings: [] });
    expect(fresh.resultId).toBeGreaterThan(refused.resultId);
    expect(s.analysis.results.get(fresh.resultId)?.inputSopInstanceUids).toEqual([imageUid(81), imageUid(81, 2)]);
    // Nothing was vouched for: no vouch stands on the series, and a plain run refuses it too.
    expect((await plainRun(s, study)).queued).toEqual([]);
    const refusedAgain = await resultOverIpc(s, study);
    expect(refusedAgain.vouchLapsed).toBeUndefined();

    // The fresh refusal, answered, covers both images it showed.
    expect((await answer(s, refusedAgain)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(81), imageUid(81, 2)])] });
  });

  it('records a fresh refusal when the model package changed since the refusal', async () => {
    const study = writeStudy(82, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    const newerSha = await replaceBreastModel(s, { modalities: ['US'], bodyParts: ['BREAST'] });

    expect((await answer(s, refused)).queued).toEqual([]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh).toMatchObject({ status: 'not-analysed', modelVersion: '1.1.0', modelSha256: newerSha, reason: expect.stringMatching(/^body part not recorded .*the model is another version now\)$/) as string, unrecorded: ['Body Part Examined'], vouchLapsed: { modelChanged: true, answered: true } });
    expect((await answer(s, fresh)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', modelVersion: '1.1.0', warnings: [readerVouched(['Body Part Examined'], [imageUid(82)], newerSha)] });
  });

  it('records a fresh refusal when the refusal listed other unrecorded attributes, or did not record its images', async () => {
    const study = writeStudy(83, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const db = s.library.studyIndex.db;
    const refused = await resultOverIpc(s, study);
    // The reader was shown View Position too (rules of another day): that is not what the series lacks now.
    db.prepare(`UPDATE ai_results SET outputs = json_set(outputs, '$.unrecorded', json('["Body Part Examined","View Position"]')) WHERE id = ?`).run(refused.resultId);
    expect((await answer(s, refused)).queued).toEqual([]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh).toMatchObject({ status: 'not-analysed', reason: expect.stringContaining('it listed View Position') as string, unrecorded: ['Body Part Examined'], vouchLapsed: { attributesNoLongerUnrecorded: ['View Position'], answered: true } });
    expect(fresh.resultId).toBeGreaterThan(refused.resultId);

    // A refusal stored before refusals recorded their images showed none: nothing to vouch for. The fresh refusal
    // says so (not that images were added), and answering it vouches.
    db.prepare(`UPDATE ai_results SET input_uids = '[]' WHERE id = ?`).run(fresh.resultId);
    expect((await answer(s, fresh)).queued).toEqual([]);
    const latest = await resultOverIpc(s, study);
    expect(latest.resultId).toBeGreaterThan(fresh.resultId);
    expect(latest.vouchLapsed).toEqual({ imagesAdded: 0, modelChanged: false, answered: true, imagesNotRecorded: true });
    expect((await answer(s, latest)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(83)])] });
  });

  it('answers only a refusal of the study, series and model the request names, and only with the vouch', async () => {
    const study = writeStudy(84, []);
    const other = writeStudy(85, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    const code = async (request: AnalysisRunRequest) => {
      const r = await s.router.dispatch('analysis.run', request);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(await code({ studyInstanceUid: study, vouchForResultId: refused.resultId })).toBe('BAD_REQUEST');
    expect(await code({ studyInstanceUid: other, vouchForUnrecorded: true, vouchForResultId: refused.resultId })).toBe('NOT_FOUND');
    expect(await code({ studyInstanceUid: study, seriesInstanceUid: `${other}.1`, vouchForUnrecorded: true, vouchForResultId: refused.resultId })).toBe('BAD_REQUEST');
    expect(await code({ studyInstanceUid: study, vouchForUnrecorded: true, vouchForResultId: refused.resultId + 1000 })).toBe('NOT_FOUND');
    expect(s.analysis.queue.list('pending')).toEqual([]);
    // Naming only the study runs the refusal's series and model.
    const answered = await run(s, { studyInstanceUid: study, provider: 'cpu', vouchForUnrecorded: true, vouchForResultId: refused.resultId });
    expect(answered.queued).toMatchObject([{ seriesInstanceUid: `${study}.1`, modelId: 'test-breast-us' }]);
    expect(answered.notAnalysed).toEqual([]);
  });
});

describe('a lapsed vouch names every cause, and analysis.results carries no SOP Instance UIDs of what a vouch covers', () => {
  it('says the earlier vouch was not given for an attribute the new model version also needs', async () => {
    const study = writeStudy(86, [], { spacingMm: null });
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);
    await replaceBreastModel(s, { modalities: ['US'], bodyParts: ['BREAST'], pixelSpacingMm: { max: 1 } });

    const lapsed = `${NOT_RECORDED}; pixel spacing is not recorded; your earlier vouch was for another version of the model and was not given for Pixel Spacing, which the series does not record`;
    const expected = { status: 'not-analysed', reason: lapsed, unrecorded: ['Body Part Examined', 'Pixel Spacing'], vouchLapsed: { imagesAdded: 0, modelChanged: true, attributesNotVouched: ['Pixel Spacing'] } };
    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject(expected);
    // A later run still says why, from the lapse the refusal recorded.
    expect((await plainRun(s, study)).queued).toEqual([]);
    expect(await resultOverIpc(s, study)).toMatchObject(expected);
  });

  it('sends the warning and the refusal without the images a vouch covered or a refusal judged; the services keep them', async () => {
    const study = writeStudy(87, []);
    for (const image of [2, 3]) writeImage(87, image, []);
    const s = await library.analyse([join(library.root, 'in')]);
    await vouch(s, study);
    const seen = [imageUid(87), imageUid(87, 2), imageUid(87, 3)];
    const view = async () => {
      const r = await s.router.dispatch('analysis.results', { studyInstanceUid: study });
      if (!r.ok) throw new Error(r.error.message);
      const [only, ...more] = (r.value as { results: unknown[] }).results;
      expect(more).toEqual([]);
      return { json: JSON.stringify(only), result: AnalysisResultSchema.parse(only) };
    };

    const done = await view();
    expect(done.result.warnings).toEqual([
      { code: 'APPLICABILITY_NOT_RECORDED', message: 'Analysed although Body Part Examined is not recorded: the reader vouched that the series is what the model needs', attributes: ['Body Part Examined'], vouchedBy: 'reader' },
    ]);
    // The images the run analysed are sent once, for the overlays; the model's sha-256 once, as the result's.
    expect(done.result.inputSopInstanceUids).toEqual(seen);
    expect(done.json.split(imageUid(87, 2))).toHaveLength(2);
    expect(done.json.split(BREAST_SHA)).toHaveLength(2);
    expect(s.analysis.results.get(done.result.resultId)?.warnings).toEqual([readerVouched(['Body Part Examined'], seen)]);

    await importLater(s, 'unseen', usFile(87, [], { image: 4 }));
    expect((await plainRun(s, study)).queued).toEqual([]);
    const refused = await view();
    expect(refused.result).toMatchObject({ status: 'not-analysed', inputSopInstanceUids: [], vouchLapsed: { imagesAdded: 1, modelChanged: false } });
    expect(refused.json).not.toContain(imageUid(87, 2));
    const kept = s.analysis.results.get(refused.result.resultId);
    expect(kept?.inputSopInstanceUids).toEqual([...seen, imageUid(87, 4)]);
    expect(kept?.lapsedVouch).toEqual({ sopInstanceUids: seen, modelSha256: BREAST_SHA, attributes: ['Body Part Examined'] });
  });
});

describe('a run is stamped "vouched" only when its job was queued on a vouch that covers the series when it runs', () => {
  /** Queues with the queue stopped, lets `meanwhile` change things, then runs the queue. */
  async function queuedThenRun(s: VigilServices, queue: () => Promise<ResponseOf<'analysis.run'>>, meanwhile: () => Promise<void>) {
    s.analysis.queue.stop();
    const queued = await queue();
    expect(queued.queued).toMatchObject([{ status: 'pending' }]);
    await meanwhile();
    s.analysis.queue.start();
    await s.analysis.queue.whenIdle();
    return queued.queued[0]!;
  }

  it('a plain run while a vouched job waits leaves that job and its vouch alone', async () => {
    const study = writeStudy(64, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const job = await queuedThenRun(s, () => vouch(s, study), async () => {
      // The reader (or the CLI) runs the study plainly before the vouched job has run: the series still does not
      // record its body part, but the job queued on the reader's vouch must not be turned into a refusal.
      const plain = await plainRun(s, study, 'test-breast-us');
      expect(plain.notAnalysed).toEqual([]);
      expect(plain.queued).toMatchObject([{ status: 'pending' }]);
      expect(s.analysis.queue.find(`${study}.1`, 'test-breast-us')).toMatchObject({ status: 'pending', readerVouch: { sopInstanceUids: [imageUid(64)] } });
    });
    expect(s.analysis.queue.get(job.jobId)).toMatchObject({ status: 'done' });
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(64)])] });
  });

  it('records the vouch on the queued job', async () => {
    const study = writeStudy(61, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const job = await queuedThenRun(s, () => vouch(s, study), async () => {
      expect(s.analysis.queue.find(`${study}.1`, 'test-breast-us')?.readerVouch).toEqual({ sopInstanceUids: [imageUid(61)], modelSha256: BREAST_SHA, attributes: ['Body Part Examined'] });
    });
    expect(s.analysis.queue.get(job.jobId)).toMatchObject({ status: 'done' });
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(61)])] });
  });

  it('a job nobody vouched for, whose series the rules now find unrecorded, is not analysed and carries no vouch', async () => {
    // Applicable when queued: the model reads no body part. Before the job runs, its package is replaced by one
    // (same weights) that needs BREAST, which the series does not record.
    const modelId = 'test-us-any';
    const anyUs = (bodyParts?: string[]) => classifierManifest(BREAST_ONNX, { id: modelId, version: bodyParts ? '1.1.0' : '1.0.0', applicability: { modalities: ['US'], ...(bodyParts ? { bodyParts } : {}) } });
    writeModelPackage(join(library.root, 'models', 'any'), BREAST_ONNX, anyUs());
    const study = writeStudy(62, []);
    const s = await library.analyse([join(library.root, 'in')]);
    const job = await queuedThenRun(
      s,
      () => plainRun(s, study, modelId),
      async () => {
        writeModelPackage(join(library.root, 'models', 'any'), BREAST_ONNX, anyUs(['BREAST']));
        expect((await s.router.dispatch('models.rescan', {})).ok).toBe(true);
      },
    );
    expect(s.analysis.queue.get(job.jobId)).toMatchObject({ status: 'not-analysed', reason: expect.stringContaining('body part not recorded') as string });
    const result = (await resultsOverIpc(s, study)).find((r) => r.modelId === modelId);
    expect(result).toMatchObject({ status: 'not-analysed', modelVersion: '1.1.0', unrecorded: ['Body Part Examined'], warnings: [] });
  });

  it('a vouched job whose series gets an image the reader did not see before it runs is not analysed; one that gets a contradicting image is refused', async () => {
    const unseen = writeStudy(63, []);
    const knee = writeStudy(64, []);
    const s = await library.analyse([join(library.root, 'in')]);

    const job = await queuedThenRun(s, () => vouch(s, unseen), () => importLater(s, 'unseen', usFile(63, [], { image: 2 })));
    const lapsed = `${NOT_RECORDED}; your earlier vouch does not cover 1 image added since`;
    expect(s.analysis.queue.get(job.jobId)).toMatchObject({ status: 'not-analysed', reason: lapsed });
    expect(await resultOverIpc(s, unseen)).toMatchObject({ status: 'not-analysed', reason: lapsed, unrecorded: ['Body Part Examined'], vouchLapsed: { imagesAdded: 1, modelChanged: false }, warnings: [] });
    // A later plain run still says why (the refusal recorded the vouch that lapsed).
    expect((await plainRun(s, unseen)).queued).toEqual([]);
    expect(await resultOverIpc(s, unseen)).toMatchObject({ reason: lapsed, vouchLapsed: { imagesAdded: 1, modelChanged: false } });

    await queuedThenRun(s, () => vouch(s, knee), () => importLater(s, 'knee', usFile(64, [bodyPart('KNEE')], { image: 2 })));
    const refused = await resultOverIpc(s, knee);
    expect(refused).toMatchObject({ status: 'not-analysed', reason: 'body part KNEE is not one of BREAST', warnings: [] });
    expect(refused.unrecorded).toBeUndefined();
  });
});

describe('migration v8: each instance its own Anatomic Region Sequence code, each job the vouch it was queued on', () => {
  it("gives instances stored before their series' code and jobs queued before no vouch, so such a job is not stamped vouched", async () => {
    const coded = writeStudy(71, [anatomicRegion('SCT', '76752008', 'Breast')]);
    writeImage(71, 2, []);
    const unrecorded = writeStudy(72, []);
    const dataDir = join(library.root, 'own-data');
    const file = join(dataDir, 'library.sqlite');
    const open = () => openVigilServices({ dataDir, host: 'cli', importWorkers: 0, userModelsDir: join(library.root, 'models'), inferenceWorkerUrl: null, inferenceThreads: 1 });
    const regions = (db: Database.Database) => db.prepare<[], { sop_instance_uid: string; anatomic_region: string }>('SELECT sop_instance_uid, anatomic_region FROM instances ORDER BY sop_instance_uid').all();
    const version = (db: Database.Database) => db.prepare<[], { version: number }>('SELECT version FROM schema_version').get()!.version;

    let s = await open();
    try {
      await s.library.import({ paths: [join(library.root, 'in')] });
      // Each image keeps its own code: the second image of study 71 records none.
      expect(regions(s.library.studyIndex.db)).toEqual([
        { sop_instance_uid: imageUid(71), anatomic_region: 'SCT^76752008^Breast' },
        { sop_instance_uid: imageUid(71, 2), anatomic_region: '' },
        { sop_instance_uid: imageUid(72), anatomic_region: '' },
      ]);
      // A job queued on the reader's vouch, left pending when Vigil stopped.
      s.analysis.queue.stop();
      await vouch(s, unrecorded);
      expect(s.analysis.queue.find(`${unrecorded}.1`, 'test-breast-us')).toMatchObject({ status: 'pending', readerVouch: { sopInstanceUids: [imageUid(72)] } });
    } finally {
      await s.close();
    }

    // Back to schema v7: neither column.
    const v7 = new Database(file);
    v7.exec('ALTER TABLE instances DROP COLUMN anatomic_region; ALTER TABLE ai_jobs DROP COLUMN reader_vouch;');
    v7.prepare('UPDATE schema_version SET version = 7').run();
    v7.close();

    const index = new StudyIndex(file);
    try {
      expect(version(index.db)).toBe(8);
      // Before v8 only the series' code (its first file's) was stored: every instance of the series gets it.
      expect(regions(index.db)).toEqual([
        { sop_instance_uid: imageUid(71), anatomic_region: 'SCT^76752008^Breast' },
        { sop_instance_uid: imageUid(71, 2), anatomic_region: 'SCT^76752008^Breast' },
        { sop_instance_uid: imageUid(72), anatomic_region: '' },
      ]);
      expect(index.db.prepare<[], { status: string; reader_vouch: string | null }>('SELECT status, reader_vouch FROM ai_jobs').all()).toEqual([{ status: 'pending', reader_vouch: null }]);
    } finally {
      index.close();
    }

    // The pending job resumes: nothing records that anyone vouched for it, so it is not analysed, and the reader may vouch again.
    s = await open();
    try {
      await s.analysis.queue.whenIdle();
      expect(version(s.library.studyIndex.db)).toBe(8);
      expect(await resultOverIpc(s, unrecorded)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'], warnings: [] });
      expect((await vouch(s, unrecorded)).queued).toHaveLength(1);
      expect(await resultOverIpc(s, unrecorded)).toMatchObject({ status: 'done', warnings: [readerVouched(['Body Part Examined'], [imageUid(72)])] });
      // The code stored for the series' images still makes it a breast series.
      expect((await plainRun(s, coded)).queued).toHaveLength(1);
      expect(await resultOverIpc(s, coded)).toMatchObject({ status: 'done', warnings: [] });
    } finally {
      await s.close();
    }
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
    const overIpc = ValidationResultSchema.parse(r.value);
    expect(overIpc).toMatchObject({ n: 2, vouchedUnrecorded: 1 });
    // Each analysed case lists its warning codes, so the page can tag the vouched one.
    expect(overIpc.cases.find((c) => c.file.endsWith('unrecorded.dcm'))?.warnings).toEqual(['APPLICABILITY_NOT_RECORDED']);
    expect(overIpc.cases.find((c) => c.file.endsWith('recorded.dcm') && !c.file.endsWith('unrecorded.dcm'))?.warnings).toBeUndefined();
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
