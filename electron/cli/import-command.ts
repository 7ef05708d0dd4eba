/**
 * `vigil import <paths...> --data-dir <dir> [--json] [--reference]` on the
 * study library service alone: it loads neither the AI services nor the IPC
 * contract's schemas (the CLI builds the request itself), so a one-shot import
 * starts in a fraction of the time, and the main thread, which has nothing else
 * to do, processes files itself. When the library is set to analyse every
 * import with AI, the AI services are opened after the import to queue that
 * analysis, as the app does; the app (or `vigil analyze`) runs the queue.
 */
import { availableParallelism } from 'node:os';
import type { ImportProgress, ImportRequest, ImportSummary, VigilError } from '../../contract/ipc-contract';
import { EventHub } from '../services/event-hub';
import { type StorageMode, StudyLibrary } from '../services/library/study-library';
import { toVigilError } from '../services/service-error';
import { AI_AUTO_RUN_ON_IMPORT_SETTING } from '../services/ai/settings-keys';

/**
 * The CLI's main thread has nothing else to do, so it imports files itself; worker
 * threads (one per further core, up to 3) join it only where they pay. Each costs
 * ~40 ms of CPU to start and every result it sends is copied between threads.
 * Indexing in place reads a few kilobytes per file: on a 2-core machine the main
 * thread alone was faster even for 5,000 files (`npm run bench -- import`), so
 * workers join only with 4 or more cores and many files (where the spare cores
 * should outweigh those costs; not measured, no such machine was at hand). A
 * managed copy hashes and writes every byte of every file, which dwarfs those
 * costs: workers join as soon as an import has a few dozen files.
 */
export const CLI_INDEX_WORKERS_FROM_FILES = 2000;
export const CLI_COPY_WORKERS_FROM_FILES = 50;
export const cliImportWorkers = (cores: number): number => Math.max(0, Math.min(3, cores - 1));
export function cliUseWorkers(cores: number): (files: number, mode: StorageMode) => boolean {
  return (files, mode) => (mode === 'copy' ? files >= CLI_COPY_WORKERS_FROM_FILES : cores >= 4 && files >= CLI_INDEX_WORKERS_FROM_FILES);
}


/** The contract's limits on a library.import request, checked here because this path skips the router. */
const MAX_PATHS = 10_000;
const MAX_PATH_LENGTH = 4096;

export class ImportUsageError extends Error {}

export interface ImportCommandOptions {
  paths: string[];
  dataDir: string;
  json: boolean;
  reference: boolean;
  /** The shipped model packages, to queue AI analysis after the import when the library asks for it. */
  bundledModelsDir: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

type Outcome = { ok: true; summary: ImportSummary } | { ok: false; error: VigilError };

function checkPaths(paths: string[]): void {
  if (paths.length === 0) throw new ImportUsageError('import needs at least one path');
  if (paths.length > MAX_PATHS) throw new ImportUsageError(`import takes at most ${MAX_PATHS} paths`);
  for (const p of paths) {
    if (p.length === 0) throw new ImportUsageError('an import path is empty');
    if (p.length > MAX_PATH_LENGTH) throw new ImportUsageError(`an import path is longer than ${MAX_PATH_LENGTH} characters`);
  }
}

/** Runs one import, with progress on a terminal's stderr and Ctrl-C cancelling it. */
async function watched(o: ImportCommandOptions, events: EventHub, cancel: (importId: string) => void, start: () => Promise<Outcome>): Promise<Outcome> {
  let importId: string | null = null;
  let lastLine = 0;
  const stop = events.subscribe((event, payload) => {
    if (event !== 'import.progress') return;
    const p = payload as ImportProgress;
    importId = p.importId;
    if (o.json || !process.stderr.isTTY) return;
    if (Date.now() - lastLine < 500 && p.phase === 'importing') return;
    lastLine = Date.now();
    const eta = p.etaSeconds !== null ? `, ETA ${p.etaSeconds}s` : '';
    process.stderr.write(`\r${p.phase}: ${p.processed}/${p.scanned} files, ${p.imported} imported, ${p.duplicates} duplicates, ${p.rejected} rejected, ${p.rate} files/s${eta}   `);
  });
  const onSigint = () => {
    if (importId) cancel(importId);
  };
  process.once('SIGINT', onSigint);
  try {
    return await start();
  } finally {
    process.off('SIGINT', onSigint);
    stop();
    if (!o.json && process.stderr.isTTY) process.stderr.write('\n');
  }
}

/**
 * Queues AI analysis of every series not yet analysed, as the app's AnalysisService does after an
 * import when this setting is on. The queue is not started: `vigil import` never runs inference.
 */
async function queueAutoAnalysis(o: ImportCommandOptions): Promise<void> {
  const { openVigilServices } = await import('../services/vigil-services');
  const services = await openVigilServices({ dataDir: o.dataDir, host: 'cli', modelsDir: o.bundledModelsDir, importWorkers: 0, startAnalysisQueue: false });
  try {
    await services.analysis.analyzeUnanalysed();
  } finally {
    await services.close();
  }
}

export async function importCommand(o: ImportCommandOptions): Promise<number> {
  checkPaths(o.paths);
  const request: ImportRequest = { paths: o.paths, ...(o.reference ? { storageMode: 'reference' as const } : {}) };
  const events = new EventHub();
  const library = await StudyLibrary.open({
    dataDir: o.dataDir,
    events,
    importWorkers: cliImportWorkers(availableParallelism()),
    callingThreadWork: { useWorkers: cliUseWorkers(availableParallelism()) },
  });
  let outcome: Outcome;
  let autoAnalysis = false;
  try {
    autoAnalysis = library.studyIndex.getSetting(AI_AUTO_RUN_ON_IMPORT_SETTING) === 'true';
    outcome = await watched(o, events, (id) => library.cancelImport(id), async () => {
      try {
        return { ok: true, summary: await library.import(request) };
      } catch (e) {
        return { ok: false, error: toVigilError(e, o.err) };
      }
    });
  } finally {
    await library.close();
  }
  // As the app: every finished or cancelled import is followed by the auto-run.
  if (outcome.ok && autoAnalysis) await queueAutoAnalysis(o);

  if (!outcome.ok) {
    if (o.json) o.out(JSON.stringify({ error: outcome.error }));
    else o.err(`Import failed: ${outcome.error.message} (${outcome.error.code})`);
    return 1;
  }
  const s = outcome.summary;
  if (o.json) {
    o.out(
      JSON.stringify({
        imported: s.imported,
        duplicates: s.duplicates,
        rejected: s.rejected.map((r) => ({ path: r.path, reason: r.reason, code: r.code })),
        patients: s.patients,
        studies: s.studies,
        series: s.series,
        instances: s.instances,
        offered: s.offered,
        status: s.status,
        elapsedMs: s.elapsedMs,
      }),
    );
  } else {
    o.out(`${s.status === 'cancelled' ? 'Cancelled' : 'Done'} in ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.offered} files offered, ${s.imported} imported, ${s.duplicates} duplicates, ${s.rejected.length} rejected.`);
    for (const r of s.rejected) o.out(`  rejected ${r.path}: ${r.reason}`);
    o.out(`Library: ${s.patients} patients, ${s.studies} studies, ${s.series} series, ${s.instances} instances.`);
  }
  return 0;
}
