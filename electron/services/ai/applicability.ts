/**
 * Applicability rules: checked against what the study index knows about a
 * series before a model runs. A series that fails becomes "not analysed:
 * <reason>", never a silent score. The intended population (manifest schema
 * v3) is softer: a series outside it is analysed, and its run carries a warning.
 */
import type { RunPopulation, RunWarning, VouchLapse } from '../../../contract/ipc-contract';
import type { InstanceMetadata } from '../dicom/instance-metadata';
import type { IntendedPopulation, ModelManifest } from './model-manifest';

/** Where a patient's age came from: Patient's Age (0010,1010), or Birth Date and Study Date. */
export type AgeSource = NonNullable<RunPopulation['ageSource']>;
/** What the run knew about the patient against the model's intended population (stored with the run). */
export type PopulationContext = RunPopulation;
export type { RunWarning, VouchLapse };

/** What one image records about its body part. */
export interface BodyPartRecord {
  /** Body Part Examined (0018,0015), as recorded ('' when absent). */
  bodyPart: string;
  /** First Anatomic Region Sequence (0008,2218) item as "scheme^code^meaning" ('' when none). */
  anatomicRegion: string;
}

export interface SeriesFacts {
  modality: string;
  /**
   * Each distinct body part record of the series' images, in reading order. Each image's own: a series whose first
   * image records nothing may have a later one that records another body part, and that is a contradiction.
   */
  bodyParts: BodyPartRecord[];
  /** Study and series descriptions (matched only where the manifest allows description matching). */
  descriptions?: readonly string[];
  viewPositions: string[];
  photometric: string[];
  /** [row, column] spacing of each distinct Pixel Spacing value, mm. */
  pixelSpacings: [number, number][];
  sliceCount: number;
  patientAgeYears: number | null;
  /** Where patientAgeYears came from (null when unknown). */
  patientAgeSource?: AgeSource | null;
  /** Images of a "For Processing" SOP class (raw detector data, see FOR_PROCESSING_SOP_CLASSES); absent: none known. */
  forProcessingImages?: number;
}

/**
 * SOP classes whose images are "For Processing" (PS3.3 A.26 DX, A.27 MG, A.28 IO; Presentation Intent Type FOR
 * PROCESSING): the detector's raw values before the vendor's image processing, not meant to be displayed or read.
 * Every model here learnt from images as presented to a reader, so such images contradict it; the "For Presentation"
 * image of the same exposure is the one to analyse.
 */
const FOR_PROCESSING_SOP_CLASSES: Readonly<Record<string, string>> = {
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'Digital X-Ray Image – For Processing',
  '1.2.840.10008.5.1.4.1.1.1.2.1': 'Digital Mammography X-Ray Image – For Processing',
  '1.2.840.10008.5.1.4.1.1.1.3.1': 'Digital Intra-Oral X-Ray Image – For Processing',
};

/**
 * A refusal. `unrecorded` is present only when every failing rule failed because the series does not record an
 * attribute the rule reads (not because a recorded value contradicts the model): the names of those attributes.
 * Such a series may be vouched for (by the reader, or by a validation case's label); a contradiction never.
 */
export type Applicability = { ok: true } | { ok: false; reason: string; unrecorded?: string[] };

/** Attribute names `unrecorded` lists (DICOM attribute names, as the reason and the warning show them). */
export const UNRECORDED_BODY_PART = 'Body Part Examined';
export const UNRECORDED_VIEW_POSITION = 'View Position';
export const UNRECORDED_PIXEL_SPACING = 'Pixel Spacing';

/** The series- and study-level attributes the rules read, as the study index records them (one instance's values). */
export type SeriesAttributes = Pick<InstanceMetadata, 'modality' | 'seriesDescription' | 'studyDescription' | 'patientAge' | 'birthDate' | 'studyDate'>;
/** The per-image attributes the rules read, of each image of the series that has pixel data. */
export type ImageAttributes = Pick<InstanceMetadata, 'bodyPartExamined' | 'anatomicRegion' | 'viewPosition' | 'photometricInterpretation' | 'pixelSpacing' | 'numberOfFrames'> &
  Partial<Pick<InstanceMetadata, 'sopClassUid'>>;

/**
 * The facts the rules check, from a series' attributes and its images. The one builder for clinical analysis
 * (from the study index) and local validation (from each case file), so the two cannot judge a file differently.
 */
export function buildSeriesFacts(series: SeriesAttributes, images: readonly ImageAttributes[]): SeriesFacts {
  const spacings = new Map<string, [number, number]>();
  for (const i of images) {
    const v = i.pixelSpacing.split('\\').map(Number);
    if (v.length >= 2 && v.every(Number.isFinite)) spacings.set(i.pixelSpacing, [v[0]!, v[1]!]);
  }
  const bodyParts = new Map<string, BodyPartRecord>();
  for (const i of images) bodyParts.set(JSON.stringify([i.bodyPartExamined, i.anatomicRegion]), { bodyPart: i.bodyPartExamined, anatomicRegion: i.anatomicRegion });
  const age = patientAge(series.patientAge, series.birthDate, series.studyDate);
  return {
    modality: series.modality,
    bodyParts: [...bodyParts.values()],
    descriptions: [series.seriesDescription, series.studyDescription].filter(Boolean),
    viewPositions: [...new Set(images.map((i) => i.viewPosition).filter(Boolean))],
    photometric: [...new Set(images.map((i) => i.photometricInterpretation))],
    pixelSpacings: [...spacings.values()],
    sliceCount: images.reduce((n, i) => n + Math.max(1, i.numberOfFrames ?? 1), 0),
    patientAgeYears: age?.years ?? null,
    patientAgeSource: age?.source ?? null,
    forProcessingImages: images.filter((i) => i.sopClassUid !== undefined && i.sopClassUid in FOR_PROCESSING_SOP_CLASSES).length,
  };
}

const upper = (s: string) => s.trim().toUpperCase();

/**
 * Body Part Examined values that name the same region. DICOM's defined term is CHEST
 * (PS3.16 Annex L: SCT 51185008 "Thorax"), but modalities often write THORAX; a
 * radiologist reads both as a chest film, so neither may turn the other "not analysed".
 */
const BODY_PART_SYNONYMS: Readonly<Record<string, string>> = { THORAX: 'CHEST' };
const bodyPartTerm = (s: string) => {
  const u = upper(s);
  return BODY_PART_SYNONYMS[u] ?? u;
};

/**
 * Anatomic Region Sequence codes of the body parts the rules use, as Body Part Examined terms (PS3.16
 * Annex L). SNOMED CT ids (scheme SCT) and their legacy SNOMED RT ids (SRT, and SNM3 / 99SDM that older
 * devices write for the same codes); e.g. breast is SCT 76752008 = SRT T-04000.
 */
const SCT_BODY_PARTS: Readonly<Record<string, string>> = {
  '51185008': 'CHEST', // Thorax
  '43799004': 'CHEST', // Chest
  '39607008': 'CHEST', // Lung
  '76752008': 'BREAST',
  '69536005': 'HEAD',
  '12738006': 'BRAIN',
  '818981001': 'ABDOMEN',
  '113345001': 'ABDOMEN', // Abdominal structure (SRT T-D4000)
  '12921003': 'PELVIS',
  '80891009': 'HEART',
};
const SRT_BODY_PARTS: Readonly<Record<string, string>> = {
  'T-D3000': 'CHEST',
  'T-28000': 'CHEST',
  'T-04000': 'BREAST',
  'T-D1100': 'HEAD',
  'T-A0100': 'BRAIN',
  'T-D4000': 'ABDOMEN',
  'T-D6000': 'PELVIS',
  'T-32000': 'HEART',
};
const SRT_SCHEMES = new Set(['SRT', 'SNM3', '99SDM']);

/** Words of a study / series description that name a body part (whole words, case-insensitive). */
const DESCRIPTION_KEYWORDS: readonly (readonly [RegExp, string])[] = [
  [/\b(CHEST|THORAX|THORACIC|CXR|LUNGS?)\b/, 'CHEST'],
  [/\b(BREASTS?|MAMMA|MAMMO\w*)\b/, 'BREAST'],
  [/\b(BRAIN|CEREBR\w*)\b/, 'BRAIN'],
  [/\b(HEAD|SKULL)\b/, 'HEAD'],
  [/\b(ABDOMEN|ABDOMINAL|ABD)\b/, 'ABDOMEN'],
  [/\bPELVI[SC]\b/, 'PELVIS'],
  [/\b(HEART|CARDIAC|ECHO\w*)\b/, 'HEART'],
];

/** The body part term an Anatomic Region Sequence value ("scheme^code^meaning") codes for, or null. */
export function anatomicRegionTerm(region: string): string | null {
  const [scheme = '', code = ''] = region.split('^');
  const s = upper(scheme);
  if (s === 'SCT') return SCT_BODY_PARTS[code.trim()] ?? null;
  if (SRT_SCHEMES.has(s)) return SRT_BODY_PARTS[upper(code)] ?? null;
  return null;
}

export type BodyPartSource = 'BodyPartExamined' | 'AnatomicRegionSequence' | 'description';

/**
 * An image's body part: its Body Part Examined; else its Anatomic Region Sequence code mapped to a term;
 * else (only when `allowDescription`) the first body-part keyword of the study / series descriptions.
 * `shown` is what a reason quotes (e.g. "SCT 80891009 Heart"); term is null when nothing names a known part.
 */
export function resolveBodyPart(
  record: BodyPartRecord,
  descriptions: readonly string[],
  allowDescription: boolean,
): { term: string | null; source: BodyPartSource; shown: string } | null {
  if (record.bodyPart.trim()) return { term: bodyPartTerm(record.bodyPart), source: 'BodyPartExamined', shown: record.bodyPart.trim() };
  const region = record.anatomicRegion;
  if (region) {
    const [scheme = '', code = '', meaning = ''] = region.split('^');
    return { term: anatomicRegionTerm(region), source: 'AnatomicRegionSequence', shown: `${scheme} ${code}${meaning ? ` ${meaning}` : ''}` };
  }
  if (!allowDescription) return null;
  for (const d of descriptions) {
    const text = upper(d);
    const hit = DESCRIPTION_KEYWORDS.find(([re]) => re.test(text));
    if (hit) return { term: hit[1], source: 'description', shown: d.trim() };
  }
  return null;
}

const SOURCE_NAMES: Readonly<Record<BodyPartSource, string>> = {
  BodyPartExamined: 'Body Part Examined',
  AnatomicRegionSequence: 'Anatomic Region Sequence',
  description: 'description',
};

function inRange(v: number, r: { min?: number; max?: number }): boolean {
  return (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
}

const describe = (r: { min?: number; max?: number }) => `${r.min ?? '…'}–${r.max ?? '…'}`;

/**
 * Checks every rule (not only up to the first failure), so a contradiction anywhere wins over an attribute that is
 * merely not recorded. The reason names the first contradiction, else every unrecorded attribute's rule.
 * Patient age is not a rule that can fail for want of a value: an unknown age passes (see checkPopulation).
 */
export function checkApplicability(manifest: ModelManifest, f: SeriesFacts): Applicability {
  const a = manifest.applicability;
  const contradictions: string[] = [];
  const unrecorded: { attribute: string; reason: string }[] = [];
  if (a.modalities?.length && !a.modalities.map(upper).includes(upper(f.modality))) {
    contradictions.push(`modality ${f.modality || '(none)'} is not one of ${a.modalities.join(', ')}`);
  }
  if (f.forProcessingImages) {
    const n = f.forProcessingImages;
    contradictions.push(`${n === 1 ? '1 image is' : `${n} images are`} For Processing (the detector's raw values, not processed for presentation): the model needs the For Presentation image`);
  }
  if (a.bodyParts?.length) {
    const wanted = a.bodyParts.map(bodyPartTerm);
    const needs = a.bodyParts.join(', ');
    // Every image's own body part is judged, as if each were analysed alone: one that records another part
    // contradicts the model wherever it is in the series; "not recorded" only when no image records any.
    const parts = f.bodyParts.map((r) => resolveBodyPart(r, f.descriptions ?? [], a.allowDescriptionMatch === true)).filter((p) => p !== null);
    if (parts.length === 0) {
      const missing = a.allowDescriptionMatch ? 'no Body Part Examined, Anatomic Region Sequence or body part in the descriptions' : 'no Body Part Examined or Anatomic Region Sequence';
      unrecorded.push({ attribute: UNRECORDED_BODY_PART, reason: `body part not recorded (${missing}); the model needs ${needs}` });
    }
    for (const part of parts) {
      if (part.term === null) {
        // A recorded region Vigil cannot map is not "absent": the image says something, and it may be another part.
        contradictions.push(`body part ${part.shown} (${SOURCE_NAMES[part.source]}) is not a body part this Vigil maps; the model needs ${needs}`);
      } else if (!wanted.includes(part.term)) {
        const via = part.source === 'BodyPartExamined' ? '' : ` (${SOURCE_NAMES[part.source]}${part.source === 'description' ? ` "${part.shown}"` : ` ${part.shown}`})`;
        contradictions.push(`body part ${part.source === 'BodyPartExamined' ? part.shown : part.term}${via} is not one of ${needs}`);
      }
    }
  }
  if (a.viewPositions?.length) {
    const bad = f.viewPositions.filter((v) => !a.viewPositions!.map(upper).includes(upper(v)));
    if (bad.length > 0) contradictions.push(`view position ${bad[0]} is not one of ${a.viewPositions.join(', ')}`);
    else if (f.viewPositions.length === 0) unrecorded.push({ attribute: UNRECORDED_VIEW_POSITION, reason: `view position (not recorded) is not one of ${a.viewPositions.join(', ')}` });
  }
  if (a.photometric?.length) {
    const bad = f.photometric.find((p) => !a.photometric!.includes(p as never));
    if (bad !== undefined) contradictions.push(`photometric interpretation ${bad || '(none)'} is not one of ${a.photometric.join(', ')}`);
  }
  if (a.pixelSpacingMm) {
    const bad = f.pixelSpacings.find(([r, c]) => !inRange(r, a.pixelSpacingMm!) || !inRange(c, a.pixelSpacingMm!));
    if (bad) contradictions.push(`pixel spacing ${bad.join('×')} mm is outside ${describe(a.pixelSpacingMm)} mm`);
    else if (f.pixelSpacings.length === 0) unrecorded.push({ attribute: UNRECORDED_PIXEL_SPACING, reason: 'pixel spacing is not recorded' });
  }
  if (a.sliceCount && !inRange(f.sliceCount, a.sliceCount)) contradictions.push(`${f.sliceCount} slices is outside ${describe(a.sliceCount)}`);
  if (a.patientAgeYears && f.patientAgeYears !== null && !inRange(f.patientAgeYears, a.patientAgeYears)) {
    contradictions.push(`patient age ${Math.floor(f.patientAgeYears)} years is outside ${describe(a.patientAgeYears)} years`);
  }
  if (contradictions.length > 0) return { ok: false, reason: contradictions[0]! };
  if (unrecorded.length > 0) return { ok: false, reason: unrecorded.map((u) => u.reason).join('; '), unrecorded: unrecorded.map((u) => u.attribute) };
  return { ok: true };
}

/** Whether two lists hold the same members: the same length and the same distinct values (in any order). */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const bs = new Set(b);
  return a.length === b.length && new Set(a).size === bs.size && a.every((x) => bs.has(x));
}

/** What a reader's vouch covers: the images they saw and the model package (sha-256) they vouched for. */
export interface VouchCoverage {
  sopInstanceUids: string[];
  modelSha256: string;
  /** The attributes it was given for (the series did not record them); absent in lapses stored before they were recorded. */
  attributes?: string[];
}

/**
 * The run warning of a series analysed although it does not record attributes the applicability rules read,
 * because someone vouched that it is what the model needs: the reader (with what the vouch covers), or a
 * validation case's label.
 */
export function unrecordedWarning(attributes: readonly string[], vouchedBy: 'case-label'): RunWarning;
export function unrecordedWarning(attributes: readonly string[], vouchedBy: 'reader', covers: VouchCoverage): RunWarning;
export function unrecordedWarning(attributes: readonly string[], vouchedBy: 'reader' | 'case-label', covers?: VouchCoverage): RunWarning {
  const who = vouchedBy === 'reader' ? 'the reader vouched' : "the case's label vouched";
  return {
    code: 'APPLICABILITY_NOT_RECORDED',
    message: `Analysed although ${attributes.join(', ')} ${attributes.length === 1 ? 'is' : 'are'} not recorded: ${who} that the series is what the model needs`,
    attributes: [...attributes],
    vouchedBy,
    ...(covers ? { sopInstanceUids: [...covers.sopInstanceUids], modelSha256: covers.modelSha256 } : {}),
  };
}

/**
 * Whether a reader's vouch covers a series as it is now: every image it holds now was among those the reader saw,
 * the model package is the one they vouched for, and each attribute it does not record was vouched for; that is,
 * the vouch has not lapsed (vouchLapse). It must say which attributes it was given for.
 */
export function vouchCovers(covers: Required<VouchCoverage>, now: { sopInstanceUids: readonly string[]; modelSha256: string; unrecorded: readonly string[] }): boolean {
  return vouchLapse(covers, now) === null;
}

/**
 * How a reader's vouch falls short of the series as it is now: images it holds that the reader did not see, another
 * model package, attributes it does not record now that the vouch was not given for (the reader never vouched for
 * them, so a reason naming only the other causes would mislead). Null when none.
 */
export function vouchLapse(covers: VouchCoverage, now: { sopInstanceUids: readonly string[]; modelSha256: string; unrecorded: readonly string[] }): VouchLapse | null {
  const seen = new Set(covers.sopInstanceUids);
  const imagesAdded = now.sopInstanceUids.filter((uid) => !seen.has(uid)).length;
  const modelChanged = covers.modelSha256 !== now.modelSha256;
  // A lapse stored before it recorded its attributes cannot say which were vouched for: it says nothing of them.
  const vouched = covers.attributes;
  const attributesNotVouched = vouched ? now.unrecorded.filter((a) => !vouched.includes(a)) : [];
  if (imagesAdded === 0 && !modelChanged && attributesNotVouched.length === 0) return null;
  return { imagesAdded, modelChanged, ...(attributesNotVouched.length > 0 ? { attributesNotVouched } : {}) };
}

/** A refusal's reason, telling the reader why their earlier vouch no longer holds (English: CLI, logs; the UI uses the fields). */
export function lapsedVouchReason(reason: string, lapse: VouchLapse): string {
  const why: string[] = [];
  if (lapse.modelChanged) why.push('was for another version of the model');
  if (lapse.imagesAdded > 0) why.push(`does not cover ${lapse.imagesAdded} image${lapse.imagesAdded === 1 ? '' : 's'} added since`);
  const attributes = lapse.attributesNotVouched ?? [];
  if (attributes.length > 0) why.push(`was not given for ${attributes.join(', ')}, which the series does not record`);
  return `${reason}; your earlier vouch ${why.join(' and ')}`;
}

/** Ages above this are placeholders (e.g. Birth Date 18000101), not a patient's age. */
const MAX_PLAUSIBLE_AGE_YEARS = 130;

/** Age at the study from DA values (YYYYMMDD); null when either is unknown or the result is implausible. */
export function ageAtStudy(birthDate: string, studyDate: string): number | null {
  const parse = (s: string) => (/^\d{8}$/.test(s) ? Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8))) : null);
  const b = parse(birthDate);
  const s = parse(studyDate);
  if (b === null || s === null || s < b) return null;
  const years = (s - b) / (365.2425 * 86400_000);
  return years <= MAX_PLAUSIBLE_AGE_YEARS ? years : null;
}

/** Patient's Age (AS: nnnD, nnnW, nnnM or nnnY) in years; null when absent or malformed. */
export function parsePatientAge(value: string): number | null {
  // The standard form is nnnX ("054Y"); some devices drop the zeros or add a space.
  const m = /^(\d{1,3})\s*([DWMY])$/.exec(value.trim().toUpperCase());
  if (!m) return null;
  const n = Number(m[1]);
  const years = m[2] === 'Y' ? n : m[2] === 'M' ? n / 12 : m[2] === 'W' ? (n * 7) / 365.2425 : n / 365.2425;
  return years <= MAX_PLAUSIBLE_AGE_YEARS ? years : null;
}

/** The patient's age at the study: Patient's Age when recorded, else from Birth Date and Study Date. */
export function patientAge(ageValue: string, birthDate: string, studyDate: string): { years: number; source: AgeSource } | null {
  const stated = parsePatientAge(ageValue);
  if (stated !== null) return { years: stated, source: 'PatientAge' };
  const computed = ageAtStudy(birthDate, studyDate);
  return computed === null ? null : { years: computed, source: 'PatientBirthDate' };
}

/** An age range for people: "1–5 y", "≥ 18 y", "≤ 17 y". */
export function describeAgeRange(r: { min?: number; max?: number }): string {
  if (r.min !== undefined && r.max !== undefined) return `${r.min}–${r.max} y`;
  return r.min !== undefined ? `≥ ${r.min} y` : r.max !== undefined ? `≤ ${r.max} y` : 'any age';
}

/** An age for people: "54 y" from 2 years, "18 mo" below, "10 d" under a month. */
export function formatAge(years: number): string {
  if (years >= 2) return `${Math.floor(years)} y`;
  const months = Math.floor(years * 12 + 1e-9);
  return months >= 1 ? `${months} mo` : `${Math.floor(years * 365.2425 + 1e-9)} d`;
}

/**
 * The manifest's intended population against the series' patient: warnings (outside the age range, compared
 * in completed years as ages are said) and the context to show. Unknown age: no warning, context says so.
 * Null when the manifest declares no intended population.
 */
export function checkPopulation(population: IntendedPopulation | undefined, f: Pick<SeriesFacts, 'patientAgeYears' | 'patientAgeSource'>): { warnings: RunWarning[]; context: PopulationContext } | null {
  if (!population) return null;
  const range = population.ageYears ?? null;
  const age = f.patientAgeYears;
  const context: PopulationContext = { patientAgeYears: age, ageSource: age === null ? null : (f.patientAgeSource ?? null), intendedAgeYears: range ? { ...range } : null, note: population.note ?? null };
  const warnings: RunWarning[] = [];
  if (range && age !== null) {
    const completed = age >= 1 ? Math.floor(age + 1e-9) : age;
    if (!inRange(completed, range)) {
      warnings.push({
        code: 'OUTSIDE_INTENDED_POPULATION',
        message: `Outside intended population: patient ${formatAge(age)}; model intended for ${describeAgeRange(range)}`,
        patientAgeYears: age,
        intendedAgeYears: { ...range },
      });
    }
  }
  return { warnings, context };
}
