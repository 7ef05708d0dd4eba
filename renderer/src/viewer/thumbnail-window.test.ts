import { describe, expect, it } from 'vitest';
import { thumbnailDisplay, usableLookupTable } from './thumbnail-window';

const ct = { minPixelValue: -1024, maxPixelValue: 3071, slope: 1, intercept: -1024 };

describe('thumbnail window', () => {
  it('keeps a usable file window and LUTs', () => {
    const voiLUT = { firstValueMapped: 0, numBitsPerEntry: 8, lut: [0, 100, 255] };
    expect(thumbnailDisplay({ ...ct, isPreScaled: true, windowCenter: 40, windowWidth: 400, voiLUT })).toEqual({ windowCenter: 40, windowWidth: 400, voiLUT, modalityLUT: undefined, windowFrom: 'file' });
    expect(thumbnailDisplay({ ...ct, isPreScaled: true, windowCenter: [40, 300], windowWidth: [400, 1500] })).toMatchObject({ windowCenter: 40, windowWidth: 400, windowFrom: 'file' });
  });

  it('falls back to the pixel range when the window is missing, empty, zero, negative or not a number', () => {
    for (const [windowCenter, windowWidth] of [
      [undefined, undefined],
      [[], []],
      [40, 0],
      [40, -10],
      [Number.NaN, Number.NaN],
      [40, Number.POSITIVE_INFINITY],
    ] as [number | number[] | undefined, number | number[] | undefined][]) {
      const display = thumbnailDisplay({ minPixelValue: 0, maxPixelValue: 65535, isPreScaled: true, windowCenter, windowWidth });
      expect(display, JSON.stringify([windowCenter, windowWidth])).toMatchObject({ windowCenter: 32768, windowWidth: 65536, windowFrom: 'pixel-range' });
    }
  });

  it('puts the pixel-range window in modality units: rescaled unless the pixels are pre-scaled', () => {
    // Stored -1024..3071 (not pre-scaled) with intercept -1024: HU -2048..2047.
    expect(thumbnailDisplay({ ...ct, isPreScaled: false })).toMatchObject({ windowCenter: 0, windowWidth: 4096 });
    expect(thumbnailDisplay({ ...ct, isPreScaled: true })).toMatchObject({ windowCenter: 1024, windowWidth: 4096 });
    expect(thumbnailDisplay({ minPixelValue: 0, maxPixelValue: 100, slope: -2, intercept: 0 })).toMatchObject({ windowCenter: -99.5, windowWidth: 201 });
  });

  it('drops LUTs without data, with non-finite entries or without a first mapped value (the linear window applies)', () => {
    expect(usableLookupTable({ lut: [], firstValueMapped: undefined, numBitsPerEntry: undefined })).toBeUndefined();
    expect(usableLookupTable({ lut: [0, Number.NaN], firstValueMapped: 0 })).toBeUndefined();
    expect(usableLookupTable({ lut: [0, 10], firstValueMapped: Number.NaN })).toBeUndefined();
    expect(usableLookupTable(undefined)).toBeUndefined();
    const empty = { lut: [], firstValueMapped: undefined, numBitsPerEntry: undefined, id: '1' };
    expect(thumbnailDisplay({ minPixelValue: 0, maxPixelValue: 255, windowCenter: undefined, windowWidth: undefined, voiLUT: empty, modalityLUT: empty })).toEqual({
      windowCenter: 128,
      windowWidth: 256,
      voiLUT: undefined,
      modalityLUT: undefined,
      windowFrom: 'pixel-range',
    });
  });

  it('through a usable modality LUT, windows over the table outputs of the stored values present', () => {
    const modalityLUT = { firstValueMapped: 10, numBitsPerEntry: 16, lut: [100, 200, 300, 400, 500] };
    // Stored 11..12 -> 200..300; the rescale does not apply.
    expect(thumbnailDisplay({ minPixelValue: 11, maxPixelValue: 12, slope: 5, intercept: 7, modalityLUT })).toMatchObject({ windowCenter: 250.5, windowWidth: 101, modalityLUT });
    // Stored values beyond the table: its first / last entries.
    expect(thumbnailDisplay({ minPixelValue: 0, maxPixelValue: 99, modalityLUT })).toMatchObject({ windowCenter: 300.5, windowWidth: 401 });
  });
});
