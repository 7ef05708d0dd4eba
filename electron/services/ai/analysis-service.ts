/**
 * AnalysisService: the AI capability the hosts use. Lists model packages,
 * queues (series, model) jobs for applicable models (inapplicable ones are
 * recorded as "not analysed: <reason>"), runs them on the inference worker
 * through the queue, stores results, and optionally analyses new imports.
 */
import type Database from 'better-sqlite3';
import type { EventHub } from '../event-hub';
import { ServiceError } from '../service-error';
import type { StudyLibrary } from '../library/study-library';
import {
  type Applicability,
  buildSeriesFacts,
  checkApplicability,
  checkPopulation,
  lapsedVouchReason,
  type RunWarning,
  type SeriesFacts,
  unrecordedWarning,
  type VouchCoverage,
  vouchCovers,
  vouchLapse,
  type VouchLapse,
} from './applicability';
import type { InferenceJob } from './inference-job';
import type { OutputRecord } from './run-outputs';
import type { ModelManifest } from './model-manifest';
import { InferenceRunner, JobCancelledError, RunnerClosedError } from './inference-runner';
import { InferenceQueue, type JobOutcome, type QueuedJob, type ReaderVouch } from './inference-queue';
import type { ModelRegistry, ReadyModel, RegisteredModel } from './model-registry';
import { type RunContext, ResultsStore, type StoredResult } from './results-store';
import { settlesWithin } from './run-cancel';
import type { ProviderName } from './session-manager';
import { AI_AUTO_RUN_ON_IMPORT_SETTING } from './settings-keys';

export interface AnalysisServiceOptions {
  library: StudyLibrary;
  registry: ModelRegistry;
  events: EventHub;
  /** Bundled inference worker; null runs in-process (unit tests). */
  workerUrl: URL | null;
  threads?: number;
  providers?: ProviderName[];
  /** Start processing queued jobs (including ones left from the last run) at once. */
  autoStart?: boolean;
}

export interface AnalyzeRequest {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  modelId?: string;
  stat?: boolean;
  provider?: 'auto' | 'cpu';
  /**
   * The reader vouches that the series is what the model needs where it does not record an attribute the
   * applicability rules read (e.g. no Body Part Examined): such a series is analysed, its run carrying an
   * APPLICABILITY_NOT_RECORDED warning. A recorded value that contradicts the model still refuses it.
   * The vouch covers the series' images as they are now and the model package as it is now, and sticks to them:
   * later requests without it analyse the series too, until it holds an image imported since or the model is
   * another version (standingReaderVouch).
   */
  vouchForUnrecorded?: boolean;
  /**
   * With vouchForUnrecorded: the refusal the reader answers (its result id; the findings panel). Only that refusal's
   * series and model are run, and the vouch is given only if the series' images, what it does not record and the
   * model package are still what the refusal showed; otherwise a fresh refusal is recorded, saying why (its
   * vouchLapsed, `answered`). Without it the vouch covers the series as it is now (the CLI, whose user sees that
   * state in the same command).
   */
  vouchForResultId?: number;
}

/** What a request vouches for: the series as it is now, what a refusal the reader answers showed, or nothing. */
type VouchGiven = { for: 'series-now' } | { for: 'refusal'; refusal: StoredResult } | null;

/**
 * A series' facts and its images (SOP Instance UIDs of the instances with pixel data, in reading order), from one
 * read of its instances, so that both are of the same moment (an import elsewhere may add an image): a refusal
 * records, and a run analyses, exactly the images that were judged.
 */
interface JudgedSeries {
  facts: SeriesFacts;
  images: string[];
}

/** The reader's vouches a stored result's run carried (its APPLICABILITY_NOT_RECORDED warnings that say what they cover). */
function readerVouches(result: StoredResult | null): ReaderVouch[] {
  const vouches: ReaderVouch[] = [];
  for (const w of result?.warnings ?? []) {
    if (w.code === 'APPLICABILITY_NOT_RECORDED' && w.vouchedBy === 'reader' && w.sopInstanceUids && w.modelSha256) {
      vouches.push({ sopInstanceUids: w.sopInstanceUids, modelSha256: w.modelSha256, attributes: w.attributes });
    }
  }
  return vouches;
}

/**
 * The reader's vouches for a series and model as its latest stored result knows them: those its run carried, then the
 * lapsed one a refusal since recorded (so a later refusal still says why).
 */
function earlierVouches(latest: StoredResult | null): VouchCoverage[] {
  return [...readerVouches(latest), ...(latest?.lapsedVouch ? [latest.lapsedVouch] : [])];
}

export interface AnalyzeOutcome {
  queued: QueuedJob[];
  notAnalysed: QueuedJob[];
}

/** A classification output as stored: its per-image score columns named, so the viewer can find a label's strongest image. */
type LabelledClassification = Extract<OutputRecord, { kind: 'classification' }> & { labels: string[]; normalLabels: string[] };

/** Names the per-image score columns of each classification output with the manifest's labels. */
function withScoreLabels(manifest: ModelManifest, outputs: readonly OutputRecord[]): OutputRecord[] {
  return outputs.map((o) => {
    if (o.kind !== 'classification') return o;
    const spec = manifest.outputs.find((x) => x.kind === 'classification' && x.tensor === o.tensor);
    if (spec?.kind !== 'classification') return o;
    const labelled: LabelledClassification = { ...o, labels: [...spec.labels], normalLabels: [...(spec.normalLabels ?? [])] };
    return labelled;
  });
}

/**
 * The reader's vouch for a series and model that no longer covers it because of what it covered, and how (images the
 * reader did not see, another model package, attributes not recorded now that it was not given for): the first of
 * `vouches` that lapsed (the vouch a job was queued on, else the latest result's: earlierVouches). Null when none did.
 */
function lapsedVouch(
  vouches: readonly VouchCoverage[],
  manifest: ModelManifest,
  images: readonly string[],
  unrecorded: readonly string[],
): { vouch: VouchCoverage; lapse: VouchLapse } | null {
  for (const vouch of vouches) {
    const lapse = vouchLapse(vouch, { sopInstanceUids: images, modelSha256: manifest.sha256, unrecorded });
    if (lapse) {
      const kept: VouchCoverage = { sopInstanceUids: [...vouch.sopInstanceUids], modelSha256: vouch.modelSha256, ...(vouch.attributes ? { attributes: [...vouch.attributes] } : {}) };
      return { vouch: kept, lapse };
    }
  }
  return null;
}

/**
 * How the series and model now differ from what a refusal the reader answered ("Analyse anyway") showed them, when
 * that answer is not taken as a vouch (showsAsNow): told on the fresh refusal, so the reader knows their click
 * analysed nothing and why. Null when the result answered is no refusal for unrecorded attributes (none to tell).
 * A refusal stored before refusals recorded their images ([]) says nothing of which images the reader saw: its time
 * against the images' import times proves nothing (an image imported between the judgement and the save, a clock
 * set back), so it is not vouched for either, and the fresh refusal says why (imagesNotRecorded) rather than that
 * images were added.
 */
function answeredLapse(refusal: StoredResult, manifest: ModelManifest, images: readonly string[], unrecorded: readonly string[]): VouchLapse | null {
  if (refusal.status !== 'not-analysed' || !refusal.unrecorded) return null;
  const shown = refusal.unrecorded;
  const imagesNotRecorded = refusal.inputSopInstanceUids.length === 0;
  const seen = new Set(refusal.inputSopInstanceUids);
  const attributesNotVouched = unrecorded.filter((a) => !shown.includes(a));
  const attributesNoLongerUnrecorded = shown.filter((a) => !unrecorded.includes(a));
  const now = new Set(images);
  const imagesRemoved = imagesNotRecorded ? 0 : refusal.inputSopInstanceUids.filter((uid) => !now.has(uid)).length;
  return {
    imagesAdded: imagesNotRecorded ? 0 : images.filter((uid) => !seen.has(uid)).length,
    ...(imagesRemoved > 0 ? { imagesRemoved } : {}),
    modelChanged: refusal.modelSha256 !== manifest.sha256,
    ...(attributesNotVouched.length > 0 ? { attributesNotVouched } : {}),
    answered: true,
    ...(imagesNotRecorded ? { imagesNotRecorded: true } : {}),
    ...(attributesNoLongerUnrecorded.length > 0 ? { attributesNoLongerUnrecorded } : {}),
  };
}

/**
 * Whether the series and model are still what the refusal the reader answers showed (its images, what the series does
 * not record, the model package): nothing in its lapse. A refusal that recorded no images shows none, so never.
 */
function showsAsNow(lapse: VouchLapse): boolean {
  return !lapse.imagesNotRecorded && lapse.imagesAdded === 0 && !lapse.imagesRemoved && !lapse.modelChanged && !lapse.attributesNotVouched && !lapse.attributesNoLongerUnrecorded;
}

/** A fresh refusal's reason, telling why the refusal the reader answered no longer held (English: job list, logs; the UI uses the fields). */
function answeredLapseReason(reason: string, lapse: VouchLapse): string {
  const why: string[] = [];
  if (lapse.imagesNotRecorded) why.push('it was stored before refusals recorded the images they judged');
  if (lapse.modelChanged) why.push('the model is another version now');
  if (lapse.imagesAdded > 0) why.push(`${lapse.imagesAdded} image${lapse.imagesAdded === 1 ? ' was' : 's were'} added since`);
  const removed = lapse.imagesRemoved ?? 0;
  if (removed > 0) why.push(`${removed} image${removed === 1 ? ' was' : 's were'} removed since`);
  const more = lapse.attributesNotVouched ?? [];
  if (more.length > 0) why.push(`the series does not record ${more.join(', ')} either now`);
  const fewer = lapse.attributesNoLongerUnrecorded ?? [];
  if (fewer.length > 0) why.push(`it listed ${fewer.join(', ')}, which the series is no longer refused for`);
  return `${reason}; not analysed on your vouch: the refusal you answered no longer holds (${why.join('; ')})`;
}

/**
 * A reader's earlier vouch for this series and model that covers it as it is now, or null: the latest stored result
 * (`latest`) carries the reader's APPLICABILITY_NOT_RECORDED warning for the attributes it does not record now (or for
 * more), given for every image it holds now and for this model package (sha-256). An image imported since, or another
 * version of the model, was never seen by the reader: they vouch again. Warnings stored before the vouch recorded
 * its images and model cover nothing.
 * The latest result of any status, not the latest done one: every run queued on a vouch records the warning
 * whatever its outcome (done, failed, or not analysed by the job, e.g. images of differing sizes), so a run that
 * failed for another reason keeps the vouch. A refusal records none, so once the series has been refused since
 * (it now records a contradicting value, or lacks an attribute the vouch did not cover) the vouch is spent: it was
 * given for the series as it was then, and the reader vouches again for the series as it is now.
 */
function standingReaderVouch(latest: StoredResult | null, manifest: ModelManifest, images: readonly string[], unrecorded: readonly string[]): ReaderVouch | null {
  return readerVouches(latest).find((vouch) => vouchCovers(vouch, { sopInstanceUids: images, modelSha256: manifest.sha256, unrecorded })) ?? null;
}

const SETTING_FORCE_CPU = 'ai.forceCpu';
/** How long close() waits for the queue to record the job the runner stopped. */
const CLOSE_IDLE_WAIT_MS = 5_000;

export class AnalysisService {
  readonly queue: InferenceQueue;
  readonly results: ResultsStore;
  private readonly runner: InferenceRunner;
  /** Running jobs the reader cancelled before the runner started them. */
  private readonly cancelledBeforeRun = new Set<string>();
  private readonly db: Database.Database;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: AnalysisServiceOptions) {
    this.db = opts.library.studyIndex.db;
    this.results = new ResultsStore(this.db, opts.library.dataDir);
    this.runner = new InferenceRunner({ workerUrl: opts.workerUrl, ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.providers ? { providers: opts.providers } : {}) });
    this.queue = new InferenceQueue(this.db, (job) => this.execute(job));
    // A job the queue runs but the runner has not started yet (its model still loading) stops before it would.
    this.queue.onCancelRunning((id) => {
      if (!this.runner.cancel(id)) this.cancelledBeforeRun.add(id);
    });
    this.queue.subscribe((job) =>
      opts.events.emit('analysis.progress', {
        jobId: job.id,
        studyInstanceUid: job.studyUid,
        seriesInstanceUid: job.seriesUid,
        modelId: job.modelId,
        status: job.status,
        reason: job.reason,
      }),
    );
    this.unsubscribe = opts.events.subscribe((event, payload) => {
      if (event === 'library.changed' && (payload as { reason: string }).reason === 'import' && this.autoRunOnImport) void this.analyzeUnanalysed();
    });
    if (opts.autoStart !== false) this.queue.start();
  }

  /** Before a study is deleted: cancels its pending/running jobs and deletes its results and result files. */
  forgetStudy(studyUid: string): void {
    for (const job of this.queue.list()) {
      if (job.studyUid === studyUid && (job.status === 'pending' || job.status === 'running')) this.queue.cancel(job.id);
    }
    this.results.deleteStudy(studyUid);
  }

  get autoRunOnImport(): boolean {
    return this.opts.library.studyIndex.getSetting(AI_AUTO_RUN_ON_IMPORT_SETTING) === 'true';
  }

  setAutoRunOnImport(on: boolean): void {
    this.opts.library.studyIndex.setSetting(AI_AUTO_RUN_ON_IMPORT_SETTING, on ? 'true' : 'false');
  }

  /** The "force CPU" setting: every job runs on CPU whatever it asked for. */
  get forceCpu(): boolean {
    return this.opts.library.studyIndex.getSetting(SETTING_FORCE_CPU) === 'true';
  }

  setForceCpu(on: boolean): void {
    this.opts.library.studyIndex.setSetting(SETTING_FORCE_CPU, on ? 'true' : 'false');
  }

  listModels(): Promise<RegisteredModel[]> {
    return this.opts.registry.list();
  }

  seriesOfStudy(studyUid: string): { seriesUid: string }[] {
    return this.db
      .prepare<[string], { series_uid: string }>('SELECT m.series_uid FROM series m JOIN studies s ON s.id = m.study_ref WHERE s.study_uid = ? ORDER BY m.id')
      .all(studyUid)
      .map((r) => ({ seriesUid: r.series_uid }));
  }

  /** The series' facts and its images (JudgedSeries); null when the library holds no such series. */
  seriesFacts(seriesUid: string): JudgedSeries | null {
    const row = this.db
      .prepare<
        [string],
        { id: number; modality: string; series_description: string; study_description: string; study_date: string; patient_age: string; birth_date: string }
      >(
        `SELECT m.id, m.modality, m.description AS series_description, s.description AS study_description, s.study_date, s.patient_age, p.birth_date
         FROM series m JOIN studies s ON s.id = m.study_ref JOIN patients p ON p.id = s.patient_ref WHERE m.series_uid = ?`,
      )
      .get(seriesUid);
    if (!row) return null;
    // Each image's own attributes, body part included: the series row holds only its first file's.
    const inst = this.db
      .prepare<
        [number],
        { sop_instance_uid: string; sop_class_uid: string; body_part: string; anatomic_region: string; photometric: string; pixel_spacing: string; view_position: string; frames: number | null }
      >(
        'SELECT sop_instance_uid, sop_class_uid, body_part, anatomic_region, photometric, pixel_spacing, view_position, frames FROM instances WHERE series_ref = ? AND has_pixel_data = 1 ORDER BY instance_number, id',
      )
      .all(row.id);
    const facts = buildSeriesFacts(
      {
        modality: row.modality,
        seriesDescription: row.series_description,
        studyDescription: row.study_description,
        patientAge: row.patient_age,
        birthDate: row.birth_date,
        studyDate: row.study_date,
      },
      inst.map((i) => ({
        bodyPartExamined: i.body_part,
        anatomicRegion: i.anatomic_region,
        viewPosition: i.view_position,
        photometricInterpretation: i.photometric,
        pixelSpacing: i.pixel_spacing,
        numberOfFrames: i.frames,
        sopClassUid: i.sop_class_uid,
      })),
    );
    return { facts, images: inst.map((i) => i.sop_instance_uid) };
  }

  private async models(modelId?: string): Promise<ReadyModel[]> {
    if (!modelId) return this.opts.registry.ready();
    const model = await this.opts.registry.get(modelId);
    if (model) return [model];
    const listed = (await this.opts.registry.list()).find((m) => m.id === modelId);
    if (listed) throw new ServiceError('UNAVAILABLE', `Model ${modelId} is invalid and cannot run: ${listed.reason ?? 'unknown reason'}`);
    throw new ServiceError('NOT_FOUND', `No model package with id ${modelId}.`);
  }

  /** Queues every applicable (series, model) of a study; records the rest as not analysed. */
  async analyze(req: AnalyzeRequest): Promise<AnalyzeOutcome> {
    const refusal = req.vouchForResultId === undefined ? null : this.answeredRefusal(req);
    // A vouch answering a refusal runs that refusal's series and model only.
    const models = await this.models(refusal?.modelId ?? req.modelId);
    const seriesUid = refusal?.seriesInstanceUid ?? req.seriesInstanceUid;
    const series = seriesUid ? [{ seriesUid }] : this.seriesOfStudy(req.studyInstanceUid);
    if (series.length === 0) throw new ServiceError('NOT_FOUND', `No series to analyse in study ${req.studyInstanceUid}.`);
    const request = {
      studyUid: req.studyInstanceUid,
      stat: req.stat ?? false,
      provider: this.forceCpu ? ('cpu' as const) : (req.provider ?? 'auto'),
      vouch: req.vouchForUnrecorded !== true ? null : refusal ? { for: 'refusal' as const, refusal } : { for: 'series-now' as const },
    };
    const outcome: AnalyzeOutcome = { queued: [], notAnalysed: [] };
    for (const { seriesUid } of series) {
      const seriesOutcome = this.analyzeSeries(request, seriesUid, models);
      outcome.queued.push(...seriesOutcome.queued);
      outcome.notAnalysed.push(...seriesOutcome.notAnalysed);
    }
    return outcome;
  }

  /** The refusal a vouching request answers (vouchForResultId): a result of the request's study, series and model. */
  private answeredRefusal(req: AnalyzeRequest): StoredResult {
    if (req.vouchForUnrecorded !== true) throw new ServiceError('BAD_REQUEST', 'vouchForResultId names the refusal a vouch answers: it needs vouchForUnrecorded.');
    const refusal = req.vouchForResultId === undefined ? null : this.results.get(req.vouchForResultId);
    if (!refusal || refusal.studyInstanceUid !== req.studyInstanceUid) throw new ServiceError('NOT_FOUND', `No result ${req.vouchForResultId} in study ${req.studyInstanceUid}.`);
    if ((req.seriesInstanceUid && req.seriesInstanceUid !== refusal.seriesInstanceUid) || (req.modelId && req.modelId !== refusal.modelId)) {
      throw new ServiceError('BAD_REQUEST', `Result ${refusal.id} is of series ${refusal.seriesInstanceUid} and model ${refusal.modelId}, not the ones the request names.`);
    }
    return refusal;
  }

  /** Auto-run on import: every series without a job for a ready model. */
  async analyzeUnanalysed(): Promise<void> {
    const models = await this.opts.registry.ready();
    const studies = this.db.prepare<[], { study_uid: string }>('SELECT study_uid FROM studies').all();
    const provider = this.forceCpu ? ('cpu' as const) : ('auto' as const);
    for (const { study_uid } of studies) {
      for (const { seriesUid } of this.seriesOfStudy(study_uid)) {
        const lacking = models.filter((m) => !this.queue.find(seriesUid, m.manifest.id));
        // Nobody vouches for an unrecorded attribute on import: such series are recorded as not analysed, unless a
        // reader vouched for that series and model before (standingReaderVouch; a series with a job is not run again here).
        if (lacking.length > 0) this.analyzeSeries({ studyUid: study_uid, stat: false, provider, vouch: null }, seriesUid, lacking);
      }
    }
  }

  /** Queues the series for each applicable model and records the rest as not analysed; its facts are read once for all the models. */
  private analyzeSeries(request: { studyUid: string; stat: boolean; provider: 'auto' | 'cpu'; vouch: VouchGiven }, seriesUid: string, models: readonly ReadyModel[]): AnalyzeOutcome {
    const judged = this.seriesFacts(seriesUid);
    if (!judged) throw new ServiceError('NOT_FOUND', `No series ${seriesUid} in the library.`);
    const { facts, images } = judged;
    const outcome: AnalyzeOutcome = { queued: [], notAnalysed: [] };
    for (const model of models) {
      const target = { studyUid: request.studyUid, seriesUid, modelId: model.manifest.id };
      const ok: Applicability = facts.sliceCount === 0 ? { ok: false, reason: 'the series has no images' } : checkApplicability(model.manifest, facts);
      let vouch: ReaderVouch | null = null;
      // The latest result for the series and model, read once where no vouch is given: for a standing vouch, and for the
      // vouch that lapsed when the series is refused.
      let latest: StoredResult | null = null;
      // How the series and model differ from the refusal the reader answers (null: no answer, or nothing to tell).
      const answered = !ok.ok && ok.unrecorded && request.vouch?.for === 'refusal' ? answeredLapse(request.vouch.refusal, model.manifest, images, ok.unrecorded) : null;
      if (!ok.ok && ok.unrecorded) {
        // The vouch goes with the job, which runs only while it still covers the series (execute). One answering a
        // refusal is given only for what that refusal showed; else the request is a plain one (a standing vouch may hold).
        const given = request.vouch?.for === 'series-now' || (answered !== null && showsAsNow(answered));
        if (given) vouch = { sopInstanceUids: images, modelSha256: model.manifest.sha256, attributes: ok.unrecorded };
        else {
          latest = this.results.latestFor(seriesUid, model.manifest.id);
          vouch = standingReaderVouch(latest, model.manifest, images, ok.unrecorded);
        }
      }
      const inFlight = this.queue.find(seriesUid, model.manifest.id);
      if (ok.ok || vouch) {
        outcome.queued.push(this.queue.enqueue({ ...target, stat: request.stat, provider: request.provider, readerVouch: vouch }));
      } else if (request.vouch === null && inFlight?.status === 'pending') {
        // A plain request while a job waits (e.g. queued on the reader's vouch, answering the refusal this request would
        // record again): the job is left to run, and judges the series again when it starts. Recording a refusal over
        // it would drop that vouch. (A vouch that was not given records its fresh refusal below, as the reader expects.)
        outcome.queued.push(inFlight);
      } else {
        // Refused for want of a recorded attribute: no vouch was given (it would have queued the job), so `latest` was read.
        const lapsed = ok.unrecorded ? lapsedVouch(earlierVouches(latest), model.manifest, images, ok.unrecorded) : null;
        // An answer to a refusal that no longer holds was not taken as a vouch: the fresh refusal says why.
        const refused = this.recordNotAnalysed({ jobId: inFlight?.id ?? 'applicability', studyUid: request.studyUid, seriesUid }, model.manifest, ok, images, lapsed, answered);
        outcome.notAnalysed.push(this.queue.recordFinished(target, { status: 'not-analysed', ...refused }));
      }
    }
    return outcome;
  }

  /**
   * Stores a refusal by the applicability rules, with the images it judged (`images`, so a vouch answering it can be
   * held to them); one for want of a recorded attribute names the attributes (the reader may vouch), and, where the
   * reader's earlier vouch lapsed (`lapsed`), says why in its reason and fields. Where the reader's answer to a refusal
   * was not taken as a vouch (`answered`, analyzeSeries), that is what it tells instead: the reader's latest act. Only
   * an earlier vouch's coverage is kept (lapsedVouch), so later refusals tell of it again but not of the answer, which
   * vouched for nothing (and, answering a refusal that recorded no images, has no images to hold later runs to).
   */
  private recordNotAnalysed(
    job: { jobId: string; studyUid: string; seriesUid: string },
    manifest: ModelManifest,
    refusal: Extract<Applicability, { ok: false }>,
    images: readonly string[],
    lapsed: { vouch: VouchCoverage; lapse: VouchLapse } | null,
    answered: VouchLapse | null = null,
  ): { reason: string; resultId: number } {
    const reason = answered ? answeredLapseReason(refusal.reason, answered) : lapsed ? lapsedVouchReason(refusal.reason, lapsed.lapse) : refusal.reason;
    const told = answered ?? lapsed?.lapse ?? null;
    const resultId = this.results.save(
      job,
      manifest,
      {
        status: 'not-analysed',
        reason,
        provider: null,
        providerNote: null,
        ortVersion: '',
        timingsMs: { decode: 0, preprocess: 0, inference: 0, postprocess: 0, total: 0 },
        inputSopInstanceUids: [...images],
        findings: [],
        outputs: [],
      },
      '',
      refusal.unrecorded
        ? { warnings: [], population: null, unrecorded: refusal.unrecorded, ...(told ? { vouchLapsed: told, refusalReason: refusal.reason } : {}), ...(lapsed ? { lapsedVouch: lapsed.vouch } : {}) }
        : undefined,
    );
    return { reason, resultId };
  }

  /**
   * The files of the images, and for each referenced original (imported by reference, outside the store) what
   * import recorded of it: the job checks that on the descriptor it reads (inference-job readReferenced), so a file
   * replaced since import, even after the job was queued, is not analysed and filed under the indexed patient.
   */
  private instanceFiles(sopInstanceUids: readonly string[]): Pick<InferenceJob, 'files' | 'references'> {
    const files = sopInstanceUids.map((uid) => this.opts.library.instanceFile(uid)).filter((f) => f !== null);
    return { files: files.map((f) => f.path), references: files.map((f) => f.reference) };
  }

  private async execute(job: QueuedJob): Promise<JobOutcome> {
    try {
      return await this.executeJob(job);
    } finally {
      this.cancelledBeforeRun.delete(job.id);
    }
  }

  private async executeJob(job: QueuedJob): Promise<JobOutcome> {
    const model = await this.opts.registry.get(job.modelId);
    // From here to the runner's run nothing waits: a cancel after this check reaches the runner.
    if (this.cancelledBeforeRun.has(job.id)) return { status: 'cancelled', reason: 'cancelled by the user' };
    if (!model) return { status: 'failed', reason: `model ${job.modelId} is not available (missing or invalid package)` };
    const admitted = this.admit(job, model.manifest);
    if (!admitted.ok) {
      const { refusal, lapsed } = admitted;
      return { status: 'not-analysed', ...this.recordNotAnalysed({ jobId: job.id, studyUid: job.studyUid, seriesUid: job.seriesUid }, model.manifest, refusal, admitted.images, lapsed) };
    }
    const runDir = this.results.runDir(job.studyUid, job.id);
    try {
      const result = await this.runner.run(
        {
          jobId: job.id,
          model: { id: model.manifest.id, modelPath: model.modelPath, manifest: model.manifest },
          ...this.instanceFiles(admitted.images),
          provider: this.forceCpu ? 'cpu' : job.provider,
          outputDir: runDir,
        },
        (phase) =>
          this.opts.events.emit('analysis.progress', {
            jobId: job.id,
            studyInstanceUid: job.studyUid,
            seriesInstanceUid: job.seriesUid,
            modelId: job.modelId,
            status: 'running',
            phase,
            reason: null,
          }),
      );
      const resultId = this.results.save(
        { jobId: job.id, studyUid: job.studyUid, seriesUid: job.seriesUid },
        model.manifest,
        { ...result, outputs: withScoreLabels(model.manifest, result.outputs) },
        runDir,
        this.runContext(model.manifest, admitted.facts, admitted.vouched, result.warnings ?? []),
      );
      return { status: result.status, ...(result.reason ? { reason: result.reason } : {}), resultId };
    } catch (err) {
      // The runner answers once its worker has left the job: nothing writes to the folder any more.
      try {
        this.results.discardRun(runDir);
      } catch {
        // A folder left behind holds no result: sweep() takes it with its study.
      }
      if (err instanceof JobCancelledError) return { status: 'cancelled', reason: 'cancelled by the user' };
      if (err instanceof RunnerClosedError) return { status: 'interrupted', reason: 'Vigil closed while it ran: it runs again at the next start' };
      return { status: 'failed', reason: (err as Error).message };
    }
  }

  /**
   * Whether the job may run on its series as the series is now (an import may have changed it since it was queued):
   * applicable, or lacking only attributes the reader's vouch the job was queued on covers, for every image the series
   * holds now and for this model package; then `vouched` is the warning the run carries for it. A job nobody vouched
   * for, or whose vouch does not cover the series now, is refused as the applicability rules refuse it (with what is
   * not recorded, so the reader may vouch again, and why a vouch that covered it lapsed); a contradiction is refused
   * whatever was vouched.
   * `images` are the images judged, which the run analyses: none imported after the judgement.
   */
  private admit(
    job: QueuedJob,
    manifest: ModelManifest,
  ):
    | { ok: true; images: string[]; vouched: RunWarning | null; facts: SeriesFacts | null }
    | { ok: false; refusal: Extract<Applicability, { ok: false }>; images: string[]; lapsed: { vouch: VouchCoverage; lapse: VouchLapse } | null } {
    const judged = this.seriesFacts(job.seriesUid);
    // A series gone since (its study deleted) has no files to run: the runner says so.
    if (!judged) return { ok: true, images: [], vouched: null, facts: null };
    const { facts, images } = judged;
    const ok = checkApplicability(manifest, facts);
    if (ok.ok) return { ok: true, images, vouched: null, facts };
    const vouch = job.readerVouch;
    if (ok.unrecorded && vouch && vouchCovers(vouch, { sopInstanceUids: images, modelSha256: manifest.sha256, unrecorded: ok.unrecorded })) {
      return { ok: true, images, vouched: unrecordedWarning(ok.unrecorded, 'reader', vouch), facts };
    }
    if (!ok.unrecorded) return { ok: false, refusal: ok, images, lapsed: null };
    const vouches = vouch ? [vouch] : earlierVouches(this.results.latestFor(job.seriesUid, manifest.id));
    return { ok: false, refusal: ok, images, lapsed: lapsedVouch(vouches, manifest, images, ok.unrecorded) };
  }

  /**
   * The run's warnings and population context: analysed although attributes the applicability rules read are not
   * recorded, on the reader's vouch (`vouched`, from admit), outside the intended population (analysed, with a
   * warning; judged on the facts admit judged, `facts`), then the warnings the job raised about its input
   * (`jobWarnings`, e.g. no ultrasound region).
   */
  private runContext(manifest: ModelManifest, facts: SeriesFacts | null, vouched: RunWarning | null, jobWarnings: readonly RunWarning[]): RunContext {
    const checked = facts ? checkPopulation(manifest.intendedPopulation, facts) : null;
    return { warnings: [...(vouched ? [vouched] : []), ...(checked?.warnings ?? []), ...jobWarnings], population: checked?.context ?? null };
  }

  resultsForStudy(studyUid: string): StoredResult[] {
    return this.results.forStudy(studyUid);
  }

  deleteStudyResults(studyUid: string): void {
    this.results.deleteStudy(studyUid);
  }

  /**
   * Stops the queue and the runner; a job stopped by closing is pending again (it runs at the next start). Resolves
   * once the queue has recorded that, so the database may close after it.
   */
  async close(): Promise<void> {
    this.unsubscribe();
    this.queue.stop();
    await this.runner.close();
    await settlesWithin(this.queue.whenIdle(), CLOSE_IDLE_WAIT_MS);
  }
}
