import type { BrowserWindow, Dialog, OpenDialogOptions, SaveDialogOptions } from 'electron';

export type ImportSourceKind = 'folder' | 'files';

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
    const options = importDialogOptions(kind);
    const window = parent();
    const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
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
