/**
 * Composition root for the plain-Node services. The Electron main process, the
 * loopback bridge and the CLI all open the same services through this function
 * and differ only in the host-specific handlers they pass in.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { AnalysisJob, AppInfo, RunWarning, RuntimeInfo, ValidateModelRequest, ValidationCasesKind, ValidationResult } from '../../contract/ipc-contract';
import { AnalysisService } from './ai/analysis-service';
import { ModelRegistry } from './ai/model-registry';
import { reviewedMaskFile, ReviewStore } from './ai/review-store';
import { pastedPath, ValidationCancelledError, ValidationInputError } from './ai/local-validation';
import { type BundledProvider, detectBundledProviders, installedOrtVersion, runtimeInfo } from './ai/runtime-info';
import { preferredProviders, type ProviderName } from './ai/session-manager';
import { ValidationBusyError, ValidationRunner } from './ai/validation-runner';
import type { InstanceFile } from './dicom/display-bytes';
import { EventHub } from './event-hub';
import { type ChannelHandlers, IpcRouter } from './ipc-router';
import { sweepStoreTemps } from './library/store-sweep';
import { StudyLibrary, type StorageMode } from './library/study-library';
import { ThumbnailStore } from './library/thumbnail-store';
import { ServiceError } from './service-error';

export type HostKind = AppInfo['host'];

/**
 * A run warning as analysis.results sends it: without what a reader's vouch covers (every image's SOP Instance UID,
 * the model's sha-256), which only the services read, and which would repeat a whole series in every reply.
 */
function warningView(w: RunWarning): RunWarning {
  if (w.code !== 'APPLICABILITY_NOT_RECORDED') return w;
  return { code: w.code, message: w.message, attributes: w.attributes, vouchedBy: w.vouchedBy };
}

export interface VigilServicesOptions {
  dataDir: string;
  host: HostKind;
  version?: string;
  /** Worker threads for import; 0 runs parsing in-process (tests, tiny imports). */
  importWorkers?: number;
  /** URL of the bundled import worker; defaults to the file beside the running bundle. */
  importWorkerUrl?: URL;
  storageMode?: StorageMode;
  /** Read-only folder of the model packages shipped with the app (resources/models when packaged). */
  modelsDir?: string;
  /** User model packages; defaults to <dataDir>/models. */
  userModelsDir?: string;
  /** URL of the bundled inference worker; null runs analysis in-process (unit tests). */
  inferenceWorkerUrl?: URL | null;
  /** ONNX Runtime intra-op threads for analysis (default: all cores). */
  inferenceThreads?: number;
  /** Execution providers to try, best first (default: per platform). Tests use this to simulate machines. */
  executionProviders?: ProviderName[];
  /** Start the analysis queue (and resume pending jobs) on open. Default true. */
  startAnalysisQueue?: boolean;
  /** Host-provided native picker (Electron only). */
  chooseImportSources?: (kind: 'folder' | 'files') => Promise<string[]>;
  /** Host-provided native save dialog (Electron only): the chosen path, or null when cancelled. */
  chooseSavePath?: (suggestedName: string) => Promise<string | null>;
  /** Host-provided native picker for validation cases (Electron only): a folder or a CSV, or null when cancelled. */
  chooseValidationCases?: (kind: ValidationCasesKind) => Promise<string | null>;
  /** URL of the bundled validation worker; defaults to validation-worker.js beside the inference worker; null runs in-process (unit tests). */
  validationWorkerUrl?: URL | null;
  /** The ONNX Runtime provider binaries the host bundles (Electron: runtime-paths); other hosts detect them. */
  executionProviderInfo?: BundledProvider[];
  log?: (msg: string) => void;
}

export interface VigilServices {
  readonly dataDir: string;
  /** The shipped model packages' folder, when the host knows it. */
  readonly modelsDir: string | null;
  readonly events: EventHub;
  readonly library: StudyLibrary;
  readonly models: ModelRegistry;
  readonly analysis: AnalysisService;
  readonly router: IpcRouter;
  readonly reviews: ReviewStore;
  /** The file of an instance's stored bytes (with the import record of a referenced original), or null if unknown. */
  instanceFile(sopInstanceUid: string): InstanceFile | null;
  /** Absolute path of one array file (mask, heatmap) a result declares, or null. */
  resultFile(resultId: number, file: string): string | null;
  close(): Promise<void>;
}

export async function openVigilServices(options: VigilServicesOptions): Promise<VigilServices> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const events = new EventHub();
  const library = await StudyLibrary.open({
    dataDir,
    events,
    importWorkers: options.importWorkers,
    importWorkerUrl: options.importWorkerUrl,
    storageMode: options.storageMode,
  });
  const log = options.log ?? ((msg: string) => console.error(msg));
  // Temp files a crash left in the store; in the background, as walking a large store takes a while and nothing waits on it.
  const sweepAbort = new AbortController();
  const storeSweep = sweepStoreTemps(dataDir, { signal: sweepAbort.signal }).then(
    ({ removed, failed }) => {
      if (removed > 0) log(`library: removed ${removed} leftover temp file(s) from interrupted imports in ${join(dataDir, 'store')}`);
      if (failed > 0) log(`library: ${failed} leftover temp file(s) or folder(s) in ${join(dataDir, 'store')} could not be checked or removed`);
    },
    (err: unknown) => log(`library: sweeping leftover temp files failed: ${err instanceof Error ? err.message : String(err)}`),
  );
  const version = options.version ?? '0.1.0';

  const models = new ModelRegistry([
    ...(options.modelsDir ? [{ dir: resolve(options.modelsDir), origin: 'bundled' as const }] : []),
    { dir: resolve(options.userModelsDir ?? join(dataDir, 'models')), origin: 'user' as const },
  ]);
  const analysis = new AnalysisService({
    library,
    registry: models,
    events,
    workerUrl: options.inferenceWorkerUrl === undefined ? new URL('./inference-worker.js', import.meta.url) : options.inferenceWorkerUrl,
    ...(options.inferenceThreads ? { threads: options.inferenceThreads } : {}),
    ...(options.executionProviders ? { providers: options.executionProviders } : {}),
    autoStart: options.startAnalysisQueue ?? true,
  });
  const jobView = (j: { id: string; studyUid: string; seriesUid: string; modelId: string; status: AnalysisJob['status']; reason: string | null }): AnalysisJob => ({
    jobId: j.id,
    studyInstanceUid: j.studyUid,
    seriesInstanceUid: j.seriesUid,
    modelId: j.modelId,
    status: j.status,
    reason: j.reason,
  });

  const reviews = new ReviewStore(library.studyIndex.db, library.studyIndex, undefined, analysis.results);
  const settingsView = () => ({ reviewerName: reviews.reviewerName, aiForceCpu: analysis.forceCpu, aiAutoRunOnImport: analysis.autoRunOnImport });

  // Local validation (models.validate) runs in a worker of its own, off the main event loop.
  const inferenceUrl = options.inferenceWorkerUrl === undefined ? new URL('./inference-worker.js', import.meta.url) : options.inferenceWorkerUrl;
  const validation = new ValidationRunner({
    workerUrl: options.validationWorkerUrl !== undefined ? options.validationWorkerUrl : inferenceUrl ? new URL('./validation-worker.js', inferenceUrl) : null,
    ...(options.inferenceThreads ? { threads: options.inferenceThreads } : {}),
    ...(options.executionProviders ? { providers: options.executionProviders } : {}),
  });
  let lastValidationRun: RuntimeInfo['lastRun'] = null;
  const validate = async (request: ValidateModelRequest): Promise<ValidationResult> => {
    const model = await models.get(request.modelId);
    if (!model) {
      const listed = (await models.list()).find((m) => m.id === request.modelId);
      throw new ServiceError(listed ? 'BAD_REQUEST' : 'NOT_FOUND', listed ? `model "${request.modelId}" is not usable: ${listed.reason ?? listed.status}` : `no model package with id "${request.modelId}"`);
    }
    const casesPath = resolve(pastedPath(request.casesPath));
    try {
      const r = await validation.run(
        { model, casesPath, provider: analysis.forceCpu ? 'cpu' : 'auto', ...(request.positiveLabel ? { positiveLabel: request.positiveLabel } : {}), ...(request.caseUnit ? { caseUnit: request.caseUnit } : {}) },
        (done, total, phase) => events.emit('models.validateProgress', { modelId: request.modelId, done, total, phase }),
      );
      const finishedAt = new Date().toISOString();
      if (r.provider) lastValidationRun = { provider: r.provider, modelId: r.modelId, at: finishedAt, note: null };
      return {
        modelId: r.modelId,
        modelName: model.manifest.name,
        modelVersion: r.modelVersion,
        modelSha256: r.modelSha256,
        intendedUse: model.manifest.intendedUse,
        clinicalUse: model.manifest.clinicalUse,
        casesPath,
        positiveLabel: r.positiveLabel,
        negativeLabels: r.negativeLabels,
        provider: r.provider,
        ortVersion: r.ortVersion,
        n: r.n,
        positives: r.positives,
        threshold: r.threshold,
        auc: r.auc,
        accuracy: r.accuracy,
        sensitivity: r.sensitivity,
        specificity: r.specificity,
        ppv: r.ppv,
        npv: r.npv,
        f1: r.f1,
        ece: r.ece,
        brier: r.brier,
        ci95: r.ci95,
        ciMethod: r.ciMethod,
        confusion: r.confusion,
        roc: r.roc.map((p) => ({ fpr: p.fpr, tpr: p.tpr, threshold: Number.isFinite(p.threshold) ? p.threshold : null })),
        reliability: r.reliability,
        excluded: r.excluded,
        seconds: r.seconds,
        finishedAt,
        analysedWhole: r.analysedWhole,
        vouchedUnrecorded: r.vouchedUnrecorded,
        cases: r.cases,
        caseUnit: r.caseUnit,
      };
    } catch (err) {
      if (err instanceof ValidationInputError) throw new ServiceError('BAD_REQUEST', err.message);
      if (err instanceof ValidationBusyError) throw new ServiceError('BUSY', err.message);
      if (err instanceof ValidationCancelledError) throw new ServiceError('CANCELLED', 'The validation was cancelled: nothing was scored.');
      throw err;
    }
  };
  const runtimeView = (): RuntimeInfo => {
    const stored = analysis.results.latestRun();
    const lastRun = [stored, lastValidationRun].filter((r): r is NonNullable<typeof r> => r !== null).sort((a, b) => b.at.localeCompare(a.at))[0] ?? null;
    return runtimeInfo({
      ortVersion: installedOrtVersion(),
      platform: process.platform,
      arch: process.arch,
      bundled: options.executionProviderInfo ?? detectBundledProviders(),
      order: options.executionProviders ?? preferredProviders(),
      forceCpu: analysis.forceCpu,
      lastRun,
    });
  };
  const resultFile = (resultId: number, file: string): string | null => {
    if (!Number.isInteger(resultId) || file !== basename(file)) return null;
    const r = analysis.results.get(resultId);
    if (!r) return null;
    const declared = r.outputs.some(
      (o) => (o.kind === 'segmentation' && (o.mask.file === file || reviewedMaskFile(o.mask.file) === file)) || (o.kind === 'heatmap' && o.map.file === file),
    );
    return declared ? join(r.filesDir, file) : null;
  };

  const thumbnails = new ThumbnailStore(join(dataDir, 'thumbnails'));
  const handlers: ChannelHandlers = {
    'app.info': () => ({ version, host: options.host, dataDir, storageMode: library.storageMode }),
    'library.import': (request) => library.import(request),
    'library.cancelImport': (request) => ({ cancelled: library.cancelImport(request.importId) }),
    'library.listStudies': (request) => library.listStudies(request),
    'library.getStudy': (request) => library.getStudy(request.studyInstanceUid),
    'library.lastImport': () => library.lastImport(),
    'library.listInstances': (request) => library.listInstances(request.seriesInstanceUid),
    'library.getThumbnail': async (request) => ({ pngBase64: await thumbnails.get(request.seriesInstanceUid) }),
    'library.saveThumbnail': async (request) => {
      await thumbnails.save(request.seriesInstanceUid, request.pngBase64);
      return { saved: true };
    },
    'models.list': async () => ({ models: await models.list() }),
    'models.rescan': async () => {
      const changes = await models.refresh();
      events.emit('models.changed', { reason: 'rescan' });
      return { models: await models.list(), ...changes };
    },
    'analysis.run': async (request) => {
      const r = await analysis.analyze(request);
      return { queued: r.queued.map(jobView), notAnalysed: r.notAnalysed.map(jobView) };
    },
    'analysis.results': (request) => ({
      results: analysis.resultsForStudy(request.studyInstanceUid).map((r) => ({
        resultId: r.id,
        studyInstanceUid: r.studyInstanceUid,
        seriesInstanceUid: r.seriesInstanceUid,
        modelId: r.modelId,
        modelVersion: r.modelVersion,
        modelSha256: r.modelSha256,
        ortVersion: r.ortVersion,
        provider: r.provider,
        providerNote: r.providerNote,
        status: r.status,
        reason: r.reason,
        findings: r.findings,
        timingsMs: { ...r.timingsMs },
        // A refusal's images are what a vouch answering it is held to (services only); the renderer draws none of them.
        inputSopInstanceUids: r.status === 'not-analysed' ? [] : r.inputSopInstanceUids,
        outputs: r.outputs.map((o) => ({ ...o })),
        createdAt: r.createdAt,
        warnings: r.warnings.map(warningView),
        population: r.population,
        ...(r.unrecorded ? { unrecorded: r.unrecorded } : {}),
        ...(r.vouchLapsed ? { vouchLapsed: r.vouchLapsed } : {}),
        ...(r.refusalReason !== undefined ? { refusalReason: r.refusalReason } : {}),
      })),
    }),
    'analysis.jobs': () => ({ jobs: analysis.queue.list().map(jobView) }),
    'analysis.cancel': (request) => ({ cancelled: analysis.queue.cancel(request.jobId) }),
    'analysis.retry': (request) => ({ retried: analysis.queue.retry(request.jobId) }),
    'library.deleteStudy': (request) => {
      // Jobs first (a running one is stopped), then results and their files, then the study itself.
      analysis.forgetStudy(request.studyInstanceUid);
      return { deleted: library.deleteStudy(request.studyInstanceUid) };
    },
    'review.set': (request) => reviews.set(request),
    'review.list': (request) => reviews.list(request.studyInstanceUid),
    'review.saveMaskEdits': (request) => reviews.saveMaskEdits(request),
    'settings.get': () => settingsView(),
    'settings.update': (request) => {
      if (request.reviewerName !== undefined) reviews.setReviewerName(request.reviewerName);
      if (request.aiForceCpu !== undefined) analysis.setForceCpu(request.aiForceCpu);
      if (request.aiAutoRunOnImport !== undefined) analysis.setAutoRunOnImport(request.aiAutoRunOnImport);
      return settingsView();
    },
    'models.validate': (request) => validate(request),
    'models.cancelValidation': async () => {
      const cancelled = validation.cancel();
      // Answered once the run has stopped: a validation started next is not refused as BUSY.
      if (cancelled) await validation.stopped();
      return { cancelled };
    },
    'ai.runtimeInfo': () => runtimeView(),
    'reports.save': async (request) => {
      if (!options.chooseSavePath) throw new ServiceError('UNAVAILABLE', 'This host has no native save dialog; the page downloads the report instead.');
      const path = await options.chooseSavePath(request.suggestedName);
      if (!path) return { saved: false, path: null };
      try {
        await writeFile(path, request.html, 'utf8');
      } catch (err) {
        throw new ServiceError('IO_ERROR', `Could not save the report to ${path}: ${(err as Error).message}`);
      }
      return { saved: true, path };
    },
    'dialog.chooseImportSources': async (request) => {
      if (!options.chooseImportSources) {
        throw new ServiceError('UNAVAILABLE', 'This host has no native file dialog; drop files or pick them in the page.');
      }
      return { paths: await options.chooseImportSources(request.kind) };
    },
    'dialog.chooseValidationCases': async (request) => {
      if (!options.chooseValidationCases) {
        throw new ServiceError('UNAVAILABLE', 'This host has no native file dialog; type the path of the cases folder or CSV.');
      }
      return { path: await options.chooseValidationCases(request.kind) };
    },
  };

  return {
    dataDir,
    modelsDir: options.modelsDir ? resolve(options.modelsDir) : null,
    events,
    library,
    models,
    analysis,
    router: new IpcRouter(handlers, options.log),
    reviews,
    instanceFile: (uid) => library.instanceFile(uid),
    resultFile,
    close: async () => {
      sweepAbort.abort();
      await storeSweep;
      // Both runs stop at their next step, side by side; the database closes after them.
      await Promise.all([validation.close(), analysis.close()]);
      await reviews.whenWritten();
      await library.close();
    },
  };
}
