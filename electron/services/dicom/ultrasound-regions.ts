/**
 * The B-mode image region of an ultrasound instance, from its Sequence of
 * Ultrasound Regions (0018,6011; PS3.3 C.8.5.5). A US image is usually a
 * screen capture: the tissue image sits in a sub-rectangle, surrounded by the
 * scanner's UI, text and scale bars, which a model trained on cropped images
 * must not see.
 */
import { DicomParseError, type DicomDataset, sequenceItems, UNDEFINED } from './dicom-dataset-reader';

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
 * A US (Region Spatial Format, Data Type) or UL (Region Location) value whatever VR the reader
 * assigned: items of an implicit VR dataset record these tags as UN, read by their length.
 */
function unsignedValue(ds: DicomDataset, tag: number): number | null {
  const el = ds.elements.get(tag);
  if (!el || el.length === 0 || el.length === UNDEFINED) return null;
  if (el.vr !== 'UN' && el.vr !== 'OB') return ds.number(tag);
  if (el.length !== 2 && el.length !== 4) return null;
  const { buf, start } = ds.source.window(el.offset, el.length);
  const le = ds.encoding.littleEndian;
  if (el.length === 2) return le ? buf.readUInt16LE(start) : buf.readUInt16BE(start);
  return le ? buf.readUInt32LE(start) : buf.readUInt32BE(start);
}

/**
 * The image region: the largest of the 2D tissue regions (ties: the first in the sequence).
 * Scanners often write Max X1/Y1 one past the last column/row, so that much is clamped. A
 * region reaching further does not describe these pixels (the capture was resized or cut
 * after the regions were written; pydicom's examples_palette and examples_ybr_color are
 * such files): then no region is trusted and the image is used whole, as without the
 * sequence, rather than cropped to a rectangle of another image. Null also when there is
 * no tissue region or the sequence is malformed.
 */
export function ultrasoundImageRegion(ds: DicomDataset, rows: number, columns: number): UltrasoundRegion | null {
  let items: DicomDataset[] | null;
  try {
    items = sequenceItems(ds, TAG.SequenceOfUltrasoundRegions);
  } catch (err) {
    if (err instanceof DicomParseError) return null;
    throw err;
  }
  let best: UltrasoundRegion | null = null;
  let bestArea = 0;
  for (const item of items ?? []) {
    if (unsignedValue(item, TAG.RegionSpatialFormat) !== SPATIAL_FORMAT_2D || unsignedValue(item, TAG.RegionDataType) !== DATA_TYPE_TISSUE) continue;
    const x0 = unsignedValue(item, TAG.RegionLocationMinX0);
    const y0 = unsignedValue(item, TAG.RegionLocationMinY0);
    const x1 = unsignedValue(item, TAG.RegionLocationMaxX1);
    const y1 = unsignedValue(item, TAG.RegionLocationMaxY1);
    if (x0 === null || y0 === null || x1 === null || y1 === null) continue;
    // Negative or fractional locations (a writer using a signed or decimal VR) are not pixel coordinates of this image either.
    if (x1 > columns || y1 > rows || ![x0, y0, x1, y1].every((v) => Number.isInteger(v) && v >= 0)) return null;
    const region = { x0, y0, x1: Math.min(columns - 1, x1), y1: Math.min(rows - 1, y1) };
    if (region.x1 < region.x0 || region.y1 < region.y0) continue;
    const area = (region.x1 - region.x0 + 1) * (region.y1 - region.y0 + 1);
    if (area > bestArea) {
      best = region;
      bestArea = area;
    }
  }
  return best;
}

/** The region every image shares, or null when any differs or has none. */
export function commonUltrasoundRegion(regions: readonly (UltrasoundRegion | null)[]): UltrasoundRegion | null {
  const first = regions[0] ?? null;
  if (!first) return null;
  const same = (r: UltrasoundRegion | null) => r !== null && r.x0 === first.x0 && r.y0 === first.y0 && r.x1 === first.x1 && r.y1 === first.y1;
  return regions.every(same) ? first : null;
}
