import type { BrowserWindowConstructorOptions } from 'electron';

export interface MainWindowSettings {
  preloadPath: string;
  /** DevTools give a console with the full window.vigil bridge: development builds only (!app.isPackaged). */
  devTools: boolean;
}

/** The main window: isolated, sandboxed renderer with no Node and no webviews. */
export function mainWindowOptions({ preloadPath, devTools }: MainWindowSettings): BrowserWindowConstructorOptions {
  return {
    title: 'Vigil',
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    show: false,
    backgroundColor: '#111418',
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath,
      devTools,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
    },
  };
}
