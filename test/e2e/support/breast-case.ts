/**
 * Ultrasound captures holding a real malignant breast lesion for the AI specs: BreastMNIST test image 153
 * (label 0 = malignant; the shipped model scores it high), upscaled bilinearly from 28×28 into a larger capture
 * between black bars, so the breast model finds it and its heatmap has a clear hot area.
 */
import { readNpz } from '../../fixtures/medmnist-dicom';

/** A malignant test image the model scores high (label 0 = malignant in BreastMNIST). */
export const BREAST_CASE = 153;

/** Bilinear upscaling of a 28×28 image to side × side (pixel centres aligned, edges clamped). */
function upscale(image: Uint8Array, side: number): Float32Array {
  const out = new Float32Array(side * side);
  const at = (r: number, c: number) => image[Math.min(27, Math.max(0, r)) * 28 + Math.min(27, Math.max(0, c))]!;
  for (let y = 0; y < side; y++) {
    const fy = ((y + 0.5) * 28) / side - 0.5;
    const y0 = Math.floor(fy);
    const ty = fy - y0;
    for (let x = 0; x < side; x++) {
      const fx = ((x + 0.5) * 28) / side - 0.5;
      const x0 = Math.floor(fx);
      const tx = fx - x0;
      out[y * side + x] = (at(y0, x0) * (1 - tx) + at(y0, x0 + 1) * tx) * (1 - ty) + (at(y0 + 1, x0) * (1 - tx) + at(y0 + 1, x0 + 1) * tx) * ty;
    }
  }
  return out;
}

/**
 * A rows × columns capture (8-bit) with the case upscaled to side × side in its top rows, centred between black
 * bars and moved `shift` columns right (what moves past the right edge is cut); `upsideDown` turns the case over.
 */
export function breastCaseCapture(npzPath: string, o: { rows: number; columns: number; side: number; shift?: number; upsideDown?: boolean }): Uint8Array {
  const npz = readNpz(npzPath);
  if (npz['test_labels']!.data[BREAST_CASE] !== 0) throw new Error(`BreastMNIST test image ${BREAST_CASE} is no longer labelled malignant`);
  const up = upscale(npz['test_images']!.data.subarray(BREAST_CASE * 784, (BREAST_CASE + 1) * 784) as Uint8Array, o.side);
  const pixels = new Uint8Array(o.rows * o.columns);
  const left = (o.columns - o.side) / 2 + (o.shift ?? 0);
  for (let r = 0; r < o.side; r++) {
    for (let c = 0; c < o.side; c++) {
      const x = left + c;
      if (x >= 0 && x < o.columns) pixels[r * o.columns + x] = Math.round(up[(o.upsideDown ? o.side - 1 - r : r) * o.side + c]!);
    }
  }
  return pixels;
}
