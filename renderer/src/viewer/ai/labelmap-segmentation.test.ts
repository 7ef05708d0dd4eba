/**
 * Label maps through Cornerstone's bounded image cache: scrolling a long
 * series evicts labelmap images; coming back must show each frame's own
 * plane of the stored map again (and a reviewer's saved brush edits), rebuilt
 * before Cornerstone's labelmap sync reads it. Runs the real module and the
 * real @cornerstonejs/core cache; only the @cornerstonejs/tools calls that
 * need a rendering viewport are stubbed.
 */
import { cache, Enums as CoreEnums, imageLoader, metaData } from '@cornerstonejs/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InstanceSummary } from '../../../../contract/ipc-contract';
import type { FrameRef } from '../cornerstone/viewer-engine';
import { attachLabelmap, collectLabelmapEdits, detachLabelmap, ensureLabelmapFrame, holdLabelmapSync, restoreLabelmapSlice, type SegmentationLayer, setLabelmapValues } from './labelmap-segmentation';

vi.mock('@cornerstonejs/tools', () => ({
  Enums: { SegmentationRepresentations: { Labelmap: 'Labelmap' }, Events: { SEGMENTATION_RENDERED: 'SEGMENTATION_RENDERED', SEGMENTATION_DATA_MODIFIED: 'SEGMENTATION_DATA_MODIFIED' } },
  segmentation: {
    addSegmentations: vi.fn(),
    addLabelmapRepresentationToViewport: vi.fn(),
    removeLabelmapRepresentation: vi.fn(),
    removeSegmentation: vi.fn(),
    config: { color: { addColorLUT: vi.fn(() => 1) }, style: { setRenderInactiveSegmentations: vi.fn() } },
    triggerSegmentationEvents: { triggerSegmentationDataModified: vi.fn() },
  },
  utilities: { segmentation: { triggerSegmentationRenderBySegmentationId: vi.fn() } },
}));

const ROWS = 16;
const COLS = 16;
const FRAMES = 60;
const PLANE = ROWS * COLS;

function instance(k: number): InstanceSummary {
  return {
    sopInstanceUid: `1.2.3.${k}`,
    rows: ROWS,
    columns: COLS,
    imagePositionPatient: `0\\0\\${k}`,
    imageOrientationPatient: '1\\0\\0\\0\\1\\0',
    pixelSpacing: '0.5\\0.5',
  } as InstanceSummary;
}

/** Displayed frames in reading order; the result stored its planes in the opposite order (as a series sorted the other way). */
const frames: FrameRef[] = Array.from({ length: FRAMES }, (_, i) => ({ imageId: `test-image:${i}`, instance: instance(i), frame: 0 }));
const layer: SegmentationLayer = {
  key: '7:seg',
  resultId: 7,
  modelId: 'test-seg',
  seriesInstanceUid: '1.2.3',
  inputSopInstanceUids: frames.map((f) => f.instance.sopInstanceUid).reverse(),
  kind: 'segmentation',
  labels: [
    { index: 1, name: 'a', color: [255, 0, 0], voxels: 0 },
    { index: 2, name: 'b', color: [0, 255, 0], voxels: 0 },
  ],
  array: { file: 'seg.u8.gz', dtype: 'uint8', shape: [FRAMES, ROWS, COLS], sourceToPatient: null },
  originalFile: 'seg.u8.gz',
};

/** Stored plane k: every voxel distinct per plane (k mod 3 labels in a pattern that moves with k). */
const stored = Uint8Array.from({ length: FRAMES * PLANE }, (_, i) => ((Math.floor(i / PLANE) + (i % PLANE)) % 3) as number);
const storedPlaneOfFrame = (values: Uint8Array, i: number) => {
  const k = FRAMES - 1 - i;
  return values.subarray(k * PLANE, (k + 1) * PLANE);
};
const derivedId = (segmentationId: string, i: number) => `vigil-labelmap:${segmentationId}:${i}`;
const shown = (segmentationId: string, i: number) => cache.getImage(derivedId(segmentationId, i))?.voxelManager?.getScalarData() as Uint8Array | undefined;

/** Scrolls a long series through the cache: enough other images to push every labelmap image out. */
let scrolled = 0;
function scrollLongSeries(bytes: number): void {
  for (let n = 0; n < Math.ceil(bytes / (64 * 64 * 4)); n++) {
    imageLoader.createAndCacheLocalImage(`other-series:${scrolled++}`, { scalarData: new Float32Array(64 * 64), dimensions: [64, 64], spacing: [1, 1], targetBuffer: { type: 'Float32Array' } });
  }
}

beforeAll(() => {
  // The referenced frames' metadata, as Cornerstone has it once their files were read.
  metaData.addProvider((type: string, imageId: unknown) => (typeof imageId === 'string' && imageId.startsWith('test-image:') && type === 'imagePixelModule' ? { rows: ROWS, columns: COLS } : undefined), 1);
  // A small cache: the labelmap images of this series are 60 × 256 bytes; a scroll of other images evicts them.
  cache.setMaxCacheSize(256 * 1024);
});
let attached: string | null = null;
afterEach(() => {
  if (attached) detachLabelmap('vp-test', attached);
  attached = null;
});

describe('label maps after the image cache evicted them', () => {
  it('shows each frame its own stored plane again after eviction, including the reviewer\'s edits', () => {
    const id = (attached = attachLabelmap('vp-test', layer, frames));
    setLabelmapValues(id, stored);
    for (const i of [0, 17, 59]) expect(shown(id, i)).toEqual(storedPlaneOfFrame(stored, i));

    // A brush stroke on frame 17, read back into the reviewer's copy (the model's array stays as it was).
    const image17 = shown(id, 17)!;
    image17.fill(2);
    const edits = collectLabelmapEdits(id, [17]);
    expect(edits?.slices).toEqual([FRAMES - 1 - 17]);
    expect(storedPlaneOfFrame(stored, 17).every((v) => v === 2)).toBe(false);

    scrollLongSeries(512 * 1024);
    const evicted = frames.filter((_, i) => shown(id, i) === undefined).length;
    expect(evicted, 'the scroll evicted the labelmap images').toBe(FRAMES);

    // Coming back: each frame shown gets its plane back, rebuilt from the stored map (the edited copy for frame 17).
    for (let i = 0; i < FRAMES; i++) {
      ensureLabelmapFrame(id, i);
      const want = i === 17 ? new Uint8Array(PLANE).fill(2) : storedPlaneOfFrame(stored, i);
      expect(shown(id, i), `frame ${i}`).toEqual(want);
    }
    expect(storedPlaneOfFrame(edits!.values, 17).every((v) => v === 2)).toBe(true);
  });

  it('keeps the reader\'s edits when the model\'s array comes again, and puts a refused stroke\'s slice back', () => {
    const id = (attached = attachLabelmap('vp-test', layer, frames));
    setLabelmapValues(id, stored);
    shown(id, 17)!.fill(2);
    const edits = collectLabelmapEdits(id, [17])!;
    const slice = FRAMES - 1 - 17;
    expect([...edits.before.keys()]).toEqual([slice]);
    expect(edits.before.get(slice)).toEqual(storedPlaneOfFrame(stored, 17));
    // The model's array set again before the reviewed mask has loaded: the stroke stays on screen and in the copy.
    setLabelmapValues(id, stored);
    expect(shown(id, 17)).toEqual(new Uint8Array(PLANE).fill(2));
    // The store refused the stroke: the slice as it was, in the images and in the viewer's copy.
    restoreLabelmapSlice(id, slice, edits.before.get(slice)!);
    expect(shown(id, 17)).toEqual(storedPlaneOfFrame(stored, 17));
    expect(storedPlaneOfFrame(edits.values, 17)).toEqual(storedPlaneOfFrame(stored, 17));
    // The reviewed mask replaces the copy.
    const reviewed = stored.slice();
    reviewed.fill(1, slice * PLANE, (slice + 1) * PLANE);
    setLabelmapValues(id, reviewed, true);
    expect(shown(id, 17)).toEqual(new Uint8Array(PLANE).fill(1));
  });

  it('rebuilds an evicted labelmap image before Cornerstone\'s labelmap sync sees the new image (a cached frame, not held)', () => {
    const id = (attached = attachLabelmap('vp-test', layer, frames));
    setLabelmapValues(id, stored);
    scrollLongSeries(512 * 1024);
    expect(shown(id, 42)).toBeUndefined();

    const element = document.createElement('div');
    const release = holdLabelmapSync(element, 'vp-test');
    // Stands in for Cornerstone's own PRE_STACK_NEW_IMAGE listener (the labelmap sync): what does it find?
    let seenBySync: Uint8Array | undefined | null = null;
    element.addEventListener(CoreEnums.Events.PRE_STACK_NEW_IMAGE, () => {
      seenBySync = shown(id, 42)?.slice();
    });
    element.dispatchEvent(new CustomEvent(CoreEnums.Events.PRE_STACK_NEW_IMAGE, { detail: { imageId: 'test-image:42', imageIdIndex: 42, viewportId: 'vp-test' }, cancelable: true }));
    release();
    expect(seenBySync).toEqual(storedPlaneOfFrame(stored, 42));
  });
});
