/**
 * Turns a parsed DICOM file into the flat record the study index stores:
 * patient / study / series / instance attributes, decoded and normalised,
 * with deterministic derived UIDs where the file lacks them.
 */
import { derivedUid } from './derived-uid';
import { DICOMDIR_EXPAND } from './dicomdir-reader';
import { type DicomFileInfo, DicomParseError, Tag } from './dicom-dataset-reader';
import { parsePersonName } from './person-name';

export const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';

export interface InstanceMetadata {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Which UIDs were missing from the file and derived by Vigil. */
  derived: { study: boolean; series: boolean; instance: boolean };
  transferSyntaxUid: string;
  specificCharacterSet: string;

  patientName: string; // display: "Family, Given"
  patientNameRaw: string; // as decoded, with ^ and = separators
  patientNameSearch: string;
  patientId: string;
  issuerOfPatientId: string;
  birthDate: string;
  sex: string;
  /** Patient's Age (AS, e.g. "054Y"), as recorded; '' when absent. */
  patientAge: string;

  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  studyDescription: string;
  studyId: string;
  referringPhysician: string;

  modality: string;
  seriesNumber: number | null;
  seriesDescription: string;
  seriesDate: string;
  seriesTime: string;
  bodyPartExamined: string;
  /** First item of the Anatomic Region Sequence as "scheme^code^meaning" (e.g. "SCT^76752008^Breast"); '' when absent. */
  anatomicRegion: string;

  instanceNumber: number | null;
  imageType: string;
  rows: number | null;
  columns: number | null;
  numberOfFrames: number | null;
  photometricInterpretation: string;
  samplesPerPixel: number | null;
  bitsAllocated: number | null;
  pixelSpacing: string;
  imagePositionPatient: string;
  imageOrientationPatient: string;
  sliceLocation: number | null;
  sliceThickness: number | null;
  viewPosition: string;
  hasPixelData: boolean;
}

/** Keeps text that reaches the database and the UI free of control characters. */
function clean(s: string, max = 1024): string {
  // Most values are plain text already: no control character, nothing to trim at either end.
  // Only those that could change take the regular expressions.
  const n = s.length;
  let plain = n === 0 || (isPrintableAscii(s.charCodeAt(0)) && isPrintableAscii(s.charCodeAt(n - 1)));
  for (let i = 1; plain && i < n - 1; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) plain = false;
  }
  // eslint-disable-next-line no-control-regex
  const t = plain ? s : s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** Neither whitespace nor a control character: a value starting or ending with it needs no trim. */
const isPrintableAscii = (c: number) => c > 0x20 && c < 0x7f;

/** DA values: keep YYYYMMDD; accept the old YYYY.MM.DD form. */
function normaliseDate(s: string): string {
  if (s.length === 8 && isDigits(s)) return s;
  const t = s.trim().replace(/\./g, '');
  return /^\d{8}$/.test(t) ? t : clean(t, 32);
}

/** What a UID is made of (PS3.5 9.1): digits and dots, at most 64 of them. */
function isValidUid(u: string): boolean {
  if (u.length === 0 || u.length > 64) return false;
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    if ((c < 0x30 || c > 0x39) && c !== 0x2e) return false;
  }
  return true;
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Every dataset attribute extractInstanceMetadata and isDicomdir read: an import records only
 * these (ReadOptions.keepTags), not the hundreds of others a file holds. A tag read below must
 * be listed here (test/unit/instance-metadata.test.ts checks both give the same record).
 */
export const INDEX_TAGS: ReadonlySet<number> = new Set<number>([
  Tag.SpecificCharacterSet, Tag.ImageType, Tag.SopClassUid, Tag.SopInstanceUid, Tag.StudyDate, Tag.SeriesDate, Tag.ContentDate,
  Tag.StudyTime, Tag.SeriesTime, Tag.AccessionNumber, Tag.Modality, Tag.ReferringPhysicianName, Tag.StudyDescription,
  Tag.SeriesDescription, Tag.PatientName, Tag.PatientId, Tag.IssuerOfPatientId, Tag.PatientBirthDate, Tag.PatientSex,
  Tag.BodyPartExamined, Tag.SliceThickness, Tag.ViewPosition, Tag.StudyInstanceUid, Tag.SeriesInstanceUid, Tag.StudyId,
  Tag.SeriesNumber, Tag.InstanceNumber, Tag.ImagePositionPatient, Tag.ImageOrientationPatient, Tag.SliceLocation,
  Tag.SamplesPerPixel, Tag.PhotometricInterpretation, Tag.NumberOfFrames, Tag.Rows, Tag.Columns, Tag.PixelSpacing,
  Tag.BitsAllocated, Tag.DirectoryRecordSequence, Tag.PatientAge, Tag.AnatomicRegionSequence,
]);

/** Sequences an import parses the items of: DICOMDIR records, and the anatomic region code of an image. */
export const INDEX_SEQUENCES: ReadonlySet<number> = new Set<number>([...DICOMDIR_EXPAND, Tag.AnatomicRegionSequence]);

/** The first coded anatomic region as "scheme^code^meaning", or '' (the applicability rules map it to a body part). */
function anatomicRegion(ds: DicomFileInfo['dataset']): string {
  const item = ds.elements.get(Tag.AnatomicRegionSequence)?.items?.[0];
  if (!item) return '';
  const code = clean(item.string(Tag.CodeValue), 64);
  const scheme = clean(item.string(Tag.CodingSchemeDesignator), 16);
  return code && scheme ? `${scheme}^${code}^${clean(item.string(Tag.CodeMeaning), 64).replace(/\^/g, ' ')}` : '';
}

export function isDicomdir(info: DicomFileInfo): boolean {
  return info.meta?.uid(Tag.MediaStorageSopClassUid) === DICOMDIR_SOP_CLASS || info.dataset.has(Tag.DirectoryRecordSequence);
}

/** `contentSha256` is called only when the file has no usable SOP Instance UID. */
export function extractInstanceMetadata(info: DicomFileInfo, contentSha256: string | (() => string)): InstanceMetadata {
  const ds = info.dataset;
  const sopClassUid = ds.uid(Tag.SopClassUid) || info.meta?.uid(Tag.MediaStorageSopClassUid) || '';
  let sopInstanceUid = ds.uid(Tag.SopInstanceUid) || info.meta?.uid(Tag.MediaStorageSopInstanceUid) || '';
  let studyInstanceUid = ds.uid(Tag.StudyInstanceUid);
  let seriesInstanceUid = ds.uid(Tag.SeriesInstanceUid);

  // Trailing component/group delimiters are insignificant (PS3.5 6.2.1): "Doe^Jane^^=" is "Doe^Jane".
  const rawName = clean(ds.string(Tag.PatientName), 512).replace(/[\^=\s]+$/, '');
  const name = parsePersonName(rawName);
  const patientId = clean(ds.string(Tag.PatientId), 128);
  const modality = clean(ds.string(Tag.Modality), 16).toUpperCase();

  if (!sopClassUid && !sopInstanceUid && !studyInstanceUid && !seriesInstanceUid && !modality && !patientId && !rawName) {
    throw new DicomParseError(
      'MALFORMED',
      'a DICOM dataset without SOP Class/Instance UID, Study/Series UID, modality or patient: not a storable instance',
    );
  }

  const m: InstanceMetadata = {
    sopClassUid: clean(sopClassUid, 64),
    sopInstanceUid: '',
    studyInstanceUid: '',
    seriesInstanceUid: '',
    derived: { study: false, series: false, instance: false },
    transferSyntaxUid: info.transferSyntaxUid,
    specificCharacterSet: ds.string(Tag.SpecificCharacterSet),
    patientName: name.display,
    patientNameRaw: rawName,
    patientNameSearch: name.searchText,
    patientId,
    issuerOfPatientId: clean(ds.string(Tag.IssuerOfPatientId), 128),
    birthDate: normaliseDate(ds.string(Tag.PatientBirthDate)),
    sex: clean(ds.string(Tag.PatientSex), 16).toUpperCase(),
    patientAge: clean(ds.string(Tag.PatientAge), 16).toUpperCase(),
    studyDate: normaliseDate(ds.string(Tag.StudyDate) || ds.string(Tag.SeriesDate) || ds.string(Tag.ContentDate)),
    studyTime: clean(ds.string(Tag.StudyTime), 32),
    accessionNumber: clean(ds.string(Tag.AccessionNumber), 64),
    studyDescription: clean(ds.string(Tag.StudyDescription)),
    studyId: clean(ds.string(Tag.StudyId), 64),
    referringPhysician: parsePersonName(clean(ds.string(Tag.ReferringPhysicianName), 512)).display,
    modality,
    seriesNumber: ds.number(Tag.SeriesNumber),
    seriesDescription: clean(ds.string(Tag.SeriesDescription)),
    seriesDate: normaliseDate(ds.string(Tag.SeriesDate)),
    seriesTime: clean(ds.string(Tag.SeriesTime), 32),
    bodyPartExamined: clean(ds.string(Tag.BodyPartExamined), 64),
    anatomicRegion: anatomicRegion(ds),
    instanceNumber: ds.number(Tag.InstanceNumber),
    imageType: clean(ds.string(Tag.ImageType), 256),
    rows: ds.number(Tag.Rows),
    columns: ds.number(Tag.Columns),
    numberOfFrames: ds.number(Tag.NumberOfFrames),
    photometricInterpretation: clean(ds.string(Tag.PhotometricInterpretation), 32),
    samplesPerPixel: ds.number(Tag.SamplesPerPixel),
    bitsAllocated: ds.number(Tag.BitsAllocated),
    pixelSpacing: clean(ds.string(Tag.PixelSpacing), 128),
    imagePositionPatient: clean(ds.string(Tag.ImagePositionPatient), 256),
    imageOrientationPatient: clean(ds.string(Tag.ImageOrientationPatient), 256),
    sliceLocation: ds.number(Tag.SliceLocation),
    sliceThickness: ds.number(Tag.SliceThickness),
    viewPosition: clean(ds.string(Tag.ViewPosition), 32),
    hasPixelData: info.pixelData !== null,
  };

  if (!isValidUid(studyInstanceUid)) {
    studyInstanceUid = derivedUid('study', [
      m.issuerOfPatientId, m.patientId, m.patientNameRaw, m.birthDate, m.studyDate, m.studyTime, m.accessionNumber, m.studyId, m.studyDescription,
    ]);
    m.derived.study = true;
  }
  if (!isValidUid(seriesInstanceUid)) {
    seriesInstanceUid = derivedUid('series', [
      studyInstanceUid, m.modality, String(m.seriesNumber ?? ''), m.seriesDate, m.seriesTime, m.seriesDescription,
    ]);
    m.derived.series = true;
  }
  if (!isValidUid(sopInstanceUid)) {
    // Content-derived: the same bytes always get the same UID, so re-imports stay duplicates.
    sopInstanceUid = derivedUid('instance', [typeof contentSha256 === 'string' ? contentSha256 : contentSha256()]);
    m.derived.instance = true;
  }
  m.studyInstanceUid = studyInstanceUid;
  m.seriesInstanceUid = seriesInstanceUid;
  m.sopInstanceUid = sopInstanceUid;
  return m;
}
