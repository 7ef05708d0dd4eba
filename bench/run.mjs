// Benchmark dispatcher: `npm run bench -- <name> [args...]` (npm builds out/node first).
// Each bench is a module exporting `run(args: string[]): Promise<number>` (the exit code).
// Later benches (viewer, inference) add an entry here.
const BENCHES = {
  import: { what: 'index/import files with Vigil vs pydicom (files/s)', load: () => import('./import-bench.mjs') },
  viewer: { what: 'first image via #/study, stack scroll (WebGL + CPU), decode ms/frame vs dcmtk/gdcm, 3,000-slice memory (headless Chromium)', load: () => import('./viewer-bench.mjs') },
  inference: { what: 'MeshNet 256³ and a 2-D classifier: pipeline overhead, event-loop delay, vs PyTorch; GPU where present', load: () => import('./inference-bench.mjs') },
};

const [name, ...args] = process.argv.slice(2);
const bench = name ? BENCHES[name] : undefined;
if (!bench) {
  process.stderr.write(
    `${name ? `unknown bench "${name}"\n` : ''}usage: npm run bench -- <name> [args]\n${Object.entries(BENCHES)
      .map(([k, v]) => `  ${k.padEnd(10)} ${v.what}`)
      .join('\n')}\n`,
  );
  process.exit(2);
}
const mod = await bench.load();
process.exitCode = await mod.run(args);
