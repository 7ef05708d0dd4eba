/**
 * `vigil` command line: the same services the app uses, without Electron.
 *   vigil import <paths...> --data-dir <dir> [--json] [--reference]
 *   vigil studies --data-dir <dir> [--json]
 */
import { parseArgs } from 'node:util';
import type { ImportProgress } from '../../contract/ipc-contract';
import { openVigilServices, type VigilServices } from '../services/vigil-services';

const USAGE = `Usage:
  vigil import <paths...> --data-dir <dir> [--json] [--reference]
      Import DICOM files, folders (recursive) or DICOMDIRs into the library.
      --reference   index files where they are instead of copying them into the library
  vigil studies --data-dir <dir> [--json]
      List the studies in the library with their series.
`;

class UsageError extends Error {}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function withServices<T>(dataDir: string, fn: (s: VigilServices) => Promise<T>): Promise<T> {
  const services = await openVigilServices({ dataDir, host: 'cli' });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

async function importCommand(paths: string[], dataDir: string, json: boolean, reference: boolean): Promise<number> {
  if (paths.length === 0) throw new UsageError('import needs at least one path');
  return withServices(dataDir, async (services) => {
    let lastLine = 0;
    const stopProgress = services.events.subscribe((event, payload) => {
      if (event !== 'import.progress' || json || !process.stderr.isTTY) return;
      const p = payload as ImportProgress;
      if (Date.now() - lastLine < 500 && p.phase === 'importing') return;
      lastLine = Date.now();
      const eta = p.etaSeconds !== null ? `, ETA ${p.etaSeconds}s` : '';
      process.stderr.write(`\r${p.phase}: ${p.processed}/${p.scanned} files, ${p.imported} imported, ${p.duplicates} duplicates, ${p.rejected} rejected, ${p.rate} files/s${eta}   `);
    });
    const onSigint = () => {
      const running = services.library.lastImport();
      if (running) services.library.cancelImport(running.importId);
    };
    process.once('SIGINT', onSigint);
    const result = await services.router.dispatch('library.import', { paths, ...(reference ? { storageMode: 'reference' } : {}) });
    process.off('SIGINT', onSigint);
    stopProgress();
    if (!json && process.stderr.isTTY) process.stderr.write('\n');
    if (!result.ok) {
      if (json) out(JSON.stringify({ error: result.error }));
      else err(`Import failed: ${result.error.message} (${result.error.code})`);
      return 1;
    }
    const s = result.value as import('../../contract/ipc-contract').ImportSummary;
    if (json) {
      out(
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
      out(`${s.status === 'cancelled' ? 'Cancelled' : 'Done'} in ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.offered} files offered, ${s.imported} imported, ${s.duplicates} duplicates, ${s.rejected.length} rejected.`);
      for (const r of s.rejected) out(`  rejected ${r.path}: ${r.reason}`);
      out(`Library: ${s.patients} patients, ${s.studies} studies, ${s.series} series, ${s.instances} instances.`);
    }
    return 0;
  });
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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      reference: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command ? 0 : 2;
  }
  const dataDir = values['data-dir'];
  if (!dataDir) throw new UsageError('--data-dir <dir> is required');
  switch (command) {
    case 'import':
      return importCommand(rest, dataDir, values.json ?? false, values.reference ?? false);
    case 'studies':
      return studiesCommand(dataDir, values.json ?? false);
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
    } else {
      err(`vigil: ${(e as Error).message ?? String(e)}`);
      process.exitCode = 1;
    }
  },
);
