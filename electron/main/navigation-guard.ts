import type { WebContents } from 'electron';
import { isAppUrl } from './app-urls';

type GuardedContents = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

interface PreventableNavigation {
  readonly url: string;
  preventDefault(): void;
}

function allowAppOnly(details: PreventableNavigation): void {
  if (!isAppUrl(details.url)) details.preventDefault();
}

/**
 * Keeps a webContents on the app origin: navigations and redirects anywhere
 * else are cancelled, new windows and webviews are refused.
 */
export function guardNavigation(contents: GuardedContents): void {
  contents.on('will-navigate', (details) => allowAppOnly(details));
  contents.on('will-frame-navigate', (details) => allowAppOnly(details));
  contents.on('will-redirect', (details) => allowAppOnly(details));
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}
