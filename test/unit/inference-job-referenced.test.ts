/**
 * A referenced original (imported by reference, outside the store) is analysed only if the descriptor the job reads
 * it from is still the file import recorded (size, mtime): the service's check and the job's read are apart in time
 * (the queue, the worker, the read-ahead), and a file replaced in between must not be analysed and its findings filed
 * under the indexed patient. Managed copies (no record) are read as they are. A file too large to read whole is
 * decoded from the very descriptor that was checked (decodeImageFileAsync on a descriptor).
 */
import { fstatSync, mkdtempSync, openSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InferenceJob, runInferenceJob } from '../../electron/services/ai/inference-job';
import { SessionManager } from '../../electron/services/ai/session-manager';
import type { ReferencedFileRecord } from '../../electron/services/dicom/display-bytes';
import { decodeImageFileAsync } from '../../electron/services/dicom/pixel-decoder';
import { classifierManifest } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const STUDY = '1.2.826.0.1.3680043.10.1138.962';
const ONNX = tinyClassifierModel();
const manifest = classifierManifest(ONNX);

/** Image `n` of the series, `side`×`side` pixels. */
const image = (n: number, side = 8) =>
  syntheticDicom({ rows: side, columns: side, pixels: Uint16Array.from({ length: side * side }, (_, k) => k * 10 + n), studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${n}`, instanceNumber: n });

/** What import records of a file: its size and whole-millisecond mtime. */
const recordOf = (path: string): ReferencedFileRecord => {
  const s = statSync(path);
  return { size: s.size, mtimeMs: Math.trunc(s.mtimeMs) };
};

describe('inference job: referenced originals are checked on the descriptor the job reads', () => {
  let root: string;
  let modelPath: string;
  const sessions = new SessionManager({ providers: ['cpu'], threads: 1 });
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-job-referenced-'));
    modelPath = join(root, 'model.onnx');
    writeFileSync(modelPath, ONNX);
  });
  afterAll(async () => {
    await sessions.close();
    rmSync(root, { recursive: true, force: true });
  });

  const run = (name: string, files: string[], references?: InferenceJob['references']) =>
    runInferenceJob({ jobId: name, model: { id: manifest.id, modelPath, manifest }, files, ...(references ? { references } : {}), provider: 'cpu', outputDir: join(root, 'out', name) }, sessions);

  /** Two images of one series in their own folder, as import found them. */
  const series = (name: string) => {
    const files = [1, 2].map((n) => join(root, `${name}-${n}.dcm`));
    files.forEach((f, i) => writeFileSync(f, image(i + 1)));
    return files;
  };

  it('analyses referenced originals still as import recorded them, and managed copies unchecked', async () => {
    const files = series('same');
    const r = await run('same', files, [recordOf(files[0]!), null]);
    expect(r.status, r.reason ?? '').toBe('done');
    expect(r.inputSopInstanceUids).toEqual([`${STUDY}.1.1`, `${STUDY}.1.2`]);
  });

  it('does not analyse a referenced original replaced after the check that queued it (same path, other content and size)', async () => {
    const files = series('replaced');
    const recorded = [recordOf(files[0]!), recordOf(files[1]!)];
    // Replaced between the service's check and the job's read: another image, larger, a later mtime.
    writeFileSync(files[1]!, image(7, 16));
    const later = new Date(Date.now() + 5000);
    utimesSync(files[1]!, later, later);
    expect(statSync(files[1]!).size).not.toBe(recorded[1]!.size);

    const r = await run('replaced', files, recorded);
    expect(r.status).toBe('failed');
    expect(r.reason).toBe(`the referenced file ${files[1]} changed since it was imported (size/modification time differ); re-import it to analyse it if it still holds this image, or delete the study if the original is gone`);
    expect(r.findings).toEqual([]);
    expect(r.inputSopInstanceUids).toEqual([]);
  });

  it('does not analyse one rewritten in place with the same size (only the mtime differs)', async () => {
    const files = series('rewritten');
    const recorded = [recordOf(files[0]!), recordOf(files[1]!)];
    writeFileSync(files[0]!, image(9));
    const later = new Date(Date.now() + 5000);
    utimesSync(files[0]!, later, later);
    expect(statSync(files[0]!).size).toBe(recorded[0]!.size);

    const r = await run('rewritten', files, recorded);
    expect(r).toMatchObject({ status: 'failed', reason: expect.stringContaining(`the referenced file ${files[0]} changed since it was imported`) as string });
  });

  it('the same files as managed copies (no record) are analysed as they are', async () => {
    const files = series('copies');
    writeFileSync(files[1]!, image(7));
    expect((await run('copies', files)).status).toBe('done');
  });

  it('decodes a file from a descriptor the caller opened (the source owns it and closes it)', async () => {
    const [file] = series('descriptor');
    const fd = openSync(file!, 'r');
    const img = await decodeImageFileAsync({ fd, size: fstatSync(fd).size });
    expect(img).toMatchObject({ rows: 8, columns: 8, sopInstanceUid: `${STUDY}.1.1` });
  });
});
