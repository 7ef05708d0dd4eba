import { describe, expect, it } from 'vitest';
import type { AnalysisResult } from '../../../../contract/ipc-contract';
import { effectiveLabelStyle, findingTarget, heatColor, labelVolumeMl, layerShown, type OverlayStyle, overlayLayers, sliceExtent, slicePixels, strongestSlice, voxelVolumeMl } from './overlay-model';

const result = (outputs: Record<string, unknown>[], extra: Partial<AnalysisResult> = {}): AnalysisResult => ({
  resultId: 4,
  studyInstanceUid: '1.2',
  seriesInstanceUid: '1.2.3',
  modelId: 'm',
  modelVersion: '1.0.0',
  modelSha256: '',
  ortVersion: '',
  provider: 'cpu',
  providerNote: null,
  status: 'done',
  reason: null,
  findings: [{ label: 'lesion', score: 0.1, positive: true }],
  timingsMs: {},
  inputSopInstanceUids: ['a', 'b', 'c'],
  outputs,
  createdAt: '',
  ...extra,
});

describe('overlay model', () => {
  it('computes voxel and label volumes from an anisotropic, oblique index → patient affine', () => {
    // slice 2.5 mm, rows 0.8 mm, columns 0.5 mm; rotated 90° in plane (volume is unchanged by rotation).
    const m = [0, 0, -0.5, 10, 0, 0.8, 0, 0, 2.5, 0, 0, 0, 0, 0, 0, 1];
    expect(voxelVolumeMl(m, 2)).toBeCloseTo(0.001, 12);
    expect(labelVolumeMl(518_540, [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1], 256)).toBeCloseTo(518.54, 6);
    expect(voxelVolumeMl(null, 2)).toBeNull();
    // A single plane (one image, a per-image model's mask) has an area, not a volume, as the runtime's findings say.
    expect(voxelVolumeMl(m, 1)).toBeNull();
    expect(labelVolumeMl(10, m, 1)).toBeNull();
  });

  it('builds layers from done results only and finds the strongest slice', () => {
    const mask = { file: 'seg.u8.gz', dtype: 'uint8', shape: [3, 2, 2], sourceToPatient: null };
    const layers = overlayLayers([
      result([{ kind: 'segmentation', tensor: 'seg', labels: [{ index: 1, name: 'lesion', color: [255, 0, 0], voxels: 3 }], mask }]),
      result([{ kind: 'heatmap', tensor: 'h', label: 'x', map: { ...mask, dtype: 'float32' } }], { status: 'failed', resultId: 5 }),
    ]);
    expect(layers.map((l) => [l.key, l.kind])).toEqual([['4:seg', 'segmentation']]);
    const values = Uint8Array.from([0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0]);
    expect(strongestSlice(values, [3, 2, 2], 1)).toBe(1);
    expect(strongestSlice(Float32Array.from([0, 0.2, 0, 0, 0.9, 0, 0, 0, 0.5, 0, 0, 0]), [3, 2, 2])).toBe(1);
    const target = findingTarget(result([{ kind: 'segmentation', tensor: 'seg', labels: [{ index: 1, name: 'lesion', color: [255, 0, 0], voxels: 3 }], mask }]), 'lesion', () => values);
    expect(target).toEqual({ seriesInstanceUid: '1.2.3', sopInstanceUid: 'b', frame: 0 });
  });

  it('fills or outlines label pixels in the manifest colour, hides hidden labels, fades heat towards 0', () => {
    const layer = overlayLayers([
      result([{ kind: 'segmentation', tensor: 'seg', labels: [{ index: 2, name: 'lesion', color: [10, 20, 30], voxels: 9 }], mask: { file: 'f', dtype: 'uint8', shape: [1, 3, 3], sourceToPatient: null } }]),
    ])[0]!;
    const all2 = new Uint8Array(9).fill(2);
    const fill = slicePixels(layer, all2, 0, { visible: true, opacity: 0.5, fill: true, hiddenLabels: new Set() })!;
    expect([...fill.slice(16, 20)]).toEqual([10, 20, 30, 128]); // centre pixel, filled at the opacity
    expect([...fill.slice(0, 4)]).toEqual([10, 20, 30, 200]); // edge, outlined at least 200
    const outline = slicePixels(layer, all2, 0, { visible: true, opacity: 0.5, fill: false, hiddenLabels: new Set() })!;
    expect(outline[19]).toBe(0);
    expect(slicePixels(layer, all2, 0, { visible: true, opacity: 0.5, fill: true, hiddenLabels: new Set(['4:2']) })).toBeNull();
    expect(heatColor(0)).toEqual([0, 0, 128]);
    expect(heatColor(0.5)).toEqual([128, 255, 128]);
  });

  it('shows heatmaps of positive findings by default and those of negative findings only on request', () => {
    const map = { file: 'h.f32.gz', dtype: 'float32', shape: [1, 2, 2], sourceToPatient: null };
    const heat = (findings: AnalysisResult['findings'], resultId: number) => overlayLayers([result([{ kind: 'heatmap', tensor: 'cam', label: 'pneumonia', map }], { findings, resultId })])[0]!;
    const positive = heat([{ label: 'normal', score: 0.1, positive: false, normal: true }, { label: 'pneumonia', score: 0.9, positive: true }], 1);
    const negative = heat([{ label: 'normal', score: 0.9, positive: true, normal: true }, { label: 'pneumonia', score: 0.1, positive: false }], 2);
    // No finding carries the map's label: any positive finding that is not "normal" counts.
    const unlabelled = heat([{ label: 'nodule', score: 0.8, positive: true }], 3);
    const style: OverlayStyle = { visible: true, opacity: 1, fill: true, hiddenLabels: new Set() };
    expect([positive, negative, unlabelled].map((l) => layerShown(l, style))).toEqual([true, false, true]);
    expect([positive, negative, unlabelled].map((l) => layerShown(l, { ...style, showNegativeHeatmaps: true }))).toEqual([true, true, true]);
  });

  it('applies per-label fill and opacity on top of the overlay-wide setting', () => {
    const labels = [
      { index: 1, name: 'a', color: [255, 0, 0], voxels: 4 },
      { index: 2, name: 'b', color: [0, 0, 255], voxels: 5 },
    ];
    const layer = overlayLayers([result([{ kind: 'segmentation', tensor: 'seg', labels, mask: { file: 'f', dtype: 'uint8', shape: [1, 3, 6], sourceToPatient: null } }])])[0]!;
    // Left 3×3 block label 1, right 3×3 block label 2: (1, 1) and (1, 4) are interior pixels.
    const values = Uint8Array.from([1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
    const style: OverlayStyle = { visible: true, opacity: 0.8, fill: true, hiddenLabels: new Set(), labelStyles: new Map([['4:2', { fill: false }], ['4:1', { opacity: 0.5 }]]) };
    expect(effectiveLabelStyle(style, 4, 1)).toEqual({ visible: true, fill: true, opacity: 0.4 });
    expect(effectiveLabelStyle(style, 4, 2)).toEqual({ visible: true, fill: false, opacity: 0.8 });
    const px = slicePixels(layer, values, 0, style)!;
    const at = (r: number, c: number) => [...px.slice((r * 6 + c) * 4, (r * 6 + c) * 4 + 4)];
    expect(at(1, 1)).toEqual([255, 0, 0, 102]); // filled at 0.8 × 0.5
    expect(at(1, 4)).toEqual([0, 0, 0, 0]); // label 2 outline only: interior empty
    expect(at(0, 4)).toEqual([0, 0, 255, 204]); // its edge drawn
  });
});

describe('jumping to the slice where a finding is strongest', () => {
  const uidsOf = (n: number) => Array.from({ length: n }, (_, i) => `sop${i}`);
  const noArrays = () => null;
  // Per-slice scores of four slices: normal / abnormal (softmax); slice 2 is the most abnormal, slice 0 the most normal.
  const perImage = [
    [0.9, 0.1],
    [0.6, 0.4],
    [0.2, 0.8],
    [0.7, 0.3],
  ];

  it('max / mean aggregation: the slice whose per-slice score of the label is highest', () => {
    for (const findings of [
      [{ label: 'normal', score: 0.9, positive: true, normal: true }, { label: 'abnormal', score: 0.8, positive: true }], // max
      [{ label: 'normal', score: 0.6, positive: true, normal: true }, { label: 'abnormal', score: 0.4, positive: false }], // mean
    ]) {
      const r = result([{ kind: 'classification', tensor: 'logits', perImage, labels: ['normal', 'abnormal'], normalLabels: ['normal'] }], { findings, inputSopInstanceUids: uidsOf(4) });
      expect(findingTarget(r, 'abnormal', noArrays).sopInstanceUid).toBe('sop2');
      expect(findingTarget(r, 'normal', noArrays).sopInstanceUid).toBe('sop0');
    }
  });

  it('names the column by the stored labels, not by the order of the findings', () => {
    // Findings listed abnormal first (e.g. after another output's findings), columns normal / abnormal.
    const r = result([{ kind: 'classification', tensor: 'logits', perImage, labels: ['normal', 'abnormal'] }], {
      findings: [{ label: 'abnormal', score: 0.8, positive: true }, { label: 'normal', score: 0.9, positive: true }],
      inputSopInstanceUids: uidsOf(4),
    });
    expect(findingTarget(r, 'abnormal', noArrays).sopInstanceUid).toBe('sop2');
  });

  it('an aggregator model\'s case-level finding: the slice with the highest per-slice score of a label that is not "nothing found"', () => {
    const aggregation = { kind: 'aggregation', tensor: 'case_logits', model: 'aggregator.onnx', modelSha256: '', embeddingOutput: 'embedding', embeddingDims: [1, 4, 12], provider: 'cpu', providerNote: null, scores: [0.7] };
    const findings = [{ label: 'abnormal case', score: 0.7, positive: true, threshold: 0.5 }];
    // As the architecture fixture declares it: per-slice labels normal / abnormal, no normalLabels.
    const bare = result([aggregation, { kind: 'classification', tensor: 'logits', perImage, labels: ['normal', 'abnormal'], normalLabels: [] }], { findings, inputSopInstanceUids: uidsOf(4) });
    expect(findingTarget(bare, 'abnormal case', noArrays).sopInstanceUid).toBe('sop2');
    // Declared normal labels decide: here "abnormal" is declared the nothing-found label, so slice 0 is strongest.
    const declared = result([aggregation, { kind: 'classification', tensor: 'logits', perImage, labels: ['normal', 'abnormal'], normalLabels: ['abnormal'] }], { findings, inputSopInstanceUids: uidsOf(4) });
    expect(findingTarget(declared, 'abnormal case', noArrays).sopInstanceUid).toBe('sop0');
    // Stored before the columns were named: no guess from the findings (they are the aggregator's): the first image.
    const unnamed = result([aggregation, { kind: 'classification', tensor: 'logits', perImage }], { findings, inputSopInstanceUids: uidsOf(4) });
    expect(findingTarget(unnamed, 'abnormal case', noArrays).sopInstanceUid).toBe('sop0');
  });

  it('prefers per-slice scores to a heatmap normalised per image, and a heatmap of the finding\'s own label to another', () => {
    const map = (file: string) => ({ file, dtype: 'float32', shape: [4, 1, 2], sourceToPatient: null });
    // Every slice of a per-image min-max heatmap peaks at 1: it cannot tell slices apart.
    const flat = Float32Array.from([0, 1, 0, 1, 0, 1, 0, 1]);
    const r = result([{ kind: 'classification', tensor: 'logits', perImage, labels: ['normal', 'abnormal'] }, { kind: 'heatmap', tensor: 'cam', label: 'abnormal', map: map('cam') }], {
      findings: [{ label: 'abnormal', score: 0.8, positive: true }],
      inputSopInstanceUids: uidsOf(4),
    });
    expect(findingTarget(r, 'abnormal', () => flat).sopInstanceUid).toBe('sop2');
    // A volume model: one score, two heatmaps; the finding's own map decides.
    const camA = Float32Array.from([0, 0, 0, 0, 0.9, 0, 0, 0]);
    const camB = Float32Array.from([0, 0.9, 0, 0, 0, 0, 0, 0]);
    const volume = result(
      [
        { kind: 'heatmap', tensor: 'camA', label: 'other', map: map('a') },
        { kind: 'heatmap', tensor: 'camB', label: 'nodule', map: map('b') },
      ],
      { findings: [{ label: 'nodule', score: 0.8, positive: true }], inputSopInstanceUids: uidsOf(4) },
    );
    expect(findingTarget(volume, 'nodule', (l) => (l.kind === 'heatmap' && l.array.file === 'b' ? camB : camA)).sopInstanceUid).toBe('sop0');
    expect(findingTarget(volume, 'other', (l) => (l.kind === 'heatmap' && l.array.file === 'b' ? camB : camA)).sopInstanceUid).toBe('sop2');
  });

  it('images of several sizes: only each slice\'s own rows × columns count, not the padding of its plane', () => {
    // Planes 2 × 3 (the largest image); slice 0 is a 1 × 2 image in the top-left corner, slices 1 and 2 fill their planes.
    const imageShapes = [
      [1, 2],
      [2, 3],
      [2, 3],
    ] as const;
    const map = { file: 'cam', dtype: 'float32', shape: [3, 2, 3], sourceToPatient: null, imageShapes };
    // An un-normalised heatmap, negative everywhere in every image; slice 0's padding is 0 (and would win if read).
    const heat = Float32Array.from([-5, -4, 0, 0, 0, 0, -3, -2.5, -3, -3, -3, -3, -1.5, -2, -2, -2, -2, -2]);
    expect(strongestSlice(heat, [3, 2, 3])).toBe(0);
    expect(strongestSlice(heat, [3, 2, 3], undefined, imageShapes)).toBe(2);
    const r = result([{ kind: 'heatmap', tensor: 'cam', label: 'lesion', map }]);
    expect(findingTarget(r, 'lesion', () => heat).sopInstanceUid).toBe('c');
    // A label map: voxels of the label in a slice's padding are not counted either.
    const mask = Uint8Array.from([0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(strongestSlice(mask, [3, 2, 3], 1)).toBe(0);
    expect(strongestSlice(mask, [3, 2, 3], 1, imageShapes)).toBe(1);
    const labels = [{ index: 1, name: 'lesion', color: [255, 0, 0], voxels: 3 }];
    const seg = result([{ kind: 'segmentation', tensor: 'seg', labels, mask: { ...map, file: 'seg', dtype: 'uint8' } }]);
    expect(findingTarget(seg, 'lesion', () => mask).sopInstanceUid).toBe('b');
  });

  it('an array whose imageShapes are not pairs of finite numbers is not drawn', () => {
    const map = (imageShapes: unknown) => ({ file: 'cam', dtype: 'float32', shape: [2, 2, 3], sourceToPatient: null, imageShapes });
    const layersOf = (imageShapes: unknown) => overlayLayers([result([{ kind: 'heatmap', tensor: 'cam', label: 'lesion', map: map(imageShapes) }])]);
    expect(layersOf([[1, 2], [2, 3]])).toHaveLength(1);
    for (const malformed of [[[1, 2], [2]], [[1, 2], [2, 3, 1]], [[1, 2], [2, '3']], [[1, 2], [Number.NaN, 3]], [[1, 2], [2, Infinity]], [[1, 2], null], [3, 2]]) {
      expect(layersOf(malformed), JSON.stringify(malformed)).toEqual([]);
    }
  });

  it('a coarse heatmap (step): extents in blocks, the padding of a smaller image still skipped; a malformed step is not drawn', () => {
    // Images 5 × 7 and 3 × 4 stored at step 2: planes ceil(5/2) × ceil(7/2) = 3 × 4; the small image covers 2 × 2 of its plane.
    const map = { file: 'cam', dtype: 'float32', shape: [2, 3, 4], sourceToPatient: null, imageShapes: [[5, 7], [3, 4]], step: 2 } as const;
    expect(sliceExtent(map, 0)).toEqual([3, 4]);
    expect(sliceExtent(map, 1)).toEqual([2, 2]);
    // Without the step the small image's extent would read 3 × 4, taking in its plane's zero padding.
    expect(sliceExtent({ ...map, step: undefined }, 1)).toEqual([3, 4]);
    const heat = new Float32Array(24).fill(-3);
    heat.fill(-1, 12, 24);
    heat.fill(0, 12 + 2, 12 + 4); // padding of slice 1: row 0, columns 2–3
    heat.fill(0, 12 + 6, 12 + 8); // row 1, columns 2–3
    heat.fill(0, 12 + 8, 24); // row 2
    heat[5] = -0.5; // slice 0's strongest value, below slice 1's padding but above its own −1
    expect(strongestSlice(heat, [2, 3, 4], undefined, map.imageShapes, map.step)).toBe(0);
    expect(strongestSlice(heat, [2, 3, 4], undefined, map.imageShapes)).toBe(1);
    const layersOf = (step: unknown) => overlayLayers([result([{ kind: 'heatmap', tensor: 'cam', label: 'lesion', map: { ...map, step } }])]);
    expect(layersOf(2)).toHaveLength(1);
    expect(layersOf(undefined)).toHaveLength(1);
    for (const malformed of [0, -2, 1.5, '2', null, Number.NaN]) expect(layersOf(malformed), String(malformed)).toEqual([]);
  });

  it('a cine: the strongest heatmap plane is a frame of its instance (the target names the frame)', () => {
    const map = { file: 'cam', dtype: 'float32', shape: [4, 1, 2], sourceToPatient: null };
    const heat = Float32Array.from([0.1, 0.2, 0.3, 0.1, 0.9, 0.4, 0.2, 0.2]);
    const r = result([{ kind: 'heatmap', tensor: 'cam', label: 'lesion', map }], { inputSopInstanceUids: ['a', 'm', 'm', 'm'] });
    expect(findingTarget(r, 'lesion', () => heat)).toEqual({ seriesInstanceUid: '1.2.3', sopInstanceUid: 'm', frame: 2 });
  });

  it('a segmentation label: the slice with most voxels of that label, not of another', () => {
    const mask = { file: 'seg', dtype: 'uint8', shape: [3, 2, 2], sourceToPatient: null };
    const labels = [
      { index: 1, name: 'lesion', color: [255, 0, 0], voxels: 3 },
      { index: 2, name: 'oedema', color: [0, 255, 0], voxels: 5 },
    ];
    const values = Uint8Array.from([2, 2, 2, 1, 1, 1, 0, 2, 0, 0, 2, 2]);
    const r = result([{ kind: 'segmentation', tensor: 'seg', labels, mask }], { findings: [{ label: 'lesion', score: 0, positive: true }, { label: 'oedema', score: 0, positive: true }] });
    expect(findingTarget(r, 'lesion', () => values).sopInstanceUid).toBe('b');
    expect(findingTarget(r, 'oedema', () => values).sopInstanceUid).toBe('a');
  });
});
