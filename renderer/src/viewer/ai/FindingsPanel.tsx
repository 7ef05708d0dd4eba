/**
 * The findings panel beside the viewport: the reviewer, the run-model action,
 * the AI queue, overlay controls, and per model run its identity, execution
 * provider, duration, intended-use banner and findings; each positive finding
 * (contract needsReview) has accept / reject / correct, the rest (scores below
 * threshold, normal labels, volumes) are shown for reference. Clicking a
 * finding shows its series at its strongest slice.
 */
import { useRef, useState } from 'react';
import { type AnalysisResult, type Finding, type ModelInfo, needsReview, type Review, type ReviewDecision, type ReviewList, type VouchLapse } from '../../../../contract/ipc-contract';
import { useAppServices } from '../../app-context';
import { reviewDecisionParts } from '../../components/columns';
import { t } from '../../i18n/strings';
import type { LabelEditTool } from '../ViewportPane';
import { formatAge, formatAgeRange, formatMl, formatScore } from './finding-format';
import { effectiveLabelStyle, heatLegendGradient, labelKey, type LabelStyle, labelVolumeMl, type OverlayLayer, type OverlayStyle, voxelVolumeMl } from './overlay-model';
import { QueuePanel } from './QueuePanel';
import type { StudyAnalysis } from './use-analysis';

interface Props {
  readonly studyInstanceUid: string;
  readonly activeSeriesUid: string | null;
  readonly analysis: StudyAnalysis;
  readonly layers: readonly OverlayLayer[];
  readonly style: OverlayStyle;
  readonly onStyle: (next: OverlayStyle) => void;
  readonly onJump: (result: AnalysisResult, finding: Finding) => void;
  readonly labelEdit: LabelEditTool | null;
  readonly onLabelEdit: (next: LabelEditTool | null) => void;
}

function reviewText(r: Review): string {
  const decision = r.decision === 'corrected' ? t('findings.decision.corrected', { label: r.correctedLabel ?? '' }) : t(`findings.decision.${r.decision}`);
  return t('findings.reviewed', { decision, reviewer: r.reviewer, time: new Date(r.reviewedAt).toLocaleString() });
}

function segLabels(result: AnalysisResult): { name: string; index: number; voxels: number; color: number[]; ml: number | null }[] {
  const out: { name: string; index: number; voxels: number; color: number[]; ml: number | null }[] = [];
  for (const o of result.outputs) {
    if (o.kind !== 'segmentation' || !Array.isArray(o.labels)) continue;
    const mask = o.mask as { sourceToPatient?: number[] | null; shape?: unknown } | undefined;
    const slices = Array.isArray(mask?.shape) ? Number(mask.shape[0]) : 0;
    for (const l of o.labels as { name: string; index: number; voxels: number; color: number[] }[]) {
      if (l.index === 0) continue;
      out.push({ ...l, ml: labelVolumeMl(l.voxels, mask?.sourceToPatient ?? null, slices) });
    }
  }
  return out;
}

const RUN_ORDER: Readonly<Record<AnalysisResult['status'], number>> = { done: 0, failed: 1, 'not-analysed': 2 };

/** The study's review state in the panel title: progress on its positive findings, or that there is none to review. */
function ReviewState({ reviews, analysed }: { readonly reviews: ReviewList | null; readonly analysed: boolean }) {
  if (!reviews || (reviews.findings === 0 && !analysed)) return null;
  const state = reviews.findings === 0 ? 'none' : reviews.allReviewed ? 'done' : 'partial';
  const decisions = reviewDecisionParts(reviews);
  return (
    <span
      className={`review-state ${state}`}
      data-testid="review-state"
      data-state={state}
      data-all-reviewed={reviews.allReviewed}
      title={decisions.join(' · ') || undefined}
    >
      {state === 'none'
        ? t('findings.nothingToReview')
        : state === 'done'
          ? t('findings.allReviewed')
          : t('findings.reviewProgress', { reviewed: reviews.reviewed, total: reviews.findings })}
    </span>
  );
}

export function FindingsPanel({ studyInstanceUid, activeSeriesUid, analysis, layers, style, onStyle, onJump, labelEdit, onLabelEdit }: Props) {
  const { vigil, reportError } = useAppServices();
  const [modelChoice, setModelChoice] = useState('');
  const [scope, setScope] = useState<'study' | 'series'>('study');
  const [name, setName] = useState<string | null>(null);
  // Set when a review was attempted without a reviewer: the field is highlighted and focused
  // in place (an app-wide error banner would not say where to type).
  const [needName, setNeedName] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  // Refusals the reader has vouched for: their button stays disabled until the new run's result replaces them
  // (a second click before the refresh would queue a second vouched run).
  const [vouchedFor, setVouchedFor] = useState<ReadonlySet<number>>(new Set());
  const { reviews, models } = analysis;
  // Runs with findings first, then failures, then "not analysed" (the reader's eye goes to what a model found);
  // stable within a group, so the services' order (newest first) is kept.
  const results = [...analysis.results].sort((a, b) => RUN_ORDER[a.status] - RUN_ORDER[b.status]);
  const modelById = new Map<string, ModelInfo>(models.map((m) => [m.id, m]));
  const reviewOf = (resultId: number, label: string) => reviews?.reviews.find((r) => r.resultId === resultId && r.findingLabel === label) ?? null;

  const run = async () => {
    const r = await vigil.analysis.run({
      studyInstanceUid,
      ...(scope === 'series' && activeSeriesUid ? { seriesInstanceUid: activeSeriesUid } : {}),
      ...(modelChoice ? { modelId: modelChoice } : {}),
    });
    if (!r.ok) reportError(r.error);
    analysis.refresh();
  };

  /**
   * "Analyse anyway": the reader vouches for a series refused only for attributes it does not record, as the refusal
   * showed it (its result id): if the series or model changed since, the services record a fresh refusal instead.
   */
  const runVouched = async (refused: AnalysisResult) => {
    if (vouchedFor.has(refused.resultId)) return;
    setVouchedFor((s) => new Set(s).add(refused.resultId));
    let queued = false;
    try {
      const r = await vigil.analysis.run({ studyInstanceUid, seriesInstanceUid: refused.seriesInstanceUid, modelId: refused.modelId, vouchForUnrecorded: true, vouchForResultId: refused.resultId });
      queued = r.ok;
      if (!r.ok) reportError(r.error);
    } catch (err) {
      reportError({ code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
    } finally {
      // Not queued (refused by main, or the call itself failed): the reader may try again.
      if (!queued) {
        setVouchedFor((s) => {
          const next = new Set(s);
          next.delete(refused.resultId);
          return next;
        });
      }
      analysis.refresh();
    }
  };

  const review = async (resultId: number, finding: Finding, decision: ReviewDecision, correctedLabel?: string) => {
    // A name typed but not yet saved (the click lands before the field's blur save resolves) counts.
    const typed = name?.trim() ?? '';
    if (typed && typed !== analysis.reviewerName) {
      await analysis.setReviewerName(typed);
      setName(null);
    } else if (!analysis.reviewerName) {
      setNeedName(true);
      nameInput.current?.focus();
      return;
    }
    setNeedName(false);
    const r = await vigil.review.set({ resultId, findingLabel: finding.label, decision, ...(correctedLabel ? { correctedLabel } : {}) });
    if (!r.ok) reportError(r.error);
    analysis.refresh();
  };

  const hasHeatmap = layers.some((l) => l.kind === 'heatmap');
  const negativeHeatmaps = layers.filter((l) => l.kind === 'heatmap' && !l.positive).length;
  const hasSeg = layers.some((l) => l.kind === 'segmentation');
  /** One label's fill / opacity override, merged into the style. */
  const setLabelStyle = (key: string, change: LabelStyle) => {
    const next = new Map(style.labelStyles ?? []);
    next.set(key, { ...next.get(key), ...change });
    onStyle({ ...style, labelStyles: next });
  };
  /** The overlay-wide fill / outline switch applies to every label (per-label fill choices are reset). */
  const setFillAll = (fill: boolean) => {
    const next = new Map<string, LabelStyle>();
    for (const [k, v] of style.labelStyles ?? []) if (v.opacity !== undefined) next.set(k, { opacity: v.opacity });
    onStyle({ ...style, fill, labelStyles: next });
  };

  return (
    <aside className="findings-panel" data-testid="findings-panel">
      <div className="panel-title">
        <span>{t('findings.title')}</span>
        <ReviewState reviews={reviews} analysed={results.some((r) => r.status === 'done')} />
      </div>
      <label className={needName ? 'reviewer-field missing' : 'reviewer-field'}>
        <span className="field-label">{t('findings.reviewer')}</span>
        <input
          ref={nameInput}
          type="text"
          data-testid="reviewer-name"
          aria-invalid={needName}
          aria-describedby={needName ? 'reviewer-needed' : undefined}
          placeholder={t('findings.reviewerPlaceholder')}
          value={name ?? analysis.reviewerName}
          onChange={(e) => {
            setName(e.currentTarget.value);
            if (e.currentTarget.value.trim()) setNeedName(false);
          }}
          onBlur={() => {
            if (name !== null && name !== analysis.reviewerName) void analysis.setReviewerName(name).then(() => setName(null));
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') e.currentTarget.blur();
          }}
        />
        {needName && (
          <span className="field-hint" id="reviewer-needed" role="alert" data-testid="reviewer-needed">
            {t('findings.needReviewer')}
          </span>
        )}
      </label>
      <div className="run-model" title={t('findings.runTitle')}>
        <select
          data-testid="run-model-select"
          value={modelChoice}
          aria-label={t('findings.run')}
          onFocus={analysis.refreshModels}
          onChange={(e) => setModelChoice(e.currentTarget.value)}
        >
          <option value="">{t('findings.runAll')}</option>
          {models
            .filter((m) => m.status === 'ok')
            .map((m) => (
              <option key={m.id} value={m.id}>
                {`${m.name} ${m.version}`}
              </option>
            ))}
        </select>
        <select data-testid="run-model-scope" value={scope} aria-label={t('findings.runTitle')} onChange={(e) => setScope(e.currentTarget.value as 'study' | 'series')}>
          <option value="study">{t('findings.scope.study')}</option>
          <option value="series" disabled={!activeSeriesUid}>
            {t('findings.scope.series')}
          </option>
        </select>
        <button type="button" className="button small" data-testid="run-model" onClick={() => void run()}>
          {t('findings.start')}
        </button>
      </div>
      <QueuePanel jobs={analysis.jobs} models={modelById} />
      {layers.length > 0 && (
        <div className="overlay-controls">
          <label className="toggle">
            <input type="checkbox" data-testid="overlay-toggle" checked={style.visible} onChange={(e) => onStyle({ ...style, visible: e.currentTarget.checked })} />
            <span>{t('overlay.toggle')}</span>
          </label>
          <label className="opacity">
            <span>{t('overlay.opacity')}</span>
            <input
              type="range"
              min={0}
              max={100}
              data-testid="overlay-opacity"
              value={Math.round(style.opacity * 100)}
              onChange={(e) => onStyle({ ...style, opacity: Number(e.currentTarget.value) / 100 })}
            />
          </label>
          {hasSeg && (
            <div className="seg-mode">
              <label>
                <input type="radio" name="seg-mode" data-testid="overlay-fill" checked={style.fill} onChange={() => setFillAll(true)} />
                {t('overlay.fill')}
              </label>
              <label>
                <input type="radio" name="seg-mode" data-testid="overlay-outline" checked={!style.fill} onChange={() => setFillAll(false)} />
                {t('overlay.outline')}
              </label>
            </div>
          )}
          {negativeHeatmaps > 0 && (
            <label className="toggle" title={style.showNegativeHeatmaps ? undefined : t('overlay.negativeHeatmapsHidden', { count: negativeHeatmaps })}>
              <input
                type="checkbox"
                data-testid="overlay-negative-heatmaps"
                checked={style.showNegativeHeatmaps === true}
                onChange={(e) => onStyle({ ...style, showNegativeHeatmaps: e.currentTarget.checked })}
              />
              <span>{t('overlay.negativeHeatmaps')}</span>
            </label>
          )}
          {hasHeatmap && (
            <div className="heat-legend" data-testid="heatmap-legend">
              <span>{t('overlay.legendLow')}</span>
              <span className="heat-bar" style={{ background: heatLegendGradient() }} />
              <span>{t('overlay.legendHigh')}</span>
            </div>
          )}
        </div>
      )}
      {results.length === 0 && <p className="panel-note">{t('findings.none')}</p>}
      {results.some((r) => r.status === 'done' && r.findings.length > 0) && (
        <p className="panel-note review-hint" data-testid="review-hint">
          {t('findings.reviewHint')}
        </p>
      )}
      <ul className="finding-runs">
        {results.map((r) => {
          const model = modelById.get(r.modelId);
          const research = model ? model.clinicalUse !== true : true;
          const labels = segLabels(r);
          const segLayer = layers.find((l) => l.resultId === r.resultId && l.kind === 'segmentation');
          const ml = segLayer?.kind === 'segmentation' ? voxelVolumeMl(segLayer.array.sourceToPatient, segLayer.array.shape[0]) : null;
          return (
            <li key={r.resultId} className={`finding-run status-${r.status}`} data-testid="finding-run" data-model-id={r.modelId} data-status={r.status} data-series-uid={r.seriesInstanceUid}>
              <div className="run-head">
                <span className="run-model-name">{t('findings.model', { name: model?.name ?? r.modelId, version: r.modelVersion })}</span>
                {r.provider && <span className="run-meta">{t('findings.provider', { provider: r.provider })}</span>}
                {r.status === 'done' && <span className="run-meta">{t('findings.duration', { ms: Math.round(r.timingsMs.total ?? 0) })}</span>}
              </div>
              <div className={research ? 'use-banner research' : 'use-banner clinical'} data-testid="clinical-use-banner">
                {research ? t('findings.research') : t('findings.clinical')}
              </div>
              {r.status !== 'not-analysed' && (
                <>
                  <RunPopulation result={r} />
                  <RunInputWarnings result={r} />
                </>
              )}
              {r.status === 'not-analysed' && <div className="run-reason" data-testid="run-not-analysed">{t('findings.notAnalysed', { reason: r.refusalReason ?? r.reason ?? '' })}</div>}
              {r.status === 'not-analysed' && r.unrecorded && r.unrecorded.length > 0 && (
                <AnalyseAnyway refused={r} unrecorded={r.unrecorded} pending={vouchedFor.has(r.resultId)} onVouch={() => void runVouched(r)} />
              )}
              {r.status === 'failed' && (
                <div className="run-reason error" data-testid="run-failed" role="alert">
                  {t('findings.failed', { reason: r.reason ?? '' })}
                </div>
              )}
              {r.findings.length > 0 && (
                <ul className="findings">
                  {r.findings.map((f) => {
                    const rev = reviewOf(r.resultId, f.label);
                    const seg = labels.find((l) => l.name === f.label);
                    const alternatives = [...new Set([...r.findings.map((x) => x.label), ...labels.map((l) => l.name)])].filter((l) => l !== f.label);
                    const hiddenKey = seg ? labelKey(r.resultId, seg.index) : '';
                    const look = seg ? effectiveLabelStyle(style, r.resultId, seg.index) : null;
                    // A measurement (e.g. an anatomical structure) has a volume, not a positive/negative call.
                    const measurement = f.measurement === true;
                    const volumeMl = f.volumeMl ?? seg?.ml ?? null;
                    const call = measurement ? 'measurement' : f.positive && !f.normal ? 'positive' : 'negative';
                    const reviewable = r.status === 'done' && needsReview(f);
                    return (
                      <li
                        key={f.label}
                        className={`finding ${call}${reviewable ? ' reviewable' : ''}${rev ? ` reviewed ${rev.decision}` : ''}${reviewable && !rev ? ' awaiting' : ''}`}
                        data-testid="finding-item"
                        data-label={f.label}
                        data-positive={f.positive}
                        data-measurement={measurement}
                        data-result-id={r.resultId}
                        data-review={rev?.decision ?? ''}
                        data-reviewable={reviewable}
                      >
                        <button type="button" className="finding-main" data-testid="finding-jump" title={t('findings.jumpTitle')} onClick={() => onJump(r, f)}>
                          {seg && <span className="label-swatch" style={{ background: `rgb(${seg.color.join(',')})` }} />}
                          <span className="finding-label">{f.label}</span>
                          {measurement ? (
                            <span className="finding-flag measurement">{t('findings.measurement')}</span>
                          ) : (
                            <span className={call === 'positive' ? 'finding-flag positive' : 'finding-flag'}>
                              {call === 'positive' ? t('findings.positive') : f.positive && f.normal ? t('findings.normalCall') : t('findings.negative')}
                            </span>
                          )}
                        </button>
                        <div className="finding-numbers">
                          {!measurement && <span data-testid="finding-score">{t('findings.score', { score: formatScore(f.score) })}</span>}
                          {!measurement && f.threshold !== undefined && <span data-testid="finding-threshold">{t('findings.threshold', { threshold: formatScore(f.threshold) })}</span>}
                          {!measurement && f.minVolumeMl !== undefined && (
                            <span data-testid="finding-threshold">{t('findings.minVolume', { ml: formatMl(f.minVolumeMl) })}</span>
                          )}
                          {volumeMl !== null && <span data-testid="label-volume">{t('findings.volume', { ml: formatMl(volumeMl) })}</span>}
                          {volumeMl === null && f.voxels !== undefined && <span data-testid="label-voxels">{t('findings.voxels', { count: f.voxels })}</span>}
                          {seg && ml !== null && segLayer?.kind === 'segmentation' && segLayer.originalLabels && (
                            <span data-testid="label-volume-reviewed">
                              {t('seg.reviewedVolume', {
                                ml: formatMl((segLayer.labels.find((l) => l.index === seg.index)?.voxels ?? 0) * ml),
                                model: formatMl(volumeMl ?? 0),
                              })}
                            </span>
                          )}
                          {seg && look && (
                            <span className="label-controls" data-testid="label-controls">
                              <label className="label-visibility" title={t('overlay.labelVisible', { label: f.label })}>
                                <input
                                  type="checkbox"
                                  data-testid="label-visibility"
                                  aria-label={t('overlay.labelVisible', { label: f.label })}
                                  checked={look.visible}
                                  onChange={(e) => {
                                    const next = new Set(style.hiddenLabels);
                                    if (e.currentTarget.checked) next.delete(hiddenKey);
                                    else next.add(hiddenKey);
                                    onStyle({ ...style, hiddenLabels: next });
                                  }}
                                />
                              </label>
                              <label className="label-outline" title={t('overlay.labelOutline', { label: f.label })}>
                                <input
                                  type="checkbox"
                                  data-testid="label-outline"
                                  aria-label={t('overlay.labelOutline', { label: f.label })}
                                  checked={!look.fill}
                                  onChange={(e) => setLabelStyle(hiddenKey, { fill: !e.currentTarget.checked })}
                                />
                                <span>{t('overlay.outlineShort')}</span>
                              </label>
                              <input
                                type="range"
                                min={0}
                                max={100}
                                className="label-opacity"
                                data-testid="label-opacity"
                                aria-label={t('overlay.labelOpacity', { label: f.label })}
                                title={t('overlay.labelOpacity', { label: f.label })}
                                value={Math.round((style.labelStyles?.get(hiddenKey)?.opacity ?? 1) * 100)}
                                onChange={(e) => setLabelStyle(hiddenKey, { opacity: Number(e.currentTarget.value) / 100 })}
                              />
                            </span>
                          )}
                        </div>
                        {reviewable && (
                          <div className="finding-actions">
                            <button type="button" className={rev?.decision === 'accepted' ? 'chip on' : 'chip'} data-testid="finding-accept" onClick={() => void review(r.resultId, f, 'accepted')}>
                              {t('findings.accept')}
                            </button>
                            <button type="button" className={rev?.decision === 'rejected' ? 'chip on' : 'chip'} data-testid="finding-reject" onClick={() => void review(r.resultId, f, 'rejected')}>
                              {t('findings.reject')}
                            </button>
                            {alternatives.length > 0 && (
                              <select
                                data-testid="finding-correct"
                                aria-label={t('findings.correct')}
                                value=""
                                onChange={(e) => {
                                  if (e.currentTarget.value) void review(r.resultId, f, 'corrected', e.currentTarget.value);
                                }}
                              >
                                <option value="">{t('findings.correctTo')}</option>
                                {alternatives.map((l) => (
                                  <option key={l} value={l}>
                                    {l}
                                  </option>
                                ))}
                              </select>
                            )}
                          </div>
                        )}
                        {rev && (
                          <div className="finding-review" data-testid="finding-review">
                            {reviewText(rev)}
                            <span className="finding-original">{t('findings.original', { label: f.label, score: formatScore(f.score) })}</span>
                          </div>
                        )}
                      </li>
                    );
                  })}
                </ul>
              )}
              {segLayer && segLayer.kind === 'segmentation' && (
                <LabelMapEditor layer={segLayer} edit={labelEdit} onEdit={onLabelEdit} editedBy={analysis.reviews?.maskEdits.find((e) => e.resultId === r.resultId) ?? null} />
              )}
            </li>
          );
        })}
      </ul>
    </aside>
  );
}

/**
 * The run against its model's intended population (run header): a warning when the patient is outside it
 * (the series was still analysed), else the patient's age and where it came from, or that it is unknown.
 */
function RunPopulation({ result }: { readonly result: AnalysisResult }) {
  const p = result.population;
  const warnings = (result.warnings ?? []).filter((w) => w.code === 'OUTSIDE_INTENDED_POPULATION');
  if (!p && warnings.length === 0) return null;
  return (
    <>
      {warnings.map((w, i) => (
        <div key={i} className="run-warning" role="note" data-testid="population-warning" title={p?.note ?? undefined}>
          {t('findings.population.outside', { age: formatAge(w.patientAgeYears), range: formatAgeRange(w.intendedAgeYears) })}
        </div>
      ))}
      {p && warnings.length === 0 && (
        <div className="run-population" data-testid="run-population" data-age-known={p.patientAgeYears !== null} title={p.note ?? undefined}>
          {p.patientAgeYears === null || p.ageSource === null
            ? t('findings.population.unknown', { range: formatAgeRange(p.intendedAgeYears) })
            : t('findings.population.known', { age: formatAge(p.patientAgeYears), source: t(`findings.population.source.${p.ageSource}`), range: formatAgeRange(p.intendedAgeYears) })}
        </div>
      )}
    </>
  );
}

/**
 * What the run noticed about its input, one note each in the reader's language, in a fixed order whatever the order the
 * run stored them in: ultrasound images the region crop could not crop (analysed whole, scanner text included), then
 * the views of a multi-region capture, then attributes the series does not record that someone vouched for. The
 * population warning is RunPopulation's (it shares its line with the patient's age).
 */
function RunInputWarnings({ result }: { readonly result: AnalysisResult }) {
  const warnings = result.warnings ?? [];
  return (
    <>
      {warnings
        .filter((w) => w.code === 'NO_ULTRASOUND_REGION')
        .map((w, i) => (
          <div key={i} className="run-warning" role="note" data-testid="ultrasound-region-warning">
            {t('findings.ultrasoundRegion.missing', { units: w.units, of: w.of })}
          </div>
        ))}
      <RunUltrasoundViews result={result} />
      {warnings
        .filter((w) => w.code === 'APPLICABILITY_NOT_RECORDED')
        .map((w, i) => (
          <div key={i} className="run-warning" role="note" data-testid="unrecorded-warning" data-vouched-by={w.vouchedBy}>
            {t(`findings.unrecorded.vouched.${w.vouchedBy}`, { attributes: w.attributes.join(', ') })}
          </div>
        ))}
    </>
  );
}

/**
 * Why the reader's earlier vouch no longer covers a series refused for what it does not record (`lapsed`), or why
 * the reader's "Analyse anyway" on a refusal that no longer held analysed nothing (`answered`): without this the
 * fresh refusal looks as if the click did nothing. An answer's lines: lead, changes, then what to do.
 */
function lapseText(lapse: VouchLapse, kind: 'lapsed' | 'answered'): string[] {
  const answered = kind === 'answered';
  const why: string[] = [];
  if (answered) why.push(lapse.imagesNotRecorded ? t('findings.unrecorded.answered.imagesNotRecorded') : t('findings.unrecorded.answered.changed'));
  if (lapse.modelChanged) why.push(t(`findings.unrecorded.${kind}.model`));
  if (lapse.imagesAdded === 1) why.push(t(`findings.unrecorded.${kind}.image`));
  else if (lapse.imagesAdded > 1) why.push(t(`findings.unrecorded.${kind}.images`, { count: lapse.imagesAdded }));
  if (answered) {
    const removed = lapse.imagesRemoved ?? 0;
    if (removed === 1) why.push(t('findings.unrecorded.answered.removedImage'));
    else if (removed > 1) why.push(t('findings.unrecorded.answered.removedImages', { count: removed }));
  }
  if (lapse.attributesNotVouched && lapse.attributesNotVouched.length > 0) why.push(t(`findings.unrecorded.${kind}.attributes`, { attributes: lapse.attributesNotVouched.join(', ') }));
  if (answered) {
    if (lapse.attributesNoLongerUnrecorded && lapse.attributesNoLongerUnrecorded.length > 0) {
      why.push(t('findings.unrecorded.answered.attributesNoLonger', { attributes: lapse.attributesNoLongerUnrecorded.join(', ') }));
    }
    why.push(t('findings.unrecorded.answered.again'));
  }
  return why;
}

/**
 * "Analyse anyway" under a refusal for attributes the series does not record, with why an earlier vouch lapsed, or
 * why the reader's answer to the refusal this one replaced analysed nothing. The button stays: this refusal may be answered.
 * `pending`: vouched, until the new run's result replaces the refusal.
 */
function AnalyseAnyway({ refused, unrecorded, pending, onVouch }: { refused: AnalysisResult; unrecorded: readonly string[]; pending: boolean; onVouch: () => void }) {
  const lapse = refused.vouchLapsed;
  const answered = lapse?.answered === true;
  const lapsed = lapse ? lapseText(lapse, answered ? 'answered' : 'lapsed') : [];
  const what = t('findings.unrecorded.analyseAnywayTitle', { attributes: unrecorded.join(', ') });
  const describedBy = `analyse-anyway-${refused.resultId}`;
  return (
    <>
      {lapsed.length > 0 && (
        <div className="run-warning" role="note" data-testid="vouch-lapsed" data-answered={answered}>
          {/* One line per reason: sentences of some locales do not join with a space. */}
          {lapsed.map((line) => (
            <div key={line}>{line}</div>
          ))}
        </div>
      )}
      <button
        type="button"
        className="button small analyse-anyway"
        data-testid="analyse-anyway"
        title={what}
        // What the reader vouches for, for keyboard and screen reader users too (a title is not reliably read).
        aria-describedby={describedBy}
        disabled={pending}
        aria-busy={pending}
        onClick={onVouch}
      >
        {t('findings.unrecorded.analyseAnyway')}
      </button>
      <span id={describedBy} className="visually-hidden">
        {/* Why the earlier vouch lapsed, for whoever reaches the button before the note. */}
        {[...lapsed, what].join(' ')}
      </span>
    </>
  );
}

/** How many B-mode regions each image was scored on, from the classification outputs' `regions` records (image index per region). */
function regionsPerImage(result: AnalysisResult): Map<number, number> {
  const counts = new Map<number, number>();
  const output = result.outputs.find((o) => o.kind === 'classification' && Array.isArray(o.regions));
  for (const region of (output?.regions as unknown[] | undefined) ?? []) {
    const image = typeof region === 'object' && region !== null && 'image' in region ? region.image : null;
    if (typeof image === 'number') counts.set(image, (counts.get(image) ?? 0) + 1);
  }
  return counts;
}

/** Images of a multi-region capture (e.g. dual B-mode) were scored view by view; the image's score is its highest view's. */
function RunUltrasoundViews({ result }: { readonly result: AnalysisResult }) {
  const multi = [...regionsPerImage(result).values()].filter((n) => n > 1);
  if (multi.length === 0) return null;
  const of = result.inputSopInstanceUids.length;
  return (
    <div className="run-population" role="note" data-testid="ultrasound-views">
      {of <= 1 ? t('findings.ultrasoundRegion.views', { n: multi[0]! }) : t('findings.ultrasoundRegion.viewsOfImages', { images: multi.length, of })}
    </div>
  );
}

/** Brush / eraser on a segmentation's label map (the model's map is kept; edits go to a reviewed copy). */
function LabelMapEditor({
  layer,
  edit,
  onEdit,
  editedBy,
}: {
  readonly layer: Extract<OverlayLayer, { kind: 'segmentation' }>;
  readonly edit: LabelEditTool | null;
  readonly onEdit: (next: LabelEditTool | null) => void;
  readonly editedBy: { reviewer: string; editedAt: string } | null;
}) {
  const labels = layer.labels.filter((l) => l.index !== 0);
  const mine = edit && (edit.layerKey === layer.key || edit.layerKey.startsWith(`${layer.resultId}:`)) ? edit : null;
  const base = { label: mine?.label ?? labels[0]?.index ?? 1, radius: mine?.radius ?? 3, layerKey: layer.key };
  const pick = (tool: 'brush' | 'eraser') => onEdit(mine?.tool === tool ? null : { ...base, tool });
  return (
    <div className="label-editor" data-testid="label-editor">
      <span className="panel-subtitle">{t('seg.edit')}</span>
      <div className="label-editor-row">
        <button type="button" className={mine?.tool === 'brush' ? 'chip on' : 'chip'} data-testid="seg-brush" aria-pressed={mine?.tool === 'brush'} onClick={() => pick('brush')}>
          {t('seg.brush')}
        </button>
        <button type="button" className={mine?.tool === 'eraser' ? 'chip on' : 'chip'} data-testid="seg-eraser" aria-pressed={mine?.tool === 'eraser'} onClick={() => pick('eraser')}>
          {t('seg.eraser')}
        </button>
        <select
          data-testid="seg-label"
          aria-label={t('seg.label')}
          value={base.label}
          onChange={(e) => mine && onEdit({ ...mine, label: Number(e.currentTarget.value) })}
        >
          {labels.map((l) => (
            <option key={l.index} value={l.index}>
              {l.name}
            </option>
          ))}
        </select>
        <input
          type="number"
          min={0}
          max={50}
          data-testid="seg-radius"
          aria-label={t('seg.radius')}
          title={t('seg.radius')}
          value={base.radius}
          onChange={(e) => mine && onEdit({ ...mine, radius: Math.max(0, Math.min(50, Number(e.currentTarget.value) || 0)) })}
        />
      </div>
      {editedBy && (
        <div className="finding-review" data-testid="mask-edited">
          {t('seg.edited', { reviewer: editedBy.reviewer, time: new Date(editedBy.editedAt).toLocaleString() })}
        </div>
      )}
    </div>
  );
}
