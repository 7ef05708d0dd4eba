/* global window, document, location, MutationObserver -- page.evaluate callbacks run in the page */
// `npm run bench -- viewer [--only first,scroll,decode,memory] [--scroll-steps N] [--decode-repeat N] [--slices N] [--decode-trace]`
//
// Viewer benchmarks in headless Chromium through the built bridge (out/node/bridge.js), each with WebGL
// (SwiftShader here) and with CPU rendering (WebGL removed: --disable-software-rasterizer) where it applies:
//
//  1. first image: the real viewer route. The app page (index.html) sets `#/study/<uid>` of a generated 512² CT
//     study and waits for its first IMAGE_RENDERED (study + instance list over IPC, lazy viewer chunk, Cornerstone
//     init on the first open, fetch + worker decode + render). "cold" = first study opened in a fresh page,
//     "warm" = the next studies (app running, images not cached) — target <= 300 ms;
//  2. stack scroll over the 256-slice MR series (../shared/data/series-derived/mr-brainchop-t1) in the decode
//     harness page (decode-harness.html: the viewer's initCornerstone + createRenderingEngine, a 512x512
//     StackViewport), all slices cached first, frame cap lifted (--disable-frame-rate-limit --disable-gpu-vsync),
//     each step awaited until rendered — target >= 60 images/s;
//  3. decode ms/frame per transfer syntax (dicom-syntax-matrix) in the loader (worker + WASM, warm, median of N)
//     beside the native dcmtk/gdcm tool on the same frame: per-frame time = (tool on a file holding the frame K
//     times - tool on the file holding it once) / (K - 1), so process start, file I/O and headers cancel out
//     — target ratio <= 2;
//  4. a generated 3,000-slice 512² CT walked end to end through the viewer route: peak renderer RSS (Linux /proc,
//     sampled every 100 ms) — target < 2 GB.
// Prints a table and writes test-artifacts/bench/viewer.json. The machine may be shared: compare the ratios.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = resolve(repoRoot, '../shared/data');
const ARTIFACT = join(repoRoot, 'test-artifacts/bench/viewer.json');
const CHROMIUM = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';
// VIGIL_RENDERER_DIR: another renderer build to serve (an A/B against out/renderer without rebuilding it).
const RENDERER_DIR = process.env.VIGIL_RENDERER_DIR ? resolve(process.env.VIGIL_RENDERER_DIR) : join(repoRoot, 'out/renderer');
const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-frame-rate-limit', '--disable-gpu-vsync'];
const MATRIX = join(SHARED, 'dicom-syntax-matrix/wadoloader');
const MR_SERIES = join(SHARED, 'series-derived/mr-brainchop-t1');

const NATIVE_TOOL = {
  '1.2.840.10008.1.2': ['dcmconv', '+te'],
  '1.2.840.10008.1.2.1': ['dcmconv', '+te'],
  '1.2.840.10008.1.2.2': ['dcmconv', '+te'],
  '1.2.840.10008.1.2.1.99': ['dcmconv', '+te'],
  '1.2.840.10008.1.2.4.50': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.51': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.53': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.55': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.57': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.70': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.80': ['dcmdjpls'],
  '1.2.840.10008.1.2.4.81': ['dcmdjpls'],
  '1.2.840.10008.1.2.5': ['dcmdrle'],
  '1.2.840.10008.1.2.4.90': ['gdcmconv', '--raw'],
  '1.2.840.10008.1.2.4.91': ['gdcmconv', '--raw'],
};

const SECTIONS = ['first', 'scroll', 'decode', 'memory'];

function parseArgs(args) {
  const opts = { scrollSteps: 512, decodeRepeat: 40, nativeRuns: 5, nativeFrames: 40, slices: 3000, only: new Set(SECTIONS), decodeTrace: false };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--scroll-steps') opts.scrollSteps = Number(args[++i]);
    else if (args[i] === '--decode-repeat') opts.decodeRepeat = Number(args[++i]);
    else if (args[i] === '--slices') opts.slices = Number(args[++i]);
    else if (args[i] === '--only') opts.only = new Set(String(args[++i]).split(','));
    else if (args[i] === '--decode-trace') opts.decodeTrace = true;
    else throw new Error(`unknown argument ${args[i]} (use --only ${SECTIONS.join(',')}, --scroll-steps N, --decode-repeat N, --slices N, --decode-trace)`);
  }
  for (const s of opts.only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (${SECTIONS.join(', ')})`);
  return opts;
}

/** The E2E support's CT series writer and renderer-memory probe, bundled from TypeScript for this bench. */
async function loadHelpers() {
  const outfile = join(repoRoot, 'out/bench/viewer-bench-helpers.js');
  await build({
    stdin: {
      contents: "export { writeSyntheticCtSeries } from './test/e2e/support/synthetic-corpus';\nexport { rendererRssBytes } from './test/e2e/support/renderer-memory';\n",
      resolveDir: repoRoot,
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/** Opens the app page (the study browser) on the bridge. */
async function openApp(browser, bridge) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 860 } });
  await page.goto(`${bridge.base}?token=${bridge.token}`);
  await page.waitForSelector('.app-header', { timeout: 60_000 });
  return page;
}

/** In the page: sets `#/study/<uid>` and resolves when slot 0 shows its first image (ms from the hash change). */
function openStudyAndTime(uid) {
  return new Promise((resolve, reject) => {
    const selector = '[data-testid="viewport-pane"][data-slot="0"] [data-testid="viewport"]';
    const t0 = performance.now();
    const check = () => {
      const el = document.querySelector(selector);
      if (!el || Number(el.dataset.rendered ?? '0') < 1) return;
      // A render can come before the image is set (background only): wait for the phantom's centre to show.
      const canvas = el.querySelector('canvas');
      const centre = canvas?.getContext('2d')?.getImageData(Math.floor(canvas.width / 2), Math.floor(canvas.height / 2), 1, 1).data;
      if (!centre || centre[0] < 10) return;
      const ms = performance.now() - t0;
      observer.disconnect();
      clearTimeout(timer);
      resolve({ ms, rendering: el.dataset.rendering ?? '' });
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-rendered'] });
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error('no image rendered within 60 s'));
    }, 60_000);
    location.hash = `#/study/${encodeURIComponent(uid)}`;
  });
}

async function overlayIndex(page) {
  const text = (await page.locator('[data-testid="viewport-pane"][data-slot="0"] [data-testid="overlay-image"]').textContent()) ?? '';
  return Number(/Im (\d+) \//.exec(text)?.[1] ?? NaN);
}

async function waitForIndex(page, index, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while ((await overlayIndex(page)) !== index) {
    if (Date.now() > end) throw new Error(`viewer did not reach image ${index}`);
    await page.waitForTimeout(50);
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Transfer syntax, SOP Instance UID and Number of Frames with dcmdump (no project code involved). */
function header(path) {
  const out = spawnSync('dcmdump', ['-Un', '+P', '0002,0010', '+P', '0008,0018', '+P', '0028,0008', path], { encoding: 'utf8' }).stdout;
  const ts = /\(0002,0010\) UI \[([^\]]+)\]/.exec(out)?.[1] ?? '';
  const sop = /\(0008,0018\) UI \[([^\]]+)\]/.exec(out)?.[1] ?? '';
  const frames = Number(/\(0028,0008\) IS \[([^\]]+)\]/.exec(out)?.[1] ?? 1) || 1;
  return { ts: ts.replace(/\0/g, ''), sop, frames };
}

async function startBridge() {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-viewer-bench-'));
  const child = spawn(process.execPath, [join(repoRoot, 'out/node/bridge.js'), '--data-dir', join(dataDir, 'lib'), '--port', '0', '--renderer-dir', RENDERER_DIR], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('bridge did not start')), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /Vigil bridge: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64})/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`bridge exited ${code}`)));
  });
  const parsed = new URL(url);
  const token = parsed.searchParams.get('token');
  const base = `${parsed.origin}/`;
  return {
    base,
    token,
    instanceUrl: (uid) => `/dicom/instances/${encodeURIComponent(uid)}?token=${token}`,
    async importPaths(paths) {
      const res = await fetch(`${base}api/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vigil-token': token },
        body: JSON.stringify({ channel: 'library.import', payload: { paths, storageMode: 'reference' } }),
      });
      const body = await res.json();
      if (!body.ok) throw new Error(`import failed: ${body.error.message}`);
      return body.value;
    },
    async stop() {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function openHarness(browser, bridge, rendering) {
  const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
  await page.goto(`${bridge.base}decode-harness.html?token=${bridge.token}${rendering === 'cpu' ? '&rendering=cpu' : ''}`);
  await page.waitForFunction(() => typeof window.harnessReady !== 'undefined');
  const init = await page.evaluate(() => window.harnessReady);
  return { page, rendering: init.rendering };
}

/**
 * Median ms of `runs` runs of a native tool decoding `file`. Null when the tool fails. The output goes to /dev/null: the
 * tool still decodes and serialises every frame, but does not pay a page-cache write the loader has no counterpart for.
 */
function nativeRunMs(tool, file, runs) {
  const out = '/dev/null';
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(tool[0], [...tool.slice(1), file, out]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) return null;
    samples.push(ms);
  }
  return median(samples);
}

/** pydicom: a copy of `src` whose Pixel Data holds its first (encapsulated) frame `n` times. */
const REPEAT_FRAME_PY = `
import sys, pydicom
from pydicom.encaps import generate_pixel_data_frame, encapsulate
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = pydicom.dcmread(src)
frame = next(generate_pixel_data_frame(ds.PixelData, int(getattr(ds, 'NumberOfFrames', 1) or 1)))
ds.PixelData = encapsulate([frame] * n, has_bot=True)
ds['PixelData'].is_undefined_length = True
ds.NumberOfFrames = n
ds.save_as(dst, write_like_original=True)
`;

/**
 * Native decode ms per frame: the tool on a file holding the frame K times minus the tool on it once, over K-1:
 * process start, reading and writing headers cancel out (each a median of `runs`).
 */
function nativePerFrameMs(tool, file, frames, runs, workDir) {
  const one = join(workDir, 'one.dcm');
  const many = join(workDir, 'many.dcm');
  for (const [dst, n] of [[one, 1], [many, frames]]) {
    const r = spawnSync('/usr/bin/python3', ['-c', REPEAT_FRAME_PY, file, dst, String(n)], { encoding: 'utf8' });
    if (r.status !== 0) return { error: `pydicom: ${r.stderr.trim().split('\n').pop()}` };
  }
  const t1 = nativeRunMs(tool, one, runs);
  const tk = nativeRunMs(tool, many, runs);
  if (t1 === null || tk === null) return { error: `${tool[0]} failed` };
  return { msPerFrame: Math.max(0, (tk - t1) / (frames - 1)), processMs: t1 };
}

const ENCAPSULATED = new Set(Object.keys(NATIVE_TOOL).filter((ts) => !['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'].includes(ts)));

async function launch(backend) {
  return chromium.launch({ executablePath: CHROMIUM, args: backend === 'cpu' ? [...BASE_ARGS, '--disable-software-rasterizer'] : BASE_ARGS });
}

export async function run(args) {
  const opts = parseArgs(args);
  for (const p of [join(repoRoot, 'out/node/bridge.js'), join(RENDERER_DIR, 'index.html'), join(RENDERER_DIR, 'decode-harness.html')]) {
    if (!existsSync(p)) {
      process.stderr.write(`viewer bench needs the built app (${p} missing): run \`npm run build\`\n`);
      return 1;
    }
  }
  const haveCorpus = existsSync(MR_SERIES) && existsSync(MATRIX);
  if (!haveCorpus) process.stderr.write(`viewer bench: ${SHARED} (series-derived/mr-brainchop-t1, dicom-syntax-matrix) is missing: SKIPPING the scroll and decode sections\n`);
  const started = Date.now();
  const helpers = await loadHelpers();
  const work = mkdtempSync(join(tmpdir(), 'vigil-viewer-bench-data-'));
  const result = { date: new Date().toISOString(), chromium: CHROMIUM, rendererDir: RENDERER_DIR, cpus: cpus().length, loadAverageAtStart: loadavg(), firstImage: {}, scroll: {}, decode: [], memory: null, notes: [] };
  try {
    // 1: first image through the viewer route, per backend.
    if (opts.only.has('first')) {
      const studies = [0, 1, 2, 3].map((i) => `1.2.826.0.1.3680043.10.1138.9${process.pid % 1000}.${i + 1}`);
      studies.forEach((study, i) => helpers.writeSyntheticCtSeries(join(work, `first-${i}`), { studyInstanceUid: study, slices: 20, patientName: `First^Image${i + 1}` }));
      for (const backend of ['gpu', 'cpu']) {
        const bridge = await startBridge();
        const browser = await launch(backend);
        try {
          await bridge.importPaths(studies.map((_, i) => join(work, `first-${i}`)));
          const page = await openApp(browser, bridge);
          const samples = [];
          for (const uid of studies) {
            samples.push(await page.evaluate(openStudyAndTime, uid));
            const stats = await page.$eval('[data-testid="viewport-pane"][data-slot="0"] [data-testid="viewport"] canvas', (c) => {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let lo = 255;
              let hi = 0;
              for (let i = 0; i < d.length; i += 4 * 97) {
                lo = Math.min(lo, d[i]);
                hi = Math.max(hi, d[i]);
              }
              return hi - lo;
            });
            if (stats < 20) throw new Error(`first image of ${uid} looks blank (grey range ${stats})`);
            await page.evaluate(() => {
              location.hash = '#/';
            });
            await page.waitForSelector('[data-testid="viewer"]', { state: 'detached', timeout: 30_000 });
          }
          const warm = samples.slice(1).map((x) => x.ms);
          await page.close();
          // The usual way in: a fresh page shows the study list, which preloads the viewer while idle
          // (preload-viewer.ts: chunk, Cornerstone init with the decode workers' warm-up, rendering engine);
          // then the first study opens. Its images are not cached (a new page).
          const listed = await openApp(browser, bridge);
          await listed.waitForFunction(() => typeof window.__vigilViewerMemory === 'function', null, { timeout: 60_000 });
          await listed.waitForTimeout(1000); // the last warm-up step runs one idle period after init
          const preloaded = await listed.evaluate(openStudyAndTime, studies[0]);
          await listed.close();
          result.firstImage[backend] = { rendering: samples[0].rendering, coldMs: samples[0].ms, preloadedColdMs: preloaded.ms, warmMs: warm, warmMedianMs: median(warm) };
        } finally {
          await browser.close();
          await bridge.stop();
        }
      }
    }

    // 2: scroll in the decode harness, per backend.
    if (opts.only.has('scroll') && haveCorpus) {
      const mrFiles = readdirSync(MR_SERIES).filter((f) => f.endsWith('.dcm')).sort().map((f) => join(MR_SERIES, f));
      const mrUids = mrFiles.map((f) => header(f).sop);
      const bridge = await startBridge();
      try {
        await bridge.importPaths([MR_SERIES]);
        for (const backend of ['gpu', 'cpu']) {
          const browser = await launch(backend);
          try {
            const { page, rendering } = await openHarness(browser, bridge, backend);
            const scroll = await page.evaluate(([urls, steps]) => window.benchStack(urls, { scrollSteps: steps }), [mrUids.map((u) => bridge.instanceUrl(u)), opts.scrollSteps]);
            result.scroll[backend] = {
              rendering,
              scrollImagesPerSecond: scroll.scrollImagesPerSecond,
              scrollSteps: scroll.scrolled,
              preload256Ms: scroll.preloadMs,
              webglMultisamplingOff: scroll.multisamplingOff,
              jsHeapMB: scroll.jsHeapMB,
            };
            await page.close();
          } finally {
            await browser.close();
          }
        }
      } finally {
        await bridge.stop();
      }
    }

    // 3: decode per transfer syntax vs native tools. Files sharing a SOP Instance UID need separate libraries.
    if (opts.only.has('decode') && haveCorpus) {
      const matrixFiles = readdirSync(MATRIX).filter((f) => f.startsWith('CTImage.dcm_') || f.startsWith('CT1_J2KR') || f.startsWith('CT0012')).sort().map((f) => join(MATRIX, f));
      const entries = matrixFiles.map((f) => ({ file: f, ...header(f) })).filter((e) => NATIVE_TOOL[e.ts]);
      const browser = await launch('gpu');
      try {
        const pending = [...entries];
        while (pending.length > 0) {
          const seen = new Set();
          const round = [];
          for (let i = 0; i < pending.length; ) {
            if (seen.has(pending[i].sop)) i++;
            else {
              seen.add(pending[i].sop);
              round.push(...pending.splice(i, 1));
            }
          }
          const b = await startBridge();
          try {
            await b.importPaths(round.map((e) => e.file));
            const { page } = await openHarness(browser, b, 'gpu');
            for (const e of round) {
              // --decode-trace: a Chrome trace (page + decode worker threads, V8 samples) of each file's timed decodes,
              // for chrome://tracing or Perfetto: where the per-frame time goes. Tracing slows the timed decodes.
              const tracePath = join(dirname(ARTIFACT), `decode-trace-${e.file.split('/').pop().replace(/[^\w.-]+/g, '_')}.json`);
              if (opts.decodeTrace) {
                mkdirSync(dirname(ARTIFACT), { recursive: true });
                await browser.startTracing(page, { path: tracePath, categories: ['disabled-by-default-v8.cpu_profiler', 'v8.execute', 'toplevel', 'devtools.timeline'] });
              }
              const r = await page.evaluate(([u, n, frames]) => window.benchDecode(u, 0, n, { frames }), [b.instanceUrl(e.sop), opts.decodeRepeat, e.frames]);
              if (opts.decodeTrace) await browser.stopTracing();
              const tool = NATIVE_TOOL[e.ts];
              const native = ENCAPSULATED.has(e.ts) ? nativePerFrameMs(tool, e.file, opts.nativeFrames, opts.nativeRuns, work) : { error: 'native: no decoding step (uncompressed)' };
              result.decode.push({
                file: e.file.slice(SHARED.length + 1),
                transferSyntax: e.ts,
                loaderMsPerFrame: r.msPerFrame ?? null,
                loaderError: r.ok === false ? r.error : undefined,
                nativeTool: tool.join(' '),
                nativeMsPerFrame: native.msPerFrame ?? null,
                nativeNote: native.error,
                ratio: r.msPerFrame && native.msPerFrame ? r.msPerFrame / native.msPerFrame : null,
              });
            }
            await page.close();
          } finally {
            await b.stop();
          }
        }
      } finally {
        await browser.close();
      }
    }

    // The loader's fixed cost per frame (worker round trip, copies, min/max, createImage), measured on the same image
    // uncompressed: subtracted, it estimates the codec's own share, comparable with the native per-frame figure.
    const uncompressed = result.decode.find((d) => d.file.includes('CTImage.dcm_LittleEndianExplicit'));
    for (const d of result.decode) {
      if (!uncompressed?.loaderMsPerFrame || !d.file.includes('CTImage.dcm_') || d.loaderMsPerFrame === null || !d.nativeMsPerFrame) continue;
      d.loaderCodecMsPerFrame = Math.max(0, d.loaderMsPerFrame - uncompressed.loaderMsPerFrame);
      d.codecRatio = d.loaderCodecMsPerFrame / d.nativeMsPerFrame;
    }

    // 4: the 3,000-slice walk through the viewer route (WebGL, the default), peak renderer RSS.
    if (opts.only.has('memory')) {
      const study = `1.2.826.0.1.3680043.10.1138.8${process.pid % 1000}`;
      const dir = join(work, 'long');
      const g0 = Date.now();
      helpers.writeSyntheticCtSeries(dir, { studyInstanceUid: study, slices: opts.slices, patientName: 'Long^Series' });
      const generatedMs = Date.now() - g0;
      const bridge = await startBridge();
      const browser = await launch('gpu');
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, helpers.rendererRssBytes() ?? 0);
      }, 100);
      try {
        await bridge.importPaths([dir]);
        const page = await openApp(browser, bridge);
        const first = await page.evaluate(openStudyAndTime, study);
        const box = await page.locator('[data-testid="viewport-pane"][data-slot="0"] [data-testid="viewport"]').boundingBox();
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        const w0 = Date.now();
        for (let step = 0; step < 10; step++) {
          await page.keyboard.press('PageDown');
          for (let w = 0; w < 20; w++) await page.mouse.wheel(0, 100);
          await page.waitForTimeout(150);
        }
        await page.keyboard.press('End');
        await waitForIndex(page, opts.slices);
        for (let k = 0; k < 150; k++) await page.keyboard.press('ArrowUp');
        await waitForIndex(page, opts.slices - 150);
        await page.keyboard.press('Home');
        await waitForIndex(page, 1);
        await page.waitForTimeout(1500);
        peak = Math.max(peak, helpers.rendererRssBytes() ?? 0);
        const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
        const viewer = await page.evaluate(() => window.__vigilViewerMemory?.() ?? null);
        result.memory = {
          slices: opts.slices,
          rendering: first.rendering,
          firstImageMs: first.ms,
          walkSeconds: (Date.now() - w0) / 1000,
          generatedSeconds: generatedMs / 1000,
          peakRendererRssMB: peak / 2 ** 20,
          jsHeapMB: heap / 2 ** 20,
          imageCacheMB: viewer ? viewer.imageCacheBytes / 2 ** 20 : null,
          imageCacheMaxMB: viewer ? viewer.imageCacheMaxBytes / 2 ** 20 : null,
        };
        await page.close();
      } finally {
        clearInterval(sampler);
        await browser.close();
        await bridge.stop();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  result.loadAverageAtEnd = loadavg();
  result.notes.push(
    'first image: the app page sets #/study/<uid> (a generated 20-slice 512x512 CT, uncompressed) and waits for slot 0\'s first IMAGE_RENDERED; cold = first study in a fresh page, opened as soon as the list shows (includes the lazy viewer chunk and Cornerstone init); cold, list idle first = first study in another fresh page after the list has preloaded the viewer (chunk, Cornerstone init, decode-worker warm-up, rendering engine); warm = later studies (not cached).',
    'scroll: 256-slice MR (256x256), all cached, in a 512x512 StackViewport made like the viewer\'s (createRenderingEngine: WebGL without MSAA), each step awaited until IMAGE_RENDERED, frame cap lifted.',
    `decode: loader = one frame through the wadouri loader on the image id the viewer uses (frame= only for multi-frame objects), wall time on the page: frame cut from the cached file, createImage, the round trip to the decode worker, decode + post-processing (to the viewer's output type, modality LUT applied); excluded: fetch + parse (done once before), worker start and JIT warm-up (10 untimed decodes first: steady state, as the native figure is by construction); median of ${opts.decodeRepeat}. native = (tool on the frame x${opts.nativeFrames} - tool on it x1) / ${opts.nativeFrames - 1}, medians of ${opts.nativeRuns} runs, output to /dev/null: process start, reading and header I/O cancel out, each frame's decode and serialisation remain. Both sides decode one frame at a time. Uncompressed syntaxes have no native decode step (loader only).`,
    `memory: ${opts.slices}-slice 512x512 CT walked with PageDown + wheel, End, 150 x ArrowUp, Home; renderer RSS = sum of VmRSS of Chromium --type=renderer processes, sampled every 100 ms (the GPU process is not included).`,
    'The machine may be shared with other work (see loadAverage*): absolute figures vary run to run; compare ratios measured in the same run.',
  );
  if (opts.decodeTrace) result.notes.push(`decode traces (the decode timings above include tracing overhead): ${join(dirname(ARTIFACT), 'decode-trace-*.json')}`);
  result.elapsedSeconds = (Date.now() - started) / 1000;
  mkdirSync(dirname(ARTIFACT), { recursive: true });
  writeFileSync(ARTIFACT, JSON.stringify(result, null, 1));

  const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));
  const ok = (good) => (good ? 'OK  ' : 'MISS');
  const lines = ['', `Viewer bench (headless Chromium; ${result.cpus} CPUs, load average ${result.loadAverageAtStart.map((x) => x.toFixed(1)).join(' ')} at start)`, ''];
  if (Object.keys(result.firstImage).length > 0) {
    lines.push('first image via #/study/<uid>, 512x512 CT     cold ms   cold, list idle first ms   warm ms (median; target <=300)');
    for (const [name, b] of Object.entries(result.firstImage)) {
      lines.push(`  ${`${name} (${b.rendering})`.padEnd(44)} ${f(b.coldMs, 0).padStart(7)}   ${f(b.preloadedColdMs, 0).padStart(24)}   ${f(b.warmMedianMs, 0).padStart(7)} ${ok(b.warmMedianMs <= 300)}  [${b.warmMs.map((x) => f(x, 0)).join(', ')}]`);
    }
    lines.push('');
  }
  if (Object.keys(result.scroll).length > 0) {
    lines.push('stack scroll, 256-slice MR, cached, uncapped     images/s (target >=60)   WebGL MSAA off   preload 256 ms');
    for (const [name, b] of Object.entries(result.scroll)) {
      lines.push(`  ${`${name} (${b.rendering})`.padEnd(44)} ${f(b.scrollImagesPerSecond).padStart(8)} ${ok(b.scrollImagesPerSecond >= 60)}        ${String(b.webglMultisamplingOff ?? '-').padEnd(14)}   ${f(b.preload256Ms, 0)}`);
    }
    if (result.scroll.gpu && result.scroll.cpu) lines.push(`  CPU / SwiftShader scroll rate: ${f(result.scroll.cpu.scrollImagesPerSecond / result.scroll.gpu.scrollImagesPerSecond, 1)}x`);
    lines.push('');
  }
  if (result.decode.length > 0) {
    lines.push('decode ms/frame                                                  loader   native   ratio (target <=2)   loader-fixed  codec ratio');
    for (const d of result.decode) {
      lines.push(
        `  ${d.file.slice(-62).padEnd(64)} ${f(d.loaderMsPerFrame, 2).padStart(7)} ${f(d.nativeMsPerFrame, 2).padStart(8)} ${f(d.ratio, 2).padStart(7)} ${d.ratio !== null ? ok(d.ratio <= 2) : '    '}       ${f(d.loaderCodecMsPerFrame, 2).padStart(7)}   ${f(d.codecRatio, 2).padStart(7)}   ${d.nativeTool}${d.nativeNote ? ` (${d.nativeNote})` : ''}${d.loaderError ? ` LOADER ERROR ${d.loaderError}` : ''}`,
      );
    }
    lines.push('  (loader-fixed: loader ms minus the loader\'s ms on the same image uncompressed, i.e. without its fixed per-frame cost; codec ratio = that / native)');
    lines.push('');
  }
  if (result.memory) {
    const m = result.memory;
    lines.push(`${m.slices}-slice 512x512 CT through the viewer (${m.rendering}): peak renderer RSS ${f(m.peakRendererRssMB, 0)} MB ${ok(m.peakRendererRssMB < 2048)} (target < 2048 MB); JS heap ${f(m.jsHeapMB, 0)} MB; image cache ${f(m.imageCacheMB, 0)} / ${f(m.imageCacheMaxMB, 0)} MB; walk ${f(m.walkSeconds)} s; first image ${f(m.firstImageMs, 0)} ms`, '');
  }
  lines.push(...result.notes.map((n) => `note: ${n}`), `elapsed ${f(result.elapsedSeconds)} s; load average at end ${result.loadAverageAtEnd.map((x) => x.toFixed(1)).join(' ')}; JSON: ${ARTIFACT}`, '');
  process.stdout.write(lines.join('\n'));
  return 0;
}
