import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkApplicability, type SeriesFacts } from '../../electron/services/ai/applicability';
import { parseManifest } from '../../electron/services/ai/model-manifest';

const repoRoot = join(import.meta.dirname, '../..');
const parsed = parseManifest(JSON.parse(readFileSync(join(repoRoot, 'models/cxr-pneumonia/manifest.json'), 'utf8')));
if (!parsed.ok) throw new Error(parsed.reason);
const cxr = parsed.manifest;

const chestFilm = (over: Partial<SeriesFacts>): SeriesFacts => ({
  modality: 'DX',
  bodyPart: 'CHEST',
  viewPositions: ['PA'],
  photometric: ['MONOCHROME2'],
  pixelSpacings: [[0.15, 0.15]],
  sliceCount: 1,
  patientAgeYears: 3,
  ...over,
});

describe('applicability of the shipped chest X-ray model', () => {
  it('accepts a PA chest film recorded as CHEST or as THORAX (the same region)', () => {
    expect(checkApplicability(cxr, chestFilm({}))).toEqual({ ok: true });
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'thorax ' }))).toEqual({ ok: true });
  });

  it('turns a lateral THORAX film away for its view, not its body part', () => {
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'THORAX', viewPositions: ['LL'] }))).toEqual({ ok: false, reason: 'view position LL is not one of PA, AP' });
  });

  it('names the body part it was given when it is another region, or unrecorded', () => {
    expect(checkApplicability(cxr, chestFilm({ bodyPart: 'ABDOMEN' }))).toEqual({ ok: false, reason: 'body part ABDOMEN is not one of CHEST' });
    expect(checkApplicability(cxr, chestFilm({ bodyPart: '' }))).toEqual({ ok: false, reason: 'body part (not recorded) is not one of CHEST' });
  });
});
