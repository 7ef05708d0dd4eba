/**
 * The real external model: brainchop MeshNet (ONNX) on the 256-slice DICOM T1
 * series, through the full product pipeline (import -> queue -> inference
 * worker: decode -> reorient to LIA 256³ 1 mm -> min-max -> ONNX Runtime ->
 * argmax -> mask back on the DICOM grid -> results store). Voxel counts must
 * equal the README's reference (PyTorch and ORT agree on them). The main event
 * loop's delay is measured during the 256³ run.
 * The two 18-class models also run through the CLI (about a minute each on 2 cores);
 * VIGIL_MESHNET_QUICK=1 skips them for a fast local loop.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { MESHNET, meshnetDataPresent, T1_SERIES, writeMeshnetPackage } from '../fixtures/models/meshnet-packages';
import type { AnalyzeJson } from './analyze-cli.test';
import { ensureBuilt, repoRoot, runCli } from './helpers';

const present = meshnetDataPresent();
if (!present) console.warn('\n!!! ../shared/data (MeshNet ONNX models / mr-brainchop-t1 series) is missing: MeshNet agreement tests are SKIPPED !!!\n');

describe.skipIf(!present)('MeshNet through the product pipeline', () => {
  let root: string;
  let services: VigilServices;
  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'vigil-meshnet-'));
    writeMeshnetPackage(join(root, 'models'), MESHNET.gwm);
    services = await openVigilServices({
      dataDir: join(root, 'data'),
      host: 'cli',
      userModelsDir: join(root, 'models'),
      storageMode: 'reference',
      inferenceWorkerUrl: pathToFileURL(join(repoRoot, 'out/node/inference-worker.js')),
      importWorkerUrl: pathToFileURL(join(repoRoot, 'out/node/import-worker.js')),
    });
  });
  afterAll(async () => {
    await services?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('gwm-5ch-3cls: identical voxel counts to the reference, main loop stays responsive', async () => {
    const summary = await services.library.import({ paths: [T1_SERIES] });
    expect(summary.imported).toBe(256);
    const study = services.library.listStudies({}).studies[0]!;
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const queued = await services.analysis.analyze({ studyInstanceUid: study.studyInstanceUid, modelId: MESHNET.gwm.id, provider: 'cpu' });
    expect(queued.queued).toHaveLength(1);
    await services.analysis.queue.whenIdle();
    h.disable();
    const p50 = h.percentile(50) / 1e6;
    const p99 = h.percentile(99) / 1e6;
    const [result] = services.analysis.resultsForStudy(study.studyInstanceUid);
    expect(result?.status, result?.reason ?? '').toBe('done');
    console.log(`MeshNet gwm 256³ via worker: timings ${JSON.stringify(result!.timingsMs)}; provider ${result!.provider}; event-loop delay p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms`);
    expect(result).toMatchObject({ modelId: MESHNET.gwm.id, modelVersion: '1.0.0', provider: 'cpu', ortVersion: '1.30.0' });
    expect(result!.inputSopInstanceUids).toHaveLength(256);
    const seg = result!.outputs.find((o) => o.kind === 'segmentation');
    if (seg?.kind !== 'segmentation') throw new Error('no segmentation output');
    expect(seg.modelGridShape).toEqual([256, 256, 256]);
    expect(seg.modelVoxelCounts).toEqual(MESHNET.gwm.reference);
    expect(seg.labels.map((l) => l.voxels)).toEqual(MESHNET.gwm.reference);
    // The stored mask (DICOM grid, slices in inputSopInstanceUids order) has the same counts.
    const mask = gunzipSync(readFileSync(join(result!.filesDir, seg.mask.file)));
    expect(mask.length).toBe(256 * 256 * 256);
    const counts = [0, 0, 0];
    for (const v of mask) counts[v]!++;
    expect(counts).toEqual(MESHNET.gwm.reference);
    expect(seg.mask.sourceToPatient).not.toBeNull();
    // A parcellation is anatomy (manifest findings.role): each structure is a measurement with its volume,
    // never a positive finding, so the study is analysed but not AI-positive.
    const a = seg.mask.sourceToPatient!;
    const axisMm = (c: number) => Math.hypot(a[c]!, a[4 + c]!, a[8 + c]!);
    const voxelMl = (axisMm(0) * axisMm(1) * axisMm(2)) / 1000;
    expect(result!.findings.map((f) => [f.label, f.positive, f.measurement, f.voxels])).toEqual(MESHNET.gwm.labels.slice(1).map((label, i) => [label, false, true, MESHNET.gwm.reference[i + 1]]));
    result!.findings.forEach((f) => expect(f.volumeMl).toBeCloseTo(f.voxels! * voxelMl, 6));
    expect(services.library.listStudies({}).studies[0]!.ai).toMatchObject({ status: 'done', priority: false, unreviewedPositive: false, triage: 'negative', toReview: 0 });
    // The p99 < 50 ms target is checked by `npm run bench -- inference`, never by a timed assertion;
    // here the loop only has to stay responsive enough to sample at all.
    expect(h.count).toBeGreaterThan(0);
  });
});

describe.skipIf(!present || process.env.VIGIL_MESHNET_QUICK === '1')('MeshNet 18-class models via vigil analyze', () => {
  for (const key of ['sub21', 'sub30'] as const) {
    it(`${MESHNET[key].id}: voxel counts vs reference`, () => {
      const root = mkdtempSync(join(tmpdir(), 'vigil-meshnet-cli-'));
      try {
        writeMeshnetPackage(join(root, 'models'), MESHNET[key]);
        const r = runCli<AnalyzeJson>(['analyze', T1_SERIES, '--data-dir', join(root, 'data'), '--models-dir', join(root, 'models'), '--model', MESHNET[key].id, '--provider', 'cpu', '--json']);
        expect(r.code, r.stderr).toBe(0);
        const seg = r.json.results[0]?.outputs?.find((o) => o.kind === 'segmentation');
        const counts = seg?.modelVoxelCounts ?? [];
        const agree = counts.reduce((n, c, i) => n + Math.min(c, MESHNET[key].reference[i]!), 0) / 256 ** 3;
        console.log(`${MESHNET[key].id}: timings ${JSON.stringify(r.json.results[0]?.timingsMs)}; per-class count agreement ${(agree * 100).toFixed(4)} %`);
        expect(counts).toEqual(MESHNET[key].reference);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
