/** Electron main entry (bundled to out/main/main.js). */
import { openVigilServices } from '../services/vigil-services';
import { startVigilApp } from './vigil-app';

startVigilApp({ bundleUrl: import.meta.url, openServices: openVigilServices });
