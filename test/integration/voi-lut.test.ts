/**
 * The image's VOI LUT transformation (electron/services/dicom/voi-lut.ts)
 * against pydicom's apply_voi_lut on the same files: windows with each VOI LUT
 * Function (LINEAR, LINEAR_EXACT, SIGMOID), VOI LUT Sequence tables with 16-bit
 * and 8-bit entries and a negative first mapped value, explicit and
 * implicit VR, and the table taking precedence over a window as in pydicom.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { applyVoi, imageVoi } from '../../electron/services/dicom/voi-lut';
import { type DicomElementSpec, syntheticDicom } from '../fixtures/synthetic-dicom';
import { PYTHON, pythonHasPydicom } from './helpers';

const pydicomOk = pythonHasPydicom();
if (!pydicomOk) console.warn(`\n!!! SKIPPED: voi-lut.test.ts — ${PYTHON} cannot import pydicom, so the VOI LUT transformation was NOT checked against pydicom.\n`);

const ROWS = 16;
const COLS = 16;
/** Stored values 0..4080 (12 bits). */
const PIXELS = Uint16Array.from({ length: ROWS * COLS }, (_, i) => i * 16);
const SLOPE = 1;
const INTERCEPT = -1024;

const rescale: DicomElementSpec[] = [
  { tag: 0x00281052, vr: 'DS', value: String(INTERCEPT) },
  { tag: 0x00281053, vr: 'DS', value: String(SLOPE) },
];
const window = (center: string, width: string, fn?: string): DicomElementSpec[] => [
  { tag: 0x00281050, vr: 'DS', value: center },
  { tag: 0x00281051, vr: 'DS', value: width },
  ...(fn ? [{ tag: 0x00281056, vr: 'CS', value: fn }] : []),
];
const lutSequence = (descriptor: [number, number, number], vr: 'US' | 'SS', data: Uint8Array, dataVr = 'OW'): DicomElementSpec => ({
  tag: 0x00283010,
  vr: 'SQ',
  value: [
    [
      { tag: 0x00283002, vr, value: descriptor },
      { tag: 0x00283006, vr: dataVr, value: data },
    ],
  ],
});
const u16le = (values: number[]): Uint8Array => new Uint8Array(Uint16Array.from(values).buffer);

const CASES: { name: string; extra: DicomElementSpec[]; implicit?: boolean }[] = [
  { name: 'LINEAR window (the default function), multi-valued: the first is used', extra: [...rescale, ...window('40\\400', '400\\1500')] },
  { name: 'LINEAR window of width 1 (a threshold)', extra: [...rescale, ...window('100', '1')] },
  { name: 'LINEAR_EXACT window', extra: [...rescale, ...window('-500.5', '1000', 'LINEAR_EXACT')] },
  { name: 'SIGMOID window', extra: [...rescale, ...window('0', '800', 'SIGMOID')] },
  { name: 'implicit VR window', extra: [...rescale, ...window('300', '1200')], implicit: true },
  {
    name: 'VOI LUT Sequence, 16-bit entries, negative first mapped value (SS)',
    extra: [...rescale, lutSequence([2048, -1000, 16], 'SS', u16le(Array.from({ length: 2048 }, (_, i) => Math.min(65535, i * 31))))],
  },
  {
    name: 'VOI LUT Sequence preferred over a window, 8-bit entries one per 16-bit word (US)',
    extra: [...rescale, ...window('40', '400'), lutSequence([256, 0, 8], 'US', u16le(Array.from({ length: 256 }, (_, i) => 255 - i)), 'US')],
  },
];

interface Reference {
  values: number[];
  /** pydicom's window output range (y_min, y_max); null for a table. */
  range: [number, number] | null;
}

const REFERENCE_PY = `
import json, sys
import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
out = []
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)
    arr = apply_modality_lut(ds.pixel_array, ds)
    v = apply_voi_lut(arr, ds, prefer_lut=True)
    rng = None
    if 'VOILUTSequence' not in ds:
        # pydicom's window output range: the stored range through the rescale.
        lo, hi = 0, 2 ** ds.BitsStored - 1
        rng = [lo * float(ds.RescaleSlope) + float(ds.RescaleIntercept), hi * float(ds.RescaleSlope) + float(ds.RescaleIntercept)]
    out.append({'values': [float(x) for x in np.asarray(v, dtype=np.float64).ravel()], 'range': rng})
print(json.dumps(out))
`;

(pydicomOk ? describe : describe.skip)('VOI LUT transformation against pydicom', () => {
  let dir = '';
  let references: Reference[] = [];
  const files = CASES.map((c) => syntheticDicom({ modality: 'DX', rows: ROWS, columns: COLS, pixels: PIXELS, extra: c.extra, ...(c.implicit ? { transferSyntax: '1.2.840.10008.1.2' } : {}) }));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-voi-'));
    const paths = files.map((f, i) => {
      const p = join(dir, `${i}.dcm`);
      writeFileSync(p, f);
      return p;
    });
    const r = spawnSync(PYTHON, ['-c', REFERENCE_PY, ...paths], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`pydicom reference failed: ${r.stderr}`);
    references = JSON.parse(r.stdout) as Reference[];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  CASES.forEach((c, i) => {
    it(c.name, () => {
      const voi = imageVoi(readDicom(new BufferByteSource(files[i]!)).dataset, INTERCEPT < 0);
      expect(voi).not.toBeNull();
      const values = Float32Array.from(PIXELS, (p) => p * SLOPE + INTERCEPT);
      applyVoi(values, voi!);
      const ref = references[i]!;
      if (ref.range) {
        // Windows: ours is on 0..1, pydicom's on its output range.
        const [lo, hi] = ref.range;
        const worst = Math.max(...ref.values.map((v, k) => Math.abs((v - lo) / (hi - lo) - values[k]!)));
        expect(worst).toBeLessThan(1e-4);
        return;
      }
      // Tables: the entries themselves inside the table. Outside it pydicom 2.3 wraps 8-bit indices around (its index
      // array has the entries' dtype), so there the standard's rule is checked: the first entry below, the last above.
      if (voi!.kind !== 'lut') throw new Error('expected the table');
      const { firstMapped, entries } = voi!;
      PIXELS.forEach((p, k) => {
        const x = p * SLOPE + INTERCEPT;
        const want = x < firstMapped ? entries[0]! : x >= firstMapped + entries.length - 1 ? entries.at(-1)! : ref.values[k]!;
        expect(values[k], `modality value ${x}`).toBe(want);
      });
      expect(new Set(PIXELS.map((p) => p * SLOPE + INTERCEPT).filter((x) => x >= firstMapped && x < firstMapped + entries.length)).size).toBeGreaterThan(8);
    });
  });

  it('has no transform without a usable window or table (a width below 1 for LINEAR, an empty table)', () => {
    const none = (extra: DicomElementSpec[]) => imageVoi(readDicom(new BufferByteSource(syntheticDicom({ modality: 'DX', rows: ROWS, columns: COLS, pixels: PIXELS, extra }))).dataset, false);
    expect(none([])).toBeNull();
    expect(none(window('40', '0.5'))).toBeNull();
    expect(none(window('40', '0', 'SIGMOID'))).toBeNull();
    expect(none(window('abc', '400'))).toBeNull();
    expect(none([lutSequence([256, 0, 16], 'US', new Uint8Array(0))])).toBeNull();
    // LUT Data longer than any table (65536 16-bit entries) is malformed: not read whole, the window is used instead.
    const oversized = new Uint8Array(65536 * 2 + 64);
    expect(none([...window('40', '400'), lutSequence([0, 0, 16], 'US', oversized)])).toEqual({ kind: 'window', center: 40, width: 400, fn: 'LINEAR' });
    expect(none([lutSequence([0, 0, 16], 'US', oversized.subarray(0, 65536 * 2))])).toMatchObject({ kind: 'lut', firstMapped: 0 });
    // A short table does not describe its entries: the window below it is used instead.
    expect(none([...window('40', '400'), lutSequence([256, 0, 16], 'US', u16le([1, 2, 3]))])).toEqual({ kind: 'window', center: 40, width: 400, fn: 'LINEAR' });
  });
});
