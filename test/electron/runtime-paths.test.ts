import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundledExecutionProviders, resolveRuntimePaths, toUnpackedPath, workerScriptUrl } from '../../electron/main/runtime-paths';

const userData = join('/home', 'u', '.config', 'Vigil');

describe('resolveRuntimePaths', () => {
  it('finds everything in the repository in development', () => {
    const paths = resolveRuntimePaths({
      bundleUrl: pathToFileURL(join('/repo', 'out', 'main', 'main.js')).href,
      appPath: '/repo',
      isPackaged: false,
      resourcesPath: '/electron/resources',
      userDataPath: userData,
      platform: 'linux',
      arch: 'x64',
    });
    expect(paths).toEqual({
      rendererDir: join('/repo', 'out', 'renderer'),
      preloadPath: join('/repo', 'out', 'main', 'preload.cjs'),
      modelsDir: join('/repo', 'models'),
      userModelsDir: join(userData, 'models'),
      dataDir: join(userData, 'library'),
      workerDir: join('/repo', 'out', 'main'),
      importWorkerUrl: pathToFileURL(join('/repo', 'out', 'main', 'import-worker.js')),
      nativeModulesDir: join('/repo', 'node_modules'),
      onnxRuntimeDir: join('/repo', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64'),
      sqliteBinding: join('/repo', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'),
      platform: 'linux',
      arch: 'x64',
    });
  });

  it('when packaged: renderer and preload inside app.asar, workers and native modules in app.asar.unpacked, models in resources', () => {
    const resources = join('/opt', 'Vigil', 'resources');
    const paths = resolveRuntimePaths({
      bundleUrl: pathToFileURL(join(resources, 'app.asar', 'out', 'main', 'main.js')).href,
      appPath: join(resources, 'app.asar'),
      isPackaged: true,
      resourcesPath: resources,
      userDataPath: userData,
      platform: 'win32',
      arch: 'x64',
    });
    expect(paths.rendererDir).toBe(join(resources, 'app.asar', 'out', 'renderer'));
    expect(paths.preloadPath).toBe(join(resources, 'app.asar', 'out', 'main', 'preload.cjs'));
    expect(paths.modelsDir).toBe(join(resources, 'models'));
    expect(fileURLToPath(paths.importWorkerUrl)).toBe(join(resources, 'app.asar.unpacked', 'out', 'main', 'import-worker.js'));
    expect(fileURLToPath(workerScriptUrl(paths, 'inference'))).toBe(join(resources, 'app.asar.unpacked', 'out', 'main', 'inference-worker.js'));
    expect(paths.onnxRuntimeDir).toBe(join(resources, 'app.asar.unpacked', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'win32', 'x64'));
    expect(paths.sqliteBinding).toBe(join(resources, 'app.asar.unpacked', 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'));
    // User data never lives in the installation folder: an update replaces that folder, the library survives.
    expect(paths.dataDir).toBe(join(userData, 'library'));
    expect(paths.userModelsDir).toBe(join(userData, 'models'));
  });

  it('defaults platform and arch to the running process', () => {
    const paths = resolveRuntimePaths({ bundleUrl: pathToFileURL('/repo/out/main/main.js').href, appPath: '/repo', isPackaged: false, resourcesPath: '', userDataPath: userData });
    expect(paths.platform).toBe(process.platform);
    expect(paths.arch).toBe(process.arch);
  });
});

describe('toUnpackedPath', () => {
  it('maps paths inside app.asar to app.asar.unpacked and leaves others alone', () => {
    expect(toUnpackedPath(join('/opt', 'Vigil', 'resources', 'app.asar', 'out', 'main'))).toBe(join('/opt', 'Vigil', 'resources', 'app.asar.unpacked', 'out', 'main'));
    expect(toUnpackedPath(join('/opt', 'Vigil', 'resources', 'app.asar'))).toBe(join('/opt', 'Vigil', 'resources', 'app.asar.unpacked'));
    expect(toUnpackedPath(join('/repo', 'out', 'main'))).toBe(join('/repo', 'out', 'main'));
    expect(toUnpackedPath(join('/repo', 'my.app.asar.backup', 'x'))).toBe(join('/repo', 'my.app.asar.backup', 'x'));
  });
});

describe('bundledExecutionProviders', () => {
  const dir = join('/ort');
  const present = (...files: string[]) => (path: string) => files.some((f) => path === join(dir, f));

  it('Linux x64: CUDA and TensorRT only when their provider libraries were installed at build time; CPU last', () => {
    const cpuOnly = bundledExecutionProviders({ onnxRuntimeDir: dir, platform: 'linux', arch: 'x64' }, present('onnxruntime_binding.node', 'libonnxruntime.so.1'));
    expect(cpuOnly.map((p) => [p.name, p.bundled])).toEqual([
      ['tensorrt', false],
      ['cuda', false],
      ['cpu', true],
    ]);
    const gpu = bundledExecutionProviders(
      { onnxRuntimeDir: dir, platform: 'linux', arch: 'x64' },
      present('onnxruntime_binding.node', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'),
    );
    expect(gpu.find((p) => p.name === 'cuda')).toMatchObject({ bundled: true, requires: expect.stringMatching(/CUDA 12.*cuDNN 9/) });
    expect(gpu.find((p) => p.name === 'tensorrt')?.bundled).toBe(false);
  });

  it('Windows: DirectML and WebGPU; macOS: CoreML', () => {
    const win = bundledExecutionProviders({ onnxRuntimeDir: dir, platform: 'win32', arch: 'x64' }, present('onnxruntime_binding.node', 'DirectML.dll', 'dxcompiler.dll', 'dxil.dll'));
    expect(win.map((p) => [p.name, p.bundled])).toEqual([
      ['dml', true],
      ['webgpu', true],
      ['cpu', true],
    ]);
    const mac = bundledExecutionProviders({ onnxRuntimeDir: dir, platform: 'darwin', arch: 'arm64' }, present('onnxruntime_binding.node'));
    expect(mac.map((p) => [p.name, p.bundled])).toEqual([
      ['coreml', true],
      ['cpu', true],
    ]);
  });

  it('reports nothing runnable where ONNX Runtime has no build (macOS x64)', () => {
    const providers = bundledExecutionProviders({ onnxRuntimeDir: dir, platform: 'darwin', arch: 'x64' }, () => false);
    expect(providers.every((p) => !p.bundled)).toBe(true);
    expect(providers.at(-1)).toMatchObject({ name: 'cpu', requires: 'ONNX Runtime has no build for darwin-x64' });
  });
});
