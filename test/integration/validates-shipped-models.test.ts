/**
 * Train/serve skew check: the MedMNIST test images, written as DICOM (chest as
 * DX MONOCHROME2, breast as US), go through `vigil validate` — DICOM decode,
 * manifest preprocessing, ONNX Runtime, operating point — and must reproduce
 * the test-split AUC (within 0.001) and confusion matrix that the training
 * recipe recorded in each package's metrics.json.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMedmnistDicom } from '../fixtures/medmnist-dicom';
import { ensureBuilt, repoRoot, runCli, runCliText } from './helpers';

const dataDir = process.env.VIGIL_MEDMNIST ?? join(repoRoot, '..', 'shared', 'data', 'medmnist');
const haveData = existsSync(join(dataDir, 'breastmnist.npz')) && existsSync(join(dataDir, 'pneumoniamnist_kaggle-variant.npz'));
if (!haveData) console.warn(`\n*** SKIPPED validates-shipped-models: MedMNIST data not found at ${dataDir} (set VIGIL_MEDMNIST) ***\n`);

interface ValidateJson {
  modelId: string;
  n: number;
  auc: number;
  accuracy: number;
  sensitivity: number;
  specificity: number;
  ppv: number;
  npv: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  threshold: number;
  positiveLabel: string;
  excluded: unknown[];
  ci95: { auc: [number, number] } & Record<string, [number, number]>;
}

interface MetricsJson {
  threshold: number;
  test: { n: number; auc: number; accuracy: number; confusion: { tp: number; fp: number; tn: number; fn: number } };
}

const MODELS = [
  { id: 'cxr-pneumonia', npz: 'pneumoniamnist_kaggle-variant.npz', labelIds: { 0: 'normal', 1: 'pneumonia' }, modality: 'DX' as const, bodyPart: 'CHEST', viewPosition: 'PA', positive: 'pneumonia' },
  { id: 'us-breast-malignancy', npz: 'breastmnist.npz', labelIds: { 0: 'malignant', 1: 'normal_or_benign' }, modality: 'US' as const, bodyPart: 'BREAST', positive: 'malignant' },
];

let root: string;

(haveData ? describe : describe.skip)('vigil validate on the shipped models (MedMNIST test split as DICOM)', () => {
  beforeAll(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'vigil-validate-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const m of MODELS) {
    it(`${m.id}: reproduces the training-side test AUC within 0.001`, () => {
      const metrics = JSON.parse(readFileSync(join(repoRoot, 'models', m.id, 'metrics.json'), 'utf8')) as MetricsJson;
      const cases = join(root, m.id);
      const counts = writeMedmnistDicom({ npz: join(dataDir, m.npz), split: 'test', outDir: cases, labelIds: m.labelIds, modality: m.modality, bodyPart: m.bodyPart, ...(m.viewPosition ? { viewPosition: m.viewPosition } : {}) });
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(metrics.test.n);

      const r = runCli<ValidateJson>(['validate', '--model', m.id, '--cases', cases, '--provider', 'cpu', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const v = r.json;
      expect(v).toMatchObject({ modelId: m.id, n: metrics.test.n, positiveLabel: m.positive, threshold: metrics.threshold, excluded: [] });
      expect(Math.abs(v.auc - metrics.test.auc)).toBeLessThanOrEqual(0.001);
      // Same operating point on the same cases: the confusion matrix matches (a score within float error of the threshold may flip one case).
      const diff = (['tp', 'fp', 'tn', 'fn'] as const).reduce((s, k) => s + Math.abs(v.confusion[k] - metrics.test.confusion[k]), 0);
      expect(diff).toBeLessThanOrEqual(2);
      expect(v.ci95.auc[0]).toBeLessThanOrEqual(v.auc);
      expect(v.ci95.auc[1]).toBeGreaterThanOrEqual(v.auc);
    });
  }

  it('reads cases from a CSV of file,label and refuses unknown label ids', () => {
    const dir = join(root, 'us-breast-malignancy');
    if (!existsSync(dir)) writeMedmnistDicom({ npz: join(dataDir, 'breastmnist.npz'), split: 'test', outDir: dir, labelIds: { 0: 'malignant', 1: 'normal_or_benign' }, modality: 'US', bodyPart: 'BREAST' });
    const lines = ['file,label'];
    for (const label of ['malignant', 'normal_or_benign']) for (const f of readdirSync(join(dir, label)).slice(0, 5)) lines.push(`${label}/${f},${label}`);
    writeFileSync(join(dir, 'cases.csv'), `${lines.join('\n')}\n`);
    const r = runCli<ValidateJson>(['validate', '--model', 'us-breast-malignancy', '--cases', join(dir, 'cases.csv'), '--provider', 'cpu', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.n).toBe(10);
    expect(r.json.confusion.tp + r.json.confusion.fn).toBe(5);

    writeFileSync(join(root, 'bad.csv'), 'x.dcm,cancer\n');
    const bad = runCliText(['validate', '--model', 'us-breast-malignancy', '--cases', join(root, 'bad.csv')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"cancer" is not a label id');
  });
});
