/** ResultsStore.discardRun: the folder of a run that saved no result goes; nothing outside the results folder does. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ResultsStore } from '../../electron/services/ai/results-store';
import { StudyIndex } from '../../electron/services/library/study-index';

let root: string;
let index: StudyIndex;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-discard-run-'));
  index = new StudyIndex(join(root, 'library.sqlite'));
});
afterEach(() => {
  index.close();
  rmSync(root, { recursive: true, force: true });
});

it('removes a run folder with what it wrote, and leaves a path outside the results folder alone', () => {
  const store = new ResultsStore(index.db, root);
  const run = store.runDir('1.2.3', 'job-1');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'heatmap.f32.gz'), 'partial');
  const other = store.runDir('1.2.3', 'job-2');
  mkdirSync(other, { recursive: true });
  store.discardRun(run);
  expect(existsSync(run)).toBe(false);
  expect(existsSync(other)).toBe(true);

  const outside = join(root, 'elsewhere');
  mkdirSync(outside);
  store.discardRun(outside);
  store.discardRun(store.root);
  expect(existsSync(outside)).toBe(true);
  expect(existsSync(store.root)).toBe(true);
  // A run that never wrote anything has no folder: nothing to do.
  expect(() => store.discardRun(store.runDir('1.2.3', 'job-3'))).not.toThrow();
});
