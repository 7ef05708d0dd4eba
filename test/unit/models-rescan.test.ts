/**
 * models.rescan: packages added to, removed from or changed in the model
 * folders are picked up without a restart. Every package is validated again
 * (a replaced model.onnx is hashed again and refused until its manifest
 * matches), a changed package runs its new graph (no stale cached session),
 * and a job running during the rescan finishes with the model it started with.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventName, ModelInfo } from '../../contract/ipc-contract';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const STUDY = '1.2.826.0.1.3680043.10.1138.980';
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

let root: string;
let services: VigilServices | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-rescan-'));
});
afterEach(async () => {
  await services?.close();
  services = undefined;
  rmSync(root, { recursive: true, force: true });
});

/** The tiny classifier (logit = w × mean + b) as package `dir` with model id `id`. */
function writeClassifier(dir: string, id: string, w: number, b: number): Buffer {
  const onnx = tinyClassifierModel({ w, b });
  writeModelPackage(dir, onnx, classifierManifest(onnx, { id, preprocessing: [{ op: 'modalityRescale' }] }));
  return onnx;
}

describe('ModelRegistry.refresh', () => {
  it('reports added, changed and removed packages and re-validates a replaced model.onnx', async () => {
    const user = join(root, 'user');
    mkdirSync(user);
    const registry = new ModelRegistry([{ dir: user, origin: 'user' }]);
    expect(await registry.list()).toEqual([]);

    const dir = join(user, 'cls');
    writeClassifier(dir, 'cls', 4, -2);
    expect(await registry.refresh()).toEqual({ added: [dir], removed: [], changed: [] });
    expect(await registry.list()).toEqual([expect.objectContaining({ id: 'cls', status: 'ok', origin: 'user' })]);

    // The graph replaced without a new manifest: refused by its hash, never offered to run.
    const replaced = tinyClassifierModel({ w: -4, b: 2 });
    writeFileSync(join(dir, 'model.onnx'), replaced);
    expect(await registry.refresh()).toEqual({ added: [], removed: [], changed: [dir] });
    expect((await registry.list())[0]).toMatchObject({ status: 'invalid', reason: expect.stringContaining(`sha-256 of model.onnx is ${sha256(replaced)}`) });
    expect(await registry.get('cls')).toBeNull();

    // Its manifest updated to match: valid again, under the new hash.
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(classifierManifest(replaced, { id: 'cls', version: '1.1.0' })));
    expect(await registry.refresh()).toEqual({ added: [], removed: [], changed: [dir] });
    expect((await registry.get('cls'))?.manifest).toMatchObject({ version: '1.1.0', sha256: sha256(replaced) });

    // Nothing changed: nothing reported.
    expect(await registry.refresh()).toEqual({ added: [], removed: [], changed: [] });

    rmSync(dir, { recursive: true });
    expect(await registry.refresh()).toEqual({ added: [], removed: [dir], changed: [] });
    expect(await registry.list()).toEqual([]);
  });

  it('runs overlapping rescans one after the other, the later one seeing the later folder', async () => {
    const user = join(root, 'user');
    mkdirSync(user);
    const registry = new ModelRegistry([{ dir: user, origin: 'user' }]);
    writeClassifier(join(user, 'a'), 'a', 4, -2);
    const first = registry.refresh();
    writeClassifier(join(user, 'b'), 'b', 4, -2);
    const second = registry.refresh();
    const [one, two] = await Promise.all([first, second]);
    // The first scan may or may not have seen b (it reads the folder asynchronously); together they report each once.
    expect([...one.added, ...two.added].sort()).toEqual([join(user, 'a'), join(user, 'b')]);
    expect((await registry.list()).map((m) => m.id)).toEqual(['a', 'b']);
  });
});

describe('models.rescan through the services', () => {
  async function open(): Promise<VigilServices> {
    return openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, inferenceThreads: 1 });
  }

  async function importStudy(s: VigilServices): Promise<void> {
    mkdirSync(join(root, 'in'), { recursive: true });
    const pixels = new Uint16Array(64).fill(1);
    writeFileSync(join(root, 'in', '1.dcm'), syntheticDicom({ rows: 8, columns: 8, pixels, studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.1` }));
    await s.library.import({ paths: [join(root, 'in')] });
  }

  async function rescan(s: VigilServices) {
    const r = await s.router.dispatch('models.rescan', {});
    if (!r.ok) throw new Error(`models.rescan: ${r.error.code} ${r.error.message}`);
    return r.value as { models: ModelInfo[]; added: string[]; removed: string[]; changed: string[] };
  }

  it('lists a package added after start, emits models.changed, and runs it', async () => {
    mkdirSync(join(root, 'models'));
    services = await open();
    const s = services;
    await importStudy(s);
    const seen: EventName[] = [];
    s.events.subscribe((event) => seen.push(event));
    expect(await s.analysis.listModels()).toEqual([]);

    const dir = join(root, 'models', 'late');
    writeClassifier(dir, 'late-model', 4, -2);
    const r = await rescan(s);
    expect(r).toMatchObject({ added: [dir], removed: [], changed: [] });
    expect(r.models).toEqual([expect.objectContaining({ id: 'late-model', status: 'ok', origin: 'user' })]);
    expect(seen).toContain('models.changed');

    await s.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'late-model', provider: 'cpu' });
    await s.analysis.queue.whenIdle();
    const [result] = s.analysis.resultsForStudy(STUDY);
    expect(result?.status, result?.reason ?? '').toBe('done');
    expect(result!.findings[0]?.score).toBeCloseTo(sigmoid(2), 5);
  });

  it('a package replaced on disk runs its new graph after the rescan, not the cached session of the old one', async () => {
    const dir = join(root, 'models', 'cls');
    const before = writeClassifier(dir, 'cls', 4, -2);
    services = await open();
    const s = services;
    await importStudy(s);
    await s.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'cls', provider: 'cpu' });
    await s.analysis.queue.whenIdle();
    expect(s.analysis.resultsForStudy(STUDY)[0]!.findings[0]?.score).toBeCloseTo(sigmoid(2), 5);

    const after = writeClassifier(dir, 'cls', -4, 2);
    expect(sha256(after)).not.toBe(sha256(before));
    expect((await rescan(s)).changed).toEqual([dir]);
    await s.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'cls', provider: 'cpu' });
    await s.analysis.queue.whenIdle();
    const [result] = s.analysis.resultsForStudy(STUDY);
    expect(result).toMatchObject({ status: 'done', modelSha256: sha256(after) });
    expect(result!.findings[0]?.score).toBeCloseTo(sigmoid(-2), 5);
  });

  it('a job running while the folders are rescanned finishes with the model it started with', async () => {
    const dir = join(root, 'models', 'cls');
    const onnx = writeClassifier(dir, 'cls', 4, -2);
    services = await open();
    const s = services;
    await importStudy(s);
    let rescanned: Promise<Awaited<ReturnType<typeof rescan>>> | null = null;
    let statusAtRescan: string | null = null;
    s.events.subscribe((event, payload) => {
      if (event !== 'analysis.progress' || rescanned) return;
      const p = payload as { status: string; modelId: string };
      if (p.status !== 'running' || p.modelId !== 'cls') return;
      // While it runs: a new package arrives and everything is scanned and validated again.
      writeClassifier(join(root, 'models', 'other'), 'other', 1, 0);
      statusAtRescan = s.analysis.queue.list().find((j) => j.modelId === 'cls')?.status ?? null;
      rescanned = rescan(s);
    });
    await s.analysis.analyze({ studyInstanceUid: STUDY, modelId: 'cls', provider: 'cpu' });
    await s.analysis.queue.whenIdle();
    expect(statusAtRescan).toBe('running');
    expect(rescanned).not.toBeNull();
    expect((await rescanned!).added).toEqual([join(root, 'models', 'other')]);
    const [result] = s.analysis.resultsForStudy(STUDY);
    expect(result).toMatchObject({ status: 'done', modelId: 'cls', modelSha256: sha256(onnx) });
    expect(result!.findings[0]?.score).toBeCloseTo(sigmoid(2), 5);
    expect(s.analysis.queue.list().find((j) => j.modelId === 'cls')?.status).toBe('done');
  });
});
