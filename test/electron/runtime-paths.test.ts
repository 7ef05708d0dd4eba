import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveRuntimePaths } from '../../electron/main/runtime-paths';

describe('resolveRuntimePaths', () => {
  it('finds the renderer and preload beside the bundle and models in the repo in development', () => {
    const paths = resolveRuntimePaths({
      bundleUrl: pathToFileURL(join('/repo', 'out', 'main', 'main.js')).href,
      appPath: '/repo',
      isPackaged: false,
      resourcesPath: '/electron/resources',
    });
    expect(paths).toEqual({
      rendererDir: join('/repo', 'out', 'renderer'),
      preloadPath: join('/repo', 'out', 'main', 'preload.cjs'),
      modelsDir: join('/repo', 'models'),
    });
  });

  it('uses the resources folder for models when packaged', () => {
    const paths = resolveRuntimePaths({
      bundleUrl: pathToFileURL(join('/opt', 'Vigil', 'resources', 'app.asar', 'out', 'main', 'main.js')).href,
      appPath: join('/opt', 'Vigil', 'resources', 'app.asar'),
      isPackaged: true,
      resourcesPath: join('/opt', 'Vigil', 'resources'),
    });
    expect(paths.rendererDir).toBe(join('/opt', 'Vigil', 'resources', 'app.asar', 'out', 'renderer'));
    expect(paths.preloadPath).toBe(join('/opt', 'Vigil', 'resources', 'app.asar', 'out', 'main', 'preload.cjs'));
    expect(paths.modelsDir).toBe(join('/opt', 'Vigil', 'resources', 'models'));
  });
});
