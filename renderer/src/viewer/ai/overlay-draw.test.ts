/**
 * The cached image of an overlay slice is reused only under the same style key: every setting the slice's pixels
 * depend on must change the key, a label's own fill and opacity (the findings panel's per-label controls) included.
 */
import { describe, expect, it } from 'vitest';
import { sliceStyleKey } from './overlay-draw';
import type { OverlayStyle } from './overlay-model';

const base: OverlayStyle = { visible: true, opacity: 0.5, fill: true, hiddenLabels: new Set(), labelStyles: new Map() };

describe('sliceStyleKey', () => {
  it('is the same for equal styles, whatever the order labels were set in', () => {
    const a = { ...base, hiddenLabels: new Set(['7:1', '7:2']), labelStyles: new Map([['7:1', { opacity: 0.2 }], ['7:2', { fill: false }]]) };
    const b = { ...base, hiddenLabels: new Set(['7:2', '7:1']), labelStyles: new Map([['7:2', { fill: false }], ['7:1', { opacity: 0.2 }]]) };
    expect(sliceStyleKey(a)).toBe(sliceStyleKey(b));
  });

  it('changes with every setting the pixels depend on', () => {
    const keys = [
      base,
      { ...base, opacity: 0.6 },
      { ...base, fill: false },
      { ...base, hiddenLabels: new Set(['7:1']) },
      { ...base, labelStyles: new Map([['7:1', { opacity: 0.2 }]]) },
      { ...base, labelStyles: new Map([['7:1', { opacity: 0.3 }]]) },
      { ...base, labelStyles: new Map([['7:1', { fill: false }]]) },
      { ...base, labelStyles: new Map([['7:2', { fill: false }]]) },
    ].map(sliceStyleKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
