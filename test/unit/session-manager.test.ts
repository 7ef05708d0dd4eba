import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ortSessionFactory, preferredProviders, type SessionFactory, SessionManager } from '../../electron/services/ai/session-manager';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';

let root: string;
let modelPath: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-sessions-'));
  modelPath = join(root, 'model.onnx');
  writeFileSync(modelPath, tinyClassifierModel({ w: 2, b: 1 }));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const feeds = () => ({ image: new Tensor('float32', new Float32Array(16).fill(0.5), [1, 1, 4, 4]) });

describe('execution provider preference', () => {
  it('orders GPU providers per platform, CPU last', () => {
    expect(preferredProviders('linux', 'x64', () => true)).toEqual(['cuda', 'cpu']);
    expect(preferredProviders('linux', 'x64', () => false)).toEqual(['cpu']);
    expect(preferredProviders('linux', 'arm64', () => true)).toEqual(['cpu']);
    expect(preferredProviders('win32', 'x64')).toEqual(['dml', 'cpu']);
    expect(preferredProviders('darwin', 'arm64')).toEqual(['coreml', 'cpu']);
  });
});

describe('SessionManager', () => {
  it('runs on CPU and caches the session per model', async () => {
    let created = 0;
    const factory: SessionFactory = (p, o) => {
      created++;
      return ortSessionFactory(p, o);
    };
    const sm = new SessionManager({ factory, providers: ['cpu'], threads: 1 });
    const a = await sm.run(modelPath, 'auto', feeds());
    const b = await sm.run(modelPath, 'auto', feeds());
    expect(a.provider).toBe('cpu');
    expect(a.fallbackReason).toBeNull();
    expect((a.outputs.logits!.data as Float32Array)[0]).toBeCloseTo(2 * 0.5 + 1, 6);
    expect(b.provider).toBe('cpu');
    expect(created).toBe(1);
    await sm.close();
  });

  it('falls back to CPU with the reason when the GPU provider fails to initialise', async () => {
    const tried: string[][] = [];
    const factory: SessionFactory = async (p, o) => {
      tried.push(o.executionProviders);
      if (o.executionProviders[0] === 'cuda') throw new Error('CUDA driver version is insufficient for CUDA runtime version\nstack...');
      return ortSessionFactory(p, o);
    };
    const sm = new SessionManager({ factory, providers: ['cuda', 'cpu'], threads: 1 });
    const r = await sm.run(modelPath, 'auto', feeds());
    expect(tried).toEqual([['cuda', 'cpu'], ['cpu']]);
    expect(r.provider).toBe('cpu');
    expect(r.fallbackReason).toBe('cuda failed to initialise: CUDA driver version is insufficient for CUDA runtime version');
    expect((r.outputs.logits!.data as Float32Array)[0]).toBeCloseTo(2, 6);
    await sm.close();
  });

  it('falls back to CPU when the GPU provider fails to run, and keeps the CPU session', async () => {
    const factory: SessionFactory = async (p, o) => {
      if (o.executionProviders[0] === 'dml') {
        return { run: () => Promise.reject(new Error('DirectML device removed')), release: async () => undefined };
      }
      return ortSessionFactory(p, o);
    };
    const sm = new SessionManager({ factory, providers: ['dml', 'cpu'], threads: 1 });
    const r = await sm.run(modelPath, 'auto', feeds());
    expect(r.provider).toBe('cpu');
    expect(r.fallbackReason).toContain('dml failed to run: DirectML device removed');
    const again = await sm.run(modelPath, 'auto', feeds());
    expect(again.provider).toBe('cpu');
    await sm.close();
  });

  it('forces CPU when asked, without trying the GPU', async () => {
    const tried: string[] = [];
    const factory: SessionFactory = async (p, o) => {
      tried.push(o.executionProviders[0]!);
      return ortSessionFactory(p, o);
    };
    const sm = new SessionManager({ factory, providers: ['cuda', 'cpu'], threads: 1 });
    const r = await sm.run(modelPath, 'cpu', feeds());
    expect(tried).toEqual(['cpu']);
    expect(r).toMatchObject({ provider: 'cpu', fallbackReason: null });
    await sm.close();
  });

  it('warms a new session up with a dummy run of the declared shape, once, and records it', async () => {
    const runs: number[][] = [];
    const factory: SessionFactory = async (p, o) => {
      const real = await ortSessionFactory(p, o);
      return { run: (f) => (runs.push([...(f.image as Tensor).dims]), real.run(f)), release: () => real.release() };
    };
    const sm = new SessionManager({ factory, providers: ['cpu'], threads: 1 });
    const warmUp = { inputs: [{ name: 'image', dtype: 'float32', dims: [1, 1, 4, 4] }] };
    const a = await sm.run(modelPath, 'auto', feeds(), { warmUp });
    const b = await sm.run(modelPath, 'auto', feeds(), { warmUp });
    expect(runs).toHaveLength(3); // warm-up + two real runs
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(a.warmUp).toMatchObject({ ran: true, provider: 'cpu' });
    expect(a.warmUp!.ms).toBeGreaterThan(0);
    await sm.close();
  });

  it('skips the warm-up of very large inputs and says why', async () => {
    const sm = new SessionManager({ providers: ['cpu'], threads: 1, factory: async () => ({ run: async () => ({}), release: async () => undefined }) });
    const r = await sm.run(modelPath, 'auto', {}, { warmUp: { inputs: [{ name: 'input', dtype: 'float32', dims: [1, 1, 256, 256, 256] }] } });
    expect(r.warmUp).toMatchObject({ ran: false });
    expect(r.warmUp!.note).toMatch(/16777216 elements/);
    await sm.close();
  });

  it('treats a GPU provider that fails the warm-up run as failing to initialise', async () => {
    const factory: SessionFactory = async (p, o) => {
      if (o.executionProviders[0] === 'cuda') return { run: () => Promise.reject(new Error('CUDNN_STATUS_NOT_SUPPORTED')), release: async () => undefined };
      return ortSessionFactory(p, o);
    };
    const sm = new SessionManager({ factory, providers: ['cuda', 'cpu'], threads: 1 });
    const r = await sm.run(modelPath, 'auto', feeds(), { warmUp: { inputs: [{ name: 'image', dtype: 'float32', dims: [1, 1, 4, 4] }] } });
    expect(r.provider).toBe('cpu');
    expect(r.fallbackReason).toBe('cuda failed the warm-up run: CUDNN_STATUS_NOT_SUPPORTED');
    await sm.close();
  });
});
