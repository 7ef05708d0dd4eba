/**
 * A per-image model (unit "image") analyses a series image by image as it decodes it (each frame of a multi-frame
 * file too) and keeps only the model grid and outputs of each, so a long cine is never held decoded whole. The
 * results must still come in the series' slice order whatever the file order: per-image scores, heatmap planes,
 * detection boxes and input UIDs. A run stopped by one image (it cannot be preprocessed) still lists every image.
 * Progress tells each phase once, not once per image. A referenced file decoded from disk is checked again before it
 * is opened and after its last frame; an error thrown by the analysis is passed on as such.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInferenceJob } from '../../electron/services/ai/inference-job';
import type { ModelManifest } from '../../electron/services/ai/model-manifest';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { buildOnnxModel, pixelProbeModel } from '../fixtures/models/onnx-builder';
import { rleFrameOfSamples } from '../fixtures/rle-encoder';
import { type DicomElementSpec, syntheticDicom, ultrasoundRegionItem, ultrasoundRegions, US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';

const ROWS = 6;
const COLUMNS = 10;
const STUDY = '1.2.826.0.1.3680043.10.1138.962';

/** logits = mean(image) / 100 − 1; heat = image − 100; one box per image, score 0.9 (so every image has one). */
const ONNX = pixelProbeModel();

const manifest = (shape: (string | number)[] = [1, 1, 'H', 'W']): ModelManifest =>
  classifierManifest(ONNX, {
    schemaVersion: 4,
    id: 'test-image-by-image',
    applicability: { modalities: ['US'] },
    input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape, layout: 'NCHW' }] },
    preprocessing: [{ op: 'modalityRescale' }],
    outputs: [
      { kind: 'classification', tensor: 'logits', labels: ['bright'], activation: 'sigmoid', thresholds: 0.5 },
      { kind: 'heatmap', tensor: 'heat', label: 'bright', normalize: 'none' },
      { kind: 'detection', tensor: 'boxes', boxFormat: 'xyxy', normalized: false, labels: ['bright'], scoreThreshold: 0.5, nmsIouThreshold: 0.5 },
    ],
  });

/** A pixel of frame value `v`: v at the top-left, growing to the right so the heat map is not constant. */
const pixel = (v: number, i: number) => v + (i % COLUMNS);
const frame = (v: number, rows = ROWS, columns = COLUMNS) => Uint8Array.from({ length: rows * columns }, (_, i) => pixel(v, i));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const meanOf = (v: number) => v + (COLUMNS - 1) / 2;

describe('inference job: a per-image model analyses image by image', () => {
  let root: string;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  const uid = (instance: number) => `${STUDY}.1.${instance}`;
  /** A file of `values.length` frames (frame k of value values[k]); by default 6 × 10, series .1, no geometry. */
  const write = (instance: number, values: number[], o: { size?: { rows: number; columns: number }; regions?: DicomElementSpec[][]; series?: string; pixelSpacing?: string; extra?: DicomElementSpec[] } = {}) => {
    const size = o.size ?? { rows: ROWS, columns: COLUMNS };
    const file = join(root, `${instance}.dcm`);
    const pixels = new Uint8Array(values.length * size.rows * size.columns);
    values.forEach((v, k) => pixels.set(frame(v, size.rows, size.columns), k * size.rows * size.columns));
    writeFileSync(
      file,
      syntheticDicom({
        modality: 'US',
        sopClassUid: values.length > 1 ? US_MULTIFRAME_IMAGE_STORAGE : US_IMAGE_STORAGE,
        studyInstanceUid: STUDY,
        seriesInstanceUid: o.series ?? `${STUDY}.1`,
        sopInstanceUid: uid(instance),
        instanceNumber: instance,
        ...size,
        pixels,
        pixelSpacing: o.pixelSpacing ?? null,
        extra: [...(o.extra ?? []), ...(values.length > 1 ? [{ tag: 0x00280008, vr: 'IS', value: String(values.length) }] : []), ...(o.regions ? [ultrasoundRegions(o.regions)] : [])],
      }),
    );
    return file;
  };
  const phases: string[] = [];
  const run = (name: string, files: string[], m = manifest()) => {
    const modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, ONNX);
    phases.length = 0;
    return runInferenceJob({ jobId: name, model: { id: m.id, modelPath, manifest: m }, files, provider: 'cpu', outputDir: join(root, 'out', name) }, sessions, (phase) => phases.push(phase));
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-image-by-image-'));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('scores, heatmap planes, boxes and input UIDs come in slice order, each frame of a cine an image of its own', async () => {
    // Files in reverse instance order; instance 2 is a three-frame cine.
    const files = [write(3, [70]), write(2, [10, 20, 30]), write(1, [50])];
    const r = await run('order', files);
    expect(r.status, r.reason).toBe('done');
    const order = [50, 10, 20, 30, 70];
    expect(r.inputSopInstanceUids).toEqual([uid(1), uid(2), uid(2), uid(2), uid(3)]);
    const classification = r.outputs.find((o) => o.kind === 'classification');
    if (classification?.kind !== 'classification') throw new Error('no classification');
    expect(classification.perImage?.map((row) => row[0])).toEqual(order.map((v) => expect.closeTo(sigmoid(meanOf(v) * 0.01 - 1), 6)));
    expect(r.findings[0]?.score).toBeCloseTo(sigmoid(meanOf(70) * 0.01 - 1), 6);

    const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
    if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap');
    expect(heatmap.map.shape).toEqual([5, ROWS, COLUMNS]);
    const bytes = gunzipSync(readFileSync(join(root, 'out', 'order', heatmap.map.file)));
    const heat = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    expect(Array.from(heat)).toEqual(order.flatMap((v) => Array.from(frame(v), (p) => expect.closeTo(p - 100, 4))));

    const detection = r.outputs.find((o) => o.kind === 'detection');
    if (detection?.kind !== 'detection') throw new Error('no detection');
    expect(detection.boxes.map((b) => [b.slice, b.sopInstanceUid])).toEqual(r.inputSopInstanceUids.map((u, slice) => [slice, u]));
    // Each phase told once, not once per image.
    expect(phases).toEqual(['decode', 'preprocess', 'inference', 'postprocess']);
  });

  it('a referenced cine decoded from disk frame by frame that changes during the run is not analysed', async () => {
    // 24 frames of 600 × 1200 (17 MB): above what is read whole ahead, so the job decodes it from its descriptor.
    const big = { rows: 600, columns: 1200 };
    const values = Array.from({ length: 24 }, (_, k) => 10 + k);
    const file = write(9, values, { size: big });
    const { size, mtimeMs } = statSync(file);
    expect(size).toBeGreaterThan(16 * 1024 * 1024);
    const modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, ONNX);
    const m = manifest();
    const job = { jobId: 'changed', model: { id: m.id, modelPath, manifest: m }, files: [file], references: [{ size, mtimeMs: Math.trunc(mtimeMs) }], provider: 'cpu' as const, outputDir: join(root, 'out', 'changed') };
    // Unchanged: analysed.
    expect((await runInferenceJob(job, sessions)).status).toBe('done');
    // Rewritten in place (same size, a later mtime) once the first frame is being analysed.
    const r = await runInferenceJob({ ...job, jobId: 'changed-2', outputDir: join(root, 'out', 'changed-2') }, sessions, (phase) => {
      if (phase !== 'inference') return;
      const later = new Date(Date.now() + 5000);
      utimesSync(file, later, later);
    });
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/^the referenced file .* changed since it was imported/);
    expect(r.findings).toEqual([]);
    // Cut short while its frames are read: the same reason, not a decode failure.
    const cut = await runInferenceJob({ ...job, jobId: 'changed-3', outputDir: join(root, 'out', 'changed-3') }, sessions, (phase) => {
      if (phase === 'inference') truncateSync(file, Math.floor(size / 2));
    });
    expect(cut.status).toBe('failed');
    expect(cut.reason).toMatch(/^the referenced file .* changed since it was imported/);
    // An RLE image (its fragments are read on opening) cut short after it was opened and checked (read ahead) but
    // before its turn, while an earlier image is analysed: still the same reason, not a truncated DICOM file.
    const rleRows = 4000;
    const rleColumns = 4500;
    const rlePixels = Uint8Array.from({ length: rleRows * rleColumns }, (_, i) => i % 251);
    const rle = join(root, 'rle.dcm');
    writeFileSync(
      rle,
      syntheticDicom({ modality: 'US', sopClassUid: US_IMAGE_STORAGE, studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: uid(11), instanceNumber: 11, rows: rleRows, columns: rleColumns, pixels: rlePixels, pixelSpacing: null, transferSyntax: '1.2.840.10008.1.2.5', encodedFrame: rleFrameOfSamples(rlePixels, 1) }),
    );
    const rleStat = statSync(rle);
    expect(rleStat.size).toBeGreaterThan(16 * 1024 * 1024);
    const ahead = await runInferenceJob(
      { ...job, jobId: 'changed-4', files: [write(10, [50]), rle], references: [null, { size: rleStat.size, mtimeMs: Math.trunc(rleStat.mtimeMs) }], outputDir: join(root, 'out', 'changed-4') },
      sessions,
      (phase) => {
        if (phase === 'inference') truncateSync(rle, 4096);
      },
    );
    expect(ahead.status).toBe('failed');
    expect(ahead.reason).toMatch(/^the referenced file .* changed since it was imported/);
  });

  it('an error thrown while analysing an image is passed on, not reported as a decode failure', async () => {
    const files = [write(8, [30])];
    const modelPath = join(root, 'model.onnx');
    const m = manifest();
    await expect(
      runInferenceJob({ jobId: 'throws', model: { id: m.id, modelPath, manifest: m }, files, provider: 'cpu', outputDir: join(root, 'out', 'throws') }, sessions, (phase) => {
        if (phase === 'preprocess') throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });

  it('a per-image segmentation: each image\'s (each B-mode view\'s) mask in its plane of one series mask, in slice order', async () => {
    // heat = image − 100 read as a one-channel threshold map: label 1 where a pixel is 100 or more (sigmoid ≥ 0.5).
    const m = classifierManifest(ONNX, {
      schemaVersion: 4,
      id: 'test-image-masks',
      applicability: { modalities: ['US'] },
      input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 'H', 'W'], layout: 'NCHW' }] },
      preprocessing: [{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }],
      outputs: [
        { kind: 'classification', tensor: 'logits', labels: ['bright'], activation: 'sigmoid', thresholds: 0.5 },
        { kind: 'segmentation', tensor: 'heat', method: 'threshold', threshold: 0.5, labels: [{ index: 0, name: 'background', color: [0, 0, 0] }, { index: 1, name: 'bright', color: [255, 0, 0] }] },
      ],
    });
    // Instance 14: two B-mode views side by side (columns 0–4 and 5–9), each analysed on its own.
    const views = [ultrasoundRegionItem({ x0: 0, y0: 0, x1: 4, y1: ROWS - 1 }), ultrasoundRegionItem({ x0: 5, y0: 0, x1: COLUMNS - 1, y1: ROWS - 1 })];
    const files = [write(13, [120]), write(12, [60, 130]), write(11, [95]), write(14, [97], { regions: views })];
    const r = await run('masks', files, m);
    expect(r.status, r.reason).toBe('done');
    expect(r.inputSopInstanceUids).toEqual([uid(11), uid(12), uid(12), uid(13), uid(14)]);
    const seg = r.outputs.find((o) => o.kind === 'segmentation');
    if (seg?.kind !== 'segmentation') throw new Error('no segmentation');
    expect(seg.mask.shape).toEqual([5, ROWS, COLUMNS]);
    const bytes = gunzipSync(readFileSync(join(root, 'out', 'masks', seg.mask.file)));
    const expected = [95, 60, 130, 120, 97].flatMap((v) => Array.from(frame(v), (p) => (p >= 100 ? 1 : 0)));
    expect(Array.from(bytes)).toEqual(expected);
    const voxels = expected.reduce<number>((a, b) => a + b, 0);
    expect(voxels).toBe(6 * 5 + 0 + 60 + 60 + 6 * 7);
    expect(seg.labels.find((l) => l.name === 'bright')?.voxels).toBe(voxels);
    expect(seg.modelVoxelCounts[1]).toBe(voxels);
    // Six units (five images, one of them two views); the first unit's plane.
    expect(seg.modelGridShape).toEqual([6, ROWS, COLUMNS]);

    // Images of several sizes: one mask grid cannot hold them.
    const mixed = await run('masks-mixed', [write(15, [120]), write(16, [120], { size: { rows: 8, columns: COLUMNS } })], m);
    expect(mixed).toMatchObject({ status: 'not-analysed', reason: `the images of the series differ in size (${ROWS}×${COLUMNS}, 8×${COLUMNS}) and this model's segmentation needs one mask grid for the series` });
    expect(mixed.inputSopInstanceUids).toEqual([uid(15), uid(16)]);
  });

  it('a per-image mask has a volume only when its images stack into one; a label the manifest does not list is still counted', async () => {
    // logits3 = [0, heat, 2·heat] per pixel: argmax 2 (a label the manifest does not list) where a pixel is above 100.
    const onnx3 = buildOnnxModel({
      inputs: [{ name: 'image', shape: ['N', 1, 'H', 'W'] }],
      outputs: [{ name: 'logits3', shape: ['N', 3, 'H', 'W'] }],
      initializers: [
        { name: 'offset', dims: [1], data: [100] },
        { name: 'zero', dims: [1], data: [0] },
        { name: 'two', dims: [1], data: [2] },
      ],
      nodes: [
        { op: 'Sub', inputs: ['image', 'offset'], outputs: ['heat'] },
        { op: 'Mul', inputs: ['heat', 'zero'], outputs: ['none'] },
        { op: 'Mul', inputs: ['heat', 'two'], outputs: ['heat2'] },
        { op: 'Concat', inputs: ['none', 'heat', 'heat2'], outputs: ['logits3'], attrs: { axis: 1 } },
      ],
    });
    const m = classifierManifest(onnx3, {
      schemaVersion: 4,
      id: 'test-image-masks-3',
      applicability: { modalities: ['US'] },
      input: { unit: 'image', tensors: [{ name: 'image', dtype: 'float32', shape: [1, 1, 'H', 'W'], layout: 'NCHW' }] },
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'segmentation', tensor: 'logits3', method: 'argmax', labels: [{ index: 0, name: 'background', color: [0, 0, 0] }, { index: 1, name: 'bright', color: [255, 0, 0] }], findings: { role: 'lesion', minVolumeMl: 0 } }],
    });
    const modelPath = join(root, 'model3.onnx');
    writeFileSync(modelPath, onnx3);
    const geometry = (z: number) => [
      { tag: 0x00200032, vr: 'DS', value: `0\\0\\${z}` },
      { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
    ];
    const placed = (instance: number, values: number[], z: number) => write(instance, values, { series: `${STUDY}.7`, pixelSpacing: '0.5\\0.5', extra: geometry(z) });
    const job = (name: string, files: string[]) => runInferenceJob({ jobId: name, model: { id: m.id, modelPath, manifest: m }, files, provider: 'cpu', outputDir: join(root, 'out', name) }, sessions);
    const segOf = (r: Awaited<ReturnType<typeof job>>) => {
      expect(r.status, r.reason).toBe('done');
      const seg = r.outputs.find((o) => o.kind === 'segmentation');
      if (seg?.kind !== 'segmentation') throw new Error('no segmentation');
      return seg;
    };
    // A three-frame cine: its frames share one position, so its pixels add up to no volume.
    const cine = await job('cine-volume', [placed(21, [95, 120, 130], 5)]);
    expect(segOf(cine).mask.sourceToPatient).toBeNull();
    expect(cine.findings.find((f) => f.label === 'bright')).not.toHaveProperty('volumeMl');
    // Label 2 (above 100; a tie at 100 goes to background) is no manifest label but is counted: 4 + 10 + 10 columns of 6 rows.
    expect(segOf(cine).modelVoxelCounts).toEqual([3 * 60 - 144, 0, 144]);
    // Three images 2 mm apart: a stack, with a volume (label 1 has no voxels here, so 0 mL).
    const stack = await job('stack-volume', [placed(31, [95], 0), placed(32, [120], 2), placed(33, [130], 4)]);
    expect(segOf(stack).mask.sourceToPatient).not.toBeNull();
    expect(stack.findings.find((f) => f.label === 'bright')).toMatchObject({ volumeMl: 0 });
  });

  it('an image that cannot be preprocessed stops the run, which still lists every image of the series in slice order', async () => {
    // The model takes 6 × 10 only: the second file (instance 5) is 8 × 10.
    // After the stop, a file that is no DICOM at all: left out of the list, and its error is not the reason.
    const notDicom = join(root, 'not-dicom.dcm');
    writeFileSync(notDicom, 'not a DICOM file');
    const files = [write(6, [40]), write(5, [40], { size: { rows: 8, columns: COLUMNS } }), write(4, [40, 60]), notDicom];
    const r = await run('stopped', files, manifest([1, 1, ROWS, COLUMNS]));
    expect(r).toMatchObject({ status: 'not-analysed', reason: 'input "image" dim 2 (H) is 8 after preprocessing but the manifest declares 6' });
    expect(r.inputSopInstanceUids).toEqual([uid(4), uid(4), uid(5), uid(6)]);
    expect(r.outputs).toEqual([]);
  });
});
