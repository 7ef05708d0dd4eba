import { describe, expect, it, vi } from 'vitest';
import { OpenedFilesQueue, pathsFromArgv } from '../../electron/main/opened-files';

describe('pathsFromArgv', () => {
  const exists = (p: string) => p.startsWith('/data/') || p === '/cwd/rel.dcm';
  it('skips the executable (and the app folder in development), flags and missing paths', () => {
    expect(pathsFromArgv(['/opt/Vigil/vigil', '/data/a.dcm', '--no-sandbox', '/nope.dcm'], true, '/cwd', exists)).toEqual(['/data/a.dcm']);
    expect(pathsFromArgv(['electron', '/data/app-folder', '/data/b.dcm'], false, '/cwd', exists)).toEqual(['/data/b.dcm']);
    expect(pathsFromArgv(['vigil', 'rel.dcm'], true, '/cwd', exists)).toEqual(['/cwd/rel.dcm']);
  });
});

describe('OpenedFilesQueue', () => {
  it('holds paths until started, then opens them in order, one batch at a time', async () => {
    const q = new OpenedFilesQueue();
    q.add(['/a']);
    q.add(['/b']);
    const seen: string[][] = [];
    q.start(async (paths) => {
      seen.push(paths);
    });
    q.add(['/c']);
    await q.idle();
    expect(seen).toEqual([['/a', '/b'], ['/c']]);
  });

  it('keeps going after an opener failure', async () => {
    const q = new OpenedFilesQueue();
    const opener = vi.fn(async (paths: string[]) => {
      if (paths[0] === '/bad') throw new Error('boom');
    });
    q.start(opener);
    q.add(['/bad']);
    q.add(['/good']);
    await q.idle();
    expect(opener).toHaveBeenCalledTimes(2);
  });
});
