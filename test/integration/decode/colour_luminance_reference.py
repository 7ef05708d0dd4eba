#!/usr/bin/env python3
"""
Reference luminance for the AI pixel decoder's colour paths
(test/integration/colour-pixel-data.test.ts), computed by pydicom alone:

  PALETTE COLOR  pixel_array -> apply_color_lut (plain or segmented LUTs) -> 16-bit
                 entries divided by 256 (the decoder's 8-bit scale) -> 0.299 R + 0.587 G + 0.114 B
  YBR_FULL(_422) pixel_array (pydicom upsamples 4:2:2) -> convert_color_space to RGB
                 (uint8, rounded and clipped) -> 0.299 R + 0.587 G + 0.114 B; the decoder
                 keeps Y, which equals that within the rounding of the RGB step wherever
                 the colour is inside the RGB gamut (elsewhere pydicom clips R, G or B)

usage: colour_luminance_reference.py OUT_DIR FILE...
Writes, for the n-th FILE, OUT_DIR/<n>.f64 (luminance, float64 LE, frame-major) and,
for YBR files, OUT_DIR/<n>.y.f64 (pydicom's Y plane) and OUT_DIR/<n>.gamut.u8
(1 where Y, Cb, Cr map inside the RGB cube, by PS3.3 C.7.6.3.1.2's inverse).
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_color_lut, convert_color_space

LUMA = np.array([0.299, 0.587, 0.114])


def write(out_dir, n, path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    pi = ds.PhotometricInterpretation
    out = os.path.join(out_dir, str(n))
    if pi == 'PALETTE COLOR':
        rgb = apply_color_lut(arr, ds).astype(np.float64)
        if ds.RedPaletteColorLookupTableDescriptor[2] == 16:
            rgb /= 256
    elif pi in ('YBR_FULL', 'YBR_FULL_422'):
        # pixel_array already upsampled YBR_FULL_422 to YBR_FULL.
        rgb = convert_color_space(arr, 'YBR_FULL', 'RGB').astype(np.float64)
        y, cb, cr = (arr[..., i].astype(np.float64) for i in range(3))
        unclipped = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)], axis=-1)
        np.all((unclipped > -0.5) & (unclipped < 255.5), axis=-1).astype(np.uint8).tofile(out + '.gamut.u8')
        y.astype('<f8').tofile(out + '.y.f64')
    else:
        raise SystemExit(f'{path}: photometric {pi} is not a colour path this reference covers')
    (rgb @ LUMA).astype('<f8').tofile(out + '.f64')


def main():
    out_dir, files = sys.argv[1], sys.argv[2:]
    for n, path in enumerate(files):
        write(out_dir, n, path)


if __name__ == '__main__':
    main()
