import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticDicom } from '../fixtures/synthetic-dicom';
import { type RunningBridge, repoRoot, startBridgeProcess } from './support/vigil-bridge';

function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function wsStatus(url: string, origin?: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
}

describe('the loopback bridge guards every API route', () => {
  let bridge: RunningBridge;

  beforeAll(async () => {
    bridge = await startBridgeProcess();
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('serves the page without a token, with the CSP', async () => {
    const res = await fetch(bridge.base);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('refuses API calls without the right token', async () => {
    const body = JSON.stringify({ channel: 'app.info', payload: {} });
    const none = await fetch(`${bridge.base}api/invoke`, { method: 'POST', body });
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const wrong = await fetch(`${bridge.base}api/invoke`, { method: 'POST', body, headers: { 'x-vigil-token': 'f'.repeat(64) } });
    expect(wrong.status).toBe(403);
    const ok = await bridge.invoke('app.info');
    expect(ok).toMatchObject({ ok: true, value: { host: 'bridge' } });
    expect((await fetch(`${bridge.base}dicom/instances/1.2.3`)).status).toBe(403);
    expect((await fetch(`${bridge.base}results/1/seg-mask.u8.gz`)).status).toBe(403);
    expect((await fetch(`${bridge.base}results/1/seg-mask.u8.gz?token=${bridge.token}`)).status).toBe(404);
    expect((await fetch(`${bridge.base}api/upload/commit?batch=abc`, { method: 'POST' })).status).toBe(403);
  });

  it('answers bad JSON and unknown channels with error values', async () => {
    const post = (body: string) =>
      fetch(`${bridge.base}api/invoke`, { method: 'POST', body, headers: { 'x-vigil-token': bridge.token } }).then((r) => r.json());
    expect(await post('{nope')).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await post(JSON.stringify({ channel: 'fs.readFile', payload: {} }))).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    expect(await post(JSON.stringify({ channel: 'library.getStudy', payload: { studyInstanceUid: 7 } }))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const big = await fetch(`${bridge.base}api/invoke`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024), headers: { 'x-vigil-token': bridge.token } });
    expect(big.status).toBe(413);
    expect(await bridge.invoke('dialog.chooseImportSources', { kind: 'folder' })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  });

  it('refuses path traversal in static files and uploads', async () => {
    expect((await rawGet(bridge.base, '/../../../../etc/passwd')).status).toBe(404);
    expect((await rawGet(bridge.base, '/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404);
    expect((await rawGet(bridge.base, '/assets/..%2f..%2f..%2fpackage.json')).status).toBe(404);
    expect((await rawGet(bridge.base, '/', { host: 'evil.example:80' })).status).toBe(403);
    for (const relativePath of ['../escape.dcm', '/etc/passwd', 'a/../../b', 'C:\\x.dcm', 'a\u0000b', '']) {
      const res = await fetch(`${bridge.base}api/upload?batch=b1&relativePath=${encodeURIComponent(relativePath)}`, {
        method: 'POST',
        body: 'x',
        headers: { 'x-vigil-token': bridge.token },
      });
      expect(res.status, relativePath).toBe(400);
    }
    expect(existsSync(join(bridge.dataDir, '..', 'escape.dcm'))).toBe(false);
    const badBatch = await fetch(`${bridge.base}api/upload?batch=../x&relativePath=a`, { method: 'POST', body: 'x', headers: { 'x-vigil-token': bridge.token } });
    expect(badBatch.status).toBe(400);
  });

  it('stages uploads under the data dir and imports them', async () => {
    const headers = { 'x-vigil-token': bridge.token };
    const sop = '1.2.826.0.1.3680043.10.1138.88.1.1';
    const bytes = syntheticDicom({ patientName: 'Upload^Una', sopInstanceUid: sop, studyInstanceUid: '1.2.826.0.1.3680043.10.1138.88', seriesInstanceUid: '1.2.826.0.1.3680043.10.1138.88.1' });
    const up = await fetch(`${bridge.base}api/upload?batch=b2&relativePath=${encodeURIComponent('dir\\sub/IM1.dcm')}`, { method: 'POST', body: bytes, headers });
    expect(await up.json()).toEqual({ ok: true, value: { bytes: bytes.length } });
    const staged = join(bridge.dataDir, 'staging', 'b2', 'dir', 'sub', 'IM1.dcm');
    expect(readFileSync(staged).equals(bytes)).toBe(true);
    const commit = (await (await fetch(`${bridge.base}api/upload/commit?batch=b2`, { method: 'POST', headers })).json()) as { ok: true; value: { paths: string[] } };
    expect(commit.value.paths).toEqual([join(bridge.dataDir, 'staging', 'b2')]);
    const imported = await bridge.invoke<{ imported: number }>('library.import', { paths: commit.value.paths });
    expect(imported).toMatchObject({ ok: true, value: { imported: 1 } });
    const dicom = await fetch(`${bridge.base}dicom/instances/${sop}?token=${bridge.token}`);
    expect(dicom.status).toBe(200);
    expect(dicom.headers.get('content-type')).toBe('application/dicom');
    expect(Buffer.from(await dicom.arrayBuffer()).equals(bytes)).toBe(true);
    expect((await fetch(`${bridge.base}dicom/instances/9.9.9?token=${bridge.token}`)).status).toBe(404);
    expect((await fetch(`${bridge.base}api/upload/commit?batch=never`, { method: 'POST', headers })).status).toBe(404);
  });

  it('serves a deflated instance inflated, as explicit VR little endian (the same display bytes as vigil://)', async () => {
    const headers = { 'x-vigil-token': bridge.token };
    const spec = { sopInstanceUid: '1.2.826.0.1.3680043.10.1138.89.1.1', studyInstanceUid: '1.2.826.0.1.3680043.10.1138.89', seriesInstanceUid: '1.2.826.0.1.3680043.10.1138.89.1' };
    const deflated = syntheticDicom({ ...spec, transferSyntax: '1.2.840.10008.1.2.1.99' });
    const up = await fetch(`${bridge.base}api/upload?batch=b3&relativePath=DFL.dcm`, { method: 'POST', body: deflated, headers });
    expect(up.status).toBe(200);
    const commit = (await (await fetch(`${bridge.base}api/upload/commit?batch=b3`, { method: 'POST', headers })).json()) as { ok: true; value: { paths: string[] } };
    expect(await bridge.invoke('library.import', { paths: commit.value.paths })).toMatchObject({ ok: true, value: { imported: 1 } });
    const served = await fetch(`${bridge.base}dicom/instances/${spec.sopInstanceUid}?token=${bridge.token}`);
    expect(served.status).toBe(200);
    const expected = syntheticDicom(spec);
    expect(served.headers.get('content-length')).toBe(String(expected.length));
    expect(Buffer.from(await served.arrayBuffer()).equals(expected)).toBe(true);
  });

  it('accepts the event socket only with the token and from its own origin', async () => {
    const ws = bridge.base.replace('http:', 'ws:');
    expect(await wsStatus(`${ws}api/events`)).toBe(403);
    expect(await wsStatus(`${ws}api/events?token=${'0'.repeat(64)}`)).toBe(403);
    expect(await wsStatus(`${ws}api/events?token=${bridge.token}`, 'http://evil.example')).toBe(403);
    expect(await wsStatus(`${ws}api/events?token=${bridge.token}`, bridge.base.slice(0, -1))).toBe('open');
  });

  it('closes cleanly on SIGTERM', async () => {
    const other = await startBridgeProcess();
    const exit = new Promise<number | string | null>((done) => other.process.once('exit', (code, signal) => done(code ?? signal)));
    other.process.kill('SIGTERM');
    expect(await exit).toBe(0);
    await other.stop(); // removes its temp data dir
  });

  it('refuses to start without --data-dir', () => {
    const run = spawnSync(process.execPath, [join(repoRoot, 'out/node/bridge.js')], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--data-dir is required');
  });
});
