/**
 * The image's own VOI LUT transformation (PS3.3 C.11.2): the first item of the
 * VOI LUT Sequence, else the first Window Center / Width with its VOI LUT
 * Function. It is what a viewer shows by default, and so what an image exported
 * from a PACS as PNG or JPEG holds: a model trained on such exports (MedMNIST's
 * chest radiographs) expects it applied to the modality values, not the stored range.
 */
import { type DicomDataset, sequenceItems, uint16Words } from './dicom-dataset-reader';

export type VoiTransform =
  /** Output 0..1 (the standard's y_min..y_max). */
  | { kind: 'window'; center: number; width: number; fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID' }
  /** Output: the table's entries; inputs below `firstMapped` take entry 0, inputs past the end the last entry. */
  | { kind: 'lut'; firstMapped: number; entries: Float32Array };

const TAG = {
  WindowCenter: 0x00281050,
  WindowWidth: 0x00281051,
  VoiLutFunction: 0x00281056,
  VoiLutSequence: 0x00283010,
  LutDescriptor: 0x00283002,
  LutData: 0x00283006,
  SharedFunctionalGroups: 0x52009229,
  FrameVoiLutSequence: 0x00289132,
} as const;

/** Most LUT Data bytes a descriptor can use: 65536 entries of one 16-bit word (a longer element is malformed, and is not read whole). */
const MAX_LUT_DATA_BYTES = 65536 * 2;


/**
 * A VOI LUT Sequence item as a table, or null when it is malformed (a viewer falls back to the window then).
 * LUT Descriptor (0028,3002): entries (0 means 65536), first mapped value, bits per entry (8, or 10 to 16).
 * The first mapped value is US or SS: it is read signed when recorded as SS, or when the modality values can
 * be negative (signed pixels or a negative intercept) and its high bit is set.
 */
function lutOf(item: DicomDataset, negativeInputs: boolean): VoiTransform | null {
  const descriptor = item.valueBytes(TAG.LutDescriptor, 6);
  // A little slack over the largest table: some writers pad or append a word.
  const data = item.valueBytes(TAG.LutData, MAX_LUT_DATA_BYTES + 16);
  if (!descriptor || descriptor.length < 6 || !data) return null;
  const d = uint16Words(descriptor, item.encoding.littleEndian);
  const [count, first, bits] = [d[0]!, d[1]!, d[2]!];
  const entries = count === 0 ? 65536 : count;
  if (bits !== 8 && (bits < 10 || bits > 16)) return null;
  const signedFirst = item.elements.get(TAG.LutDescriptor)?.vr === 'SS' || (negativeInputs && first >= 0x8000);
  // 8-bit entries may be packed one per byte (pydicom and dcmtk accept both); the value length tells which.
  const values = bits === 8 && data.length < 2 * entries ? data : uint16Words(data, item.encoding.littleEndian);
  if (values.length < entries) return null;
  return { kind: 'lut', firstMapped: signedFirst ? (first << 16) >> 16 : first, entries: Float32Array.from(values.subarray(0, entries)) };
}

/** The first window of a dataset (or functional group item), or null when absent or unusable. */
function windowOf(ds: DicomDataset): VoiTransform | null {
  const center = ds.number(TAG.WindowCenter);
  const width = ds.number(TAG.WindowWidth);
  if (center === null || width === null) return null;
  const name = ds.string(TAG.VoiLutFunction).toUpperCase();
  const fn = name === 'LINEAR_EXACT' || name === 'SIGMOID' ? name : 'LINEAR';
  // C.11.2.1.2: LINEAR needs a width of at least 1, the others a positive one; anything else is no window.
  if (!Number.isFinite(center) || !Number.isFinite(width) || (fn === 'LINEAR' ? width < 1 : width <= 0)) return null;
  return { kind: 'window', center, width, fn };
}

/**
 * The image's VOI transform: top-level VOI LUT Sequence, then Window Center / Width, then the same in the
 * Shared Functional Groups' Frame VOI LUT Sequence (enhanced images); null when none is usable. Per-frame
 * functional groups are not read: their windows may differ frame by frame.
 */
export function imageVoi(ds: DicomDataset, negativeInputs: boolean): VoiTransform | null {
  const firstItem = (parent: DicomDataset, tag: number): DicomDataset | null => {
    try {
      return sequenceItems(parent, tag)?.[0] ?? null;
    } catch {
      return null; // a malformed sequence: no VOI from it
    }
  };
  const lutItem = firstItem(ds, TAG.VoiLutSequence);
  const lut = lutItem ? lutOf(lutItem, negativeInputs) : null;
  if (lut) return lut;
  const window = windowOf(ds);
  if (window) return window;
  const shared = firstItem(ds, TAG.SharedFunctionalGroups);
  const frameVoi = shared ? firstItem(shared, TAG.FrameVoiLutSequence) : null;
  return frameVoi ? windowOf(frameVoi) : null;
}

/** Applies the transform in place to modality values (after Rescale Slope / Intercept). */
export function applyVoi(values: Float32Array, voi: VoiTransform): void {
  if (voi.kind === 'lut') {
    const last = voi.entries.length - 1;
    for (let i = 0; i < values.length; i++) {
      const index = Math.floor(values[i]! - voi.firstMapped);
      values[i] = voi.entries[index <= 0 ? 0 : index >= last ? last : index]!;
    }
    return;
  }
  const { center: c, width: w } = voi;
  switch (voi.fn) {
    case 'LINEAR': {
      // C.11.2.1.2.1; a width of 1 is a threshold at c - 0.5 (the middle branch is then empty).
      const lo = c - 0.5 - (w - 1) / 2;
      const hi = c - 0.5 + (w - 1) / 2;
      for (let i = 0; i < values.length; i++) {
        const x = values[i]!;
        values[i] = x <= lo ? 0 : x > hi ? 1 : (x - (c - 0.5)) / (w - 1) + 0.5;
      }
      return;
    }
    case 'LINEAR_EXACT': {
      // C.11.2.1.3.2.
      for (let i = 0; i < values.length; i++) {
        const x = values[i]!;
        values[i] = x <= c - w / 2 ? 0 : x > c + w / 2 ? 1 : (x - c) / w + 0.5;
      }
      return;
    }
    case 'SIGMOID': {
      // C.11.2.1.3.1.
      for (let i = 0; i < values.length; i++) values[i] = 1 / (1 + Math.exp((-4 * (values[i]! - c)) / w));
    }
  }
}
