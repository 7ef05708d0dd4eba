/**
 * `vigil import` runs on the library service alone; these check what that path
 * must still do like the app: queue AI analysis after the import when the library
 * is set to, refuse a malformed request as a usage error, and reject a file that
 * is not a regular file (a named pipe) without waiting on it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVigilServices } from '../../electron/services/vigil-services';
import { syntheticDicom, testUid } from '../fixtures/synthetic-dicom';
import { ensureBuilt, importCli, openLibrary, runCliText } from './helpers';

describe('vigil import', () => {
  let work: string;
  let input: string;
  const series = testUid();

  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'vigil-cli-import-'));
    input = join(work, 'in');
    mkdirSync(input);
    const study = testUid();
    for (let i = 1; i <= 3; i++) writeFileSync(join(input, `ct${i}.dcm`), syntheticDicom({ studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: i }));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('queues the AI verdict for every imported series when the library auto-runs AI on import', async () => {
    const dataDir = join(work, 'auto-run');
    const services = await openVigilServices({ dataDir, host: 'cli', importWorkers: 0, inferenceWorkerUrl: null, startAnalysisQueue: false });
    try {
      services.analysis.setAutoRunOnImport(true);
    } finally {
      await services.close();
    }
    const run = importCli([input], dataDir);
    expect(run.code).toBe(0);
    expect(run.json.imported).toBe(3);
    const db = openLibrary(dataDir);
    try {
      const jobs = db.prepare<[], { series_uid: string; model_id: string; status: string }>('SELECT series_uid, model_id, status FROM ai_jobs ORDER BY model_id').all();
      // The shipped models read chest radiographs and breast ultrasound: a CT series is recorded as not analysed by each.
      expect(jobs).toEqual([
        { series_uid: series, model_id: 'cxr-pneumonia', status: 'not-analysed' },
        { series_uid: series, model_id: 'us-breast-malignancy', status: 'not-analysed' },
      ]);
    } finally {
      db.close();
    }
  });

  it('queues nothing when the library does not auto-run AI', () => {
    const dataDir = join(work, 'no-auto-run');
    const run = importCli([input], dataDir);
    expect(run.code).toBe(0);
    expect(run.json.instances).toBe(3);
    const db = openLibrary(dataDir);
    try {
      expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ai_jobs').get()?.n).toBe(0);
    } finally {
      db.close();
    }
  });

  it('refuses an empty path as a usage error', () => {
    const r = runCliText(['import', '', '--data-dir', join(work, 'empty-path'), '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('an import path is empty');
    expect(r.stdout).toBe('');
  });

  it.skipIf(process.platform === 'win32')('rejects a named pipe as not a regular file instead of waiting for a writer', () => {
    const fifo = join(work, 'pipe.dcm');
    const made = spawnSync('mkfifo', [fifo]);
    expect(made.status).toBe(0);
    // No one ever writes to the pipe: a blocking open would hang the import (and this test, until its timeout).
    const run = importCli([fifo, input], join(work, 'with-pipe'), { reference: true });
    expect(run.code).toBe(0);
    expect(run.json.rejected).toEqual([{ path: fifo, code: 'NOT_A_FILE', reason: 'not a regular file' }]);
    expect(run.json.imported).toBe(3);
    expect(run.json.offered).toBe(4);
  });
});
