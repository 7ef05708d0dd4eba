/**
 * The voiLut preprocessing op (manifest schema v5) and the shipped chest model:
 * a radiograph stored with its raw range and a window reaches the model as the
 * same image exported for display (the window applied, MONOCHROME1 shown
 * inverted, 8 bits, no window) does, which is what PneumoniaMNIST's JPEG source
 * images were. Also the op's placement rules, checked when a manifest loads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { identity } from '../../electron/services/ai/grid-geometry';
import { type ModelManifest, parseManifest, type PreprocessOp } from '../../electron/services/ai/model-manifest';
import { runPreprocessing, type SourceVolume } from '../../electron/services/ai/preprocessing-pipeline';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { decodeImage } from '../../electron/services/dicom/pixel-decoder';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { type DicomElementSpec, syntheticDicom } from '../fixtures/synthetic-dicom';

const repoRoot = join(__dirname, '..', '..');
const shipped = parseManifest(JSON.parse(readFileSync(join(repoRoot, 'models/cxr-pneumonia/manifest.json'), 'utf8')));
if (!shipped.ok) throw new Error(shipped.reason);
const cxr: ModelManifest = shipped.manifest;

const ROWS = 40;
const COLS = 56;
const CENTER = 1500;
const WIDTH = 1200;
/** A 12-bit radiograph: a smooth body with structure, spanning 0..4095, half of it outside the window. */
const RAW = Uint16Array.from({ length: ROWS * COLS }, (_, i) => {
  const r = Math.floor(i / COLS);
  const c = i % COLS;
  return Math.round(2047.5 + 2047.5 * Math.sin(r / 6) * Math.cos(c / 9));
});
/** The standard's LINEAR window (PS3.3 C.11.2.1.2.1) on 0..1, written out here independently of the product. */
const linearWindow = (x: number) => {
  const lo = CENTER - 0.5 - (WIDTH - 1) / 2;
  const hi = CENTER - 0.5 + (WIDTH - 1) / 2;
  return x <= lo ? 0 : x > hi ? 1 : (x - (CENTER - 0.5)) / (WIDTH - 1) + 0.5;
};

function source(file: Buffer): SourceVolume {
  const img = decodeImage(readDicom(new BufferByteSource(file)));
  return {
    grid: { data: img.data, shape: [1, img.rows, img.columns], toSource: identity() },
    rescale: [{ slope: img.rescaleSlope, intercept: img.rescaleIntercept }],
    photometric: img.photometric,
    sourceToPatient: null,
    ultrasoundRegion: null,
    ...(img.voi ? { voi: [img.voi] } : {}),
  };
}

const windowElements: DicomElementSpec[] = [
  { tag: 0x00281050, vr: 'DS', value: String(CENTER) },
  { tag: 0x00281051, vr: 'DS', value: String(WIDTH) },
];

describe('voiLut in the shipped chest model', () => {
  it('the stored radiograph with its window reaches the model as its display export does', () => {
    const stored = syntheticDicom({ modality: 'CR', rows: ROWS, columns: COLS, pixels: RAW, photometric: 'MONOCHROME1', extra: windowElements });
    // What a PACS exports for display: the window applied, MONOCHROME1 shown inverted (white bone), 8 bits.
    const exported = syntheticDicom({ modality: 'CR', rows: ROWS, columns: COLS, pixels: Uint8Array.from(RAW, (x) => Math.round(255 * (1 - linearWindow(x)))) });
    const fromStored = runPreprocessing(cxr.preprocessing, source(stored)).channels[0]!;
    const fromExport = runPreprocessing(cxr.preprocessing, source(exported)).channels[0]!;
    expect(fromStored.length).toBe(28 * 28);
    // 8-bit rounding of the export, through the fixed normalisation's 1/std.
    const worst = Math.max(...fromStored.map((v, i) => Math.abs(v - fromExport[i]!)));
    expect(worst).toBeLessThan(0.5 / 255 / 0.2 + 1e-6);

    // Without the op (1.3.0's manifest) the model saw the raw range instead: a different image.
    const without = runPreprocessing(cxr.preprocessing.filter((o) => o.op !== 'voiLut'), source(stored)).channels[0]!;
    expect(Math.max(...without.map((v, i) => Math.abs(v - fromExport[i]!)))).toBeGreaterThan(0.5);
  });

  it('leaves an image without a window or VOI LUT as it was (the MedMNIST fixtures of the skew check)', () => {
    const plain = syntheticDicom({ modality: 'DX', rows: ROWS, columns: COLS, pixels: RAW });
    const withOp = runPreprocessing(cxr.preprocessing, source(plain)).channels[0]!;
    const withoutOp = runPreprocessing(cxr.preprocessing.filter((o) => o.op !== 'voiLut'), source(plain)).channels[0]!;
    expect(Array.from(withOp)).toEqual(Array.from(withoutOp));
  });
});

describe('voiLut placement in a manifest', () => {
  const onnx = tinyClassifierModel();
  const reason = (preprocessing: PreprocessOp[], schemaVersion = 5) => {
    const r = parseManifest({ ...classifierManifest(onnx, { preprocessing }), schemaVersion });
    return r.ok ? null : r.reason;
  };

  it('loads right after modalityRescale, or after the ultrasound region crop', () => {
    expect(reason([{ op: 'modalityRescale' }, { op: 'voiLut' }, { op: 'invertMonochrome1' }, { op: 'cropSquare' }])).toBeNull();
    expect(reason([{ op: 'modalityRescale' }, { op: 'cropUltrasoundRegion' }, { op: 'voiLut' }, { op: 'normalize', method: 'minmax' }])).toBeNull();
  });

  it('is refused before schema v5, without a rescale before it, after a value or geometric op, or twice', () => {
    expect(reason([{ op: 'modalityRescale' }, { op: 'voiLut' }], 4)).toBe('manifest.json is invalid at preprocessing.1.op: voiLut needs schemaVersion 5');
    expect(reason([{ op: 'voiLut' }, { op: 'modalityRescale' }])).toBe('manifest.json is invalid at preprocessing.0.op: voiLut must come after modalityRescale (it maps modality values)');
    expect(reason([{ op: 'modalityRescale' }, { op: 'invertMonochrome1' }, { op: 'voiLut' }])).toBe('manifest.json is invalid at preprocessing.2.op: voiLut must come before "invertMonochrome1"');
    expect(reason([{ op: 'modalityRescale' }, { op: 'normalize', method: 'fixed', mean: [0], std: [1] }, { op: 'voiLut' }])).toBe('manifest.json is invalid at preprocessing.2.op: voiLut must come before "normalize"');
    expect(reason([{ op: 'modalityRescale' }, { op: 'cropSquare' }, { op: 'voiLut' }])).toBe('manifest.json is invalid at preprocessing.2.op: voiLut must come before "cropSquare"');
    expect(reason([{ op: 'modalityRescale' }, { op: 'voiLut' }, { op: 'voiLut' }])).toBe('manifest.json is invalid at preprocessing.2.op: voiLut may appear once');
  });
});
