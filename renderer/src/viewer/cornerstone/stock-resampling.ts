/**
 * dicom-image-loader 5.14's frame resampling (into a target buffer of another
 * size), imported by file for the same reason as stock-decoders.ts. Separate
 * from the codecs so the post-processing tests load no WASM.
 */
export { default as bilinear } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/scaling/bilinear.js';
export { default as replicate } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/scaling/replicate.js';
