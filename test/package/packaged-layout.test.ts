/**
 * Packaged layout: runs electron-builder for real (`--linux --dir`, x64) with
 * the project's own configuration, against a stub Electron distribution (no
 * Electron binary can be downloaded here), then inspects what an installer
 * would carry: app.asar, app.asar.unpacked, resources/models and the fuses
 * flipped in the executable. The installer targets themselves (NSIS, DMG,
 * AppImage, deb) need tools downloaded at build time; their configuration is
 * validated offline with electron-builder's own schema check, and the
 * per-platform ONNX Runtime filters with electron-builder's own file matcher.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileMatcher } from 'app-builder-lib/out/fileMatcher';
import { validateConfiguration } from 'app-builder-lib/out/util/config/config';
import { DebugLogger } from 'builder-util';
import { type Configuration, Platform, build } from 'electron-builder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledExecutionProviders, resolveRuntimePaths, workerScriptUrl } from '../../electron/main/runtime-paths';
import type { InferenceJob } from '../../electron/services/ai/inference-job';
import { InferenceRunner } from '../../electron/services/ai/inference-runner';
import { displayBytesBuffer, openDisplayBytes } from '../../electron/services/dicom/display-bytes';
import { DisplayTranscodePool } from '../../electron/services/dicom/display-transcode-pool';
import { codecWasmName } from '../../electron/services/dicom/pixel-codecs';
import type { ImportFileResult, ImportFileTask } from '../../electron/services/library/import-file-processor';
import { ImportWorkerPool } from '../../electron/services/library/import-worker-pool';
import { encodeHtj2kLossless } from '../fixtures/htj2k-encoder';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { AsarArchive } from './asar';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { build: Configuration; main: string };
const config = pkg.build;
const electronVersion = (JSON.parse(readFileSync(join(root, 'node_modules', 'electron', 'package.json'), 'utf8')) as { version: string }).version;
const ortBin = join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');

// @electron/fuses looks for this sentinel followed by the wire version (1), its
// length and one byte per fuse ('0' off, '1' on). The stub carries Electron's
// defaults, so the test sees exactly what electron-builder flipped.
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const FUSE_ORDER = [
  'runAsNode',
  'enableCookieEncryption',
  'enableNodeOptionsEnvironmentVariable',
  'enableNodeCliInspectArguments',
  'enableEmbeddedAsarIntegrityValidation',
  'onlyLoadAppFromAsar',
  'loadBrowserProcessSpecificV8Snapshot',
  'grantFileProtocolExtraPrivileges',
] as const;
const ELECTRON_DEFAULT_FUSES = '10110001';
const PRODUCTION_FUSES = {
  runAsNode: false,
  enableCookieEncryption: true,
  enableNodeOptionsEnvironmentVariable: false,
  enableNodeCliInspectArguments: false,
  enableEmbeddedAsarIntegrityValidation: true,
  onlyLoadAppFromAsar: true,
  loadBrowserProcessSpecificV8Snapshot: false,
  grantFileProtocolExtraPrivileges: false,
};

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
}
const posix = (path: string) => path.split(sep).join('/');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
/** The decode-correctness / bench page and its entry chunk (renderer/vite.config.ts), relative to out/renderer. */
const isDecodeHarness = (path: string) => path === 'decode-harness.html' || /^assets\/decodeHarness-[^/]*$/.test(path);
const sizeOf = (files: string[]) => files.reduce((sum, f) => sum + statSync(f).size, 0);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The model packages in the repository: models/<id>/manifest.json with the sha-256 of model.onnx. */
function modelPackages(): Array<{ id: string; manifest: { sha256: string } }> {
  const dir = join(root, 'models');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'manifest.json')))
    .map((d) => ({ id: d.name, manifest: JSON.parse(readFileSync(join(dir, d.name, 'manifest.json'), 'utf8')) as { sha256: string } }));
}

/** Builds what the package needs when it is missing (`npm test` builds first; this keeps the project runnable alone). */
function ensureBuilt(): void {
  const nodeOutputs = ['main.js', 'preload.cjs', 'import-worker.js', 'inference-worker.js', 'display-transcode-worker.js', 'package.json', 'codecs/codec-openjph-wasm.wasm'].map((f) => join(root, 'out', 'main', f));
  if (nodeOutputs.some((f) => !existsSync(f))) execFileSync(process.execPath, ['scripts/build-node.mjs'], { cwd: root, stdio: 'inherit' });
  if (!existsSync(join(root, 'out', 'renderer', 'index.html'))) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'renderer/vite.config.ts'], { cwd: root, stdio: 'inherit' });
  }
}

/** Which files of onnxruntime-node/bin a platform's `files` filters keep, evaluated by electron-builder's own matcher. */
function ortFilesKept(platformKey: 'linux' | 'win' | 'mac', arch: string): string[] {
  const patterns = (config[platformKey] as { files: string[] }).files;
  const expand = (p: string) => p.replace(/\$\{arch\}/g, arch).replace(/\$\{\/\*\}/g, '{,/**/*}');
  const filter = new FileMatcher(root, '/', expand, ['**/*', ...patterns]).createFilter();
  const kept: string[] = [];
  const visit = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, d.name);
      if (!filter(path, statSync(path))) continue;
      if (d.isDirectory()) visit(path);
      else kept.push(posix(relative(ortBin, path)));
    }
  };
  visit(ortBin);
  return kept.sort();
}

describe('packaged layout (electron-builder --linux --dir x64, stub Electron)', () => {
  let work: string;
  let appOut: string;
  let resources: string;
  let unpacked: string;
  let asar: AsarArchive;

  beforeAll(async () => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'vigil-package-'));
    const stub = join(work, 'electron-stub');
    mkdirSync(stub, { recursive: true });
    writeFileSync(
      join(stub, 'electron'),
      Buffer.concat([Buffer.from('#!/bin/sh\necho "stub Electron for the packaged-layout test"\nexit 0\n# '), Buffer.from(FUSE_SENTINEL), Buffer.from([1, FUSE_ORDER.length]), Buffer.from(`${ELECTRON_DEFAULT_FUSES}\n`)]),
      { mode: 0o755 },
    );
    // Only what a machine without Electron needs differs from `npm run dist:dir`:
    // the Electron distribution, no native rebuild, a temporary output folder.
    await build({
      projectDir: root,
      targets: Platform.LINUX.createTarget('dir', 1 /* Arch.x64 */),
      config: { electronDist: stub, electronVersion, npmRebuild: false, directories: { output: join(work, 'dist') } },
      publish: 'never',
    });
    appOut = join(work, 'dist', 'linux-unpacked');
    resources = join(appOut, 'resources');
    unpacked = join(resources, 'app.asar.unpacked');
    asar = new AsarArchive(join(resources, 'app.asar'));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('produces the executable, app.asar, app.asar.unpacked and the models folder', () => {
    expect(existsSync(join(appOut, 'vigil'))).toBe(true);
    expect(statSync(join(resources, 'app.asar')).isFile()).toBe(true);
    expect(statSync(unpacked).isDirectory()).toBe(true);
    expect(statSync(join(resources, 'models')).isDirectory()).toBe(true);
  });

  it('packs the main, preload and worker bundles, byte for byte', () => {
    for (const file of ['main.js', 'preload.cjs', 'import-worker.js', 'package.json']) {
      expect(asar.has(`out/main/${file}`), `out/main/${file}`).toBe(true);
    }
    expect(asar.read(pkg.main).equals(readFileSync(join(root, pkg.main)))).toBe(true);
    expect(asar.read('out/main/preload.cjs').equals(readFileSync(join(root, 'out', 'main', 'preload.cjs')))).toBe(true);
    expect(JSON.parse(asar.read('package.json').toString('utf8'))).toMatchObject({ main: pkg.main, type: 'module' });
  });

  it('packs every file of out/renderer (workers and WASM codecs included), except source maps and the decode harness', () => {
    const rendererDir = join(root, 'out', 'renderer');
    const files = walk(rendererDir).map((f) => posix(relative(rendererDir, f)));
    expect(files).toContain('index.html');
    const shipped = files.filter((f) => !f.endsWith('.map') && !isDecodeHarness(f));
    const missing = shipped.filter((f) => !asar.has(`out/renderer/${f}`));
    expect(missing).toEqual([]);
    for (const f of shipped) expect(asar.entries.get(`out/renderer/${f}`)?.size, f).toBe(statSync(join(rendererDir, f)).size);
    expect(asar.read('out/renderer/index.html').equals(readFileSync(join(rendererDir, 'index.html')))).toBe(true);
    console.info(
      `[package] renderer: ${shipped.length} files, ${shipped.filter((f) => f.endsWith('.wasm')).length} .wasm, ${shipped.filter((f) => /worker/i.test(f)).length} worker scripts`,
    );
  });

  it('ships no decode harness: the test/bench page stays in out/renderer only', () => {
    const rendererDir = join(root, 'out', 'renderer');
    const harness = walk(rendererDir).map((f) => posix(relative(rendererDir, f))).filter(isDecodeHarness);
    // The e2e tests and the bench load it from the build, so the build keeps it.
    expect(harness).toContain('decode-harness.html');
    expect(harness.some((f) => f.startsWith('assets/decodeHarness-') && f.endsWith('.js'))).toBe(true);
    expect(asar.files().map((e) => e.path).filter((p) => p.startsWith('out/renderer/') && isDecodeHarness(p.slice('out/renderer/'.length)))).toEqual([]);
  });

  it('ships no dev-only files: no bridge/CLI, tests, sources, source maps or corpus data', () => {
    const paths = asar.files().map((e) => e.path);
    const topLevel = new Set(paths.map((p) => p.split('/')[0]));
    expect([...topLevel].sort()).toEqual(['node_modules', 'out', 'package.json']);
    expect(new Set(paths.filter((p) => p.startsWith('out/')).map((p) => p.split('/')[1]))).toEqual(new Set(['main', 'renderer']));
    expect(paths.filter((p) => p.startsWith('out/node/'))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths.filter((p) => /\.(ts|tsx|mts|cts)$/.test(p))).toEqual([]);
    expect(paths.filter((p) => /\.(dcm|DCM)$/.test(p) || /(^|\/)DICOMDIR$/.test(p) || p.includes('shared/data'))).toEqual([]);
    expect(paths.filter((p) => /^node_modules\/[^/]+\/(test|tests|__tests__)\//.test(p))).toEqual([]);
    // Only the two runtime dependencies and their dependencies: nothing the renderer bundles.
    for (const bundled of ['react', 'react-dom', 'zod', 'ws', '@cornerstonejs', 'vite', 'esbuild', 'electron', 'typescript', 'vitest']) {
      expect(paths.some((p) => p.startsWith(`node_modules/${bundled}/`)), bundled).toBe(false);
    }
    expect(walk(resources).filter((f) => f.endsWith('.map'))).toEqual([]);
  });

  it('unpacks the native modules for linux-x64 only, and marks them unpacked in the archive', () => {
    const sqlite = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
    expect(existsSync(join(unpacked, sqlite))).toBe(true);
    expect(asar.entries.get(sqlite)?.unpacked).toBe(true);

    const ortShipped = join(unpacked, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    expect(readdirSync(ortShipped)).toEqual(['linux']);
    expect(readdirSync(join(ortShipped, 'linux'))).toEqual(['x64']);
    // Everything onnxruntime-node has for linux-x64 travels: the binding, libonnxruntime and,
    // on a build machine where its install script fetched them, the CUDA / TensorRT providers.
    const expected = readdirSync(join(ortBin, 'linux', 'x64')).sort();
    expect(expected).toEqual(expect.arrayContaining(['libonnxruntime.so.1', 'onnxruntime_binding.node']));
    expect(readdirSync(join(ortShipped, 'linux', 'x64')).sort()).toEqual(expected);
    for (const f of expected) {
      expect(sha256(join(ortShipped, 'linux', 'x64', f))).toBe(sha256(join(ortBin, 'linux', 'x64', f)));
      expect(asar.entries.get(`node_modules/onnxruntime-node/bin/napi-v6/linux/x64/${f}`)?.unpacked, f).toBe(true);
    }
    // The JS of onnxruntime-node / -common is unpacked too, so a worker outside the asar can require it.
    expect(existsSync(join(unpacked, 'node_modules', 'onnxruntime-node', 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(unpacked, 'node_modules', 'onnxruntime-common', 'package.json'))).toBe(true);

    const everything = [...walk(resources), ...asar.files().map((e) => e.path)];
    expect(everything.filter((f) => /\.(dll|dylib)$/.test(f) || /napi-v6\/(win32|darwin)\//.test(posix(f)))).toEqual([]);
    expect(everything.filter((f) => /napi-v6\/linux\/arm64\//.test(posix(f)))).toEqual([]);
    // Native files stored inside the archive could not be loaded.
    expect(asar.files().filter((e) => /\.(node|so(\.\d+)*)$/.test(e.path) && !e.unpacked)).toEqual([]);
  });

  it('unpacks the worker scripts with their ES-module marker, and the unpacked import worker runs', async () => {
    expect(existsSync(join(unpacked, 'out', 'main', 'import-worker.js'))).toBe(true);
    expect(JSON.parse(readFileSync(join(unpacked, 'out', 'main', 'package.json'), 'utf8'))).toEqual({ type: 'module' });
    expect(asar.entries.get('out/main/import-worker.js')?.unpacked).toBe(true);
    // The main bundle, preload and renderer stay inside the archive.
    expect(asar.entries.get('out/main/main.js')?.unpacked).toBe(false);
    expect(asar.entries.get('out/renderer/index.html')?.unpacked).toBe(false);

    // What the packaged app does: resolve the paths from inside app.asar and start the worker from app.asar.unpacked.
    const paths = resolveRuntimePaths({
      bundleUrl: pathToFileURL(join(resources, 'app.asar', 'out', 'main', 'main.js')).href,
      appPath: join(resources, 'app.asar'),
      isPackaged: true,
      resourcesPath: resources,
      userDataPath: join(work, 'user-data'),
      platform: 'linux',
      arch: 'x64',
    });
    expect(asar.has(posix(relative(join(resources, 'app.asar'), paths.preloadPath)))).toBe(true);
    expect(asar.has(posix(relative(join(resources, 'app.asar'), join(paths.rendererDir, 'index.html'))))).toBe(true);
    expect(existsSync(paths.modelsDir)).toBe(true);
    expect(existsSync(paths.sqliteBinding)).toBe(true);
    expect(existsSync(join(paths.onnxRuntimeDir, 'onnxruntime_binding.node'))).toBe(true);
    expect(bundledExecutionProviders(paths).find((p) => p.name === 'cpu')?.bundled).toBe(true);

    // The library's own worker pool, started on the unpacked script as the packaged app does.
    const pool = new ImportWorkerPool(1, paths.importWorkerUrl);
    const results: ImportFileResult[] = [];
    const tasks: ImportFileTask[] = [{ id: 7, path: join(work, 'no-such-file.dcm'), mode: 'reference', dataDir: join(work, 'user-data', 'library') }];
    try {
      await pool.run(() => tasks.shift() ?? null, (r) => results.push(r));
    } finally {
      await pool.close();
    }
    expect(results).toEqual([expect.objectContaining({ id: 7, kind: 'rejected' })]);
    expect(results[0]).not.toMatchObject({ code: 'WORKER_CRASHED' });
  });

  it('unpacks the display transcode worker, and it transcodes a big-endian file as the vigil:// handler asks', async () => {
    expect(asar.entries.get('out/main/display-transcode-worker.js')?.unpacked).toBe(true);
    const workerPath = join(unpacked, 'out', 'main', 'display-transcode-worker.js');
    expect(existsSync(workerPath)).toBe(true);
    const file = join(work, 'big-endian.dcm');
    const pixels = Uint16Array.from({ length: 16 * 16 }, (_, i) => (i * 257) & 0xffff);
    writeFileSync(file, syntheticDicom({ rows: 16, columns: 16, pixels, transferSyntax: '1.2.840.10008.1.2.2' }));
    const pool = new DisplayTranscodePool({ workerUrl: pathToFileURL(workerPath), size: 1 });
    try {
      const served = await openDisplayBytes(file, { transcoder: pool });
      expect(served).toMatchObject({ rewrite: 'transcoded', transferSyntaxUid: '1.2.840.10008.1.2.1', transcoding: ['byte-swapped'] });
      const bytes = await displayBytesBuffer(served!);
      // The little-endian pixel values end the stream (the file has nothing after Pixel Data).
      const tail = bytes.subarray(bytes.length - pixels.byteLength);
      expect(Buffer.from(tail).equals(Buffer.from(pixels.buffer))).toBe(true);
      expect(pool.started).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('ships the codecs’ WASM beside the unpacked workers: the unpacked inference worker decodes HTJ2K', async () => {
    const codecs = readdirSync(join(root, 'out', 'main', 'codecs')).sort();
    expect(codecs).toEqual(
      ['@cornerstonejs/codec-charls/decodewasm', '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm', '@cornerstonejs/codec-openjpeg/decodewasm', '@cornerstonejs/codec-openjph/wasm'].map(codecWasmName).sort(),
    );
    for (const f of codecs) {
      expect(asar.entries.get(`out/main/codecs/${f}`)?.unpacked, f).toBe(true);
      expect(sha256(join(unpacked, 'out', 'main', 'codecs', f))).toBe(sha256(join(root, 'out', 'main', 'codecs', f)));
    }
    // The archive's node_modules holds no codec package: the worker can only use its own codecs/ folder.
    expect(asar.files().some((e) => e.path.startsWith('node_modules/@cornerstonejs/'))).toBe(false);

    // The same 64×64 frame, uncompressed and as lossless HTJ2K, through the unpacked worker with a small model.
    const [rows, columns] = [64, 64];
    const pixels = Uint16Array.from({ length: rows * columns }, (_, i) => ((i % columns) * 37 + Math.floor(i / columns) * 11) % 4096);
    const series = join(work, 'htj2k');
    mkdirSync(series, { recursive: true });
    const study = '1.2.826.0.1.3680043.10.1138.880';
    const write = (name: string, extra: Partial<Parameters<typeof syntheticDicom>[0]>) => {
      const file = join(series, name);
      writeFileSync(file, syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.${name.length}`, rows, columns, pixels, ...extra }));
      return file;
    };
    const native = write('native.dcm', {});
    const htj2k = write('htj2k-lossless.dcm', { transferSyntax: '1.2.840.10008.1.2.4.201', encodedFrame: await encodeHtj2kLossless(pixels, rows, columns) });
    const onnx = tinyClassifierModel();
    const manifest = classifierManifest(onnx);
    const modelDir = writeModelPackage(join(work, 'test-models', manifest.id), onnx, manifest);
    const job = (id: string, file: string): InferenceJob => ({ jobId: id, model: { id: manifest.id, modelPath: join(modelDir, 'model.onnx'), manifest }, files: [file], provider: 'cpu', outputDir: join(work, 'ai', id) });
    const workerDir = join(unpacked, 'out', 'main');
    const runner = new InferenceRunner({ workerUrl: workerScriptUrl({ workerDir }, 'inference'), threads: 1, providers: ['cpu'] });
    try {
      const plain = await runner.run(job('native', native));
      const compressed = await runner.run(job('htj2k', htj2k));
      expect(plain.status, plain.reason).toBe('done');
      expect(compressed.status, compressed.reason).toBe('done');
      // Lossless: the very same score.
      expect(compressed.findings).toEqual(plain.findings);
    } finally {
      await runner.close();
    }

    // Without the codecs folder the same worker cannot decode HTJ2K, and says why.
    const bare = join(unpacked, 'out', 'main-without-codecs');
    mkdirSync(bare, { recursive: true });
    for (const f of ['inference-worker.js', 'package.json']) writeFileSync(join(bare, f), readFileSync(join(workerDir, f)));
    const bareRunner = new InferenceRunner({ workerUrl: workerScriptUrl({ workerDir: bare }, 'inference'), threads: 1, providers: ['cpu'] });
    try {
      const r = await bareRunner.run(job('htj2k-bare', htj2k));
      expect(r).toMatchObject({ status: 'not-analysed', reason: expect.stringMatching(/1\.2\.840\.10008\.1\.2\.4\.201 could not be loaded: the HTJ2K decoder .* is not available/) });
    } finally {
      await bareRunner.close();
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('ships every model package with its sha-256 matching the manifest', () => {
    const packages = modelPackages();
    for (const { id, manifest } of packages) {
      const dir = join(resources, 'models', id);
      expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(readFileSync(join(root, 'models', id, 'manifest.json'), 'utf8'));
      expect(manifest.sha256, `${id}: manifest sha256`).toMatch(/^[0-9a-f]{64}$/);
      expect(sha256(join(dir, 'model.onnx')), `${id}/model.onnx`).toBe(manifest.sha256);
    }
    expect(existsSync(join(resources, 'models', 'training'))).toBe(false);
    console.info(`[package] model packages shipped: ${packages.length ? packages.map((p) => p.id).join(', ') : 'none yet'}`);
  });

  it('flips the production fuses in the executable', () => {
    const binary = readFileSync(join(appOut, 'vigil'));
    const at = binary.indexOf(FUSE_SENTINEL);
    expect(at).toBeGreaterThan(-1);
    const wire = binary.subarray(at + FUSE_SENTINEL.length + 2, at + FUSE_SENTINEL.length + 2 + FUSE_ORDER.length).toString('latin1');
    const flipped = Object.fromEntries(FUSE_ORDER.map((name, i) => [name, wire[i] === '1']));
    expect(flipped).toEqual(PRODUCTION_FUSES);
    expect(config.electronFuses).toEqual(PRODUCTION_FUSES);
  });

  it('reports its size', () => {
    const all = walk(appOut);
    const asarSize = statSync(join(resources, 'app.asar')).size;
    const unpackedSize = sizeOf(walk(unpacked));
    const ortSize = sizeOf(walk(join(unpacked, 'node_modules', 'onnxruntime-node', 'bin')));
    console.info(
      `[package] linux-x64 unpacked app: ${mb(sizeOf(all))} (without Electron); app.asar ${mb(asarSize)}; app.asar.unpacked ${mb(unpackedSize)} (ONNX Runtime ${mb(ortSize)}); models ${mb(sizeOf(walk(join(resources, 'models'))))}`,
    );
    // The filters keep the archive small (unfiltered it was ~185 MB with every platform's ONNX Runtime).
    expect(asarSize).toBeLessThan(40 * 1024 * 1024);
    expect(ortSize).toBe(sizeOf(walk(join(ortBin, 'linux', 'x64'))));
  });
});

describe('installer configuration (validated offline)', () => {
  it('passes electron-builder’s schema validation, which rejects unknown keys', async () => {
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    await expect(validateConfiguration({ ...config, notAnOption: true } as Configuration, new DebugLogger(false))).rejects.toThrow(/notAnOption|unknown property/);
  });

  it('declares the targets, file associations, models, unpacked natives and fuses', () => {
    expect(config.appId).toBe('org.vigil.workstation');
    expect(config.productName).toBe('Vigil');
    expect(config.linux?.target).toEqual([
      { target: 'AppImage', arch: ['x64'] },
      { target: 'deb', arch: ['x64'] },
    ]);
    expect(config.win?.target).toEqual([{ target: 'nsis', arch: ['x64'] }]);
    expect(config.mac?.target).toEqual([{ target: 'dmg', arch: ['arm64', 'x64'] }]);
    expect(config.fileAssociations).toEqual(expect.arrayContaining([expect.objectContaining({ ext: expect.arrayContaining(['dcm']), mimeType: 'application/dicom' })]));
    expect(config.extraResources).toEqual(expect.arrayContaining([expect.objectContaining({ from: 'models', to: 'models' })]));
    expect(config.asarUnpack).toEqual(expect.arrayContaining(['out/main/*-worker.js', 'out/main/package.json', 'node_modules/onnxruntime-node/**', '**/*.node']));
    expect(config.electronFuses).toEqual(PRODUCTION_FUSES);
    expect(config.npmRebuild).toBe(true);
    expect(existsSync(join(root, 'build', 'icon.png'))).toBe(true);
    const png = readFileSync(join(root, 'build', 'icon.png'));
    expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(512);
  });

  it('gives each installer only its own platform’s ONNX Runtime binaries', () => {
    // Cross-checked against the real Linux build above.
    expect(ortFilesKept('linux', 'x64')).toEqual(readdirSync(join(ortBin, 'linux', 'x64')).map((f) => `linux/x64/${f}`).sort());
    expect(ortFilesKept('win', 'x64')).toEqual(readdirSync(join(ortBin, 'win32', 'x64')).map((f) => `win32/x64/${f}`).sort());
    // macOS: libonnxruntime.1.dylib is what the binding links (@rpath); the versioned copy is a duplicate.
    expect(ortFilesKept('mac', 'arm64')).toEqual(['darwin/arm64/libonnxruntime.1.dylib', 'darwin/arm64/onnxruntime_binding.node']);
    // onnxruntime-node 1.30 has no darwin-x64 build: the Intel DMG carries none (AI runs nowhere there, see README).
    expect(ortFilesKept('mac', 'x64')).toEqual(existsSync(join(ortBin, 'darwin', 'x64')) ? expect.arrayContaining([expect.stringMatching(/^darwin\/x64\//)]) : []);
  });
});
