/**
 * The `vigil:` scheme: the app's only origin. The renderer is served from
 * vigil://app/ and stored DICOM bytes from vigil://dicom/instances/<uid>.
 * Pure constants and URL checks, shared by main and the preload.
 */
export const APP_SCHEME = 'vigil';
export const APP_HOST = 'app';
export const DICOM_HOST = 'dicom';
export const RESULTS_HOST = 'results';
/** Origin of the renderer; also the only sender IPC accepts. */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;
export const DICOM_INSTANCES_PREFIX = `${APP_SCHEME}://${DICOM_HOST}/instances/`;

/** True only for URLs on the app origin (vigil://app/...). */
export function isAppUrl(url: unknown): boolean {
  if (typeof url !== 'string' || !url.startsWith(`${APP_ORIGIN}/`)) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

export function instanceUrlFor(sopInstanceUid: string): string {
  return `${DICOM_INSTANCES_PREFIX}${encodeURIComponent(sopInstanceUid)}`;
}

/** vigil://results/<resultId>/<file>: one array file (mask, heatmap; gzip) of an analysis result. */
export function resultUrlFor(resultId: number, file: string): string {
  return `${APP_SCHEME}://${RESULTS_HOST}/${encodeURIComponent(String(resultId))}/${encodeURIComponent(file)}`;
}
