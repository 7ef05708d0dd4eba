/**
 * The Electron app's lifecycle: one instance, the `vigil:` scheme, locked-down
 * offline session, no default menu, services (and the display transcode
 * threads behind vigil://) opened on ready and closed on quit, one window.
 */
import { mkdirSync } from 'node:fs';
import { type BrowserWindow, Menu, app, dialog, ipcMain, protocol, session } from 'electron';
import { IPC_EVENT_PREFIX, type ImportSummary, type ValidationCasesKind } from '../../contract/ipc-contract';
import type { InstanceFile } from '../services/dicom/display-bytes';
import { DisplayTranscodePool } from '../services/dicom/display-transcode-pool';
import { applicationMenuTemplate } from './app-menu';
import { createProtocolHandler, handleVigilProtocol, registerVigilScheme } from './app-protocol';
import { type EventSource, type RequestRouter, forwardEvents, registerIpcHandlers } from './ipc-registration';
import { createMainWindow, focusWindow } from './main-window';
import { OpenedFilesQueue, pathsFromArgv } from './opened-files';
import { importSourceChooser, reportSavePathChooser, validationCasesChooser } from './native-dialog';
import { guardNavigation } from './navigation-guard';
import { blockNetworkRequests, disableSpellChecker } from './offline-session';
import { denyAllPermissions } from './permission-policy';
import { bundledExecutionProviders, resolveRuntimePaths, workerScriptUrl } from './runtime-paths';

/** What the Electron layer needs from the services (openVigilServices provides it). */
export interface HostServices {
  readonly router: RequestRouter;
  readonly events: EventSource;
  instanceFile(sopInstanceUid: string): InstanceFile | null;
  resultFile(resultId: number, file: string): string | null;
  close(): Promise<void>;
}

export interface HostServicesOptions {
  /** The library (database + imported files), in the user-data folder. */
  dataDir: string;
  host: 'electron';
  version: string;
  /** The import worker script, outside app.asar when packaged. */
  importWorkerUrl: URL;
  /** The inference worker script, outside app.asar when packaged. */
  inferenceWorkerUrl: URL;
  /** Read-only model packages shipped with the app (resources/models when packaged). */
  modelsDir: string;
  /** Model packages the clinic adds, in the user-data folder. */
  userModelsDir: string;
  chooseImportSources: (kind: 'folder' | 'files') => Promise<string[]>;
  /** Native save dialog for reports (reports.save): the chosen path, or null when cancelled. */
  chooseSavePath?: (suggestedName: string) => Promise<string | null>;
  /** Native picker for models.validate's labelled cases (dialog.chooseValidationCases): a folder or a CSV, or null when cancelled. */
  chooseValidationCases?: (kind: ValidationCasesKind) => Promise<string | null>;
  /** The ONNX Runtime provider binaries this installation bundles (shown by ai.runtimeInfo). */
  executionProviderInfo?: { name: string; bundled: boolean; requires: string }[];
  log: (msg: string) => void;
}

export interface VigilAppOptions {
  /** import.meta.url of the main bundle. */
  bundleUrl: string;
  openServices(options: HostServicesOptions): Promise<HostServices>;
  log?: (msg: string) => void;
  /** Creates a folder and its parents (tests replace it). */
  ensureDir?: (path: string) => void;
  /** The command line the app was started with (documents to open); defaults to process.argv. */
  argv?: readonly string[];
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Starts the app. Returns false (and quits) when another instance already runs. */
export function startVigilApp(options: VigilAppOptions): boolean {
  const log = options.log ?? ((msg: string) => console.error(msg));
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return false;
  }
  registerVigilScheme(protocol);

  let mainWindow: BrowserWindow | null = null;
  let services: HostServices | null = null;
  /** Worker threads that transcode instances for vigil:// (started on the first file that needs it). */
  let displayTranscoder: DisplayTranscodePool | null = null;
  let quitting = false;
  let servicesClosed = false;
  const teardown: Array<() => void> = [];

  // Documents the OS asks us to open (file association, command line, second launch).
  const openedFiles = new OpenedFilesQueue();
  openedFiles.add(pathsFromArgv(options.argv ?? process.argv, app.isPackaged, process.cwd()));
  app.on('open-file', (event, path) => {
    event.preventDefault();
    openedFiles.add([path]);
  });
  app.on('second-instance', (_event, argv, workingDirectory) => {
    openedFiles.add(pathsFromArgv(argv, app.isPackaged, workingDirectory));
    if (mainWindow && !mainWindow.isDestroyed()) focusWindow(mainWindow);
  });
  app.on('web-contents-created', (_event, contents) => guardNavigation(contents));
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', (event) => {
    quitting = true;
    if (!services || servicesClosed) return;
    event.preventDefault();
    const closing = services;
    const closingTranscoder = displayTranscoder;
    services = null;
    displayTranscoder = null;
    for (const undo of teardown.splice(0).reverse()) undo();
    void Promise.all([
      closing.close().catch((err: unknown) => log(`[vigil] closing services failed: ${describe(err)}`)),
      closingTranscoder?.close().catch((err: unknown) => log(`[vigil] closing the display transcoder failed: ${describe(err)}`)),
    ]).finally(() => {
      servicesClosed = true;
      app.quit();
    });
  });

  const ready = async (): Promise<void> => {
    denyAllPermissions(session.defaultSession);
    disableSpellChecker(session.defaultSession);
    blockNetworkRequests(session.defaultSession, log);
    // Replaces Electron's default menu (Help links to the web, Toggle Developer Tools) before any window exists.
    const menuTemplate = applicationMenuTemplate(process.platform);
    Menu.setApplicationMenu(menuTemplate ? Menu.buildFromTemplate(menuTemplate) : null);
    const paths = resolveRuntimePaths({
      bundleUrl: options.bundleUrl,
      appPath: app.getAppPath(),
      isPackaged: app.isPackaged,
      resourcesPath: process.resourcesPath,
      userDataPath: app.getPath('userData'),
    });
    // First start: create the user-data folders (the library creates its database inside dataDir).
    const ensureDir = options.ensureDir ?? ((path: string) => mkdirSync(path, { recursive: true }));
    ensureDir(paths.dataDir);
    ensureDir(paths.userModelsDir);
    const providerInfo = bundledExecutionProviders(paths);
    const providers = providerInfo.filter((p) => p.bundled).map((p) => p.name);
    log(`[vigil] ${app.isPackaged ? 'packaged' : 'development'}; models ${paths.modelsDir}; ONNX Runtime providers bundled: ${providers.join(', ') || 'none'}`);
    const opened = await options.openServices({
      dataDir: paths.dataDir,
      host: 'electron',
      version: app.getVersion(),
      importWorkerUrl: paths.importWorkerUrl,
      inferenceWorkerUrl: workerScriptUrl(paths, 'inference'),
      modelsDir: paths.modelsDir,
      userModelsDir: paths.userModelsDir,
      chooseImportSources: importSourceChooser(dialog, () => mainWindow),
      chooseSavePath: reportSavePathChooser(dialog, () => mainWindow),
      chooseValidationCases: validationCasesChooser(dialog, () => mainWindow),
      executionProviderInfo: providerInfo,
      log,
    });
    if (quitting) {
      await opened.close();
      return;
    }
    services = opened;
    const transcoder = new DisplayTranscodePool({ workerUrl: workerScriptUrl(paths, 'display-transcode') });
    displayTranscoder = transcoder;
    teardown.push(registerIpcHandlers(ipcMain, opened.router));
    teardown.push(
      handleVigilProtocol(
        protocol,
        createProtocolHandler({
          rendererDir: paths.rendererDir,
          instanceFile: (uid) => opened.instanceFile(uid),
          resultFile: (id, file) => opened.resultFile(id, file),
          displayTranscoder: transcoder,
          log,
        }),
      ),
    );
    teardown.push(forwardEvents(opened.events, () => (mainWindow && !mainWindow.isDestroyed() ? mainWindow.webContents : null)));
    mainWindow = createMainWindow({ preloadPath: paths.preloadPath, devTools: !app.isPackaged }, log);
    mainWindow.on('closed', () => {
      mainWindow = null;
    });
    mainWindow.webContents.once('did-finish-load', () =>
      openedFiles.start(async (files) => {
        const result = await opened.router.dispatch('library.import', { paths: files });
        if (!result.ok) {
          log(`[vigil] could not open ${files.join(', ')}: ${result.error.message}`);
          return;
        }
        const studyInstanceUid = (result.value as ImportSummary).studyInstanceUids?.[0];
        if (studyInstanceUid && mainWindow && !mainWindow.isDestroyed()) {
          mainWindow.webContents.send(IPC_EVENT_PREFIX + 'app.openStudy', { studyInstanceUid });
          focusWindow(mainWindow);
        }
      }),
    );
  };

  app
    .whenReady()
    .then(ready)
    .catch((err: unknown) => {
      log(`[vigil] startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      dialog.showErrorBox('Vigil could not start', describe(err));
      app.exit(1);
    });
  return true;
}
