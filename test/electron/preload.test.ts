import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { IPC_EVENT_PREFIX, IPC_INVOKE_PREFIX, type VigilApi, channelNames } from '../../contract/ipc-contract';

type Listener = (...args: unknown[]) => void;

const electron = vi.hoisted(() => {
  const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
  return {
    listeners,
    contextBridge: { exposeInMainWorld: vi.fn() },
    ipcRenderer: {
      invoke: vi.fn(async (channel: string, request: unknown) => ({ ok: true, value: { channel, request } })),
      on: vi.fn((channel: string, listener: (...args: unknown[]) => void) => {
        const set = listeners.get(channel) ?? new Set();
        set.add(listener);
        listeners.set(channel, set);
      }),
      removeListener: vi.fn((channel: string, listener: (...args: unknown[]) => void) => {
        listeners.get(channel)?.delete(listener);
      }),
      send: vi.fn(),
      sendSync: vi.fn(),
    },
    webUtils: {
      getPathForFile: vi.fn((file: unknown) => {
        const path = (file as { path?: string }).path;
        if (path === undefined) throw new TypeError('not a File');
        return path;
      }),
    },
  };
});

vi.mock('electron', () => ({
  contextBridge: electron.contextBridge,
  ipcRenderer: electron.ipcRenderer,
  webUtils: electron.webUtils,
}));

let api: VigilApi;

beforeAll(async () => {
  await import('../../electron/preload/preload');
  api = electron.contextBridge.exposeInMainWorld.mock.calls[0]?.[1] as VigilApi;
});

beforeEach(() => {
  electron.ipcRenderer.invoke.mockClear();
});

function emit(channel: string, payload: unknown): void {
  for (const listener of electron.listeners.get(channel) ?? []) (listener as Listener)({ sender: 'ipc-event' }, payload);
}

describe('preload', () => {
  it('exposes exactly one key, vigil, through contextBridge', () => {
    expect(electron.contextBridge.exposeInMainWorld).toHaveBeenCalledTimes(1);
    expect(electron.contextBridge.exposeInMainWorld.mock.calls[0]?.[0]).toBe('vigil');
    expect(api.host).toBe('electron');
  });

  it('never exposes ipcRenderer or its methods', () => {
    const seen = new Set<unknown>();
    const walk = (value: unknown): void => {
      if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) return;
      seen.add(value);
      expect(value).not.toBe(electron.ipcRenderer);
      for (const fn of Object.values(electron.ipcRenderer)) expect(value).not.toBe(fn);
      for (const key of Object.keys(value as object)) walk((value as Record<string, unknown>)[key]);
    };
    walk(api);
    expect(Object.keys(api)).not.toContain('ipcRenderer');
    expect(Object.keys(api).sort()).toEqual(
      [...new Set(channelNames.map((c) => c.split('.')[0] as string)), 'host', 'on', 'resolveDroppedFiles', 'instanceUrl', 'resultUrl'].sort(),
    );
  });

  it.each(channelNames)('maps %s to vigil:invoke:<channel>', async (channel) => {
    const [ns, method] = channel.split('.') as [string, string];
    const fn = (api as unknown as Record<string, Record<string, (request: unknown) => Promise<unknown>>>)[ns]?.[method];
    expect(fn).toBeTypeOf('function');
    await fn?.({ probe: true });
    expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith(IPC_INVOKE_PREFIX + channel, { probe: true });
  });

  it('passes the result value back from invoke', async () => {
    await expect(api.library.getStudy({ studyInstanceUid: '1.2.3' })).resolves.toEqual({
      ok: true,
      value: { channel: 'vigil:invoke:library.getStudy', request: { studyInstanceUid: '1.2.3' } },
    });
  });

  it('on() delivers payloads without the IPC event and unsubscribes', () => {
    const listener = vi.fn();
    const unsubscribe = api.on('library.changed', listener);
    const channel = IPC_EVENT_PREFIX + 'library.changed';
    expect(electron.ipcRenderer.on).toHaveBeenCalledWith(channel, expect.any(Function));

    emit(channel, { reason: 'import' });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener.mock.calls[0]).toEqual([{ reason: 'import' }]);

    unsubscribe();
    expect(electron.ipcRenderer.removeListener).toHaveBeenCalledWith(channel, expect.any(Function));
    emit(channel, { reason: 'again' });
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('on() rejects unknown event names', () => {
    expect(() => api.on('not.an.event' as 'library.changed', () => {})).toThrow(TypeError);
  });

  it('resolveDroppedFiles returns the real paths of dropped files', async () => {
    const result = await api.resolveDroppedFiles([
      { name: 'a.dcm', relativePath: '', file: { path: '/data/a.dcm' } },
      { name: 'b', relativePath: '', file: { path: '' } },
      { name: 'c', relativePath: '', file: {} },
    ]);
    expect(result).toEqual({ ok: true, value: { paths: ['/data/a.dcm'] } });
  });

  it('resolveDroppedFiles reports a typed error when nothing resolves', async () => {
    const none = await api.resolveDroppedFiles([{ name: 'x', relativePath: '', file: {} }]);
    expect(none.ok).toBe(false);
    const empty = await api.resolveDroppedFiles([]);
    expect(empty).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('instanceUrl builds an encoded vigil://dicom URL', () => {
    expect(api.instanceUrl('1.2.840.1')).toBe('vigil://dicom/instances/1.2.840.1');
    expect(api.instanceUrl('a/b?c')).toBe('vigil://dicom/instances/a%2Fb%3Fc');
  });

  it('resultUrl builds an encoded vigil://results URL', () => {
    expect(api.resultUrl(12, 'seg-mask.u8.gz')).toBe('vigil://results/12/seg-mask.u8.gz');
    expect(api.resultUrl(3, '../x y')).toBe('vigil://results/3/..%2Fx%20y');
  });
});
