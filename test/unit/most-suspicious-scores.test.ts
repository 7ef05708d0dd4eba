/**
 * A classification row from several: an image's from its B-mode regions (a dual
 * B-mode capture is scored view by view), a case's from its images (aggregation
 * "max"): every finding label takes its highest row; a softmax's declared
 * normal labels take their lowest, so that one image or case is never both
 * "normal" and "malignant"; a softmax without normal labels falls back to the
 * column max.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runInferenceJob } from '../../electron/services/ai/inference-job';
import type { OutputSpec } from '../../electron/services/ai/model-manifest';
import { mostSuspiciousScores } from '../../electron/services/ai/postprocessing';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { brightnessScore, brightnessSoftmaxModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

type Classification = Extract<OutputSpec, { kind: 'classification' }>;
const spec = (activation: Classification['activation'], labels: string[], normalLabels?: string[]): Classification => ({
  kind: 'classification',
  tensor: 'logits',
  labels,
  activation,
  thresholds: 0.5,
  ...(normalLabels ? { normalLabels } : {}),
});

describe('mostSuspiciousScores', () => {
  it('sigmoid (independent labels): each label its highest view', () => {
    const s = spec('sigmoid', ['mass', 'calcification']);
    expect(mostSuspiciousScores(s, [[0.2, 0.9], [0.7, 0.1]])).toEqual([0.7, 0.9]);
    expect(mostSuspiciousScores(spec('none', ['a', 'b']), [[-3, 2], [1, -5]])).toEqual([1, 2]);
  });

  it('softmax with a normal label: normal as its least normal view, each finding as its strongest', () => {
    const s = spec('softmax', ['normal_or_benign', 'malignant'], ['normal_or_benign']);
    // Column max would give [0.9, 0.8]: both calls positive for one image. Two classes: the most suspicious view's row.
    expect(mostSuspiciousScores(s, [[0.9, 0.1], [0.2, 0.8]])).toEqual([0.2, 0.8]);
    expect(mostSuspiciousScores(s, [[0.2, 0.8], [0.9, 0.1]])).toEqual([0.2, 0.8]);
    // Several finding classes: each finding keeps its strongest view, so malignant seen in one view is not lost
    // to a view that looked more benign (a whole-row choice would have scored malignant 0.1 here).
    const three = spec('softmax', ['normal', 'benign', 'malignant'], ['normal']);
    expect(mostSuspiciousScores(three, [[0.1, 0.8, 0.1], [0.5, 0.05, 0.45]])).toEqual([0.1, 0.8, 0.45]);
    expect(mostSuspiciousScores(s, [[0.4, 0.6], [0.4, 0.6]])).toEqual([0.4, 0.6]);
  });

  it('softmax without normal labels, or only normal ones: each label its highest view', () => {
    expect(mostSuspiciousScores(spec('softmax', ['fatty', 'dense']), [[0.9, 0.1], [0.3, 0.7]])).toEqual([0.9, 0.7]);
    expect(mostSuspiciousScores(spec('softmax', ['normal', 'other'], ['normal', 'other']), [[0.9, 0.1], [0.3, 0.7]])).toEqual([0.9, 0.7]);
  });
});

describe('a multi-image case (aggregation "max") with a softmax and a normal label', () => {
  const root = mkdtempSync(join(tmpdir(), 'vigil-most-suspicious-'));
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('scores as its most suspicious image: never both normal and abnormal', async () => {
    // A dark image (mean 10) is clearly normal, a bright one (mean 80) clearly abnormal.
    const onnx = brightnessSoftmaxModel();
    const modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, onnx);
    const manifest = classifierManifest(onnx, {
      id: 'test-softmax-case',
      preprocessing: [{ op: 'modalityRescale' }],
      outputs: [{ kind: 'classification', tensor: 'logits', labels: ['normal', 'abnormal'], activation: 'softmax', thresholds: 0.5, normalLabels: ['normal'] }],
    });
    const files = [10, 80].map((value, i) => {
      const file = join(root, `${i}.dcm`);
      writeFileSync(file, syntheticDicom({ modality: 'CR', rows: 8, columns: 8, instanceNumber: i + 1, pixels: new Uint16Array(64).fill(value) }));
      return file;
    });
    const r = await runInferenceJob({ jobId: 'case', model: { id: manifest.id, modelPath, manifest }, files, provider: 'cpu', outputDir: join(root, 'out') }, sessions);
    expect(r.status, r.reason).toBe('done');
    const abnormal = brightnessScore(80);
    // Column-wise max would give normal ≈ 0.99 (the dark image) beside abnormal ≈ 0.95: both positive.
    expect(r.findings.map((f) => [f.label, f.score, f.positive])).toEqual([
      ['normal', expect.closeTo(1 - abnormal, 5), false],
      ['abnormal', expect.closeTo(abnormal, 5), true],
    ]);
  });
});
