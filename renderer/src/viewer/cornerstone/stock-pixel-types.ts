/**
 * dicom-image-loader 5.14's rules for a decoded frame's types, imported by file
 * for the same reason as stock-decoders.ts, so post-processing decides them
 * exactly as the stock worker does. Separate from the codecs so the
 * post-processing tests load no WASM (neither file imports anything).
 */
import stockIsColorImage from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/isColorImage.js';
import stockPixelDataType from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/getPixelDataTypeFromMinMax.js';

export type PixelArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor;

/** Whether the photometric interpretation is a colour one (the loader's isColorImage). */
export const isColorImage: (photometricInterpretation: string) => boolean = stockIsColorImage;

/**
 * The narrowest typed array holding every value in [min, max] (the loader's
 * getPixelDataTypeFromMinMax). Its declaration says it returns an array; it
 * returns the array's constructor.
 */
export const pixelArrayTypeFor = stockPixelDataType as unknown as (min: number, max: number) => PixelArrayConstructor;
