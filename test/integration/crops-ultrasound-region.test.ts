/**
 * A US screen capture (bright scanner UI around the B-mode image) through the
 * product pipeline with the shipped breast model and its manifest
 * (cropUltrasoundRegion, schemaVersion 4): the model sees
 * exactly what it sees for the same image saved already cropped to its
 * region, and the heatmap lands on the region's source pixels. Then the
 * region read from real US files equals what dcmdump shows.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from '../../electron/services/ai/grid-geometry';
import { runInferenceJob } from '../../electron/services/ai/inference-job';
import { type ModelManifest, parseManifest } from '../../electron/services/ai/model-manifest';
import { ModelRegistry } from '../../electron/services/ai/model-registry';
import { runPreprocessing } from '../../electron/services/ai/preprocessing-pipeline';
import { SessionManager } from '../../electron/services/ai/session-manager';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { decodeImageFile, decodeImageFileAsync, type DecodedImage, PixelDecodeError } from '../../electron/services/dicom/pixel-decoder';
import { ultrasoundImageRegions, type UltrasoundRegion } from '../../electron/services/dicom/ultrasound-regions';
import { writeModelPackage } from '../fixtures/models/model-package-fixture';
import { syntheticDicom, ultrasoundRegionItem, ultrasoundRegions, US_IMAGE_STORAGE } from '../fixtures/synthetic-dicom';
import { repoRoot } from './helpers';

const SHIPPED = join(repoRoot, 'models', 'us-breast-malignancy');
const ROWS = 480;
const COLUMNS = 640;
const REGION: UltrasoundRegion = { x0: 120, y0: 70, x1: 519, y1: 409 }; // 400 × 340

/** Speckle-like tissue with a dark oval "lesion", deterministic. */
function tissue(r: number, c: number): number {
  const speckle = (Math.sin(r * 12.9898 + c * 78.233) * 43758.5453) % 1;
  const lesion = ((r - 150) / 60) ** 2 + ((c - 230) / 90) ** 2 < 1 ? 0.25 : 1;
  return Math.round(Math.max(0, Math.min(255, (60 + 50 * Math.abs(speckle)) * lesion + r * 0.1)));
}

/** The capture: the region holds the tissue image; around it bars, "text" blocks and a grey scale bar at full brightness. */
function capturePixels(): Uint8Array {
  const px = new Uint8Array(ROWS * COLUMNS);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLUMNS; c++) {
      const inside = r >= REGION.y0 && r <= REGION.y1 && c >= REGION.x0 && c <= REGION.x1;
      if (inside) px[r * COLUMNS + c] = tissue(r - REGION.y0, c - REGION.x0);
      else if (r < 40) px[r * COLUMNS + c] = 255; // title bar
      else if (c > 560 && r % 24 < 10) px[r * COLUMNS + c] = 250; // text lines
      else if (c < 40) px[r * COLUMNS + c] = Math.round((r / ROWS) * 255); // grey scale bar
    }
  }
  return px;
}

function croppedPixels(): Uint8Array {
  const w = REGION.x1 - REGION.x0 + 1;
  const h = REGION.y1 - REGION.y0 + 1;
  return Uint8Array.from({ length: w * h }, (_, i) => tissue(Math.floor(i / w), i % w));
}

const regionItem = (spatialFormat: number, dataType: number, [x0, y0, x1, y1]: [number, number, number, number]) => ultrasoundRegionItem({ x0, y0, x1, y1 }, { spatialFormat, dataType, flags: 2 });

/** The shipped manifest without its region crop (what 1.3.0 did: the whole capture reaches cropSquare). */
function withoutRegionCrop(shipped: ModelManifest): ModelManifest {
  if (!shipped.preprocessing.some((o) => o.op === 'cropUltrasoundRegion')) throw new Error('the shipped breast manifest has no cropUltrasoundRegion');
  const parsed = parseManifest({ ...shipped, preprocessing: shipped.preprocessing.filter((o) => o.op !== 'cropUltrasoundRegion') });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.manifest;
}

/** The model input tensor the pipeline builds for one decoded image. */
function modelInput(manifest: ModelManifest, img: DecodedImage): Float32Array {
  const source = {
    grid: { data: Float32Array.from(img.data), shape: [1, img.rows, img.columns] as [number, number, number], toSource: identity() },
    rescale: [{ slope: img.rescaleSlope, intercept: img.rescaleIntercept }],
    photometric: img.photometric,
    sourceToPatient: null,
    ultrasoundRegion: img.ultrasoundRegions[0] ?? null,
  };
  return runPreprocessing(manifest.preprocessing, source).channels[0]!;
}

describe('cropUltrasoundRegion through the pipeline (shipped breast model, synthetic screen capture)', () => {
  let root: string;
  let captureFile: string;
  let croppedFile: string;
  let withCrop: ModelManifest;
  let noCrop: ModelManifest;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-us-region-'));
    const parsed = parseManifest(JSON.parse(readFileSync(join(SHIPPED, 'manifest.json'), 'utf8')));
    if (!parsed.ok) throw new Error(parsed.reason);
    withCrop = parsed.manifest;
    noCrop = withoutRegionCrop(withCrop);
    const common = { modality: 'US', sopClassUid: US_IMAGE_STORAGE, studyDescription: 'US BREAST', seriesDescription: 'B-MODE', pixelSpacing: null };
    // A colour-flow region larger than the tissue one, and a Doppler strip: neither is the image.
    const regions = [regionItem(1, 2, [0, 40, 639, 479]), regionItem(1, 1, [REGION.x0, REGION.y0, REGION.x1, REGION.y1]), regionItem(3, 3, [120, 420, 519, 470])];
    captureFile = join(root, 'capture.dcm');
    writeFileSync(captureFile, syntheticDicom({ ...common, rows: ROWS, columns: COLUMNS, pixels: capturePixels(), transferSyntax: '1.2.840.10008.1.2', extra: [ultrasoundRegions(regions)] }));
    croppedFile = join(root, 'cropped.dcm');
    writeFileSync(croppedFile, syntheticDicom({ ...common, rows: REGION.y1 - REGION.y0 + 1, columns: REGION.x1 - REGION.x0 + 1, pixels: croppedPixels() }));
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('the model input equals the input of the image saved pre-cropped to its region', () => {
    const capture = decodeImageFile(captureFile);
    expect(capture.ultrasoundRegions).toEqual([REGION]);
    const cropped = decodeImageFile(croppedFile);
    expect(cropped.ultrasoundRegions).toEqual([]);
    const fromCapture = modelInput(withCrop, capture);
    expect(fromCapture.length).toBe(28 * 28);
    expect([...fromCapture]).toEqual([...modelInput(withCrop, cropped)]);
    // Without the region crop the scanner UI reaches the model: a different input.
    expect([...modelInput(noCrop, capture)]).not.toEqual([...fromCapture]);
  });

  it('the inference job scores the capture as the cropped image, and maps the heatmap onto the region', async () => {
    const registry = new ModelRegistry([{ dir: join(root, 'models'), origin: 'user' }]);
    writeModelPackage(join(root, 'models', 'us-breast-malignancy'), readFileSync(join(SHIPPED, 'model.onnx')), withCrop);
    const model = await registry.get('us-breast-malignancy');
    expect(model, JSON.stringify(await registry.list())).not.toBeNull();
    const run = async (manifest: ModelManifest, file: string, name: string) => {
      const outputDir = join(root, 'out', name);
      const r = await runInferenceJob({ jobId: name, model: { id: manifest.id, modelPath: model!.modelPath, manifest }, files: [file], provider: 'cpu', outputDir }, sessions);
      expect(r.status, r.reason).toBe('done');
      const heatmap = r.outputs.find((o) => o.kind === 'heatmap');
      if (heatmap?.kind !== 'heatmap') throw new Error('no heatmap output');
      const bytes = gunzipSync(readFileSync(join(outputDir, heatmap.map.file)));
      return { scores: r.findings.map((f) => [f.label, f.score]), heatmap: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape: heatmap.map.shape };
    };
    const capture = await run(withCrop, captureFile, 'capture');
    const cropped = await run(withCrop, croppedFile, 'cropped');
    expect(capture.scores).toEqual(cropped.scores);
    const uncropped = await run(noCrop, captureFile, 'capture-no-crop');
    expect(uncropped.scores).not.toEqual(capture.scores);

    // Heatmap on the capture's source grid: inside the region it is the cropped image's heatmap, outside it nothing.
    expect(capture.shape).toEqual([1, ROWS, COLUMNS]);
    const w = REGION.x1 - REGION.x0 + 1;
    expect(cropped.shape).toEqual([1, REGION.y1 - REGION.y0 + 1, w]);
    let worst = 0;
    let outside = 0;
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        const v = capture.heatmap[r * COLUMNS + c]!;
        if (r >= REGION.y0 && r <= REGION.y1 && c >= REGION.x0 && c <= REGION.x1) worst = Math.max(worst, Math.abs(v - cropped.heatmap[(r - REGION.y0) * w + c - REGION.x0]!));
        else outside = Math.max(outside, Math.abs(v));
      }
    }
    expect(worst).toBeLessThan(1e-6);
    expect(outside).toBe(0);
    expect(cropped.heatmap.reduce((m, v) => Math.max(m, v), 0)).toBeGreaterThan(0);
  });
});

const SHARED = resolve(__dirname, '../..', process.env.VIGIL_SHARED_DATA ?? '../shared/data');
/**
 * The image regions of real US files. Expected rectangles verified with `dcmdump` (DCMTK 3.6.7) on these files: the
 * (0018,6011) items' Region Spatial Format / Data Type / Location Min X0, Y0 / Max X1, Y1; one past the last column or
 * row is clamped, a region reaching further means the regions describe another image (none: no crop).
 */
const ALOKA_VIEWS: UltrasoundRegion[] = [
  { x0: 32, y0: 24, x1: 335, y1: 415 },
  { x0: 336, y0: 24, x1: 639, y1: 415 },
];
const REAL_FILES: { file: string; regions: UltrasoundRegion[]; why: string }[] = [
  // 800×600, explicit VR LE, undefined lengths; tissue region 120,60–800,518 (MaxX1 800 is one past the last column).
  { file: 'dicom-pydicom/pydicom-data/data/OBXXXX1A.dcm', regions: [{ x0: 120, y0: 60, x1: 799, y1: 518 }], why: 'MaxX1 800 clamped to column 799' },
  // 640×480, implicit VR LE (the sequence reads as UN), two tissue regions of 304×392 side by side and a graphics one: both views.
  { file: 'dicom-pydicom/pydicom-data/data/gdcm-US-ALOKA-16.dcm', regions: ALOKA_VIEWS, why: 'dual B-mode: both views, left then right' },
  // The same capture in explicit VR big endian.
  { file: 'dicom-pydicom/pydicom-data/data/gdcm-US-ALOKA-16_big.dcm', regions: ALOKA_VIEWS, why: 'dual B-mode, big endian: both views' },
  // 800×350 (cut from OBXXXX1A): the same regions, MaxY1 518 past the 350 rows.
  { file: 'dicom-pydicom/pydicom/test_files/examples_palette.dcm', regions: [], why: 'MaxY1 518 of 350 rows: not trusted' },
  // 320×240 JPEG baseline YBR_FULL_422; region 84,31–595,414 of the original (larger) capture runs past both edges.
  { file: 'dicom-pydicom/pydicom/test_files/examples_ybr_color.dcm', regions: [], why: 'a region of the larger original capture: not trusted' },
];
const realPresent = REAL_FILES.filter((f) => existsSync(join(SHARED, f.file)));
if (realPresent.length < REAL_FILES.length) {
  console.warn(`\n*** [crops-ultrasound-region] SKIPPING ${REAL_FILES.length - realPresent.length} of ${REAL_FILES.length} real US files: missing under ${SHARED}: ${REAL_FILES.filter((f) => !realPresent.includes(f)).map((f) => f.file).join(', ')} ***\n`);
}

describe.skipIf(realPresent.length === 0)('the ultrasound region of real files (pydicom test data)', () => {
  for (const { file, regions, why } of realPresent) {
    it(`${file}: ${why}`, async () => {
      const ds = readDicom(new BufferByteSource(readFileSync(join(SHARED, file)))).dataset;
      expect(ultrasoundImageRegions(ds, ds.number(0x00280010)!, ds.number(0x00280011)!)).toEqual(regions);
      // And on the decoded image, where the AI pipeline decodes the file's pixel format.
      const img = await decodeImageFileAsync(join(SHARED, file)).catch((err: unknown) => {
        if (err instanceof PixelDecodeError) return null;
        throw err;
      });
      if (img) expect(img.ultrasoundRegions).toEqual(regions);
      else console.warn(`[crops-ultrasound-region] ${file}: pixels not decodable by the AI pipeline; region checked on the dataset only`);
    });
  }
});
