/**
 * Inference bench (run through bench/inference-bench.mjs):
 *  1. MeshNet 256³ (CPU): Vigil end to end (DICOM files -> finding, queue + worker) vs bare
 *     session.run on the prepared tensor, the event-loop delay meanwhile, and PyTorch eager.
 *  2. A 2-D classifier on a 512² CT image: pipeline overhead per image.
 *  3. GPU: CUDA vs CPU where a CUDA provider exists; otherwise says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeImageFile } from '../electron/services/dicom/pixel-decoder';
import { cpuSessionOptions, preferredProviders } from '../electron/services/ai/session-manager';
import { openVigilServices, type VigilServices } from '../electron/services/vigil-services';
import { MESHNET, meshnetDataPresent, T1_SERIES, writeMeshnetPackage } from '../test/fixtures/models/meshnet-packages';
import { classifierManifest, writeModelPackage } from '../test/fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../test/fixtures/models/onnx-builder';
import { syntheticDicom } from '../test/fixtures/synthetic-dicom';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const ms = (x: number) => `${x.toFixed(1)} ms`;
const line = (s = '') => process.stdout.write(`${s}\n`);

/** The README's conformed tensor built directly (no Vigil pipeline): vol[::-1, ::-1, :].transpose(2, 0, 1), min-max. */
function preparedMeshnetTensor(): Float32Array {
  const files = readdirSync(T1_SERIES).filter((f) => f.endsWith('.dcm')).map((f) => decodeImageFile(join(T1_SERIES, f)));
  files.sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
  const n = 256;
  const out = new Float32Array(n * n * n);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++) {
        const v = files[255 - j]!.data[(255 - k) * n + i]!;
        out[(i * n + j) * n + k] = v;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
  for (let i = 0; i < out.length; i++) out[i] = (out[i]! - lo) / (hi - lo);
  return out;
}

async function analyzeOnce(services: VigilServices, studyUid: string, modelId: string, provider: 'cpu' | 'auto') {
  const t0 = performance.now();
  await services.analysis.analyze({ studyInstanceUid: studyUid, modelId, provider });
  await services.analysis.queue.whenIdle();
  const wall = performance.now() - t0;
  const r = services.analysis.resultsForStudy(studyUid).find((x) => x.modelId === modelId)!;
  if (r.status !== 'done') throw new Error(`${modelId}: ${r.status} ${r.reason}`);
  return { wall, r };
}

export async function main(args: string[]): Promise<number> {
  const runs = Number(args[args.indexOf('--runs') + 1] ?? 0) || 5;
  const skipTorch = args.includes('--skip-torch');
  const key = ((args.includes('--model') ? args[args.indexOf('--model') + 1] : 'gwm') ?? 'gwm') as keyof typeof MESHNET;
  const threads = availableParallelism();
  const root = mkdtempSync(join(tmpdir(), 'vigil-bench-inference-'));
  const workerUrl = pathToFileURL(join(process.cwd(), 'out/node/inference-worker.js'));
  line(`# Inference bench — ONNX Runtime ${ort.env.versions.common}, ${threads} threads, ${cpus()[0]?.model ?? 'cpu'}, ${runs} runs (median), load average ${load()}`);
  try {
    // ---- 1. MeshNet 256³ -------------------------------------------------------------
    if (!meshnetDataPresent()) line('\n## MeshNet: ../shared/data missing — skipped');
    else {
      const spec = MESHNET[key];
      line(`\n## MeshNet ${spec.id}, 256³, CPU; volume loops split with the worker's helper thread: ${process.env.VIGIL_INFERENCE_SPLIT === '0' ? 'off (VIGIL_INFERENCE_SPLIT=0)' : 'on'}`);
      const pkg = writeMeshnetPackage(join(root, 'models'), spec);
      const services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', userModelsDir: join(root, 'models'), storageMode: 'reference', inferenceWorkerUrl: workerUrl, importWorkerUrl: pathToFileURL(join(process.cwd(), 'out/node/import-worker.js')), inferenceThreads: threads });
      await services.library.import({ paths: [T1_SERIES] });
      const study = services.library.listStudies({}).studies[0]!.studyInstanceUid;
      // The bare session on the tensor the README prescribes (built without the Vigil pipeline), same options as Vigil's.
      const tensor = preparedMeshnetTensor();
      const session = await ort.InferenceSession.create(join(pkg, 'model.onnx'), { executionProviders: ['cpu'], ...cpuSessionOptions(threads) });
      const feed = { input: new ort.Tensor('float32', tensor, [1, 1, 256, 256, 256]) };
      // Both warm (session creation, page cache), then Vigil and bare runs alternate, so
      // whatever else loads the machine weighs on both alike; the event loop is watched during Vigil's runs.
      await analyzeOnce(services, study, spec.id, 'cpu');
      await session.run(feed);
      // One event-loop histogram per Vigil run (a re-enabled histogram would count the bare run, which holds the main thread).
      const loop: { p50: number; p99: number; max: number }[] = [];
      const vigil: { wall: number; r: Awaited<ReturnType<typeof analyzeOnce>>['r'] }[] = [];
      const bare: number[] = [];
      for (let i = 0; i < runs; i++) {
        const h = monitorEventLoopDelay({ resolution: 10 });
        h.enable();
        vigil.push(await analyzeOnce(services, study, spec.id, 'cpu'));
        h.disable();
        loop.push({ p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
        const t0 = performance.now();
        await session.run(feed);
        bare.push(performance.now() - t0);
      }
      await session.release();
      await services.close();
      const seg = vigil[0]!.r.outputs.find((o) => o.kind === 'segmentation');
      const counts = seg?.kind === 'segmentation' ? seg.modelVoxelCounts : [];
      const identical = JSON.stringify(counts) === JSON.stringify(spec.reference);

      const e2e = median(vigil.map((v) => v.wall));
      const phase = (k: 'decode' | 'preprocess' | 'inference' | 'postprocess') => median(vigil.map((v) => v.r.timingsMs[k]));
      const bareMs = median(bare);
      line(`Vigil end to end (DICOM files -> finding, queue + worker): ${ms(e2e)}  [decode ${ms(phase('decode'))}, preprocess ${ms(phase('preprocess'))}, inference ${ms(phase('inference'))}, post-process ${ms(phase('postprocess'))}]`);
      line(`bare session.run on the prepared tensor:                  ${ms(bareMs)}`);
      line(`RATIO pipeline overhead (Vigil end to end vs bare run, medians of alternating runs): ${(((e2e - bareMs) / bareMs) * 100).toFixed(1)} % (target <= 10 %)`);
      line(`  per run (Vigil / bare, ms): ${vigil.map((v, i) => `${v.wall.toFixed(0)}/${bare[i]!.toFixed(0)}`).join(', ')}; Vigil's own inference phase vs bare: ${(((phase('inference') - bareMs) / bareMs) * 100).toFixed(1)} %`);
      // Robust reads on a busy machine: each Vigil run against the bare run right after it, and the fastest of each.
      const paired = vigil.map((v, i) => ((v.wall - bare[i]!) / bare[i]!) * 100);
      const fastest = Math.min(...vigil.map((v) => v.wall));
      const fastestBare = Math.min(...bare);
      line(`  pipeline overhead, median of per-run pairs: ${median(paired).toFixed(1)} %; fastest Vigil ${ms(fastest)} vs fastest bare ${ms(fastestBare)}: ${(((fastest - fastestBare) / fastestBare) * 100).toFixed(1)} %; load average at the end ${load()}`);
      line(`event-loop delay during Vigil runs (median over runs): p50 ${ms(median(loop.map((l) => l.p50)))}, p99 ${ms(median(loop.map((l) => l.p99)))}, max ${ms(Math.max(...loop.map((l) => l.max)))} (target p99 < 50 ms; 10 ms sampling resolution)`);
      line(`voxel counts ${identical ? 'identical to' : 'DIFFER from'} the README reference: ${JSON.stringify(counts)}`);
      if (skipTorch) line('PyTorch eager: skipped (--skip-torch)');
      else {
        // Default eager PyTorch, and with --torch-flush-denormal also PyTorch with denormals flushed
        // (what Vigil asks of ONNX Runtime), so the ratio can be read both ways.
        for (const flush of args.includes('--torch-flush-denormal') ? [false, true] : [false]) {
          const py = spawnSync('/usr/bin/python3', [join(process.cwd(), 'bench/meshnet_torch.py'), join(pkg, 'model.onnx'), T1_SERIES, String(threads), String(runs), ...(flush ? ['--flush-denormal'] : [])], { encoding: 'utf8', timeout: 1_800_000 });
          if (py.status !== 0) {
            line(`PyTorch eager: failed (${py.stderr.trim().split('\n').pop()})`);
            continue;
          }
          const t = JSON.parse(py.stdout) as { threads: number; flushDenormal: boolean; mkldnn: boolean; loadMs: number; forwardMs: number; forwardAllMs: number[]; postMs: number; counts: number[] };
          const torchE2e = t.loadMs + t.forwardMs + t.postMs;
          const what = t.flushDenormal ? 'PyTorch eager, flush denormal' : 'PyTorch eager';
          line(`${what} (/usr/bin/python3, torch.set_num_threads(${t.threads}) = ORT intra-op threads ${threads}, mkldnn ${t.mkldnn}, warm, median of ${runs}): load+conform ${ms(t.loadMs)}, forward ${ms(t.forwardMs)} [${t.forwardAllMs.map((x) => x.toFixed(0)).join(', ')}], argmax+counts ${ms(t.postMs)}; counts ${JSON.stringify(t.counts) === JSON.stringify(spec.reference) ? 'identical' : 'differ'}`);
          line(`RATIO Vigil end to end vs ${what} end to end (DICOM -> counts): ${(torchE2e / e2e).toFixed(2)}× faster (target >= 3×)`);
          line(`RATIO Vigil end to end vs ${what} forward alone:               ${(t.forwardMs / e2e).toFixed(2)}× faster`);
          line(`RATIO bare ONNX Runtime session.run vs ${what} forward:        ${(t.forwardMs / bareMs).toFixed(2)}× faster`);
        }
      }
    }

    // ---- 2. 2-D classifier ------------------------------------------------------------
    line('\n## 2-D classifier, one 512² CT image (resize to 224², min-max), CPU');
    const onnx = tinyClassifierModel();
    const manifest = classifierManifest(onnx, { preprocessing: [{ op: 'modalityRescale' }, { op: 'window', center: 40, width: 400 }, { op: 'resize', size: [224, 224], interpolation: 'linear' }, { op: 'normalize', method: 'minmax' }] });
    writeModelPackage(join(root, 'models2', 'cls'), onnx, manifest);
    mkdirSync(join(root, 'ct'), { recursive: true });
    const pixels = Uint16Array.from({ length: 512 * 512 }, (_, i) => (i * 7) % 2000);
    writeFileSync(join(root, 'ct', 'ct.dcm'), syntheticDicom({ rows: 512, columns: 512, pixels, studyInstanceUid: '1.2.826.0.1.3680043.10.1138.555', seriesInstanceUid: '1.2.826.0.1.3680043.10.1138.555.1' }));
    const s2 = await openVigilServices({ dataDir: join(root, 'data2'), host: 'cli', userModelsDir: join(root, 'models2'), inferenceWorkerUrl: workerUrl, importWorkers: 0, inferenceThreads: threads });
    await s2.library.import({ paths: [join(root, 'ct')] });
    const study2 = s2.library.listStudies({}).studies[0]!.studyInstanceUid;
    await analyzeOnce(s2, study2, manifest.id, 'cpu');
    const res2 = [];
    for (let i = 0; i < Math.max(10, runs); i++) res2.push(await analyzeOnce(s2, study2, manifest.id, 'cpu'));
    await s2.close();
    const inf2 = median(res2.map((r) => r.r.timingsMs.inference));
    const tot2 = median(res2.map((r) => r.r.timingsMs.total));
    const wall2 = median(res2.map((r) => r.wall));
    line(`inside the worker: total ${ms(tot2)}, of which inference ${ms(inf2)} -> pipeline overhead ${ms(tot2 - inf2)} (target <= 5 ms)`);
    line(`queue round trip (enqueue -> result stored): ${ms(wall2)}`);

    // ---- 3. GPU ------------------------------------------------------------------------
    line('\n## GPU');
    const providers = preferredProviders();
    if (!providers.includes('cuda')) line(`no GPU: no CUDA execution provider on this machine (providers: ${providers.join(', ')}) — CUDA vs CPU skipped`);
    else line('CUDA provider present: run `npm run bench -- inference --provider auto` on the GPU machine (not measured here)');
    return 0;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
