/**
 * What the decode harness page returns for one frame. Shared (type-only) by the
 * harness and the E2E/benchmark drivers that compare it with dcmtk/gdcm, so the
 * two sides cannot drift. DOM-free on purpose: Node test code imports it.
 */
export interface DecodeResult {
  ok: true;
  imageId: string;
  rows: number;
  columns: number;
  /** Samples per pixel the file declares. */
  samplesPerPixel: number;
  /** Values per pixel in pixelData (3 = RGB, 4 = RGBA after the loader's colour conversion). */
  components: number;
  photometric: string;
  bitsAllocated: number;
  pixelRepresentation: number;
  /** Typed array the loader produced (Uint8Array, Int16Array, Float32Array...). */
  dataType: string;
  /** Little-endian bytes of that typed array, base64. */
  pixelDataBase64: string;
  minMax: { min: number; max: number };
  preScaled: boolean;
  slope: number;
  intercept: number;
  color: boolean;
  decodeMs: number;
}

export interface DecodeFailure {
  ok: false;
  imageId: string;
  error: string;
}
