/**
 * dicom-image-loader 5.14's own per-syntax decoders and helpers, for the viewer's
 * decode worker (decode-worker.ts). The package's `exports` map publishes none
 * of its worker internals, so they are imported by file from the installed
 * package (a pinned devDependency): the worker then runs the very codecs the
 * stock worker runs, only the message passing and post-processing around them
 * (and the JPEG lossless codec, jpeg-lossless-decoder.ts) are ours.
 */
export { decoders, initializers } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/index.js';
export { default as decodeDeflatedFrame } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/decodeDeflatedFrame.js';
export { default as decodeEncapsulatedUncompressed } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/decodeEncapsulatedUncompressed.js';
export { default as decodeJPEGXL } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/decodeJPEGXL.js';
export { setWasmBasePathFromConfig } from '../../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/wasmBasePath.js';
