/**
 * Compressed pixel data in the AI pipeline: every transfer syntax of the
 * syntax matrix (one CT image, cornerstone's test images) decodes, the lossless
 * ones to exactly the uncompressed values, the lossy ones within a tolerance in
 * Hounsfield units (8-bit baseline and 12-bit extended/progressive JPEG exactly
 * as DCMTK decodes them); the dicom2nifti series stored as RLE, JPEG 2000 and JPEG
 * lossless decode identically; a JPEG-LS series runs through the built
 * inference worker (the codecs load from inside the esbuild bundle).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFileAsync, type DecodedImage } from '../../electron/services/dicom/pixel-decoder';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { ensureBuilt, openServicesOnBuiltWorker, repoRoot } from './helpers';

const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
const MATRIX = join(SHARED, 'dicom-syntax-matrix/wadoloader');
const GENERIC = join(SHARED, 'mr-series-dicom2nifti/dicom2nifti/generic');
const present = existsSync(MATRIX) && existsSync(GENERIC);
const DCMDJPEG = ['/usr/bin/dcmdjpeg', '/usr/local/bin/dcmdjpeg'].find((p) => existsSync(p));
const DCMDJPEG_PRESENT = () => DCMDJPEG !== undefined;
if (present && !DCMDJPEG_PRESENT()) console.warn('\n!!! compressed-pixel-data: dcmdjpeg (DCMTK) not found; the baseline-JPEG oracle comparison is SKIPPED.\n');
if (!present) {
  console.warn(
    `\n!!! SKIPPED: compressed-pixel-data.test.ts — ${MATRIX} or ${GENERIC} is missing, so the JPEG / JPEG-LS / JPEG 2000 decoders were NOT checked against real files.\n`,
  );
}

const REFERENCE = 'CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm';
const LOSSLESS = [
  'CTImage.dcm',
  'CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm',
  'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
  'CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm',
  'CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm',
  'CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm',
  'CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm',
  'CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
];
/** Lossy: [file, mean |ΔHU| bound, max |ΔHU| bound] (baseline is 8-bit with slope 32: ±16 HU of quantisation alone). */
const LOSSY: [string, number, number][] = [
  ['CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm', 25, 100],
  ['CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm', 1, 5],
  ['CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm', 2, 50],
];
/** 12-bit lossy JPEG (extended, spectral selection, progressive): decoded by jpeg-dct-decoder.ts, compared with dcmdjpeg. */
const JPEG12 = [
  'CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm',
  'CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm',
  'CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm',
  'CT0012.fragmented_no_bot_jpeg_baseline.51.dcm',
];

const hu = (img: DecodedImage) => Float64Array.from(img.data, (v) => v * img.rescaleSlope + img.rescaleIntercept);

const d = present ? describe : describe.skip;

d('compressed pixel data (syntax matrix)', () => {
  let ref: DecodedImage;
  beforeAll(async () => {
    ref = await decodeImageFileAsync(join(MATRIX, REFERENCE));
  });

  it.each(LOSSLESS)('%s decodes to exactly the uncompressed values', async (file) => {
    const img = await decodeImageFileAsync(join(MATRIX, file));
    expect([img.rows, img.columns, img.frames]).toEqual([512, 512, 1]);
    expect(img.data.length).toBe(ref.data.length);
    let diff = 0;
    for (let i = 0; i < ref.data.length; i++) if (img.data[i] !== ref.data[i]) diff++;
    expect(diff, `${diff} pixels differ`).toBe(0);
  });

  it.each(LOSSY)('%s decodes within tolerance (HU)', async (file, meanBound, maxBound) => {
    const img = await decodeImageFileAsync(join(MATRIX, file));
    expect([img.rows, img.columns]).toEqual([512, 512]);
    const a = hu(img);
    const b = hu(ref);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < a.length; i++) {
      const e = Math.abs(a[i]! - b[i]!);
      sum += e;
      max = Math.max(max, e);
    }
    expect(sum / a.length).toBeLessThan(meanBound);
    expect(max).toBeLessThan(maxBound);
  });

  it.skipIf(!DCMDJPEG).each(JPEG12)('%s (12-bit lossy JPEG) decodes exactly as DCMTK (dcmdjpeg) does', async (file) => {
    const out = join(mkdtempSync(join(tmpdir(), 'vigil-dcmdjpeg12-')), 'plain.dcm');
    try {
      const r = spawnSync(DCMDJPEG!, [join(MATRIX, file), out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const [ours, theirs] = await Promise.all([decodeImageFileAsync(join(MATRIX, file)), decodeImageFileAsync(out)]);
      expect([ours.rows, ours.columns, ours.frames]).toEqual([theirs.rows, theirs.columns, theirs.frames]);
      let diff = 0;
      for (let i = 0; i < theirs.data.length; i++) if (ours.data[i] !== theirs.data[i]) diff++;
      expect(diff, `${diff} pixels differ from dcmdjpeg`).toBe(0);
    } finally {
      rmSync(dirname(out), { recursive: true, force: true });
    }
  });

  it.skipIf(!DCMDJPEG)('decodes 8-bit baseline JPEG exactly as DCMTK (dcmdjpeg, IJG) does', async () => {
    const file = 'CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm';
    const out = join(mkdtempSync(join(tmpdir(), 'vigil-dcmdjpeg-')), 'plain.dcm');
    try {
      const r = spawnSync(DCMDJPEG!, [join(MATRIX, file), out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const [ours, theirs] = await Promise.all([decodeImageFileAsync(join(MATRIX, file)), decodeImageFileAsync(out)]);
      expect([...ours.data].every((v, i) => v === theirs.data[i])).toBe(true);
    } finally {
      rmSync(dirname(out), { recursive: true, force: true });
    }
  });

  it('decodes the JPEG 2000 NEMA images (CT1_J2KR, CT2_J2KR)', async () => {
    for (const f of ['CT1_J2KR', 'CT2_J2KR']) {
      const img = await decodeImageFileAsync(join(MATRIX, f));
      expect([img.rows, img.columns]).toEqual([512, 512]);
      expect(new Set(img.data.subarray(0, 50_000)).size).toBeGreaterThan(10);
    }
  });
});

d('compressed pixel data (dicom2nifti series in RLE, JPEG 2000, JPEG lossless)', () => {
  it('decodes the same series identically in all three syntaxes', async () => {
    const series = async (name: string) => {
      const dir = join(GENERIC, name, '001');
      return Promise.all(readdirSync(dir).sort().map((f) => decodeImageFileAsync(join(dir, f))));
    };
    const [rle, j2k, jpeg] = await Promise.all([series('compressed_rle'), series('compressed_j2k'), series('compressed_jpeg')]);
    expect(rle).toHaveLength(4);
    for (let s = 0; s < 4; s++) {
      expect([...j2k[s]!.data]).toEqual([...rle[s]!.data]);
      expect([...jpeg[s]!.data]).toEqual([...rle[s]!.data]);
      expect(rle[s]!.data.some((v) => v > 0)).toBe(true);
    }
  });
});

d('compressed pixel data through the inference worker', () => {
  let root: string;
  beforeAll(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'vigil-compressed-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('analyses a JPEG-LS and a JPEG 2000 image (codecs load inside the bundled worker)', async () => {
    const onnx = tinyClassifierModel();
    const manifest = classifierManifest(onnx, { preprocessing: [{ op: 'modalityRescale' }, { op: 'window', center: 40, width: 400 }, { op: 'resize', size: [4, 4], interpolation: 'linear' }, { op: 'normalize', method: 'minmax' }] });
    writeModelPackage(join(root, 'models', 'cls'), onnx, manifest);
    mkdirSync(join(root, 'in'), { recursive: true });
    const services = await openServicesOnBuiltWorker(root, { storageMode: 'reference', importWorkers: 0 });
    try {
      await services.library.import({ paths: [join(MATRIX, 'CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm'), join(MATRIX, 'CT1_J2KR')] });
      const studies = services.library.listStudies({}).studies;
      expect(studies.length).toBeGreaterThan(0);
      for (const s of studies) {
        await services.analysis.analyze({ studyInstanceUid: s.studyInstanceUid, modelId: manifest.id, provider: 'cpu' });
      }
      await services.analysis.queue.whenIdle();
      const results = studies.flatMap((s) => services.analysis.resultsForStudy(s.studyInstanceUid)).filter((r) => r.modelId === manifest.id);
      expect(results.length).toBeGreaterThanOrEqual(1);
      for (const r of results) expect(r, r.reason ?? '').toMatchObject({ status: 'done' });
    } finally {
      await services.close();
    }
  });
});
