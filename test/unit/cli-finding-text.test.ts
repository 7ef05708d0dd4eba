import { describe, expect, it } from 'vitest';
import { findingLine, outputFileLines, populationLine, warningLine } from '../../electron/cli/finding-text';

describe('vigil analyze: a finding as text', () => {
  it('prints a classification call with its score and threshold', () => {
    expect(findingLine({ label: 'pneumonia', score: 0.91234, positive: true, threshold: 0.157871 })).toBe('+ pneumonia: 0.9123 (threshold 0.158)');
    expect(findingLine({ label: 'normal', score: 0.08766, positive: false })).toBe('- normal: 0.0877');
  });

  it('prints a measurement with its volume and no call', () => {
    expect(findingLine({ label: 'White Matter', score: 0.12, positive: false, measurement: true, voxels: 412_300, volumeMl: 412.3 })).toBe('= White Matter: 412.3 mL');
    // A series without the geometry to measure it: the voxel count.
    expect(findingLine({ label: 'White Matter', score: 0.12, positive: false, measurement: true, voxels: 5120 })).toBe('= White Matter: 5120 voxels');
  });

  it('prints a lesion with its volume against the minimum volume that makes it positive', () => {
    expect(findingLine({ label: 'lesion', score: 0.001, positive: true, voxels: 2400, volumeMl: 2.4, minVolumeMl: 0.5 })).toBe('+ lesion: 2.4 mL (threshold 0.5 mL)');
    expect(findingLine({ label: 'lesion', score: 0, positive: false, voxels: 0, volumeMl: 0, minVolumeMl: 0.5 })).toBe('- lesion: 0.0 mL (threshold 0.5 mL)');
  });
});

describe('vigil analyze: the intended population as text', () => {
  it('prints a stored warning as it was recorded', () => {
    expect(warningLine({ message: 'Outside intended population: patient 54 y; model intended for 1–5 y' })).toBe('! Outside intended population: patient 54 y; model intended for 1–5 y');
  });

  it('says when the age was unknown, so no warning could be checked', () => {
    expect(populationLine({ patientAgeYears: null, intendedAgeYears: { min: 1, max: 5 }, note: null })).toBe('? patient age unknown; model intended for 1–5 y');
    expect(populationLine({ patientAgeYears: null, intendedAgeYears: { min: 18 }, note: 'adults' })).toBe('? patient age unknown; model intended for ≥ 18 y — adults');
    expect(populationLine({ patientAgeYears: 0.5, intendedAgeYears: { max: 17 }, note: null })).toBe('? patient 6 mo; model intended for ≤ 17 y');
  });
});

describe('vigil analyze: the files a run wrote, as text', () => {
  it('prints one line per heatmap and mask with what it is and its full path; nothing for scores or boxes', () => {
    const ref = { dtype: 'float32' as const, shape: [1, 28, 28] as [number, number, number], sourceToPatient: null };
    const lines = outputFileLines(
      [
        { kind: 'classification', tensor: 'logits' },
        { kind: 'heatmap', tensor: 'cam', label: 'pneumonia', map: { ...ref, file: 'cam-heatmap.f32.gz' } },
        {
          kind: 'segmentation',
          tensor: 'seg',
          labels: [{ index: 1, name: 'lesion', color: [255, 0, 0], voxels: 12 }],
          modelGridShape: [4, 8, 8],
          modelVoxelCounts: [244, 12],
          mask: { file: 'seg-mask.u8.gz', dtype: 'uint8', shape: [4, 8, 8], sourceToPatient: null },
        },
        { kind: 'detection', tensor: 'boxes', boxes: [] },
      ],
      '/data/ai-results/study/run-1',
    );
    expect(lines).toEqual([
      'heatmap for pneumonia (float32 1×28×28): /data/ai-results/study/run-1/cam-heatmap.f32.gz',
      'segmentation mask (labels 1 lesion; uint8 4×8×8): /data/ai-results/study/run-1/seg-mask.u8.gz',
    ]);
  });

  it('names each image size when the images of the series differ in size', () => {
    const map = { file: 'cam-heatmap.f32.gz', dtype: 'float32' as const, shape: [2, 480, 640] as [number, number, number], sourceToPatient: null, imageShapes: [[480, 640], [240, 320]] as [number, number][] };
    expect(outputFileLines([{ kind: 'heatmap', tensor: 'cam', label: 'malignant', map }], '/run')).toEqual([
      'heatmap for malignant (float32 2×480×640; images of several sizes, each in the top-left of its plane: 480×640, 240×320): /run/cam-heatmap.f32.gz',
    ]);
  });

  it('says when a heatmap holds one value per block of image pixels (a long or large series)', () => {
    const map = { file: 'cam-heatmap.f32.gz', dtype: 'float32' as const, shape: [300, 200, 267] as [number, number, number], sourceToPatient: null, step: 3 };
    expect(outputFileLines([{ kind: 'heatmap', tensor: 'cam', label: 'malignant', map }], '/run')).toEqual([
      'heatmap for malignant (float32 300×200×267; one value per 3×3 block of image pixels): /run/cam-heatmap.f32.gz',
    ]);
  });
});
