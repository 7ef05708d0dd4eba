/**
 * Cornerstone3D initialisation, once per page: core, tools, the DICOM image
 * loader (decoding in web workers with the locally bundled WASM codecs) and
 * the image cache size. GPU (WebGL) rendering when it works, CPU rendering
 * otherwise — or when forced by the `vigil.viewer.rendering` setting / the
 * `?rendering=cpu` query parameter (tests, troubleshooting).
 *
 * Reused by every page that shows pixels (the viewer, the decode harness).
 */
import {
  cache,
  getRenderingCapabilities,
  getShouldUseCPURendering,
  init as initCore,
  setUseCPURendering,
} from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import {
  AngleTool,
  EllipticalROITool,
  LengthTool,
  PanTool,
  PlanarRotateTool,
  RectangleROITool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as initTools,
} from '@cornerstonejs/tools';

export type RenderingMode = 'gpu' | 'cpu';

export interface CornerstoneInitResult {
  readonly rendering: RenderingMode;
}

/** Settings keys (localStorage) the viewer reads. */
export const VIEWER_SETTINGS = {
  cacheMegabytes: 'vigil.viewer.cacheMB',
  rendering: 'vigil.viewer.rendering',
} as const;

/** Default bounded image cache: leaves the renderer well under 2 GB. */
export const DEFAULT_CACHE_MB = 768;
const MIN_CACHE_MB = 64;
const MAX_CACHE_MB = 4096;

function readSetting(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** The image cache size in bytes, from the setting (clamped) or the default. */
export function cacheSizeBytes(): number {
  const raw = Number(readSetting(VIEWER_SETTINGS.cacheMegabytes));
  const mb = Number.isFinite(raw) && raw > 0 ? Math.min(MAX_CACHE_MB, Math.max(MIN_CACHE_MB, raw)) : DEFAULT_CACHE_MB;
  return Math.round(mb * 1024 * 1024);
}

export function setCacheSizeMegabytes(mb: number): void {
  try {
    window.localStorage.setItem(VIEWER_SETTINGS.cacheMegabytes, String(mb));
  } catch {
    /* private mode: keep the default */
  }
  cache.setMaxCacheSize(cacheSizeBytes());
}

function forcedCpu(): boolean {
  const query = new URLSearchParams(window.location.search).get('rendering');
  return query === 'cpu' || readSetting(VIEWER_SETTINGS.rendering) === 'cpu';
}

/** Whether a WebGL2 (or WebGL) context can actually be created here. */
function webglWorks(): boolean {
  try {
    const canvas = document.createElement('canvas');
    const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
    if (!gl) return false;
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return true;
  } catch {
    return false;
  }
}

let pending: Promise<CornerstoneInitResult> | null = null;

export function initCornerstone(): Promise<CornerstoneInitResult> {
  pending ??= doInit();
  return pending;
}

async function doInit(): Promise<CornerstoneInitResult> {
  initCore();
  const capabilities = getRenderingCapabilities();
  if (forcedCpu() || !capabilities.webgl || !webglWorks()) setUseCPURendering(true, false);

  const workers = Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));
  initLoader({ maxWebWorkers: workers });
  initTools();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, PlanarRotateTool, LengthTool, AngleTool, RectangleROITool, EllipticalROITool]) {
    addTool(tool);
  }
  cache.setMaxCacheSize(cacheSizeBytes());
  return { rendering: getShouldUseCPURendering() ? 'cpu' : 'gpu' };
}
