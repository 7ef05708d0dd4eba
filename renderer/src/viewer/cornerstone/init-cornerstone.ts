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
  Enums,
  eventTarget,
  getRenderingCapabilities,
  getShouldUseCPURendering,
  init as initCore,
  metaData,
  setUseCPURendering,
} from '@cornerstonejs/core';
import { init as initLoader, wadouri } from '@cornerstonejs/dicom-image-loader';
import {
  AngleTool,
  BrushTool,
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
import { installViewerDecodeWorkers, warmUpDecodeWorkers } from './decode-worker-registration';

export type RenderingMode = 'gpu' | 'cpu';

export interface CornerstoneInitResult {
  readonly rendering: RenderingMode;
}

/** Settings keys (localStorage) the viewer reads. */
export const VIEWER_SETTINGS = {
  cacheMegabytes: 'vigil.viewer.cacheMB',
  rendering: 'vigil.viewer.rendering',
  /** 'dataset' (default) or 'naturalized': which dicom-image-loader wadouri path to use. */
  loaderPath: 'vigil.viewer.loaderPath',
  /** 'vigil' (default) or 'stock': whose decode worker runs (decode-worker.ts or the loader's own; for A/B checks). */
  decodeWorker: 'vigil.viewer.decodeWorker',
} as const;

/** `?loader=naturalized` or the setting selects the loader's naturalized-metadata path (for A/B checks). */
export function usesNaturalizedLoader(): boolean {
  const query = new URLSearchParams(window.location.search).get('loader');
  return (query ?? readSetting(VIEWER_SETTINGS.loaderPath)) === 'naturalized';
}

/** `?decodeWorker=stock` or the setting keeps dicom-image-loader's own decode worker (for A/B checks and troubleshooting). */
function usesStockDecodeWorker(): boolean {
  const query = new URLSearchParams(window.location.search).get('decodeWorker');
  return (query ?? readSetting(VIEWER_SETTINGS.decodeWorker)) === 'stock';
}

/** Default bounded image cache (a setting); with bounded prefetch the renderer stays well under 2 GB on a 3,000-slice CT. */
export const DEFAULT_CACHE_MB = 512;
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

interface PlaneModule {
  rowPixelSpacing?: number | null;
  columnPixelSpacing?: number | null;
  pixelSpacing?: number[] | null;
  usingDefaultValues?: boolean;
}

const positive = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n > 0;

/**
 * ImagerPixelSpacing per image id, once its file has been read (null: it has none). Cornerstone asks for
 * imagePlaneModule many times per render, and the answer cannot change once the file is parsed.
 */
const imagerSpacingById = new Map<string, [number, number] | null>();

/** Whether measurements on this image are in mm at the detector (ImagerPixelSpacing), to be labelled as such. */
export function isCalibratedByImagerPixelSpacing(imageId: string): boolean {
  return Boolean(imagerSpacingById.get(imageId));
}

/** ImagerPixelSpacing (0018,1164) as [row, column] mm, from the parsed file (dataset or naturalized metadata). */
function imagerPixelSpacing(imageId: string): [number, number] | null {
  const known = imagerSpacingById.get(imageId);
  if (known !== undefined) return known;
  let raw: unknown;
  let fileRead = false;
  try {
    const { url } = wadouri.parseImageId(imageId);
    fileRead = wadouri.dataSetCacheManager.isLoaded(url);
    if (fileRead) raw = wadouri.dataSetCacheManager.get(url)?.string('x00181164');
  } catch {
    /* not a wadouri image id */
  }
  if (raw === undefined) raw = (metaData.get('instance', imageId) as { ImagerPixelSpacing?: unknown } | undefined)?.ImagerPixelSpacing;
  const values = (Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split('\\') : []).map(Number);
  const [row, column] = values;
  const spacing: [number, number] | null = positive(row) && positive(column) ? [row!, column!] : null;
  // A miss before the file is read is not an answer yet.
  if (spacing || fileRead) imagerSpacingById.set(imageId, spacing);
  return spacing;
}

/**
 * The image plane as measurements and the camera need it:
 * - no usable PixelSpacing but an ImagerPixelSpacing (projection radiographs):
 *   calibrate with it (mm at the detector; measurements say so);
 * - a zero or garbage PixelSpacing (e.g. "0\\0") would give the camera a
 *   degenerate scale (blank image, NaN zoom): treat it as no spacing (1 px =
 *   1 unit, flagged as default values so measurements say px).
 */
function installPlaneSanitizer(): void {
  let inside = false;
  metaData.addProvider((type: string, ...query: unknown[]) => {
    if (type !== 'imagePlaneModule' || inside) return undefined;
    inside = true;
    try {
      const plane = metaData.get(type, ...(query as [string])) as PlaneModule | undefined;
      if (!plane) return plane;
      const valid = positive(plane.rowPixelSpacing) && positive(plane.columnPixelSpacing);
      if (valid && !plane.usingDefaultValues) return plane;
      const imageId = typeof query[0] === 'string' ? query[0] : '';
      const imager = imageId ? imagerPixelSpacing(imageId) : null;
      if (imager) {
        return { ...plane, rowPixelSpacing: imager[0], columnPixelSpacing: imager[1], pixelSpacing: imager, usingDefaultValues: false };
      }
      if (valid) return plane;
      return { ...plane, rowPixelSpacing: 1, columnPixelSpacing: 1, pixelSpacing: [1, 1], usingDefaultValues: true };
    } finally {
      inside = false;
    }
  }, 100_000);
}

interface ParsedDataSet {
  byteArray: Uint8Array;
  elements: Record<string, { dataOffset: number; length: number } | undefined>;
}

/**
 * Once a single-frame image is decoded and cached, its parsed file keeps only
 * the header bytes (metadata stays available, the pixel bytes are released);
 * the loader fetches the file again if the image is evicted and needed later.
 * Without this every cached image costs its file size a second time.
 */
function installDatasetTrimmer(): void {
  eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, (evt: Event) => {
    const image = (evt as CustomEvent<{ image?: { imageId?: string; data?: ParsedDataSet } }>).detail?.image;
    const ds = image?.data;
    if (!ds?.byteArray || !ds.elements || /[?&]frame=/.test(image?.imageId ?? '')) return;
    const pixel = ds.elements.x7fe00010;
    if (!pixel || pixel.dataOffset <= 0 || pixel.dataOffset >= ds.byteArray.length) return;
    const cut = pixel.dataOffset;
    for (const [tag, el] of Object.entries(ds.elements)) if (el && el.dataOffset + Math.max(0, el.length) > cut) delete ds.elements[tag];
    ds.byteArray = ds.byteArray.slice(0, cut);
  });
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
  // The dataset-cache loader path releases each file's bytes once its image is
  // decoded (the naturalized-metadata path keeps every file's pixel data for
  // the page's lifetime: > 1.5 GB on a 3,000-slice CT). It also inflates
  // Deflated Explicit VR Little Endian files.
  const datasetPath = !usesNaturalizedLoader();
  // Our decode worker in place of the loader's (transfers instead of copies, faster JPEG lossless and RLE):
  // registered first, so the loader's init starts none of its own.
  if (!usesStockDecodeWorker()) installViewerDecodeWorkers(workers, datasetPath);
  initLoader({ maxWebWorkers: workers, useLegacyMetadataProvider: datasetPath });
  // Each worker's first task pays for loading its module and compiling the decode path: pay it now, off the
  // main thread, while the rest of init, the study list (preload-viewer.ts) or the study's metadata requests
  // run, not on the first image. Not awaited: init does not wait for the workers.
  void warmUpDecodeWorkers(workers);
  installPlaneSanitizer();
  installDatasetTrimmer();
  initTools();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, PlanarRotateTool, LengthTool, AngleTool, RectangleROITool, EllipticalROITool, BrushTool]) {
    addTool(tool);
  }
  cache.setMaxCacheSize(cacheSizeBytes());
  // Read-only memory figures for diagnostics and the large-series E2E test.
  (window as unknown as { __vigilViewerMemory?: () => unknown }).__vigilViewerMemory = () => ({
    imageCacheBytes: cache.getCacheSize(),
    imageCacheMaxBytes: cache.getMaxCacheSize(),
    datasets: wadouri.dataSetCacheManager.getInfo(),
  });
  return { rendering: getShouldUseCPURendering() ? 'cpu' : 'gpu' };
}
