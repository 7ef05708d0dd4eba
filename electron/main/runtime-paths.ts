/**
 * Where the app's files are at run time — the one resolver used in development
 * (`electron .`), in tests and in the packaged app.
 *
 * - The main bundle lives in out/main/ both in development and packaged (inside
 *   resources/app.asar), so the renderer and preload are found relative to it.
 * - Worker scripts (out/main/*-worker.js) are loaded from OUTSIDE the archive when
 *   packaged: Node worker threads cannot reliably load a script from app.asar, so
 *   electron-builder `asarUnpack`s them to resources/app.asar.unpacked/out/main/.
 * - Native modules (better-sqlite3, onnxruntime-node's binding and shared
 *   libraries) are unpacked the same way; the dynamic linker needs real files.
 * - Shipped model packages are large and live outside the archive, under
 *   resources/models/ (electron-builder `extraResources`); <appPath>/models in dev.
 * - Everything the user creates lives in the user-data folder: the library
 *   (SQLite database + imported files) and user-added model packages.
 */
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface RuntimePathInputs {
  /** import.meta.url of the running main bundle (out/main/main.js). */
  bundleUrl: string;
  /** app.getAppPath(): the repository root in development, resources/app.asar when packaged. */
  appPath: string;
  /** app.isPackaged */
  isPackaged: boolean;
  /** process.resourcesPath (only meaningful when packaged). */
  resourcesPath: string;
  /** app.getPath('userData'): per-user writable folder. */
  userDataPath: string;
  /** Defaults to process.platform / process.arch. */
  platform?: NodeJS.Platform;
  arch?: string;
}

export interface RuntimePaths {
  /** Folder with the Vite-built renderer (index.html + assets), served by the vigil:// protocol. */
  rendererDir: string;
  /** Absolute path of the sandboxed CommonJS preload. */
  preloadPath: string;
  /** Read-only folder of the model packages shipped with the app (<id>/manifest.json + model.onnx). */
  modelsDir: string;
  /** Writable folder for model packages the clinic adds later (user data). */
  userModelsDir: string;
  /** The library: SQLite database (library.sqlite) and managed storage of imported files. */
  dataDir: string;
  /** Folder the worker scripts are loaded from (app.asar.unpacked/out/main when packaged). */
  workerDir: string;
  /** URL of the import worker, outside the asar when packaged. */
  importWorkerUrl: URL;
  /** node_modules on disk, where native modules are loaded from (app.asar.unpacked/node_modules when packaged). */
  nativeModulesDir: string;
  /** onnxruntime-node's folder for this platform: onnxruntime_binding.node + the ONNX Runtime shared library (+ GPU providers). */
  onnxRuntimeDir: string;
  /** better-sqlite3's compiled binding. */
  sqliteBinding: string;
  platform: NodeJS.Platform;
  arch: string;
}

const ASAR = 'app.asar';

/**
 * Maps a path inside app.asar to the same path in app.asar.unpacked (where
 * electron-builder puts `asarUnpack`ed files). Paths outside an archive are returned unchanged.
 */
export function toUnpackedPath(path: string): string {
  const marker = `${sep}${ASAR}${sep}`;
  const at = path.indexOf(marker);
  if (at !== -1) return `${path.slice(0, at)}${sep}${ASAR}.unpacked${sep}${path.slice(at + marker.length)}`;
  if (path.endsWith(`${sep}${ASAR}`)) return `${path}.unpacked`;
  return path;
}

export function resolveRuntimePaths(inputs: RuntimePathInputs): RuntimePaths {
  const platform = inputs.platform ?? process.platform;
  const arch = inputs.arch ?? process.arch;
  const bundleDir = dirname(fileURLToPath(inputs.bundleUrl));
  const workerDir = toUnpackedPath(bundleDir);
  const nativeModulesDir = toUnpackedPath(join(inputs.appPath, 'node_modules'));
  return {
    rendererDir: join(bundleDir, '..', 'renderer'),
    preloadPath: join(bundleDir, 'preload.cjs'),
    modelsDir: inputs.isPackaged ? join(inputs.resourcesPath, 'models') : join(inputs.appPath, 'models'),
    userModelsDir: join(inputs.userDataPath, 'models'),
    dataDir: join(inputs.userDataPath, 'library'),
    workerDir,
    importWorkerUrl: pathToFileURL(join(workerDir, 'import-worker.js')),
    nativeModulesDir,
    onnxRuntimeDir: join(nativeModulesDir, 'onnxruntime-node', 'bin', 'napi-v6', platform, arch),
    sqliteBinding: join(nativeModulesDir, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'),
    platform,
    arch,
  };
}

/** URL of another bundled worker (out/main/<name>-worker.js), outside the asar when packaged. */
export function workerScriptUrl(paths: Pick<RuntimePaths, 'workerDir'>, name: string): URL {
  return pathToFileURL(join(paths.workerDir, `${name}-worker.js`));
}

export type ExecutionProviderName = 'cpu' | 'cuda' | 'tensorrt' | 'dml' | 'webgpu' | 'coreml';

export interface ExecutionProviderInfo {
  /** onnxruntime-node's name for the provider (InferenceSession executionProviders). */
  name: ExecutionProviderName;
  /** The provider's binaries are in this installation. Whether the machine can run it is only known when a session is created. */
  bundled: boolean;
  /** What the machine must have for the provider to run. */
  requires: string;
}

const CUDA_REQUIREMENT =
  'NVIDIA GPU with driver >= 525.60.13, CUDA 12.x runtime libraries (cudart, cuBLAS, cuFFT, cuRAND) and cuDNN 9.x on the library path';

/**
 * Which ONNX Runtime execution providers this installation carries, from the
 * files present in `onnxRuntimeDir`. `cpu` is always last: it is the fallback.
 * (The settings UI shows this list next to the provider that ran last.)
 */
export function bundledExecutionProviders(
  paths: Pick<RuntimePaths, 'onnxRuntimeDir' | 'platform' | 'arch'>,
  exists: (path: string) => boolean = existsSync,
): ExecutionProviderInfo[] {
  const has = (file: string) => exists(join(paths.onnxRuntimeDir, file));
  const runtime = has('onnxruntime_binding.node');
  const providers: ExecutionProviderInfo[] = [];
  if (paths.platform === 'linux' && paths.arch === 'x64') {
    const shared = has('libonnxruntime_providers_shared.so');
    providers.push(
      { name: 'tensorrt', bundled: runtime && shared && has('libonnxruntime_providers_tensorrt.so'), requires: `NVIDIA TensorRT 10.x libraries, plus everything CUDA needs: ${CUDA_REQUIREMENT}` },
      { name: 'cuda', bundled: runtime && shared && has('libonnxruntime_providers_cuda.so'), requires: CUDA_REQUIREMENT },
    );
  } else if (paths.platform === 'win32') {
    providers.push(
      { name: 'dml', bundled: runtime && has('DirectML.dll'), requires: 'A DirectX 12 capable GPU and its vendor driver (Windows 10 1903 or newer)' },
      { name: 'webgpu', bundled: runtime && has('dxcompiler.dll') && has('dxil.dll'), requires: 'A DirectX 12 capable GPU and its vendor driver' },
    );
  } else if (paths.platform === 'darwin') {
    providers.push({ name: 'coreml', bundled: runtime, requires: 'macOS on Apple silicon (built into ONNX Runtime; uses the GPU / Neural Engine)' });
  }
  providers.push({ name: 'cpu', bundled: runtime, requires: runtime ? 'Nothing' : `ONNX Runtime has no build for ${paths.platform}-${paths.arch}` });
  return providers;
}
