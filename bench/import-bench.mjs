// `npm run bench -- import [--ct-files N] [--runs N]`
//
// Indexes the same files with Vigil (the built CLI, out/node/cli.js) and with pydicom
// (bench/pydicom_index.py under /usr/bin/python3: dcmread(stop_before_pixels=True, force=True)
// over every file), for (a) the shared corpus ../shared/data when present and (b) a generated
// CT series (default 5,000 slices of 512x512, 16-bit, written once per run into a temp dir).
//
// Vigil is measured twice: --reference ("index in place") and the default managed copy
// ("import with managed copy"), each into a fresh data dir. Every measurement is the wall clock
// of the whole process (interpreter / Node start-up included), median of 3 runs, page cache
// warmed once beforehand; Vigil's own elapsedMs and pydicom's in-process loop time are reported too.
// Both tools run with NODE_EXTRA_CA_CERTS removed from their environment (see CHILD_ENV).
// Prints a table and writes test-artifacts/bench/import.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(repoRoot, 'out/node/cli.js');
const PYTHON = '/usr/bin/python3';
const PY_INDEX = join(repoRoot, 'bench/pydicom_index.py');
const SHARED = resolve(repoRoot, '../shared/data');
const ARTIFACT = join(repoRoot, 'test-artifacts/bench/import.json');
const TARGET_RATIO = 3;

function parseArgs(args) {
  const opts = { ctFiles: 5000, runs: 3 };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--ct-files') opts.ctFiles = Number(args[++i]);
    else if (args[i] === '--runs') opts.runs = Number(args[++i]);
    else throw new Error(`unknown argument ${args[i]} (use --ct-files N, --runs N)`);
  }
  if (!(opts.ctFiles > 0) || !(opts.runs > 0)) throw new Error('--ct-files and --runs must be positive');
  return opts;
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Reads every file once so that neither tool pays cold I/O. */
function warmPageCache(files) {
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let bytes = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      let n;
      let pos = 0;
      while ((n = readSync(fd, buf, 0, buf.length, pos)) > 0) pos += n;
      bytes += pos;
    } finally {
      closeSync(fd);
    }
  }
  return bytes;
}

/**
 * The environment both tools run in. NODE_EXTRA_CA_CERTS makes every Node process read and parse
 * that certificate file at start-up, before any of its own code runs (~50 ms for a system bundle of
 * ~150 certificates on a 2-core machine: more than a third of the fixed cost of `vigil import`).
 * Some sandboxes and CI runners set it; a clinic workstation does not, and `vigil import` makes no
 * TLS connection. It is removed for both tools (Python ignores it), and the table says so.
 */
const REMOVED_ENV = ['NODE_EXTRA_CA_CERTS'].filter((name) => process.env[name] !== undefined);
const CHILD_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !REMOVED_ENV.includes(name)));

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: repoRoot, env: CHILD_ENV, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { wallMs, out: JSON.parse(r.stdout) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function runPydicom(dir) {
  const { wallMs, out } = timed(PYTHON, [PY_INDEX, dir]);
  return { wallMs, loopMs: out.loopSeconds * 1000, walkMs: out.walkSeconds * 1000, files: out.files, read: out.read, errors: out.errors, version: out.pydicom };
}

function runVigil(dir, work, reference) {
  const dataDir = mkdtempSync(join(work, reference ? 'lib-ref-' : 'lib-copy-'));
  try {
    const args = [CLI, 'import', dir, '--data-dir', dataDir, '--json', ...(reference ? ['--reference'] : [])];
    const { wallMs, out } = timed(process.execPath, args);
    return { wallMs, elapsedMs: out.elapsedMs, offered: out.offered, imported: out.imported, duplicates: out.duplicates, rejected: out.rejected.length, instances: out.instances };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    // A copy run leaves up to gigabytes of dirty pages: flush them now, outside any timing,
    // so that their write-back does not slow down whichever run is measured next.
    if (!reference && process.platform !== 'win32') spawnSync('sync');
  }
}

async function generateCt(work, n) {
  const t0 = Date.now();
  // The synthetic writer is TypeScript: bundle it into a temp ES module and import that.
  const bundle = join(work, 'synthetic-dicom.mjs');
  await build({ entryPoints: [join(repoRoot, 'test/fixtures/synthetic-dicom.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning' });
  const { syntheticDicom } = await import(pathToFileURL(bundle).href);
  const dir = join(work, 'ct-series');
  mkdirSync(dir);
  const size = 512;
  const pixels = new Uint16Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - size / 2, y - size / 2);
      pixels[y * size + x] = r < 200 ? 1024 + Math.round(40 * Math.sin(x / 9) * Math.cos(y / 11)) : 0;
    }
  }
  const root = `1.2.826.0.1.3680043.10.1138.77.${process.pid}.${Date.now() % 1e9}`;
  for (let i = 1; i <= n; i++) {
    const buf = syntheticDicom({
      patientName: 'Bench^Ct',
      patientId: 'BENCH-CT',
      studyInstanceUid: `${root}.1`,
      seriesInstanceUid: `${root}.1.1`,
      sopInstanceUid: `${root}.1.1.${i}`,
      seriesNumber: 1,
      instanceNumber: i,
      rows: size,
      columns: size,
      pixels,
      extra: [
        { tag: 0x00200032, vr: 'DS', value: `-250\\-250\\${(i * 0.5).toFixed(1)}` },
        { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
        { tag: 0x00180050, vr: 'DS', value: '0.5' },
        { tag: 0x00201041, vr: 'DS', value: (i * 0.5).toFixed(1) },
      ],
    });
    writeFileSync(join(dir, `CT${String(i).padStart(5, '0')}.dcm`), buf);
  }
  return { dir, generateMs: Date.now() - t0 };
}

function measureSet(label, dir, work, runs) {
  const files = walk(dir);
  const warmedBytes = warmPageCache(files);
  const py = [];
  const ref = [];
  const copy = [];
  for (let i = 0; i < runs; i++) {
    py.push(runPydicom(dir));
    ref.push(runVigil(dir, work, true));
    copy.push(runVigil(dir, work, false));
    process.stderr.write(`  ${label}: run ${i + 1}/${runs} done\n`);
  }
  const n = files.length;
  const fps = (ms) => (n / ms) * 1000;
  const m = {
    pydicomWallMs: median(py.map((r) => r.wallMs)),
    pydicomLoopMs: median(py.map((r) => r.loopMs)),
    vigilIndexWallMs: median(ref.map((r) => r.wallMs)),
    vigilIndexElapsedMs: median(ref.map((r) => r.elapsedMs)),
    vigilCopyWallMs: median(copy.map((r) => r.wallMs)),
    vigilCopyElapsedMs: median(copy.map((r) => r.elapsedMs)),
  };
  return {
    label,
    dir,
    files: n,
    bytes: warmedBytes,
    runs,
    medians: m,
    filesPerSecond: {
      pydicom: fps(m.pydicomWallMs),
      pydicomLoop: fps(m.pydicomLoopMs),
      vigilIndex: fps(m.vigilIndexWallMs),
      vigilIndexInternal: fps(m.vigilIndexElapsedMs),
      vigilCopy: fps(m.vigilCopyWallMs),
      vigilCopyInternal: fps(m.vigilCopyElapsedMs),
    },
    ratio: { index: m.pydicomWallMs / m.vigilIndexWallMs, copy: m.pydicomWallMs / m.vigilCopyWallMs },
    results: {
      pydicom: { read: py[0].read, errors: py[0].errors, version: py[0].version },
      vigil: { offered: ref[0].offered, imported: ref[0].imported, duplicates: ref[0].duplicates, rejected: ref[0].rejected, instances: ref[0].instances },
    },
    raw: { pydicom: py, vigilIndex: ref, vigilCopy: copy },
  };
}

function table(sets, skipped) {
  const cores = availableParallelism();
  const f = (x) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));
  const head = `import benchmark (${cores} cores)`;
  const cols = ['files', 'pydicom f/s', 'vigil index f/s', 'ratio', 'vigil copy f/s', 'ratio'];
  const widths = [7, 13, 17, 7, 16, 7];
  const line = (label, cells) => label.padEnd(34) + cells.map((c, i) => String(c).padStart(widths[i])).join('');
  const out = [line(head, cols)];
  for (const s of sets) {
    const p = s.filesPerSecond;
    out.push(line(s.label, [s.files, f(p.pydicom), f(p.vigilIndex), `${s.ratio.index.toFixed(1)}x`, f(p.vigilCopy), `${s.ratio.copy.toFixed(1)}x`]));
    out.push(line('  in-process only', ['', f(p.pydicomLoop), f(p.vigilIndexInternal), `${(p.vigilIndexInternal / p.pydicomLoop).toFixed(1)}x`, f(p.vigilCopyInternal), `${(p.vigilCopyInternal / p.pydicomLoop).toFixed(1)}x`]));
  }
  for (const s of skipped) out.push(`${s.label.padEnd(34)}skipped: ${s.why}`);
  out.push('(first row: whole-process wall clock, start-up included; "in-process only": pydicom\'s dcmread loop vs Vigil\'s own elapsedMs)');
  out.push(`target: vigil >= ${TARGET_RATIO}x pydicom (whole-process wall clock, median of ${sets[0]?.runs ?? 3} runs, warm page cache)`);
  if (REMOVED_ENV.length > 0) out.push(`environment: ${REMOVED_ENV.join(', ')} removed for both tools (it makes Node parse a certificate bundle at start-up)`);
  return out.join('\n');
}

export async function run(args) {
  const opts = parseArgs(args);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run bench -- import\` (it builds out/node first)`);
  if (spawnSync(PYTHON, ['-c', 'import pydicom'], { encoding: 'utf8' }).status !== 0) {
    throw new Error(`${PYTHON} cannot import pydicom; the baseline needs it (apt install python3-pydicom)`);
  }
  const work = mkdtempSync(join(tmpdir(), 'vigil-bench-import-'));
  const started = Date.now();
  try {
    const sets = [];
    const skipped = [];
    if (existsSync(SHARED)) {
      process.stderr.write(`measuring shared corpus ${SHARED}\n`);
      sets.push(measureSet('shared corpus', SHARED, work, opts.runs));
    } else {
      skipped.push({ label: 'shared corpus', why: `${SHARED} is absent` });
      process.stderr.write(`shared corpus: ${SHARED} is absent, skipped\n`);
    }
    process.stderr.write(`generating ${opts.ctFiles} CT slices (512x512, 16-bit)\n`);
    const ct = await generateCt(work, opts.ctFiles);
    process.stderr.write(`  written in ${(ct.generateMs / 1000).toFixed(1)} s\n`);
    const ctSet = measureSet(`generated CT ${opts.ctFiles} x 512x512`, ct.dir, work, opts.runs);
    ctSet.generateMs = ct.generateMs;
    sets.push(ctSet);
    rmSync(ct.dir, { recursive: true, force: true });

    process.stdout.write(`${table(sets, skipped)}\n`);
    const cpu = cpus()[0]?.model ?? 'unknown';
    const report = {
      bench: 'import',
      date: new Date().toISOString(),
      node: process.version,
      cores: availableParallelism(),
      cpu,
      targetRatio: TARGET_RATIO,
      method:
        'wall clock of the whole process (node out/node/cli.js import ... --json [--reference] / /usr/bin/python3 bench/pydicom_index.py), median of runs, page cache warmed once; fresh data dir per Vigil run',
      removedEnvironment: REMOVED_ENV,
      sets: sets.map(({ raw, ...s }) => ({ ...s, raw })),
      skipped,
      totalSeconds: (Date.now() - started) / 1000,
    };
    mkdirSync(dirname(ARTIFACT), { recursive: true });
    writeFileSync(ARTIFACT, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`results: ${ARTIFACT.slice(repoRoot.length + 1)} (total ${report.totalSeconds.toFixed(0)} s)\n`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
