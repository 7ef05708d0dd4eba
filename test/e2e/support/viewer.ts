/**
 * Viewer E2E helpers: import by reference through the bridge, open
 * `#/study/<uid>`, wait for Cornerstone to render, read canvas pixels.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import type { AnalysisResult } from '../../../contract/ipc-contract';
import { type RunningBridge, sharedData } from './vigil-bridge';

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: { location: { hash: string }; __vigilImageToCanvas?: (slot: number, col: number, row: number) => [number, number] | null };
declare const document: { querySelector(selector: string): BrowserElement | null; body: { textContent: string | null } };
interface BrowserElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  querySelector(selector: string): BrowserElement | null;
}

export const corpus = (rel: string): string => join(sharedData, rel);

/** The shared corpus file/folder, or null (and a loud warning) when it is absent. */
export function corpusOrSkip(rel: string): string | null {
  const p = corpus(rel);
  if (existsSync(p)) return p;
  console.warn(`[e2e] SKIPPED: shared corpus path missing: ${p}`);
  return null;
}

interface StudyRow {
  studyInstanceUid: string;
  modalities: string[];
  description: string;
  instanceCount: number;
}

/** Imports paths by reference (no copy) and returns the studies now in the library. */
export async function importByReference(bridge: RunningBridge, paths: string[]): Promise<StudyRow[]> {
  const r = await bridge.invoke<{ imported: number; rejected: unknown[] }>('library.import', { paths, storageMode: 'reference' });
  if (!r.ok) throw new Error(`import failed: ${r.error.message}`);
  return listStudies(bridge);
}

export async function listStudies(bridge: RunningBridge): Promise<StudyRow[]> {
  const list = await bridge.invoke<{ studies: StudyRow[] }>('library.listStudies', { limit: 1000 });
  if (!list.ok) throw new Error(`listStudies failed: ${list.error.message}`);
  return list.value.studies;
}

export async function openStudy(page: Page, studyInstanceUid: string, seriesUid?: string): Promise<void> {
  const hash = `#/study/${encodeURIComponent(studyInstanceUid)}${seriesUid ? `?series=${encodeURIComponent(seriesUid)}` : ''}`;
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
  await page.getByTestId('viewer').waitFor({ timeout: 30_000 });
}

const pane = (slot: number) => `[data-testid="viewport-pane"][data-slot="${slot}"]`;

/** Waits until the viewport in `slot` rendered at least `min` times in total. */
export async function waitForRender(page: Page, slot = 0, min = 1, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ({ sel, min: m }) => {
      const el = document.querySelector(`${sel} [data-testid="viewport"]`);
      const err = document.querySelector(`${sel} [data-testid="viewport-error"]`);
      if (err) throw new Error(`viewport error: ${err.textContent}`);
      return Number(el?.dataset.rendered ?? '0') >= m;
    },
    { sel: pane(slot), min },
    { timeout, polling: 50 },
  );
}

export async function renderCount(page: Page, slot = 0): Promise<number> {
  return page.$eval(`${pane(slot)} [data-testid="viewport"]`, (el) => Number((el as unknown as BrowserElement).dataset.rendered ?? '0'));
}

export interface CanvasStats {
  width: number;
  height: number;
  mean: number;
  std: number;
  distinct: number;
  /** Mean of |R-G| + |G-B| per pixel: 0 for grey images. */
  chroma: number;
  /** A cheap content hash to tell two frames apart. */
  hash: number;
}

/** Statistics of the pixels on the viewport canvas (the drawn image, not the overlay). */
export async function canvasStats(page: Page, slot = 0): Promise<CanvasStats> {
  return page.$eval(`${pane(slot)} [data-testid="viewport"]`, (el) => {
    const canvas = el.querySelector('canvas');
    if (!canvas) throw new Error('no canvas in the viewport');
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('viewport canvas has no 2d context');
    const { width, height } = canvas;
    const data = ctx.getImageData(0, 0, width, height).data;
    let sum = 0;
    let sum2 = 0;
    let chroma = 0;
    let hash = 2166136261;
    const seen = new Set<number>();
    const n = width * height;
    for (let i = 0; i < data.length; i += 4) {
      const r = data[i]!;
      const g = data[i + 1]!;
      const b = data[i + 2]!;
      const y = (r + g + b) / 3;
      sum += y;
      sum2 += y * y;
      chroma += Math.abs(r - g) + Math.abs(g - b);
      seen.add((r << 16) | (g << 8) | b);
      if ((i & 63) === 0) hash = Math.imul(hash ^ (r + g * 7 + b * 13), 16777619) >>> 0;
    }
    const mean = sum / n;
    return { width, height, mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), distinct: seen.size, chroma: chroma / n, hash };
  });
}

export async function overlayImageText(page: Page, slot = 0): Promise<string> {
  return (await page.locator(`${pane(slot)} [data-testid="overlay-image"]`).textContent()) ?? '';
}

/** "Im 3 / 112" → { index: 3, count: 112 }. */
export async function overlayImage(page: Page, slot = 0): Promise<{ index: number; count: number }> {
  const text = await overlayImageText(page, slot);
  const m = /Im (\d+) \/ (\d+)/.exec(text);
  if (!m) throw new Error(`unexpected overlay text: ${text}`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export async function viewportBox(page: Page, slot = 0): Promise<{ x: number; y: number; width: number; height: number }> {
  const box = await page.locator(`${pane(slot)} [data-testid="viewport"]`).boundingBox();
  if (!box) throw new Error('viewport not visible');
  return box;
}

/** Moves the mouse over the viewport centre (so the wheel and keys go to it). */
export async function hoverViewport(page: Page, slot = 0): Promise<void> {
  const b = await viewportBox(page, slot);
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
}

/** Canvas CSS position (relative to the viewport) of an image pixel centre, from Cornerstone's geometry (ViewerPage's test hook). */
export async function imageToCanvas(page: Page, slot: number, col: number, row: number): Promise<{ x: number; y: number }> {
  // The hook answers null until the slot's image data exists (with CPU rendering that can trail the render event).
  const handle = await page.waitForFunction(([s, c, r]) => window.__vigilImageToCanvas?.(s!, c!, r!) ?? null, [slot, col, row], { timeout: 10_000 }).catch(() => null);
  const p = handle ? ((await handle.jsonValue()) as [number, number] | null) : null;
  if (!p) throw new Error('the viewer has no displayed image in that slot (or no __vigilImageToCanvas hook)');
  return { x: p[0], y: p[1] };
}

/** Page position (for the mouse) of an image pixel centre in a slot. */
export async function imageToPage(page: Page, slot: number, col: number, row: number): Promise<{ x: number; y: number }> {
  const p = await imageToCanvas(page, slot, col, row);
  const b = await viewportBox(page, slot);
  return { x: b.x + p.x, y: b.y + p.y };
}

export interface BrightRegion {
  /** Centroid, CSS px relative to the viewport. */
  readonly x: number;
  readonly y: number;
  /** Canvas pixels at or above the threshold. */
  readonly count: number;
}

/** Centroid of the canvas pixels whose grey value ((R+G+B)/3) is at least `threshold`. */
export async function brightRegion(page: Page, slot = 0, threshold = 200): Promise<BrightRegion> {
  return page.$eval(
    `${pane(slot)} [data-testid="viewport"]`,
    (el, t) => {
      const canvas = el.querySelector('canvas');
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx) throw new Error('no 2d canvas in the viewport');
      const { width, height } = canvas;
      const data = ctx.getImageData(0, 0, width, height).data;
      let sx = 0;
      let sy = 0;
      let count = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 4;
          if ((data[i]! + data[i + 1]! + data[i + 2]!) / 3 >= t) {
            sx += x + 0.5;
            sy += y + 0.5;
            count++;
          }
        }
      }
      const ratio = width / (canvas.clientWidth || width);
      return { x: count ? sx / count / ratio : NaN, y: count ? sy / count / ratio : NaN, count };
    },
    threshold,
  );
}

/** Mean grey value (0–255) of the canvas in a 5×5 block around a CSS point relative to the viewport. */
export async function greyAt(page: Page, slot: number, at: { x: number; y: number }): Promise<number> {
  return page.$eval(
    `${pane(slot)} [data-testid="viewport"]`,
    (el, p) => {
      const canvas = el.querySelector('canvas');
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx) throw new Error('no 2d canvas in the viewport');
      const ratio = canvas.width / (canvas.clientWidth || canvas.width);
      const cx = Math.round(p.x * ratio);
      const cy = Math.round(p.y * ratio);
      const data = ctx.getImageData(cx - 2, cy - 2, 5, 5).data;
      let sum = 0;
      for (let i = 0; i < data.length; i += 4) sum += (data[i]! + data[i + 1]! + data[i + 2]!) / 3;
      return sum / 25;
    },
    at,
  );
}

/** RGBA of a slot's AI overlay canvas (heatmaps, label maps, boxes) at a CSS position relative to the viewport. */
export async function aiOverlayPixel(page: Page, at: { x: number; y: number }, slot = 0): Promise<[number, number, number, number]> {
  return page.$eval(
    `${pane(slot)} [data-testid="ai-overlay-canvas"]`,
    (el, p) => {
      const c = el as unknown as { width: number; clientWidth: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
      const s = c.width / c.clientWidth;
      const d = c.getContext('2d').getImageData(Math.floor(p.x * s), Math.floor(p.y * s), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!, d[3]!] as [number, number, number, number];
    },
    at,
  );
}

/** A result's array file (mask, heatmap) through the bridge's /results route: the same bytes the renderer fetches, unzipped. */
export async function resultArray(bridge: RunningBridge, resultId: number, file: string): Promise<Buffer> {
  const res = await fetch(`${bridge.base}results/${resultId}/${encodeURIComponent(file)}?token=${bridge.token}`);
  if (res.status !== 200) throw new Error(`GET results/${resultId}/${file}: HTTP ${res.status}`);
  return gunzipSync(Buffer.from(await res.arrayBuffer()));
}

/** A stored float32 result array (a heatmap), its values. */
export async function heatmapValues(bridge: RunningBridge, resultId: number, file: string): Promise<Float32Array> {
  const bytes = await resultArray(bridge, resultId, file);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** The study's analysis results, as analysis.results lists them. */
export async function studyResults(bridge: RunningBridge, studyInstanceUid: string): Promise<AnalysisResult[]> {
  const r = await bridge.invoke<{ results: AnalysisResult[] }>('analysis.results', { studyInstanceUid });
  if (!r.ok) throw new Error(r.error.message);
  return r.value.results;
}

/** The study's first listed result of the model (undefined: none). */
export async function modelResult(bridge: RunningBridge, studyInstanceUid: string, modelId: string): Promise<AnalysisResult | undefined> {
  return (await studyResults(bridge, studyInstanceUid)).find((r) => r.modelId === modelId);
}

/**
 * Runs a model on the study on CPU, as a reader who vouches for what its files do not record (e.g. Body Part
 * Examined), opens the study and waits until the findings panel shows the run done; returns its stored result.
 */
export async function runModelAndOpen(bridge: RunningBridge, page: Page, studyInstanceUid: string, modelId: string): Promise<AnalysisResult> {
  const run = await bridge.invoke<{ queued: unknown[] }>('analysis.run', { studyInstanceUid, modelId, provider: 'cpu', vouchForUnrecorded: true });
  if (!run.ok) throw new Error(run.error.message);
  await openStudy(page, studyInstanceUid);
  await waitForRender(page);
  await page.waitForSelector(`[data-testid="finding-run"][data-model-id="${modelId}"][data-status="done"]`, { timeout: 120_000 });
  const result = await modelResult(bridge, studyInstanceUid, modelId);
  if (!result) throw new Error(`${modelId} left no result for ${studyInstanceUid}`);
  return result;
}
