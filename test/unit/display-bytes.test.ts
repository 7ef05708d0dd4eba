import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { displayBytesBuffer, openDisplayBytes, ReferencedFileChangedError } from '../../electron/services/dicom/display-bytes';
import { DisplayBytesCache } from '../../electron/services/dicom/display-bytes-cache';
import { inThreadTranscoder } from '../../electron/services/dicom/display-transcode-pool';
import { filePreambleAndMeta, syntheticDicom, type SyntheticInstance } from '../fixtures/synthetic-dicom';

/** Transcodes on the test's thread (the worker pool is tested in test/integration/display-transcode-pool.test.ts). */
const transcoder = inThreadTranscoder();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-display-bytes-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const spec: SyntheticInstance = {
  sopInstanceUid: '1.2.826.0.1.3680043.10.1138.501.1',
  rows: 16,
  columns: 12,
  pixels: Uint16Array.from({ length: 16 * 12 }, (_, i) => (i * 37) % 4096),
};

describe('openDisplayBytes', () => {
  it('serves ordinary files as stored, streamed', async () => {
    const bytes = syntheticDicom(spec);
    const out = await openDisplayBytes(write('plain.dcm', bytes), { transcoder });
    expect(out).toMatchObject({ rewrite: 'none', length: bytes.length, contentType: 'application/dicom', transferSyntaxUid: '1.2.840.10008.1.2.1' });
    expect((await displayBytesBuffer(out!)).equals(bytes)).toBe(true);
  });

  it('serves Deflated Explicit VR Little Endian inflated, as the equivalent explicit little endian file', async () => {
    const deflated = syntheticDicom({ ...spec, transferSyntax: '1.2.840.10008.1.2.1.99' });
    const path = write('deflated.dcm', deflated);
    const out = await openDisplayBytes(path, { transcoder });
    expect(out).toMatchObject({ rewrite: 'inflated', transferSyntaxUid: '1.2.840.10008.1.2.1' });
    const served = await displayBytesBuffer(out!);
    expect(served.length).toBe(out!.length);
    // Byte for byte what the writer produces for explicit VR LE (meta TS and group length rewritten).
    expect(served.equals(syntheticDicom(spec))).toBe(true);
    const info = readDicom(new BufferByteSource(served));
    expect(info.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(info.meta?.elements.get(0x00020000)).toBeDefined();
    // A second stream gives the same bytes; the stored file is untouched.
    expect((await displayBytesBuffer(out!)).equals(served)).toBe(true);
    expect(readFileSync(path).equals(deflated)).toBe(true);
  });

  it('accepts a zlib-wrapped deflated dataset (as dcmtk does)', async () => {
    const plain = syntheticDicom(spec);
    const meta = filePreambleAndMeta('1.2.840.10008.5.1.4.1.1.2', spec.sopInstanceUid!, '1.2.840.10008.1.2.1.99');
    const explicitMeta = filePreambleAndMeta('1.2.840.10008.5.1.4.1.1.2', spec.sopInstanceUid!, '1.2.840.10008.1.2.1');
    const dataset = plain.subarray(explicitMeta.length);
    const out = await openDisplayBytes(write('zlib.dcm', Buffer.concat([meta, deflateSync(dataset)])), { transcoder });
    expect((await displayBytesBuffer(out!)).equals(plain)).toBe(true);
  });

  it('rejects a corrupt deflated dataset', async () => {
    const meta = filePreambleAndMeta('1.2.840.10008.5.1.4.1.1.2', '1.2.3.4', '1.2.840.10008.1.2.1.99');
    await expect(openDisplayBytes(write('bad-deflate.dcm', Buffer.concat([meta, Buffer.from('not deflate data at all')])), { transcoder })).rejects.toThrow();
  });

  it('puts a preamble and "DICM" in front of file meta that has none', async () => {
    const bytes = syntheticDicom(spec);
    const noPreamble = bytes.subarray(132);
    const out = await openDisplayBytes(write('no-preamble.dcm', Buffer.from(noPreamble)), { transcoder });
    expect(out?.rewrite).toBe('added-preamble');
    expect((await displayBytesBuffer(out!)).equals(bytes)).toBe(true);
  });

  it('gives a bare implicit VR little endian dataset a file meta with its encoding', async () => {
    const ts = '1.2.840.10008.1.2';
    const bare = syntheticDicom({ ...spec, transferSyntax: ts, bare: true });
    const out = await openDisplayBytes(write(`bare-${ts}.dcm`, bare), { transcoder });
    expect(out).toMatchObject({ rewrite: 'added-file-meta', transferSyntaxUid: ts, transcoding: [] });
    const served = await displayBytesBuffer(out!);
    expect(served.length).toBe(out!.length);
    expect(served.subarray(served.length - bare.length).equals(bare)).toBe(true);
    const info = readDicom(new BufferByteSource(served));
    expect(info.bareDataset).toBe(false);
    expect(info.transferSyntaxUid).toBe(ts);
    expect(info.meta?.uid(0x00020003)).toBe(spec.sopInstanceUid);
    expect(info.pixelData?.length).toBe(16 * 12 * 2);
  });

  it('gives a bare explicit VR big endian dataset a file meta and serves it transcoded to little endian', async () => {
    const bare = syntheticDicom({ ...spec, transferSyntax: '1.2.840.10008.1.2.2', bare: true });
    const out = await openDisplayBytes(write('bare-be.dcm', bare), { transcoder });
    expect(out).toMatchObject({ rewrite: 'transcoded', transferSyntaxUid: '1.2.840.10008.1.2.1', transcoding: ['byte-swapped'] });
    const served = await displayBytesBuffer(out!);
    expect(served.length).toBe(out!.length);
    const info = readDicom(new BufferByteSource(served));
    expect(info.bareDataset).toBe(false);
    expect(info.meta?.uid(0x00020003)).toBe(spec.sopInstanceUid);
    const pixels = served.subarray(info.pixelData!.offset, info.pixelData!.offset + info.pixelData!.length);
    expect(pixels.equals(Buffer.from(spec.pixels!.buffer, spec.pixels!.byteOffset, spec.pixels!.byteLength))).toBe(true);
  });

  it('serves files that are not DICOM as stored, and returns null for a folder or a missing file', async () => {
    const junk = Buffer.from('hello, not dicom');
    const out = await openDisplayBytes(write('junk.txt', junk), { transcoder });
    expect(out?.rewrite).toBe('none');
    expect((await displayBytesBuffer(out!)).equals(junk)).toBe(true);
    expect(await openDisplayBytes(dir, { transcoder })).toBeNull();
    expect(await openDisplayBytes(join(dir, 'missing.dcm'), { transcoder })).toBeNull();
  });
});

describe('referenced files (indexed in place)', () => {
  const recordOf = (path: string) => {
    const st = statSync(path);
    return { size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
  };

  it('serves an unchanged referenced file; refuses it once its size or mtime differs from the import record', async () => {
    const bytes = syntheticDicom(spec);
    const path = write('ref-changed.dcm', bytes);
    const reference = recordOf(path);
    const cache = new DisplayBytesCache();
    const out = await openDisplayBytes(path, { transcoder, cache, reference });
    expect(await displayBytesBuffer(out!)).toEqual(bytes);

    utimesSync(path, new Date(reference.mtimeMs + 5_000), new Date(reference.mtimeMs + 5_000));
    const touched = openDisplayBytes(path, { transcoder, cache, reference });
    await expect(touched).rejects.toBeInstanceOf(ReferencedFileChangedError);
    await expect(touched).rejects.toMatchObject({ reason: 'modified', path });

    writeFileSync(path, Buffer.concat([bytes, Buffer.alloc(2)]));
    utimesSync(path, new Date(reference.mtimeMs), new Date(reference.mtimeMs));
    await expect(openDisplayBytes(path, { transcoder, cache, reference })).rejects.toMatchObject({ reason: 'modified' });
    // Without a record (a managed copy) the same file is served.
    expect((await openDisplayBytes(path, { transcoder, cache }))!.length).toBe(bytes.length + 2);
  });

  it('refuses a referenced file that is not DICOM (size and mtime as recorded, a cached description notwithstanding); a managed copy is served as stored', async () => {
    const bytes = syntheticDicom(spec);
    const path = write('ref-replaced.dcm', bytes);
    // Whole milliseconds, so that utimes can set the very same mtime again (the cache key then matches but for ctime).
    const mtime = new Date(1_700_000_000_000);
    utimesSync(path, mtime, mtime);
    const before = statSync(path);
    const reference = recordOf(path);
    const cache = new DisplayBytesCache();
    expect((await openDisplayBytes(path, { transcoder, cache, reference }))!.rewrite).toBe('none');

    const junk = Buffer.alloc(bytes.length, 0x41);
    writeFileSync(path, junk);
    utimesSync(path, mtime, mtime);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);
    await expect(openDisplayBytes(path, { transcoder, cache, reference })).rejects.toMatchObject({ reason: 'not-dicom', path });
    await expect(openDisplayBytes(path, { transcoder, cache, reference, head: true })).rejects.toBeInstanceOf(ReferencedFileChangedError);
    const copy = await openDisplayBytes(path, { transcoder, cache });
    expect(await displayBytesBuffer(copy!)).toEqual(junk);
  });

  it('serves a referenced deflated file inflated, and refuses one whose inflated dataset does not parse', async () => {
    const deflated = syntheticDicom({ ...spec, transferSyntax: '1.2.840.10008.1.2.1.99' });
    const path = write('ref-deflated.dcm', deflated);
    expect((await openDisplayBytes(path, { transcoder, reference: recordOf(path) }))!.rewrite).toBe('inflated');

    // Valid file meta; the inflated dataset is one element whose length runs past the end.
    const meta = filePreambleAndMeta('1.2.840.10008.5.1.4.1.1.2', spec.sopInstanceUid!, '1.2.840.10008.1.2.1.99');
    const garbage = Buffer.concat([meta, deflateSync(Buffer.from([0x10, 0x00, 0x10, 0x00, 0x50, 0x4e, 0xff, 0x7f, 0x41, 0x42]))]);
    const broken = write('ref-deflated-broken.dcm', garbage);
    await expect(openDisplayBytes(broken, { transcoder, reference: recordOf(broken) })).rejects.toMatchObject({ reason: 'not-dicom' });
  });
});
