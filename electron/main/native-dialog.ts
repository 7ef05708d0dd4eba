import type { BrowserWindow, Dialog, OpenDialogOptions, OpenDialogReturnValue, SaveDialogOptions } from 'electron';
import type { ValidationCasesKind } from '../../contract/ipc-contract';

export type ImportSourceKind = 'folder' | 'files';

/** Shows the open dialog modal to the parent window when there is one, else free-standing. */
function showOpenDialogOver(dialog: Pick<Dialog, 'showOpenDialog'>, window: BrowserWindow | null, options: OpenDialogOptions): Promise<OpenDialogReturnValue> {
  return window ? dialog.showOpenDialog(window, options) : dialog.showOpenDialog(options);
}

export function importDialogOptions(kind: ImportSourceKind): OpenDialogOptions {
  return kind === 'folder'
    ? { title: 'Import DICOM folders', buttonLabel: 'Import', properties: ['openDirectory', 'multiSelections'] }
    : { title: 'Import DICOM files', buttonLabel: 'Import', properties: ['openFile', 'multiSelections'] };
}

/** The native picker behind `dialog.chooseImportSources`; [] when cancelled. */
export function importSourceChooser(
  dialog: Pick<Dialog, 'showOpenDialog'>,
  parent: () => BrowserWindow | null,
): (kind: ImportSourceKind) => Promise<string[]> {
  return async (kind) => {
    const result = await showOpenDialogOver(dialog, parent(), importDialogOptions(kind));
    return result.canceled ? [] : result.filePaths;
  };
}

/** The native save dialog behind `reports.save`: the chosen path, or null when cancelled. */
export function reportSavePathChooser(
  dialog: Pick<Dialog, 'showSaveDialog'>,
  parent: () => BrowserWindow | null,
): (suggestedName: string) => Promise<string | null> {
  return async (suggestedName) => {
    const options: SaveDialogOptions = {
      title: 'Save report',
      buttonLabel: 'Save',
      defaultPath: suggestedName,
      filters: [{ name: 'HTML report', extensions: ['html'] }],
      properties: ['createDirectory', 'showOverwriteConfirmation'],
    };
    const window = parent();
    const result = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
    return result.canceled || !result.filePath ? null : result.filePath;
  };
}

const CSV_FILTERS = [
  { name: 'CSV of file,label rows', extensions: ['csv'] },
  { name: 'All files', extensions: ['*'] },
];

/**
 * The picker for models.validate's labelled cases: one folder (a sub-folder per label) or one CSV.
 * Linux and Windows cannot show files and folders in one dialog, so the page asks for a kind;
 * macOS can, so there either button accepts both.
 */
export function validationCasesDialogOptions(kind: ValidationCasesKind, platform: NodeJS.Platform = process.platform): OpenDialogOptions {
  const base = { title: 'Choose labelled cases', buttonLabel: 'Choose' };
  if (platform === 'darwin') return { ...base, properties: ['openDirectory', 'openFile'], filters: CSV_FILTERS };
  return kind === 'folder' ? { ...base, properties: ['openDirectory'] } : { ...base, properties: ['openFile'], filters: CSV_FILTERS };
}

/** The native picker behind `dialog.chooseValidationCases`: the chosen folder or CSV, or null when cancelled. */
export function validationCasesChooser(
  dialog: Pick<Dialog, 'showOpenDialog'>,
  parent: () => BrowserWindow | null,
  platform: NodeJS.Platform = process.platform,
): (kind: ValidationCasesKind) => Promise<string | null> {
  return async (kind) => {
    const result = await showOpenDialogOver(dialog, parent(), validationCasesDialogOptions(kind, platform));
    return result.canceled ? null : (result.filePaths[0] ?? null);
  };
}
