import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBridgeVigil, readBridgeToken, stagingPaths } from './bridge-client';

afterEach(() => sessionStorage.clear());

class FakeSocket {
  static last: FakeSocket | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  close() {}
}

describe('bridge client', () => {
  it('reads the token from the URL and remembers it for the tab', () => {
    expect(readBridgeToken({ search: '?token=abc' } as Location, sessionStorage)).toBe('abc');
    expect(readBridgeToken({ search: '' } as Location, sessionStorage)).toBe('abc');
  });

  it('invokes channels with the token header', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ ok: true, value: { total: 0, studies: [], modalities: [] } })));
    const vigil = createBridgeVigil({ baseUrl: 'http://127.0.0.1:9/', token: 'tok', fetch, WebSocket: FakeSocket as unknown as typeof WebSocket });
    const result = await vigil.library.listStudies({ search: 'x' });
    expect(result.ok).toBe(true);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://127.0.0.1:9/api/invoke');
    expect((init.headers as Record<string, string>)['x-vigil-token']).toBe('tok');
    expect(JSON.parse(init.body as string)).toEqual({ channel: 'library.listStudies', payload: { search: 'x' } });
    expect(vigil.instanceUrl('1.2.3')).toBe('http://127.0.0.1:9/dicom/instances/1.2.3?token=tok');
  });

  it('turns network failures into UNAVAILABLE results', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const vigil = createBridgeVigil({ baseUrl: 'http://127.0.0.1:9/', token: 'tok', fetch, WebSocket: FakeSocket as unknown as typeof WebSocket });
    const result = await vigil.app.info({});
    expect(result).toEqual({ ok: false, error: { code: 'UNAVAILABLE', message: expect.stringContaining('Failed to fetch') } });
  });

  it('dispatches typed events from one shared socket', () => {
    const vigil = createBridgeVigil({ baseUrl: 'http://127.0.0.1:9/', token: 'tok', fetch: vi.fn(), WebSocket: FakeSocket as unknown as typeof WebSocket });
    const seen: unknown[] = [];
    vigil.on('library.changed', (p) => seen.push(p));
    vigil.on('import.progress', (p) => seen.push(p));
    const socket = FakeSocket.last!;
    expect(socket.url).toBe('ws://127.0.0.1:9/api/events?token=tok');
    socket.onmessage?.({ data: JSON.stringify({ event: 'library.changed', payload: { reason: 'import' } }) });
    socket.onmessage?.({ data: 'not json' });
    socket.onmessage?.({ data: JSON.stringify({ event: 'evil', payload: {} }) });
    expect(seen).toEqual([{ reason: 'import' }]);
  });

  it('uploads dropped files into one batch, then commits', async () => {
    const calls: string[] = [];
    const fetch = vi.fn(async (input: RequestInfo | URL) => {
      const url = String(input);
      calls.push(url);
      if (url.includes('/commit')) return new Response(JSON.stringify({ ok: true, value: { paths: ['/data/staging/b'] } }));
      return new Response(JSON.stringify({ ok: true, value: { bytes: 4 } }));
    });
    const vigil = createBridgeVigil({ baseUrl: 'http://127.0.0.1:9/', token: 'tok', fetch, WebSocket: FakeSocket as unknown as typeof WebSocket });
    const f = (name: string) => new File(['DICM'], name);
    const result = await vigil.resolveDroppedFiles([
      { name: 'a', relativePath: 'study/a', file: f('a') },
      { name: 'b', relativePath: '', file: f('b') },
    ]);
    expect(result).toEqual({ ok: true, value: { paths: ['/data/staging/b'] } });
    const uploads = calls.filter((c) => c.includes('/api/upload?')).map((c) => new URL(c).searchParams.get('relativePath'));
    expect(uploads.sort()).toEqual(['b', 'study/a']);
    const batches = new Set(calls.map((c) => new URL(c).searchParams.get('batch')));
    expect(batches.size).toBe(1);
  });

  it('gives loose files with the same name distinct staging paths', () => {
    const file = new File([], 'x');
    expect(stagingPaths([
      { name: 'IM1', relativePath: '', file },
      { name: 'IM1', relativePath: '', file },
      { name: 'IM2', relativePath: 'a\\b\\IM2', file },
    ])).toEqual(['IM1', 'IM1~2', 'a/b/IM2']);
  });
});
