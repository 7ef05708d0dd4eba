/**
 * Every UI string, keyed by id. `en` is the source table; other locales
 * (zh-CN next) are partial tables that fall back to `en` key by key.
 * Placeholders are `{name}`; values are inserted as plain text.
 */
export const en = {
  'app.title': 'Vigil',
  'app.subtitle': 'Study library',
  'app.loading': 'Connecting to Vigil…',
  'app.startFailed': 'Vigil could not start: {message}',
  'host.bridge': 'Bridge',
  'host.electron': 'Local',

  'toolbar.searchLabel': 'Search studies',
  'toolbar.searchPlaceholder': 'Search name, patient ID, description, accession…',
  'toolbar.modalityLabel': 'Modality',
  'toolbar.modalityAll': 'All modalities',
  'toolbar.dateFrom': 'Study date from',
  'toolbar.dateTo': 'to',
  'toolbar.clearFilters': 'Clear filters',

  'import.button': 'Import',
  'import.folder': 'Import folder…',
  'import.files': 'Import files…',
  'import.menuLabel': 'Import options',
  'import.preparing': 'Preparing {count} files…',
  'import.phase.scanning': 'Scanning',
  'import.phase.importing': 'Importing',
  'import.phase.done': 'Done',
  'import.phase.cancelled': 'Cancelled',
  'import.processed': '{processed} of {scanned} files',
  'import.found': 'Found {count} files',
  'import.imported': 'Imported {count}',
  'import.duplicates': 'Duplicates {count}',
  'import.rejected': 'Rejected {count}',
  'import.rate': '{rate} files/s',
  'import.eta': 'ETA {eta}',
  'import.cancel': 'Cancel',
  'import.cancelling': 'Cancelling…',
  'import.progressLabel': 'Import progress',
  'import.summary.done': 'Import finished: {imported} imported, {duplicates} duplicates, {rejected} rejected of {offered} files in {elapsed}.',
  'import.summary.cancelled': 'Import cancelled: {imported} imported, {duplicates} duplicates, {rejected} rejected of {offered} files.',
  'import.summary.last': 'Last import ({when}): {imported} imported, {duplicates} duplicates, {rejected} rejected of {offered} files.',
  'import.summary.totals': 'Library: {patients} patients, {studies} studies, {series} series, {instances} images.',
  'import.noFiles': 'No files were found in what was dropped.',
  'import.dismiss': 'Dismiss',

  'rejected.title': 'Rejected files ({count})',
  'rejected.more': '…and {count} more',
  'rejected.show': 'Show',
  'rejected.hide': 'Hide',

  'drop.title': 'Drop DICOM files or folders to import',
  'drop.hint': 'Folders are scanned recursively; DICOMDIR files are followed.',

  'empty.title': 'Your library is empty',
  'empty.body': 'Import a folder, files or a DICOMDIR from disk or media — or drop them anywhere in this window. Everything stays on this computer.',
  'empty.noMatch': 'No studies match the current search and filters.',

  'table.caption': 'Studies',
  'table.expand': 'Show series of {name}',
  'table.collapse': 'Hide series of {name}',
  'table.patientName': 'Patient name',
  'table.patientId': 'Patient ID',
  'table.birthDate': 'Birth date',
  'table.sex': 'Sex',
  'table.studyDate': 'Study date',
  'table.accession': 'Accession',
  'table.modalities': 'Modality',
  'table.description': 'Description',
  'table.series': 'Series',
  'table.images': 'Images',
  'table.loading': 'Loading…',
  'table.noName': '(no name)',
  'table.noDescription': '—',
  'table.derivedUid': 'derived UID',
  'table.derivedUidTitle': 'This UID was missing or invalid in the files; Vigil derived a stable one.',
  'table.seriesLoading': 'Loading series…',
  'table.seriesEmpty': 'No series.',
  'table.seriesNumber': 'Series #',
  'table.seriesDescription': 'Series description',
  'table.bodyPart': 'Body part',

  'status.count': '{shown} of {total} studies',
  'status.countAll': '{total} studies',
  'status.truncated': 'Showing the first {shown}; refine the search to see more.',
  'status.images': '{count} images in view',

  'error.title': 'Error',
  'error.dismiss': 'Dismiss',
  'error.network': 'Could not reach the Vigil service: {message}',

  'table.openHint': 'Double-click or press Enter to open the study',

  'viewer.loading': 'Loading viewer…',
  'viewer.back': 'Study list',
  'viewer.backTitle': 'Back to the study list (Esc)',
  'viewer.studyNotFound': 'Study not found: {uid}',
  'viewer.series': 'Series',
  'viewer.seriesImages': '{count} img',
  'viewer.nonImage': 'Not an image',
  'viewer.nonImageNamed': '{kind}: not an image, nothing to display',
  'viewer.noSeries': 'Drop a series here',
  'viewer.loadFailed': 'Could not display this image: {message}',
  'viewer.layout': 'Layout {layout}',
  'viewer.tool.wl': 'Window/level (left drag)',
  'viewer.tool.pan': 'Pan (middle drag)',
  'viewer.tool.zoom': 'Zoom (right drag)',
  'viewer.tool.length': 'Length',
  'viewer.tool.angle': 'Angle',
  'viewer.tool.rect': 'Rectangle ROI',
  'viewer.tool.ellipse': 'Ellipse ROI',
  'viewer.invert': 'Invert (I)',
  'viewer.rotate': 'Rotate 90° (R)',
  'viewer.flipH': 'Flip horizontal (H)',
  'viewer.flipV': 'Flip vertical (V)',
  'viewer.reset': 'Reset view (Esc twice / 0)',
  'viewer.presets': 'Window presets',
  'viewer.preset.default': 'Default',
  'viewer.preset.file': 'File {n}',
  'viewer.cine': 'Cine',
  'viewer.cinePlay': 'Play cine (Space)',
  'viewer.cineStop': 'Stop cine (Space)',
  'viewer.fps': 'Frames per second',
  'viewer.measurements': 'Measurements',
  'viewer.noMeasurements': 'No measurements. Pick a tool, then drag on the image.',
  'viewer.clearMeasurements': 'Clear all',
  'viewer.rendering.gpu': 'GPU',
  'viewer.rendering.cpu': 'CPU',
  'viewer.renderingTitle': 'Rendering: {mode}',
  'viewer.imagerSpacing': 'ImagerPixelSpacing',
  'viewer.imagerSpacingNote': 'Calibrated with ImagerPixelSpacing (at the detector)',
  'viewer.noSpacing': 'px (no pixel spacing)',

  'table.ai': 'AI',
  'table.aiTitle': 'AI analysis; sorting puts studies with a positive finding first, then by date',
  'ai.status.none': '—',
  'ai.status.pending': 'pending',
  'ai.status.running': 'running',
  'ai.status.done': 'done',
  'ai.status.positive': 'positive',
  'ai.status.not-analysed': 'not analysed',
  'ai.status.failed': 'failed',
  'ai.priority': 'AI priority: a finding is positive above its threshold',
  'ai.unreviewed': 'not yet reviewed',
  'toolbar.aiFilter': 'AI positive, not yet reviewed',

  'findings.title': 'AI findings',
  'findings.none': 'No model has analysed this study yet.',
  'findings.run': 'Run model',
  'findings.runAll': 'All applicable models',
  'findings.runTitle': 'Queue a model for this study or the active series',
  'findings.scope.study': 'Whole study',
  'findings.scope.series': 'Active series',
  'findings.start': 'Run',
  'findings.model': '{name} {version}',
  'findings.provider': 'on {provider}',
  'findings.duration': '{ms} ms',
  'findings.research': 'Research use only, not for clinical decisions.',
  'findings.clinical': 'Cleared for clinical use per its model card.',
  'findings.notAnalysed': 'Not analysed: {reason}',
  'findings.failed': 'Failed: {reason}',
  'findings.positive': 'positive',
  'findings.negative': 'negative',
  'findings.score': 'score {score}',
  'findings.threshold': 'threshold {threshold}',
  'findings.accept': 'Accept',
  'findings.reject': 'Reject',
  'findings.correct': 'Correct class',
  'findings.correctTo': 'Correct to…',
  'findings.reviewed': '{decision} by {reviewer}, {time}',
  'findings.decision.accepted': 'Accepted',
  'findings.decision.rejected': 'Rejected',
  'findings.decision.corrected': 'Corrected to {label}',
  'findings.allReviewed': 'All findings reviewed',
  'findings.reviewProgress': '{reviewed} of {total} findings reviewed',
  'findings.reviewer': 'Reviewer',
  'findings.reviewerPlaceholder': 'Your name (stored with reviews)',
  'findings.needReviewer': 'Enter your name as reviewer first.',
  'findings.original': 'Model output: {label} {score}',
  'findings.volume': '{ml} mL',
  'findings.jumpTitle': 'Show this finding in the viewer',
  'queue.title': 'AI queue',
  'queue.empty': 'No jobs running or waiting.',
  'queue.cancel': 'Cancel',
  'queue.phase.decode': 'decoding',
  'queue.phase.preprocess': 'preprocessing',
  'queue.phase.inference': 'inference',
  'queue.phase.postprocess': 'post-processing',
  'overlay.toggle': 'Show AI overlays',
  'overlay.opacity': 'Overlay opacity',
  'overlay.heatmap': 'Heatmap: {label}',
  'overlay.legendLow': 'low',
  'overlay.legendHigh': 'high',
  'overlay.fill': 'Fill',
  'overlay.outline': 'Outline',
  'overlay.labelVisible': 'Show {label}',
} as const;

export type StringId = keyof typeof en;
export type StringTable = { readonly [K in StringId]: string };
export type Locale = 'en' | 'zh-CN';

/** Partial tables fall back to English per key. Filled in by translators. */
const tables: Record<Locale, Partial<StringTable>> = {
  en,
  'zh-CN': {},
};

let current: Locale = 'en';

export function setLocale(locale: Locale): void {
  current = locale;
}

export function getLocale(): Locale {
  return current;
}

export type Params = Readonly<Record<string, string | number>>;

/** Looks up a UI string and fills `{name}` placeholders. */
export function t(id: StringId, params?: Params): string {
  const template = tables[current][id] ?? en[id];
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = params[key];
    return value === undefined ? whole : String(value);
  });
}
