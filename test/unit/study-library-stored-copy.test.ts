/**
 * A managed copy a worker found already stored (or stored itself) can be removed before its row is written: another
 * import on the same library (the CLI) removes a copy it created when no row references it. The row written must
 * never name a missing file. Here the file processor is wrapped so that the copy is gone by the time the result is
 * applied, as that other import would leave it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from '../../electron/services/event-hub';
import * as processor from '../../electron/services/library/import-file-processor';
import { STORED_COPY_MISSING, STORED_COPY_UNREADABLE, StudyLibrary } from '../../electron/services/library/study-library';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

vi.mock('../../electron/services/library/import-file-processor', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../electron/services/library/import-file-processor')>();
  return { ...real, processImportFile: vi.fn(real.processImportFile) };
});

const STUDY = '1.2.826.0.1.3680043.10.1138.900';
const instance = (n: number) => ({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.1`, sopInstanceUid: `${STUDY}.1.${n}`, instanceNumber: n });

let root: string;
let library: StudyLibrary;
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'vigil-stored-copy-'));
  // The calling thread processes the files, through the wrapped processor.
  library = await StudyLibrary.open({ dataDir: join(root, 'data'), events: new EventHub(), importWorkers: 0 });
});
afterEach(async () => {
  vi.mocked(processor.processImportFile).mockReset();
  await library.close();
  rmSync(root, { recursive: true, force: true });
});

function write(name: string, content: Buffer): string {
  const p = join(root, 'in', name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

/** The next file is processed for real, then its managed copy is removed, as by another import that found it unused. */
async function nextCopyRemovedBeforeApply(): Promise<void> {
  const real = await vi.importActual<typeof processor>('../../electron/services/library/import-file-processor');
  vi.mocked(processor.processImportFile).mockImplementationOnce((task) => {
    const r = real.processImportFile(task);
    if (r.kind !== 'instance' || task.mode !== 'copy') throw new Error(`expected a stored instance, got ${r.kind}`);
    rmSync(join(task.dataDir, r.storedPath));
    // Found already stored: the case where nothing in this import wrote it.
    return { ...r, createdStoredFile: false };
  });
}

/** The next file is processed for real, then its managed copy is replaced by a link to itself: stat fails with ELOOP. */
async function nextCopyUncheckable(): Promise<void> {
  const real = await vi.importActual<typeof processor>('../../electron/services/library/import-file-processor');
  vi.mocked(processor.processImportFile).mockImplementationOnce((task) => {
    const r = real.processImportFile(task);
    if (r.kind !== 'instance' || task.mode !== 'copy') throw new Error(`expected a stored instance, got ${r.kind}`);
    const copy = join(task.dataDir, r.storedPath);
    rmSync(copy);
    symlinkSync(copy, copy);
    return r;
  });
}

describe('StudyLibrary: a managed copy removed before its row is written', () => {
  it('rejects the file instead of indexing a missing copy; importing it again stores it', async () => {
    const p = write('1.dcm', syntheticDicom(instance(1)));
    await nextCopyRemovedBeforeApply();
    const s = await library.import({ paths: [p] });
    expect(s).toMatchObject({ status: 'done', offered: 1, imported: 0, duplicates: 0, instances: 0 });
    expect(s.rejected.map((r) => r.code)).toEqual([STORED_COPY_MISSING]);
    expect(readFileSync(p)).toEqual(syntheticDicom(instance(1)));

    const again = await library.import({ paths: [p] });
    expect(again).toMatchObject({ imported: 1, rejected: [] });
    expect(readFileSync(library.instanceFile(`${STUDY}.1.1`)?.path ?? '')).toEqual(readFileSync(p));
  });

  it('keeps the referenced original when the copy that was to replace it is gone', async () => {
    const p = write('2.dcm', syntheticDicom(instance(2)));
    expect((await library.import({ paths: [p], storageMode: 'reference' })).imported).toBe(1);
    await nextCopyRemovedBeforeApply();
    const s = await library.import({ paths: [p], storageMode: 'copy' });
    expect(s).toMatchObject({ imported: 0, duplicates: 0 });
    expect(s.rejected.map((r) => r.code)).toEqual([STORED_COPY_MISSING]);
    expect(library.instanceFile(`${STUDY}.1.2`)?.path).toBe(p);
  });
});

describe('StudyLibrary: a managed copy that cannot be checked', () => {
  // A link to itself needs the right to create symbolic links, which Windows grants few accounts.
  it.skipIf(process.platform === 'win32')('rejects only that file; the rest of its batch is imported', async () => {
    const first = write('3.dcm', syntheticDicom(instance(3)));
    const second = write('4.dcm', syntheticDicom(instance(4)));
    await nextCopyUncheckable();
    // Before, the stat's ELOOP rolled back the batch's transaction and failed the whole import.
    const s = await library.import({ paths: [first, second] });
    expect(s).toMatchObject({ status: 'done', offered: 2, imported: 1, instances: 1 });
    expect(s.rejected).toEqual([{ path: first, code: STORED_COPY_UNREADABLE, reason: expect.stringContaining('ELOOP') }]);
    expect(readFileSync(library.instanceFile(`${STUDY}.1.4`)?.path ?? '')).toEqual(readFileSync(second));
    expect(readFileSync(first)).toEqual(syntheticDicom(instance(3)));
  });
});
