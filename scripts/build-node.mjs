// Bundles the Node-side entry points with esbuild (the renderer is built by Vite).
// out/main   — what the packaged Electron app ships: main, preload, workers.
// out/node   — dev/test-only entry points: the CLI and the loopback bridge (never packaged).
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
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
  // Display transcoding for the vigil:// protocol and the bridge (display-transcode-pool.ts).
  'display-transcode-worker': 'electron/services/dicom/display-transcode-worker.ts',
};

/**
 * Chunk names carry a content hash, so every changed build leaves the previous chunks behind.
 * Removes those this build did not write, once they are old enough not to belong to a build
 * running at the same moment from the same checkout.
 */
function removeStaleChunks(result) {
  const written = new Set(Object.keys(result.metafile.outputs).map((p) => resolve(p)));
  const cutoff = Date.now() - 10 * 60 * 1000;
  for (const name of readdirSync('out/node')) {
    const p = resolve('out/node', name);
    if (!/^chunk-[A-Z0-9]+\.js(\.map)?$/.test(name) || written.has(p)) continue;
    if (statSync(p).mtimeMs < cutoff) rmSync(p, { force: true });
  }
  return result;
}

await Promise.all([
  build({ ...mainThread, entryPoints: { main: 'electron/main/main.ts' }, outdir: 'out/main' }),
  build({ ...esm, entryPoints: workers, outdir: 'out/main' }),
  build({ ...shared, format: 'cjs', entryPoints: { preload: 'electron/preload/preload.ts' }, outdir: 'out/main', outExtension: { '.js': '.cjs' } }),
  // Split at dynamic imports: each CLI command loads only its own code (`vigil import`
  // never parses the AI runtime). Chunks stay beside the entries so import.meta.url-relative
  // paths (workers, models, renderer) resolve the same from any chunk.
  build({ ...mainThread, splitting: true, chunkNames: 'chunk-[hash]', metafile: true, entryPoints: { cli: 'electron/cli/cli.ts', bridge: 'electron/bridge/bridge-main.ts' }, outdir: 'out/node' }).then(removeStaleChunks),
  build({ ...esm, entryPoints: workers, outdir: 'out/node' }),
]);

// The packaged app loads worker scripts from app.asar.unpacked/out/main/ (outside
// the archive, see runtime-paths.ts), where the root package.json ("type":
// "module") is not: this marker declares them ES modules there instead of
// relying on Node's syntax detection. It is asarUnpack'ed with the workers.
mkdirSync('out/main', { recursive: true });
writeFileSync('out/main/package.json', `${JSON.stringify({ type: 'module' }, null, 2)}\n`);

// The codecs' WebAssembly files travel beside the worker bundles (codecs/), so an
// installed app — whose node_modules holds only the native runtime dependencies —
// decodes with real WASM, and HTJ2K (OpenJPH ships no embedded build) at all.
// The file name rule is codecWasmName() in electron/services/dicom/pixel-codecs.ts;
// the packaged-layout test decodes HTJ2K with the unpacked worker to prove it.
const CODEC_WASM = ['@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm', '@cornerstonejs/codec-charls/decodewasm', '@cornerstonejs/codec-openjpeg/decodewasm', '@cornerstonejs/codec-openjph/wasm'];
const requireHere = createRequire(import.meta.url);
for (const dir of ['out/main/codecs', 'out/node/codecs']) {
  mkdirSync(dir, { recursive: true });
  for (const specifier of CODEC_WASM) copyFileSync(requireHere.resolve(specifier), `${dir}/${specifier.replace(/^@cornerstonejs\//, '').replaceAll('/', '-')}.wasm`);
}
