/**
 * "Not recorded" is not "wrong": a US image without Body Part Examined (as real scanners write them) is refused by
 * a breast model with the attributes it lacks recorded on the result; with the reader's vouch (analysis.run
 * vouchForUnrecorded, over the IPC router) it is analysed and its run carries an APPLICABILITY_NOT_RECORDED
 * warning. A recorded value that contradicts the model (Body Part Examined HEAD) is refused even with the vouch.
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

const pixels = Uint16Array.from({ length: 64 }, (_, k) => (k < 40 ? 1000 : 0));
/** A one-image US file with the given extra attributes (descriptions that name no body part, as scanners write them). */
const usFile = (n: number, extra: DicomElementSpec[]) => {
  const study = `${ROOT_UID}.${n}`;
  return syntheticDicom({ modality: 'US', patientId: `P${n}`, studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.1`, studyDescription: 'Ultrasound', seriesDescription: 'B-mode', pixels, extra });
};

/** A one-image US study with the given extra attributes. */
function writeStudy(n: number, extra: DicomElementSpec[]): string {
  const dir = join(library.root, 'in', String(n));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '1.dcm'), usFile(n, extra));
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

async function resultOverIpc(s: VigilServices, study: string) {
  const r = await s.router.dispatch('analysis.results', { studyInstanceUid: study });
  if (!r.ok) throw new Error(r.error.message);
  const [only, ...more] = (r.value as { results: unknown[] }).results;
  expect(more).toEqual([]);
  return AnalysisResultSchema.parse(only);
}

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

    // Analysing again without the vouch refuses it again: a vouch is for one request.
    const plain = await run(s, { studyInstanceUid: unrecorded, modelId: 'test-breast-us', provider: 'cpu' });
    expect(plain.queued).toEqual([]);
    expect(await resultOverIpc(s, unrecorded)).toMatchObject({ status: 'not-analysed', unrecorded: ['Body Part Examined'] });
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
