/**
 * E2E harness: a temp data dir, the built bridge (`node out/node/bridge.js`,
 * spawned as a user would run it), and headless Chromium on the printed URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const artifactsDir = join(repoRoot, 'test-artifacts', 'e2e');
/** The shared real-data corpus beside the repository (may be absent). */
export const sharedData = resolve(repoRoot, '../shared/data');

const CHROMIUM = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface RunningBridge {
  /** Base URL without the token, ending in "/". */
  readonly base: string;
  readonly token: string;
  /** The URL the bridge printed (with ?token=). */
  readonly url: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Calls a channel through POST /api/invoke, as the page does. */
  invoke<T = unknown>(channel: string, payload?: unknown): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string } }>;
  stop(): Promise<void>;
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `vigil-e2e-${prefix}-`));
}

/** Copies the repository's model package `models/<id>` into the user models folder of `dataDir` (what the app scans). */
export function installRepoModel(dataDir: string, id: string): void {
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  cpSync(join(repoRoot, 'models', id), join(dataDir, 'models', id), { recursive: true });
}

function requireBuilt(): void {
  const missing = ['out/node/bridge.js', 'out/node/import-worker.js', 'out/renderer/index.html'].filter((p) => !existsSync(join(repoRoot, p)));
  if (missing.length > 0) {
    throw new Error(`E2E needs the built app (missing ${missing.join(', ')}): run \`npm run build\` (npm test does it first).`);
  }
}

export async function startBridgeProcess(options: { dataDir?: string; extraArgs?: string[] } = {}): Promise<RunningBridge> {
  requireBuilt();
  const ownTemp = options.dataDir ? null : makeTempDir('data');
  const dataDir = options.dataDir ?? join(ownTemp!, 'library');
  const child = spawn(process.execPath, [join(repoRoot, 'out/node/bridge.js'), '--data-dir', dataDir, '--port', '0', ...(options.extraArgs ?? [])], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (process.env.VIGIL_E2E_VERBOSE) process.stderr.write(`[bridge] ${d}`);
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`bridge did not start in 30 s; stderr:\n${stderr}`)), 30_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /Vigil bridge: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64})/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge exited with ${code} before printing its URL; stderr:\n${stderr}`));
    });
  });
  const parsed = new URL(url);
  const token = parsed.searchParams.get('token') ?? '';
  const base = `${parsed.origin}/`;
  return {
    base,
    token,
    url,
    dataDir,
    process: child,
    async invoke(channel, payload = {}) {
      const res = await fetch(`${base}api/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vigil-token': token },
        body: JSON.stringify({ channel, payload }),
      });
      return (await res.json()) as never;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((done) => child.once('exit', () => done()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (ownTemp && !process.env.VIGIL_E2E_KEEP) rmSync(ownTemp, { recursive: true, force: true });
    },
  };
}

export interface VigilSession {
  readonly bridge: RunningBridge;
  readonly browser: Browser;
  readonly page: Page;
  /** Uncaught page errors and console errors seen so far. */
  readonly pageErrors: string[];
  /** Dialogs (alert/confirm/prompt) the page tried to open. */
  readonly dialogs: string[];
  close(): Promise<void>;
}

/**
 * Bridge + Chromium + the study browser loaded and ready.
 * `chromiumArgs` are added to the usual headless flags (e.g. `--disable-software-rasterizer`: no WebGL at all).
 */
export async function openVigil(options: { dataDir?: string; viewport?: { width: number; height: number }; chromiumArgs?: string[] } = {}): Promise<VigilSession> {
  const bridge = await startBridgeProcess({ dataDir: options.dataDir });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...(options.chromiumArgs ?? [])] });
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1440, height: 860 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    const dialogs: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(bridge.url);
    await page.waitForSelector('.app-header', { timeout: 30_000 });
    const b = browser;
    return {
      bridge,
      browser: b,
      page,
      pageErrors,
      dialogs,
      async close() {
        await b.close().catch(() => undefined);
        await bridge.stop();
      },
    };
  } catch (err) {
    await browser?.close().catch(() => undefined);
    await bridge.stop();
    throw err;
  }
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, name);
  await page.screenshot({ path, fullPage });
  return path;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Picks a folder (or files) through the page's Import menu and the file chooser. */
export async function importThroughUi(page: Page, kind: 'folder' | 'files', paths: string | string[]): Promise<void> {
  await page.getByTestId('import-button').click();
  const chooser = page.waitForEvent('filechooser');
  await page.getByTestId(kind === 'folder' ? 'import-folder' : 'import-files').click();
  await (await chooser).setFiles(paths);
}

/** Waits until the import that was started has finished and its summary is shown. */
export async function waitForImportSummary(page: Page, timeout = 120_000): Promise<string> {
  const summary = page.getByTestId('import-summary');
  await summary.waitFor({ state: 'visible', timeout });
  await page.getByTestId('import-progress').waitFor({ state: 'detached', timeout });
  return (await summary.textContent()) ?? '';
}
