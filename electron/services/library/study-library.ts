/**
 * StudyLibrary: imports DICOM from folders, files and DICOMDIRs into managed
 * storage and the study index, and answers queries over it. The main thread
 * only schedules work and writes the database; reading, hashing, parsing and
 * copying happen in ImportWorkerPool.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ImportRecord, ImportRequest, ImportSummary, RejectedFile, SeriesInstances, StudyDetail, StudyList, StudyQuery } from '../../../contract/ipc-contract';
import type { EventHub } from '../event-hub';
import type { InstanceFile } from '../dicom/display-bytes';
import { ServiceError } from '../service-error';
import { type ImportFileResult, type ImportFileTask, type PlacedCopy, STORAGE_WRITE_FAILED, storedRelativePath } from './import-file-processor';
import { ImportPoolClosedError, ImportWorkerPool, ImportWorkersUnavailableError } from './import-worker-pool';
import { scanSources } from './source-scanner';
import { patientKey, type StoredInstance, StudyIndex } from './study-index';

export type StorageMode = 'copy' | 'reference';

export interface StudyLibraryOptions {
  dataDir: string;
  events: EventHub;
  importWorkers?: number;
  importWorkerUrl?: URL;
  storageMode?: StorageMode;
  /**
   * For hosts with no window to keep responsive (the CLI): the calling thread
   * processes files too, in short slices, alongside the workers, and starts no
   * worker at all for an import where `useWorkers` (given the number of files
   * found so far and the storage mode) says a worker would cost more than it
   * saves. Default: only workers process files, so the event loop of a window's
   * main process stays free.
   */
  callingThreadWork?: { useWorkers: (files: number, mode: StorageMode) => boolean };
  /**
   * How long close() lets a cancelled import index the files its workers had started before it ends
   * the workers (default 30 s).
   */
  closeWaitMs?: number;
}

type InstanceResult = Extract<ImportFileResult, { kind: 'instance' }>;

/** A managed copy a task of this import created (storedPath relative to the data folder). */
type CreatedCopy = Pick<PlacedCopy, 'storedPath' | 'sha256'>;

/** Where an instance is filed: two files with one SOP Instance UID and different identities are a conflict. */
interface InstanceIdentity {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  patientKey: string;
}

/** What one import has applied so far, to tell later files of the same import apart. */
interface SeenThisImport {
  /** Content hashes of the DICOMDIRs. */
  fileSets: Set<string>;
  /** Instances stored by this import, with the identity their own file gave them. */
  instances: Map<string, InstanceIdentity>;
}

/** Rejection code: the SOP Instance UID is stored with another study, series or patient. */
export const SOP_INSTANCE_CONFLICT = 'SOP_INSTANCE_CONFLICT';

/**
 * Rejection code: the managed copy a worker wrote or found was gone when its row was to be written (another
 * import on this library, the CLI, removed it as unused in between). The source was not changed.
 */
export const STORED_COPY_MISSING = 'STORED_COPY_MISSING';

/**
 * Rejection code: the managed copy a worker wrote or found could not be checked when its row was to be written (its
 * stat failed: permissions, a symlink loop, an I/O error). The source was not changed; the copy is left as it is.
 */
export const STORED_COPY_UNREADABLE = 'STORED_COPY_UNREADABLE';

/** A content hash as the file processor writes it: the only kind of name a managed copy may be removed under. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

const PROGRESS_INTERVAL_MS = 200;
const COMMIT_BATCH = 256;

/** How long closing the library waits for a cancelled import to index the files its workers had started. */
const CLOSE_WAIT_MS = 30_000;

interface RunningImport {
  id: string;
  /** Aborted when the import is cancelled (or the library closes): it ends as cancelled. */
  cancel: AbortController;
  /**
   * Aborted on cancellation and on a storage failure: no further file is started and the workers skip
   * the files they hold but have not started. Apart from `cancel` so a storage failure still ends as failed.
   */
  halt: AbortController;
  /** Settles when the import has recorded its end (never rejects). */
  ended: Promise<void>;
  /** Why the import stopped early because the library could not store a copy; null while it can. */
  storageFailure: string | null;
}

export class StudyLibrary {
  private running: RunningImport | null = null;

  private constructor(
    readonly dataDir: string,
    private readonly index: StudyIndex,
    private readonly pool: ImportWorkerPool,
    private readonly events: EventHub,
    private defaultMode: StorageMode,
    private readonly callingThreadWork: StudyLibraryOptions['callingThreadWork'] | null,
    private readonly closeWaitMs: number,
  ) {}

  static async open(opts: StudyLibraryOptions): Promise<StudyLibrary> {
    mkdirSync(opts.dataDir, { recursive: true });
    const index = new StudyIndex(join(opts.dataDir, 'library.sqlite'));
    index.markInterruptedImports();
    const configured = index.getSetting('storageMode');
    const mode: StorageMode = opts.storageMode ?? (configured === 'reference' ? 'reference' : 'copy');
    const workers = opts.importWorkers ?? Math.min(4, Math.max(1, availableParallelism()));
    const url = opts.importWorkerUrl ?? new URL('./import-worker.js', import.meta.url);
    if (workers > 0 && url.protocol === 'file:' && !existsSync(url)) {
      throw new Error(`import worker bundle not found at ${url.pathname}; run the build first`);
    }
    return new StudyLibrary(opts.dataDir, index, new ImportWorkerPool(workers, url), opts.events, mode, opts.callingThreadWork ?? null, opts.closeWaitMs ?? CLOSE_WAIT_MS);
  }

  get storageMode(): StorageMode {
    return this.defaultMode;
  }

  setStorageMode(mode: StorageMode): void {
    this.defaultMode = mode;
    this.index.setSetting('storageMode', mode);
  }

  /** For the next capabilities (viewer, AI) that query the index directly. */
  get studyIndex(): StudyIndex {
    return this.index;
  }

  async import(request: ImportRequest): Promise<ImportSummary> {
    if (this.running) throw new ServiceError('BUSY', 'An import is already running; wait for it or cancel it first.');
    const id = randomUUID();
    let ended = (): void => {};
    const run: RunningImport = { id, cancel: new AbortController(), halt: new AbortController(), ended: new Promise((resolve) => (ended = resolve)), storageFailure: null };
    this.running = run;
    try {
      return await this.runImport(run, request);
    } finally {
      this.running = null;
      ended();
    }
  }

  cancelImport(importId: string): boolean {
    if (!this.running || this.running.id !== importId) return false;
    cancel(this.running);
    return true;
  }

  private async runImport(run: RunningImport, request: ImportRequest): Promise<ImportSummary> {
    const started = Date.now();
    const mode = request.storageMode ?? this.defaultMode;
    const paths = request.paths.map((p) => (isAbsolute(p) ? p : join(process.cwd(), p)));
    this.index.startImport(run.id, paths);

    const counts = { offered: 0, processed: 0, imported: 0, duplicates: 0 };
    const rejected: RejectedFile[] = [];
    let lastProgress = 0;
    const progress = (phase: 'scanning' | 'importing' | 'done' | 'cancelled', force = false) => {
      const now = Date.now();
      if (!force && now - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? counts.processed / seconds : 0;
      const remaining = counts.offered - counts.processed;
      this.events.emit('import.progress', {
        importId: run.id,
        phase,
        scanned: counts.offered,
        processed: counts.processed,
        imported: counts.imported,
        duplicates: counts.duplicates,
        rejected: rejected.length,
        rate: Math.round(rate * 10) / 10,
        etaSeconds: phase === 'importing' && rate > 0 ? Math.ceil(remaining / rate) : null,
      });
    };

    progress('scanning', true);
    // Worker start-up (tens of ms each) overlaps the rest of the folder walk once the
    // import is known to be large enough to use workers at all.
    const useWorkers = (files: number) => this.pool.workers > 0 && (this.callingThreadWork?.useWorkers(files, mode) ?? true);
    if (useWorkers(0)) this.pool.warm();
    const scan = scanSources(paths, (found) => {
      counts.offered = found;
      if (useWorkers(found)) this.pool.warm();
      progress('scanning');
    }, () => run.cancel.signal.aborted);
    for (const u of scan.unreadable) rejected.push({ path: u.path, code: 'UNREADABLE', reason: u.reason });

    const queue: string[] = [...scan.files];
    const offeredPaths = new Set(queue);
    counts.offered = queue.length + scan.unreadable.length;
    let nextId = 0;
    const taskPaths = new Map<number, string>();

    // Results are applied to the database in batched transactions.
    let pending: ImportFileResult[] = [];
    const seenThisImport: SeenThisImport = { fileSets: new Set(), instances: new Map() };
    const studiesSeen = new Set<string>();
    /**
     * Results of batches whose transaction rolled back, and results that came back from workers after that:
     * the managed copies they created may be in no row now.
     */
    const rolledBack: ImportFileResult[] = [];
    /** Copies workers created for files whose results never came (a worker died): in no row, and no result names them. */
    const orphaned: PlacedCopy[] = [];
    const apply = () => {
      const batch = pending;
      pending = [];
      if (batch.length === 0) return;
      const countedBefore = { imported: counts.imported, duplicates: counts.duplicates };
      try {
        this.index.transaction(() => {
          for (const r of batch) {
            const study = this.applyResult(r, run.id, mode, counts, rejected, seenThisImport);
            if (study !== null) studiesSeen.add(study);
          }
        });
      } catch (err) {
        // The batch's rows are gone: the failed import records only what was committed.
        Object.assign(counts, countedBefore);
        rolledBack.push(...batch);
        throw err;
      }
    };

    const next = (): ImportFileTask | null => {
      if (run.halt.signal.aborted) return null;
      const path = queue.shift();
      if (path === undefined) return null;
      const id = nextId++;
      taskPaths.set(id, path);
      return { id, path, mode, dataDir: this.dataDir };
    };

    try {
      progress('importing', true);
      const ran = this.pool.run(next, (r) => {
        taskPaths.delete(r.id);
        counts.processed++;
        // The data folder cannot take more copies (disk full, read-only): every further file would fail the same way.
        if (r.kind === 'rejected' && r.code === STORAGE_WRITE_FAILED && run.storageFailure === null) {
          run.storageFailure = r.reason;
          // The workers' queued files would each write to the failing disk again.
          run.halt.abort();
        }
        if (r.kind === 'dicomdir') {
          // Follow the DICOMDIR's records: referenced files not already offered join the queue.
          for (const ref of r.references) {
            if (offeredPaths.has(ref.path)) continue;
            offeredPaths.add(ref.path);
            counts.offered++;
            if (ref.exists) queue.push(ref.path);
            else {
              counts.processed++;
              rejected.push({ path: ref.path, code: 'MISSING_REFERENCE', reason: `referenced by DICOMDIR ${r.path} but the file is missing` });
            }
          }
        }
        pending.push(r);
        if (pending.length >= COMMIT_BATCH) apply();
        progress('importing');
      }, !useWorkers(counts.offered) ? 'calling-thread' : this.callingThreadWork ? 'both' : 'workers', {
        signal: run.halt.signal,
        onUnapplied: (r) => rolledBack.push(r),
        onOrphanedCopy: (copy) => orphaned.push(copy),
      });
      try {
        await ran;
      } catch (err) {
        // The library closed while a cancelled import's worker was stuck on a file: the import ends as cancelled with
        // what came back; a copy the stuck file may still place has no result to index or remove it.
        if (!(err instanceof ImportPoolClosedError && run.cancel.signal.aborted)) throw err;
      }
      apply();
    } catch (err) {
      try {
        apply();
      } finally {
        // After the last apply: a copy created by a rolled-back result may be referenced by a row committed since.
        this.dropCreatedCopies([...createdCopies(rolledBack), ...orphaned]);
      }
      this.index.addRejections(run.id, rejected);
      this.index.finishImport(run.id, 'failed', counts);
      if (err instanceof ImportWorkersUnavailableError) throw workersUnavailable(err, counts.imported);
      throw err;
    }
    // After the last apply, as above: another file of this import with the same content may have a row now.
    this.dropCreatedCopies(orphaned);

    // Files never started because of cancellation (or a storage failure) are not offered: they were not looked at.
    const cancelled = run.cancel.signal.aborted;
    if (cancelled || run.storageFailure !== null) counts.offered = counts.processed + scan.unreadable.length;
    if (run.storageFailure !== null) {
      this.index.addRejections(run.id, rejected);
      this.index.finishImport(run.id, 'failed', counts);
      this.events.emit('library.changed', { reason: 'import' });
      throw new ServiceError('IO_ERROR', `Import stopped after ${counts.imported} imported: ${run.storageFailure}`);
    }
    const status = cancelled ? 'cancelled' : 'done';
    this.index.addRejections(run.id, rejected);
    this.index.finishImport(run.id, status, counts);
    progress(status, true);
    this.events.emit('library.changed', { reason: 'import' });
    const totals = this.index.totals();
    return {
      importId: run.id,
      status,
      offered: counts.offered,
      imported: counts.imported,
      duplicates: counts.duplicates,
      rejected,
      ...totals,
      elapsedMs: Date.now() - started,
      studyInstanceUids: [...studiesSeen],
    };
  }

  /** Applies one file's result; returns the study an instance file was filed under (imported or duplicate), else null. */
  private applyResult(
    r: ImportFileResult,
    importId: string,
    mode: StorageMode,
    counts: { imported: number; duplicates: number },
    rejected: RejectedFile[],
    seen: SeenThisImport,
  ): string | null {
    switch (r.kind) {
      case 'rejected':
        rejected.push({ path: r.path, code: r.code, reason: r.reason });
        return null;
      case 'dicomdir':
        // A DICOMDIR is imported once (its records are followed); the same directory again is a duplicate.
        if (this.index.isFileSetKnown(r.sha256) || seen.fileSets.has(r.sha256)) counts.duplicates++;
        else {
          this.index.addFileSet(r.sha256, r.path, r.references.length);
          counts.imported++;
        }
        seen.fileSets.add(r.sha256);
        return null;
      case 'instance': {
        const m = r.metadata;
        const uid = m.sopInstanceUid;
        const identity: InstanceIdentity = { studyInstanceUid: m.studyInstanceUid, seriesInstanceUid: m.seriesInstanceUid, patientKey: patientKey(m) };
        // Stored by this import: compare with the identity its own file gave it (the index files a series under the
        // study that came first). Stored before: with what the index holds, which keeps each instance's own patient key
        // (a study is filed under its first patient) but gives the study its series is filed under.
        const earlier = seen.instances.get(uid);
        const stored = earlier ? null : this.index.storedInstance(uid);
        const known = earlier ?? stored;
        if (!known) {
          const copyProblem = mode === 'copy' ? this.storedCopyProblem(r) : null;
          if (copyProblem) {
            rejected.push(copyProblem);
            return null;
          }
          seen.instances.set(uid, identity);
          this.index.addInstance({ metadata: m, sha256: r.sha256, size: r.size, storage: mode, path: r.storedPath, sourcePath: r.path, sourceMtimeMs: r.mtimeMs, importId });
          counts.imported++;
          return m.studyInstanceUid;
        }
        const differs = stored && isSameSourceFile(r, stored) ? [] : identityDifferences(identity, known);
        if (differs.length > 0) {
          // Same UID, other study/series/patient: not the same instance in another encoding. Keep the stored one.
          rejected.push({ path: r.path, code: SOP_INSTANCE_CONFLICT, reason: conflictReason(uid, identity, known, differs) });
          this.dropUnusedCopy(r, mode);
          return null;
        }
        // The same instance again, possibly in another encoding (test/integration/oracle): a duplicate.
        if (stored?.storage === 'reference' && mode === 'copy' && r.sha256 !== null) {
          const copyProblem = this.storedCopyProblem(r);
          if (copyProblem) {
            // The row keeps the referenced original.
            rejected.push(copyProblem);
            return null;
          }
          counts.duplicates++;
          // Imported by reference (a CD, a USB stick) and now copied: the row moves to the managed copy, which stays.
          this.index.switchToManagedCopy({
            sopInstanceUid: uid,
            sha256: r.sha256,
            size: r.size,
            path: r.storedPath,
            sourcePath: r.path,
            sourceMtimeMs: r.mtimeMs,
            encoding: m,
          });
          return m.studyInstanceUid;
        }
        counts.duplicates++;
        if (stored?.storage === 'reference' && mode === 'reference' && stored.sourcePath === r.path && (stored.size !== r.size || stored.sourceMtimeMs !== Math.trunc(r.mtimeMs))) {
          // The referenced original changed in place but still holds this instance: display and analysis refuse
          // a changed reference until it is recorded again, which is what re-importing it asks for.
          this.index.refreshReference({
            sopInstanceUid: uid,
            path: r.path,
            size: r.size,
            sourceMtimeMs: r.mtimeMs,
            encoding: m,
          });
        }
        this.dropUnusedCopy(r, mode);
        return m.studyInstanceUid;
      }
    }
  }

  /**
   * Null when the managed copy a result names is in place with the file's size, else why the file is rejected. Called
   * inside the batch's write transaction: another import on this library (the CLI) removes an unused copy only while
   * it holds that lock (dropUnusedCopy), so a copy seen here stays until the row naming it is committed. A worker may
   * have found the copy already stored, or have stored it just before another import removed it as unused.
   */
  private storedCopyProblem(r: InstanceResult): RejectedFile | null {
    let size: number | undefined;
    try {
      size = statSync(join(this.dataDir, r.storedPath), { throwIfNoEntry: false })?.size;
    } catch (err) {
      // Thrown inside the batch's transaction, it would roll back every other file of the batch and fail the import.
      return {
        path: r.path,
        code: STORED_COPY_UNREADABLE,
        reason: `its managed copy ${r.storedPath} could not be checked (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the file itself is unchanged: check the data folder, then import it again`,
      };
    }
    return size === r.size ? null : storedCopyMissing(r);
  }

  /**
   * Removes the managed copy this file's task just wrote for an instance the library does not take, unless it is in
   * use. Only inside a write transaction of the index: the check and the removal must not interleave with another
   * import's batch, which may be about to commit a row naming the same copy (see storedCopyProblem).
   */
  private dropUnusedCopy(r: InstanceResult, mode: StorageMode): void {
    if (mode === 'copy' && r.createdStoredFile && r.sha256) this.dropCopyUnlessReferenced({ storedPath: r.storedPath, sha256: r.sha256 });
  }

  /** As dropUnusedCopy, for a copy this import created: only inside a write transaction of the index. */
  private dropCopyUnlessReferenced(copy: CreatedCopy): void {
    // Only a copy under its own name in the store: a path from a worker's message never reaches anything else (a
    // "hash" holding ../ would make both sides of the comparison name a file outside the store).
    if (!SHA256_HEX.test(copy.sha256) || copy.storedPath !== storedRelativePath(copy.sha256)) return;
    if (!this.index.isShaReferenced(copy.sha256)) rmSync(join(this.dataDir, copy.storedPath), { force: true });
  }

  /**
   * Removes managed copies this import created that no committed row references: those of rolled-back batches, and
   * those of files whose worker died before sending their results (no metadata to index them with; the source file
   * is untouched and reported WORKER_CRASHED, to be imported again). A copy whose use cannot be checked (the write lock not taken: another
   * import holds it) or that cannot be removed stays: an unindexed file costs disk space where a wrongly removed one
   * would cost an instance.
   */
  private dropCreatedCopies(copies: readonly CreatedCopy[]): void {
    // Never throws: a failing import's own error is the one reported.
    this.dropCopiesInTransaction(copies, (copy) => {
      try {
        this.dropCopyUnlessReferenced(copy);
      } catch {
        // Kept, see above.
      }
    });
  }

  /**
   * Runs `drop` on each copy in one write transaction of the index, so that checking a copy's use and removing it
   * do not interleave with another import's batch (storedCopyProblem); none, no transaction. When the write lock
   * cannot be taken (another import holds it) or `drop` throws, the copies not yet removed stay and nothing is
   * thrown: an unindexed file costs disk space where a wrongly removed one would cost an instance. What each caller
   * may remove (its path rule and reference check) is its own `drop`.
   */
  private dropCopiesInTransaction<T>(copies: readonly T[], drop: (copy: T) => void): void {
    if (copies.length === 0) return;
    try {
      this.index.transaction(() => {
        for (const copy of copies) drop(copy);
      });
    } catch {
      // Kept, see above.
    }
  }

  listStudies(query: StudyQuery): StudyList {
    return this.index.listStudies(query);
  }

  getStudy(studyInstanceUid: string): StudyDetail {
    const detail = this.index.getStudy(studyInstanceUid);
    if (!detail) throw new ServiceError('NOT_FOUND', `No study with Study Instance UID ${studyInstanceUid} in the library.`);
    return detail;
  }

  listInstances(seriesInstanceUid: string): SeriesInstances {
    const found = this.index.listInstances(seriesInstanceUid);
    if (!found) throw new ServiceError('NOT_FOUND', `No series with Series Instance UID ${seriesInstanceUid} in the library.`);
    return found;
  }

  lastImport(): ImportRecord | null {
    return this.index.lastImport();
  }

  totals() {
    return this.index.totals();
  }

  /**
   * Deletes a study from the library: its rows (and, by trigger, its AI jobs and
   * results) and the managed copies no other instance references. Referenced
   * originals (storage 'reference') are never touched. False when unknown.
   */
  deleteStudy(studyInstanceUid: string): boolean {
    const removed = this.index.deleteStudy(studyInstanceUid);
    if (!removed) return false;
    this.dropDeletedCopies(removed.unreferencedCopies);
    this.events.emit('library.changed', { reason: 'delete' });
    return true;
  }

  /**
   * Removes the managed copies a committed deletion left unreferenced. Not inside the deletion's transaction (a
   * rollback after the removal would bring back rows naming removed files), but in a write transaction of its own,
   * re-checked: another import on this library (the CLI) may have committed a row naming the same copy since (its
   * worker found it stored), and its batch checks a copy is there under this same lock (storedCopyProblem). Kept when
   * the lock cannot be taken or the check fails: an unindexed file costs disk space, a removed one an instance.
   */
  private dropDeletedCopies(paths: readonly string[]): void {
    // Never throws: the study is deleted all the same.
    this.dropCopiesInTransaction(paths, (rel) => {
      // Managed copies live under the data folder; never follow a path outside it.
      if (isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) return;
      if (this.index.isCopyReferenced(rel)) return;
      try {
        rmSync(join(this.dataDir, rel), { force: true });
      } catch {
        // Kept, see above.
      }
    });
  }

  /** The file serving an instance; for a referenced original, what was recorded at import (display checks it is still that file). */
  instanceFile(sopInstanceUid: string): InstanceFile | null {
    const loc = this.index.instanceLocation(sopInstanceUid);
    if (!loc) return null;
    if (loc.storage === 'copy') return { path: join(this.dataDir, loc.path), reference: null };
    return { path: loc.path, reference: { size: loc.size, mtimeMs: loc.sourceMtimeMs } };
  }

  async close(): Promise<void> {
    const running = this.running;
    if (running) {
      // The import ends as cancelled, indexing the files its workers had started (their copies may be placed
      // already); a worker stuck on one file (a hung network read) must not hold the close for ever.
      cancel(running);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running.ended, new Promise((resolve) => (timer = setTimeout(resolve, this.closeWaitMs)))]);
      clearTimeout(timer);
    }
    // Ends a run still waiting on a stuck worker, so the import records its end before the index closes.
    await this.pool.close();
    if (running) await running.ended;
    this.index.close();
  }
}

/** The copies that results (of rolled-back batches) say their tasks created. */
function createdCopies(results: readonly ImportFileResult[]): CreatedCopy[] {
  return results.flatMap((r) => (r.kind === 'instance' && r.createdStoredFile && r.sha256 !== null ? [{ storedPath: r.storedPath, sha256: r.sha256 }] : []));
}

/** What the user is told when no import worker could start (a window host reads no file on its main thread). */
function workersUnavailable(err: ImportWorkersUnavailableError, imported: number): ServiceError {
  return new ServiceError(
    'UNAVAILABLE',
    `Import stopped after ${imported} imported: its worker threads could not start (${err.why}). The files not imported were left unchanged. ` +
      'Close other programs to free memory, restart Vigil and import again; if it happens again, reinstall Vigil (its import worker may be missing or damaged).',
  );
}

function storedCopyMissing(r: InstanceResult): RejectedFile {
  return {
    path: r.path,
    code: STORED_COPY_MISSING,
    reason: `its managed copy ${r.storedPath} was removed (by another import on this library, or by hand) before it could be indexed; the file itself is unchanged: import it again`,
  };
}

/** Cancels an import: it ends as cancelled, with the files its workers had started indexed. */
function cancel(run: RunningImport): void {
  run.cancel.abort();
  run.halt.abort();
}

/**
 * The very file already stored (same bytes, or the same referenced file unchanged): a duplicate whatever the index
 * filed it under. Needed because the index's grouping can differ from the file's own (a series whose files disagree
 * on the study is filed under its first study; instances stored before schema v7 carry their study's patient key),
 * and importing the same files again must not turn into conflicts.
 */
function isSameSourceFile(r: InstanceResult, stored: StoredInstance): boolean {
  if (r.sha256 !== null && r.sha256 === stored.sha256) return true;
  return r.path === stored.sourcePath && r.size === stored.size && r.mtimeMs === stored.sourceMtimeMs;
}

function identityDifferences(file: InstanceIdentity, stored: InstanceIdentity): ('study' | 'series' | 'patient')[] {
  const differs: ('study' | 'series' | 'patient')[] = [];
  if (file.studyInstanceUid !== stored.studyInstanceUid) differs.push('study');
  if (file.seriesInstanceUid !== stored.seriesInstanceUid) differs.push('series');
  if (!samePatient(file.patientKey, stored.patientKey)) differs.push('patient');
  return differs;
}

/**
 * Patient keys (patientKey()) of one patient: equal, or the same Patient ID where only one side names its issuer
 * (the PACS's objects of a study often carry an Issuer of Patient ID that the modality's images lack).
 */
function samePatient(a: string, b: string): boolean {
  if (a === b) return true;
  const [kindA, issuerA, idA] = a.split('\0');
  const [kindB, issuerB, idB] = b.split('\0');
  return kindA === 'id' && kindB === 'id' && idA === idB && (issuerA === '' || issuerB === '');
}

/** Says which UID and what differs; never the patient's name or ID. */
function conflictReason(uid: string, file: InstanceIdentity, stored: InstanceIdentity, differs: readonly ('study' | 'series' | 'patient')[]): string {
  const what = differs.map((d) =>
    d === 'study'
      ? `study differs (file ${file.studyInstanceUid}, library ${stored.studyInstanceUid})`
      : d === 'series'
        ? `series differs (file ${file.seriesInstanceUid}, library ${stored.seriesInstanceUid})`
        : 'patient differs',
  );
  return (
    `SOP Instance UID ${uid} is already in the library as another instance: ${what.join('; ')}. ` +
    'The stored instance was kept and this file was not imported; check which of the two files is right (a UID reused by another system, or an edited or re-anonymised copy).'
  );
}
