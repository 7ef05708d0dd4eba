// `npm run bench -- inference [--runs N] [--skip-torch] [--torch-flush-denormal] [--model gwm|sub21|sub30]`: bundles
// bench/inference-bench.ts (it reuses the test fixtures and the services) and runs it.
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';

export async function run(args) {
  const out = fileURLToPath(new URL('../out/bench/inference-bench.js', import.meta.url));
  await build({
    entryPoints: [fileURLToPath(new URL('./inference-bench.ts', import.meta.url))],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    external: ['electron', 'better-sqlite3', 'onnxruntime-node'],
    banner: { js: "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);" },
  });
  const mod = await import(pathToFileURL(out).href);
  return mod.main(args);
}
