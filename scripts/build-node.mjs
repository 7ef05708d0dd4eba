// Bundles the Node-side entry points with esbuild (the renderer is built by Vite).
// out/main   — what the packaged Electron app ships: main, preload, workers.
// out/node   — dev/test-only entry points: the CLI and the loopback bridge (never packaged).
import { mkdirSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Native and Electron modules are loaded at run time, never bundled.
  external: ['electron', 'better-sqlite3', 'onnxruntime-node', 'bufferutil', 'utf-8-validate'],
};
const esm = {
  ...shared,
  format: 'esm',
  // Lets bundled CommonJS dependencies call require() inside an ES module.
  banner: { js: "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);" },
};

// Image codecs (several MB of wasm2js) are only ever loaded, lazily, by the workers
// that decode pixels. Main-thread bundles leave their dynamic imports external so
// the app and the CLI do not parse megabytes of codec code at every start.
const mainThread = { ...esm, external: [...shared.external, '@cornerstonejs/codec-*', '@cornerstonejs/jpeg-lossless-decoder-js'] };
const workers = {
  'import-worker': 'electron/services/library/import-worker.ts',
  'inference-worker': 'electron/services/ai/inference-worker.ts',
  'validation-worker': 'electron/services/ai/validation-worker.ts',
};

await Promise.all([
  build({ ...mainThread, entryPoints: { main: 'electron/main/main.ts' }, outdir: 'out/main' }),
  build({ ...esm, entryPoints: workers, outdir: 'out/main' }),
  build({ ...shared, format: 'cjs', entryPoints: { preload: 'electron/preload/preload.ts' }, outdir: 'out/main', outExtension: { '.js': '.cjs' } }),
  build({ ...mainThread, entryPoints: { cli: 'electron/cli/cli.ts', bridge: 'electron/bridge/bridge-main.ts' }, outdir: 'out/node' }),
  build({ ...esm, entryPoints: workers, outdir: 'out/node' }),
]);

// The packaged app loads worker scripts from app.asar.unpacked/out/main/ (outside
// the archive, see runtime-paths.ts), where the root package.json ("type":
// "module") is not: this marker declares them ES modules there instead of
// relying on Node's syntax detection. It is asarUnpack'ed with the workers.
mkdirSync('out/main', { recursive: true });
writeFileSync('out/main/package.json', `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
