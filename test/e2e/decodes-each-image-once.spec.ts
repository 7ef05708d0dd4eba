/**
 * Opening a study and scrolling through it decodes each image once: the
 * viewport's stack, the series thumbnails and the stack prefetch ask for the
 * same image ids by different routes (StackViewport load, the thumbnail
 * request pool, stackPrefetch), and all of them must share Cornerstone's
 * cached (or in-flight) image instead of posting a second decode task.
 *
 * Counted where the decoding happens: every `decodeTask` message posted to a
 * decode worker is recorded in the page (Worker.prototype.postMessage wrapped
 * by an init script; no hook in the app), with the image id the loader puts in
 * the task's frame. The viewer is opened the usual way, from the study list
 * after it has preloaded the viewer (the decode worker's warm-up task, which
 * carries no image id, shows that the preload ran).
 *
 * A generated three-series study covers the overlaps on a fresh clone: a
 * one-image series shown first (its thumbnail is the very image the viewport
 * shows) and a 24-slice series whose middle-slice thumbnail lies inside the
 * prefetch range; once with WebGL and once with CPU rendering (a different
 * viewport load route). The real 112-slice CT series (skipped loudly when
 * ../shared/data is absent) adds a long scroll against its prefetch.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { corpusOrSkip, hoverViewport, importByReference, overlayImage, waitForRender } from './support/viewer';
import { makeTempDir, openVigil, removeDir, screenshot, type VigilSession } from './support/vigil-bridge';

/** One decode task as the page posted it to a decode worker. */
interface DecodeTaskRecord {
  /** The frame's image id; null for the decode workers' warm-up task (a synthetic frame). */
  readonly imageId: string | null;
  /** The loader request type (interaction, thumbnail, prefetch) the task came from. */
  readonly requestType: string | null;
}

/** The page's record, filled by recordDecodeTasks. */
interface RecordingWindow {
  __vigilTestDecodeTasks?: DecodeTaskRecord[];
}

// Browser globals used inside page.evaluate callbacks (tests compile without the DOM lib).
declare const window: RecordingWindow;

/**
 * Runs in the page before any of its scripts (addInitScript): wraps Worker.prototype.postMessage and records
 * each comlink call of `decodeTask` (the dicom-image-loader worker API that Vigil's decode worker keeps).
 */
function recordDecodeTasks(): void {
  interface ComlinkCall {
    type?: unknown;
    path?: unknown;
    argumentList?: { value?: { imageFrame?: { imageId?: unknown }; options?: { requestType?: unknown } } }[];
  }
  const scope = globalThis as unknown as RecordingWindow & { Worker: { prototype: { postMessage: (...args: unknown[]) => void } } };
  const tasks: DecodeTaskRecord[] = [];
  scope.__vigilTestDecodeTasks = tasks;
  const post = scope.Worker.prototype.postMessage;
  scope.Worker.prototype.postMessage = function (this: unknown, ...args: unknown[]) {
    const call = args[0] as ComlinkCall | null;
    if (call && call.type === 'APPLY' && Array.isArray(call.path) && call.path[0] === 'decodeTask') {
      const task = call.argumentList?.[0]?.value;
      const imageId = task?.imageFrame?.imageId;
      const requestType = task?.options?.requestType;
      tasks.push({ imageId: typeof imageId === 'string' ? imageId : null, requestType: typeof requestType === 'string' ? requestType : null });
    }
    post.apply(this, args);
  };
}

async function decodeTasks(page: Page): Promise<DecodeTaskRecord[]> {
  return page.evaluate(() => window.__vigilTestDecodeTasks ?? []);
}

/** The SOP Instance UID in an image id on the bridge's instance URL (`wadouri:…/dicom/instances/<uid>?token=…[&frame=n]`). */
function sopOf(imageId: string): string {
  const m = /\/dicom\/instances\/([^?&]+)/.exec(imageId);
  return m?.[1] ? decodeURIComponent(m[1]) : '';
}

/** Decode tasks per image id (warm-up tasks left out). */
function countsById(tasks: readonly DecodeTaskRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tasks) if (t.imageId !== null) counts.set(t.imageId, (counts.get(t.imageId) ?? 0) + 1);
  return counts;
}

/** Image ids posted more than once, with their request types, for the failure message. */
function decodedMoreThanOnce(tasks: readonly DecodeTaskRecord[]): string[] {
  return [...countsById(tasks)]
    .filter(([, n]) => n > 1)
    .map(([id, n]) => `${id.replace(/[?&]token=[0-9a-f]+/, '')} ×${n} (${tasks.filter((t) => t.imageId === id).map((t) => t.requestType).join(', ')})`);
}

/** Waits until no decode task has been posted for `quietMs` (open, thumbnails and prefetch have settled). */
async function waitForDecodesToSettle(page: Page, quietMs = 1500, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = (await decodeTasks(page)).length;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    if (Date.now() > end) throw new Error(`decode tasks still being posted after ${timeoutMs} ms (${n} so far)`);
    await page.waitForTimeout(100);
  }
}

/** A fresh app page (the recorder starts empty), left on the study list until the list has preloaded the viewer. */
async function openListWithPreloadedViewer(session: VigilSession, query = ''): Promise<Page> {
  const { page } = session;
  await page.goto(`${session.bridge.url}${query}`);
  await page.getByTestId('study-table').waitFor({ timeout: 30_000 });
  // The warm-up task is posted by initCornerstone, one of the list's idle-time preload steps.
  await page.waitForFunction(() => (window.__vigilTestDecodeTasks ?? []).some((t) => t.imageId === null), null, { timeout: 60_000, polling: 100 });
  return page;
}

async function openFromList(page: Page, studyInstanceUid: string): Promise<void> {
  await page.locator(`[data-testid="study-row"][data-study-uid="${studyInstanceUid}"]`).dblclick();
  await page.getByTestId('viewer').waitFor({ timeout: 30_000 });
  await waitForRender(page);
}

/** Waits for the thumbnail images of the given series to be shown. */
async function waitForThumbnails(page: Page, seriesUids: readonly string[]): Promise<void> {
  for (const uid of seriesUids) await page.locator(`[data-testid="series-thumbnail"][data-series-uid="${uid}"] img`).waitFor({ timeout: 60_000 });
}

/** `steps` wheel notches over slot 0, each followed by a short pause (a reader's scroll, not a fling). */
async function wheelThrough(page: Page, steps: number, direction: 1 | -1, pauseMs = 60): Promise<void> {
  await hoverViewport(page);
  for (let i = 0; i < steps; i++) {
    await page.mouse.wheel(0, 120 * direction);
    await page.waitForTimeout(pauseMs);
  }
}

interface GeneratedStudy {
  readonly studyInstanceUid: string;
  readonly scoutSeriesUid: string;
  readonly axialSeriesUid: string;
  readonly reformatSeriesUid: string;
}

const AXIAL_SLICES = 24;

/** A CT study of three series: a one-image scout (series 1, shown first), 24 axial slices, 6 reformatted slices. */
function writeThreeSeriesStudy(dir: string, uidRoot: string): GeneratedStudy {
  const studyInstanceUid = uidRoot;
  const series = [
    { uid: `${uidRoot}.1`, number: 1, description: 'Scout', slices: 1 },
    { uid: `${uidRoot}.2`, number: 2, description: 'Axial 3mm', slices: AXIAL_SLICES },
    { uid: `${uidRoot}.3`, number: 3, description: 'Coronal MPR', slices: 6 },
  ];
  const side = 64;
  for (const s of series) {
    mkdirSync(join(dir, `S${s.number}`), { recursive: true });
    for (let i = 1; i <= s.slices; i++) {
      // Every slice its own pixels: a ramp shifted per series and slice.
      const pixels = Uint16Array.from({ length: side * side }, (_, p) => ((p % side) * 40 + Math.floor(p / side) * 7 + s.number * 300 + i * 90) % 4096);
      writeFileSync(
        join(dir, `S${s.number}`, `IM${i}.dcm`),
        syntheticDicom({
          rows: side,
          columns: side,
          pixels,
          patientName: 'Once^Decoded',
          patientId: `PID-${uidRoot.slice(-6)}`,
          studyInstanceUid,
          seriesInstanceUid: s.uid,
          sopInstanceUid: `${s.uid}.${i}`,
          seriesNumber: s.number,
          instanceNumber: i,
          seriesDescription: s.description,
          studyDescription: 'CT DECODE ONCE',
        }),
      );
    }
  }
  return { studyInstanceUid, scoutSeriesUid: series[0]!.uid, axialSeriesUid: series[1]!.uid, reformatSeriesUid: series[2]!.uid };
}

const CT = corpusOrSkip('series-derived/ct-totalseg-example');

describe('decoding each image once while a study opens and scrolls', () => {
  let session: VigilSession;
  let corpusDir = '';
  const studies: GeneratedStudy[] = [];

  beforeAll(async () => {
    session = await openVigil();
    // Runs in every document the page loads from now on (openListWithPreloadedViewer loads a fresh one).
    await session.page.context().addInitScript(recordDecodeTasks);
    corpusDir = makeTempDir('decode-once');
    // One study per rendering mode: thumbnails are stored once made, and each pass must make its own.
    studies.push(writeThreeSeriesStudy(join(corpusDir, 'gpu'), '1.2.826.0.1.3680043.10.1138.801'));
    studies.push(writeThreeSeriesStudy(join(corpusDir, 'cpu'), '1.2.826.0.1.3680043.10.1138.802'));
    await importByReference(session.bridge, [corpusDir]);
  });

  afterAll(async () => {
    await session?.close();
    if (corpusDir) removeDir(corpusDir);
  });

  for (const [index, rendering] of (['gpu', 'cpu'] as const).entries()) {
    it(`a three-series study (${rendering} rendering): open, thumbnails, series switch and scroll post each image id once`, async () => {
      const study = studies[index]!;
      const page = await openListWithPreloadedViewer(session, rendering === 'cpu' ? '&rendering=cpu' : '');
      await openFromList(page, study.studyInstanceUid);
      expect(await page.getByTestId('rendering-mode').textContent()).toMatch(rendering === 'cpu' ? /CPU/i : /GPU/i);
      await waitForThumbnails(page, [study.scoutSeriesUid, study.axialSeriesUid, study.reformatSeriesUid]);
      await waitForDecodesToSettle(page);
      const afterOpen = await decodeTasks(page);

      // The axial series in the viewport (its middle-slice thumbnail was already decoded), then a scroll.
      await page.locator(`[data-testid="series-thumbnail"][data-series-uid="${study.axialSeriesUid}"]`).click();
      await page.locator(`[data-testid="viewport"][data-series-uid="${study.axialSeriesUid}"]`).waitFor();
      await expect.poll(() => overlayImage(page).catch(() => null), { timeout: 15_000 }).toEqual({ index: 1, count: AXIAL_SLICES });
      await wheelThrough(page, 10, 1);
      await expect.poll(() => overlayImage(page), { timeout: 15_000 }).toEqual({ index: 11, count: AXIAL_SLICES });
      await wheelThrough(page, 4, -1);
      await expect.poll(() => overlayImage(page), { timeout: 15_000 }).toEqual({ index: 7, count: AXIAL_SLICES });
      await waitForDecodesToSettle(page);
      const tasks = await decodeTasks(page);
      await screenshot(page, `decode-once-three-series-${rendering}.png`);

      expect(decodedMoreThanOnce(tasks), 'image ids posted to a decode worker more than once').toEqual([]);
      const counts = countsById(tasks);
      // Not vacuous: the scout (viewport and thumbnail, same image id) was decoded, during the open...
      const openedSops = [...countsById(afterOpen).keys()].map(sopOf);
      expect(openedSops, 'SOP Instance UIDs decoded while the study opened').toContain(`${study.scoutSeriesUid}.1`);
      // ...and every axial slice the scroll showed (1 to 11) was decoded, once.
      const decodedSops = new Set([...counts.keys()].map(sopOf));
      for (let slice = 1; slice <= 11; slice++) expect(decodedSops, 'SOP Instance UIDs decoded by now').toContain(`${study.axialSeriesUid}.${slice}`);
      expect(session.pageErrors).toEqual([]);
    });
  }

  it.skipIf(!CT)('the 112-slice CT series: open, thumbnail, prefetch and a long scroll post each image id once', async () => {
    const ctStudies = await importByReference(session.bridge, [CT!]);
    const ct = ctStudies.find((s) => s.instanceCount === 112 && s.modalities.includes('CT'));
    expect(ct, 'the imported CT study').toBeDefined();
    const page = await openListWithPreloadedViewer(session);
    await openFromList(page, ct!.studyInstanceUid);
    const seriesUid = (await page.getByTestId('viewport').first().getAttribute('data-series-uid')) ?? '';
    await waitForThumbnails(page, [seriesUid]);
    await waitForDecodesToSettle(page);
    const afterOpen = countsById(await decodeTasks(page));

    await wheelThrough(page, 30, 1);
    await expect.poll(() => overlayImage(page), { timeout: 30_000 }).toEqual({ index: 31, count: 112 });
    await wheelThrough(page, 10, -1);
    await expect.poll(() => overlayImage(page), { timeout: 30_000 }).toEqual({ index: 21, count: 112 });
    await waitForDecodesToSettle(page);
    const tasks = await decodeTasks(page);
    await screenshot(page, 'decode-once-ct.png');

    expect(decodedMoreThanOnce(tasks), 'image ids posted to a decode worker more than once').toEqual([]);
    // Not vacuous: the open decoded the first slice, the thumbnail's middle slice and a prefetch window...
    expect(afterOpen.size).toBeGreaterThanOrEqual(10);
    // ...and by now every slice the scroll showed (1 to 31) has been decoded.
    expect(countsById(tasks).size).toBeGreaterThanOrEqual(32);
    expect(session.pageErrors).toEqual([]);
  });
});
