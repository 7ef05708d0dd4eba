/**
 * Shared helpers for the integration tests: run the built CLI (out/node/cli.js)
 * as a child process, open the services on the built workers, walk folders,
 * read the library database read-only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { openVigilServices, type VigilServices, type VigilServicesOptions } from '../../electron/services/vigil-services';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = join(repoRoot, 'out/node/cli.js');
export const PYTHON = '/usr/bin/python3';

/** `npm test` builds out/node first; a bare `vitest run --project integration` may not have. */
export function ensureBuilt(): void {
  if (existsSync(cliPath) && existsSync(join(repoRoot, 'out/node/import-worker.js')) && existsSync(join(repoRoot, 'out/node/display-transcode-worker.js'))) return;
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/build-node.mjs')], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node scripts/build-node.mjs failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * Vigil's services as the CLI host opens them on `<root>/data`, with user models in `<root>/models`, analysing in
 * the built inference worker (out/node/inference-worker.js: call ensureBuilt first); `options` adds or overrides.
 */
export function openServicesOnBuiltWorker(root: string, options: Partial<VigilServicesOptions> = {}): Promise<VigilServices> {
  return openVigilServices({
    dataDir: join(root, 'data'),
    host: 'cli',
    userModelsDir: join(root, 'models'),
    inferenceWorkerUrl: pathToFileURL(join(repoRoot, 'out/node/inference-worker.js')),
    ...options,
  });
}

export interface CliRun<T> {
  code: number | null;
  stdout: string;
  stderr: string;
  json: T;
}

export interface ImportJson {
  imported: number;
  duplicates: number;
  rejected: { path: string; reason: string; code: string }[];
  patients: number;
  studies: number;
  series: number;
  instances: number;
  offered: number;
  status: string;
  elapsedMs: number;
}

/** The counts of an import's JSON that the tests compare, in one shape. */
export function importCounts(r: ImportJson) {
  return {
    offered: r.offered,
    imported: r.imported,
    duplicates: r.duplicates,
    rejected: r.rejected.length,
    patients: r.patients,
    studies: r.studies,
    series: r.series,
    instances: r.instances,
  };
}

export interface StudiesJson {
  studies: {
    studyInstanceUid: string;
    patientName: string;
    patientId: string;
    studyDate: string;
    modalities: string[];
    description: string;
    series: { seriesInstanceUid: string; modality: string; description: string; instances: number }[];
  }[];
}

/** The built CLI's exit code and output, run in `cwd` (the repository by default) with `env` (this process's by default). */
export function runCliText(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Omit<CliRun<never>, 'json'> {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The built CLI with `--json` output, parsed. */
export function runCli<T>(args: string[]): CliRun<T> {
  const r = runCliText(args);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`vigil ${args.join(' ')} exited ${r.code} without JSON on stdout.\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`);
  }
  return { ...r, json };
}

export function importCli(paths: string[], dataDir: string, opts: { reference?: boolean } = {}): CliRun<ImportJson> {
  return runCli<ImportJson>(['import', ...paths, '--data-dir', dataDir, '--json', ...(opts.reference ? ['--reference'] : [])]);
}

export function studiesCli(dataDir: string): CliRun<StudiesJson> {
  return runCli<StudiesJson>(['studies', '--data-dir', dataDir, '--json']);
}

/** Every regular file under `root` (symlinks followed, each real file once), like Vigil's scanner. */
export function walkFiles(root: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const seenDirs = new Set<string>();
  const visit = (dir: string) => {
    const realDir = realpathSync(dir);
    if (seenDirs.has(realDir)) return;
    seenDirs.add(realDir);
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile()) {
        const real = realpathSync(p);
        if (seen.has(real)) continue;
        seen.add(real);
        out.push(p);
      }
    }
  };
  visit(root);
  return out;
}

export function openLibrary(dataDir: string): Database.Database {
  return new Database(join(dataDir, 'library.sqlite'), { readonly: true, fileMustExist: true });
}

export interface InstanceRow {
  sop_instance_uid: string;
  series_uid: string;
  study_uid: string;
  patient_key: string;
  name_raw: string;
  name: string;
  source_path: string;
  path: string;
  storage: string;
  uid_derived: number;
  series_derived: number;
  study_derived: number;
}

export function instanceRows(db: Database.Database): InstanceRow[] {
  return db
    .prepare<[], InstanceRow>(
      `SELECT i.sop_instance_uid, se.series_uid, st.study_uid, p.patient_key, p.name_raw, p.name, i.source_path, i.path, i.storage,
        i.uid_derived, se.uid_derived AS series_derived, st.uid_derived AS study_derived
      FROM instances i JOIN series se ON i.series_ref = se.id JOIN studies st ON se.study_ref = st.id JOIN patients p ON st.patient_ref = p.id`,
    )
    .all();
}

/** study UID -> series UID -> instance count, from `vigil studies --json`. */
export function studyTree(studies: StudiesJson): Record<string, Record<string, number>> {
  const tree: Record<string, Record<string, number>> = {};
  for (const st of studies.studies) {
    tree[st.studyInstanceUid] = Object.fromEntries(st.series.map((se) => [se.seriesInstanceUid, se.instances]));
  }
  return tree;
}

export function pythonHasPydicom(): boolean {
  if (!existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', 'import pydicom'], { encoding: 'utf8' });
  return r.status === 0;
}

/** The pydicom oracle (test/integration/oracle/corpus_oracle.py): what it says about each file and the expected library. */
export interface OracleFile {
  path: string;
  size: number;
  sha256: string;
  kind: 'instance' | 'dicomdir' | 'unreadable' | 'not-instance';
  reason?: string;
  sop?: string;
  study?: string;
  series?: string;
  derived?: { study: boolean; series: boolean; instance: boolean };
  patientKey?: string[];
  patientName?: string;
  references?: { path: string; exists: boolean }[];
}

export interface Oracle {
  pydicom: string;
  expected: {
    walkedFiles: number;
    offered: number;
    imported: number;
    duplicates: number;
    rejected: number;
    patients: number;
    studies: number;
    series: number;
    instances: number;
  };
  studies: Record<string, Record<string, number>>;
  missingReferences: { path: string; dicomdir: string }[];
  duplicateConflicts: { sop: string; files: string[] }[];
  files: OracleFile[];
}

export function runOracle(paths: string[]): Oracle {
  const r = spawnSync(PYTHON, [join(repoRoot, 'test/integration/oracle/corpus_oracle.py'), ...paths], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`corpus_oracle.py failed (${r.status}): ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as Oracle;
}
