import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ageAtStudy,
  anatomicRegionTerm,
  type BodyPartRecord,
  buildSeriesFacts,
  checkApplicability,
  checkPopulation,
  type ImageAttributes,
  lapsedVouchReason,
  parsePatientAge,
  patientAge,
  type SeriesFacts,
  vouchCovers,
  vouchLapse,
} from '../../electron/services/ai/applicability';
import { type ModelManifest, parseManifest } from '../../electron/services/ai/model-manifest';

const repoRoot = join(import.meta.dirname, '../..');
const parsed = parseManifest(JSON.parse(readFileSync(join(repoRoot, 'models/cxr-pneumonia/manifest.json'), 'utf8')));
if (!parsed.ok) throw new Error(parsed.reason);
const cxr = parsed.manifest;
const breastParsed = parseManifest(JSON.parse(readFileSync(join(repoRoot, 'models/us-breast-malignancy/manifest.json'), 'utf8')));
if (!breastParsed.ok) throw new Error(breastParsed.reason);
const breast = breastParsed.manifest;

/** Facts overridden; `bodyPart` / `anatomicRegion` are what every image of the series records (`bodyParts` lists each image's own). */
type FactsOver = Partial<SeriesFacts> & Partial<BodyPartRecord>;

const chestFilm = ({ bodyPart = 'CHEST', anatomicRegion = '', ...over }: FactsOver): SeriesFacts => ({
  modality: 'DX',
  bodyParts: [{ bodyPart, anatomicRegion }],
  viewPositions: ['PA'],
  photometric: ['MONOCHROME2'],
  pixelSpacings: [[0.15, 0.15]],
  sliceCount: 1,
  patientAgeYears: 3,
  ...over,
});

describe('applicability of the shipped chest X-ray model', () => {
  it('accepts a PA chest film recorded as CHEST or as THORAX (the same region)', () => {
    expect(checkApplicability(cxr, chestFilm({}))).toEqual({ ok: true });
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'thorax ' }))).toEqual({ ok: true });
  });

  it('turns a lateral THORAX film away for its view, not its body part', () => {
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'THORAX', viewPositions: ['LL'] }))).toEqual({ ok: false, reason: 'view position LL is not one of PA, AP' });
  });

  it('names the body part it was given when it is another region, or which sources were missing', () => {
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'ABDOMEN' }))).toEqual({ ok: false, reason: 'body part ABDOMEN is not one of CHEST' });
    expect(checkApplicability(cxr, chestFilm({ bodyPart: '' }))).toEqual({
      ok: false,
      reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs CHEST',
      unrecorded: ['Body Part Examined'],
    });
  });
});

describe('not recorded is not wrong: which refusals may be vouched for', () => {
  it('lists every attribute that is only absent, with each rule\'s reason', () => {
    expect(checkApplicability(cxr, chestFilm({ bodyPart: '', viewPositions: [] }))).toEqual({
      ok: false,
      reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs CHEST; view position (not recorded) is not one of PA, AP',
      unrecorded: ['Body Part Examined', 'View Position'],
    });
    expect(checkApplicability(cxr, chestFilm({ viewPositions: [] }))).toEqual({ ok: false, reason: 'view position (not recorded) is not one of PA, AP', unrecorded: ['View Position'] });
    expect(checkApplicability(breast, usImage({}))).toEqual({
      ok: false,
      reason: 'body part not recorded (no Body Part Examined, Anatomic Region Sequence or body part in the descriptions); the model needs BREAST',
      unrecorded: ['Body Part Examined'],
    });
  });

  it('reports pixel spacing that is absent as unrecorded, and spacing outside the range as a contradiction', () => {
    const spaced: ModelManifest = { ...cxr, applicability: { ...cxr.applicability, pixelSpacingMm: { min: 0.1, max: 0.5 } } };
    expect(checkApplicability(spaced, chestFilm({ pixelSpacings: [] }))).toEqual({ ok: false, reason: 'pixel spacing is not recorded', unrecorded: ['Pixel Spacing'] });
    expect(checkApplicability(spaced, chestFilm({ pixelSpacings: [[1, 1]] }))).toEqual({ ok: false, reason: 'pixel spacing 1×1 mm is outside 0.1–0.5 mm' });
  });

  it('lets a contradiction anywhere win, whatever rule comes first, and never offers it to be vouched for', () => {
    // Body part absent (vouchable) but the view is lateral (recorded, contradicts): refused for the view only.
    expect(checkApplicability(cxr, chestFilm({ bodyPart: '', viewPositions: ['LL'] }))).toEqual({ ok: false, reason: 'view position LL is not one of PA, AP' });
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'HEAD', viewPositions: [] }))).toEqual({ ok: false, reason: 'body part HEAD is not one of CHEST' });
    expect(checkApplicability(cxr, chestFilm({ modality: 'CT', bodyPart: '' }))).toEqual({ ok: false, reason: 'modality CT is not one of CR, DX' });
    expect(checkApplicability(breast, usImage({ modality: 'CT' }))).toEqual({ ok: false, reason: 'modality CT is not one of US' });
    const mono2: ModelManifest = { ...cxr, applicability: { ...cxr.applicability, photometric: ['MONOCHROME2'] } };
    expect(checkApplicability(mono2, chestFilm({ bodyPart: '', photometric: ['MONOCHROME1'] }))).toEqual({ ok: false, reason: 'photometric interpretation MONOCHROME1 is not one of MONOCHROME2' });
    // A region code Vigil cannot map is recorded, so it is not "absent".
    expect(checkApplicability(breast, usImage({ anatomicRegion: 'SCT^7569003^Finger' }))).not.toHaveProperty('unrecorded');
  });

  it('treats a series where some images record an allowed view as recorded', () => {
    expect(checkApplicability(cxr, chestFilm({ viewPositions: ['AP'] }))).toEqual({ ok: true });
  });
});

describe("what a reader's vouch covers", () => {
  const covers = { sopInstanceUids: ['1.2.3.1', '1.2.3.2'], modelSha256: 'a'.repeat(64) };
  const now = { sopInstanceUids: ['1.2.3.1', '1.2.3.2'], modelSha256: 'a'.repeat(64), unrecorded: ['Body Part Examined'] };

  it('covers the images the reader saw and fewer unrecorded attributes than they vouched for, for that model package', () => {
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined'] }, now)).toBe(true);
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined', 'Pixel Spacing'] }, now)).toBe(true);
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined'] }, { ...now, sopInstanceUids: ['1.2.3.2'] })).toBe(true);
  });

  it('covers no image they did not see, no attribute they did not vouch for, and no other model package', () => {
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined'] }, { ...now, sopInstanceUids: [...now.sopInstanceUids, '1.2.3.3'] })).toBe(false);
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined'] }, { ...now, unrecorded: ['Body Part Examined', 'Pixel Spacing'] })).toBe(false);
    expect(vouchCovers({ ...covers, attributes: ['Body Part Examined'] }, { ...now, modelSha256: 'b'.repeat(64) })).toBe(false);
  });

  it('says every way a vouch falls short: images added, another model package, attributes it was not given for', () => {
    const given = { ...covers, attributes: ['Body Part Examined'] };
    const more = ['Body Part Examined', 'Pixel Spacing'];
    expect(vouchLapse(given, now)).toBeNull();
    expect(vouchLapse(given, { ...now, unrecorded: more })).toEqual({ imagesAdded: 0, modelChanged: false, attributesNotVouched: ['Pixel Spacing'] });
    expect(vouchLapse(given, { sopInstanceUids: [...now.sopInstanceUids, '1.2.3.3'], modelSha256: 'b'.repeat(64), unrecorded: more })).toEqual({ imagesAdded: 1, modelChanged: true, attributesNotVouched: ['Pixel Spacing'] });
    expect(vouchLapse(given, { ...now, sopInstanceUids: [...now.sopInstanceUids, '1.2.3.3'] })).toEqual({ imagesAdded: 1, modelChanged: false });
    // A lapse stored before it recorded what it was given for cannot say which attributes it did not cover.
    expect(vouchLapse(covers, { ...now, unrecorded: more })).toBeNull();
    expect(lapsedVouchReason('r', { imagesAdded: 2, modelChanged: false, attributesNotVouched: ['Pixel Spacing', 'View Position'] })).toBe(
      'r; your earlier vouch does not cover 2 images added since and was not given for Pixel Spacing, View Position, which the series does not record',
    );
  });
});

describe("every image's own body part counts, not only the first image's", () => {
  const ultrasound = { modality: 'US', seriesDescription: 'B-mode', studyDescription: 'Ultrasound', patientAge: '040Y', birthDate: '', studyDate: '' };
  const image = (bodyPartExamined: string, anatomicRegion = ''): ImageAttributes => ({ bodyPartExamined, anatomicRegion, viewPosition: '', photometricInterpretation: 'MONOCHROME2', pixelSpacing: '', numberOfFrames: null });
  const judge = (...images: ImageAttributes[]) => checkApplicability(breast, buildSeriesFacts(ultrasound, images));

  it('refuses a series where a later image records another body part, whatever the first records', () => {
    expect(judge(image(''), image('KNEE'))).toEqual({ ok: false, reason: 'body part KNEE is not one of BREAST' });
    expect(judge(image('BREAST'), image('KNEE'))).toEqual({ ok: false, reason: 'body part KNEE is not one of BREAST' });
    expect(judge(image(''), image('', 'SCT^80891009^Heart'))).toEqual({ ok: false, reason: 'body part HEART (Anatomic Region Sequence SCT 80891009 Heart) is not one of BREAST' });
  });

  it('finds the body part not recorded only when no image records one', () => {
    expect(judge(image(''), image(''))).toMatchObject({ ok: false, unrecorded: ['Body Part Examined'] });
    expect(judge(image(''), image('BREAST'))).toEqual({ ok: true });
    expect(judge(image(''), image('', 'SRT^T-04000^Breast'))).toEqual({ ok: true });
  });

  it('judges a series as it judges its images one by one: refused when any image is', () => {
    const images = [image('BREAST'), image(''), image('', 'SCT^76752008^Breast'), image('HEAD')];
    const alone = images.map((i) => judge(i));
    expect(alone.map((a) => a.ok)).toEqual([true, false, true, false]);
    expect(judge(...images)).toEqual(alone[3]);
  });
});

describe('For Processing images (raw detector data) are not what a model reads', () => {
  const chestSeries = { modality: 'DX', seriesDescription: 'CHEST PA', studyDescription: 'Chest', patientAge: '003Y', birthDate: '', studyDate: '' };
  const radiograph = (sopClassUid: string): ImageAttributes => ({ sopClassUid, bodyPartExamined: 'CHEST', anatomicRegion: '', viewPosition: 'PA', photometricInterpretation: 'MONOCHROME2', pixelSpacing: '0.15\\0.15', numberOfFrames: null });
  const FOR_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.1';
  const FOR_PROCESSING = '1.2.840.10008.5.1.4.1.1.1.1.1';

  it('refuses a DX For Processing image, never as merely unrecorded, and accepts its For Presentation image', () => {
    expect(checkApplicability(cxr, buildSeriesFacts(chestSeries, [radiograph(FOR_PRESENTATION)]))).toEqual({ ok: true });
    const refused = checkApplicability(cxr, buildSeriesFacts(chestSeries, [radiograph(FOR_PROCESSING)]));
    expect(refused).toEqual({ ok: false, reason: "1 image is For Processing (the detector's raw values, not processed for presentation): the model needs the For Presentation image" });
    // A series holding both: the raw image would still reach the model.
    expect(checkApplicability(cxr, buildSeriesFacts(chestSeries, [radiograph(FOR_PRESENTATION), radiograph(FOR_PROCESSING), radiograph(FOR_PROCESSING)]))).toMatchObject({ ok: false, reason: expect.stringMatching(/^2 images are For Processing/) });
    // Mammography and intra-oral For Processing classes too.
    for (const uid of ['1.2.840.10008.5.1.4.1.1.1.2.1', '1.2.840.10008.5.1.4.1.1.1.3.1']) expect(buildSeriesFacts(chestSeries, [radiograph(uid)]).forProcessingImages).toBe(1);
  });
});

/** A breast ultrasound image as the corpus has them: no Body Part Examined. */
const usImage = ({ bodyPart = '', anatomicRegion = '', ...over }: FactsOver): SeriesFacts => ({
  modality: 'US',
  bodyParts: [{ bodyPart, anatomicRegion }],
  viewPositions: [],
  photometric: ['MONOCHROME2'],
  pixelSpacings: [],
  sliceCount: 1,
  patientAgeYears: 40,
  ...over,
});

describe('body part from the Anatomic Region Sequence and descriptions', () => {
  it('maps SNOMED CT and legacy SNOMED RT codes of the rules\' body parts to their terms', () => {
    expect(anatomicRegionTerm('SCT^76752008^Breast')).toBe('BREAST');
    expect(anatomicRegionTerm('SRT^T-04000^Breast')).toBe('BREAST');
    expect(anatomicRegionTerm('SNM3^T-04000^Breast')).toBe('BREAST'); // as the corpus' MG image (fo-dicom) writes it
    expect(anatomicRegionTerm('SCT^51185008^Thorax')).toBe('CHEST');
    expect(anatomicRegionTerm('SCT^43799004^Chest')).toBe('CHEST');
    expect(anatomicRegionTerm('SRT^T-D3000^Chest')).toBe('CHEST');
    expect(anatomicRegionTerm('SCT^12738006^Brain')).toBe('BRAIN');
    expect(anatomicRegionTerm('SCT^818981001^Abdomen')).toBe('ABDOMEN');
    expect(anatomicRegionTerm('SCT^T-04000^Breast')).toBeNull(); // an SRT id under the SCT scheme is no SCT code
    expect(anatomicRegionTerm('LN^76752008^x')).toBeNull();
  });

  it('applies a US breast model to an image without Body Part Examined through its Anatomic Region Sequence', () => {
    expect(checkApplicability(breast, usImage({ anatomicRegion: 'SCT^76752008^Breast' }))).toEqual({ ok: true });
    expect(checkApplicability(breast, usImage({ anatomicRegion: 'SRT^T-04000^Breast' }))).toEqual({ ok: true });
    expect(checkApplicability(breast, usImage({ anatomicRegion: 'SCT^80891009^Heart' }))).toEqual({
      ok: false,
      reason: 'body part HEART (Anatomic Region Sequence SCT 80891009 Heart) is not one of BREAST',
    });
    expect(checkApplicability(breast, usImage({ anatomicRegion: 'SCT^7569003^Finger' }))).toEqual({
      ok: false,
      reason: 'body part SCT 7569003 Finger (Anatomic Region Sequence) is not a body part this Vigil maps; the model needs BREAST',
    });
  });

  it('prefers Body Part Examined over the code', () => {
    expect(checkApplicability(breast, usImage({ bodyPart: 'ABDOMEN', anatomicRegion: 'SCT^76752008^Breast' }))).toMatchObject({ ok: false, reason: 'body part ABDOMEN is not one of BREAST' });
  });

  it('matches description keywords only when the manifest allows it (schema v3), and says which sources were missing', () => {
    const facts = usImage({ descriptions: ['US BREAST LEFT', 'Ultrasound'] });
    const denying: ModelManifest = { ...breast, applicability: { ...breast.applicability, allowDescriptionMatch: false } };
    expect(checkApplicability(denying, facts)).toMatchObject({ ok: false, reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs BREAST' });
    const allowing: ModelManifest = { ...breast, applicability: { ...breast.applicability, allowDescriptionMatch: true } };
    expect(checkApplicability(allowing, facts)).toEqual({ ok: true });
    // The shipped breast model (1.3.2) allows it: scanners often leave Body Part Examined empty.
    expect(checkApplicability(breast, facts)).toEqual({ ok: true });
    // Whole words only: "Breastfeeding clinic" names no body part; "Echocardiogram" is the heart.
    expect(checkApplicability(allowing, usImage({ descriptions: ['Breastfeeding clinic'] }))).toEqual({
      ok: false,
      reason: 'body part not recorded (no Body Part Examined, Anatomic Region Sequence or body part in the descriptions); the model needs BREAST',
      unrecorded: ['Body Part Examined'],
    });
    expect(checkApplicability(allowing, usImage({ descriptions: ['Echocardiogram'] }))).toEqual({ ok: false, reason: 'body part HEART (description "Echocardiogram") is not one of BREAST' });
    const v2 = parseManifest({ ...JSON.parse(readFileSync(join(repoRoot, 'models/us-breast-malignancy/manifest.json'), 'utf8')), schemaVersion: 2, intendedPopulation: undefined, applicability: { modalities: ['US'], allowDescriptionMatch: true } });
    expect(v2).toEqual({ ok: false, reason: 'manifest.json is invalid at applicability.allowDescriptionMatch: allowDescriptionMatch needs schemaVersion 3' });
  });
});

describe('patient age', () => {
  it('reads Patient\'s Age in days, weeks, months and years', () => {
    expect(parsePatientAge('054Y')).toBe(54);
    expect(parsePatientAge('018M')).toBe(1.5);
    expect(parsePatientAge('002W')).toBeCloseTo(14 / 365.2425, 9);
    expect(parsePatientAge('010D')).toBeCloseTo(10 / 365.2425, 9);
    expect(parsePatientAge('54 Y')).toBe(54);
    expect(parsePatientAge('')).toBeNull();
    expect(parsePatientAge('54')).toBeNull();
    expect(parsePatientAge('999Y')).toBeNull();
  });

  it('takes Patient\'s Age first, else Birth Date and Study Date, and treats placeholder birth dates as unknown', () => {
    expect(patientAge('024Y', '19750506', '20000329')).toEqual({ years: 24, source: 'PatientAge' });
    expect(patientAge('', '19400305', '20040826')).toEqual({ years: expect.closeTo(64.48, 2), source: 'PatientBirthDate' });
    // pydicom's charset files: Birth Date 18000101, studied 2008.
    expect(ageAtStudy('18000101', '20080504')).toBeNull();
    expect(patientAge('', '18000101', '20080504')).toBeNull();
    expect(patientAge('', '', '20080504')).toBeNull();
  });
});

describe('intended population (manifest schema v3)', () => {
  it('is declared by the shipped paediatric chest X-ray model', () => {
    expect(cxr.schemaVersion).toBe(5);
    expect(cxr.intendedPopulation?.ageYears).toEqual({ min: 1, max: 5 });
  });

  it('warns for an adult, stays silent inside the range (completed years) and for an unknown age', () => {
    const adult = checkPopulation(cxr.intendedPopulation, { patientAgeYears: 54.3, patientAgeSource: 'PatientBirthDate' });
    expect(adult?.warnings).toEqual([
      { code: 'OUTSIDE_INTENDED_POPULATION', message: 'Outside intended population: patient 54 y; model intended for 1–5 y', patientAgeYears: 54.3, intendedAgeYears: { min: 1, max: 5 } },
    ]);
    expect(adult?.context).toMatchObject({ patientAgeYears: 54.3, ageSource: 'PatientBirthDate', intendedAgeYears: { min: 1, max: 5 } });
    expect(checkPopulation(cxr.intendedPopulation, { patientAgeYears: 5.9, patientAgeSource: 'PatientBirthDate' })?.warnings).toEqual([]);
    expect(checkPopulation(cxr.intendedPopulation, { patientAgeYears: 0.5, patientAgeSource: 'PatientAge' })?.warnings[0]?.message).toBe(
      'Outside intended population: patient 6 mo; model intended for 1–5 y',
    );
    const unknown = checkPopulation(cxr.intendedPopulation, { patientAgeYears: null });
    expect(unknown).toEqual({ warnings: [], context: { patientAgeYears: null, ageSource: null, intendedAgeYears: { min: 1, max: 5 }, note: cxr.intendedPopulation!.note } });
    expect(checkPopulation(undefined, { patientAgeYears: 54 })).toBeNull();
  });

  it('is a warning, not a refusal: the adult film is still applicable', () => {
    expect(checkApplicability(cxr, chestFilm({ patientAgeYears: 54 }))).toEqual({ ok: true });
  });

  it('keeps the hard patientAgeYears rule for manifests that declare it', () => {
    const strict: ModelManifest = { ...cxr, applicability: { ...cxr.applicability, patientAgeYears: { max: 17 } } };
    expect(checkApplicability(strict, chestFilm({ patientAgeYears: 54 }))).toEqual({ ok: false, reason: 'patient age 54 years is outside …–17 years' });
    expect(checkApplicability(strict, chestFilm({ patientAgeYears: null }))).toEqual({ ok: true });
  });

  it('needs schema version 3; v1 and v2 manifests without it still load', () => {
    const shippedRaw = JSON.parse(readFileSync(join(repoRoot, 'models/cxr-pneumonia/manifest.json'), 'utf8')) as Record<string, unknown> & { preprocessing: { op: string }[] };
    // Without the schema v5 op, so that only the population decides which versions load.
    const raw: Record<string, unknown> = { ...shippedRaw, preprocessing: shippedRaw.preprocessing.filter((o) => o.op !== 'voiLut') };
    expect(parseManifest({ ...raw, schemaVersion: 2 })).toEqual({ ok: false, reason: 'manifest.json is invalid at intendedPopulation: intendedPopulation needs schemaVersion 3' });
    const { intendedPopulation: _dropped, ...v1 } = raw;
    expect(parseManifest({ ...v1, schemaVersion: 1 }).ok).toBe(true);
    expect(parseManifest({ ...v1, schemaVersion: 2 }).ok).toBe(true);
    expect(parseManifest({ ...raw, intendedPopulation: { ageYears: { min: 5, max: 1 } } })).toMatchObject({ ok: false });
    expect(parseManifest({ ...raw, intendedPopulation: { sex: 'F' } })).toMatchObject({ ok: false });
  });
});
