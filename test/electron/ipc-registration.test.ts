import { describe, expect, it, vi } from 'vitest';
import { type EventName, type EventPayload, IPC_EVENT_PREFIX, IPC_INVOKE_PREFIX, channelNames } from '../../contract/ipc-contract';
import { forwardEvents, registerIpcHandlers } from '../../electron/main/ipc-registration';
import { type ChannelHandlers, IpcRouter } from '../../electron/services/ipc-router';

type Handler = (event: unknown, payload: unknown) => Promise<unknown>;

function stubHandlers(): ChannelHandlers {
  // Every channel gets a handler (new channels need no edit here); the tests call only these.
  const notInThisTest = () => {
    throw new Error('not in this test');
  };
  const all = Object.fromEntries(channelNames.map((c) => [c, notInThisTest])) as unknown as ChannelHandlers;
  return {
    ...all,
    'app.info': () => ({ version: '0.0.0-test', host: 'electron', dataDir: '/tmp/vigil', storageMode: 'copy' }),
    'library.cancelImport': () => ({ cancelled: false }),
    'library.listStudies': () => ({ total: 0, studies: [], modalities: [] }),
    'library.lastImport': () => null,
    'dialog.chooseImportSources': () => ({ paths: [] }),
  };
}

function setup() {
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle: vi.fn((channel: string, handler: Handler) => {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, handler);
    }),
    removeHandler: vi.fn((channel: string) => handlers.delete(channel)),
  };
  const router = new IpcRouter(stubHandlers(), () => {});
  const dispatch = vi.spyOn(router, 'dispatch');
  const dispose = registerIpcHandlers(ipcMain as unknown as Parameters<typeof registerIpcHandlers>[0], router);
  const invoke = (channel: string, payload: unknown, frameUrl: string | null = 'vigil://app/index.html') => {
    const handler = handlers.get(IPC_INVOKE_PREFIX + channel);
    if (!handler) throw new Error(`no handler for ${channel}`);
    return handler({ senderFrame: frameUrl === null ? null : { url: frameUrl } }, payload);
  };
  return { handlers, ipcMain, dispatch, dispose, invoke };
}

describe('registerIpcHandlers', () => {
  it('registers exactly one handler per contract channel', () => {
    const { ipcMain, handlers } = setup();
    expect(ipcMain.handle).toHaveBeenCalledTimes(channelNames.length);
    expect([...handlers.keys()].sort()).toEqual(channelNames.map((c) => IPC_INVOKE_PREFIX + c).sort());
  });

  it('dispatches app-origin requests to the router', async () => {
    const { invoke, dispatch } = setup();
    await expect(invoke('app.info', {})).resolves.toEqual({
      ok: true,
      value: { version: '0.0.0-test', host: 'electron', dataDir: '/tmp/vigil', storageMode: 'copy' },
    });
    expect(dispatch).toHaveBeenCalledWith('app.info', {});
  });

  it.each([
    ['a remote page', 'https://evil.example/'],
    ['a file URL', 'file:///tmp/index.html'],
    ['the DICOM host', 'vigil://dicom/instances/1.2'],
    ['a look-alike host', 'vigil://app.evil/index.html'],
    ['a missing frame', null],
  ])('refuses %s with FORBIDDEN without calling the router', async (_label, frameUrl) => {
    const { invoke, dispatch } = setup();
    const result = await invoke('library.listStudies', {}, frameUrl);
    expect(result).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(dispatch).not.toHaveBeenCalled();
  });

  it('refuses a sender whose frame throws on access', async () => {
    const { handlers, dispatch } = setup();
    const event = {
      get senderFrame(): never {
        throw new Error('Render frame was disposed');
      },
    };
    const result = await handlers.get(IPC_INVOKE_PREFIX + 'app.info')?.(event, {});
    expect(result).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(dispatch).not.toHaveBeenCalled();
  });

  it('answers a malformed payload with BAD_REQUEST', async () => {
    const { invoke } = setup();
    await expect(invoke('library.getStudy', { studyInstanceUid: 42 })).resolves.toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    await expect(invoke('library.import', { paths: [] })).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    await expect(invoke('dialog.chooseImportSources', { kind: 'folder', extra: true })).resolves.toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('removes every handler on dispose', () => {
    const { dispose, handlers, ipcMain } = setup();
    dispose();
    expect(ipcMain.removeHandler).toHaveBeenCalledTimes(channelNames.length);
    expect(handlers.size).toBe(0);
  });
});

describe('forwardEvents', () => {
  type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

  function hub() {
    const listeners = new Set<Listener>();
    return {
      subscribe: (listener: Listener) => {
        listeners.add(listener);
        return () => {
          listeners.delete(listener);
        };
      },
      emit: <E extends EventName>(event: E, payload: EventPayload<E>) => listeners.forEach((l) => l(event, payload)),
      size: () => listeners.size,
    };
  }

  it('sends events to the live window with the event prefix', () => {
    const events = hub();
    const contents = { send: vi.fn(), isDestroyed: () => false };
    forwardEvents(events, () => contents);
    events.emit('library.changed', { reason: 'import' });
    expect(contents.send).toHaveBeenCalledWith(IPC_EVENT_PREFIX + 'library.changed', { reason: 'import' });
  });

  it('skips destroyed or missing windows and unsubscribes', () => {
    const events = hub();
    const contents = { send: vi.fn(), isDestroyed: () => true };
    let target: typeof contents | null = contents;
    const unsubscribe = forwardEvents(events, () => target);
    events.emit('library.changed', { reason: 'import' });
    target = null;
    events.emit('library.changed', { reason: 'import' });
    expect(contents.send).not.toHaveBeenCalled();
    unsubscribe();
    expect(events.size()).toBe(0);
  });
});
