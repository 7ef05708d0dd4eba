/**
 * Colour ultrasound in the AI pixel decoder, against real files and pydicom
 * (test/integration/decode/colour_luminance_reference.py computes the expected
 * luminance with pydicom alone):
 *
 *  - PALETTE COLOR (plain LUTs with 16-bit entries, segmented LUTs, native and
 *    RLE, single and multi-frame) decodes to the luminance of pydicom's
 *    apply_color_lut output; the big endian copy of the segmented one decodes
 *    as its little endian original (pydicom 2.3 reads big endian LUT Data as
 *    little endian words, so it is no reference there);
 *  - native YBR_FULL and YBR_FULL_422 decode to pydicom's Y plane exactly, and
 *    Y equals the luminance of pydicom's YBR_FULL -> RGB conversion within its
 *    rounding wherever the colour lies inside the RGB gamut (pydicom clips
 *    the rest).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFileAsync } from '../../electron/services/dicom/pixel-decoder';
import { PYTHON, pythonHasPydicom, repoRoot } from './helpers';

const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
const PYDICOM_DATA = join(SHARED, 'dicom-pydicom/pydicom-data/data');
const PYDICOM_TESTS = join(SHARED, 'dicom-pydicom/pydicom/test_files');
const MATRIX = join(SHARED, 'dicom-syntax-matrix/wadoloader');
const present = existsSync(PYDICOM_DATA) && existsSync(PYDICOM_TESTS) && existsSync(MATRIX);
const pydicomOk = present && pythonHasPydicom();
if (!present) {
  console.warn(`\n!!! SKIPPED: colour-pixel-data.test.ts — ${PYDICOM_DATA}, ${PYDICOM_TESTS} or ${MATRIX} is missing, so PALETTE COLOR and YBR_FULL decoding were NOT checked against real files.\n`);
} else if (!pydicomOk) {
  console.warn(`\n!!! SKIPPED: colour-pixel-data.test.ts — ${PYTHON} cannot import pydicom, so PALETTE COLOR and YBR_FULL decoding were NOT checked against pydicom.\n`);
}

const PALETTE = [
  join(PYDICOM_DATA, 'gdcm-US-ALOKA-16.dcm'), // implicit VR, 16-bit indices, segmented LUTs with 65536 entries
  join(PYDICOM_DATA, 'OBXXXX1A.dcm'), // 8-bit indices, 256 entries of 16 bits
  join(PYDICOM_DATA, 'OBXXXX1A_2frame.dcm'),
  join(PYDICOM_DATA, 'OBXXXX1A_rle.dcm'),
  join(PYDICOM_TESTS, 'examples_palette.dcm'),
];
const YBR = [
  join(MATRIX, 'US-YBR_FULL_422-EVRLE.dcm'),
  join(PYDICOM_TESTS, 'SC_ybr_full_422_uncompressed.dcm'),
  join(PYDICOM_DATA, 'SC_ybr_full_uncompressed.dcm'),
];

const d = pydicomOk ? describe : describe.skip;

d('colour pixel data in the AI pipeline (PALETTE COLOR, YBR_FULL, YBR_FULL_422) against pydicom', () => {
  let out = '';
  const reference = (file: string, suffix: string): Float64Array => {
    const bytes = readFileSync(join(out, `${[...PALETTE, ...YBR].indexOf(file)}.${suffix}`));
    return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  };

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'vigil-colour-'));
    const r = spawnSync(PYTHON, [join(repoRoot, 'test/integration/decode/colour_luminance_reference.py'), out, ...PALETTE, ...YBR], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`colour_luminance_reference.py failed (${r.status}):\n${r.stderr}`);
  });
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it.each(PALETTE)('%s decodes to the luminance of its palette colours', async (file) => {
    const img = await decodeImageFileAsync(file);
    const expected = reference(file, 'f64');
    expect(img.photometric).toBe('MONOCHROME2');
    expect(img.data.length).toBe(expected.length);
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(img.data[i]! - expected[i]!));
    expect(max).toBeLessThanOrEqual(0.01);
    // Not the indices: the palettes are not the identity.
    expect(new Set(img.data).size).toBeGreaterThan(10);
  });

  it('decodes the big endian copies of the palette images as their little endian originals', async () => {
    // OBXXXX1A_expb's 8-bit indices are OW in big endian, so byte-swapped in each word (dcmconv +te restores OBXXXX1A).
    for (const [big, little] of [
      ['gdcm-US-ALOKA-16_big.dcm', 'gdcm-US-ALOKA-16.dcm'],
      ['OBXXXX1A_expb.dcm', 'OBXXXX1A.dcm'],
      ['OBXXXX1A_expb_2frame.dcm', 'OBXXXX1A_2frame.dcm'],
    ] as const) {
      const [b, l] = await Promise.all([decodeImageFileAsync(join(PYDICOM_DATA, big)), decodeImageFileAsync(join(PYDICOM_DATA, little))]);
      expect(b.data.length, big).toBe(l.data.length);
      let diff = 0;
      for (let i = 0; i < l.data.length; i++) if (b.data[i] !== l.data[i]) diff++;
      expect(diff, `${big}: ${diff} pixels differ from ${little}`).toBe(0);
    }
  });

  it.each(YBR)('%s decodes to its Y plane, the luminance of its RGB colours within rounding', async (file) => {
    const img = await decodeImageFileAsync(file);
    const y = reference(file, 'y.f64');
    const luminance = reference(file, 'f64');
    const gamutBytes = readFileSync(join(out, `${[...PALETTE, ...YBR].indexOf(file)}.gamut.u8`));
    expect(img.photometric).toBe('MONOCHROME2');
    expect(img.data.length).toBe(y.length);
    let yDiff = 0;
    let max = 0;
    let inGamut = 0;
    for (let i = 0; i < y.length; i++) {
      if (img.data[i] !== y[i]) yDiff++;
      if (gamutBytes[i] !== 1) continue;
      inGamut++;
      max = Math.max(max, Math.abs(img.data[i]! - luminance[i]!));
    }
    expect(yDiff, `${yDiff} pixels differ from pydicom's Y`).toBe(0);
    expect(inGamut).toBeGreaterThan(y.length / 2);
    // RGB rounded to integers moves the luminance by at most 0.5.
    expect(max).toBeLessThanOrEqual(0.5);
  });
});

const hasGdcmconv = spawnSync('gdcmconv', ['--version']).status === 0;
if (present && !hasGdcmconv) console.warn('\n!!! SKIPPED: colour-pixel-data.test.ts — gdcmconv (libgdcm-tools) is missing, so compressed YBR_FULL was NOT checked.\n');

/**
 * Compressed YBR_FULL that the codec does not convert: JPEG-LS, lossless JPEG and JPEG 2000 without a component
 * transform keep Y, Cb, Cr as stored (dcmdjpls gives back the native bytes), so the luminance is Y, as for the native
 * file. Only lossy JPEG and JPEG 2000 with YBR_ICT/YBR_RCT come out of the codecs as RGB.
 */
(present && hasGdcmconv ? describe : describe.skip)('compressed YBR_FULL that stays YCbCr (gdcmconv from a native YBR_FULL file)', () => {
  const native = join(PYDICOM_DATA, 'SC_ybr_full_uncompressed.dcm');
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-ybr-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['JPEG-LS lossless', ['--jpegls']],
    ['JPEG lossless', ['--jpeg']],
    ['JPEG 2000 lossless', ['--j2k']],
  ])('%s decodes to the native file\'s Y plane', async (name, flags) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.dcm`);
    const r = spawnSync('gdcmconv', [...flags, native, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const photometric = spawnSync('dcmdump', ['-q', '+P', '0028,0004', file], { encoding: 'utf8' }).stdout;
    expect(photometric, 'gdcmconv kept YBR_FULL').toContain('[YBR_FULL]');
    const [compressed, stored] = await Promise.all([decodeImageFileAsync(file), decodeImageFileAsync(native)]);
    expect([...compressed.data]).toEqual([...stored.data]);
  });
});

const hasDcmcjpeg = spawnSync('dcmcjpeg', ['--version']).status === 0;
if (present && !hasDcmcjpeg) console.warn('\n!!! SKIPPED: colour-pixel-data.test.ts — dcmcjpeg (dcmtk) is missing, so RGB-labelled lossy JPEG was NOT checked.\n');

/**
 * An RGB-labelled lossy JPEG whose stream does not say RGB (here: dcmtk's Adobe marker patched to "YCbCr"):
 * libjpeg would convert the samples from YCbCr; DICOM says they are RGB, and dcmtk and the display path keep
 * them. The AI decoder must too, or the model sees other pixels than the reader.
 */
(present && hasDcmcjpeg ? describe : describe.skip)('RGB-labelled lossy JPEG that libjpeg would take as YCbCr', () => {
  it('decodes as coded, like the same stream marked RGB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-rgbjpeg-'));
    try {
      const marked = join(dir, 'rgb.dcm');
      const r = spawnSync('dcmcjpeg', ['+eb', '+cr', join(PYDICOM_DATA, 'US1_UNCR.dcm'), marked], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const bytes = readFileSync(marked);
      const adobe = bytes.indexOf('Adobe', 0, 'latin1');
      expect(adobe, 'dcmcjpeg wrote an Adobe APP14 marker').toBeGreaterThan(0);
      expect(bytes[adobe + 11], 'its transform flag says RGB').toBe(0);
      bytes[adobe + 11] = 1; // "YCbCr": what a stream without markers and numeric component ids also implies
      const unmarked = join(dir, 'rgb-ycbcr-flag.dcm');
      writeFileSync(unmarked, bytes);
      const [a, b] = await Promise.all([decodeImageFileAsync(marked), decodeImageFileAsync(unmarked)]);
      let max = 0;
      for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i]! - b.data[i]!));
      expect(max).toBeLessThanOrEqual(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
