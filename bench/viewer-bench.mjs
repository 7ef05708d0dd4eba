/* global window -- page.evaluate callbacks run in the harness page */
// `npm run bench -- viewer [--scroll-steps N] [--decode-repeat N]`
//
// Viewer benchmarks in headless Chromium through the built bridge (out/node/bridge.js) and the
// decode harness page (out/renderer/decode-harness.html: the viewer's initCornerstone, the
// dicom-image-loader with web workers + WASM codecs, a plain Cornerstone StackViewport 512x512):
//
//  1. first image: setStack() of a 512x512 CT slice until IMAGE_RENDERED (fetch + decode + render;
//     Cornerstone already initialised) — target <= 300 ms;
//  2. stack scroll over the 256-slice MR series (../shared/data/series-derived/mr-brainchop-t1),
//     all slices cached first, frame cap lifted (--disable-frame-rate-limit --disable-gpu-vsync),
//     each step awaited until rendered — target >= 60 images/s; run with SwiftShader WebGL and with
//     CPU rendering (--disable-software-rasterizer + ?rendering=cpu);
//  3. decode ms/frame per transfer syntax (dicom-syntax-matrix) in the loader, median of N, beside
//     the native dcmtk/gdcm tool decoding the same file (median of N process runs minus the median of
//     the same tool's run on the uncompressed file: process start + I/O) — target ratio <= 2.
// The viewer route (#/study/<uid>) is not used: this measures the loader + StackViewport the viewer uses.
// Prints a table and writes test-artifacts/bench/viewer.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = resolve(repoRoot, '../shared/data');
const ARTIFACT = join(repoRoot, 'test-artifacts/bench/viewer.json');
const CHROMIUM = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';
const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-frame-rate-limit', '--disable-gpu-vsync'];
const MATRIX = join(SHARED, 'dicom-syntax-matrix/wadoloader');
const MR_SERIES = join(SHARED, 'series-derived/mr-brainchop-t1');
const CT_SLICE = join(MATRIX, 'CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm');
const UNCOMPRESSED = CT_SLICE;

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

function parseArgs(args) {
  const opts = { scrollSteps: 512, decodeRepeat: 10, nativeRuns: 7 };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--scroll-steps') opts.scrollSteps = Number(args[++i]);
    else if (args[i] === '--decode-repeat') opts.decodeRepeat = Number(args[++i]);
    else throw new Error(`unknown argument ${args[i]} (use --scroll-steps N, --decode-repeat N)`);
  }
  return opts;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Transfer syntax and SOP Instance UID with dcmdump (no project code involved). */
function header(path) {
  const out = spawnSync('dcmdump', ['-Un', '+P', '0002,0010', '+P', '0008,0018', path], { encoding: 'utf8' }).stdout;
  const ts = /\(0002,0010\) UI \[([^\]]+)\]/.exec(out)?.[1] ?? '';
  const sop = /\(0008,0018\) UI \[([^\]]+)\]/.exec(out)?.[1] ?? '';
  return { ts: ts.replace(/\0/g, ''), sop };
}

async function startBridge() {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-viewer-bench-'));
  const child = spawn(process.execPath, [join(repoRoot, 'out/node/bridge.js'), '--data-dir', join(dataDir, 'lib'), '--port', '0'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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

function nativeMs(tool, file, runs) {
  const out = join(tmpdir(), `vigil-native-${process.pid}.dcm`);
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(tool[0], [...tool.slice(1), file, out]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) return null;
    samples.push(ms);
  }
  rmSync(out, { force: true });
  return median(samples);
}

export async function run(args) {
  const opts = parseArgs(args);
  for (const p of ['out/node/bridge.js', 'out/renderer/decode-harness.html']) {
    if (!existsSync(join(repoRoot, p))) {
      process.stderr.write(`viewer bench needs the built app (${p} missing): run \`npm run build\`\n`);
      return 1;
    }
  }
  if (!existsSync(MR_SERIES) || !existsSync(MATRIX)) {
    process.stderr.write(`viewer bench needs ${SHARED} (series-derived/mr-brainchop-t1, dicom-syntax-matrix): SKIPPED\n`);
    return 0;
  }
  const started = Date.now();
  const result = { date: new Date().toISOString(), chromium: CHROMIUM, backends: {}, decode: [], notes: [] };
  const mrFiles = readdirSync(MR_SERIES).filter((f) => f.endsWith('.dcm')).sort().map((f) => join(MR_SERIES, f));
  const mrUids = mrFiles.map((f) => header(f).sop);
  const ct = header(CT_SLICE);

  // 1 + 2: first image and scroll, per backend.
  const bridge = await startBridge();
  try {
    await bridge.importPaths([MR_SERIES, CT_SLICE]);
    for (const backend of ['gpu', 'cpu']) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: backend === 'cpu' ? [...BASE_ARGS, '--disable-software-rasterizer'] : BASE_ARGS });
      try {
        const { page, rendering } = await openHarness(browser, bridge, backend);
        const first = await page.evaluate((urls) => window.benchStack(urls, { preload: false, scrollSteps: 0 }), [bridge.instanceUrl(ct.sop)]);
        const scroll = await page.evaluate(([urls, steps]) => window.benchStack(urls, { scrollSteps: steps }), [mrUids.map((u) => bridge.instanceUrl(u)), opts.scrollSteps]);
        const metrics = await page.context().newCDPSession(page).then(async (cdp) => {
          await cdp.send('Performance.enable');
          const { metrics: m } = await cdp.send('Performance.getMetrics');
          return Object.fromEntries(m.map((x) => [x.name, x.value]));
        });
        result.backends[backend] = {
          rendering,
          firstImageMs: first.firstImageMs,
          scrollImagesPerSecond: scroll.scrollImagesPerSecond,
          scrollSteps: scroll.scrolled,
          preload256Ms: scroll.preloadMs,
          mrFirstImageMs: scroll.firstImageMs,
          jsHeapMB: (metrics.JSHeapUsedSize ?? 0) / (1024 * 1024),
        };
        await page.close();
      } finally {
        await browser.close();
      }
    }
  } finally {
    await bridge.stop();
  }

  // 3: decode per transfer syntax vs native tools. Files sharing a SOP Instance UID need separate libraries.
  const matrixFiles = readdirSync(MATRIX).filter((f) => f.startsWith('CTImage.dcm_') || f.startsWith('CT1_J2KR') || f.startsWith('CT0012')).sort().map((f) => join(MATRIX, f));
  const entries = matrixFiles.map((f) => ({ file: f, ...header(f) })).filter((e) => NATIVE_TOOL[e.ts]);
  const baseline = {};
  for (const tool of new Set(Object.values(NATIVE_TOOL).map((t) => t[0]))) {
    const t = Object.values(NATIVE_TOOL).find((x) => x[0] === tool);
    // Process start + I/O: the same tool on the uncompressed slice (dcmdjpeg & co. pass it through).
    baseline[tool] = nativeMs(t, UNCOMPRESSED, opts.nativeRuns);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: BASE_ARGS });
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
          const r = await page.evaluate(([u, n]) => window.benchDecode(u, 0, n), [b.instanceUrl(e.sop), opts.decodeRepeat]);
          const tool = NATIVE_TOOL[e.ts];
          const total = nativeMs(tool, e.file, opts.nativeRuns);
          const native = total === null ? null : Math.max(0.05, total - (baseline[tool[0]] ?? 0));
          result.decode.push({
            file: e.file.slice(SHARED.length + 1),
            transferSyntax: e.ts,
            loaderMsPerFrame: r.msPerFrame ?? null,
            loaderError: r.ok === false ? r.error : undefined,
            nativeTool: tool.join(' '),
            nativeProcessMs: total,
            nativeBaselineMs: baseline[tool[0]],
            nativeDecodeMs: native,
            ratio: r.msPerFrame && native ? r.msPerFrame / native : null,
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
  result.notes.push(
    'first image: setStack of one 512x512 CT slice in a fresh page (Cornerstone initialised) until IMAGE_RENDERED; includes fetch from the bridge, decode in a worker and render.',
    'scroll: 256-slice MR (256x256), all cached, each step awaited until IMAGE_RENDERED, frame cap lifted.',
    'decode: loader = imageLoader.loadImage per frame (worker decode + createImage), bytes cached; native = tool process time minus the same tool on the uncompressed slice (process start + I/O). For uncompressed syntaxes the native figure is ~0 (clamped to 0.05 ms), so their ratio is not meaningful.',
    '3,000-slice peak renderer memory: not measured by this bench yet.',
  );
  result.elapsedSeconds = (Date.now() - started) / 1000;
  mkdirSync(dirname(ARTIFACT), { recursive: true });
  writeFileSync(ARTIFACT, JSON.stringify(result, null, 1));

  const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));
  const lines = ['', 'Viewer bench (headless Chromium, decode harness)', ''];
  lines.push('backend            first image ms (target <=300)   scroll images/s (target >=60)   preload 256 MR ms   JS heap MB');
  for (const [name, b] of Object.entries(result.backends)) {
    lines.push(`${`${name} (${b.rendering})`.padEnd(18)} ${f(b.firstImageMs).padStart(12)} ${b.firstImageMs <= 300 ? 'OK ' : 'MISS'}              ${f(b.scrollImagesPerSecond).padStart(10)} ${b.scrollImagesPerSecond >= 60 ? 'OK ' : 'MISS'}            ${f(b.preload256Ms, 0).padStart(8)}        ${f(b.jsHeapMB, 0)}`);
  }
  lines.push('', 'decode ms/frame                                                          loader   native   ratio (target <=2)');
  for (const d of result.decode) {
    lines.push(`${d.file.slice(-70).padEnd(72)} ${f(d.loaderMsPerFrame, 2).padStart(7)} ${f(d.nativeDecodeMs, 2).padStart(8)} ${f(d.ratio, 2).padStart(7)} ${d.nativeTool}${d.loaderError ? ` ERROR ${d.loaderError}` : ''}`);
  }
  lines.push('', ...result.notes.map((n) => `note: ${n}`), `elapsed ${f(result.elapsedSeconds)} s; JSON: ${ARTIFACT}`, '');
  process.stdout.write(lines.join('\n'));
  return 0;
}
