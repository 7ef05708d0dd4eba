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
import { dirname, join, sep } from 'node:path';

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
  /** Operators one after another, each using the intra-op pool (these models are chains; 'parallel' only adds scheduling). */
  executionMode: 'sequential';
  /** ONNX Runtime session config entries (onnxruntime_session_options_config_keys.h). */
  extra: { session: { set_denormal_as_zero: '1' } };
}

export type SessionFactory = (modelPath: string, options: SessionOptions) => Promise<SessionLike>;

export interface RunOutcome {
  outputs: Record<string, TensorLike>;
  provider: ProviderName;
  /** Why a preferred GPU provider was not used (init or run failure), if it was not. */
  fallbackReason: string | null;
  /** Getting the session: creation and warm-up on first use, ~0 when cached. */
  sessionMs: number;
  inferenceMs: number;
  /** The warm-up done when this model's session was created (the same record on every run). */
  warmUp: WarmUpRecord | null;
  /** Whether this run created the session (and so paid for creation and warm-up). */
  created: boolean;
}

/** The inputs of a warm-up run: zero tensors of the declared dtype and shape (symbolic dims resolved). */
export interface WarmUpSpec {
  inputs: { name: string; dtype: string; dims: readonly number[] }[];
}

export interface WarmUpRecord {
  ran: boolean;
  ms: number;
  provider: ProviderName;
  /** Why it did not run. */
  note?: string;
}

/**
 * Above this many input elements a dummy run costs as much as the real one
 * (3-D volumes): the session is not warmed up, the first real run is.
 */
export const WARMUP_MAX_ELEMENTS = 1 << 22;

async function zeroFeeds(spec: WarmUpSpec): Promise<Record<string, unknown>> {
  const ort = await import('onnxruntime-node');
  const feeds: Record<string, unknown> = {};
  for (const input of spec.inputs) {
    const n = input.dims.reduce((a, b) => a * b, 1);
    const dims = [...input.dims];
    switch (input.dtype) {
      case 'float32':
        feeds[input.name] = new ort.Tensor('float32', new Float32Array(n), dims);
        break;
      case 'uint8':
        feeds[input.name] = new ort.Tensor('uint8', new Uint8Array(n), dims);
        break;
      case 'int8':
        feeds[input.name] = new ort.Tensor('int8', new Int8Array(n), dims);
        break;
      case 'int32':
        feeds[input.name] = new ort.Tensor('int32', new Int32Array(n), dims);
        break;
      case 'int64':
        feeds[input.name] = new ort.Tensor('int64', new BigInt64Array(n), dims);
        break;
      default:
        throw new Error(`warm-up: input dtype ${input.dtype} is not supported`);
    }
  }
  return feeds;
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

/**
 * The CPU settings of every session (the bench's bare-run baseline uses them too).
 * Denormals as zero: deep conv stacks such as MeshNet produce denormal
 * activations, which x86 handles with microcode assists; flushing them made
 * MeshNet 256³ ~20-40 % faster here with identical labels (a float32 denormal is
 * below 1.2e-38, far under any decision these models make).
 */
export function cpuSessionOptions(threads: number): Omit<SessionOptions, 'executionProviders'> {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential', extra: { session: { set_denormal_as_zero: '1' } } };
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
  warmUp: WarmUpRecord | null;
}

/** Providers and threads left out (or undefined, as a runner or worker passes on what it was given) take the defaults. */
export interface SessionManagerOptions {
  factory?: SessionFactory;
  providers?: ProviderName[] | undefined;
  threads?: number | undefined;
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
    this.threads = opts.threads || Math.max(1, availableParallelism());
  }

  private options(provider: ProviderName): SessionOptions {
    // A GPU session keeps CPU as the fallback for nodes the GPU provider does not support.
    return { executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'], ...cpuSessionOptions(this.threads) };
  }

  /**
   * Warm-up, an explicit step of session creation: one dummy run with the
   * declared input shape (allocations, kernel selection, GPU graph capture), so
   * the first real run is not the slow one. A GPU provider that cannot run it
   * counts as failing to initialise.
   */
  private async warm(session: SessionLike, provider: ProviderName, spec: WarmUpSpec | undefined): Promise<WarmUpRecord | null> {
    if (!spec || spec.inputs.length === 0) return null;
    const elements = spec.inputs.reduce((n, i) => n + i.dims.reduce((a, b) => a * b, 1), 0);
    if (elements > WARMUP_MAX_ELEMENTS) return { ran: false, ms: 0, provider, note: `input of ${elements} elements: a dummy run would cost as much as the real one` };
    const t0 = performance.now();
    await session.run(await zeroFeeds(spec));
    return { ran: true, ms: performance.now() - t0, provider };
  }

  private async create(modelPath: string, preference: ProviderPreference, warmUp?: WarmUpSpec): Promise<CachedSession> {
    const chain = preference === 'cpu' ? (['cpu'] as ProviderName[]) : this.providers;
    const failures: string[] = [];
    for (const provider of chain) {
      let session: SessionLike;
      try {
        session = await this.factory(modelPath, this.options(provider));
      } catch (err) {
        if (provider === 'cpu') throw err;
        failures.push(`${provider} failed to initialise: ${firstLine(err)}`);
        continue;
      }
      try {
        const record = await this.warm(session, provider, warmUp);
        return { session, provider, fallbackReason: failures.length > 0 ? failures.join('; ') : null, warmUp: record };
      } catch (err) {
        await session.release().catch(() => undefined);
        if (provider === 'cpu') throw err;
        failures.push(`${provider} failed the warm-up run: ${firstLine(err)}`);
      }
    }
    throw new Error(`no execution provider could open the model (${failures.join('; ')})`);
  }

  private key(modelPath: string, preference: ProviderPreference): string {
    return `${preference}\0${modelPath}`;
  }

  /** The cached session for a model (created, and warmed up when `warmUp` is given, on first use). */
  async session(modelPath: string, preference: ProviderPreference, warmUp?: WarmUpSpec): Promise<CachedSession> {
    const key = this.key(modelPath, preference);
    let entry = this.cache.get(key);
    if (!entry) {
      entry = this.create(modelPath, preference, warmUp);
      this.cache.set(key, entry);
      entry.catch(() => this.cache.delete(key));
    }
    return entry;
  }

  /** Runs feeds; a GPU run failure is retried once on CPU and the CPU session replaces the cached one. */
  async run(modelPath: string, preference: ProviderPreference, feeds: Record<string, unknown>, opts: { warmUp?: WarmUpSpec } = {}): Promise<RunOutcome> {
    const t0 = performance.now();
    const created = !this.cache.has(this.key(modelPath, preference));
    const cached = await this.session(modelPath, preference, opts.warmUp);
    const t1 = performance.now();
    try {
      const outputs = await cached.session.run(feeds);
      return { outputs, provider: cached.provider, fallbackReason: cached.fallbackReason, sessionMs: t1 - t0, inferenceMs: performance.now() - t1, warmUp: cached.warmUp, created };
    } catch (err) {
      if (cached.provider === 'cpu') throw err;
      const reason = `${cached.fallbackReason ? `${cached.fallbackReason}; ` : ''}${cached.provider} failed to run: ${firstLine(err)}`;
      await cached.session.release().catch(() => undefined);
      const cpuSession = await this.factory(modelPath, this.options('cpu'));
      const cpu: CachedSession = { session: cpuSession, provider: 'cpu', fallbackReason: reason, warmUp: await this.warm(cpuSession, 'cpu', opts.warmUp) };
      this.cache.set(this.key(modelPath, preference), Promise.resolve(cpu));
      const t2 = performance.now();
      const outputs = await cpu.session.run(feeds);
      return { outputs, provider: 'cpu', fallbackReason: reason, sessionMs: t2 - t0, inferenceMs: performance.now() - t2, warmUp: cpu.warmUp, created: true };
    }
  }

  /** Drops and releases the cached sessions of every model file inside `dir` (its package changed on disk). */
  async evictUnder(dir: string): Promise<number> {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    const stale = [...this.cache.keys()].filter((k) => k.slice(k.indexOf('\0') + 1).startsWith(prefix));
    for (const key of stale) {
      const entry = this.cache.get(key)!;
      this.cache.delete(key);
      try {
        await (await entry).session.release();
      } catch {
        // creation failed or already released
      }
    }
    return stale.length;
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
