import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { IPC_EVENT_PREFIX, IPC_INVOKE_PREFIX, channelNames } from '../../contract/ipc-contract';
import type { HostServices, HostServicesOptions } from '../../electron/main/vigil-app';
import type { DisplayTranscodePool, DisplayTranscodePoolOptions } from '../../electron/services/dicom/display-transcode-pool';

type Listener = (...args: unknown[]) => void;

const fake = vi.hoisted(() => {
  class Emitter {
    readonly listeners = new Map<string, Listener[]>();
    on(event: string, listener: Listener) {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
      return this;
    }
    once(event: string, listener: Listener) {
      return this.on(event, listener);
    }
    emit(event: string, ...args: unknown[]) {
      for (const listener of this.listeners.get(event) ?? []) listener(...args);
    }
  }

  class FakeWebContents extends Emitter {
    send = vi.fn();
    isDestroyed = vi.fn(() => false);
    setWindowOpenHandler = vi.fn();
  }

  class FakeBrowserWindow extends Emitter {
    static instances: FakeBrowserWindow[] = [];
    readonly webContents = new FakeWebContents();
    show = vi.fn();
    focus = vi.fn();
    restore = vi.fn();
    isMinimized = vi.fn(() => true);
    isDestroyed = vi.fn(() => false);
    loadURL = vi.fn(async (_url: string) => {});
    constructor(readonly options: Record<string, unknown>) {
      super();
      FakeBrowserWindow.instances.push(this);
    }
  }

  class FakeApp extends Emitter {
    isPackaged = false;
    ready: Promise<void> = Promise.resolve();
    requestSingleInstanceLock = vi.fn(() => true);
    quit = vi.fn();
    exit = vi.fn();
    whenReady = vi.fn(() => this.ready);
    getPath = vi.fn((name: string) => `/home/u/.config/Vigil-${name}`);
    getAppPath = vi.fn(() => '/repo');
    getVersion = vi.fn(() => '9.9.9');
  }

  const state = {
    app: new FakeApp(),
    protocol: { registerSchemesAsPrivileged: vi.fn(), handle: vi.fn(), unhandle: vi.fn() },
    ipcMain: { handle: vi.fn(), removeHandler: vi.fn() },
    dialog: { showOpenDialog: vi.fn(), showSaveDialog: vi.fn(), showErrorBox: vi.fn() },
    session: {
      defaultSession: {
        setPermissionRequestHandler: vi.fn(),
        setPermissionCheckHandler: vi.fn(),
        setDevicePermissionHandler: vi.fn(),
        setSpellCheckerEnabled: vi.fn(),
        setSpellCheckerDictionaryDownloadURL: vi.fn(),
        webRequest: { onBeforeRequest: vi.fn() },
      },
    },
    Menu: {
      setApplicationMenu: vi.fn(),
      buildFromTemplate: vi.fn((template: unknown[]) => ({ builtFrom: template })),
    },
    FakeBrowserWindow,
    FakeApp,
  };
  return state;
});

vi.mock('electron', () => ({
  get app() {
    return fake.app;
  },
  BrowserWindow: fake.FakeBrowserWindow,
  protocol: fake.protocol,
  ipcMain: fake.ipcMain,
  dialog: fake.dialog,
  session: fake.session,
  Menu: fake.Menu,
}));

/** Every display transcode pool the app creates (real ones: a pool starts no thread before its first request). */
const pools = vi.hoisted(() => ({ created: [] as DisplayTranscodePool[] }));
vi.mock('../../electron/services/dicom/display-transcode-pool', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../electron/services/dicom/display-transcode-pool')>();
  class RecordedPool extends actual.DisplayTranscodePool {
    constructor(options: DisplayTranscodePoolOptions) {
      super(options);
      pools.created.push(this);
    }
  }
  return { ...actual, DisplayTranscodePool: RecordedPool };
});

const { startVigilApp } = await import('../../electron/main/vigil-app');

const bundleUrl = pathToFileURL(join('/repo', 'out', 'main', 'main.js')).href;
/** Stands in for mkdirSync: the tests never touch the real file system. */
const ensureDir = vi.fn((_path: string) => {});

function fakeServices() {
  const eventListeners = new Set<(event: string, payload: unknown) => void>();
  const services = {
    router: { dispatch: vi.fn(async () => ({ ok: true as const, value: null })) },
    events: {
      subscribe: vi.fn((listener: (event: string, payload: unknown) => void) => {
        eventListeners.add(listener);
        return () => eventListeners.delete(listener);
      }),
    },
    instanceFile: vi.fn(() => null),
    close: vi.fn(async () => {}),
  };
  const emit = (event: string, payload: unknown) => eventListeners.forEach((l) => l(event, payload));
  return { services, emit };
}

function start() {
  const { services, emit } = fakeServices();
  const openServices = vi.fn(async (_options: HostServicesOptions) => services as unknown as HostServices);
  const started = startVigilApp({ bundleUrl, openServices, log: () => {}, ensureDir, argv: ['electron', '.'] });
  return { started, services, openServices, emit };
}

async function startedAndReady() {
  const run = start();
  await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
  const window = fake.FakeBrowserWindow.instances[0];
  if (!window) throw new Error('no window');
  return { ...run, window };
}

beforeEach(() => {
  vi.clearAllMocks();
  pools.created = [];
  fake.app = new fake.FakeApp();
  fake.FakeBrowserWindow.instances = [];
});

describe('single instance', () => {
  it('quits without registering anything when the lock is held by another instance', () => {
    fake.app.requestSingleInstanceLock.mockReturnValue(false);
    const { started, openServices } = start();
    expect(started).toBe(false);
    expect(fake.app.quit).toHaveBeenCalledTimes(1);
    expect(fake.app.whenReady).not.toHaveBeenCalled();
    expect(fake.protocol.registerSchemesAsPrivileged).not.toHaveBeenCalled();
    expect(openServices).not.toHaveBeenCalled();
  });

  it('focuses the existing window when a second instance starts', async () => {
    const { window } = await startedAndReady();
    fake.app.emit('second-instance', {}, ['vigil'], '/');
    expect(window.restore).toHaveBeenCalled();
    expect(window.show).toHaveBeenCalled();
    expect(window.focus).toHaveBeenCalled();
    expect(fake.app.quit).not.toHaveBeenCalled();
  });
});

describe('startup', () => {
  it('registers the privileged vigil scheme before the app is ready', async () => {
    let resolveReady: () => void = () => {};
    fake.app.ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
    });
    const { started, openServices } = start();
    expect(started).toBe(true);
    expect(fake.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      expect.objectContaining({ scheme: 'vigil', privileges: expect.objectContaining({ standard: true, secure: true }) }),
    ]);
    expect(fake.protocol.handle).not.toHaveBeenCalled();
    expect(openServices).not.toHaveBeenCalled();
    resolveReady();
    await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
    expect(fake.protocol.handle).toHaveBeenCalledWith('vigil', expect.any(Function));
  });

  it('opens services in userData, registers IPC and the protocol, then loads vigil://app/index.html', async () => {
    const { openServices, window } = await startedAndReady();
    const options = openServices.mock.calls[0]?.[0];
    expect(options?.dataDir).toBe(join('/home/u/.config/Vigil-userData', 'library'));
    expect(options?.host).toBe('electron');
    expect(options?.version).toBe('9.9.9');
    expect(options?.importWorkerUrl.href).toBe(pathToFileURL(join('/repo', 'out', 'main', 'import-worker.js')).href);
    expect(options?.modelsDir).toBe(join('/repo', 'models'));
    // First start creates the library and user-models folders before opening the services.
    expect(ensureDir.mock.calls.map(([path]) => path)).toEqual([join('/home/u/.config/Vigil-userData', 'library'), join('/home/u/.config/Vigil-userData', 'models')]);

    expect(fake.ipcMain.handle).toHaveBeenCalledTimes(channelNames.length);
    for (const channel of channelNames) expect(fake.ipcMain.handle).toHaveBeenCalledWith(IPC_INVOKE_PREFIX + channel, expect.any(Function));
    expect(fake.protocol.handle).toHaveBeenCalledWith('vigil', expect.any(Function));
    // vigil:// transcodes in threads of the bundled worker beside the main bundle, started on first need.
    expect(pools.created.map((pool) => pool.workerUrl.href)).toEqual([pathToFileURL(join('/repo', 'out', 'main', 'display-transcode-worker.js')).href]);
    expect(pools.created[0]?.started).toBe(0);

    const prefs = window.options.webPreferences as Record<string, unknown>;
    expect(prefs.preload).toBe(join('/repo', 'out', 'main', 'preload.cjs'));
    expect(prefs.sandbox).toBe(true);
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.devTools).toBe(true);
    expect(window.loadURL).toHaveBeenCalledWith('vigil://app/index.html');
    expect(window.webContents.setWindowOpenHandler).toHaveBeenCalled();

    expect(window.show).not.toHaveBeenCalled();
    window.emit('ready-to-show');
    expect(window.show).toHaveBeenCalled();
  });

  it('when packaged, loads the import worker from app.asar.unpacked and models from resources', async () => {
    const resources = join('/opt', 'Vigil', 'resources');
    fake.app.isPackaged = true;
    fake.app.getAppPath.mockReturnValue(join(resources, 'app.asar'));
    const previous = Object.getOwnPropertyDescriptor(process, 'resourcesPath');
    Object.defineProperty(process, 'resourcesPath', { value: resources, configurable: true });
    try {
      const { services } = fakeServices();
      const openServices = vi.fn(async (_options: HostServicesOptions) => services as unknown as HostServices);
      startVigilApp({ bundleUrl: pathToFileURL(join(resources, 'app.asar', 'out', 'main', 'main.js')).href, openServices, log: () => {}, ensureDir, argv: ['vigil'] });
      await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
      const options = openServices.mock.calls[0]?.[0];
      expect(options?.importWorkerUrl.href).toBe(pathToFileURL(join(resources, 'app.asar.unpacked', 'out', 'main', 'import-worker.js')).href);
      expect(options?.modelsDir).toBe(join(resources, 'models'));
      expect(options?.inferenceWorkerUrl.href).toBe(pathToFileURL(join(resources, 'app.asar.unpacked', 'out', 'main', 'inference-worker.js')).href);
      expect(pools.created.map((pool) => pool.workerUrl.href)).toEqual([pathToFileURL(join(resources, 'app.asar.unpacked', 'out', 'main', 'display-transcode-worker.js')).href]);
      expect(options?.userModelsDir).toMatch(/models$/);
      const prefs = fake.FakeBrowserWindow.instances[0]?.options.webPreferences as Record<string, unknown>;
      expect(prefs.preload).toBe(join(resources, 'app.asar', 'out', 'main', 'preload.cjs'));
      // No console with the full window.vigil in the shipped app.
      expect(prefs.devTools).toBe(false);
    } finally {
      if (previous) Object.defineProperty(process, 'resourcesPath', previous);
      else delete (process as { resourcesPath?: string }).resourcesPath;
    }
  });

  it('denies every permission on the default session', async () => {
    await startedAndReady();
    const ses = fake.session.defaultSession;
    const request = ses.setPermissionRequestHandler.mock.calls[0]?.[0] as (wc: unknown, p: string, cb: (ok: boolean) => void) => void;
    const callback = vi.fn();
    request({}, 'media', callback);
    expect(callback).toHaveBeenCalledWith(false);
    const check = ses.setPermissionCheckHandler.mock.calls[0]?.[0] as (...args: unknown[]) => boolean;
    expect(check(null, 'notifications', 'vigil://app', {})).toBe(false);
  });

  it('turns the spellchecker off and cancels every network request on the default session', async () => {
    const log = vi.fn((_msg: string) => {});
    const { services } = fakeServices();
    startVigilApp({ bundleUrl, openServices: async () => services as unknown as HostServices, log, ensureDir, argv: ['electron', '.'] });
    await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
    const ses = fake.session.defaultSession;
    expect(ses.setSpellCheckerEnabled).toHaveBeenCalledWith(false);
    expect(ses.setSpellCheckerDictionaryDownloadURL).toHaveBeenCalledWith('http://127.0.0.1:9/');
    const [filter, listener] = ses.webRequest.onBeforeRequest.mock.calls[0] as [{ urls: string[] }, (details: { url: string }, cb: (r: unknown) => void) => void];
    expect(filter.urls).toEqual(expect.arrayContaining(['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*']));
    expect(filter.urls.some((pattern) => pattern.startsWith('vigil:') || pattern.startsWith('file:'))).toBe(false);
    const callback = vi.fn();
    listener({ url: 'https://dl.google.com/x.bdic' }, callback);
    expect(callback).toHaveBeenCalledWith({ cancel: true });
    expect(log).toHaveBeenCalledWith(expect.stringContaining('https://dl.google.com/x.bdic'));
    // Set up before the window (and its first request) exists.
    expect(ses.webRequest.onBeforeRequest.mock.invocationCallOrder[0]).toBeLessThan(fake.ipcMain.handle.mock.invocationCallOrder[0]!);
  });

  /** Starts the app as if on `platform` (process.platform restored after start-up, which is when the menu is set). */
  async function startedAndReadyOn(platform: NodeJS.Platform): Promise<void> {
    const original = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { value: platform, configurable: true });
    try {
      await startedAndReady();
    } finally {
      if (original) Object.defineProperty(process, 'platform', original);
    }
  }

  it('removes Electron\'s default menu (Help links, Toggle Developer Tools) on Windows and Linux', async () => {
    await startedAndReadyOn('linux');
    expect(fake.Menu.setApplicationMenu).toHaveBeenCalledTimes(1);
    expect(fake.Menu.setApplicationMenu).toHaveBeenCalledWith(null);
    expect(fake.Menu.buildFromTemplate).not.toHaveBeenCalled();
  });

  it('on macOS sets a minimal app / edit / window menu instead (copy and paste shortcuts need Edit)', async () => {
    await startedAndReadyOn('darwin');
    expect(fake.Menu.buildFromTemplate).toHaveBeenCalledWith([{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }]);
    expect(fake.Menu.setApplicationMenu).toHaveBeenCalledWith({ builtFrom: [{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }] });
  });

  it('guards navigation of every web contents created', async () => {
    await startedAndReady();
    const contents = new (fake.FakeBrowserWindow.instances[0]!.webContents.constructor as new () => {
      setWindowOpenHandler: ReturnType<typeof vi.fn>;
      emit: (event: string, ...args: unknown[]) => void;
    })();
    fake.app.emit('web-contents-created', {}, contents);
    const preventDefault = vi.fn();
    contents.emit('will-navigate', { url: 'https://evil.example/', preventDefault });
    expect(preventDefault).toHaveBeenCalled();
    expect(contents.setWindowOpenHandler).toHaveBeenCalled();
  });

  it('forwards service events to the window', async () => {
    const { emit, window } = await startedAndReady();
    emit('library.changed', { reason: 'import' });
    expect(window.webContents.send).toHaveBeenCalledWith(IPC_EVENT_PREFIX + 'library.changed', { reason: 'import' });
  });

  it('implements the native import picker with the dialog, [] when cancelled', async () => {
    const { openServices, window } = await startedAndReady();
    const choose = openServices.mock.calls[0]?.[0].chooseImportSources;
    fake.dialog.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['/scans/a', '/scans/b'] });
    await expect(choose?.('folder')).resolves.toEqual(['/scans/a', '/scans/b']);
    expect(fake.dialog.showOpenDialog).toHaveBeenLastCalledWith(
      window,
      expect.objectContaining({ properties: ['openDirectory', 'multiSelections'] }),
    );
    fake.dialog.showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: [] });
    await expect(choose?.('files')).resolves.toEqual([]);
    expect(fake.dialog.showOpenDialog).toHaveBeenLastCalledWith(
      window,
      expect.objectContaining({ properties: ['openFile', 'multiSelections'] }),
    );
  });

  it('wires the labelled-cases picker and the report save dialog to Electron\'s dialog', async () => {
    const { openServices, window } = await startedAndReady();
    const options = openServices.mock.calls[0]?.[0];
    fake.dialog.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: ['/cases/labels.csv'] });
    await expect(options?.chooseValidationCases?.('csv')).resolves.toBe('/cases/labels.csv');
    expect(fake.dialog.showOpenDialog).toHaveBeenLastCalledWith(window, expect.objectContaining({ title: 'Choose labelled cases', buttonLabel: 'Choose' }));
    fake.dialog.showSaveDialog.mockResolvedValueOnce({ canceled: false, filePath: '/home/u/report.html' });
    await expect(options?.chooseSavePath?.('report.html')).resolves.toBe('/home/u/report.html');
    expect(fake.dialog.showSaveDialog).toHaveBeenLastCalledWith(window, expect.objectContaining({ defaultPath: 'report.html' }));
  });

  it('reports a startup failure and exits', async () => {
    const openServices = vi.fn(async () => {
      throw new Error('disk full');
    });
    startVigilApp({ bundleUrl, openServices, log: () => {}, ensureDir, argv: ['electron', '.'] });
    await vi.waitFor(() => expect(fake.app.exit).toHaveBeenCalledWith(1));
    expect(fake.dialog.showErrorBox).toHaveBeenCalledWith('Vigil could not start', 'disk full');
    expect(fake.FakeBrowserWindow.instances).toHaveLength(0);
  });
});

describe('shutdown', () => {
  it('quits when all windows are closed', async () => {
    await startedAndReady();
    fake.app.emit('window-all-closed');
    expect(fake.app.quit).toHaveBeenCalled();
  });

  it('closes services and removes handlers before quitting', async () => {
    const { services } = await startedAndReady();
    const willQuit = { preventDefault: vi.fn() };
    fake.app.emit('will-quit', willQuit);
    expect(willQuit.preventDefault).toHaveBeenCalled();
    expect(services.close).toHaveBeenCalledTimes(1);
    expect(fake.ipcMain.removeHandler).toHaveBeenCalledTimes(channelNames.length);
    expect(fake.protocol.unhandle).toHaveBeenCalledWith('vigil');
    await vi.waitFor(() => expect(fake.app.quit).toHaveBeenCalled());

    const secondQuit = { preventDefault: vi.fn() };
    fake.app.emit('will-quit', secondQuit);
    expect(secondQuit.preventDefault).not.toHaveBeenCalled();
    expect(services.close).toHaveBeenCalledTimes(1);
  });
});

describe('shutdown of the display transcode threads', () => {
  it('closes them with the services, after vigil:// stops serving, and quits only once they are closed', async () => {
    const { services } = await startedAndReady();
    const pool = pools.created[0]!;
    let finishClosing: () => void = () => {};
    const close = vi.spyOn(pool, 'close').mockImplementation(() => new Promise<void>((done) => (finishClosing = done)));
    fake.app.emit('will-quit', { preventDefault: vi.fn() });
    expect(close).toHaveBeenCalledTimes(1);
    expect(services.close).toHaveBeenCalledTimes(1);
    expect(fake.protocol.unhandle.mock.invocationCallOrder[0]).toBeLessThan(close.mock.invocationCallOrder[0]!);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fake.app.quit).not.toHaveBeenCalled();
    finishClosing();
    await vi.waitFor(() => expect(fake.app.quit).toHaveBeenCalled());
    fake.app.emit('will-quit', { preventDefault: vi.fn() });
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('logs a failure to close them and quits all the same', async () => {
    const { services } = fakeServices();
    const openServices = vi.fn(async (_options: HostServicesOptions) => services as unknown as HostServices);
    const log = vi.fn((_msg: string) => {});
    startVigilApp({ bundleUrl, openServices, log, ensureDir, argv: ['electron', '.'] });
    await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
    vi.spyOn(pools.created[0]!, 'close').mockRejectedValue(new Error('terminate failed'));
    fake.app.emit('will-quit', { preventDefault: vi.fn() });
    await vi.waitFor(() => expect(fake.app.quit).toHaveBeenCalled());
    expect(log).toHaveBeenCalledWith('[vigil] closing the display transcoder failed: terminate failed');
  });
});

describe('documents the OS asks Vigil to open', () => {
  const summary = (studyInstanceUids: string[]) => ({
    ok: true as const,
    value: { importId: 'i', status: 'done', offered: 1, imported: 1, duplicates: 0, rejected: [], patients: 1, studies: 1, series: 1, instances: 1, elapsedMs: 1, studyInstanceUids },
  });

  it('queues an open-file that arrives before the window, imports it after the page loads, then shows its study', async () => {
    const { services, window } = await startedAndReady();
    services.router.dispatch.mockResolvedValue(summary(['1.2.3.4']) as never);
    const event = { preventDefault: vi.fn() };
    fake.app.emit('open-file', event, '/media/cd/IM0001.dcm');
    expect(event.preventDefault).toHaveBeenCalled();
    // Nothing is imported while the renderer is still loading.
    expect(services.router.dispatch).not.toHaveBeenCalledWith('library.import', expect.anything());
    window.webContents.emit('did-finish-load');
    await vi.waitFor(() =>
      expect(window.webContents.send).toHaveBeenCalledWith(`${IPC_EVENT_PREFIX}app.openStudy`, { studyInstanceUid: '1.2.3.4' }),
    );
    expect(services.router.dispatch).toHaveBeenCalledWith('library.import', { paths: ['/media/cd/IM0001.dcm'] });
    expect(window.focus).toHaveBeenCalled();
  });

  it('imports a document given on the first command line once the page has loaded', async () => {
    const { services } = fakeServices();
    services.router.dispatch.mockResolvedValue(summary(['5.5.5']) as never);
    const openServices = vi.fn(async (_options: HostServicesOptions) => services as unknown as HostServices);
    startVigilApp({ bundleUrl, openServices, log: () => {}, ensureDir, argv: ['electron', '.', 'package.json'] });
    await vi.waitFor(() => expect(fake.FakeBrowserWindow.instances).toHaveLength(1));
    const window = fake.FakeBrowserWindow.instances[0]!;
    window.webContents.emit('did-finish-load');
    await vi.waitFor(() => expect(window.webContents.send).toHaveBeenCalledWith(`${IPC_EVENT_PREFIX}app.openStudy`, { studyInstanceUid: '5.5.5' }));
    expect(services.router.dispatch).toHaveBeenCalledWith('library.import', { paths: [join(process.cwd(), 'package.json')] });
  });

  it('imports the paths of a second launch (relative to its working directory) and ignores flags', async () => {
    const { services, window } = await startedAndReady();
    window.webContents.emit('did-finish-load');
    services.router.dispatch.mockResolvedValue(summary(['9.8.7']) as never);
    // In development argv is [electron, app folder, ...documents]; only existing paths count.
    fake.app.emit('second-instance', {}, ['electron', '.', '--inspect', 'package.json'], process.cwd());
    await vi.waitFor(() => expect(services.router.dispatch).toHaveBeenCalledWith('library.import', { paths: [join(process.cwd(), 'package.json')] }));
    await vi.waitFor(() => expect(window.webContents.send).toHaveBeenCalledWith(`${IPC_EVENT_PREFIX}app.openStudy`, { studyInstanceUid: '9.8.7' }));
  });

  it('sends nothing when the import fails (the error is logged, the app keeps running)', async () => {
    const { services, window } = await startedAndReady();
    services.router.dispatch.mockResolvedValue({ ok: false, error: { code: 'BUSY', message: 'An import is already running' } } as never);
    window.webContents.emit('did-finish-load');
    fake.app.emit('open-file', { preventDefault: vi.fn() }, '/tmp/x.dcm');
    await vi.waitFor(() => expect(services.router.dispatch).toHaveBeenCalledWith('library.import', { paths: ['/tmp/x.dcm'] }));
    expect(window.webContents.send).not.toHaveBeenCalledWith(`${IPC_EVENT_PREFIX}app.openStudy`, expect.anything());
  });
});
