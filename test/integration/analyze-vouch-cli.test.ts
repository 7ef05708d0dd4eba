/**
 * `vigil analyze --vouch-for-unrecorded` end to end through the built CLI and the shipped breast ultrasound model:
 * an ultrasound without Body Part Examined (real scanners mostly leave it empty) is refused with what it lacks,
 * analysed with the user's vouch and a warning; one whose Body Part Examined contradicts the model is refused
 * whatever the user vouches. A real US file of the shared corpus (no Body Part Examined) goes the same way.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { ensureBuilt, repoRoot, runCli, runCliText } from './helpers';

interface AnalyzeJson {
  results: { seriesInstanceUid: string; modelId: string; status: string; reason?: string; unrecorded?: string[]; warnings: { code: string; message: string; attributes?: string[]; vouchedBy?: string }[] }[];
}

const MODEL = 'us-breast-malignancy';
const STUDY = '1.2.826.0.1.3680043.10.1138.952';
const NO_BODY_PART = `${STUDY}.1`;
const HEAD = `${STUDY}.2`;
const vouchedWarning = { code: 'APPLICABILITY_NOT_RECORDED', attributes: ['Body Part Examined'], vouchedBy: 'reader' };
let root: string;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'vigil-vouch-cli-'));
  mkdirSync(join(root, 'in'), { recursive: true });
  const pixels = Uint16Array.from({ length: 64 }, (_, k) => (k % 9) * 100);
  // The fixture's default descriptions ("CT CHEST") would name a body part: an ultrasound's say nothing of one.
  const described = { studyDescription: 'Ultrasound', seriesDescription: 'B-mode' };
  writeFileSync(join(root, 'in', 'nobp.dcm'), syntheticDicom({ modality: 'US', studyInstanceUid: STUDY, seriesInstanceUid: NO_BODY_PART, sopInstanceUid: `${NO_BODY_PART}.1`, pixels, ...described }));
  writeFileSync(
    join(root, 'in', 'head.dcm'),
    syntheticDicom({ modality: 'US', studyInstanceUid: STUDY, seriesInstanceUid: HEAD, sopInstanceUid: `${HEAD}.1`, seriesNumber: 2, pixels, ...described, extra: [{ tag: 0x00180015, vr: 'CS', value: 'HEAD' }] }),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const analyze = (dataDir: string, paths: string[], ...flags: string[]) => ['analyze', ...paths, '--data-dir', dataDir, '--model', MODEL, '--provider', 'cpu', ...flags];

describe('vigil analyze --vouch-for-unrecorded', () => {
  it('refuses an unrecorded body part without the vouch, analyses it with the vouch, and never a contradicting one', () => {
    const dataDir = join(root, 'data');
    const plain = runCli<AnalyzeJson>([...analyze(dataDir, [join(root, 'in')]), '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    const of = (r: AnalyzeJson, series: string) => r.results.find((x) => x.seriesInstanceUid === series);
    expect(of(plain.json, NO_BODY_PART)).toMatchObject({ status: 'not-analysed', reason: expect.stringContaining('body part not recorded'), unrecorded: ['Body Part Examined'] });
    expect(of(plain.json, HEAD)).toMatchObject({ status: 'not-analysed', reason: 'body part HEAD is not one of BREAST' });
    expect(of(plain.json, HEAD)).not.toHaveProperty('unrecorded');

    const text = runCliText(analyze(dataDir, [join(root, 'in')]));
    expect(text.stdout).toContain('? not recorded: Body Part Examined (--vouch-for-unrecorded analyses it');

    const vouched = runCli<AnalyzeJson>([...analyze(dataDir, [join(root, 'in')], '--vouch-for-unrecorded'), '--json']);
    expect(vouched.code, vouched.stderr).toBe(0);
    const done = of(vouched.json, NO_BODY_PART);
    expect(done?.status, done?.reason).toBe('done');
    expect(done?.warnings).toContainEqual(expect.objectContaining(vouchedWarning));
    expect(done).not.toHaveProperty('unrecorded');
    expect(of(vouched.json, HEAD)).toMatchObject({ status: 'not-analysed', reason: 'body part HEAD is not one of BREAST', warnings: [] });

    const vouchedText = runCliText(analyze(dataDir, [join(root, 'in')], '--vouch-for-unrecorded'));
    expect(vouchedText.code, vouchedText.stderr).toBe(0);
    expect(vouchedText.stdout).toContain('! Analysed although Body Part Examined is not recorded: the reader vouched that the series is what the model needs');
    expect(vouchedText.stdout).toContain(`on series ${HEAD}: not analysed: body part HEAD is not one of BREAST`);
  });
});

const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
// A real ultrasound (RGB, 640×480) whose file records no Body Part Examined, as most scanners write them.
const REAL_US = join(SHARED, 'dicom-pydicom/pydicom-data/data/US1_UNCR.dcm');
if (!existsSync(REAL_US)) console.warn(`\n*** [analyze-vouch-cli] SKIPPING the real ultrasound case: ${REAL_US} is missing ***\n`);

describe.skipIf(!existsSync(REAL_US))('a real ultrasound without Body Part Examined (pydicom test data)', () => {
  it('is refused for what it lacks, and analysed with the vouch', () => {
    const dataDir = join(root, 'real-data');
    const plain = runCli<AnalyzeJson>([...analyze(dataDir, [REAL_US]), '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.json.results).toMatchObject([{ modelId: MODEL, status: 'not-analysed', unrecorded: ['Body Part Examined'] }]);
    const vouched = runCli<AnalyzeJson>([...analyze(dataDir, [REAL_US], '--vouch-for-unrecorded'), '--json']);
    expect(vouched.code, vouched.stderr).toBe(0);
    const [r] = vouched.json.results;
    expect(r?.status, r?.reason).toBe('done');
    expect(r?.warnings).toContainEqual(expect.objectContaining(vouchedWarning));
  });
});
