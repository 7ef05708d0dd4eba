/**
 * `vigil validate` and `vigil analyze` through the built CLI on inputs from a review: a body part coded only in
 * the Anatomic Region Sequence, paths relative to the folder `npm run vigil -- …` was called from (INIT_CWD, only
 * under that script), a DICOM file outside the label sub-folders and a broken link among the cases, data errors
 * without the usage text, and the heatmap in the text output.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { ensureBuilt, runCliText } from './helpers';

const STUDY = '1.2.826.0.1.3680043.10.1138.970';
let root: string;

/** DX chest PA whose body part is only in the Anatomic Region Sequence (SCT 51185008 Thorax), no Body Part Examined. */
function chestByAnatomicRegion(i: number): Buffer {
  return syntheticDicom({
    modality: 'DX',
    studyInstanceUid: STUDY,
    seriesInstanceUid: `${STUDY}.1`,
    sopInstanceUid: `${STUDY}.1.${i}`,
    instanceNumber: i,
    studyDescription: '',
    seriesDescription: '',
    rows: 28,
    columns: 28,
    pixels: Uint16Array.from({ length: 28 * 28 }, (_, k) => (k * (i + 3)) % 4096),
    extra: [
      { tag: 0x00082218, vr: 'SQ', value: [[{ tag: 0x00080100, vr: 'SH', value: '51185008' }, { tag: 0x00080102, vr: 'SH', value: 'SCT' }, { tag: 0x00080104, vr: 'LO', value: 'Thorax' }]] },
      { tag: 0x00185101, vr: 'CS', value: 'PA' },
    ],
  });
}

/** The built CLI as `npm run vigil -- …` runs it for a caller in `callerDir`: in the repository, the caller's folder in INIT_CWD. */
function vigil(args: string[], callerDir: string) {
  return runCliText(args, { env: { ...process.env, npm_lifecycle_event: 'vigil', INIT_CWD: callerDir } });
}

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'vigil-validate-inputs-'));
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  writeModelPackage(join(root, 'models', 'chest'), onnx, classifierManifest(onnx, { id: 'test-chest-classifier', applicability: { modalities: ['DX'], bodyParts: ['CHEST'], viewPositions: ['PA', 'AP'] } }));
  // Label sub-folder named in another case than the label id "bright".
  mkdirSync(join(root, 'cases', 'Bright'), { recursive: true });
  for (const i of [1, 2]) writeFileSync(join(root, 'cases', 'Bright', `${i}.dcm`), chestByAnatomicRegion(i));
  writeFileSync(join(root, 'cases', 'stray.dcm'), chestByAnatomicRegion(3));
  mkdirSync(join(root, 'in'));
  for (const i of [1, 2]) writeFileSync(join(root, 'in', `${i}.dcm`), chestByAnatomicRegion(i));
  // The same cases with a link to a moved file, in the label folder and beside it.
  mkdirSync(join(root, 'linked', 'bright'), { recursive: true });
  for (const i of [1, 2]) writeFileSync(join(root, 'linked', 'bright', `${i}.dcm`), chestByAnatomicRegion(i));
  writeFileSync(join(root, 'linked', 'stray.dcm'), chestByAnatomicRegion(3));
  symlinkSync(join(root, 'moved', '3.dcm'), join(root, 'linked', 'bright', '3.dcm'));
  symlinkSync(join(root, 'moved'), join(root, 'linked', 'old-cases'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('vigil validate', () => {
  it('judges applicability as analysis does (Anatomic Region Sequence), resolves paths against INIT_CWD and excludes a file outside the label folders', () => {
    const r = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'cases', '--models-dir', 'models', '--provider', 'cpu', '--json'], root);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { modelId: string; n: number; excluded: { file: string; status: string; reason: string }[]; cases: { file: string; label: string; status: string }[] };
    expect(Object.keys(v).slice(0, 10)).toEqual(['modelId', 'n', 'auc', 'accuracy', 'sensitivity', 'specificity', 'ppv', 'npv', 'confusion', 'threshold']);
    expect(v.modelId).toBe('test-chest-classifier');
    // The two labelled files are images of one series: one case, scored as the viewer scores the series.
    expect(v).toMatchObject({ n: 1, caseUnit: 'series' });
    expect(v.cases.filter((c) => c.status === 'done')).toEqual([expect.objectContaining({ file: join(root, 'cases', 'Bright', '1.dcm'), files: 2, label: 'bright' })]);
    expect(v.excluded).toHaveLength(1);
    expect(v.excluded[0]).toMatchObject({ file: join(root, 'cases', 'stray.dcm'), status: 'not-analysed', reason: expect.stringContaining('sub-folder named by a label id of the model (bright)') });

    // Each file a case of its own.
    const perFile = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'cases', '--case-unit', 'file', '--models-dir', 'models', '--provider', 'cpu', '--json'], root);
    expect(perFile.code, perFile.stderr).toBe(0);
    const f = JSON.parse(perFile.stdout) as typeof v;
    expect(f).toMatchObject({ n: 2, caseUnit: 'file' });
    expect(f.cases.filter((c) => c.status === 'done').map((c) => c.label)).toEqual(['bright', 'bright']);
  });

  it('ignores an inherited INIT_CWD outside the `vigil` npm script: paths resolve against the process folder', () => {
    // As a test runner under `npm test` spawns it: INIT_CWD names the folder npm was started from, not this caller.
    const r = runCliText(['validate', '--model', 'test-chest-classifier', '--cases', 'cases', '--models-dir', 'models', '--provider', 'cpu', '--json'], {
      cwd: root,
      env: { ...process.env, npm_lifecycle_event: 'test', INIT_CWD: join(root, 'in') },
    });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { n: number }).n).toBe(1);
  });

  it('reports broken links as excluded cases ("cannot read"), and a stray file without an empty label, in the text output', () => {
    const r = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'linked', '--models-dir', 'models', '--provider', 'cpu'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(' on 1 case (1 bright): each a series, 2 files, ');
    expect(r.stderr).toContain('3 case(s) excluded:');
    expect(r.stderr).toContain(`  ${join(root, 'linked', 'bright', '3.dcm')} (bright): not-analysed: cannot read: broken symbolic link to ${join(root, 'moved', '3.dcm')}\n`);
    expect(r.stderr).toContain(`  ${join(root, 'linked', 'old-cases')}: not-analysed: cannot read: broken symbolic link to ${join(root, 'moved')}\n`);
    expect(r.stderr).toContain(`  ${join(root, 'linked', 'stray.dcm')}: not-analysed: not in a label sub-folder`);
    expect(r.stderr).not.toContain('()');
  });

  it('prints a data error as its message alone (exit 2), and a usage error with the usage text', () => {
    writeFileSync(join(root, 'bad.csv'), 'file,label\nx.dcm,cancer\n');
    const bad = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'bad.csv', '--models-dir', 'models'], root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.csv line 2: "cancer" is not a label id of the model (labels: bright)');
    expect(bad.stderr).not.toContain('Usage:');
    // With --json, stdout says so too (nothing scored, and why), for a script that reads it.
    const badJson = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'bad.csv', '--models-dir', 'models', '--json'], root);
    expect(badJson.code).toBe(2);
    expect(JSON.parse(badJson.stdout)).toEqual({ modelId: 'test-chest-classifier', n: 0, error: 'bad.csv line 2: "cancer" is not a label id of the model (labels: bright)' });
    const usage = vigil(['validate', '--model', 'test-chest-classifier'], root);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('validate needs --cases');
    expect(usage.stderr).toContain('Usage:');
    const unit = vigil(['validate', '--model', 'test-chest-classifier', '--cases', 'cases', '--case-unit', 'study'], root);
    expect(unit.code).toBe(2);
    expect(unit.stderr).toContain('--case-unit must be series or file');
  });
});

describe('vigil analyze', () => {
  it('analyses the same files (relative paths from INIT_CWD) and names each heatmap file in the text output', () => {
    const r = vigil(['analyze', 'in', '--data-dir', 'data', '--models-dir', 'models', '--provider', 'cpu'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^test-chest-classifier 1\.0\.0 on series .*: done/m);
    // The bundled chest model writes a heatmap; it is listed when that package is usable here.
    const models = vigil(['models', '--json'], root);
    const cxr = (JSON.parse(models.stdout) as { models: { id: string; status: string }[] }).models.find((m) => m.id === 'cxr-pneumonia');
    if (cxr?.status !== 'ok') {
      console.warn(`\n*** SKIPPED heatmap line check: bundled cxr-pneumonia is ${cxr?.status ?? 'absent'} ***\n`);
      return;
    }
    expect(r.stdout).toMatch(/^cxr-pneumonia \S+ on series .*: done/m);
    // One map per image of the two-image series, in the run's folder under the data dir.
    const line = /^ {4}heatmap for pneumonia \(float32 2×28×28\): (\S+)$/m.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    expect(line![1]!.startsWith(join(root, 'data', 'ai-results'))).toBe(true);
    expect(existsSync(line![1]!)).toBe(true);
  });
});
