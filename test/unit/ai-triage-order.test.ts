/**
 * The worklist's AI order (AI_TRIAGE_ORDER in study-index.ts): flagged and not
 * reviewed, flagged and reviewed, queued/running, negative, not analysed,
 * failed, never analysed; newest study first within a group. States are
 * written straight into the AI tables of a real library index, so every group
 * (including a job that is still queued or running) is present at once.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiTriage, type Finding, needsReview } from '../../contract/ipc-contract';
import { AI_TRIAGE_ORDER, StudyIndex } from '../../electron/services/library/study-index';
import { openVigilServices } from '../../electron/services/vigil-services';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const uid = (n: number) => `1.2.826.0.1.3680043.10.1138.77${n}`;
/** One study per state; the date orders studies within a group. */
const STUDIES = {
  positiveOld: { uid: uid(1), date: '20240101' },
  positiveNew: { uid: uid(2), date: '20240601' },
  positiveWhileRerun: { uid: uid(3), date: '20230101' },
  reviewed: { uid: uid(4), date: '20241201' },
  running: { uid: uid(5), date: '20240301' },
  queuedAfterNegative: { uid: uid(6), date: '20240401' },
  negative: { uid: uid(7), date: '20240201' },
  positiveThenNegative: { uid: uid(8), date: '20240202' },
  notAnalysed: { uid: uid(9), date: '20241101' },
  failed: { uid: uid(10), date: '20241102' },
  never: { uid: uid(11), date: '20241231' },
} as const;
type StudyKey = keyof typeof STUDIES;

const flagged: Finding = { label: 'pneumonia', score: 0.9, positive: true, threshold: 0.5 };
const normalLabel: Finding = { label: 'normal', score: 0.8, positive: true, threshold: 0.4, normal: true };
const belowThreshold: Finding = { label: 'pneumonia', score: 0.2, positive: false, threshold: 0.5 };
const anatomy: Finding = { label: 'White Matter', score: 0.3, positive: false, measurement: true, voxels: 100, volumeMl: 12 };

let root: string;
let index: StudyIndex;

function addResult(key: StudyKey, status: 'done' | 'not-analysed' | 'failed', findings: Finding[], model = 'm1'): number {
  const study = STUDIES[key].uid;
  const info = index.db
    .prepare(
      `INSERT INTO ai_results (job_id, study_uid, series_uid, model_id, model_version, model_sha256, ort_version, provider, provider_note, status, reason, timings, input_uids, findings, outputs, created_at)
       VALUES (?, ?, ?, ?, '1', 'x', '1', 'cpu', NULL, ?, NULL, '{}', '[]', ?, '{"outputs":[]}', '2024-01-01T00:00:00Z')`,
    )
    .run(`job-${key}-${model}`, study, `${study}.1`, model, status, JSON.stringify(findings));
  return Number(info.lastInsertRowid);
}

let seq = 0;
function addJob(key: StudyKey, status: 'pending' | 'running', model = 'm2'): void {
  const study = STUDIES[key].uid;
  index.db
    .prepare("INSERT INTO ai_jobs (id, study_uid, series_uid, model_id, status, seq, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'now', 'now')")
    .run(`queued-${key}-${model}`, study, `${study}.1`, model, status, ++seq);
}

function review(resultId: number, key: StudyKey, label: string, decision: 'accepted' | 'rejected' | 'corrected'): void {
  index.db
    .prepare("INSERT INTO ai_reviews (result_id, study_uid, finding_label, decision, corrected_label, note, reviewer, reviewed_at) VALUES (?, ?, ?, ?, NULL, NULL, 'R', 'now')")
    .run(resultId, STUDIES[key].uid, label, decision);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vigil-triage-'));
  for (const [key, s] of Object.entries(STUDIES)) {
    const dir = join(root, 'in', key);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '1.dcm'), syntheticDicom({ studyInstanceUid: s.uid, seriesInstanceUid: `${s.uid}.1`, sopInstanceUid: `${s.uid}.1.1`, studyDate: s.date, patientName: key }));
  }
  const services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, inferenceThreads: 1 });
  await services.library.import({ paths: [join(root, 'in')] });
  await services.close();
  // The index alone (no inference queue running): queued and running jobs stay as written.
  index = new StudyIndex(join(root, 'data', 'library.sqlite'));

  addResult('positiveOld', 'done', [normalLabel, flagged]);
  addResult('positiveNew', 'done', [flagged]);
  addResult('positiveWhileRerun', 'done', [flagged]);
  addJob('positiveWhileRerun', 'running');
  const reviewed = addResult('reviewed', 'done', [flagged, { ...flagged, label: 'effusion' }]);
  review(reviewed, 'reviewed', 'pneumonia', 'accepted');
  review(reviewed, 'reviewed', 'effusion', 'accepted');
  review(reviewed, 'reviewed', 'effusion', 'rejected'); // the latest decision counts
  addJob('running', 'running');
  addResult('queuedAfterNegative', 'done', [belowThreshold]);
  addJob('queuedAfterNegative', 'pending');
  // A "nothing found" label and an anatomy volume are not findings to review: negative.
  addResult('negative', 'done', [normalLabel, belowThreshold]);
  addResult('negative', 'done', [anatomy], 'seg');
  // The latest result per series and model counts: a positive run replaced by a negative one is negative.
  const replaced = addResult('positiveThenNegative', 'done', [flagged]);
  review(replaced, 'positiveThenNegative', 'pneumonia', 'accepted');
  addResult('positiveThenNegative', 'done', [belowThreshold]);
  addResult('notAnalysed', 'not-analysed', []);
  addResult('failed', 'failed', []);
});

afterAll(() => {
  index?.close();
  rmSync(root, { recursive: true, force: true });
});

const order = (q: Parameters<StudyIndex['listStudies']>[0]): StudyKey[] =>
  index.listStudies(q).studies.map((s) => (Object.keys(STUDIES) as StudyKey[]).find((k) => STUDIES[k].uid === s.studyInstanceUid)!);

describe('AI triage order of the worklist', () => {
  it('is one table, in the contract\'s group order, ending in a catch-all', () => {
    expect(AI_TRIAGE_ORDER.map((g) => g.group)).toEqual(AiTriage.options);
    expect(AI_TRIAGE_ORDER.map((g) => g.group)).toEqual(['positive-unreviewed', 'positive-reviewed', 'in-progress', 'negative', 'not-analysed', 'failed', 'none']);
    expect(AI_TRIAGE_ORDER.at(-1)?.when).toBe('1');
  });

  it('sorts by AI group, then newest study first', () => {
    expect(order({ sortBy: 'aiPriority', sortDir: 'desc' })).toEqual([
      'positiveNew',
      'positiveOld',
      'positiveWhileRerun',
      'reviewed',
      'queuedAfterNegative',
      'running',
      'positiveThenNegative',
      'negative',
      'notAnalysed',
      'failed',
      'never',
    ]);
    // Ascending reverses the groups; within a group the newest study still comes first.
    expect(order({ sortBy: 'aiPriority', sortDir: 'asc' }).slice(0, 4)).toEqual(['never', 'failed', 'notAnalysed', 'positiveThenNegative']);
  });

  it('reports each study\'s group, status and review counts', () => {
    const ai = Object.fromEntries(index.listStudies({}).studies.map((s) => [s.studyInstanceUid, s.ai]));
    const of = (k: StudyKey) => ai[STUDIES[k].uid];
    expect(of('positiveOld')).toMatchObject({ triage: 'positive-unreviewed', status: 'positive', priority: true, unreviewedPositive: true, toReview: 1, accepted: 0, active: false });
    expect(of('positiveWhileRerun')).toMatchObject({ triage: 'positive-unreviewed', status: 'positive', active: true });
    expect(of('reviewed')).toMatchObject({ triage: 'positive-reviewed', status: 'positive', priority: true, unreviewedPositive: false, toReview: 2, accepted: 1, rejected: 1, corrected: 0 });
    expect(of('running')).toMatchObject({ triage: 'in-progress', status: 'running', active: true, priority: false });
    expect(of('queuedAfterNegative')).toMatchObject({ triage: 'in-progress', status: 'pending', active: true });
    expect(of('negative')).toMatchObject({ triage: 'negative', status: 'done', priority: false, toReview: 0 });
    expect(of('positiveThenNegative')).toMatchObject({ triage: 'negative', status: 'done', toReview: 0, accepted: 0 });
    expect(of('notAnalysed')).toMatchObject({ triage: 'not-analysed', status: 'not-analysed' });
    expect(of('failed')).toMatchObject({ triage: 'failed', status: 'failed', failedRuns: 1 });
    expect(of('never')).toMatchObject({ triage: 'none', status: null, active: false, failedRuns: 0 });
  });

  it('filters flagged studies and flagged-not-reviewed ones, and counts both whatever the AI filter', () => {
    expect(order({ aiFilter: 'positive-unreviewed' })).toEqual(['positiveNew', 'positiveOld', 'positiveWhileRerun']);
    expect(order({ aiFilter: 'positive' })).toEqual(['reviewed', 'positiveNew', 'positiveOld', 'positiveWhileRerun']);
    const filtered = index.listStudies({ aiFilter: 'positive-unreviewed' });
    expect(filtered.total).toBe(3);
    expect(filtered.aiCounts).toEqual({ flagged: 4, unreviewed: 3 });
    // Counted from the rows when they are the whole list, else by a query of their own: the same numbers.
    expect(index.listStudies({}).aiCounts).toEqual({ flagged: 4, unreviewed: 3 });
    expect(index.listStudies({ limit: 2 })).toMatchObject({ total: 11, aiCounts: { flagged: 4, unreviewed: 3 } });
    // The counts follow the other filters (here: a date range holding two flagged studies, one reviewed).
    const ranged = index.listStudies({ dateFrom: '20240501', dateTo: '20241231' });
    expect(ranged.aiCounts).toEqual({ flagged: 2, unreviewed: 1 });
    expect(index.listStudies({ dateFrom: '20240501', aiFilter: 'positive' }).total).toBe(2);
  });

  it('needsReview (the contract) agrees with the SQL: only positive, non-normal, non-measurement findings', () => {
    expect([flagged, normalLabel, belowThreshold, anatomy].map(needsReview)).toEqual([true, false, false, false]);
  });
});
