/**
 * Stored label map ↔ the frames a stack viewport shows. Pure functions.
 *
 * The runtime stores a label map on the source grid (it already went back
 * through the manifest's inverse geometry, nearest neighbour): plane k,
 * pixel (row, column) is the label of pixel (row, column) of the k-th image
 * of the result's `inputSopInstanceUids` (sorted along the slice normal; a
 * multi-frame instance contributes one plane per frame, in frame order).
 * The viewer shows frames in its own reading order, so each displayed frame
 * needs the index of its stored plane, and a labelmap image for a frame is
 * that plane copied pixel for pixel. Brush edits come back the same way.
 */

export type MaskShape = readonly [number, number, number];

export interface DisplayedFrame {
  readonly sopInstanceUid: string;
  /** 1-based frame number in a multi-frame object, 0 for a single-frame image. */
  readonly frame: number;
}

/**
 * For each displayed frame, the index of its plane in the stored label map,
 * or -1 when the result has no plane for it (the frame was not analysed).
 */
export function frameSlices(frames: readonly DisplayedFrame[], inputSopInstanceUids: readonly string[]): Int32Array {
  // Planes of each instance in stored order (several for a multi-frame instance).
  const planes = new Map<string, number[]>();
  inputSopInstanceUids.forEach((uid, k) => {
    const list = planes.get(uid);
    if (list) list.push(k);
    else planes.set(uid, [k]);
  });
  const out = new Int32Array(frames.length);
  frames.forEach((f, i) => {
    const list = planes.get(f.sopInstanceUid);
    const at = f.frame > 0 ? f.frame - 1 : 0;
    out[i] = list?.[at] ?? -1;
  });
  return out;
}

/** The stored plane of one displayed frame (as frameSlices), or -1 when the result has none for it. */
export function storedPlane(inputSopInstanceUids: readonly string[], sopInstanceUid: string, frame: number): number {
  return frameSlices([{ sopInstanceUid, frame }], inputSopInstanceUids)[0]!;
}

/** The displayed frame of stored plane `k`: its 1-based frame number when its instance has several planes, else 0. */
export function planeFrame(inputSopInstanceUids: readonly string[], k: number): number {
  const uid = inputSopInstanceUids[k];
  let before = 0;
  let planes = 0;
  inputSopInstanceUids.forEach((u, i) => {
    if (u !== uid) return;
    planes++;
    if (i < k) before++;
  });
  return planes > 1 ? before + 1 : 0;
}

/**
 * Copies stored plane `slice` into `target` (a frame of `rows` × `cols`,
 * row-major like the image). Returns false (and leaves `target` cleared)
 * when the frame's size is not the stored grid's: that plane does not
 * belong to this image, so nothing is drawn rather than something wrong.
 */
export function fillFramePlane(mask: Uint8Array, shape: MaskShape, slice: number, target: Uint8Array, rows: number, cols: number): boolean {
  const [slices, maskRows, maskCols] = shape;
  const plane = maskRows * maskCols;
  if (slice < 0 || slice >= slices || rows !== maskRows || cols !== maskCols || target.length !== plane || mask.length !== slices * plane) {
    target.fill(0);
    return false;
  }
  target.set(mask.subarray(slice * plane, (slice + 1) * plane));
  return true;
}

/**
 * Writes an edited frame back into stored plane `slice` of `mask`. Returns the
 * number of voxels that changed (0 when the sizes do not match: nothing is written).
 */
export function writeFramePlane(mask: Uint8Array, shape: MaskShape, slice: number, edited: Uint8Array): number {
  const [slices, rows, cols] = shape;
  const plane = rows * cols;
  if (slice < 0 || slice >= slices || edited.length !== plane || mask.length !== slices * plane) return 0;
  const base = slice * plane;
  let changed = 0;
  for (let i = 0; i < plane; i++) {
    const v = edited[i]!;
    if (mask[base + i] !== v) {
      mask[base + i] = v;
      changed++;
    }
  }
  return changed;
}

/** Colour table for a label map: entry i is label i's RGBA (label 0 and unnamed labels transparent). */
export function labelColorTable(labels: readonly { readonly index: number; readonly color: readonly [number, number, number] }[]): [number, number, number, number][] {
  const size = Math.max(1, ...labels.map((l) => l.index + 1));
  const table: [number, number, number, number][] = Array.from({ length: size }, () => [0, 0, 0, 0]);
  for (const l of labels) if (l.index > 0 && l.index < 256) table[l.index] = [l.color[0], l.color[1], l.color[2], 255];
  return table;
}
