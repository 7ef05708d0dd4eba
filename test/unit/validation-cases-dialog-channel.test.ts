/**
 * dialog.chooseValidationCases: the host's labelled-cases picker behind the
 * Models page's "Choose folder…" / "Choose CSV…" buttons; UNAVAILABLE where
 * the host has none (bridge, CLI), where the page takes a typed path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVigilServices, type VigilServices, type VigilServicesOptions } from '../../electron/services/vigil-services';

let root: string;
let services: VigilServices | undefined;

async function open(extra: Partial<VigilServicesOptions> = {}): Promise<VigilServices> {
  services = await openVigilServices({ dataDir: join(root, 'data'), host: 'cli', importWorkers: 0, userModelsDir: join(root, 'models'), inferenceWorkerUrl: null, startAnalysisQueue: false, ...extra });
  return services;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-cases-dialog-'));
});
afterEach(async () => {
  await services?.close();
  services = undefined;
  rmSync(root, { recursive: true, force: true });
});

describe('dialog.chooseValidationCases', () => {
  it('is unavailable without a host picker', async () => {
    const s = await open();
    const r = await s.router.dispatch('dialog.chooseValidationCases', { kind: 'folder' });
    expect(r.ok ? null : r.error.code).toBe('UNAVAILABLE');
  });

  it('asks the host picker for the kind and returns its path, null when cancelled', async () => {
    const asked: string[] = [];
    const answers: (string | null)[] = ['/cases/labels.csv', null];
    const s = await open({
      chooseValidationCases: async (kind) => {
        asked.push(kind);
        return answers.shift() ?? null;
      },
    });
    expect(await s.router.dispatch('dialog.chooseValidationCases', { kind: 'csv' })).toEqual({ ok: true, value: { path: '/cases/labels.csv' } });
    expect(await s.router.dispatch('dialog.chooseValidationCases', { kind: 'folder' })).toEqual({ ok: true, value: { path: null } });
    expect(asked).toEqual(['csv', 'folder']);
    const bad = await s.router.dispatch('dialog.chooseValidationCases', { kind: 'files' });
    expect(bad.ok ? null : bad.error.code).toBe('BAD_REQUEST');
  });
});
