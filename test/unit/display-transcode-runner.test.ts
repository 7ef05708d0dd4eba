/**
 * The display transcode runner (what each worker thread of the pool runs) keeps
 * plans of stored files only: an inflated dataset in shared memory is planned
 * again for each frame and never held, so it cannot outlive the display cache's
 * memory limit. And a pool whose worker script is missing refuses with
 * WORKER_UNAVAILABLE without starting a thread.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDicom } from '../../electron/services/dicom/dicom-dataset-reader';
import { BufferByteSource } from '../../electron/services/dicom/byte-source';
import { openDisplayBytes } from '../../electron/services/dicom/display-bytes';
import { DisplayTranscodePool } from '../../electron/services/dicom/display-transcode-pool';
import { DisplayTranscodeRunner, type TranscodeResult, type TranscodeSource } from '../../electron/services/dicom/display-transcode-runner';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const EXPLICIT_BE = '1.2.840.10008.1.2.2';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-transcode-runner-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A big-endian 4x4 16-bit file (it needs byte-swapping for display) and where its dataset starts. */
function bigEndianFile(sopSuffix: number): { bytes: Buffer; datasetStart: number } {
  const bytes = syntheticDicom({
    sopInstanceUid: `1.2.826.0.1.3680043.10.1138.882.${sopSuffix}`,
    rows: 4,
    columns: 4,
    pixels: Uint16Array.from({ length: 16 }, (_, i) => i * 211 + 3),
    transferSyntax: EXPLICIT_BE,
  });
  // The dataset starts after the file meta group (its length is the first meta element's value).
  const datasetStart = 132 + 12 + bytes.readUInt32LE(140);
  return { bytes, datasetStart };
}

function frameOf(result: TranscodeResult): Uint8Array {
  if (!result.ok || !('frame' in result)) throw new Error(`expected a frame, got ${JSON.stringify(result)}`);
  return result.frame;
}

describe('DisplayTranscodeRunner', () => {
  it('holds the plan of a stored file, and none of an in-memory dataset after serving it', async () => {
    const runner = new DisplayTranscodeRunner();
    const file = bigEndianFile(1);
    const path = join(dir, 'be.dcm');
    writeFileSync(path, file.bytes);
    const fileSource: TranscodeSource = { kind: 'file', path, size: file.bytes.length, mtimeMs: 1 };

    const inMemory = bigEndianFile(2);
    const shared = new SharedArrayBuffer(inMemory.bytes.length);
    new Uint8Array(shared).set(inMemory.bytes);
    const bufferSource: TranscodeSource = { kind: 'buffer', id: 'inflated-1', bytes: shared };

    for (const [source, datasetStart] of [
      [fileSource, file.datasetStart],
      [bufferSource, inMemory.datasetStart],
    ] as const) {
      const planned = await runner.run({ op: 'plan', source, datasetStart, verifyFirstFrame: true });
      expect(planned).toMatchObject({ ok: true, plan: { steps: ['byte-swapped'], frames: 1 } });
      // The served frame is the stored one, byte-swapped to little endian.
      const frame = frameOf(await runner.run({ op: 'frame', source, datasetStart, frame: 0 }));
      const info = readDicom(new BufferByteSource(source.kind === 'file' ? file.bytes : inMemory.bytes));
      const stored = (source.kind === 'file' ? file.bytes : inMemory.bytes).subarray(info.pixelData!.offset, info.pixelData!.offset + 32);
      expect(Buffer.from(frame).equals(Buffer.from(stored).swap16())).toBe(true);
    }
    expect(runner.heldPlanSources()).toEqual([fileSource]);
  });

  it('plans an in-memory dataset again for each frame (no plan needed first), holding none', async () => {
    const runner = new DisplayTranscodeRunner();
    const inMemory = bigEndianFile(3);
    const shared = new SharedArrayBuffer(inMemory.bytes.length);
    new Uint8Array(shared).set(inMemory.bytes);
    const source: TranscodeSource = { kind: 'buffer', id: 'inflated-2', bytes: shared };
    const first = frameOf(await runner.run({ op: 'frame', source, datasetStart: inMemory.datasetStart, frame: 0 }));
    const again = frameOf(await runner.run({ op: 'frame', source, datasetStart: inMemory.datasetStart, frame: 0 }));
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
    expect(runner.heldPlanSources()).toEqual([]);
    expect(await runner.run({ op: 'frame', source, datasetStart: inMemory.datasetStart, frame: 1 })).toMatchObject({
      ok: false,
      error: { name: 'DisplayTranscodeError', code: 'TRANSCODE_FAILED', message: 'frame 2 asked for, the file has 1' },
    });
  });
});

describe('DisplayTranscodePool without its worker script', () => {
  it('refuses with WORKER_UNAVAILABLE, naming the missing file, and starts no thread', async () => {
    const missing = join(dir, 'out', 'display-transcode-worker.js');
    const pool = new DisplayTranscodePool({ workerUrl: pathToFileURL(missing), size: 1 });
    const path = join(dir, 'needs-transcoding.dcm');
    writeFileSync(path, bigEndianFile(4).bytes);
    try {
      await expect(openDisplayBytes(path, { transcoder: pool })).rejects.toMatchObject({ code: 'WORKER_UNAVAILABLE', message: expect.stringContaining(missing) });
      expect(pool.started).toBe(0);
      expect(pool.queued).toBe(0);
    } finally {
      await pool.close();
    }
  });
});
