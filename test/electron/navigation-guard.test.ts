import { describe, expect, it, vi } from 'vitest';
import { isAppUrl } from '../../electron/main/app-urls';
import { guardNavigation } from '../../electron/main/navigation-guard';
import { denyAllPermissions } from '../../electron/main/permission-policy';

type Listener = (...args: unknown[]) => void;

function fakeContents() {
  const listeners = new Map<string, Listener[]>();
  let openHandler: ((details: unknown) => unknown) | null = null;
  const contents = {
    on: vi.fn((event: string, listener: Listener) => {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return contents;
    }),
    setWindowOpenHandler: vi.fn((handler: (details: unknown) => unknown) => {
      openHandler = handler;
    }),
  };
  const emit = (event: string, url: string) => {
    const details = { url, preventDefault: vi.fn() };
    for (const listener of listeners.get(event) ?? []) listener(details, url);
    return details.preventDefault;
  };
  return { contents, emit, openWindow: (url: string) => openHandler?.({ url }), listeners };
}

describe('guardNavigation', () => {
  function guarded() {
    const fake = fakeContents();
    guardNavigation(fake.contents as unknown as Parameters<typeof guardNavigation>[0]);
    return fake;
  }

  it.each(['will-navigate', 'will-frame-navigate', 'will-redirect'])('%s to a remote origin is prevented', (event) => {
    const { emit } = guarded();
    expect(emit(event, 'https://evil.example/')).toHaveBeenCalledOnce();
    expect(emit(event, 'file:///etc/passwd')).toHaveBeenCalledOnce();
    expect(emit(event, 'vigil://dicom/instances/1.2.3')).toHaveBeenCalledOnce();
    expect(emit(event, 'vigil://app.evil.example/index.html')).toHaveBeenCalledOnce();
  });

  it('allows navigation within the app origin', () => {
    const { emit } = guarded();
    expect(emit('will-navigate', 'vigil://app/index.html')).not.toHaveBeenCalled();
  });

  it('denies window.open and webviews', () => {
    const { openWindow, emit } = guarded();
    expect(openWindow('https://evil.example/')).toEqual({ action: 'deny' });
    expect(openWindow('vigil://app/index.html')).toEqual({ action: 'deny' });
    expect(emit('will-attach-webview', 'https://evil.example/')).toHaveBeenCalledOnce();
  });
});

describe('isAppUrl', () => {
  it('accepts only vigil://app/ URLs', () => {
    expect(isAppUrl('vigil://app/index.html')).toBe(true);
    expect(isAppUrl('vigil://app')).toBe(false);
    expect(isAppUrl('vigil://app.evil/')).toBe(false);
    expect(isAppUrl('vigil://app@evil/')).toBe(false);
    expect(isAppUrl('https://app/')).toBe(false);
    expect(isAppUrl('')).toBe(false);
    expect(isAppUrl(undefined)).toBe(false);
  });
});

describe('denyAllPermissions', () => {
  it('refuses every permission request, check and device', () => {
    const session = {
      setPermissionRequestHandler: vi.fn(),
      setPermissionCheckHandler: vi.fn(),
      setDevicePermissionHandler: vi.fn(),
    };
    denyAllPermissions(session as unknown as Parameters<typeof denyAllPermissions>[0]);

    const request = session.setPermissionRequestHandler.mock.calls[0]?.[0] as (wc: unknown, p: string, cb: (ok: boolean) => void) => void;
    for (const permission of ['media', 'notifications', 'geolocation', 'openExternal']) {
      const callback = vi.fn();
      request({}, permission, callback);
      expect(callback).toHaveBeenCalledWith(false);
    }
    const check = session.setPermissionCheckHandler.mock.calls[0]?.[0] as (...args: unknown[]) => boolean;
    expect(check(null, 'media', 'vigil://app', {})).toBe(false);
    const device = session.setDevicePermissionHandler.mock.calls[0]?.[0] as (...args: unknown[]) => boolean;
    expect(device({ deviceType: 'usb' })).toBe(false);
  });
});
