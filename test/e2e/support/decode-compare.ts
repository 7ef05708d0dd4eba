/**
 * Comparison of the viewer loader's pixels (decode harness) with a reference
 * decode (dcmtk/gdcm via test/integration/decode/make_reference.py, or known
 * synthetic pixels). Pure functions; the spec and the benchmark share them.
 */

import type { DecodeFailure, DecodeResult } from '../../../renderer/src/decode-harness/decode-result';

export type HarnessDecode = DecodeResult;
export type HarnessFailure = DecodeFailure;

const TYPED: Record<string, new (buffer: ArrayBuffer) => ArrayLike<number>> = {
  Uint8Array,
  Uint8ClampedArray,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
};

export function loaderPixels(result: HarnessDecode): ArrayLike<number> {
  const bytes = Buffer.from(result.pixelDataBase64, 'base64');
  const ctor = TYPED[result.dataType];
  if (!ctor) throw new Error(`unknown pixel array type ${result.dataType}`);
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return new ctor(copy);
}

/** Drops the alpha channel of RGBA data. */
export function rgbOnly(values: ArrayLike<number>, components: number): ArrayLike<number> {
  if (components !== 4) return values;
  const out = new Float64Array((values.length / 4) * 3);
  for (let i = 0, j = 0; i < values.length; i += 4, j += 3) {
    out[j] = values[i]!;
    out[j + 1] = values[i + 1]!;
    out[j + 2] = values[i + 2]!;
  }
  return out;
}

export interface Difference {
  length: number;
  mismatches: number;
  maxAbs: number;
  meanAbs: number;
  /** Peak = reference range (max - min, at least 1). Infinity when equal. */
  psnr: number;
  range: number;
  firstMismatch: { index: number; got: number; want: number } | null;
}

export function compare(got: ArrayLike<number>, want: ArrayLike<number>, transform?: (v: number) => number): Difference {
  const n = Math.min(got.length, want.length);
  let mismatches = 0;
  let maxAbs = 0;
  let sumAbs = 0;
  let sumSq = 0;
  let min = Infinity;
  let max = -Infinity;
  let firstMismatch: Difference['firstMismatch'] = null;
  for (let i = 0; i < n; i++) {
    const w = want[i]!;
    const g = transform ? transform(got[i]!) : got[i]!;
    const wt = transform ? transform(w) : w;
    if (wt < min) min = wt;
    if (wt > max) max = wt;
    const d = Math.abs(g - wt);
    if (d !== 0) {
      mismatches++;
      if (!firstMismatch) firstMismatch = { index: i, got: got[i]!, want: w };
    }
    if (d > maxAbs) maxAbs = d;
    sumAbs += d;
    sumSq += d * d;
  }
  const range = Math.max(1, max - min);
  const mse = n > 0 ? sumSq / n : 0;
  return {
    length: n,
    mismatches: mismatches + Math.abs(got.length - want.length),
    maxAbs,
    meanAbs: n > 0 ? sumAbs / n : 0,
    psnr: mse === 0 ? Infinity : 10 * Math.log10((range * range) / mse),
    range,
    firstMismatch,
  };
}

/** Value as held in BitsStored bits (two's complement when signed). */
export function bitsStoredValue(bitsStored: number, signed: boolean): (v: number) => number {
  if (bitsStored >= 32) return (v) => v;
  const mod = 2 ** bitsStored;
  const half = mod / 2;
  return (v) => {
    let m = ((v % mod) + mod) % mod;
    if (signed && m >= half) m -= mod;
    return m;
  };
}

/** The lossy tolerance: PSNR >= 40 dB over the reference range and max |diff| <= 2 % of it (or <= 2 levels). */
export const LOSSY_MIN_PSNR_DB = 40;
export const LOSSY_MAX_ABS_FRACTION = 0.02;
/** Colour conversion (YBR -> RGB, palette) is not part of the decode: rounding may differ by this many 8-bit levels. */
export const COLOUR_MAX_ABS = 2;

export function withinLossyTolerance(d: Difference): boolean {
  return d.psnr >= LOSSY_MIN_PSNR_DB && d.maxAbs <= Math.max(2, LOSSY_MAX_ABS_FRACTION * d.range);
}

export function describeDifference(d: Difference): string {
  if (d.mismatches === 0) return 'identical';
  const fm = d.firstMismatch ? `; first at ${d.firstMismatch.index}: got ${d.firstMismatch.got}, want ${d.firstMismatch.want}` : '';
  return `${d.mismatches}/${d.length} differ, max |diff| ${d.maxAbs}, mean ${d.meanAbs.toFixed(3)}, PSNR ${Number.isFinite(d.psnr) ? d.psnr.toFixed(1) : 'inf'} dB (range ${d.range})${fm}`;
}
