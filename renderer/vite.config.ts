import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Cornerstone3D (see /work/shared/MACHINE-NOTES.md, "Cornerstone3D"):
 * - dev mode must not pre-bundle the Cornerstone ESM packages (their decode
 *   worker and wasm codecs are resolved with `new URL(…, import.meta.url)`),
 *   but must pre-bundle their CommonJS dependencies;
 * - workers are ES modules (the decode worker imports the codecs);
 * - vtk.js → xmlbuilder2 needs Node's `events`: the `events` npm package
 *   (a devDependency) is resolved as the browser shim.
 * The codecs are emitted as local assets: nothing is fetched at run time.
 */
const cornerstoneEsm = ['@cornerstonejs/core', '@cornerstonejs/tools', '@cornerstonejs/dicom-image-loader', '@cornerstonejs/metadata', '@cornerstonejs/utils'];
const cornerstoneCjsDeps = [
  'dicom-parser',
  'loglevel',
  'comlink',
  'dcmjs',
  '@kitware/vtk.js > xmlbuilder2',
  '@kitware/vtk.js > seedrandom',
  '@kitware/vtk.js > spark-md5',
  '@kitware/vtk.js > fflate',
  '@kitware/vtk.js > utif',
  '@kitware/vtk.js > fast-deep-equal',
  '@cornerstonejs/dicom-image-loader > @cornerstonejs/codec-charls/decodewasmjs',
  '@cornerstonejs/dicom-image-loader > @cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
  '@cornerstonejs/dicom-image-loader > @cornerstonejs/codec-openjpeg/decodewasmjs',
  '@cornerstonejs/dicom-image-loader > @cornerstonejs/codec-openjph/wasmjs',
  '@cornerstonejs/dicom-image-loader > @cornerstonejs/codec-libjxl/decodewasmjs',
];

/**
 * HTML entries. The viewer app is `main`; other pages (e.g. the decode
 * correctness harness) are added here as further named inputs.
 */
export const htmlInputs: Record<string, string> = {
  main: fileURLToPath(new URL('./index.html', import.meta.url)),
  // Decode-correctness / benchmark page (test/e2e/decodes-every-transfer-syntax.spec.ts, bench/viewer-bench.mjs).
  decodeHarness: fileURLToPath(new URL('./decode-harness.html', import.meta.url)),
};

// The renderer is a static bundle loaded from vigil:// (Electron) or the
// loopback bridge: relative asset URLs, no inline scripts (strict CSP).
export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  resolve: {
    alias: { events: 'events/' },
  },
  optimizeDeps: {
    exclude: cornerstoneEsm,
    include: cornerstoneCjsDeps,
  },
  build: {
    outDir: fileURLToPath(new URL('../out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2023',
    sourcemap: true,
    modulePreload: { polyfill: false },
    // Cornerstone + vtk.js are large by nature; the viewer chunk is lazy-loaded.
    chunkSizeWarningLimit: 6000,
    rollupOptions: {
      input: htmlInputs,
    },
  },
  worker: { format: 'es' },
});
