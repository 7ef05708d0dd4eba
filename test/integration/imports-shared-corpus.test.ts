/**
 * Imports the real third-party corpus (../shared/data) with the built CLI and checks
 * the library against an independent oracle (test/integration/oracle/corpus_oracle.py,
 * pydicom), which classifies every file and computes patients / studies / series /
 * instances with the rules Vigil documents. Failures list the files concerned.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureBuilt,
  importCli,
  importCounts,
  type ImportJson,
  instanceRows,
  type InstanceRow,
  openLibrary,
  type Oracle,
  PYTHON,
  pythonHasPydicom,
  repoRoot,
  runOracle,
  studiesCli,
  studyTree,
  walkFiles,
} from './helpers';

// VIGIL_SHARED_DATA overrides the location (e.g. to check the skip path); default ../shared/data next to the repo.
const SHARED = resolve(repoRoot, process.env.VIGIL_SHARED_DATA ?? '../shared/data');
const present = existsSync(SHARED);
const pydicomOk = present && pythonHasPydicom();

if (!present) {
  console.warn(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      `!!! SKIPPED: the real-data import test (imports-shared-corpus.test.ts).`,
      `!!! ${SHARED} does not exist, so Vigil was NOT checked against real DICOM.`,
      '!!! Put the shared corpus next to the repository (../shared/data) to run it.',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
    ].join('\n'),
  );
} else if (!pydicomOk) {
  console.warn(
    `\n!!! imports-shared-corpus: ${PYTHON} cannot import pydicom; the oracle comparisons are SKIPPED ` +
      '(the import bookkeeping checks still run). Install python3-pydicom to run them.\n',
  );
}

const rel = (p: string) => (p.startsWith(`${SHARED}/`) ? p.slice(SHARED.length + 1) : p);
const list = (title: string, items: string[]) => (items.length ? `${title} (${items.length}):\n  ${items.join('\n  ')}` : '');

const d = present ? describe : describe.skip;

d('import of the shared real-data corpus (../shared/data)', () => {
  let work: string;
  let dataDir: string;
  let first: ImportJson;
  let firstCode: number | null;
  let files: string[];
  let oracle: Oracle | null = null;
  let rows: InstanceRow[];

  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'vigil-corpus-'));
    dataDir = join(work, 'library');
    files = walkFiles(SHARED);
    const run = importCli([SHARED], dataDir);
    first = run.json;
    firstCode = run.code;
    if (pydicomOk) oracle = runOracle([SHARED]);
    const db = openLibrary(dataDir);
    try {
      rows = instanceRows(db);
    } finally {
      db.close();
    }
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('accounts for every offered file: imported + duplicates + rejected = offered = files walked + missing DICOMDIR references', () => {
    expect(firstCode).toBe(0);
    expect(first.status).toBe('done');
    expect(first.imported + first.duplicates + first.rejected.length).toBe(first.offered);
    const missing = first.rejected.filter((r) => r.code === 'MISSING_REFERENCE');
    expect(first.offered).toBe(files.length + missing.length);
    const noReason = first.rejected.filter((r) => typeof r.reason !== 'string' || r.reason.trim() === '');
    expect(noReason.map((r) => r.path)).toEqual([]);
    if (oracle) {
      expect(oracle.expected.walkedFiles).toBe(files.length);
      expect(missing.map((r) => r.path).sort()).toEqual(oracle.missingReferences.map((m) => m.path).sort());
    }
  });

  it.skipIf(!pydicomOk)('matches the pydicom oracle on every count', () => {
    const o = oracle!;
    const got = importCounts(first);
    const { walkedFiles: _w, ...want } = o.expected;
    // Duplicates whose files disagree on study/series/patient make the counts order-dependent.
    expect(o.duplicateConflicts, 'same SOP Instance UID with different study/series/patient').toEqual([]);
    expect(got).toEqual(want);
  });

  it.skipIf(!pydicomOk)('classifies every file as the oracle does (instance / DICOMDIR / rejected)', () => {
    const o = oracle!;
    const rejected = new Map(first.rejected.map((r) => [r.path, r]));
    const accepted = o.files.filter((f) => f.kind === 'instance' || f.kind === 'dicomdir');
    const refused = o.files.filter((f) => f.kind === 'unreadable' || f.kind === 'not-instance');
    const oracleRejected = new Set([...refused.map((f) => f.path), ...o.missingReferences.map((m) => m.path)]);

    const validButRejected = accepted
      .filter((f) => rejected.has(f.path))
      .map((f) => `${rel(f.path)}: pydicom reads it as a ${f.kind}; Vigil rejected it (${rejected.get(f.path)!.code}: ${rejected.get(f.path)!.reason})`);
    const rejectedButValid = first.rejected
      .filter((r) => !oracleRejected.has(r.path))
      .map((r) => `${rel(r.path)}: Vigil rejected it (${r.code}: ${r.reason}); the oracle does not`);
    const invalidButAccepted = refused
      .filter((f) => !rejected.has(f.path))
      .map((f) => `${rel(f.path)}: oracle says ${f.kind} (${f.reason}); Vigil imported it or counted it as a duplicate`);

    expect(
      [list('valid per pydicom but rejected by Vigil', validButRejected), list('rejected by Vigil, valid per oracle', rejectedButValid), list('invalid per oracle but accepted by Vigil', invalidButAccepted)]
        .filter(Boolean)
        .join('\n'),
    ).toBe('');
  });

  it.skipIf(!pydicomOk)('files every oracle instance under the same SOP / series / study UIDs, and studies under the same patient', () => {
    const o = oracle!;
    const bySop = new Map(rows.map((r) => [r.sop_instance_uid, r]));
    const problems: string[] = [];
    for (const f of o.files) {
      if (f.kind !== 'instance') continue;
      const row = bySop.get(f.sop!);
      if (!row) {
        problems.push(`${rel(f.path)}: no instance ${f.sop} in the library${f.derived?.instance ? ' (derived UID)' : ''}`);
        continue;
      }
      if (row.series_uid !== f.series) problems.push(`${rel(f.path)}: series ${row.series_uid}, oracle ${f.series}${f.derived?.series ? ' (derived)' : ''}`);
      if (row.study_uid !== f.study) problems.push(`${rel(f.path)}: study ${row.study_uid}, oracle ${f.study}${f.derived?.study ? ' (derived)' : ''}`);
      if (Boolean(row.uid_derived) !== f.derived!.instance) problems.push(`${rel(f.path)}: instance uid_derived ${row.uid_derived}, oracle ${f.derived!.instance}`);
    }
    // The patient a study hangs under, when all its oracle instances agree on the patient.
    const studyKeys = new Map<string, Set<string>>();
    for (const f of o.files) {
      if (f.kind !== 'instance') continue;
      const set = studyKeys.get(f.study!) ?? new Set<string>();
      set.add(f.patientKey!.join('\0'));
      studyKeys.set(f.study!, set);
    }
    const vigilStudyKey = new Map(rows.map((r) => [r.study_uid, r.patient_key]));
    for (const [study, keys] of studyKeys) {
      if (keys.size !== 1) continue;
      const want = [...keys][0]!;
      const got = vigilStudyKey.get(study);
      if (got !== want) problems.push(`study ${study}: patient key ${JSON.stringify(got)}, oracle ${JSON.stringify(want)}`);
    }
    expect(problems.join('\n')).toBe('');
  });

  it.skipIf(!pydicomOk)('lists the same studies, series per study and instances per series (vigil studies --json)', () => {
    const o = oracle!;
    const run = studiesCli(dataDir);
    expect(run.code).toBe(0);
    const tree = studyTree(run.json);
    const problems: string[] = [];
    for (const [study, series] of Object.entries(o.studies)) {
      const got = tree[study];
      if (!got) {
        problems.push(`study ${study}: missing from Vigil`);
        continue;
      }
      if (Object.keys(got).length !== Object.keys(series).length) {
        problems.push(`study ${study}: ${Object.keys(got).length} series, oracle ${Object.keys(series).length}`);
      }
      for (const [uid, n] of Object.entries(series)) {
        if (got[uid] !== n) problems.push(`study ${study} series ${uid}: ${got[uid] ?? 'missing'} instances, oracle ${n}`);
      }
    }
    for (const study of Object.keys(tree)) if (!o.studies[study]) problems.push(`study ${study}: in Vigil, not in the oracle`);
    expect(problems.join('\n')).toBe('');
  });

  it('imports nothing new the second time, and the library is unchanged', () => {
    const before = studiesCli(dataDir).json;
    const again = importCli([SHARED], dataDir);
    expect(again.code).toBe(0);
    expect(again.json.imported).toBe(0);
    expect(again.json.offered).toBe(first.offered);
    expect(again.json.rejected.length).toBe(first.rejected.length);
    expect(again.json.duplicates).toBe(first.imported + first.duplicates);
    expect({ p: again.json.patients, st: again.json.studies, se: again.json.series, i: again.json.instances }).toEqual({
      p: first.patients,
      st: first.studies,
      se: first.series,
      i: first.instances,
    });
    expect(studyTree(studiesCli(dataDir).json)).toEqual(studyTree(before));
  });

  it.skipIf(!pydicomOk)("stores each patient name as pydicom decodes it (charset_files and hostile-text)", () => {
    const o = oracle!;
    const targets = o.files.filter(
      (f) => f.kind === 'instance' && (f.path.includes('/dicom-pydicom/pydicom/charset_files/') || f.path.includes('/hostile-text/')),
    );
    expect(targets.length).toBeGreaterThanOrEqual(20);
    // One library per file: files sharing a SOP Instance UID or patient would otherwise be merged.
    const problems: string[] = [];
    for (const f of targets) {
      const dir = join(work, 'names', basename(f.path));
      const run = importCli([f.path], dir);
      expect(run.code, rel(f.path)).toBe(0);
      const db = openLibrary(dir);
      let r: InstanceRow[];
      try {
        r = instanceRows(db);
      } finally {
        db.close();
      }
      if (r.length !== 1) {
        problems.push(`${rel(f.path)}: ${r.length} instances imported, expected 1`);
        continue;
      }
      const got = r[0]!.name_raw;
      const want = f.patientName ?? '';
      if (got !== want) problems.push(`${rel(f.path)}: Vigil name_raw ${JSON.stringify(got)}, pydicom ${JSON.stringify(want)}`);
    }
    expect(problems.join('\n')).toBe('');
  });
});
