/**
 * Local validation: runs a model through the full product pipeline (DICOM
 * decode -> manifest preprocessing -> ONNX Runtime -> operating point) on a
 * clinic's own labelled cases and reports the same metrics, with bootstrap
 * confidence intervals, as the model's card.
 *
 * Labelled files: a folder with one sub-folder per label id of the model
 * (every file below it carries that label), or a CSV of `file,label` rows
 * as spreadsheets write them (paths relative to the CSV, Windows `\` paths
 * too; a row may name a folder; an optional header row; `#` lines are
 * comments; `,`, `;` or tab separated, see csvSeparator; UTF-8 or
 * Windows-1252). Label ids match ignoring case when that is unambiguous.
 * An entry that cannot be read (a broken link, a file the CSV names that is
 * gone) is an excluded case, not an error; what operating systems leave in
 * folders (Thumbs.db, __MACOSX, …) is not a case at all.
 *
 * A case is a series by default (CaseUnit): the labelled files of one Series
 * Instance UID are analysed together, as the viewer analyses a series, so the
 * score is the one a reader would see (the manifest's aggregation over its
 * images) and images of one exam do not count as independent cases in the
 * metrics and their confidence intervals. With caseUnit "file" every file is
 * a case of its own (labels given per image).
 */
import type { ValidateModelRequest, ValidateProgress } from '../../../contract/ipc-contract';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { FileByteSource } from '../dicom/byte-source';
import { readDicom } from '../dicom/dicom-dataset-reader';
import { extractInstanceMetadata, INDEX_SEQUENCES, INDEX_TAGS, type InstanceMetadata } from '../dicom/instance-metadata';
import { realPath } from '../library/source-scanner';
import { buildSeriesFacts, checkApplicability, type RunWarning, unrecordedWarning } from './applicability';
import { runInferenceJob } from './inference-job';
import type { ModelManifest, OutputSpec } from './model-manifest';
import type { ReadyModel } from './model-registry';
import { type CancelCheck, RunCancelledError, throwIfCancelled } from './run-cancel';
import type { ProviderPreference, SessionManager } from './session-manager';
import { validationMetrics, type ValidationMetrics } from './validation-metrics';

export interface LabelledCase {
  file: string;
  /** The label id ('' for a case excluded before it could be labelled). */
  label: string;
  /** Why the case cannot be used (e.g. a file outside the label sub-folders): reported as excluded, never run. */
  excludedReason?: string;
}

/** What one case is: every labelled file of one series (as the viewer analyses it), or each file alone. */
export type CaseUnit = NonNullable<ValidateModelRequest['caseUnit']>;

/** What a validation is doing: reading the case files' headers (series cases), or analysing the cases. */
export type ValidationPhase = NonNullable<ValidateProgress['phase']>;

/** The validation was stopped by the reader (models.cancelValidation) before it finished. */
export class ValidationCancelledError extends RunCancelledError {
  constructor() {
    super('the validation was cancelled');
    this.name = 'ValidationCancelledError';
  }
}

export class ValidationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationInputError';
  }
}

type ClassificationSpec = Extract<OutputSpec, { kind: 'classification' }>;

/** The classification output, its positive label and operating point. */
export function operatingPoint(manifest: ModelManifest, positiveLabel?: string): { output: ClassificationSpec; positive: string; threshold: number } {
  const output = manifest.outputs.find((o): o is ClassificationSpec => o.kind === 'classification');
  if (!output) throw new ValidationInputError(`model "${manifest.id}" has no classification output; local validation covers classifiers`);
  // Convention: a two-label classifier's positive class is its second label.
  const positive = positiveLabel ?? output.labels[output.labels.length - 1]!;
  const index = output.labels.indexOf(positive);
  if (index < 0) throw new ValidationInputError(`"${positive}" is not a label of model "${manifest.id}" (labels: ${output.labels.join(', ')})`);
  const threshold = Array.isArray(output.thresholds) ? output.thresholds[index]! : output.thresholds;
  return { output, positive, threshold };
}

type EntryKind = { kind: 'directory' | 'file' | 'other' } | { kind: 'unreadable'; reason: string };

/** What a folder entry is, following symbolic links; a broken link or an entry that cannot be stat'ed is unreadable (a case to report, not a crash). */
function entryKind(path: string): EntryKind {
  try {
    const st = statSync(path);
    return { kind: st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other' };
  } catch (err) {
    return { kind: 'unreadable', reason: `cannot read: ${unreadableReason(path, err as NodeJS.ErrnoException)}` };
  }
}

function unreadableReason(path: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') {
    try {
      if (lstatSync(path).isSymbolicLink()) return `broken symbolic link to ${readlinkSync(path)}`;
    } catch {
      // Gone between the two calls: the stat error says enough.
    }
  }
  return err.message;
}

/** How one label folder is walked: folders already seen (real paths), and folders it must not enter. */
interface LabelWalk {
  visited: Set<string>;
  /** The cases folder or one above it (a link up the tree), or a folder inside another label's folder. */
  outOfBounds: (real: string) => boolean;
  /** Read before each entry: a folder chosen by mistake may hold a whole archive. */
  cancel: CancelCheck | null;
}

const SYSTEM_ENTRIES = new Set(['dicomdir', 'thumbs.db', 'ehthumbs.db', 'desktop.ini', '__macosx', '$recycle.bin', 'system volume information']);

/**
 * What operating systems leave in folders: never a case, so never listed (a `.` name, DICOMDIR, Windows' thumbnail
 * caches and folder settings, a Mac zip's resource folder, a drive's recycle bin and volume information).
 */
function isSystemEntry(name: string): boolean {
  return name.startsWith('.') || SYSTEM_ENTRIES.has(name.toLowerCase());
}

/**
 * The case files below a label sub-folder; an entry that cannot be read comes back with `excludedReason`.
 * Links are followed, except up the tree or into another label's folder, so a case is never listed under a
 * label folder it does not sit in; a folder reached again is walked once. A file reached from two labels
 * (e.g. through a link to a folder outside the cases folder) is listed under both: withoutRepeatedFiles
 * then excludes it.
 */
function filesBelow(dir: string, walk: LabelWalk, top = true): { file: string; excludedReason?: string }[] {
  let names: string[];
  try {
    const real = realPath(dir);
    if (!top && (walk.visited.has(real) || walk.outOfBounds(real))) return [];
    walk.visited.add(real);
    names = readdirSync(dir).sort();
  } catch (err) {
    return [{ file: dir, excludedReason: `cannot read: ${(err as Error).message}` }];
  }
  const out: { file: string; excludedReason?: string }[] = [];
  for (const name of names) {
    throwIfCancelled(walk.cancel);
    if (isSystemEntry(name)) continue;
    const p = join(dir, name);
    const entry = entryKind(p);
    if (entry.kind === 'directory') out.push(...filesBelow(p, walk, false));
    else if (entry.kind === 'file') out.push({ file: p });
    else if (entry.kind === 'unreadable') out.push({ file: p, excludedReason: entry.reason });
  }
  return out;
}

/**
 * Splits one CSV line at `separator` outside double quotes ("" inside quotes is a quote). Spaces around
 * a cell are dropped, spaces inside quotes kept (a file name may begin or end with one).
 */
function parseCsvLine(line: string, separator: CsvSeparator): string[] {
  const cells: string[] = [];
  let cur = '';
  // Length of `cur` up to the end of its last quoted part: trailing spaces are trimmed only after it.
  let kept = 0;
  let quoted = false;
  const endCell = () => {
    cells.push(cur.slice(0, kept) + cur.slice(kept).trimEnd());
    cur = '';
    kept = 0;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
        kept = cur.length;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === separator) endCell();
    else if (cur === '' && /\s/.test(ch)) continue; // unquoted leading space
    else cur += ch;
  }
  endCell();
  return cells;
}

const HEADER_FILE_COLUMNS = new Set(['file', 'path', 'filename', 'file_name']);

type CsvSeparator = ',' | ';' | '\t';
const SEPARATORS: readonly CsvSeparator[] = [',', ';', '\t'];

/**
 * The CSV's separator (spreadsheets in locales with a decimal comma export `;`-separated CSV, "Text (Tab delimited)"
 * tabs, and a separator may occur inside a path): the one whose second cell is a label id or the header word "label",
 * when only one is, on the first of the first data lines where that decides; otherwise the one that splits the first
 * line into exactly two cells (file, label), when only one does; otherwise `,`.
 */
function csvSeparator(dataLines: readonly string[], labels: readonly string[]): CsvSeparator {
  const labelled = (cells: string[]) => cells.length >= 2 && (matchLabel(cells[1]!, labels) !== null || cells[1]!.toLowerCase() === 'label');
  for (const line of dataLines.slice(0, 10)) {
    const named = SEPARATORS.filter((separator) => labelled(parseCsvLine(line, separator)));
    if (named.length === 1) return named[0]!;
  }
  const pairs = SEPARATORS.filter((separator) => parseCsvLine(dataLines[0] ?? '', separator).length === 2);
  return pairs.length === 1 ? pairs[0]! : ',';
}

/**
 * A CSV's lines (line ends of Windows, Unix and old Mac spreadsheets alike), each UTF-8 (the byte-order mark dropped)
 * or, where it is not valid UTF-8, Windows-1252: the code page Excel's plain "CSV (Comma delimited)" is written in on
 * a Western Windows (a name with an umlaut would otherwise not be found). Line by line, so that a row appended from
 * another source does not turn the file's other rows into mojibake.
 */
function csvLines(bytes: Buffer): string[] {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const cp1252 = new TextDecoder('windows-1252');
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const b = bytes[i];
    if (i < bytes.length && b !== 0x0a && b !== 0x0d) continue;
    const line = bytes.subarray(start, i);
    try {
      lines.push(utf8.decode(line));
    } catch {
      lines.push(cp1252.decode(line));
    }
    // \r\n is one line end.
    if (b === 0x0d && bytes[i + 1] === 0x0a) i++;
    start = i + 1;
  }
  if (lines[0]?.startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  return lines;
}

/**
 * A CSV row's file: relative to the CSV's folder. A Windows path (`sub\a.dcm`) is read with `/` where `\` is no
 * separator and the path as written does not exist.
 */
function csvRowPath(cell: string, base: string): string {
  const path = isAbsolute(cell) ? cell : resolve(base, cell);
  if (sep === '\\' || !cell.includes('\\') || existsSync(path)) return path;
  const slashed = cell.replaceAll('\\', '/');
  return isAbsolute(slashed) ? slashed : resolve(base, slashed);
}

/** The model's label id `name` stands for: exact, else the one label equal to it ignoring case; null when none or ambiguous. */
function matchLabel(name: string, labels: readonly string[]): string | null {
  if (labels.includes(name)) return name;
  const folded = labels.filter((l) => l.toLowerCase() === name.toLowerCase());
  return folded.length === 1 ? folded[0]! : null;
}

/** Whether a file parses as DICOM (Part 10, or a bare dataset). */
function isDicomFile(path: string): boolean {
  let source: FileByteSource | null = null;
  try {
    source = new FileByteSource(path, statSync(path).size);
    readDicom(source, { keepTags: new Set() });
    return true;
  } catch {
    return false;
  } finally {
    source?.close();
  }
}

/**
 * A path as typed or pasted: surrounding spaces and one pair of surrounding quotes dropped (Windows Explorer's "Copy as
 * path" quotes it, and a path may have been copied from a shell command line).
 */
export function pastedPath(typed: string): string {
  const trimmed = typed.trim();
  const quoted = /^(["'])(.*)\1$/.exec(trimmed);
  return quoted ? quoted[2]! : trimmed;
}

/**
 * Reads the labelled cases from a folder (one sub-folder per label id) or a CSV (file,label).
 * A DICOM file directly in the folder has no label: it comes back with `excludedReason` set. `cancel` is read before
 * each entry listed and each CSV row (RunCancelledError).
 */
export function collectCases(casesPath: string, labels: readonly string[], cancel: CancelCheck | null = null): LabelledCase[] {
  const path = resolve(pastedPath(casesPath));
  if (!existsSync(path)) throw new ValidationInputError(`${casesPath} does not exist`);
  const cases: LabelledCase[] = [];
  if (statSync(path).isDirectory()) {
    const entries = readdirSync(path)
      .sort()
      .filter((n) => !isSystemEntry(n))
      .map((name) => ({ name, ...entryKind(join(path, name)) }));
    const subdirs = entries.filter((e) => e.kind === 'directory').map((e) => e.name);
    const unknown = subdirs.filter((n) => matchLabel(n, labels) === null);
    if (unknown.length > 0) throw new ValidationInputError(`sub-folder(s) ${unknown.map((n) => `"${n}"`).join(', ')} of ${casesPath} are not label ids of the model (labels: ${labels.join(', ')})`);
    const root = realPathOrSelf(path);
    for (const label of labels) {
      const others = subdirs.filter((n) => matchLabel(n, labels) !== label).map((n) => realPathOrSelf(join(path, n)));
      const outOfBounds = (real: string) => within(root, real) || others.some((o) => within(real, o));
      for (const dir of subdirs.filter((n) => matchLabel(n, labels) === label)) {
        for (const found of filesBelow(join(path, dir), { visited: new Set(), outOfBounds, cancel })) cases.push({ ...found, label });
      }
    }
    const excludedReason = `not in a label sub-folder: a case must be in a sub-folder named by a label id of the model (${labels.join(', ')})`;
    for (const entry of entries) {
      const file = join(path, entry.name);
      // An entry that cannot be read may be a case (e.g. a link to a moved folder): reported, not skipped.
      if (entry.kind === 'unreadable') cases.push({ file, label: '', excludedReason: entry.reason });
      else if (entry.kind === 'file' && isDicomFile(file)) cases.push({ file, label: '', excludedReason });
    }
  } else {
    const base = dirname(path);
    const lines = csvLines(readFileSync(path));
    const isText = (line: string) => line.trim() !== '' && !line.trim().startsWith('#');
    const separator = csvSeparator(lines.filter(isText), labels);
    const shownSeparator = separator === '\t' ? '<tab>' : separator;
    // A row a spreadsheet left with empty cells only (",,") is no row.
    const isRow = (line: string) => isText(line) && parseCsvLine(line, separator).some((c) => c !== '');
    const firstIndex = lines.findIndex(isRow);
    lines.forEach((line, i) => {
      throwIfCancelled(cancel);
      if (!isRow(line)) return;
      const [file, labelCell] = parseCsvLine(line, separator);
      const casePath = file ? csvRowPath(file, base) : '';
      // A header row: a known column name and "label"; or, with rows after it, a first row of words (no '.', '/' or
      // '\', as a file cell has) whose label cell is no label id and whose file cell names nothing on disk
      // ("Datei;Befund", "File Name,Label"). A mistyped first row ("gone.dcm,pneumonai") stays a row, and an error.
      if (i === firstIndex && file && labelCell && matchLabel(labelCell, labels) === null) {
        if (HEADER_FILE_COLUMNS.has(file.toLowerCase()) && labelCell.toLowerCase() === 'label') return;
        const words = (cell: string) => !/[./\\]/.test(cell);
        if (words(file) && words(labelCell) && lines.slice(i + 1).some(isRow) && !existsSync(casePath)) return;
      }
      if (!file || !labelCell) throw new ValidationInputError(`${basename(path)} line ${i + 1}: expected "file${shownSeparator}label"`);
      const label = matchLabel(labelCell, labels);
      if (label === null) throw new ValidationInputError(`${basename(path)} line ${i + 1}: "${labelCell}" is not a label id of the model (labels: ${labels.join(', ')})`);
      // A row naming a folder (a series exported to a folder of its own): every file below it, with the row's label.
      // Links below it are followed, but not up the tree (to the row's folder, one above it, or the CSV's folder): a
      // file no row names must not become a case.
      if (entryKind(casePath).kind === 'directory') {
        const rowRoot = realPathOrSelf(casePath);
        const csvFolder = realPathOrSelf(base);
        const outOfBounds = (real: string) => within(rowRoot, real) || within(csvFolder, real);
        for (const found of filesBelow(casePath, { visited: new Set(), outOfBounds, cancel })) cases.push({ ...found, label });
      } else cases.push({ file: casePath, label });
    });
  }
  if (cases.length === 0) throw new ValidationInputError(`no cases found in ${casesPath}`);
  return withoutRepeatedFiles(cases);
}

/** Whether real path `real` is `folder` or inside it. */
function within(real: string, folder: string): boolean {
  return real === folder || real.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** The real path (as the import's scanner resolves it), or the path itself when it cannot be resolved (a broken link). */
function realPathOrSelf(p: string): string {
  try {
    return realPath(p);
  } catch {
    return p;
  }
}

/**
 * One case per file (by real path, so links and `..` do not count it twice): a file listed again under the
 * same label is dropped; a file listed under two labels is excluded everywhere, since its truth is unknown.
 */
function withoutRepeatedFiles(cases: LabelledCase[]): LabelledCase[] {
  const labelsOf = new Map<string, Set<string>>();
  const keyOf = cases.map((c) => (c.excludedReason ? null : realPathOrSelf(c.file)));
  cases.forEach((c, i) => {
    const key = keyOf[i];
    if (key !== null && key !== undefined) labelsOf.set(key, (labelsOf.get(key) ?? new Set()).add(c.label));
  });
  const seen = new Set<string>();
  const out: LabelledCase[] = [];
  cases.forEach((c, i) => {
    const key = keyOf[i];
    if (key === null || key === undefined) return void out.push(c);
    const labels = labelsOf.get(key)!;
    // Once per file and label: the exclusion is listed under each label it was found with.
    const seenKey = labels.size > 1 ? `${key}\0${c.label}` : key;
    if (seen.has(seenKey)) return;
    seen.add(seenKey);
    if (labels.size > 1) out.push({ ...c, excludedReason: `the same file is listed under ${[...labels].map((l) => `"${l}"`).join(' and ')}: its label is unknown` });
    else out.push(c);
  });
  return out;
}

/** Why a case file could not be read, in words a clinic can act on (a CSV row naming a moved file, a locked file). */
function caseReadReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'the file does not exist (moved or renamed since it was labelled, or a typo in the CSV)';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied: Vigil may not read the file';
  if (e.code === 'EISDIR') return 'a folder, not a file';
  return e.message;
}

/** A case file's indexed attributes, read as an import reads them. */
function caseMetadata(file: string): InstanceMetadata {
  const source = new FileByteSource(file, statSync(file).size);
  try {
    const info = readDicom(source, { keepTags: INDEX_TAGS, expandSequences: INDEX_SEQUENCES });
    // The hash stands in for a missing SOP Instance UID only, which applicability never reads (and seriesCases does not
    // take a derived one for the image's identity): not worth reading the file again.
    return extractInstanceMetadata(info, () => '');
  } finally {
    source.close();
  }
}

const NO_IMAGES = 'the file has no images';

/** The files of one case, and (series cases) their indexed attributes, already read to group them. */
interface CaseFiles {
  files: string[];
  label: string;
  excludedReason?: string;
  metas: InstanceMetadata[] | null;
}

/** The series a case file belongs to; a file whose study or series UID Vigil would have to derive is a series of its own. */
function seriesKey(meta: InstanceMetadata, file: string): string {
  // A derived series UID stands for patient, study and series attributes that anonymised files often leave blank:
  // grouping by it could merge many patients into one case.
  return meta.derived.study || meta.derived.series ? `\0file\0${file}` : `${meta.studyInstanceUid}\0${meta.seriesInstanceUid}`;
}

/**
 * The labelled files as series cases: the files of one Series Instance UID under one label, in the order they were
 * read. What cannot be a case is pushed to `excluded` at once: a file that cannot be read as DICOM or has no images,
 * a second file of an image already in its series (same SOP Instance UID: the library would keep it once), and every
 * file of a series listed under two labels, also when only one of its files is (its truth is unknown). A file with no
 * Study or Series Instance UID is its own case.
 */
function seriesCases(cases: readonly LabelledCase[], excluded: CaseResult[], onRead: (files: number) => void = () => undefined): CaseFiles[] {
  const out: CaseFiles[] = [];
  const bySeries = new Map<string, CaseFiles>();
  const labelsOf = new Map<string, Set<string>>();
  const images = new Map<string, string>();
  const addLabel = (series: string, label: string) => labelsOf.set(series, (labelsOf.get(series) ?? new Set()).add(label));
  for (const [i, c] of cases.entries()) {
    onRead(i);
    if (c.excludedReason) {
      out.push({ files: [c.file], label: c.label, excludedReason: c.excludedReason, metas: null });
      // A file excluded under a label (e.g. listed under two) still says what its series is labelled.
      if (c.label) {
        try {
          const meta = caseMetadata(c.file);
          if (meta.hasPixelData) addLabel(seriesKey(meta, c.file), c.label);
        } catch {
          // Unreadable: its exclusion already says so.
        }
      }
      continue;
    }
    let meta: InstanceMetadata;
    try {
      meta = caseMetadata(c.file);
    } catch (err) {
      excluded.push({ file: c.file, label: c.label, status: 'not-analysed', reason: caseReadReason(err) });
      continue;
    }
    if (!meta.hasPixelData) {
      excluded.push({ file: c.file, label: c.label, status: 'not-applicable', reason: NO_IMAGES });
      continue;
    }
    const series = seriesKey(meta, c.file);
    // A derived SOP Instance UID is not the file's own (caseMetadata derives it from no content): not a repeat.
    const image = meta.derived.instance ? null : `${series}\0${meta.sopInstanceUid}\0${c.label}`;
    const first = image === null ? undefined : images.get(image);
    if (first !== undefined) {
      excluded.push({ file: c.file, label: c.label, status: 'not-analysed', reason: `the same image (SOP Instance UID ${meta.sopInstanceUid}) as ${first}: counted once` });
      continue;
    }
    if (image !== null) images.set(image, c.file);
    addLabel(series, c.label);
    const key = `${series}\0${c.label}`;
    const group = bySeries.get(key);
    if (group) {
      group.files.push(c.file);
      group.metas!.push(meta);
    } else {
      const created: CaseFiles = { files: [c.file], label: c.label, metas: [meta] };
      bySeries.set(key, created);
      out.push(created);
    }
  }
  for (const [key, group] of bySeries) {
    const labels = labelsOf.get(key.slice(0, key.lastIndexOf('\0')))!;
    if (labels.size > 1) group.excludedReason = `its series is listed under ${[...labels].map((l) => `"${l}"`).join(' and ')}: its label is unknown`;
  }
  return out;
}

export interface CaseResult {
  /** The case's file (the first one read, when the case is a series of several). */
  file: string;
  /** Files the case holds when more than one (a series); absent: one. */
  files?: number;
  label: string;
  status: 'done' | 'not-applicable' | 'not-analysed' | 'failed';
  reason?: string;
  /** Score of the positive label. */
  score?: number;
  predictedPositive?: boolean;
  /** What the run noticed about the case's input (e.g. analysed whole, without its ultrasound B-mode region); absent: none. */
  warnings?: RunWarning[];
}

export interface ValidationReport extends ValidationMetrics {
  modelId: string;
  modelVersion: string;
  modelSha256: string;
  positiveLabel: string;
  negativeLabels: string[];
  provider: string | null;
  excluded: { file: string; files?: number; label: string; status: string; reason: string }[];
  cases: CaseResult[];
  caseUnit: CaseUnit;
  /** Cases among n analysed whole: no B-mode region although the model crops to it (counted here, where each case's full warnings are known). */
  analysedWhole: number;
  /** Cases among n analysed although their files do not record an attribute the applicability rules read: their label vouches for them. */
  vouchedUnrecorded: number;
  ortVersion: string | null;
  seconds: number;
}

/** One analysed case as models.validate lists it: compact (warning codes only), since thousands cross the worker and IPC boundaries. */
export interface AnalysedCase {
  file: string;
  /** Files of the case when more than one (a series); absent: one. */
  files?: number;
  label: string;
  /** Score of the positive label. */
  score: number;
  predictedPositive: boolean;
  /** The call at the threshold matches the truth label. */
  correct: boolean;
  /** Codes of the case's run warnings; absent: none. */
  warnings?: RunWarning['code'][];
}

/** The analysed (status done) cases of a validation, compact, in the order they were read. */
export function analysedCases(cases: readonly CaseResult[], positiveLabel: string): AnalysedCase[] {
  const out: AnalysedCase[] = [];
  for (const c of cases) {
    if (c.status !== 'done' || c.score === undefined || c.predictedPositive === undefined) continue;
    const codes = c.warnings?.map((w) => w.code) ?? [];
    out.push({
      file: c.file,
      ...(c.files !== undefined ? { files: c.files } : {}),
      label: c.label,
      score: c.score,
      predictedPositive: c.predictedPositive,
      correct: c.predictedPositive === (c.label === positiveLabel),
      ...(codes.length > 0 ? { warnings: [...new Set(codes)] } : {}),
    });
  }
  return out;
}

/**
 * Analysed cases whose run carries a warning of this code: NO_ULTRASOUND_REGION (their images reached the model
 * uncropped), APPLICABILITY_NOT_RECORDED (their label vouched for what their files do not record).
 */
function casesWithWarning(cases: readonly CaseResult[], code: RunWarning['code']): number {
  return cases.filter((c) => c.status === 'done' && c.warnings?.some((w) => w.code === code)).length;
}

export interface ValidateOptions {
  model: ReadyModel;
  cases: LabelledCase[];
  sessions: SessionManager;
  provider?: ProviderPreference;
  positiveLabel?: string;
  /** Run cases whose DICOM attributes fall outside the manifest's applicability (default: exclude them). */
  ignoreApplicability?: boolean;
  /** What one case is (default "series"). */
  caseUnit?: CaseUnit;
  resamples?: number;
  seed?: number;
  /** "reading": the case files' headers, read to group them into series (done / total files); "analysing": the cases. */
  onProgress?: (done: number, total: number, phase: ValidationPhase) => void;
  /**
   * Aborted: the run stops with ValidationCancelledError at its next step (a header read, a file decoded, a model run,
   * a bootstrap resample), never inside an ONNX Runtime run.
   */
  signal?: CancelCheck;
}

/**
 * Why a validation has no case to score: every reason with its count, the most common first (the first case's reason
 * alone may be a stray file's), and what would let the cases run where the reasons say.
 */
function nothingAnalysed(results: readonly CaseResult[], cases: number, early: number): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.reason ?? 'unknown', (counts.get(r.reason ?? 'unknown') ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]);
  const shown = ranked.slice(0, 3).map(([reason, n]) => `${n} × ${reason}`);
  if (ranked.length > 3) shown.push(`${ranked.length - 3} other reason(s)`);
  const hints: string[] = [];
  if (results.some((r) => r.status === 'not-applicable')) hints.push("cases outside the model's applicability run anyway with `vigil validate --ignore-applicability`");
  if (results.some((r) => r.reason?.startsWith('its series is listed under'))) hints.push('a series labelled image by image validates with "Each file is one case" (--case-unit file)');
  const counted =
    cases === 0 ? `none of the ${early} file(s) could be analysed` : `none of the ${cases} case(s) could be analysed${early > 0 ? ` (and ${early} file(s) were excluded on their own)` : ''}`;
  return [`${counted}: ${shown.join('; ')}`, ...hints.map((h) => h[0]!.toUpperCase() + h.slice(1))].join('. ');
}

export async function validateModel(o: ValidateOptions): Promise<ValidationReport> {
  try {
    return await validateCases(o);
  } catch (err) {
    throw err instanceof RunCancelledError && !(err instanceof ValidationCancelledError) ? new ValidationCancelledError() : err;
  }
}

async function validateCases(o: ValidateOptions): Promise<ValidationReport> {
  const started = performance.now();
  const manifest = o.model.manifest;
  const { output, positive, threshold } = operatingPoint(manifest, o.positiveLabel);
  // Only the classification output is needed; heatmaps etc. are not computed or written.
  const jobManifest: ModelManifest = { ...manifest, outputs: [output] };
  // Only the classification output runs, which writes no arrays: the folder is made only if a run writes one (so a
  // cancelled validation, whose worker is terminated, leaves nothing behind).
  const scratch = join(tmpdir(), `vigil-validate-${process.pid}-${randomUUID()}`);
  const results: CaseResult[] = [];
  let provider: string | null = null;
  let ortVersion: string | null = null;
  const caseUnit = o.caseUnit ?? 'series';
  const units = caseUnit === 'series' ? seriesCases(o.cases, results, (read) => {
    throwIfCancelled(o.signal);
    o.onProgress?.(read, o.cases.length, 'reading');
  }) : o.cases.map((c): CaseFiles => ({ files: [c.file], label: c.label, ...(c.excludedReason ? { excludedReason: c.excludedReason } : {}), metas: null }));
  // Files already excluded while grouping count as done cases, so the total is every case and file excluded alone.
  const early = results.length;
  const total = early + units.length;
  try {
    for (const [i, c] of units.entries()) {
      throwIfCancelled(o.signal);
      o.onProgress?.(early + i, total, 'analysing');
      const file = c.files[0]!;
      const files = c.files.length > 1 ? { files: c.files.length } : {};
      if (c.excludedReason) {
        results.push({ file, ...files, label: c.label, status: 'not-analysed', reason: c.excludedReason });
        continue;
      }
      // A case whose files only lack an attribute the rules read (e.g. no Body Part Examined) is analysed: its label
      // (folder or CSV row for this model) vouches that it is what the model needs. A contradiction still excludes it.
      let vouched: RunWarning | null = null;
      if (!o.ignoreApplicability) {
        let reason: string | null = null;
        try {
          // The attributes an import indexes, through the facts builder clinical analysis uses: a case is judged as its series would be.
          const metas = c.metas ?? [caseMetadata(file)];
          const ok = metas.every((m) => m.hasPixelData) ? checkApplicability(manifest, buildSeriesFacts(metas[0]!, metas)) : { ok: false as const, reason: NO_IMAGES };
          if (!ok.ok && ok.unrecorded) vouched = unrecordedWarning(ok.unrecorded, 'case-label');
          else if (!ok.ok) reason = ok.reason;
        } catch (err) {
          results.push({ file, ...files, label: c.label, status: 'not-analysed', reason: caseReadReason(err) });
          continue;
        }
        if (reason) {
          results.push({ file, ...files, label: c.label, status: 'not-applicable', reason });
          continue;
        }
      }
      const r = await runInferenceJob(
        { jobId: `validate-${i}`, model: { id: manifest.id, modelPath: o.model.modelPath, manifest: jobManifest }, files: c.files, provider: o.provider ?? 'auto', outputDir: scratch },
        o.sessions,
        undefined,
        null,
        o.signal ?? null,
      );
      ortVersion = r.ortVersion;
      provider = r.provider ?? provider;
      const finding = r.findings.find((f) => f.label === positive);
      if (r.status !== 'done' || !finding) {
        results.push({ file, ...files, label: c.label, status: r.status === 'done' ? 'failed' : r.status, reason: r.reason ?? `no score for "${positive}"` });
        continue;
      }
      const warnings = [...(vouched ? [vouched] : []), ...(r.warnings ?? [])];
      results.push({ file, ...files, label: c.label, status: 'done', score: finding.score, predictedPositive: finding.score >= threshold, ...(warnings.length > 0 ? { warnings } : {}) });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const done = results.filter((r) => r.status === 'done');
  if (done.length === 0) throw new ValidationInputError(nothingAnalysed(results, units.length, early));
  const y = done.map((r) => (r.label === positive ? 1 : 0));
  const s = done.map((r) => r.score!);
  // The bootstrap takes seconds for tens of thousands of cases: the run is complete only once it is done.
  const m = validationMetrics(y, s, threshold, { ...(o.resamples !== undefined ? { resamples: o.resamples } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.signal ? { cancel: o.signal } : {}) });
  o.onProgress?.(total, total, 'analysing');
  return {
    modelId: manifest.id,
    modelVersion: manifest.version,
    modelSha256: manifest.sha256,
    positiveLabel: positive,
    negativeLabels: output.labels.filter((l) => l !== positive),
    provider,
    ortVersion,
    ...m,
    excluded: results.filter((r) => r.status !== 'done').map((r) => ({ file: r.file, ...(r.files !== undefined ? { files: r.files } : {}), label: r.label, status: r.status, reason: r.reason ?? '' })),
    cases: results,
    caseUnit,
    analysedWhole: casesWithWarning(results, 'NO_ULTRASOUND_REGION'),
    vouchedUnrecorded: casesWithWarning(results, 'APPLICABILITY_NOT_RECORDED'),
    seconds: (performance.now() - started) / 1000,
  };
}
