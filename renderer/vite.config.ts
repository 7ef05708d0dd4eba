import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The renderer is a static bundle loaded from file:// (Electron) or the
// loopback bridge: relative asset URLs, no inline scripts (strict CSP).
export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2023',
    sourcemap: true,
    modulePreload: { polyfill: false },
  },
  worker: { format: 'es' },
});
