/**
 * The B-mode image regions of an ultrasound instance, from its Sequence of
 * Ultrasound Regions (0018,6011; PS3.3 C.8.5.5). A US image is usually a
 * screen capture: the tissue images sit in sub-rectangles (one, or two side by
 * side in a dual B-mode layout), surrounded by the scanner's UI, text and scale
 * bars, which a model trained on cropped images must not see.
 */
import { DicomParseError, type DicomDataset, sequenceItems } from './dicom-dataset-reader';

/** Pixel columns x0..x1 and rows y0..y1, both ends inclusive (as Region Location Min/Max are). */
export interface UltrasoundRegion {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const TAG = {
  SequenceOfUltrasoundRegions: 0x00186011,
  RegionSpatialFormat: 0x00186012,
  RegionDataType: 0x00186014,
  RegionLocationMinX0: 0x00186018,
  RegionLocationMinY0: 0x0018601a,
  RegionLocationMaxX1: 0x0018601c,
  RegionLocationMaxY1: 0x0018601e,
} as const;

/** Region Spatial Format 1: a 2D (tissue or flow) image. */
const SPATIAL_FORMAT_2D = 1;
/** Region Data Type 1: tissue (B-mode). */
const DATA_TYPE_TISSUE = 1;

/**
 * The 2D tissue regions in sequence order. Scanners often write Max X1/Y1 one past the last column/row, so that much
 * is clamped. A region reaching further does not describe these pixels (the capture was resized or cut after the
 * regions were written; pydicom's examples_palette and examples_ybr_color are such files): then no region is
 * trusted and the image is used whole, as without the sequence, rather than cropped to a rectangle of another image.
 * Empty also when there is no tissue region or the sequence is malformed.
 */
function tissueRegions(ds: DicomDataset, rows: number, columns: number): UltrasoundRegion[] {
  let items: DicomDataset[] | null;
  try {
    items = sequenceItems(ds, TAG.SequenceOfUltrasoundRegions);
  } catch (err) {
    if (err instanceof DicomParseError) return [];
    throw err;
  }
  const regions: UltrasoundRegion[] = [];
  for (const item of items ?? []) {
    if (item.unsigned(TAG.RegionSpatialFormat) !== SPATIAL_FORMAT_2D || item.unsigned(TAG.RegionDataType) !== DATA_TYPE_TISSUE) continue;
    const x0 = item.unsigned(TAG.RegionLocationMinX0);
    const y0 = item.unsigned(TAG.RegionLocationMinY0);
    const x1 = item.unsigned(TAG.RegionLocationMaxX1);
    const y1 = item.unsigned(TAG.RegionLocationMaxY1);
    if (x0 === null || y0 === null || x1 === null || y1 === null) continue;
    // Negative or fractional locations (a writer using a signed or decimal VR) are not pixel coordinates of this image either.
    if (x1 > columns || y1 > rows || ![x0, y0, x1, y1].every((v) => Number.isInteger(v) && v >= 0)) return [];
    const region = { x0, y0, x1: Math.min(columns - 1, x1), y1: Math.min(rows - 1, y1) };
    if (region.x1 >= region.x0 && region.y1 >= region.y0) regions.push(region);
  }
  return regions;
}

const area = (r: UltrasoundRegion) => (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1);

/** Top to bottom, then left to right. */
const byPosition = (a: UltrasoundRegion, b: UltrasoundRegion) => a.y0 - b.y0 || a.x0 - b.x0;

/**
 * Whether two regions share pixels. Sharing only a border column or row is side by side, not overlapping: a writer
 * whose Max X1/Y1 is one past the last pixel (as the clamp above allows) puts the next view's Min X0/Y0 there.
 */
function overlap(a: UltrasoundRegion, b: UltrasoundRegion): boolean {
  const width = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) + 1;
  const height = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) + 1;
  return width > 1 && height > 1;
}

/**
 * The image regions worth analysing, each a B-mode view of the capture, ordered top to bottom, then left to right.
 * Of the 2D tissue regions (see tissueRegions for the ones not trusted) a region is kept when its area is at least
 * half the largest one's: two equal views of a dual layout are both kept, a thumbnail or picture-in-picture is not.
 * Taken from the largest down (equal areas: by position), a region overlapping one already kept is dropped, so nested
 * or overlapping tissue regions do not count the same pixels twice. Empty when the image has no usable region.
 */
export function ultrasoundImageRegions(ds: DicomDataset, rows: number, columns: number): UltrasoundRegion[] {
  const bySize = tissueRegions(ds, rows, columns).sort((a, b) => area(b) - area(a) || byPosition(a, b));
  const largest = bySize[0] ? area(bySize[0]) : 0;
  const kept: UltrasoundRegion[] = [];
  for (const region of bySize) {
    if (2 * area(region) < largest) break;
    if (!kept.some((k) => overlap(k, region))) kept.push(region);
  }
  return kept.sort(byPosition);
}

/** The largest of an image's regions (equal areas: the first in position order), or null when it has none. */
export function largestUltrasoundRegion(regions: readonly UltrasoundRegion[]): UltrasoundRegion | null {
  return regions.reduce<UltrasoundRegion | null>((best, r) => (best === null || area(r) > area(best) ? r : best), null);
}

/** The region every image shares, or null when any differs or has none. */
export function commonUltrasoundRegion(regions: readonly (UltrasoundRegion | null)[]): UltrasoundRegion | null {
  const first = regions[0] ?? null;
  if (!first) return null;
  const same = (r: UltrasoundRegion | null) => r !== null && r.x0 === first.x0 && r.y0 === first.y0 && r.x1 === first.x1 && r.y1 === first.y1;
  return regions.every(same) ? first : null;
}
