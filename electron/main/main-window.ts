import { BrowserWindow } from 'electron';
import { APP_ENTRY_URL } from './app-urls';
import { guardNavigation } from './navigation-guard';
import { type MainWindowSettings, mainWindowOptions } from './window-options';

/** Creates the one app window, loads the renderer from vigil://app/ and shows it once painted. */
export function createMainWindow(settings: MainWindowSettings, log: (msg: string) => void): BrowserWindow {
  const window = new BrowserWindow(mainWindowOptions(settings));
  guardNavigation(window.webContents);
  window.once('ready-to-show', () => window.show());
  window.loadURL(APP_ENTRY_URL).catch((err: unknown) => {
    log(`[vigil] could not load ${APP_ENTRY_URL}: ${err instanceof Error ? err.message : String(err)}`);
  });
  return window;
}

/** Brings an existing window to the front (second launch, dock click). */
export function focusWindow(window: BrowserWindow): void {
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}
