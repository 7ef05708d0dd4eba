/**
 * One image's classification row from the rows of its B-mode regions (a dual
 * B-mode capture is scored view by view): independent labels take their highest
 * view; a softmax with declared normal labels takes the whole row of the view
 * with the strongest finding, so that one image is never both "normal" and
 * "malignant"; a softmax without normal labels falls back to the column max.
 */
import { describe, expect, it } from 'vitest';
import { imageScoresOfRegions } from '../../electron/services/ai/inference-job';
import type { OutputSpec } from '../../electron/services/ai/model-manifest';

type Classification = Extract<OutputSpec, { kind: 'classification' }>;
const spec = (activation: Classification['activation'], labels: string[], normalLabels?: string[]): Classification => ({
  kind: 'classification',
  tensor: 'logits',
  labels,
  activation,
  thresholds: 0.5,
  ...(normalLabels ? { normalLabels } : {}),
});

describe('imageScoresOfRegions', () => {
  it('sigmoid (independent labels): each label its highest view', () => {
    const s = spec('sigmoid', ['mass', 'calcification']);
    expect(imageScoresOfRegions(s, [[0.2, 0.9], [0.7, 0.1]])).toEqual([0.7, 0.9]);
    expect(imageScoresOfRegions(spec('none', ['a', 'b']), [[-3, 2], [1, -5]])).toEqual([1, 2]);
  });

  it('softmax with a normal label: the whole row of the view with the highest finding score', () => {
    const s = spec('softmax', ['normal_or_benign', 'malignant'], ['normal_or_benign']);
    // Column max would give [0.9, 0.8]: both calls positive for one image.
    expect(imageScoresOfRegions(s, [[0.9, 0.1], [0.2, 0.8]])).toEqual([0.2, 0.8]);
    expect(imageScoresOfRegions(s, [[0.2, 0.8], [0.9, 0.1]])).toEqual([0.2, 0.8]);
    // Several finding classes: the view whose strongest finding is strongest.
    const three = spec('softmax', ['normal', 'benign', 'malignant'], ['normal']);
    expect(imageScoresOfRegions(three, [[0.1, 0.3, 0.6], [0.2, 0.7, 0.1]])).toEqual([0.2, 0.7, 0.1]);
    // Equal: the first view (position order).
    expect(imageScoresOfRegions(s, [[0.4, 0.6], [0.4, 0.6]])).toEqual([0.4, 0.6]);
  });

  it('softmax without normal labels, or only normal ones: each label its highest view', () => {
    expect(imageScoresOfRegions(spec('softmax', ['fatty', 'dense']), [[0.9, 0.1], [0.3, 0.7]])).toEqual([0.9, 0.7]);
    expect(imageScoresOfRegions(spec('softmax', ['normal', 'other'], ['normal', 'other']), [[0.9, 0.1], [0.3, 0.7]])).toEqual([0.9, 0.7]);
  });
});
