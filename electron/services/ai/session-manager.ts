/**
 * SessionManager: one ONNX Runtime session per model, on the best execution
 * provider this machine has (CUDA on Linux x64 when its provider library is
 * installed, DirectML on Windows, CoreML on macOS, then CPU). A GPU provider
 * that fails to initialise or to run falls back to CPU with the reason
 * recorded; a setting forces CPU. The provider that actually ran is reported
 * with every run.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

export type ProviderName = 'cuda' | 'dml' | 'coreml' | 'webgpu' | 'cpu';
export type ProviderPreference = 'auto' | 'cpu';

export interface TensorLike {
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The slice of an ONNX Runtime session the runtime uses (injectable for tests). */
export interface SessionLike {
  run(feeds: Record<string, unknown>): Promise<Record<string, TensorLike>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  executionProviders: ProviderName[];
  intraOpNumThreads: number;
  interOpNumThreads: number;
  graphOptimizationLevel: 'all';
}

export type SessionFactory = (modelPath: string, options: SessionOptions) => Promise<SessionLike>;

export interface RunOutcome {
  outputs: Record<string, TensorLike>;
  provider: ProviderName;
  /** Why a preferred GPU provider was not used (init or run failure), if it was not. */
  fallbackReason: string | null;
  sessionMs: number;
  inferenceMs: number;
}

/** The provider library of onnxruntime-node's CUDA build, fetched at install time on Linux x64. */
export function cudaProviderInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(dirname(require.resolve('onnxruntime-node')));
    return ['napi-v6', 'napi-v3'].some((napi) => existsSync(join(root, 'bin', napi, 'linux', 'x64', 'libonnxruntime_providers_cuda.so')));
  } catch {
    return false;
  }
}

/** GPU providers to try, best first, for this platform; CPU is always the last resort. */
export function preferredProviders(platform: NodeJS.Platform = process.platform, arch: string = process.arch, cudaInstalled: () => boolean = cudaProviderInstalled): ProviderName[] {
  if (platform === 'linux' && arch === 'x64' && cudaInstalled()) return ['cuda', 'cpu'];
  if (platform === 'win32') return ['dml', 'cpu'];
  if (platform === 'darwin') return ['coreml', 'cpu'];
  return ['cpu'];
}

export const ortSessionFactory: SessionFactory = async (modelPath, options) => {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, options);
  return {
    run: async (feeds) => (await session.run(feeds as Record<string, import('onnxruntime-node').Tensor>)) as Record<string, TensorLike>,
    release: () => session.release(),
  };
};

interface CachedSession {
  session: SessionLike;
  provider: ProviderName;
  fallbackReason: string | null;
}

export interface SessionManagerOptions {
  factory?: SessionFactory;
  providers?: ProviderName[];
  threads?: number;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);

export class SessionManager {
  private readonly cache = new Map<string, Promise<CachedSession>>();
  private readonly factory: SessionFactory;
  private readonly providers: ProviderName[];
  private readonly threads: number;

  constructor(opts: SessionManagerOptions = {}) {
    this.factory = opts.factory ?? ortSessionFactory;
    this.providers = opts.providers ?? preferredProviders();
    this.threads = opts.threads ?? Math.max(1, availableParallelism());
  }

  private options(provider: ProviderName): SessionOptions {
    // A GPU session keeps CPU as the fallback for nodes the GPU provider does not support.
    return {
      executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
  }

  private async create(modelPath: string, preference: ProviderPreference): Promise<CachedSession> {
    const chain = preference === 'cpu' ? (['cpu'] as ProviderName[]) : this.providers;
    const failures: string[] = [];
    for (const provider of chain) {
      try {
        const session = await this.factory(modelPath, this.options(provider));
        return { session, provider, fallbackReason: failures.length > 0 ? failures.join('; ') : null };
      } catch (err) {
        if (provider === 'cpu') throw err;
        failures.push(`${provider} failed to initialise: ${firstLine(err)}`);
      }
    }
    throw new Error(`no execution provider could open the model (${failures.join('; ')})`);
  }

  private key(modelPath: string, preference: ProviderPreference): string {
    return `${preference}\0${modelPath}`;
  }

  /** The cached session for a model (created on first use). */
  async session(modelPath: string, preference: ProviderPreference): Promise<CachedSession> {
    const key = this.key(modelPath, preference);
    let entry = this.cache.get(key);
    if (!entry) {
      entry = this.create(modelPath, preference);
      this.cache.set(key, entry);
      entry.catch(() => this.cache.delete(key));
    }
    return entry;
  }

  /** Runs feeds; a GPU run failure is retried once on CPU and the CPU session replaces the cached one. */
  async run(modelPath: string, preference: ProviderPreference, feeds: Record<string, unknown>): Promise<RunOutcome> {
    const t0 = performance.now();
    const cached = await this.session(modelPath, preference);
    const t1 = performance.now();
    try {
      const outputs = await cached.session.run(feeds);
      return { outputs, provider: cached.provider, fallbackReason: cached.fallbackReason, sessionMs: t1 - t0, inferenceMs: performance.now() - t1 };
    } catch (err) {
      if (cached.provider === 'cpu') throw err;
      const reason = `${cached.fallbackReason ? `${cached.fallbackReason}; ` : ''}${cached.provider} failed to run: ${firstLine(err)}`;
      await cached.session.release().catch(() => undefined);
      const cpu: CachedSession = { session: await this.factory(modelPath, this.options('cpu')), provider: 'cpu', fallbackReason: reason };
      this.cache.set(this.key(modelPath, preference), Promise.resolve(cpu));
      const t2 = performance.now();
      const outputs = await cpu.session.run(feeds);
      return { outputs, provider: 'cpu', fallbackReason: reason, sessionMs: t2 - t0, inferenceMs: performance.now() - t2 };
    }
  }

  async close(): Promise<void> {
    const entries = [...this.cache.values()];
    this.cache.clear();
    for (const e of entries) {
      try {
        await (await e).session.release();
      } catch {
        // already failed or released
      }
    }
  }
}
