/**
 * Hash routing without a router dependency:
 *   #/                      the study browser
 *   #/study/<StudyUID>      the viewer (optionally ?series=<SeriesUID>)
 *   #/models                models, AI runtime and local validation
 */
import { useEffect, useState } from 'react';

export type Route =
  | { readonly name: 'browser' }
  | { readonly name: 'models' }
  | { readonly name: 'study'; readonly studyInstanceUid: string; readonly seriesInstanceUid?: string };

export const MODELS_HASH = '#/models';

export function parseRoute(hash: string): Route {
  if (hash === MODELS_HASH || hash === `${MODELS_HASH}/`) return { name: 'models' };
  const m = /^#\/study\/([^?/]+)(?:\?(.*))?$/.exec(hash);
  if (!m?.[1]) return { name: 'browser' };
  let studyInstanceUid: string;
  try {
    studyInstanceUid = decodeURIComponent(m[1]);
  } catch {
    return { name: 'browser' };
  }
  const series = new URLSearchParams(m[2] ?? '').get('series');
  return series ? { name: 'study', studyInstanceUid, seriesInstanceUid: series } : { name: 'study', studyInstanceUid };
}

export function studyHash(studyInstanceUid: string, seriesInstanceUid?: string): string {
  const base = `#/study/${encodeURIComponent(studyInstanceUid)}`;
  return seriesInstanceUid ? `${base}?series=${encodeURIComponent(seriesInstanceUid)}` : base;
}

export function openStudy(studyInstanceUid: string, seriesInstanceUid?: string): void {
  window.location.hash = studyHash(studyInstanceUid, seriesInstanceUid);
}

export function openModels(): void {
  window.location.hash = MODELS_HASH;
}

export function openBrowser(): void {
  window.location.hash = '#/';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
