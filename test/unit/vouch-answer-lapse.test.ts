/**
 * "Analyse anyway" on a refusal that no longer holds (an image imported since, another model package, other
 * attributes not recorded, or a refusal stored before refusals recorded their images) is not taken as a vouch: the
 * fresh refusal says why (vouchLapsed with `answered`, and its reason), so the reader knows their click analysed
 * nothing, and answering the fresh refusal vouches. The why is told on that refusal only: nothing was vouched for.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnalysisResult } from '../../contract/ipc-contract';
import type { VigilServices } from '../../electron/services/vigil-services';
import { classifierManifest, sha256, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { BREAST_MODEL_ID as MODEL, NOT_RECORDED, resultOverIpc, run, useVouchLibrary } from '../fixtures/vouch-library';

const ROOT_UID = '1.2.826.0.1.3680043.10.1138.952';
const library = useVouchLibrary('vigil-vouch-answer-', ROOT_UID);
const imageUid = (n: number, image = 1) => library.imageUid(n, image);
const ANSWERED = `${NOT_RECORDED}; not analysed on your vouch: the refusal you answered no longer holds`;

/** A one-image US study n that records no body part. */
const writeStudy = (n: number) => library.writeStudy(n, []);

/** "Analyse anyway" in the findings panel: a vouching run naming the refusal the reader answers. */
const answer = (s: VigilServices, refusal: AnalysisResult) =>
  run(s, { studyInstanceUid: refusal.studyInstanceUid, seriesInstanceUid: refusal.seriesInstanceUid, modelId: refusal.modelId, provider: 'cpu', vouchForUnrecorded: true, vouchForResultId: refusal.resultId });

/** Image `image` of study n's only series (a US image that records no body part), imported into the open library. */
const importLater = (s: VigilServices, n: number, image: number) => library.importLater(s, `${n}-${image}`, library.usFile(n, [], { image }));

describe('"Analyse anyway" on a refusal that no longer holds says why on the fresh refusal', () => {
  it('an image gone from the series since: says one image was removed', async () => {
    const study = writeStudy(1);
    const s = await library.analyse([join(library.root, 'in')]);
    await importLater(s, 1, 2);
    // Refused again with both images, then one leaves the index (as removing an instance will).
    expect((await run(s, { studyInstanceUid: study, provider: 'cpu' })).notAnalysed).toHaveLength(1);
    const refused = await resultOverIpc(s, study);
    s.library.studyIndex.db.prepare('DELETE FROM instances WHERE sop_instance_uid = ?').run(imageUid(1, 2));

    const answered = await answer(s, refused);
    expect(answered.queued).toEqual([]);
    expect(answered.notAnalysed).toMatchObject([{ status: 'not-analysed', reason: `${ANSWERED} (1 image was removed since)` }]);
    expect((await resultOverIpc(s, study)).vouchLapsed).toEqual({ imagesAdded: 0, imagesRemoved: 1, modelChanged: false, answered: true });
  });

  it('an image imported since: says one image was added, and answering the fresh refusal vouches', async () => {
    const study = writeStudy(1);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    await importLater(s, 1, 2);

    const answered = await answer(s, refused);
    const reason = `${ANSWERED} (1 image was added since)`;
    expect(answered.queued).toEqual([]);
    expect(answered.notAnalysed).toMatchObject([{ status: 'not-analysed', reason }]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh.resultId).toBeGreaterThan(refused.resultId);
    expect(fresh).toMatchObject({ status: 'not-analysed', reason, unrecorded: ['Body Part Examined'] });
    expect(fresh.vouchLapsed).toEqual({ imagesAdded: 1, modelChanged: false, answered: true });
    // The panel's reason: the refusal's own, since it tells the lapse itself (localised) from vouchLapsed.
    expect(fresh.refusalReason).toBe(refused.reason);
    expect(refused.refusalReason).toBeUndefined();
    // The answer vouched for nothing: no coverage is kept to tell of later.
    expect(s.analysis.results.get(fresh.resultId)?.lapsedVouch).toBeUndefined();

    expect((await answer(s, fresh)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', warnings: [{ code: 'APPLICABILITY_NOT_RECORDED', vouchedBy: 'reader', attributes: ['Body Part Examined'] }] });
  });

  it('another model package: says the model changed', async () => {
    const study = writeStudy(2);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    const newer = tinyClassifierModel({ w: 5, b: -2 });
    writeModelPackage(join(library.root, 'models', 'breast'), newer, classifierManifest(newer, { id: MODEL, version: '1.1.0', applicability: { modalities: ['US'], bodyParts: ['BREAST'] } }));
    expect((await s.router.dispatch('models.rescan', {})).ok).toBe(true);

    expect((await answer(s, refused)).queued).toEqual([]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh).toMatchObject({ status: 'not-analysed', modelSha256: sha256(newer), reason: `${ANSWERED} (the model is another version now)` });
    expect(fresh.vouchLapsed).toEqual({ imagesAdded: 0, modelChanged: true, answered: true });
    expect((await answer(s, fresh)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done', modelVersion: '1.1.0' });
  });

  it('other attributes not recorded: names those the refusal listed that no longer hold, and those it did not list', async () => {
    const study = writeStudy(3);
    const s = await library.analyse([join(library.root, 'in')]);
    const db = s.library.studyIndex.db;
    const refused = await resultOverIpc(s, study);
    // The refusal showed View Position instead of Body Part Examined (rules of another day).
    db.prepare(`UPDATE ai_results SET outputs = json_set(outputs, '$.unrecorded', json('["View Position"]')) WHERE id = ?`).run(refused.resultId);

    expect((await answer(s, refused)).queued).toEqual([]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh.reason).toBe(`${ANSWERED} (the series does not record Body Part Examined either now; it listed View Position, which the series is no longer refused for)`);
    expect(fresh.vouchLapsed).toEqual({ imagesAdded: 0, modelChanged: false, attributesNotVouched: ['Body Part Examined'], answered: true, attributesNoLongerUnrecorded: ['View Position'] });
    expect((await answer(s, fresh)).queued).toHaveLength(1);
  });

  it('a refusal stored before refusals recorded their images: one fresh refusal saying so, not that images were added', async () => {
    const study = writeStudy(4);
    const s = await library.analyse([join(library.root, 'in')]);
    const refused = await resultOverIpc(s, study);
    s.library.studyIndex.db.prepare(`UPDATE ai_results SET input_uids = '[]' WHERE id = ?`).run(refused.resultId);

    expect((await answer(s, refused)).queued).toEqual([]);
    const fresh = await resultOverIpc(s, study);
    expect(fresh.reason).toBe(`${ANSWERED} (it was stored before refusals recorded the images they judged)`);
    expect(fresh.vouchLapsed).toEqual({ imagesAdded: 0, modelChanged: false, answered: true, imagesNotRecorded: true });
    expect(s.analysis.results.get(fresh.resultId)?.inputSopInstanceUids).toEqual([imageUid(4)]);
    expect((await answer(s, fresh)).queued).toHaveLength(1);
    expect(await resultOverIpc(s, study)).toMatchObject({ status: 'done' });
  });

  it('is told on the fresh refusal only: a later plain run says nothing of it, but still of an earlier vouch that lapsed', async () => {
    const plain = writeStudy(5);
    const vouched = writeStudy(6);
    const s = await library.analyse([join(library.root, 'in')]);

    await importLater(s, 5, 2);
    await answer(s, await resultOverIpc(s, plain));
    expect((await resultOverIpc(s, plain)).vouchLapsed).toMatchObject({ answered: true });
    expect((await run(s, { studyInstanceUid: plain, provider: 'cpu' })).queued).toEqual([]);
    const later = await resultOverIpc(s, plain);
    expect(later).toMatchObject({ status: 'not-analysed', reason: NOT_RECORDED });
    expect(later.vouchLapsed).toBeUndefined();

    // The reader vouched; an image joined since, so a plain run refuses, saying the vouch lapsed. Another image
    // joins while that refusal is shown: answering it tells why the answer did not hold, and a plain run after
    // that tells again of the earlier vouch, counting every image it did not cover.
    await run(s, { studyInstanceUid: vouched, modelId: MODEL, provider: 'cpu', vouchForUnrecorded: true });
    await importLater(s, 6, 2);
    await run(s, { studyInstanceUid: vouched, provider: 'cpu' });
    const lapsed = await resultOverIpc(s, vouched);
    expect(lapsed.vouchLapsed).toEqual({ imagesAdded: 1, modelChanged: false });
    await importLater(s, 6, 3);
    await answer(s, lapsed);
    expect((await resultOverIpc(s, vouched)).vouchLapsed).toEqual({ imagesAdded: 1, modelChanged: false, answered: true });
    await run(s, { studyInstanceUid: vouched, provider: 'cpu' });
    expect(await resultOverIpc(s, vouched)).toMatchObject({ reason: `${NOT_RECORDED}; your earlier vouch does not cover 2 images added since`, vouchLapsed: { imagesAdded: 2, modelChanged: false } });
  });
});
