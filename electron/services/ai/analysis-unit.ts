/**
 * The units a model runs on (the series, each image, or each B-mode region
 * of an image) and the source volume each one's preprocessing starts from.
 */
import type { DecodedImage } from '../dicom/pixel-decoder';
import { commonUltrasoundRegion, largestUltrasoundRegion, type UltrasoundRegion } from '../dicom/ultrasound-regions';
import { type Grid, identity, sourceToPatient } from './grid-geometry';
import type { ModelManifest } from './model-manifest';
import type { SourceVolume } from './preprocessing-pipeline';
import type { TensorLike } from './session-manager';

/** What one model run sees: its images (one for unit "image") and the B-mode region to crop them to. */
export interface AnalysisUnit {
  images: DecodedImage[];
  /** Slice index of the unit's image (unit "image"); null: the unit is the whole series. */
  image: number | null;
  /** Null: no crop (no region, the images differ in it, or the manifest does not crop). */
  region: UltrasoundRegion | null;
  /** Other units read the same images (the regions of one capture): the unit must not take their planes as its grid. */
  sharesImages: boolean;
}

export function buildSource(unit: AnalysisUnit, alloc: (length: number) => Float32Array): SourceVolume {
  const images = unit.images;
  const first = images[0]!;
  const plane = first.rows * first.columns;
  // Decoded straight into one volume, every slot once and already in slice order: that volume is the grid (no copy).
  // Not when other units read it too: modalityRescale works in place.
  const bytes = images.length * plane * Float32Array.BYTES_PER_ELEMENT;
  const inPlace =
    !unit.sharesImages &&
    first.data.buffer.byteLength === bytes &&
    images.every((img, s) => img.data.buffer === first.data.buffer && img.data.length === plane && img.data.byteOffset === s * plane * Float32Array.BYTES_PER_ELEMENT);
  const data = inPlace ? new Float32Array(first.data.buffer, 0, images.length * plane) : alloc(images.length * plane);
  if (!inPlace) images.forEach((img, s) => data.set(img.data.subarray(0, plane), s * plane));
  return {
    grid: { data, shape: [images.length, first.rows, first.columns], toSource: identity() },
    rescale: images.map((i) => ({ slope: i.rescaleSlope, intercept: i.rescaleIntercept })),
    photometric: first.photometric,
    sourceToPatient: sourceToPatient(images),
    ultrasoundRegion: unit.region,
    ...(images.some((i) => i.voi) ? { voi: images.map((i) => i.voi) } : {}),
  };
}

/**
 * The analysis units: one per image for unit "image", where a manifest that crops to the B-mode region makes each
 * region of a multi-region capture (e.g. a dual B-mode layout) its own unit, so every view is assessed; else the
 * series. A series unit is cropped to one rectangle: the largest region, when every image has the same.
 */
export function analysisUnits(manifest: ModelManifest, images: DecodedImage[]): AnalysisUnit[] {
  const cropsRegion = manifest.preprocessing.some((op) => op.op === 'cropUltrasoundRegion');
  if (manifest.input.unit !== 'image') {
    const region = cropsRegion ? commonUltrasoundRegion(images.map((i) => largestUltrasoundRegion(i.ultrasoundRegions))) : null;
    return [{ images, image: null, region, sharesImages: false }];
  }
  return images.flatMap((img, image): AnalysisUnit[] => {
    const regions = cropsRegion ? img.ultrasoundRegions : [];
    if (regions.length === 0) return [{ images: [img], image, region: null, sharesImages: false }];
    return regions.map((region) => ({ images: [img], image, region, sharesImages: regions.length > 1 }));
  });
}

/** A unit the model ran on: its source (planes let go, geometry kept), its model grid (geometry only) and outputs. */
export interface AnalysedUnit {
  unit: AnalysisUnit;
  source: SourceVolume;
  grid: Grid;
  outputs: Record<string, TensorLike>;
}
