/**
 * The native dialogs behind the Models page: the labelled-cases picker of
 * dialog.chooseValidationCases (its own title and button, a folder or a CSV)
 * and the report save dialog of reports.save. The dialog is a fake with
 * Electron's showOpenDialog / showSaveDialog signatures.
 */
import type { BrowserWindow, Dialog, OpenDialogOptions, SaveDialogOptions } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { importDialogOptions, reportSavePathChooser, validationCasesChooser, validationCasesDialogOptions } from '../../electron/main/native-dialog';

const window = { id: 1 } as unknown as BrowserWindow;

function fakeDialog() {
  const showOpenDialog = vi.fn(async (..._args: [BrowserWindow, OpenDialogOptions] | [OpenDialogOptions]) => ({ canceled: false, filePaths: [] as string[] }));
  const showSaveDialog = vi.fn(async (..._args: [BrowserWindow, SaveDialogOptions] | [SaveDialogOptions]) => ({ canceled: false, filePath: '' }));
  return { showOpenDialog, showSaveDialog, dialog: { showOpenDialog, showSaveDialog } as unknown as Pick<Dialog, 'showOpenDialog' | 'showSaveDialog'> };
}

describe('validation cases picker', () => {
  it('has its own title and button, not the DICOM import dialog', () => {
    for (const kind of ['folder', 'csv'] as const) {
      const options = validationCasesDialogOptions(kind, 'linux');
      expect(options.title).toBe('Choose labelled cases');
      expect(options.buttonLabel).toBe('Choose');
      expect(options.title).not.toBe(importDialogOptions('folder').title);
      // One case set per run.
      expect(options.properties).not.toContain('multiSelections');
    }
  });

  it('on Linux and Windows asks for a folder or a CSV (one dialog cannot offer both there)', () => {
    for (const platform of ['linux', 'win32'] as const) {
      expect(validationCasesDialogOptions('folder', platform).properties).toEqual(['openDirectory']);
      const csv = validationCasesDialogOptions('csv', platform);
      expect(csv.properties).toEqual(['openFile']);
      expect(csv.filters?.[0]).toEqual({ name: 'CSV of file,label rows', extensions: ['csv'] });
    }
  });

  it('on macOS offers folders and CSV files in one dialog', () => {
    for (const kind of ['folder', 'csv'] as const) {
      const options = validationCasesDialogOptions(kind, 'darwin');
      expect(options.properties).toEqual(expect.arrayContaining(['openDirectory', 'openFile']));
      expect(options.filters?.[0]?.extensions).toEqual(['csv']);
    }
  });

  it('returns the chosen path, null when cancelled; parented to the window when there is one', async () => {
    const { dialog, showOpenDialog } = fakeDialog();
    let parent: BrowserWindow | null = window;
    const choose = validationCasesChooser(dialog, () => parent, 'linux');
    showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['/cases/labels.csv'] });
    await expect(choose('csv')).resolves.toBe('/cases/labels.csv');
    expect(showOpenDialog).toHaveBeenLastCalledWith(window, expect.objectContaining({ title: 'Choose labelled cases', properties: ['openFile'] }));
    showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: [] });
    await expect(choose('folder')).resolves.toBeNull();
    parent = null;
    showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['/cases'] });
    await expect(choose('folder')).resolves.toBe('/cases');
    expect(showOpenDialog).toHaveBeenLastCalledWith(expect.objectContaining({ properties: ['openDirectory'] }));
    // Not cancelled but nothing picked (seen on some Linux portals): nothing to validate.
    showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [] });
    await expect(choose('folder')).resolves.toBeNull();
  });
});

describe('report save dialog', () => {
  it('suggests the report name, filters HTML, and returns the chosen path or null when cancelled', async () => {
    const { dialog, showSaveDialog } = fakeDialog();
    let parent: BrowserWindow | null = window;
    const choose = reportSavePathChooser(dialog, () => parent);
    showSaveDialog.mockResolvedValueOnce({ canceled: false, filePath: '/home/u/validation-x.html' });
    await expect(choose('validation-x.html')).resolves.toBe('/home/u/validation-x.html');
    expect(showSaveDialog).toHaveBeenLastCalledWith(
      window,
      expect.objectContaining({ title: 'Save report', defaultPath: 'validation-x.html', filters: [{ name: 'HTML report', extensions: ['html'] }] }),
    );
    expect(showSaveDialog.mock.lastCall?.[1]?.properties).toEqual(expect.arrayContaining(['showOverwriteConfirmation']));
    showSaveDialog.mockResolvedValueOnce({ canceled: true, filePath: '' });
    await expect(choose('validation-x.html')).resolves.toBeNull();
    parent = null;
    showSaveDialog.mockResolvedValueOnce({ canceled: false, filePath: '' });
    await expect(choose('validation-x.html')).resolves.toBeNull();
    expect(showSaveDialog).toHaveBeenLastCalledWith(expect.objectContaining({ defaultPath: 'validation-x.html' }));
  });
});
