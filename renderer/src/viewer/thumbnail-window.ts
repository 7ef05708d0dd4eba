/**
 * The window (VOI) and LUTs a series thumbnail is drawn with. Cornerstone's
 * CPU renderer takes them from the image as createImage built it, which trusts
 * the file: a Window Center/Width that is present but empty, zero or not a
 * number, or a VOI / Modality LUT Sequence item without a descriptor or data,
 * comes through as NaN, 0 or an empty LUT, and the thumbnail is black (e.g.
 * the LEADTOOLS "flowers" RLE file). Here an unusable window falls back to one
 * over the image's pixel range (in modality units, as the window applies),
 * and an unusable LUT is dropped (the linear rescale / window then apply).
 * Pure, so unit tests need no Cornerstone.
 */

/** A Modality or VOI LUT as the loader builds it from a LUT Sequence item. */
export interface LookupTable {
  firstValueMapped?: number;
  numBitsPerEntry?: number;
  lut?: ArrayLike<number>;
  [key: string]: unknown;
}

/** The fields of a Cornerstone image the thumbnail's display depends on. */
export interface ThumbnailImageFields {
  windowCenter?: number | number[];
  windowWidth?: number | number[];
  minPixelValue: number;
  maxPixelValue: number;
  slope?: number;
  intercept?: number;
  /** The pixels already have the modality LUT (rescale) applied. */
  isPreScaled?: boolean;
  voiLUT?: LookupTable;
  modalityLUT?: LookupTable;
}

export interface ThumbnailDisplay {
  windowCenter: number;
  windowWidth: number;
  voiLUT: LookupTable | undefined;
  modalityLUT: LookupTable | undefined;
  /** Where the window came from: the file's, or the pixel range because the file's is missing or unusable. */
  windowFrom: 'file' | 'pixel-range';
}

function first(value: number | number[] | undefined): number | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A LUT the CPU renderer can use: at least one entry, every entry and the first mapped value finite numbers. */
export function usableLookupTable(table: LookupTable | undefined): LookupTable | undefined {
  if (!table?.lut || table.lut.length === 0 || !Number.isFinite(table.firstValueMapped)) return undefined;
  for (let i = 0; i < table.lut.length; i++) if (!Number.isFinite(table.lut[i])) return undefined;
  return table;
}

/** The image's pixel range as the window sees it (modality units): through the modality LUT, or the linear rescale unless the pixels have it already. */
function modalityRange(image: ThumbnailImageFields, modalityLUT: LookupTable | undefined): { low: number; high: number } {
  if (modalityLUT) {
    // The table's outputs for the stored values present (below / above the table: its first / last entry).
    const lut = modalityLUT.lut!;
    const firstMapped = modalityLUT.firstValueMapped as number;
    const from = Math.min(Math.max(Math.floor(image.minPixelValue) - firstMapped, 0), lut.length - 1);
    const to = Math.min(Math.max(Math.ceil(image.maxPixelValue) - firstMapped, 0), lut.length - 1);
    let low = Infinity;
    let high = -Infinity;
    for (let i = from; i <= to; i++) {
      low = Math.min(low, lut[i]!);
      high = Math.max(high, lut[i]!);
    }
    return { low, high };
  }
  const slope = image.isPreScaled || !Number.isFinite(image.slope) || image.slope === 0 ? 1 : (image.slope as number);
  const intercept = image.isPreScaled || !Number.isFinite(image.intercept) ? 0 : (image.intercept as number);
  const a = image.minPixelValue * slope + intercept;
  const b = image.maxPixelValue * slope + intercept;
  return { low: Math.min(a, b), high: Math.max(a, b) };
}

/** The window for the thumbnail, and the LUTs worth applying. */
export function thumbnailDisplay(image: ThumbnailImageFields): ThumbnailDisplay {
  const voiLUT = usableLookupTable(image.voiLUT);
  const modalityLUT = usableLookupTable(image.modalityLUT);
  const center = first(image.windowCenter);
  const width = first(image.windowWidth);
  if (typeof center === 'number' && typeof width === 'number' && Number.isFinite(center) && Number.isFinite(width) && width > 0) {
    return { windowCenter: center, windowWidth: width, voiLUT, modalityLUT, windowFrom: 'file' };
  }
  const { low, high } = modalityRange(image, modalityLUT);
  if (!Number.isFinite(low) || !Number.isFinite(high)) return { windowCenter: 128, windowWidth: 256, voiLUT, modalityLUT, windowFrom: 'pixel-range' };
  // Cornerstone's toWindowLevel: the window that maps [low, high] onto black..white.
  return { windowCenter: (low + high + 1) / 2, windowWidth: Math.abs(high - low) + 1, voiLUT, modalityLUT, windowFrom: 'pixel-range' };
}
