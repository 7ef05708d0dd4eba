import type { CallbackResponse, OnBeforeRequestListenerDetails, WebRequestFilter } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { NETWORK_URL_PATTERNS, NOWHERE_DICTIONARY_URL, blockNetworkRequests, disableSpellChecker } from '../../electron/main/offline-session';

type Listener = (details: OnBeforeRequestListenerDetails, callback: (response: CallbackResponse) => void) => void;

function requestSession() {
  const onBeforeRequest = vi.fn((_filter: WebRequestFilter, _listener: Listener) => {});
  return { session: { webRequest: { onBeforeRequest } }, onBeforeRequest };
}

function registered(onBeforeRequest: ReturnType<typeof requestSession>['onBeforeRequest']): { filter: WebRequestFilter; listener: Listener } {
  const call = onBeforeRequest.mock.calls[0];
  if (!call) throw new Error('no onBeforeRequest listener');
  return { filter: call[0], listener: call[1] };
}

const request = (url: string) => ({ url }) as OnBeforeRequestListenerDetails;

describe('disableSpellChecker', () => {
  it('turns the spellchecker off and points dictionary downloads at a loopback discard port', () => {
    const session = { setSpellCheckerEnabled: vi.fn(), setSpellCheckerDictionaryDownloadURL: vi.fn() };
    disableSpellChecker(session);
    expect(session.setSpellCheckerEnabled).toHaveBeenCalledWith(false);
    expect(session.setSpellCheckerDictionaryDownloadURL).toHaveBeenCalledWith(NOWHERE_DICTIONARY_URL);
    expect(new URL(NOWHERE_DICTIONARY_URL).hostname).toBe('127.0.0.1');
  });

  it('does nothing where the build has no builtin spellchecker', () => {
    expect(() => disableSpellChecker({})).not.toThrow();
  });
});

describe('blockNetworkRequests', () => {
  it('filters every network scheme, and neither vigil: nor file:', () => {
    const { session, onBeforeRequest } = requestSession();
    blockNetworkRequests(session, () => {});
    const { filter } = registered(onBeforeRequest);
    expect(filter.urls).toEqual(['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*']);
    expect(filter.urls).toEqual([...NETWORK_URL_PATTERNS]);
    // No types restriction: every request kind (xhr, webSocket, image, ...) is covered.
    expect(filter.types).toBeUndefined();
    const schemes = filter.urls.map((pattern) => pattern.slice(0, pattern.indexOf(':')));
    expect(schemes).not.toContain('vigil');
    expect(schemes).not.toContain('file');
    expect(schemes).not.toContain('*');
  });

  it('cancels each request and logs an origin only the first time', () => {
    const { session, onBeforeRequest } = requestSession();
    const log = vi.fn((_msg: string) => {});
    blockNetworkRequests(session, log);
    const { listener } = registered(onBeforeRequest);
    const urls = ['https://redirector.gvt1.com/edgedl/chrome/dict/en-us-10-1.bdic', 'https://redirector.gvt1.com/other', 'ws://127.0.0.1:9229/x', 'http://example.org/'];
    for (const url of urls) {
      const callback = vi.fn((_response: CallbackResponse) => {});
      listener(request(url), callback);
      expect(callback).toHaveBeenCalledWith({ cancel: true });
    }
    expect(log.mock.calls.map(([msg]) => msg)).toEqual([
      expect.stringContaining('https://redirector.gvt1.com/edgedl/chrome/dict/en-us-10-1.bdic'),
      expect.stringContaining('ws://127.0.0.1:9229/x'),
      expect.stringContaining('http://example.org/'),
    ]);
  });
});
