// Runs before electron-builder in `npm run dist` (on a build machine WITH internet):
//  1. the bundles exist (npm run build ran);
//  2. every model package's model.onnx matches the sha-256 in its manifest;
//  3. on a Linux x64 build machine, onnxruntime-node's CUDA / TensorRT provider
//     libraries are present — they are not in the npm tarball; its install script
//     downloads them from NuGet. If they are missing (e.g. installed with
//     ONNXRUNTIME_NODE_INSTALL=skip), this runs that download now, so the Linux
//     installers carry the GPU providers. VIGIL_DIST_CPU_ONLY=1 builds without them.
// Installers should be built on the OS they target (see README): native modules
// are compiled for Electron there, and the CUDA providers only exist for linux-x64.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
const fail = (msg) => {
  console.error(`prepare-dist: ${msg}`);
  process.exit(1);
};

for (const file of ['out/main/main.js', 'out/main/preload.cjs', 'out/main/import-worker.js', 'out/main/package.json', 'out/renderer/index.html']) {
  if (!existsSync(join(root, file))) fail(`${file} is missing: run \`npm run build\` first.`);
}

const modelsDir = join(root, 'models');
const packages = existsSync(modelsDir) ? readdirSync(modelsDir, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(modelsDir, d.name, 'manifest.json'))) : [];
for (const { name } of packages) {
  const manifest = JSON.parse(readFileSync(join(modelsDir, name, 'manifest.json'), 'utf8'));
  const model = join(modelsDir, name, 'model.onnx');
  if (!existsSync(model)) fail(`models/${name}/model.onnx is missing.`);
  const actual = createHash('sha256').update(readFileSync(model)).digest('hex');
  if (actual !== manifest.sha256) fail(`models/${name}/model.onnx has sha-256 ${actual}, its manifest says ${manifest.sha256}.`);
}
console.log(`prepare-dist: ${packages.length} model package(s) verified.`);

const ortDir = join(root, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
const gpuLibs = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so'];
const missingGpu = () => gpuLibs.filter((f) => !existsSync(join(ortDir, f)));
if (process.platform === 'linux' && process.arch === 'x64') {
  if (missingGpu().length > 0 && process.env.VIGIL_DIST_CPU_ONLY !== '1') {
    console.log('prepare-dist: fetching the ONNX Runtime CUDA / TensorRT providers (onnxruntime-node install script, from NuGet)…');
    const run = spawnSync(process.execPath, [join(root, 'node_modules/onnxruntime-node/script/install.js')], {
      cwd: join(root, 'node_modules/onnxruntime-node'),
      stdio: 'inherit',
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' },
    });
    if (run.status !== 0 || missingGpu().length > 0) {
      fail(`the CUDA providers could not be installed (${missingGpu().join(', ')}). Check the internet connection, or set VIGIL_DIST_CPU_ONLY=1 to build CPU-only Linux installers.`);
    }
  }
  console.log(`prepare-dist: Linux GPU providers: ${missingGpu().length === 0 ? 'CUDA + TensorRT included' : 'none (CPU only)'}.`);
} else {
  console.log('prepare-dist: not a linux-x64 build machine: Linux installers built here would carry no CUDA providers.');
}
