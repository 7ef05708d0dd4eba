import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImportProgress } from '../../contract/ipc-contract';
import { openVigilServices, type VigilServices } from '../../electron/services/vigil-services';
import { syntheticDicom, syntheticDicomdir } from '../fixtures/synthetic-dicom';
import { storedCopies } from '../fixtures/stored-copies';

let root: string;
let services: VigilServices;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'vigil-lib-'));
  services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0 });
});
afterEach(async () => {
  await services.close();
  rmSync(root, { recursive: true, force: true });
});

function write(rel: string, content: Buffer | string): string {
  const p = join(root, 'in', rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

const STUDY_A = '1.2.826.0.1.3680043.10.1138.100';
const STUDY_B = '1.2.826.0.1.3680043.10.1138.200';

function makeCorpus(): void {
  for (let i = 1; i <= 5; i++) {
    write(`a/ct${i}.dcm`, syntheticDicom({ studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.1`, sopInstanceUid: `${STUDY_A}.1.${i}`, instanceNumber: i }));
  }
  write('a/scout.dcm', syntheticDicom({ studyInstanceUid: STUDY_A, seriesInstanceUid: `${STUDY_A}.2`, sopInstanceUid: `${STUDY_A}.2.1`, seriesNumber: 2 }));
  const mr = {
    patientName: 'Smith^John',
    patientId: 'PID0002',
    modality: 'MR',
    studyDescription: 'MR BRAIN',
    accessionNumber: 'XYZ42',
    studyDate: '20230505',
    studyInstanceUid: STUDY_B,
    seriesInstanceUid: `${STUDY_B}.1`,
    sopInstanceUid: `${STUDY_B}.1.1`,
  };
  write('b/mr1.dcm', syntheticDicom({ ...mr, transferSyntax: '1.2.840.10008.1.2' }));
  // The same MR instance again in big endian and deflated encodings: duplicates.
  write('b/mr1-be.dcm', syntheticDicom({ ...mr, transferSyntax: '1.2.840.10008.1.2.2' }));
  write('b/mr1-dfl.dcm', syntheticDicom({ ...mr, transferSyntax: '1.2.840.10008.1.2.1.99' }));
  write('junk/readme.txt', 'not dicom\n');
  write('junk/empty.dcm', Buffer.alloc(0));
  const good = syntheticDicom({ rows: 32, columns: 32 });
  write('junk/truncated.dcm', good.subarray(0, good.length - 300));
}

describe('StudyLibrary import', () => {
  it('imports a folder, groups patient/study/series and accounts for every file', async () => {
    makeCorpus();
    const events: ImportProgress[] = [];
    services.events.subscribe((e, p) => {
      if (e === 'import.progress') events.push(p as ImportProgress);
    });
    const s = await services.library.import({ paths: [join(root, 'in')] });
    expect(s.status).toBe('done');
    expect(s.offered).toBe(12);
    expect(s.imported).toBe(7);
    expect(s.duplicates).toBe(2);
    expect(s.rejected.map((r) => r.code).sort()).toEqual(['EMPTY_FILE', 'NOT_DICOM', 'TRUNCATED']);
    expect(s.imported + s.duplicates + s.rejected.length).toBe(s.offered);
    expect({ p: s.patients, st: s.studies, se: s.series, i: s.instances }).toEqual({ p: 2, st: 2, se: 3, i: 7 });
    // The studies the offered files belong to (what an OS "open file" shows), duplicates included.
    expect([...(s.studyInstanceUids ?? [])].sort()).toEqual([STUDY_A, STUDY_B].sort());
    expect(events.at(-1)?.phase).toBe('done');
    expect(events.some((e) => e.phase === 'scanning')).toBe(true);

    // Managed storage: content-addressed copies, one per imported instance, nothing else left behind.
    const stored = storedCopies(services.dataDir);
    expect(stored.length).toBe(7);

    const again = await services.library.import({ paths: [join(root, 'in')] });
    expect(again.imported).toBe(0);
    expect(again.duplicates).toBe(9);
    expect(again.instances).toBe(7);
  });

  it('lists, searches, filters and sorts studies', async () => {
    makeCorpus();
    await services.library.import({ paths: [join(root, 'in')] });
    const all = services.library.listStudies({});
    expect(all.total).toBe(2);
    expect(all.modalities).toEqual(['CT', 'MR']);
    const a = all.studies.find((x) => x.studyInstanceUid === STUDY_A)!;
    expect(a).toMatchObject({ patientName: 'Doe, Jane', patientId: 'PID0001', seriesCount: 2, instanceCount: 6, modalities: ['CT'] });

    expect(services.library.listStudies({ search: 'smith' }).studies.map((x) => x.studyInstanceUid)).toEqual([STUDY_B]);
    expect(services.library.listStudies({ search: 'xyz42' }).total).toBe(1); // accession
    expect(services.library.listStudies({ search: 'brain' }).total).toBe(1); // description
    expect(services.library.listStudies({ search: 'pid0001' }).total).toBe(1); // patient ID
    expect(services.library.listStudies({ modality: 'MR' }).total).toBe(1);
    expect(services.library.listStudies({ dateFrom: '20240101' }).studies.map((x) => x.studyInstanceUid)).toEqual([STUDY_A]);
    expect(services.library.listStudies({ dateTo: '20231231' }).studies.map((x) => x.studyInstanceUid)).toEqual([STUDY_B]);
    expect(services.library.listStudies({ sortBy: 'patientName', sortDir: 'asc' }).studies.map((x) => x.patientName)).toEqual(['Doe, Jane', 'Smith, John']);
    expect(services.library.listStudies({ sortBy: 'instanceCount', sortDir: 'asc' }).studies.map((x) => x.instanceCount)).toEqual([1, 6]);

    const detail = services.library.getStudy(STUDY_A);
    expect(detail.series.map((x) => [x.seriesNumber, x.instances])).toEqual([[1, 5], [2, 1]]);
    expect(() => services.library.getStudy('9.9.9')).toThrow(/No study/);
  });

  it('follows DICOMDIR records, matching upper-case file IDs case-insensitively', async () => {
    const uids = ['1.2.3.40.1', '1.2.3.40.2'];
    write('cd/IMAGES/IM0001', syntheticDicom({ sopInstanceUid: uids[0], studyInstanceUid: '1.2.3.40', seriesInstanceUid: '1.2.3.40.9' }));
    write('cd/IMAGES/im0002', syntheticDicom({ sopInstanceUid: uids[1], studyInstanceUid: '1.2.3.40', seriesInstanceUid: '1.2.3.40.9' }));
    const dicomdir = write(
      'cd/DICOMDIR',
      syntheticDicomdir([
        { fileId: 'IMAGES/IM0001', sopInstanceUid: uids[0]! },
        { fileId: 'IMAGES/IM0002', sopInstanceUid: uids[1]! },
        { fileId: 'IMAGES/IM0003', sopInstanceUid: '1.2.3.40.3' },
      ]),
    );
    const s = await services.library.import({ paths: [dicomdir] });
    expect(s.instances).toBe(2);
    expect(s.offered).toBe(4); // DICOMDIR + 2 found + 1 missing
    expect(s.imported).toBe(3); // 2 instances + the DICOMDIR itself
    expect(s.rejected).toHaveLength(1);
    expect(s.rejected[0]!.code).toBe('MISSING_REFERENCE');
    const again = await services.library.import({ paths: [dicomdir] });
    expect(again.imported).toBe(0);
  });

  it('ignores DICOMDIR file IDs that could leave its folder on Windows (drive or stream markers)', async () => {
    write('cd2/IMAGES/IM0001', syntheticDicom({ sopInstanceUid: '1.2.3.41.1' }));
    write('cd2/IMAGES/IM0002', syntheticDicom({ sopInstanceUid: '1.2.3.41.2' }));
    const dicomdir = write(
      'cd2/DICOMDIR',
      syntheticDicomdir([
        { fileId: 'IMAGES/IM0001', sopInstanceUid: '1.2.3.41.1' },
        { fileId: 'C:/IMAGES/IM0002', sopInstanceUid: '1.2.3.41.2' },
        { fileId: 'IMAGES/IM0002:STREAM', sopInstanceUid: '1.2.3.41.3' },
        { fileId: 'IMAGES/../../IM0002', sopInstanceUid: '1.2.3.41.4' },
      ]),
    );
    const s = await services.library.import({ paths: [dicomdir] });
    expect(s.offered).toBe(2); // the DICOMDIR and its one safe reference
    expect(s.instances).toBe(1);
    expect(s.rejected).toEqual([]);
  });

  it('imports files with missing UIDs as one derived study and series', async () => {
    for (let i = 1; i <= 4; i++) write(`nouid/${i}.dcm`, syntheticDicom({ studyInstanceUid: '', seriesInstanceUid: '', sopInstanceUid: '', instanceNumber: i, pixels: new Uint16Array(64).fill(i) }));
    const s = await services.library.import({ paths: [join(root, 'in', 'nouid')] });
    expect({ st: s.studies, se: s.series, i: s.instances }).toEqual({ st: 1, se: 1, i: 4 });
    const study = services.library.listStudies({}).studies[0]!;
    expect(study.uidDerived).toBe(true);
    expect(services.library.getStudy(study.studyInstanceUid).series[0]!.uidDerived).toBe(true);
    expect((await services.library.import({ paths: [join(root, 'in', 'nouid')] })).imported).toBe(0);
  });

  it('stops an import at the first copy the data folder cannot store, and records it as failed', async () => {
    for (let i = 0; i < 20; i++) write(`full/${i}.dcm`, syntheticDicom({ sopInstanceUid: `1.2.3.67.${i}` }));
    // Injected failure: a file where the store folder goes (root ignores read-only permissions).
    writeFileSync(join(services.dataDir, 'store'), '');
    const run = services.library.import({ paths: [join(root, 'in', 'full')] });
    await expect(run).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining(`library folder ${services.dataDir}`) });
    const last = services.library.lastImport();
    expect(last?.status).toBe('failed');
    // Only the file that hit the failure was looked at (one at a time on the calling thread).
    expect(last?.rejected.map((r) => r.code)).toEqual(['STORAGE_WRITE_FAILED']);
    expect(last?.offered).toBe(1);
    expect(services.library.totals().instances).toBe(0);
  });

  it('references files in place when asked, copying nothing', async () => {
    const p = write('ref/one.dcm', syntheticDicom({ sopInstanceUid: '1.2.3.77' }));
    const s = await services.library.import({ paths: [p], storageMode: 'reference' });
    expect(s.imported).toBe(1);
    expect(existsSync(join(services.dataDir, 'store'))).toBe(false);
    expect(services.instanceFile('1.2.3.77')).toEqual({ path: p, reference: { size: statSync(p).size, mtimeMs: Math.trunc(statSync(p).mtimeMs) } });
  });

  it('records the last import with its rejected files, and survives a reopen', async () => {
    makeCorpus();
    await services.library.import({ paths: [join(root, 'in')] });
    await services.close();
    services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0 });
    const last = services.library.lastImport();
    expect(last?.status).toBe('done');
    expect(last?.rejected.map((r) => r.code).sort()).toEqual(['EMPTY_FILE', 'NOT_DICOM', 'TRUNCATED']);
    expect(services.library.totals().instances).toBe(7);
  });

  it('reports missing paths as rejected and refuses a second concurrent import', async () => {
    makeCorpus();
    const first = services.library.import({ paths: [join(root, 'in')] });
    await expect(services.library.import({ paths: [join(root, 'in')] })).rejects.toThrow(/already running/);
    await first;
    const s = await services.library.import({ paths: [join(root, 'does-not-exist')] });
    expect(s.rejected[0]?.code).toBe('UNREADABLE');
    expect(s.offered).toBe(1);
  });

  it('cancels an import and keeps what was already imported', async () => {
    for (let i = 0; i < 60; i++) write(`many/${i}.dcm`, syntheticDicom({ sopInstanceUid: `1.2.3.88.${i}` }));
    let cancelledId = '';
    services.events.subscribe((e, p) => {
      const pr = p as ImportProgress;
      // The first 'importing' event is sent before any file is read: cancel right there.
      if (e === 'import.progress' && pr.phase === 'importing' && !cancelledId) {
        cancelledId = pr.importId;
        expect(services.library.cancelImport(pr.importId)).toBe(true);
      }
    });
    const s = await services.library.import({ paths: [join(root, 'in', 'many')] });
    expect(cancelledId).not.toBe('');
    expect(s.status).toBe('cancelled');
    expect(s.imported).toBeLessThan(60);
    expect(s.imported + s.duplicates + s.rejected.length).toBe(s.offered);
    expect(s.instances).toBe(s.imported);
    expect(services.library.lastImport()?.status).toBe('cancelled');
    expect(services.library.cancelImport('no-such-import')).toBe(false);
    // Cancelling leaves the library consistent: importing again finishes the job.
    const rest = await services.library.import({ paths: [join(root, 'in', 'many')] });
    expect(rest.instances).toBe(60);
  });
});

describe('StudyLibrary: files sharing a SOP Instance UID', () => {
  const STUDY = '1.2.826.0.1.3680043.10.1138.500';
  const UID = `${STUDY}.1.1`;
  const base = { patientName: 'Roe^Richard', patientId: 'PID0500', studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: UID };

  it('within one import: another series is a conflict, another encoding a duplicate', async () => {
    // Processed in name order on the calling thread: 1-original imports first.
    write('same/1-original.dcm', syntheticDicom(base));
    write('same/2-big-endian.dcm', syntheticDicom({ ...base, transferSyntax: '1.2.840.10008.1.2.2' }));
    const other = write('same/3-other-series.dcm', syntheticDicom({ ...base, seriesInstanceUid: `${STUDY}.2` }));
    const s = await services.library.import({ paths: [join(root, 'in', 'same')] });
    expect([s.offered, s.imported, s.duplicates, s.rejected.length]).toEqual([3, 1, 1, 1]);
    expect(s.imported + s.duplicates + s.rejected.length).toBe(s.offered);
    expect(s.rejected[0]).toMatchObject({ path: other, code: 'SOP_INSTANCE_CONFLICT' });
    expect(s.rejected[0]!.reason).toContain(UID);
    expect(s.rejected[0]!.reason).toContain(`series differs (file ${STUDY}.2, library ${STUDY}.1)`);
    expect(s.rejected[0]!.reason).toMatch(/stored instance was kept/);
    expect(s.rejected[0]!.reason).not.toMatch(/study differs|patient differs/);
    expect(s.instances).toBe(1);
    expect(services.library.listInstances(`${STUDY}.1`).instances.map((i) => i.sopInstanceUid)).toEqual([UID]);
    expect(() => services.library.listInstances(`${STUDY}.2`)).toThrow(/No series/);
    // The conflicting file's managed copy was removed; the duplicate's too.
    expect(storedCopies(services.dataDir)).toHaveLength(1);
    expect(services.library.lastImport()?.rejected.map((r) => r.code)).toEqual(['SOP_INSTANCE_CONFLICT']);
  });

  it('across imports: another study, series or patient is a conflict, another encoding a duplicate', async () => {
    write('first/original.dcm', syntheticDicom(base));
    expect((await services.library.import({ paths: [join(root, 'in', 'first')] })).imported).toBe(1);

    const deflated = write('later/a-deflated.dcm', syntheticDicom({ ...base, transferSyntax: '1.2.840.10008.1.2.1.99' }));
    const otherPatient = write('later/b-other-patient.dcm', syntheticDicom({ ...base, patientName: 'Poe^Edgar', patientId: 'PID0999' }));
    const otherStudy = write('later/c-other-study.dcm', syntheticDicom({ ...base, studyInstanceUid: `${STUDY}9`, seriesInstanceUid: `${STUDY}9.1` }));
    const s = await services.library.import({ paths: [join(root, 'in', 'later')] });
    expect([s.offered, s.imported, s.duplicates, s.rejected.length]).toEqual([3, 0, 1, 2]);
    expect(s.rejected.map((r) => [r.path, r.code])).toEqual([
      [otherPatient, 'SOP_INSTANCE_CONFLICT'],
      [otherStudy, 'SOP_INSTANCE_CONFLICT'],
    ]);
    const [patient, study] = s.rejected.map((r) => r.reason);
    expect(patient).toContain(`SOP Instance UID ${UID}`);
    expect(patient).toContain('patient differs');
    // Never the patient's name or ID, stored or offered.
    for (const secret of ['Roe', 'Richard', 'PID0500', 'Poe', 'Edgar', 'PID0999']) expect(patient).not.toContain(secret);
    expect(study).toContain(`study differs (file ${STUDY}9, library ${STUDY})`);
    expect(study).toContain(`series differs (file ${STUDY}9.1, library ${STUDY}.1)`);
    expect(study).not.toContain('patient differs');
    expect(s.rejected.map((r) => r.path)).not.toContain(deflated);
    // The stored instance is untouched; only its copy is in the store.
    expect({ p: s.patients, st: s.studies, se: s.series, i: s.instances }).toEqual({ p: 1, st: 1, se: 1, i: 1 });
    expect(services.library.listStudies({}).studies.map((x) => x.patientId)).toEqual(['PID0500']);
    expect(storedCopies(services.dataDir)).toHaveLength(1);
    expect([...(s.studyInstanceUids ?? [])]).toEqual([STUDY]);

    // Importing the same files again gives the same answer.
    const again = await services.library.import({ paths: [join(root, 'in')] });
    expect([again.offered, again.imported, again.duplicates, again.rejected.length]).toEqual([4, 0, 2, 2]);
  });

  it('the same Patient ID with an issuer on one side only is the same patient: a duplicate, not a conflict', async () => {
    write('first/modality.dcm', syntheticDicom(base));
    expect((await services.library.import({ paths: [join(root, 'in', 'first')] })).imported).toBe(1);
    // The PACS's re-export of the same instance adds an Issuer of Patient ID (0010,0021) the modality left out.
    const issuer = [{ tag: 0x00100021, vr: 'LO', value: 'HOSPITAL-A' }];
    write('pacs/with-issuer.dcm', syntheticDicom({ ...base, transferSyntax: '1.2.840.10008.1.2.2', extra: issuer }));
    const s = await services.library.import({ paths: [join(root, 'in', 'pacs')] });
    expect([s.offered, s.imported, s.duplicates, s.rejected.length]).toEqual([1, 0, 1, 0]);
    // Another Patient ID under the same UID is still a conflict, issuer or not.
    write('other/with-issuer.dcm', syntheticDicom({ ...base, patientId: 'PID0999', transferSyntax: '1.2.840.10008.1.2.2', extra: issuer }));
    const o = await services.library.import({ paths: [join(root, 'in', 'other')] });
    expect(o.rejected.map((r) => r.code)).toEqual(['SOP_INSTANCE_CONFLICT']);
    expect(o.rejected[0]!.reason).toContain('patient differs');
  });

  it('importing the same files again is all duplicates, even where the library files an instance under another patient than its file says', async () => {
    // Two files of one study that disagree on the patient: the study is filed under the first one's patient.
    write('mixed/1.dcm', syntheticDicom({ ...base, sopInstanceUid: `${STUDY}.1.1` }));
    write('mixed/2.dcm', syntheticDicom({ ...base, sopInstanceUid: `${STUDY}.1.2`, patientId: 'PID0501' }));
    const first = await services.library.import({ paths: [join(root, 'in', 'mixed')] });
    expect([first.imported, first.rejected.length]).toEqual([2, 0]);
    for (const storageMode of ['copy', 'reference'] as const) {
      const again = await services.library.import({ paths: [join(root, 'in', 'mixed')], storageMode });
      expect([again.imported, again.duplicates, again.rejected]).toEqual([0, 2, []]);
    }
  });

  describe('an instance whose file names another patient than its study was filed under', () => {
    const SECOND = `${STUDY}.1.2`;
    // Two files of one study that disagree on the patient: the study is filed under PID0500, the second file says PID0501.
    const first = { ...base, sopInstanceUid: UID };
    const second = { ...base, sopInstanceUid: SECOND, instanceNumber: 2, patientId: 'PID0501' };
    // A private block (creator (0029,0010), one element) after the image pixel module's attributes, in tag order.
    const privateElement = [
      { tag: 0x00290010, vr: 'LO', value: 'VIGIL TEST' },
      { tag: 0x00291010, vr: 'LO', value: 'RE-EXPORTED' },
    ];

    it('a re-encoded copy of it is a duplicate; another patient under its UID, the study\'s own included, is a conflict', async () => {
      write('mixed/1.dcm', syntheticDicom(first));
      write('mixed/2.dcm', syntheticDicom(second));
      const imported = await services.library.import({ paths: [join(root, 'in', 'mixed')] });
      // Both patients get a row; the study belongs to the first.
      expect([imported.imported, imported.rejected.length, imported.patients, imported.studies]).toEqual([2, 0, 2, 1]);
      expect(services.library.listStudies({}).studies.map((x) => x.patientId)).toEqual(['PID0500']);

      // Other bytes than the stored file (so not "the very file again"), the same instance and patient.
      write('reencoded/2-big-endian.dcm', syntheticDicom({ ...second, transferSyntax: '1.2.840.10008.1.2.2' }));
      write('reencoded/2-private.dcm', syntheticDicom({ ...second, extra: privateElement }));
      const copies = await services.library.import({ paths: [join(root, 'in', 'reencoded')] });
      expect([copies.offered, copies.imported, copies.duplicates, copies.rejected]).toEqual([2, 0, 2, []]);
      expect([...(copies.studyInstanceUids ?? [])]).toEqual([STUDY]);

      // The UID under the study's patient (the second file never said PID0500) or under a third: not this instance.
      const studyPatient = write('conflicts/2-study-patient.dcm', syntheticDicom({ ...second, patientId: 'PID0500' }));
      const third = write('conflicts/2-third-patient.dcm', syntheticDicom({ ...second, patientId: 'PID0999' }));
      const conflicts = await services.library.import({ paths: [join(root, 'in', 'conflicts')] });
      expect([conflicts.imported, conflicts.duplicates]).toEqual([0, 0]);
      expect(conflicts.rejected.map((r) => [r.path, r.code])).toEqual([
        [studyPatient, 'SOP_INSTANCE_CONFLICT'],
        [third, 'SOP_INSTANCE_CONFLICT'],
      ]);
      for (const r of conflicts.rejected) expect(r.reason).toContain('patient differs');
      expect({ i: conflicts.instances, p: conflicts.patients }).toEqual({ i: 2, p: 2 });
    });

    it('keeps its own patient when a referenced original is re-encoded in place or replaced by a managed copy', async () => {
      write('mixed/1.dcm', syntheticDicom(first));
      const original = write('mixed/2.dcm', syntheticDicom(second));
      expect((await services.library.import({ paths: [join(root, 'in', 'mixed')], storageMode: 'reference' })).imported).toBe(2);
      const index = services.library.studyIndex;
      const ownKey = index.storedInstance(SECOND)!.patientKey;
      expect(ownKey).not.toBe(index.storedInstance(UID)!.patientKey);

      // The referenced original re-saved in another encoding: recorded again (refreshReference), not a conflict.
      writeFileSync(original, syntheticDicom({ ...second, transferSyntax: '1.2.840.10008.1.2.2', extra: privateElement }));
      const refreshed = await services.library.import({ paths: [original], storageMode: 'reference' });
      expect([refreshed.imported, refreshed.duplicates, refreshed.rejected]).toEqual([0, 1, []]);
      expect(index.storedInstance(SECOND)).toMatchObject({ storage: 'reference', size: statSync(original).size, patientKey: ownKey });
      expect(services.library.listInstances(`${STUDY}.1`).instances.find((i) => i.sopInstanceUid === SECOND)!.transferSyntaxUid).toBe('1.2.840.10008.1.2.2');

      // A copy in yet another encoding: the row moves to the managed copy (switchToManagedCopy), still this patient's.
      write('copy/2-deflated.dcm', syntheticDicom({ ...second, transferSyntax: '1.2.840.10008.1.2.1.99' }));
      const copied = await services.library.import({ paths: [join(root, 'in', 'copy')], storageMode: 'copy' });
      expect([copied.imported, copied.duplicates, copied.rejected]).toEqual([0, 1, []]);
      expect(index.storedInstance(SECOND)).toMatchObject({ storage: 'copy', patientKey: ownKey });

      // And the next re-encoding is compared with that patient still.
      write('later/2-explicit.dcm', syntheticDicom(second));
      const later = await services.library.import({ paths: [join(root, 'in', 'later')] });
      expect([later.imported, later.duplicates, later.rejected]).toEqual([0, 1, []]);
    });
  });
});

describe('StudyLibrary: an import whose index write fails', () => {
  const STUDY = '1.2.826.0.1.3680043.10.1138.700';
  const instance = (n: number) => ({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${n}`, instanceNumber: n });

  /** A database error on inserting this instance's row (as a full disk or a corrupt page would give), through a second connection. */
  function failInsertOf(sopInstanceUid: string): void {
    const db = new Database(join(services.dataDir, 'library.sqlite'));
    try {
      db.exec(`CREATE TRIGGER injected_failure BEFORE INSERT ON instances WHEN NEW.sop_instance_uid = '${sopInstanceUid}' BEGIN SELECT RAISE(ABORT, 'injected index failure'); END`);
    } finally {
      db.close();
    }
  }

  it('removes the managed copies its rolled-back rows would have referenced, and only those', async () => {
    const kept = write('before/1.dcm', syntheticDicom(instance(1)));
    expect((await services.library.import({ paths: [kept] })).imported).toBe(1);
    const before = storedCopies(services.dataDir);
    expect(before).toHaveLength(1);

    // One batch: a new instance (its copy created by this import), the stored one again under another
    // name (its copy existed before: never removed), and the instance whose row cannot be written.
    write('failing/a-new.dcm', syntheticDicom(instance(2)));
    write('failing/b-again.dcm', readFileSync(kept));
    write('failing/c-fails.dcm', syntheticDicom(instance(3)));
    failInsertOf(`${STUDY}.1.3`);
    await expect(services.library.import({ paths: [join(root, 'in', 'failing')] })).rejects.toThrow(/injected index failure/);

    expect(services.library.lastImport()).toMatchObject({ status: 'failed', imported: 0, duplicates: 0 });
    expect(services.library.totals().instances).toBe(1);
    // Nothing in the store that no row references; the earlier copy and every source are still there.
    expect(storedCopies(services.dataDir)).toEqual(before);
    expect(readFileSync(services.instanceFile(`${STUDY}.1.1`)!.path)).toEqual(readFileSync(kept));
    for (const name of ['a-new.dcm', 'b-again.dcm', 'c-fails.dcm']) expect(existsSync(join(root, 'in', 'failing', name))).toBe(true);
  });

  it('never removes a referenced original', async () => {
    const original = write('ref/1.dcm', syntheticDicom(instance(4)));
    failInsertOf(`${STUDY}.1.4`);
    await expect(services.library.import({ paths: [original], storageMode: 'reference' })).rejects.toThrow(/injected index failure/);
    expect(readFileSync(original)).toEqual(syntheticDicom(instance(4)));
    expect(existsSync(join(services.dataDir, 'store'))).toBe(false);
  });
});

describe('StudyLibrary: a study imported by reference, then copied', () => {
  const STUDY = '1.2.826.0.1.3680043.10.1138.600';
  const spec = (i: number) => ({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${i}`, instanceNumber: i });

  it('moves the instances to the managed copies, which outlive the removable media', async () => {
    const media = mkdtempSync(join(tmpdir(), 'vigil-media-'));
    try {
      const bytes = [1, 2].map((i) => syntheticDicom(spec(i)));
      bytes.forEach((b, k) => writeFileSync(join(media, `IM${k + 1}`), b));
      const ref = await services.library.import({ paths: [media], storageMode: 'reference' });
      expect(ref.imported).toBe(2);
      expect(services.instanceFile(`${STUDY}.1.1`)?.path).toBe(join(media, 'IM1'));

      const copied = await services.library.import({ paths: [media], storageMode: 'copy' });
      expect([copied.offered, copied.imported, copied.duplicates, copied.rejected]).toEqual([2, 0, 2, []]);
      expect(copied.instances).toBe(2);
      rmSync(media, { recursive: true, force: true });
      for (const k of [0, 1]) {
        const file = services.instanceFile(`${STUDY}.1.${k + 1}`)!.path;
        expect(services.instanceFile(`${STUDY}.1.${k + 1}`)!.reference).toBeNull();
        expect(file.startsWith(join(services.dataDir, 'store'))).toBe(true);
        expect(readFileSync(file)).toEqual(bytes[k]);
      }
      // Deleting the study removes the managed copies it now owns.
      expect(services.library.deleteStudy(STUDY)).toBe(true);
      expect(storedCopies(services.dataDir)).toEqual([]);
    } finally {
      rmSync(media, { recursive: true, force: true });
    }
  });

  it('takes the copy in its own encoding, and never goes back from a copy to a reference', async () => {
    const cd = write('cd/IM1', syntheticDicom({ ...spec(1), transferSyntax: '1.2.840.10008.1.2.2' }));
    await services.library.import({ paths: [cd], storageMode: 'reference' });
    expect(services.library.listInstances(`${STUDY}.1`).instances[0]!.transferSyntaxUid).toBe('1.2.840.10008.1.2.2');

    const le = syntheticDicom(spec(1));
    const copy = write('disk/im1.dcm', le);
    expect((await services.library.import({ paths: [copy], storageMode: 'copy' })).duplicates).toBe(1);
    const stored = services.instanceFile(`${STUDY}.1.1`)!.path;
    expect(readFileSync(stored)).toEqual(le);
    expect(services.library.listInstances(`${STUDY}.1`).instances[0]!.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');

    expect((await services.library.import({ paths: [cd], storageMode: 'reference' })).duplicates).toBe(1);
    expect(services.instanceFile(`${STUDY}.1.1`)).toEqual({ path: stored, reference: null });
    expect(services.library.listInstances(`${STUDY}.1`).instances[0]!.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
  });
});

describe('StudyLibrary.listInstances', () => {
  it('orders slices along the normal, not by file or instance number', async () => {
    const z = [30, 10, 20, 0];
    z.forEach((pos, k) =>
      write(`pos/${k}.dcm`, syntheticDicom({
        sopInstanceUid: `1.2.3.55.${k}`,
        studyInstanceUid: '1.2.3.55',
        seriesInstanceUid: '1.2.3.55.1',
        instanceNumber: 10 - k,
        extra: [
          { tag: 0x00200032, vr: 'DS', value: `-100\\-100\\${pos}` },
          { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
        ],
      })),
    );
    await services.library.import({ paths: [join(root, 'in', 'pos')] });
    const r = await services.router.dispatch('library.listInstances', { seriesInstanceUid: '1.2.3.55.1' });
    expect(r.ok).toBe(true);
    const list = (r as { ok: true; value: import('../../contract/ipc-contract').SeriesInstances }).value;
    expect(list.studyInstanceUid).toBe('1.2.3.55');
    expect(list.instances.map((i) => i.imagePositionPatient.split('\\')[2])).toEqual(['0', '10', '20', '30']);
    expect(list.instances[0]).toMatchObject({ frames: 1, rows: 8, columns: 8, hasPixelData: true, pixelSpacing: '0.5\\0.5' });
    const missing = await services.router.dispatch('library.listInstances', { seriesInstanceUid: '9.9' });
    expect(missing.ok).toBe(false);
  });
});

describe('IpcRouter over the services', () => {
  it('validates payloads before any work and returns typed errors', async () => {
    const bad = await services.router.dispatch('library.import', { paths: 'not-an-array' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.code).toBe('BAD_REQUEST');
    const extra = await services.router.dispatch('library.listStudies', { search: 'x', evil: true });
    expect(extra.ok).toBe(false);
    const unknown = await services.router.dispatch('fs.readFile', { path: '/etc/passwd' });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.code).toBe('UNKNOWN_CHANNEL');
    const notFound = await services.router.dispatch('library.getStudy', { studyInstanceUid: '1.2.3' });
    expect(notFound).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('1.2.3') } });
    const dialog = await services.router.dispatch('dialog.chooseImportSources', { kind: 'folder' });
    expect(dialog.ok).toBe(false);
    if (!dialog.ok) expect(dialog.error.code).toBe('UNAVAILABLE');
    const info = await services.router.dispatch('app.info', {});
    expect(info.ok && (info.value as { host: string }).host).toBe('cli');
  });

  it('never leaks a stack trace for an internal error', async () => {
    const logs: string[] = [];
    const { IpcRouter } = await import('../../electron/services/ipc-router');
    const throwing = new Proxy({}, { get: () => () => { throw new Error('secret internals at /home/x'); } });
    const router = new IpcRouter(throwing as never, (m) => logs.push(m));
    const r = await router.dispatch('app.info', {});
    expect(r).toEqual({ ok: false, error: { code: 'INTERNAL', message: expect.not.stringContaining('secret') } });
    expect(logs.join()).toContain('secret internals');
  });
});
