/**
 * `vigil` command line: the same services the app uses, without Electron.
 *   vigil import <paths...> --data-dir <dir> [--json] [--reference]
 *   vigil studies --data-dir <dir> [--json]
 *   vigil models [--data-dir <dir>] [--models-dir <dir>] [--json]
 *   vigil analyze <paths...> --data-dir <dir> [--model <id>] [--provider cpu|auto] [--stat] [--vouch-for-unrecorded] [--models-dir <dir>] [--json]
 *   vigil validate --model <id> --cases <dir-or-csv> [--case-unit series|file] [--positive <label>] [--ignore-applicability] [--provider cpu|auto] [--models-dir <dir>] [--json]
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { VigilServices } from '../services/vigil-services';
import { findingLine, outputFileLines, populationLine, warningLine } from './finding-text';

// Each command loads only what it needs (the bundle is split at these dynamic imports):
// `vigil import` never parses the AI runtime, the contract's schemas or the model code.
const loadServices = () => import('../services/vigil-services');

const USAGE = `Usage:
  vigil import <paths...> --data-dir <dir> [--json] [--reference]
      Import DICOM files, folders (recursive) or DICOMDIRs into the library.
      --reference   index files where they are instead of copying them into the library
  vigil studies --data-dir <dir> [--json]
      List the studies in the library with their series.
  vigil models [--data-dir <dir>] [--models-dir <dir>] [--json]
      List model packages (bundled, and user packages in --models-dir or <data-dir>/models) with status and reasons.
  vigil analyze <paths...> --data-dir <dir> [--model <id>] [--provider cpu|auto] [--stat] [--vouch-for-unrecorded] [--models-dir <dir>] [--json]
      Import the paths (if needed) and run every applicable model (or the named one) on each of their series.
      --vouch-for-unrecorded   you vouch that the series are what the model needs where their files do not record
                               an attribute it checks (e.g. no Body Part Examined): they are analysed, with a
                               warning, and later runs of that model on them keep the vouch (until a new image
                               joins the series or the model changes); a recorded value that contradicts the
                               model still refuses them
  vigil validate --model <id> --cases <dir-or-csv> [--case-unit series|file] [--positive <label>] [--ignore-applicability] [--provider cpu|auto] [--models-dir <dir>] [--json]
      Check a model on your own labelled DICOM cases (a folder with one sub-folder per label id, or a CSV of
      file,label): full product pipeline, then AUC, accuracy, sensitivity, specificity, PPV, NPV, F1, calibration
      and the confusion matrix at the model's operating point, with bootstrap 95% confidence intervals.
      --case-unit series   (default) the labelled files of one series are one case, scored as the viewer scores
                           the series; a series listed under two labels is excluded
      --case-unit file     every file is a case of its own (labels given per image)
`;

class UsageError extends Error {}
/** Bad input data (cases, labels, model): the message alone, exit 2, no usage text. */
class InputError extends Error {}

/**
 * The folder the user ran the command from: `npm run vigil -- …` runs in the package root and
 * passes the caller's folder as INIT_CWD, so relative paths resolve against that. INIT_CWD is
 * inherited by everything started under any npm script (test runners, CI), so it counts only
 * when this process is the `vigil` script itself; otherwise the process's own folder.
 */
const callerDir = () => (process.env.npm_lifecycle_event === 'vigil' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd());
// An empty path stays empty, so the commands refuse it instead of reading the whole caller's folder.
const userPath = (p: string) => (p === '' ? p : resolve(callerDir(), p));

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The repository's (or the app's) bundled models folder, beside out/. */
function bundledModelsDir(): string {
  return fileURLToPath(new URL('../../models/', import.meta.url));
}

async function withServices<T>(dataDir: string, fn: (s: VigilServices) => Promise<T>, extra: { userModelsDir?: string } = {}): Promise<T> {
  const { openVigilServices } = await loadServices();
  const services = await openVigilServices({ dataDir, host: 'cli', modelsDir: bundledModelsDir(), ...extra });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

async function studiesCommand(dataDir: string, json: boolean): Promise<number> {
  return withServices(dataDir, async (services) => {
    const list = services.library.listStudies({ sortBy: 'studyDate', sortDir: 'desc', limit: 10_000 });
    const studies = list.studies.map((st) => {
      const detail = services.library.getStudy(st.studyInstanceUid);
      return { summary: st, series: detail.series };
    });
    if (json) {
      out(
        JSON.stringify({
          studies: studies.map(({ summary, series }) => ({
            studyInstanceUid: summary.studyInstanceUid,
            patientName: summary.patientName,
            patientId: summary.patientId,
            studyDate: summary.studyDate,
            modalities: summary.modalities,
            description: summary.description,
            series: series.map((se) => ({
              seriesInstanceUid: se.seriesInstanceUid,
              modality: se.modality,
              description: se.description,
              instances: se.instances,
            })),
          })),
        }),
      );
    } else {
      for (const { summary, series } of studies) {
        out(`${summary.studyDate || '--------'}  ${summary.patientName || '(no name)'} [${summary.patientId}]  ${summary.modalities.join('/')}  ${summary.description}  (${summary.seriesCount} series, ${summary.instanceCount} images)`);
        for (const se of series) out(`    #${se.seriesNumber ?? '-'} ${se.modality} ${se.description} (${se.instances})`);
      }
      out(`${list.total} studies.`);
    }
    return 0;
  });
}

async function modelsCommand(dataDir: string | undefined, modelsDir: string | undefined, json: boolean): Promise<number> {
  const { ModelRegistry } = await import('../services/ai/model-registry');
  const userDir = modelsDir ?? (dataDir ? join(dataDir, 'models') : null);
  const registry = new ModelRegistry([{ dir: bundledModelsDir(), origin: 'bundled' }, ...(userDir ? [{ dir: resolve(userDir), origin: 'user' as const }] : [])]);
  const models = await registry.list();
  if (json) {
    out(JSON.stringify({ models: models.map((m) => ({ id: m.id, name: m.name, version: m.version, status: m.status, ...(m.reason ? { reason: m.reason } : {}), path: m.path })) }));
  } else {
    for (const m of models) {
      out(`${m.status === 'ok' ? 'ok     ' : 'INVALID'}  ${m.id} ${m.version}  ${m.name}${m.clinicalUse === false ? '  [not for clinical use]' : ''}  (${m.origin}: ${m.path})`);
      if (m.reason) out(`         ${m.reason}`);
    }
    out(`${models.length} model packages, ${models.filter((m) => m.status === 'ok').length} ok.`);
  }
  return 0;
}

interface AnalyzeOptions {
  modelId?: string;
  provider: 'auto' | 'cpu';
  stat: boolean;
  /** The user vouches for series that do not record an attribute the applicability rules read. */
  vouchForUnrecorded: boolean;
  json: boolean;
  modelsDir?: string;
}

async function analyzeCommand(paths: string[], dataDir: string, o: AnalyzeOptions): Promise<number> {
  if (paths.length === 0) throw new UsageError('analyze needs at least one path');
  if (o.provider !== 'auto' && o.provider !== 'cpu') throw new UsageError('--provider must be cpu or auto');
  return withServices(
    dataDir,
    async (services) => {
      const imported = await services.router.dispatch('library.import', { paths });
      if (!imported.ok) {
        if (o.json) out(JSON.stringify({ error: imported.error }));
        else err(`Import failed: ${imported.error.message} (${imported.error.code})`);
        return 1;
      }
      const summary = imported.value as import('../../contract/ipc-contract').ImportSummary;
      // Studies touched by these (absolute) paths: imported now, or already in the library from the same sources.
      const db = services.library.studyIndex.db;
      const studies = new Set<string>();
      const stmt = db.prepare<[string, string, string, string], { study_uid: string }>(
        `SELECT DISTINCT s.study_uid FROM instances i JOIN series m ON m.id = i.series_ref JOIN studies s ON s.id = m.study_ref
         WHERE i.import_ref = ? OR i.source_path = ? OR i.source_path LIKE ? ESCAPE '\\' OR i.path = ?`,
      );
      for (const p of paths) {
        const like = `${p.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
        for (const r of stmt.all(summary.importId, p, like, p)) studies.add(r.study_uid);
      }
      if (!o.json) err(`Imported ${summary.imported} (${summary.duplicates} already present); analysing ${studies.size} studies…`);
      const jobs: { jobId: string; studyUid: string; seriesUid: string; modelId: string }[] = [];
      let lastLine = 0;
      const stop = services.events.subscribe((event, payload) => {
        if (event !== 'analysis.progress' || o.json || !process.stderr.isTTY) return;
        const p = payload as import('../../contract/ipc-contract').AnalysisProgress;
        if (Date.now() - lastLine < 250 && p.status === 'running') return;
        lastLine = Date.now();
        process.stderr.write(`\r${p.modelId}: ${p.status}${p.phase ? ` (${p.phase})` : ''}          `);
      });
      const onSigint = () => {
        for (const j of services.analysis.queue.list('running')) services.analysis.queue.cancel(j.id);
        for (const j of services.analysis.queue.list('pending')) services.analysis.queue.cancel(j.id);
      };
      process.once('SIGINT', onSigint);
      for (const studyUid of studies) {
        const r = await services.router.dispatch('analysis.run', {
          studyInstanceUid: studyUid,
          ...(o.modelId ? { modelId: o.modelId } : {}),
          provider: o.provider,
          stat: o.stat,
          ...(o.vouchForUnrecorded ? { vouchForUnrecorded: true } : {}),
        });
        if (!r.ok) {
          if (o.json) out(JSON.stringify({ error: r.error }));
          else err(`Analysis failed: ${r.error.message} (${r.error.code})`);
          process.off('SIGINT', onSigint);
          stop();
          return 1;
        }
        const v = r.value as import('../../contract/ipc-contract').ResponseOf<'analysis.run'>;
        for (const j of [...v.queued, ...v.notAnalysed]) jobs.push({ jobId: j.jobId, studyUid: j.studyInstanceUid, seriesUid: j.seriesInstanceUid, modelId: j.modelId });
      }
      await services.analysis.queue.whenIdle();
      process.off('SIGINT', onSigint);
      stop();
      if (!o.json && process.stderr.isTTY) process.stderr.write('\n');
      // The text report's output-file lines need filesDir, which the JSON result does not carry.
      const outputFileLinesByResult: string[][] = [];
      const results = jobs.map((j) => {
        const job = services.analysis.queue.get(j.jobId);
        const stored = job?.resultId ? services.analysis.results.get(job.resultId) : null;
        outputFileLinesByResult.push(stored ? outputFileLines(stored.outputs, stored.filesDir) : []);
        const status = stored?.status ?? job?.status ?? 'failed';
        const reason = stored?.reason ?? job?.reason ?? undefined;
        return {
          studyInstanceUid: j.studyUid,
          seriesInstanceUid: j.seriesUid,
          modelId: j.modelId,
          modelVersion: stored?.modelVersion ?? '',
          provider: stored?.provider ?? null,
          status,
          ...(reason ? { reason } : {}),
          ...(stored?.unrecorded ? { unrecorded: stored.unrecorded } : {}),
          findings: stored?.findings ?? [],
          warnings: stored?.warnings ?? [],
          ...(stored?.population ? { population: stored.population } : {}),
          timingsMs: stored?.timingsMs ?? {},
          ...(stored?.providerNote ? { providerNote: stored.providerNote } : {}),
          ...(stored ? { ortVersion: stored.ortVersion, modelSha256: stored.modelSha256, inputInstances: new Set(stored.inputSopInstanceUids).size, outputs: stored.outputs, resultId: stored.id } : {}),
        };
      });
      if (o.json) out(JSON.stringify({ results }));
      else {
        for (const [i, r] of results.entries()) {
          out(`${r.modelId} ${r.modelVersion} on series ${r.seriesInstanceUid}: ${r.status === 'not-analysed' ? `not analysed: ${r.reason}` : r.status}${r.status === 'failed' ? `: ${r.reason}` : ''}${r.provider ? ` [${r.provider}]` : ''}`);
          if (r.unrecorded) out(`    ? not recorded: ${r.unrecorded.join(', ')} (--vouch-for-unrecorded analyses it if you vouch that the series is what the model needs)`);
          for (const w of r.warnings) out(`    ${warningLine(w)}`);
          if (r.population && r.population.patientAgeYears === null) out(`    ${populationLine(r.population)}`);
          for (const f of r.findings) out(`    ${findingLine(f)}`);
          for (const line of outputFileLinesByResult[i] ?? []) out(`    ${line}`);
          if (r.status === 'done') out(`    timings ms: ${Object.entries(r.timingsMs).map(([k, v]) => `${k} ${Math.round(v as number)}`).join(', ')}`);
        }
      }
      return results.some((r) => r.status === 'failed') ? 1 : 0;
    },
    { ...(o.modelsDir ? { userModelsDir: o.modelsDir } : {}) },
  );
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      reference: { type: 'boolean', default: false },
      model: { type: 'string' },
      'models-dir': { type: 'string' },
      provider: { type: 'string', default: 'auto' },
      stat: { type: 'boolean', default: false },
      'vouch-for-unrecorded': { type: 'boolean', default: false },
      cases: { type: 'string' },
      positive: { type: 'string' },
      'ignore-applicability': { type: 'boolean', default: false },
      'case-unit': { type: 'string', default: 'series' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command ? 0 : 2;
  }
  const dataDir = values['data-dir'] === undefined ? undefined : userPath(values['data-dir']);
  const modelsDir = values['models-dir'] === undefined ? undefined : userPath(values['models-dir']);
  if (command === 'models') return modelsCommand(dataDir, modelsDir, values.json ?? false);
  if (command === 'validate') {
    if (values.provider !== 'auto' && values.provider !== 'cpu') throw new UsageError('--provider must be cpu or auto');
    if (!values.model) throw new UsageError('validate needs --model <id>');
    if (!values.cases) throw new UsageError('validate needs --cases <dir-or-csv>');
    const caseUnit = values['case-unit'];
    if (caseUnit !== 'series' && caseUnit !== 'file') throw new UsageError('--case-unit must be series or file');
    const [{ validateCommand }, { ValidationInputError }] = await Promise.all([import('./validate-command'), import('../services/ai/local-validation')]);
    try {
      return await validateCommand({
        modelId: values.model,
        cases: userPath(values.cases),
        json: values.json ?? false,
        provider: values.provider,
        bundledModelsDir: bundledModelsDir(),
        ...(modelsDir ? { modelsDir } : {}),
        ...(dataDir ? { dataDir } : {}),
        ...(values.positive ? { positiveLabel: values.positive } : {}),
        ignoreApplicability: values['ignore-applicability'] ?? false,
        caseUnit,
        out,
        err,
      });
    } catch (e) {
      if (!(e instanceof ValidationInputError)) throw e;
      // A script reading --json gets an answer on stdout too: nothing was scored, and why.
      if (values.json) out(JSON.stringify({ modelId: values.model, n: 0, error: e.message }));
      throw new InputError(e.message);
    }
  }
  if (!dataDir) throw new UsageError('--data-dir <dir> is required');
  switch (command) {
    case 'import': {
      const { importCommand, ImportUsageError } = await import('./import-command');
      try {
        return await importCommand({ paths: rest.map(userPath), dataDir, json: values.json ?? false, reference: values.reference ?? false, bundledModelsDir: bundledModelsDir(), out, err });
      } catch (e) {
        if (e instanceof ImportUsageError) throw new UsageError(e.message);
        throw e;
      }
    }
    case 'studies':
      return studiesCommand(dataDir, values.json ?? false);
    case 'analyze':
      return analyzeCommand(rest.map(userPath), dataDir, {
        ...(values.model ? { modelId: values.model } : {}),
        provider: values.provider as 'auto' | 'cpu',
        stat: values.stat ?? false,
        vouchForUnrecorded: values['vouch-for-unrecorded'] ?? false,
        json: values.json ?? false,
        ...(modelsDir ? { modelsDir } : {}),
      });
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

// A closed pipe (`vigil studies | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError || (e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      err(`vigil: ${(e as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (e instanceof InputError) {
      err(`vigil: ${e.message}`);
      process.exitCode = 2;
    } else {
      err(`vigil: ${(e as Error).message ?? String(e)}`);
      process.exitCode = 1;
    }
  },
);
