/**
 * What the Models page shows about the AI runtime: the ONNX Runtime version,
 * which execution providers this installation carries and would try (best
 * first, CPU last) and why the others are not used. The Electron host knows
 * which provider binaries it bundles (runtime-paths.ts) and passes that list
 * in; other hosts (bridge, CLI) look at onnxruntime-node's binary folder the
 * same way.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RuntimeInfo } from '../../../contract/ipc-contract';
import type { ProviderName } from './session-manager';

/** One provider's binaries in this installation (the shape of runtime-paths' ExecutionProviderInfo). */
export interface BundledProvider {
  name: string;
  bundled: boolean;
  /** What the machine must have for the provider to run. */
  requires: string;
}

function ortPackageDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    return dirname(dirname(require.resolve('onnxruntime-node')));
  } catch {
    return null;
  }
}

/** onnxruntime-node's version from its package.json (no native code is loaded). */
export function installedOrtVersion(): string | null {
  const dir = ortPackageDir();
  if (!dir) return null;
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** The provider binaries present in onnxruntime-node's folder for this platform (as runtime-paths' bundledExecutionProviders). */
export function detectBundledProviders(platform: string = process.platform, arch: string = process.arch, exists: (p: string) => boolean = existsSync): BundledProvider[] {
  const pkg = ortPackageDir();
  const binDir = pkg ? join(pkg, 'bin', 'napi-v6', platform, arch) : null;
  const has = (file: string) => (binDir ? exists(join(binDir, file)) : false);
  const runtime = has('onnxruntime_binding.node');
  const out: BundledProvider[] = [];
  if (platform === 'linux' && arch === 'x64') {
    const shared = has('libonnxruntime_providers_shared.so');
    out.push({ name: 'cuda', bundled: runtime && shared && has('libonnxruntime_providers_cuda.so'), requires: 'the CUDA provider library (installed with onnxruntime-node on Linux x64), an NVIDIA GPU, CUDA 12.x and cuDNN 9.x' });
  } else if (platform === 'win32') {
    out.push({ name: 'dml', bundled: runtime && has('DirectML.dll'), requires: 'DirectML.dll and a DirectX 12 capable GPU' });
  } else if (platform === 'darwin') {
    out.push({ name: 'coreml', bundled: runtime, requires: 'macOS on Apple silicon' });
  }
  out.push({ name: 'cpu', bundled: runtime, requires: runtime ? 'Nothing' : `ONNX Runtime has no build for ${platform}-${arch}` });
  return out;
}

export interface RuntimeInfoInputs {
  ortVersion: string | null;
  platform: string;
  arch: string;
  bundled: readonly BundledProvider[];
  /** The session manager's provider order (what it would try, best first). */
  order: readonly ProviderName[];
  forceCpu: boolean;
  lastRun: RuntimeInfo['lastRun'];
}

/** Providers in the session manager's order, then the bundled ones it does not try; cpu last. */
export function runtimeInfo(i: RuntimeInfoInputs): RuntimeInfo {
  const byName = new Map(i.bundled.map((p) => [p.name, p]));
  const names = [...new Set([...i.order.filter((n) => n !== 'cpu'), ...i.bundled.map((p) => p.name).filter((n) => n !== 'cpu'), 'cpu'])];
  const providers = names.map((name): RuntimeInfo['providers'][number] => {
    const b = byName.get(name);
    const inOrder = (i.order as readonly string[]).includes(name) || name === 'cpu';
    if (b && !b.bundled) return { name, available: false, reason: `not in this installation (needs ${b.requires})` };
    if (!inOrder) return { name, available: false, reason: 'bundled, but not tried on this platform' };
    if (i.forceCpu && name !== 'cpu') return { name, available: true, reason: 'not used: the "Force CPU" setting is on' };
    return { name, available: true };
  });
  return { ortVersion: i.ortVersion, platform: i.platform, arch: i.arch, providers, forceCpu: i.forceCpu, lastRun: i.lastRun };
}
