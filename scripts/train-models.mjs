#!/usr/bin/env node
// `npm run models:train [-- <train_all.py options>]`: runs the model training recipe
// (models/training/train_all.py) with $PYTHON, else /usr/bin/python3 where it exists, else python3.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const python = process.env.PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : process.platform === 'win32' ? 'python' : 'python3');
const r = spawnSync(python, [join(root, 'models', 'training', 'train_all.py'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`models:train: cannot run ${python}: ${r.error.message} (set PYTHON to a Python 3 with torch, onnx and numpy; see models/training/README.md)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
