/**
 * CLI entry of the loopback test bridge (bundled to out/node/bridge.js).
 *
 *   node out/node/bridge.js --data-dir <dir> [--port N] [--renderer-dir <dir>] [--import-workers N] [--bundled-models <dir>]
 *
 * Prints `Vigil bridge: http://127.0.0.1:PORT/?token=TOKEN` and serves until
 * SIGINT/SIGTERM. Dev/test only; the packaged app never starts it.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BridgeHandle, startBridge } from './bridge-server';

const USAGE = 'Usage: node out/node/bridge.js --data-dir <dir> [--port N] [--renderer-dir <dir>] [--import-workers N] [--bundled-models <dir>]';

interface Args {
  dataDir?: string;
  port?: number;
  rendererDir?: string;
  importWorkers?: number;
  bundledModelsDir?: string;
}

function fail(message: string): never {
  process.stderr.write(`vigil bridge: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') fail(`${flag} needs a value.`);
      return v;
    };
    const int = (min: number, max: number): number => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got "${raw}".`);
      return n;
    };
    switch (flag) {
      case '--data-dir':
        args.dataDir = value();
        break;
      case '--port':
        args.port = int(0, 65535);
        break;
      case '--renderer-dir':
        args.rendererDir = value();
        break;
      case '--import-workers':
        args.importWorkers = int(0, 64);
        break;
      case '--bundled-models':
        args.bundledModelsDir = value();
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown argument "${arg}".`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.dataDir) fail('--data-dir is required (the folder that holds the library; it is created if missing).');

  // Signal handlers go in before anything is printed: a caller may stop us as soon as it sees the URL.
  let bridge: BridgeHandle | null = null;
  let stopSignal: string | null = null;
  const stop = (signal: string): void => {
    if (stopSignal) return;
    stopSignal = signal;
    process.stderr.write(`vigil bridge: ${signal}, closing\n`);
    if (!bridge) return; // still starting: closed right after start
    bridge.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`vigil bridge: close failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  bridge = await startBridge({
    dataDir: args.dataDir,
    port: args.port,
    rendererDir: args.rendererDir ?? fileURLToPath(new URL('../renderer/', import.meta.url)),
    importWorkerUrl: new URL('./import-worker.js', import.meta.url),
    displayTranscodeWorkerUrl: new URL('./display-transcode-worker.js', import.meta.url),
    importWorkers: args.importWorkers,
    ...(args.bundledModelsDir ? { bundledModelsDir: resolve(args.bundledModelsDir) } : {}),
  });
  if (stopSignal) {
    await bridge.close();
    process.exit(0);
  }
  process.stdout.write(`Vigil bridge: ${bridge.url}?token=${bridge.token}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`vigil bridge: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
