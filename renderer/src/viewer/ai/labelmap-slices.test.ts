import { describe, expect, it } from 'vitest';
import { fillFramePlane, frameSlices, labelColorTable, planeFrame, storedPlane, writeFramePlane } from './labelmap-slices';

/**
 * A stored 3-plane label map on a non-square 3 × 5 source grid whose plane k
 * holds label (k + 1) in column k of every row and label 9 at (row 2, col 4):
 * every pixel says which plane and where it came from.
 */
function storedMask(): { mask: Uint8Array; shape: [number, number, number] } {
  const shape: [number, number, number] = [3, 3, 5];
  const mask = new Uint8Array(3 * 3 * 5);
  for (let k = 0; k < 3; k++) {
    for (let r = 0; r < 3; r++) mask[k * 15 + r * 5 + k] = k + 1;
    mask[k * 15 + 2 * 5 + 4] = 9;
  }
  return { mask, shape };
}

describe('label map planes for displayed frames', () => {
  it('a displayed frame of a multi-frame instance has its own plane, and a plane its frame (storedPlane, planeFrame)', () => {
    // A single-frame image 'a', then a three-frame cine 'm', then 'z'.
    const uids = ['a', 'm', 'm', 'm', 'z'];
    expect(storedPlane(uids, 'a', 0)).toBe(0);
    expect([1, 2, 3].map((f) => storedPlane(uids, 'm', f))).toEqual([1, 2, 3]);
    expect(storedPlane(uids, 'm', 4)).toBe(-1);
    expect(storedPlane(uids, 'x', 0)).toBe(-1);
    expect(uids.map((_, k) => planeFrame(uids, k))).toEqual([0, 1, 2, 3, 0]);
    // The same planes frameSlices gives.
    expect([...frameSlices([{ sopInstanceUid: 'm', frame: 3 }, { sopInstanceUid: 'z', frame: 0 }], uids)]).toEqual([3, 4]);
  });

  it('maps frames in the viewer reading order to the stored planes of their instances', () => {
    // Stored along the slice normal (a, b, c); the viewer reads them the other way round.
    const slices = frameSlices(
      [
        { sopInstanceUid: 'c', frame: 0 },
        { sopInstanceUid: 'b', frame: 0 },
        { sopInstanceUid: 'a', frame: 0 },
      ],
      ['a', 'b', 'c'],
    );
    expect([...slices]).toEqual([2, 1, 0]);
  });

  it('gives each frame of a multi-frame instance its own plane and marks frames the model never saw', () => {
    const slices = frameSlices(
      [
        { sopInstanceUid: 'mf', frame: 1 },
        { sopInstanceUid: 'mf', frame: 2 },
        { sopInstanceUid: 'mf', frame: 3 },
        { sopInstanceUid: 'x', frame: 0 },
        { sopInstanceUid: 'mf', frame: 4 },
      ],
      ['mf', 'mf', 'mf'],
    );
    expect([...slices]).toEqual([0, 1, 2, -1, -1]);
  });

  it('fills every pixel of a frame with the label of the same source pixel in its plane', () => {
    const { mask, shape } = storedMask();
    const slices = frameSlices(
      [
        { sopInstanceUid: 'c', frame: 0 },
        { sopInstanceUid: 'a', frame: 0 },
        { sopInstanceUid: 'b', frame: 0 },
      ],
      ['a', 'b', 'c'],
    );
    const expectedPlane = [2, 0, 1];
    slices.forEach((slice, i) => {
      const target = new Uint8Array(15).fill(77);
      expect(fillFramePlane(mask, shape, slice, target, 3, 5)).toBe(true);
      const k = expectedPlane[i]!;
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 5; c++) {
          const want = r === 2 && c === 4 ? 9 : c === k ? k + 1 : 0;
          expect(target[r * 5 + c], `frame ${i}, pixel (${r}, ${c})`).toBe(want);
        }
      }
    });
  });

  it('draws nothing for a frame whose size is not the stored grid, or that has no plane', () => {
    const { mask, shape } = storedMask();
    const transposed = new Uint8Array(15).fill(5);
    expect(fillFramePlane(mask, shape, 0, transposed, 5, 3)).toBe(false);
    expect([...transposed].every((v) => v === 0)).toBe(true);
    const missing = new Uint8Array(15).fill(5);
    expect(fillFramePlane(mask, shape, -1, missing, 3, 5)).toBe(false);
    expect([...missing].every((v) => v === 0)).toBe(true);
  });

  it('writes an edited frame back into its plane only, and counts the changed voxels', () => {
    const { mask, shape } = storedMask();
    const before = mask.slice();
    const frame = new Uint8Array(15);
    fillFramePlane(mask, shape, 1, frame, 3, 5);
    frame[0] = 4; // paint (0, 0)
    frame[1 * 5 + 1] = 0; // erase (1, 1), label 2 in plane 1
    expect(writeFramePlane(mask, shape, 1, frame)).toBe(2);
    expect(mask[15 + 0]).toBe(4);
    expect(mask[15 + 5 + 1]).toBe(0);
    for (let i = 0; i < mask.length; i++) if (i !== 15 && i !== 21) expect(mask[i], `voxel ${i}`).toBe(before[i]);
    expect(writeFramePlane(mask, shape, 1, frame)).toBe(0);
    expect(writeFramePlane(mask, shape, 1, new Uint8Array(14))).toBe(0);
  });

  it('builds the colour table from the manifest labels, background transparent', () => {
    expect(
      labelColorTable([
        { index: 0, color: [9, 9, 9] },
        { index: 2, color: [205, 62, 78] },
        { index: 1, color: [255, 255, 255] },
      ]),
    ).toEqual([
      [0, 0, 0, 0],
      [255, 255, 255, 255],
      [205, 62, 78, 255],
    ]);
  });
});
