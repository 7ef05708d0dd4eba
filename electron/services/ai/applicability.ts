/**
 * Applicability rules: checked against what the study index knows about a
 * series before a model runs. A series that fails becomes "not analysed:
 * <reason>", never a silent score.
 */
import type { ModelManifest } from './model-manifest';

export interface SeriesFacts {
  modality: string;
  bodyPart: string;
  viewPositions: string[];
  photometric: string[];
  /** [row, column] spacing of each distinct Pixel Spacing value, mm. */
  pixelSpacings: [number, number][];
  sliceCount: number;
  patientAgeYears: number | null;
}

export type Applicability = { ok: true } | { ok: false; reason: string };

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

function inRange(v: number, r: { min?: number; max?: number }): boolean {
  return (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
}

const describe = (r: { min?: number; max?: number }) => `${r.min ?? '…'}–${r.max ?? '…'}`;

export function checkApplicability(manifest: ModelManifest, f: SeriesFacts): Applicability {
  const a = manifest.applicability;
  const no = (reason: string): Applicability => ({ ok: false, reason });
  if (a.modalities?.length && !a.modalities.map(upper).includes(upper(f.modality))) {
    return no(`modality ${f.modality || '(none)'} is not one of ${a.modalities.join(', ')}`);
  }
  if (a.bodyParts?.length && !a.bodyParts.map(bodyPartTerm).includes(bodyPartTerm(f.bodyPart))) {
    return no(`body part ${f.bodyPart || '(not recorded)'} is not one of ${a.bodyParts.join(', ')}`);
  }
  if (a.viewPositions?.length) {
    const bad = f.viewPositions.filter((v) => !a.viewPositions!.map(upper).includes(upper(v)));
    if (f.viewPositions.length === 0 || bad.length > 0) return no(`view position ${bad[0] ?? '(not recorded)'} is not one of ${a.viewPositions.join(', ')}`);
  }
  if (a.photometric?.length) {
    const bad = f.photometric.find((p) => !a.photometric!.includes(p as never));
    if (bad !== undefined) return no(`photometric interpretation ${bad || '(none)'} is not one of ${a.photometric.join(', ')}`);
  }
  if (a.pixelSpacingMm) {
    if (f.pixelSpacings.length === 0) return no('pixel spacing is not recorded');
    const bad = f.pixelSpacings.find(([r, c]) => !inRange(r, a.pixelSpacingMm!) || !inRange(c, a.pixelSpacingMm!));
    if (bad) return no(`pixel spacing ${bad.join('×')} mm is outside ${describe(a.pixelSpacingMm)} mm`);
  }
  if (a.sliceCount && !inRange(f.sliceCount, a.sliceCount)) return no(`${f.sliceCount} slices is outside ${describe(a.sliceCount)}`);
  if (a.patientAgeYears && f.patientAgeYears !== null && !inRange(f.patientAgeYears, a.patientAgeYears)) {
    return no(`patient age ${Math.floor(f.patientAgeYears)} years is outside ${describe(a.patientAgeYears)} years`);
  }
  return { ok: true };
}

/** Age at the study from DA values (YYYYMMDD); null when either is unknown. */
export function ageAtStudy(birthDate: string, studyDate: string): number | null {
  const parse = (s: string) => (/^\d{8}$/.test(s) ? Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8))) : null);
  const b = parse(birthDate);
  const s = parse(studyDate);
  if (b === null || s === null || s < b) return null;
  return (s - b) / (365.2425 * 86400_000);
}
