/**
 * Where the app's files are at run time. The bundle lives in out/main/ both in
 * development (`electron .`) and packaged (inside app.asar), so the renderer
 * and preload are found relative to it. Models are large and shipped outside
 * the asar: under process.resourcesPath when packaged, <appPath>/models in dev.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RuntimePathInputs {
  /** import.meta.url of the running main bundle (out/main/main.js). */
  bundleUrl: string;
  /** app.getAppPath(): the repository root in development, app.asar when packaged. */
  appPath: string;
  /** app.isPackaged */
  isPackaged: boolean;
  /** process.resourcesPath (only meaningful when packaged). */
  resourcesPath: string;
}

export interface RuntimePaths {
  /** Folder with the Vite-built renderer (index.html + assets). */
  rendererDir: string;
  /** Absolute path of the sandboxed CommonJS preload. */
  preloadPath: string;
  /** Folder holding the ONNX models. */
  modelsDir: string;
}

export function resolveRuntimePaths(inputs: RuntimePathInputs): RuntimePaths {
  const bundleDir = dirname(fileURLToPath(inputs.bundleUrl));
  return {
    rendererDir: join(bundleDir, '..', 'renderer'),
    preloadPath: join(bundleDir, 'preload.cjs'),
    modelsDir: inputs.isPackaged ? join(inputs.resourcesPath, 'models') : join(inputs.appPath, 'models'),
  };
}
