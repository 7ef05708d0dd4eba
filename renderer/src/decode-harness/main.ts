/**
 * Decode harness (test/benchmark page, `decode-harness.html`): decodes DICOM
 * instances through the viewer's own Cornerstone set-up (initCornerstone: the
 * dicom-image-loader with its web workers and WASM codecs) and hands the
 * loader's output to the test driver. Not linked from the app.
 *
 *   window.harnessReady                  Promise<{ rendering }>, after Cornerstone init
 *   window.decodeForTest(url, frame, o)  the loader's pixels for one frame (see DecodeResult)
 *   window.benchStack(urls, o)           first image + stack scroll timings in a plain StackViewport
 *   window.benchDecode(url, frame, n, o) decode ms per frame (loader, no rendering)
 */
import { Enums, type RenderingEngine, cache, imageLoader, metaData, type StackViewport, type Types } from '@cornerstonejs/core';
import { wadouri } from '@cornerstonejs/dicom-image-loader';
import { initCornerstone, usesNaturalizedLoader } from '../viewer/cornerstone/init-cornerstone';
import { createRenderingEngine, multisamplingOff } from '../viewer/cornerstone/rendering-engine';
import type { DecodeFailure, DecodeResult } from './decode-result';

export interface DecodeOptions {
  /** Let the loader apply the modality LUT (rescale slope/intercept), as the viewer does. Default false: stored values. */
  preScale?: boolean;
}

function toBase64(view: ArrayBufferView): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

function absolute(url: string): string {
  return new URL(url, window.location.href).href;
}

/** wadouri image id for frame `frame` (0-based) of the instance at `url`. */
export function imageIdFor(url: string, frame = 0): string {
  const abs = absolute(url);
  return `wadouri:${abs}${abs.includes('?') ? '&' : '?'}frame=${frame + 1}`;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null) {
    const inner = (err as { error?: unknown }).error;
    if (inner !== undefined && inner !== err) return errorText(inner);
    try {
      return JSON.stringify(err);
    } catch {
      return String(err);
    }
  }
  return String(err);
}

async function decodeForTest(url: string, frame = 0, options: DecodeOptions = {}): Promise<DecodeResult | DecodeFailure> {
  const imageId = imageIdFor(url, frame);
  const started = performance.now();
  try {
    const loadOptions = { ignoreCache: true, priority: 0, requestType: Enums.RequestType.Interaction, preScale: { enabled: options.preScale ?? false } };
    const image = (await imageLoader.loadImage(imageId, loadOptions as never)) as Types.IImage;
    const decodeMs = performance.now() - started;
    const pixels = image.getPixelData() as unknown as ArrayLike<number> & ArrayBufferView;
    const pixelModule = (metaData.get('imagePixelModule', imageId) ?? {}) as Record<string, unknown>;
    const rows = image.rows;
    const columns = image.columns;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return {
      ok: true,
      imageId,
      rows,
      columns,
      samplesPerPixel: Number(pixelModule.samplesPerPixel ?? 1),
      components: pixels.length / (rows * columns),
      photometric: String(pixelModule.photometricInterpretation ?? ''),
      bitsAllocated: Number(pixelModule.bitsAllocated ?? 0),
      pixelRepresentation: Number(pixelModule.pixelRepresentation ?? 0),
      dataType: pixels.constructor.name,
      pixelDataBase64: toBase64(pixels),
      minMax: { min, max },
      preScaled: Boolean(image.preScale?.scaled),
      slope: image.slope,
      intercept: image.intercept,
      color: image.color,
      decodeMs,
    };
  } catch (err) {
    return { ok: false, imageId, error: errorText(err) };
  }
}

export interface BenchDecodeOptions {
  /**
   * Frames in the instance. With 1, the image id is the one the viewer uses for a
   * single-frame instance (no `frame=`, viewer-engine.ts framesFor), so the timing
   * covers the metadata path the viewer takes, not the multi-frame one. That id is
   * loaded through the registered wadouri loader itself: core's loadImage would
   * fire IMAGE_LOADED, and the viewer's dataset trimmer (init-cornerstone.ts) would
   * drop the file's pixel bytes after the first decode. Default: the `frame=` id.
   */
  frames?: number;
  /**
   * Untimed decodes first (default 10): the steady state of a worker that has
   * decoded a few frames (JIT-compiled decode and post-processing), as when a
   * series loads; the first ~10 decodes of a fresh worker run ~30 % slower.
   */
  warmup?: number;
}

/** Decode time per frame through the loader (workers + codecs), `repeat` times, bytes already fetched once. */
async function benchDecode(url: string, frame = 0, repeat = 10, bench: BenchDecodeOptions = {}): Promise<{ msPerFrame: number; samples: number[]; imageId: string } | DecodeFailure> {
  const singleFrame = bench.frames === 1;
  const imageId = singleFrame ? `wadouri:${absolute(url)}` : imageIdFor(url, frame);
  const options = { ignoreCache: true, priority: 0, requestType: Enums.RequestType.Interaction };
  const load = singleFrame
    ? (id: string) => (usesNaturalizedLoader() ? wadouri.loadImageFromNaturalizedMetadata(id, options as never) : wadouri.loadImage(id, options as never)).promise
    : (id: string) => imageLoader.loadImage(id, options as never);
  try {
    await load(imageId); // fetch + parse once (dataset cached by the loader)
    for (let i = 1; i < (bench.warmup ?? 10); i++) await load(imageId);
    const samples: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      await load(imageId);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return { msPerFrame: samples[Math.floor(samples.length / 2)]!, samples, imageId };
  } catch (err) {
    return { ok: false, imageId, error: errorText(err) };
  }
}

export interface StackBenchResult {
  rendering: 'gpu' | 'cpu';
  images: number;
  /** loadAndCache + first IMAGE_RENDERED of image 0, from setStack. */
  firstImageMs: number;
  /** ms to load (fetch + decode) every image into the cache. */
  preloadMs: number;
  /** Cached scroll: images rendered per second over `scrolled` steps. */
  scrollImagesPerSecond: number;
  scrolled: number;
  jsHeapMB: number | null;
  /** WebGL contexts without MSAA (null with CPU rendering). */
  multisamplingOff: boolean | null;
}

let engine: RenderingEngine | null = null;

function waitRendered(element: HTMLElement, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, done);
      reject(new Error('IMAGE_RENDERED did not fire'));
    }, timeoutMs);
    function done(): void {
      clearTimeout(timer);
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, done);
      resolve();
    }
    element.addEventListener(Enums.Events.IMAGE_RENDERED, done);
  });
}

function heapMB(): number | null {
  const memory = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
  return memory ? memory.usedJSHeapSize / (1024 * 1024) : null;
}

/**
 * First image and stack scroll in a plain Cornerstone StackViewport (512x512).
 * Scroll: every image is loaded into the cache first, then `scrollSteps` index
 * changes are each awaited until rendered.
 */
async function benchStack(urls: string[], options: { scrollSteps?: number; preload?: boolean } = {}): Promise<StackBenchResult> {
  const { rendering } = await initCornerstone();
  const element = document.getElementById('viewport') as HTMLDivElement;
  engine?.destroy();
  cache.purgeCache();
  engine = createRenderingEngine('vigil-harness');
  engine.enableElement({ viewportId: 'stack', type: Enums.ViewportType.STACK, element });
  const vp = engine.getViewport('stack') as StackViewport;
  const imageIds = urls.map((u) => imageIdFor(u, 0));

  const t0 = performance.now();
  const first = waitRendered(element, 30_000);
  await vp.setStack(imageIds, 0);
  vp.render();
  await first;
  const firstImageMs = performance.now() - t0;

  let preloadMs = 0;
  if (options.preload !== false) {
    const p0 = performance.now();
    await Promise.all(imageIds.map((id) => imageLoader.loadAndCacheImage(id, { priority: 0, requestType: Enums.RequestType.Prefetch } as never)));
    preloadMs = performance.now() - p0;
  }

  const steps = options.scrollSteps ?? imageIds.length * 2;
  let index = 0;
  let direction = 1;
  const s0 = performance.now();
  for (let i = 0; i < steps; i++) {
    if (index + direction < 0 || index + direction >= imageIds.length) direction = -direction;
    index += direction;
    const rendered = waitRendered(element);
    await vp.setImageIdIndex(index);
    await rendered;
  }
  const elapsed = performance.now() - s0;
  return {
    rendering,
    images: imageIds.length,
    firstImageMs,
    preloadMs,
    scrollImagesPerSecond: (steps / elapsed) * 1000,
    scrolled: steps,
    jsHeapMB: heapMB(),
    multisamplingOff: multisamplingOff(engine),
  };
}

declare global {
  interface Window {
    harnessReady: Promise<{ rendering: 'gpu' | 'cpu' }>;
    decodeForTest: typeof decodeForTest;
    benchDecode: typeof benchDecode;
    benchStack: typeof benchStack;
  }
}

window.decodeForTest = decodeForTest;
window.benchDecode = benchDecode;
window.benchStack = benchStack;
window.harnessReady = initCornerstone().then(
  (result) => {
    document.getElementById('status')!.textContent = `ready (${result.rendering})`;
    return result;
  },
  (err: unknown) => {
    document.getElementById('status')!.textContent = `init failed: ${errorText(err)}`;
    throw err;
  },
);
