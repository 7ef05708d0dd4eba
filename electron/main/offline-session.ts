/**
 * Zero network egress from the session, beyond what the renderer's CSP and the
 * navigation guard already refuse: no spellchecker dictionary downloads, and
 * every request to a network scheme cancelled. The app itself loads only from
 * vigil:// (and the main process reads files directly), so nothing it needs
 * matches these filters.
 */
import type { CallbackResponse, OnBeforeRequestListenerDetails, Session, WebRequestFilter } from 'electron';

/** The spellchecker methods are absent from Electron builds without the builtin spellchecker. */
type SpellCheckerSession = Partial<Pick<Session, 'setSpellCheckerEnabled' | 'setSpellCheckerDictionaryDownloadURL'>>;

/**
 * Loopback discard port: if a dictionary download were ever attempted it would
 * go nowhere (and the request blocker cancels it anyway).
 */
export const NOWHERE_DICTIONARY_URL = 'http://127.0.0.1:9/';

/**
 * Turns the builtin spellchecker off for the whole session: `spellcheck: false`
 * per window does not stop Electron on Windows/Linux fetching Hunspell
 * dictionaries from Google's CDN.
 */
export function disableSpellChecker(session: SpellCheckerSession): void {
  session.setSpellCheckerEnabled?.(false);
  session.setSpellCheckerDictionaryDownloadURL?.(NOWHERE_DICTIONARY_URL);
}

/** Match patterns for every network scheme Chromium can request. vigil:, file:, data: and blob: stay untouched. */
export const NETWORK_URL_PATTERNS: readonly string[] = ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*'];

type RequestListener = (details: OnBeforeRequestListenerDetails, callback: (response: CallbackResponse) => void) => void;
/** The filtered form of Session.webRequest.onBeforeRequest (one listener per session: this one). */
type RequestSession = { readonly webRequest: { onBeforeRequest(filter: WebRequestFilter, listener: RequestListener): void } };

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url.slice(0, url.indexOf(':') + 1) || 'unparsable URL';
  }
}

/** Cancels every network request of the session; logs each blocked origin once (the URL only, nothing else of the request). */
export function blockNetworkRequests(session: RequestSession, log: (msg: string) => void): void {
  const loggedOrigins = new Set<string>();
  session.webRequest.onBeforeRequest({ urls: [...NETWORK_URL_PATTERNS] }, (details, callback) => {
    const origin = originOf(details.url);
    if (!loggedOrigins.has(origin)) {
      loggedOrigins.add(origin);
      log(`[vigil] blocked a network request to ${details.url} (further requests to ${origin} are blocked without logging)`);
    }
    callback({ cancel: true });
  });
}
