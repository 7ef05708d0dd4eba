import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createProtocolHandler,
  handleVigilProtocol,
  registerVigilScheme,
  resolveInside,
} from '../../electron/main/app-protocol';
import { CONTENT_SECURITY_POLICY } from '../../electron/main/content-security-policy';
import { inThreadTranscoder } from '../../electron/services/dicom/display-transcode-pool';
import { openVigilServices } from '../../electron/services/vigil-services';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

let root: string;
let rendererDir: string;
let dicomPath: string;
let deflatedPath: string;
const deflatedSpec = { sopInstanceUid: '1.2.840.3', rows: 4, columns: 4 };
const dicomBytes = new Uint8Array([0x44, 0x49, 0x43, 0x4d, 1, 2, 3, 4]);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-protocol-'));
  rendererDir = join(root, 'renderer');
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Vigil</title>');
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(rendererDir, 'assets', 'codec.wasm'), new Uint8Array([0, 0x61, 0x73, 0x6d]));
  writeFileSync(join(root, 'secret.txt'), 'outside the renderer');
  dicomPath = join(root, 'instance.dcm');
  writeFileSync(dicomPath, dicomBytes);
  deflatedPath = join(root, 'deflated.dcm');
  writeFileSync(deflatedPath, syntheticDicom({ ...deflatedSpec, transferSyntax: '1.2.840.10008.1.2.1.99' }));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

function handler() {
  const instanceFile = vi.fn((uid: string) => {
    if (uid === '1.2.840.1') return { path: dicomPath, reference: null };
    if (uid === '1.2.840.2') return { path: join(root, 'moved-away.dcm'), reference: null };
    if (uid === '1.2.840.3') return { path: deflatedPath, reference: null };
    return null;
  });
  return { handle: createProtocolHandler({ rendererDir, instanceFile, displayTranscoder: inThreadTranscoder(), log: () => {} }), instanceFile };
}

const get = (url: string) => ({ url, method: 'GET' });

describe('vigil://app/', () => {
  it('serves index.html with the CSP header', async () => {
    const response = await handler().handle(get('vigil://app/index.html'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.text()).toContain('<title>Vigil</title>');
  });

  it('serves index.html for the bare origin', async () => {
    const response = await handler().handle(get('vigil://app/'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('serves assets with their content type', async () => {
    const { handle } = handler();
    expect((await handle(get('vigil://app/assets/app.js'))).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await handle(get('vigil://app/assets/codec.wasm'))).headers.get('content-type')).toBe('application/wasm');
  });

  it('returns 404 for a missing file or a folder', async () => {
    const { handle } = handler();
    expect((await handle(get('vigil://app/nope.js'))).status).toBe(404);
    expect((await handle(get('vigil://app/assets'))).status).toBe(404);
  });

  it.each([
    'vigil://app/../../etc/passwd',
    'vigil://app/../secret.txt',
    'vigil://app/%2e%2e/secret.txt',
    'vigil://app/..%2fsecret.txt',
    'vigil://app/assets%2f..%2f..%2fsecret.txt',
    'vigil://app/..%5csecret.txt',
    'vigil://app/%2Fetc%2Fpasswd',
  ])('never serves anything outside the renderer folder: %s', async (url) => {
    const response = await handler().handle(get(url));
    expect([403, 404]).toContain(response.status);
    expect(await response.text()).not.toContain('outside the renderer');
  });

  it('refuses malformed escapes and NUL bytes', async () => {
    const { handle } = handler();
    expect((await handle(get('vigil://app/%E0%A4%A'))).status).toBe(403);
    expect((await handle(get('vigil://app/index.html%00.js'))).status).toBe(403);
  });

  it('refuses methods other than GET and HEAD', async () => {
    const { handle } = handler();
    expect((await handle({ url: 'vigil://app/index.html', method: 'POST' })).status).toBe(405);
    const head = await handle({ url: 'vigil://app/index.html', method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBeNull();
  });

  it('returns 404 for unknown hosts', async () => {
    expect((await handler().handle(get('vigil://other/index.html'))).status).toBe(404);
  });
});

describe('resolveInside', () => {
  it('keeps paths inside the root', () => {
    expect(resolveInside('/srv/r', '/index.html')).toBe(join('/srv/r', 'index.html'));
    expect(resolveInside('/srv/r', '/')).toBe(join('/srv/r', 'index.html'));
    expect(resolveInside('/srv/r', '/..%2f..%2fetc/passwd')).toBeNull();
    expect(resolveInside('/srv/r', '/.')).toBeNull();
  });
});

describe('vigil://dicom/instances/', () => {
  it('serves stored bytes as application/dicom, readable from the app origin', async () => {
    const { handle, instanceFile } = handler();
    const response = await handle(get('vigil://dicom/instances/1.2.840.1'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/dicom');
    expect(response.headers.get('content-length')).toBe(String(dicomBytes.length));
    expect(response.headers.get('access-control-allow-origin')).toBe('vigil://app');
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(dicomBytes);
    expect(instanceFile).toHaveBeenCalledWith('1.2.840.1');
  });

  it('serves a Deflated Explicit VR Little Endian file inflated, as explicit VR little endian (display bytes)', async () => {
    const { handle } = handler();
    const expected = syntheticDicom(deflatedSpec);
    const head = await handle({ url: 'vigil://dicom/instances/1.2.840.3', method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(expected.length));
    const response = await handle(get('vigil://dicom/instances/1.2.840.3'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(expected.length));
    expect(Buffer.from(await response.arrayBuffer()).equals(expected)).toBe(true);
  });

  it('decodes the UID from the URL', async () => {
    const { handle, instanceFile } = handler();
    await handle(get('vigil://dicom/instances/1.2%2E840.9'));
    expect(instanceFile).toHaveBeenCalledWith('1.2.840.9');
  });

  it('returns 404 for an unknown instance or a missing file', async () => {
    const { handle } = handler();
    expect((await handle(get('vigil://dicom/instances/9.9.9'))).status).toBe(404);
    expect((await handle(get('vigil://dicom/instances/1.2.840.2'))).status).toBe(404);
    expect((await handle(get('vigil://dicom/instances/'))).status).toBe(404);
    expect((await handle(get('vigil://dicom/other/1.2.840.1'))).status).toBe(404);
  });

  it('rejects over-long UIDs without a lookup', async () => {
    const { handle, instanceFile } = handler();
    expect((await handle(get(`vigil://dicom/instances/${'1'.repeat(65)}`))).status).toBe(400);
    expect(instanceFile).not.toHaveBeenCalled();
  });
});

describe('vigil://dicom/instances/ of a file imported by reference', () => {
  const uid = '1.2.826.0.1.3680043.10.1138.77.1.1';
  const other = syntheticDicom({ sopInstanceUid: uid, patientName: 'Other^Patient', patientId: 'OTHER1', rows: 8, columns: 8 });

  // Whole milliseconds, so that utimes can set the very same mtime again.
  const importedMtime = new Date(1_700_000_000_000);

  async function referencedLibrary() {
    const dir = mkdtempSync(join(root, 'library-'));
    const media = join(dir, 'media.dcm');
    const original = syntheticDicom({ sopInstanceUid: uid, rows: 4, columns: 4 });
    writeFileSync(media, original);
    utimesSync(media, importedMtime, importedMtime);
    const services = await openVigilServices({ dataDir: join(dir, 'data'), host: 'cli', importWorkers: 0 });
    expect((await services.library.import({ paths: [media], storageMode: 'reference' })).imported).toBe(1);
    const handle = createProtocolHandler({ rendererDir, instanceFile: (u) => services.instanceFile(u), displayTranscoder: inThreadTranscoder(), log: () => {} });
    const url = `vigil://dicom/instances/${uid}`;
    const served = await handle(get(url));
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(original);
    return { services, handle, url, media, original };
  }

  it('refuses (409, IO_ERROR) a referenced file replaced since import, even after it was served and cached', async () => {
    const { services, handle, url, media } = await referencedLibrary();
    try {
      // Another patient's image saved under the same name: other size, other mtime.
      writeFileSync(media, other);
      utimesSync(media, new Date('2031-01-01'), new Date('2031-01-01'));
      for (const method of ['GET', 'HEAD']) {
        const refused = await handle({ url, method });
        expect(refused.status).toBe(409);
        expect(refused.headers.get('x-vigil-error-code')).toBe('IO_ERROR');
        const text = await refused.text();
        if (method === 'GET') expect(text).toBe(`the referenced file ${media} changed since it was imported (size/modification time differ); re-import it to view it if it still holds this image, or delete the study if the original is gone`);
      }
    } finally {
      await services.close();
    }
  });

  it('refuses a referenced file that no longer parses as DICOM even with its size and mtime forced back', async () => {
    const { services, handle, url, media, original } = await referencedLibrary();
    try {
      const before = statSync(media);
      writeFileSync(media, Buffer.alloc(original.length, 0x41));
      utimesSync(media, importedMtime, importedMtime);
      expect(statSync(media).size).toBe(before.size);
      expect(statSync(media).mtimeMs).toBe(before.mtimeMs);
      const refused = await handle(get(url));
      expect(refused.status).toBe(409);
      expect(refused.headers.get('x-vigil-error-code')).toBe('IO_ERROR');
      expect(await refused.text()).toContain(`the referenced file ${media} is no longer readable as DICOM`);
      expect(readFileSync(media)[0]).toBe(0x41); // the file itself is left alone
    } finally {
      await services.close();
    }
  });
});

describe('vigil://results/<resultId>/<file>', () => {
  const gz = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]);
  function resultsHandler() {
    const file = join(root, 'seg-mask.u8.gz');
    writeFileSync(file, gz);
    const resultFile = vi.fn((id: number, name: string) => (id === 7 && name === 'seg-mask.u8.gz' ? file : id === 8 ? join(root, 'gone.gz') : null));
    return { handle: createProtocolHandler({ rendererDir, instanceFile: () => null, resultFile, displayTranscoder: inThreadTranscoder(), log: () => {} }), resultFile };
  }

  it('serves a declared result file as gzip bytes, readable from the app origin', async () => {
    const { handle, resultFile } = resultsHandler();
    const response = await handle(get('vigil://results/7/seg-mask.u8.gz'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('access-control-allow-origin')).toBe('vigil://app');
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(gz);
    expect(resultFile).toHaveBeenCalledWith(7, 'seg-mask.u8.gz');
    const head = await handle({ url: 'vigil://results/7/seg-mask.u8.gz', method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(gz.length));
  });

  it('returns 404 for unknown results, undeclared or missing files and malformed paths', async () => {
    const { handle, resultFile } = resultsHandler();
    expect((await handle(get('vigil://results/9/seg-mask.u8.gz'))).status).toBe(404);
    expect((await handle(get('vigil://results/8/x.gz'))).status).toBe(404);
    expect((await handle(get('vigil://results/abc/seg-mask.u8.gz'))).status).toBe(404);
    expect((await handle(get('vigil://results/7/a/b'))).status).toBe(404);
    expect((await handle(get('vigil://results/7/%E0%A4%A'))).status).toBe(400);
    expect(resultFile).not.toHaveBeenCalledWith(7, 'a');
    const none = createProtocolHandler({ rendererDir, instanceFile: () => null, displayTranscoder: inThreadTranscoder(), log: () => {} });
    expect((await none(get('vigil://results/7/seg-mask.u8.gz'))).status).toBe(404);
  });
});

describe('scheme registration', () => {
  it('registers vigil as a standard, secure, fetchable, streaming scheme', () => {
    const protocol = { registerSchemesAsPrivileged: vi.fn() };
    registerVigilScheme(protocol);
    expect(protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      { scheme: 'vigil', privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, stream: true } },
    ]);
  });

  it('handles and unhandles the vigil scheme', async () => {
    const protocol = { handle: vi.fn(), unhandle: vi.fn() };
    const undo = handleVigilProtocol(protocol, handler().handle);
    expect(protocol.handle).toHaveBeenCalledWith('vigil', expect.any(Function));
    const installed = protocol.handle.mock.calls[0]?.[1] as (request: Request) => Promise<Response>;
    expect((await installed(new Request('vigil://app/index.html'))).status).toBe(200);
    undo();
    expect(protocol.unhandle).toHaveBeenCalledWith('vigil');
  });
});
