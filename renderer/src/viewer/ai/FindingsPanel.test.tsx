import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AnalysisResult, ModelInfo, Result, Review, ReviewList, ReviewSetRequest } from '../../../../contract/ipc-contract';
import { AppContext } from '../../app-context';
import { setLocale } from '../../i18n/strings';
import { fakeVigil, type FakeVigil, ok } from '../../test-support/fake-vigil';
import { FindingsPanel } from './FindingsPanel';
import type { OverlayStyle } from './overlay-model';
import type { StudyAnalysis } from './use-analysis';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
  setLocale('en');
});

const STUDY = '1.2.826.0.1.3680043.10.1138.7';

const MODELS: ModelInfo[] = [
  { id: 'cxr-pneumonia', name: 'CXR pneumonia', version: '1.0.0', status: 'ok', path: '/m/cxr', origin: 'bundled', clinicalUse: false, intendedUse: 'Research demonstration.' },
  { id: 'cleared-model', name: 'Cleared detector', version: '2.1.0', status: 'ok', path: '/m/cleared', origin: 'user', clinicalUse: true, intendedUse: 'Clinical triage.' },
  { id: 'us-breast', name: 'US breast', version: '1.0.0', status: 'ok', path: '/m/us', origin: 'bundled', clinicalUse: false },
];

function result(overrides: Partial<AnalysisResult> & Pick<AnalysisResult, 'resultId' | 'modelId'>): AnalysisResult {
  return {
    studyInstanceUid: STUDY,
    seriesInstanceUid: `${STUDY}.1`,
    modelVersion: '1.0.0',
    modelSha256: 'ab'.repeat(32),
    ortVersion: '1.30.0',
    provider: 'cpu',
    providerNote: null,
    status: 'done',
    reason: null,
    findings: [],
    timingsMs: { decode: 10, preprocess: 5, inference: 200, postprocess: 20, total: 235.4 },
    inputSopInstanceUids: [`${STUDY}.1.1`],
    outputs: [],
    createdAt: '2026-01-02T03:04:05.000Z',
    ...overrides,
  };
}

const RESULTS: AnalysisResult[] = [
  result({
    resultId: 11,
    modelId: 'cxr-pneumonia',
    provider: 'cuda',
    findings: [
      { label: 'normal', score: 0.12, positive: false, threshold: 0.842, normal: true },
      { label: 'pneumonia', score: 0.88, positive: true, threshold: 0.158 },
    ],
  }),
  result({
    resultId: 12,
    modelId: 'cleared-model',
    modelVersion: '2.1.0',
    findings: [
      { label: 'nodule', score: 0.81, positive: true, threshold: 0.5 },
      { label: 'mass', score: 0.31, positive: false, threshold: 0.5 },
    ],
  }),
  result({
    resultId: 13,
    modelId: 'us-breast',
    seriesInstanceUid: `${STUDY}.2`,
    provider: null,
    status: 'not-analysed',
    reason: 'modality CR is not one of US',
    timingsMs: { decode: 0, preprocess: 0, inference: 0, postprocess: 0, total: 0 },
  }),
  result({ resultId: 14, modelId: 'gone-model', modelVersion: '0.9.0', status: 'failed', reason: 'inference failed: out of memory', provider: 'cpu' }),
];

const STYLE: OverlayStyle = { visible: true, opacity: 0.6, fill: true, hiddenLabels: new Set() };

function review(resultId: number, findingLabel: string, decision: Review['decision']): Review {
  return { reviewId: 1, resultId, studyInstanceUid: STUDY, findingLabel, decision, correctedLabel: null, note: null, reviewer: 'Dr Ada Reader', reviewedAt: '2026-01-02T04:00:00.000Z' };
}

function analysis(overrides: Partial<StudyAnalysis> = {}): StudyAnalysis {
  // Two findings need a decision: pneumonia and nodule (positive); normal and mass are below their thresholds.
  const reviews: ReviewList = { reviews: [], findings: 2, reviewed: 0, accepted: 0, rejected: 0, corrected: 0, allReviewed: false, maskEdits: [] };
  return {
    results: RESULTS,
    reviews,
    models: MODELS,
    jobs: [],
    reviewerName: 'Dr Ada Reader',
    refresh: vi.fn(),
    refreshModels: vi.fn(),
    setReviewerName: vi.fn(async () => undefined),
    ...overrides,
  };
}

type PanelFake = FakeVigil & { set: ReturnType<typeof vi.fn>; run: ReturnType<typeof vi.fn> };

function fake(): PanelFake {
  const set = vi.fn(async (req: ReviewSetRequest): Promise<Result<Review>> => ok(review(req.resultId, req.findingLabel, req.decision)));
  const run = vi.fn(async () => ok({ queued: [], notAnalysed: [] }));
  return Object.assign(fakeVigil(), { review: { set }, analysis: { run, cancel: vi.fn() }, set, run }) as unknown as PanelFake;
}

function renderPanel(vigil: PanelFake, a: StudyAnalysis = analysis()) {
  const reportError = vi.fn();
  const onJump = vi.fn();
  render(
    <AppContext value={{ vigil, reportError }}>
      <FindingsPanel studyInstanceUid={STUDY} activeSeriesUid={`${STUDY}.1`} analysis={a} layers={[]} style={STYLE} onStyle={vi.fn()} onJump={onJump} labelEdit={null} onLabelEdit={vi.fn()} />
    </AppContext>,
  );
  return { reportError, onJump };
}

const run = (modelId: string) => document.querySelector<HTMLElement>(`[data-testid="finding-run"][data-model-id="${modelId}"]`)!;
const item = (modelId: string, label: string) => run(modelId).querySelector<HTMLElement>(`[data-testid="finding-item"][data-label="${label}"]`)!;

describe('FindingsPanel', () => {
  it('lists every run with the model name and version, execution provider and duration: findings first, then failures, then not analysed', () => {
    // The services' order puts "not analysed" first; the panel must not bury what a model found under it.
    renderPanel(fake(), analysis({ results: [RESULTS[2]!, RESULTS[0]!, RESULTS[3]!, RESULTS[1]!] }));
    const runs = screen.getAllByTestId('finding-run');
    expect(runs.map((r) => [r.getAttribute('data-model-id'), r.getAttribute('data-status')])).toEqual([
      ['cxr-pneumonia', 'done'],
      ['cleared-model', 'done'],
      ['gone-model', 'failed'],
      ['us-breast', 'not-analysed'],
    ]);
    const cxr = run('cxr-pneumonia').querySelector('.run-head')!.textContent;
    expect(cxr).toContain('CXR pneumonia 1.0.0');
    expect(cxr).toContain('on cuda');
    expect(cxr).toContain('235 ms');
    expect(run('cleared-model').querySelector('.run-head')!.textContent).toContain('Cleared detector 2.1.0');
    // A model no longer installed is named by its id and the version that ran.
    expect(run('gone-model').querySelector('.run-head')!.textContent).toContain('gone-model 0.9.0');
  });

  it('shows the research-use banner when the manifest says clinicalUse false (and for an unknown model), the clinical one otherwise', () => {
    renderPanel(fake());
    const banner = (modelId: string) => within(run(modelId)).getByTestId('clinical-use-banner');
    expect(banner('cxr-pneumonia').textContent).toBe('Research use only, not for clinical decisions.');
    expect(banner('cxr-pneumonia').className).toContain('research');
    expect(banner('cleared-model').textContent).toBe('Cleared for clinical use per its model card.');
    expect(banner('gone-model').textContent).toBe('Research use only, not for clinical decisions.');
  });

  it('shows each finding with its label, score, threshold and positive/negative call', () => {
    renderPanel(fake());
    const pneumonia = item('cxr-pneumonia', 'pneumonia');
    expect(pneumonia.getAttribute('data-positive')).toBe('true');
    expect(pneumonia.className).toContain('positive');
    expect(pneumonia.querySelector('.finding-label')!.textContent).toBe('pneumonia');
    expect(pneumonia.querySelector('.finding-flag')!.textContent).toBe('positive');
    expect(pneumonia.querySelector('.finding-numbers')!.textContent).toContain('score 0.880');
    expect(pneumonia.querySelector('.finding-numbers')!.textContent).toContain('threshold 0.158');

    const normal = item('cxr-pneumonia', 'normal');
    expect(normal.getAttribute('data-positive')).toBe('false');
    expect(normal.querySelector('.finding-flag')!.textContent).toBe('negative');
    expect(normal.querySelector('.finding-numbers')!.textContent).toContain('threshold 0.842');

    expect(item('cleared-model', 'nodule').querySelector('.finding-numbers')!.textContent).toContain('score 0.810');
    expect(item('cleared-model', 'mass').querySelector('.finding-numbers')!.textContent).toContain('score 0.310');
  });

  it('rounds a threshold as stored (the operating point of the model card) like the score', () => {
    const results = [result({ resultId: 21, modelId: 'cxr-pneumonia', findings: [{ label: 'pneumonia', score: 0.0000123, positive: false, threshold: 0.157871 }] })];
    renderPanel(fake(), analysis({ results }));
    const numbers = item('cxr-pneumonia', 'pneumonia').querySelector('.finding-numbers')!.textContent;
    expect(numbers).toContain('threshold 0.158');
    expect(numbers).not.toContain('0.157871');
    expect(numbers).toContain('score 1.2e-5');
  });

  it('shows a segmentation measurement with its volume and no positive/negative call, a lesion with its volume against its minimum', () => {
    const results = [
      result({
        resultId: 31,
        modelId: 'cxr-pneumonia',
        findings: [
          { label: 'White Matter', score: 0.12, positive: false, measurement: true, voxels: 412_345, volumeMl: 412.345 },
          { label: 'Grey Matter', score: 0.1, positive: false, measurement: true, voxels: 5120 },
          { label: 'lesion', score: 0.001, positive: true, voxels: 2400, volumeMl: 2.4, minVolumeMl: 0.5 },
          { label: 'cyst', score: 0, positive: false, voxels: 0, volumeMl: 0, minVolumeMl: 1 },
        ],
      }),
    ];
    renderPanel(fake(), analysis({ results }));
    const white = item('cxr-pneumonia', 'White Matter');
    expect(white.getAttribute('data-measurement')).toBe('true');
    expect(white.className).toContain('measurement');
    expect(white.className).not.toMatch(/\b(positive|negative)\b/);
    expect(white.querySelector('.finding-flag')!.textContent).toBe('measurement');
    expect(within(white).getByTestId('label-volume').textContent).toBe('412.3 mL');
    expect(within(white).queryByTestId('finding-score')).toBeNull();
    expect(within(white).queryByTestId('finding-threshold')).toBeNull();
    // Without the geometry to measure it, the voxel count.
    const grey = item('cxr-pneumonia', 'Grey Matter');
    expect(within(grey).queryByTestId('label-volume')).toBeNull();
    expect(within(grey).getByTestId('label-voxels').textContent).toBe('5120 voxels');

    const lesion = item('cxr-pneumonia', 'lesion');
    expect(lesion.getAttribute('data-measurement')).toBe('false');
    expect(lesion.className).toContain('positive');
    expect(lesion.querySelector('.finding-flag')!.textContent).toBe('positive');
    expect(within(lesion).getByTestId('label-volume').textContent).toBe('2.4 mL');
    expect(within(lesion).getByTestId('finding-threshold').textContent).toBe('threshold 0.5 mL');
    const cyst = item('cxr-pneumonia', 'cyst');
    expect(cyst.querySelector('.finding-flag')!.textContent).toBe('negative');
    expect(within(cyst).getByTestId('finding-threshold').textContent).toBe('threshold 1.0 mL');
  });

  it('shows a not-analysed run with its reason and a failed run with its error, without review actions', () => {
    renderPanel(fake());
    expect(within(run('us-breast')).getByTestId('run-not-analysed').textContent).toBe('Not analysed: modality CR is not one of US');
    const failed = within(run('gone-model')).getByTestId('run-failed');
    expect(failed.textContent).toBe('Failed: inference failed: out of memory');
    expect(failed.getAttribute('role')).toBe('alert');
    expect(within(run('us-breast')).queryByTestId('finding-accept')).toBeNull();
    expect(within(run('gone-model')).queryByTestId('finding-accept')).toBeNull();
  });

  it('accept and reject call review.set for that result and finding, then refresh', async () => {
    const vigil = fake();
    const a = analysis();
    renderPanel(vigil, a);
    fireEvent.click(within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-accept'));
    await waitFor(() => expect(vigil.set).toHaveBeenCalledWith({ resultId: 11, findingLabel: 'pneumonia', decision: 'accepted' }));
    fireEvent.click(within(item('cleared-model', 'nodule')).getByTestId('finding-reject'));
    await waitFor(() => expect(vigil.set).toHaveBeenCalledWith({ resultId: 12, findingLabel: 'nodule', decision: 'rejected' }));
    expect(vigil.set).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(a.refresh).toHaveBeenCalledTimes(2));
  });

  it('corrects a finding to another of the run’s labels', async () => {
    const vigil = fake();
    renderPanel(vigil);
    const select = within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-correct') as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(['', 'normal']);
    fireEvent.change(select, { target: { value: 'normal' } });
    await waitFor(() => expect(vigil.set).toHaveBeenCalledWith({ resultId: 11, findingLabel: 'pneumonia', decision: 'corrected', correctedLabel: 'normal' }));
  });

  it('asks for a reviewer name beside the field, and focuses it, instead of calling the API when none is set', async () => {
    const vigil = fake();
    const { reportError } = renderPanel(vigil, analysis({ reviewerName: '' }));
    fireEvent.click(within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-accept'));
    const hint = await screen.findByTestId('reviewer-needed');
    expect(hint.textContent).toBe('Enter your name as reviewer first.');
    const field = screen.getByTestId('reviewer-name');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(field);
    expect(reportError).not.toHaveBeenCalled();
    expect(vigil.set).not.toHaveBeenCalled();
    fireEvent.change(field, { target: { value: 'Dr New' } });
    expect(screen.queryByTestId('reviewer-needed')).toBeNull();
  });

  it('saves a typed but not yet saved reviewer name before recording the review', async () => {
    const vigil = fake();
    const state = analysis({ reviewerName: '' });
    renderPanel(vigil, state);
    fireEvent.change(screen.getByTestId('reviewer-name'), { target: { value: '  Dr New  ' } });
    fireEvent.click(within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-accept'));
    await waitFor(() => expect(vigil.set).toHaveBeenCalledWith({ resultId: 11, findingLabel: 'pneumonia', decision: 'accepted' }));
    expect(state.setReviewerName).toHaveBeenCalledWith('Dr New');
    expect(screen.queryByTestId('reviewer-needed')).toBeNull();
  });

  it('reports a refused review through the app error handler', async () => {
    const vigil = fake();
    vigil.set.mockResolvedValue({ ok: false, error: { code: 'NOT_FOUND', message: 'no finding "pneumonia" in result 11' } });
    const { reportError } = renderPanel(vigil);
    fireEvent.click(within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-reject'));
    await waitFor(() => expect(reportError).toHaveBeenCalledWith({ code: 'NOT_FOUND', message: 'no finding "pneumonia" in result 11' }));
  });

  it('shows the stored review with reviewer and the unchanged model output, and the review progress', () => {
    const reviews: ReviewList = { reviews: [review(11, 'pneumonia', 'accepted')], findings: 2, reviewed: 1, accepted: 1, rejected: 0, corrected: 0, allReviewed: false, maskEdits: [] };
    renderPanel(fake(), analysis({ reviews }));
    const pneumonia = item('cxr-pneumonia', 'pneumonia');
    expect(pneumonia.getAttribute('data-review')).toBe('accepted');
    const text = within(pneumonia).getByTestId('finding-review').textContent;
    expect(text).toContain('Accepted by Dr Ada Reader');
    expect(text).toContain('Model output: pneumonia 0.880');
    expect(item('cxr-pneumonia', 'normal').getAttribute('data-review')).toBe('');
    const state = screen.getByTestId('review-state');
    expect(state.getAttribute('data-all-reviewed')).toBe('false');
    expect(state.getAttribute('data-state')).toBe('partial');
    expect(state.textContent).toBe('1 of 2 positive findings reviewed');
  });

  it('offers accept / reject / correct only on positive findings; normal labels, scores below threshold and volumes are shown without', () => {
    const results = [
      ...RESULTS,
      result({
        resultId: 15,
        modelId: 'us-breast',
        findings: [
          { label: 'White Matter', score: 0.12, positive: false, measurement: true, voxels: 412_345, volumeMl: 412.345 },
          { label: 'normal_or_benign', score: 0.9, positive: true, threshold: 0.7, normal: true },
        ],
      }),
    ];
    renderPanel(fake(), analysis({ results }));
    const actions = (modelId: string, label: string) => ['finding-accept', 'finding-reject', 'finding-correct'].map((id) => within(item(modelId, label)).queryByTestId(id) !== null);
    expect(actions('cxr-pneumonia', 'pneumonia')).toEqual([true, true, true]);
    expect(actions('cleared-model', 'nodule')).toEqual([true, true, true]);
    for (const [modelId, label] of [['cxr-pneumonia', 'normal'], ['cleared-model', 'mass'], ['us-breast', 'White Matter'], ['us-breast', 'normal_or_benign']] as const) {
      expect(actions(modelId, label), `${label}: no decision needed`).toEqual([false, false, false]);
      expect(item(modelId, label).getAttribute('data-reviewable')).toBe('false');
    }
    expect(item('cxr-pneumonia', 'pneumonia').getAttribute('data-reviewable')).toBe('true');
    expect(screen.getByTestId('review-hint').textContent).toBe('Accept or reject each positive finding. Scores below threshold, normal labels and volumes need no decision.');
  });

  it('says there is nothing to review when the analysed runs found nothing positive, and when all positive findings are reviewed', () => {
    const negative = [result({ resultId: 41, modelId: 'cxr-pneumonia', findings: [{ label: 'normal', score: 0.9, positive: true, threshold: 0.4, normal: true }, { label: 'pneumonia', score: 0.1, positive: false, threshold: 0.6 }] })];
    const none: ReviewList = { reviews: [], findings: 0, reviewed: 0, accepted: 0, rejected: 0, corrected: 0, allReviewed: false, maskEdits: [] };
    renderPanel(fake(), analysis({ results: negative, reviews: none }));
    expect(screen.getByTestId('review-state').getAttribute('data-state')).toBe('none');
    expect(screen.getByTestId('review-state').textContent).toBe('No positive findings to review');
    expect(screen.queryAllByTestId('finding-accept')).toEqual([]);
    cleanup();

    const done: ReviewList = { reviews: [review(11, 'pneumonia', 'accepted'), review(12, 'nodule', 'rejected')], findings: 2, reviewed: 2, accepted: 1, rejected: 1, corrected: 0, allReviewed: true, maskEdits: [] };
    renderPanel(fake(), analysis({ reviews: done }));
    const state = screen.getByTestId('review-state');
    expect([state.getAttribute('data-state'), state.getAttribute('data-all-reviewed'), state.textContent]).toEqual(['done', 'true', 'All positive findings reviewed']);
    expect(state.getAttribute('title')).toBe('1 accepted · 1 rejected');
  });

  it('clicking a finding asks the viewer to jump to it', () => {
    const { onJump } = renderPanel(fake());
    fireEvent.click(within(item('cxr-pneumonia', 'pneumonia')).getByTestId('finding-jump'));
    expect(onJump).toHaveBeenCalledWith(RESULTS[0], RESULTS[0]!.findings[1]);
  });

  it('runs the chosen model on the whole study', async () => {
    const vigil = fake();
    const a = analysis();
    renderPanel(vigil, a);
    fireEvent.change(screen.getByTestId('run-model-select'), { target: { value: 'cxr-pneumonia' } });
    fireEvent.click(screen.getByTestId('run-model'));
    await waitFor(() => expect(vigil.run).toHaveBeenCalledWith({ studyInstanceUid: STUDY, modelId: 'cxr-pneumonia' }));
    await waitFor(() => expect(a.refresh).toHaveBeenCalled());
  });

  it('says so when no model has analysed the study', () => {
    renderPanel(fake(), analysis({ results: [], reviews: null }));
    expect(screen.getByText('No model has analysed this study yet.')).toBeTruthy();
    expect(screen.queryAllByTestId('finding-run')).toEqual([]);
  });
});

describe('FindingsPanel: the intended population in the run header', () => {
  const population = (patientAgeYears: number | null, ageSource: 'PatientAge' | 'PatientBirthDate' | null = patientAgeYears === null ? null : 'PatientBirthDate') => ({
    patientAgeYears,
    ageSource,
    intendedAgeYears: { min: 1, max: 5 },
    note: 'Trained on children aged 1–5 years.',
  });
  const adult = result({
    resultId: 21,
    modelId: 'cxr-pneumonia',
    findings: [{ label: 'pneumonia', score: 0.7, positive: true, threshold: 0.567 }],
    warnings: [{ code: 'OUTSIDE_INTENDED_POPULATION', message: 'Outside intended population: patient 54 y; model intended for 1–5 y', patientAgeYears: 54.4, intendedAgeYears: { min: 1, max: 5 } }],
    population: population(54.4),
  });

  it('warns when the patient is outside the population the model was trained for, with the ages', () => {
    renderPanel(fake(), analysis({ results: [adult] }));
    const warning = within(run('cxr-pneumonia')).getByTestId('population-warning');
    expect(warning.textContent).toBe('Outside intended population: patient 54 y; model intended for 1–5 y');
    expect(warning.getAttribute('title')).toBe('Trained on children aged 1–5 years.');
    // The findings are still there: a warning, not a refusal.
    expect(item('cxr-pneumonia', 'pneumonia')).not.toBeNull();
    expect(within(run('cxr-pneumonia')).queryByTestId('run-population')).toBeNull();
  });

  it('says "age unknown" without a warning, and the age and its source inside the population', () => {
    renderPanel(fake(), analysis({ results: [result({ resultId: 22, modelId: 'cxr-pneumonia', warnings: [], population: population(null) }), result({ resultId: 23, modelId: 'us-breast', warnings: [], population: population(3.5, 'PatientAge') })] }));
    expect(screen.queryByTestId('population-warning')).toBeNull();
    const unknown = within(run('cxr-pneumonia')).getByTestId('run-population');
    expect(unknown.textContent).toBe('Patient age unknown; model intended for 1–5 y');
    expect(unknown.getAttribute('data-age-known')).toBe('false');
    expect(within(run('us-breast')).getByTestId('run-population').textContent).toBe("Patient 3 y (from Patient's Age); model intended for 1–5 y");
  });

  it('shows nothing for a model without an intended population, or a run stored before warnings were', () => {
    renderPanel(fake());
    expect(screen.queryByTestId('population-warning')).toBeNull();
    expect(screen.queryByTestId('run-population')).toBeNull();
  });

  it('speaks Simplified Chinese too', () => {
    setLocale('zh-CN');
    renderPanel(fake(), analysis({ results: [adult, result({ resultId: 24, modelId: 'us-breast', population: { ...population(0.5, 'PatientAge'), intendedAgeYears: { min: 25 } } })] }));
    expect(within(run('cxr-pneumonia')).getByTestId('population-warning').textContent).toBe('超出预期人群：患者 54 岁；模型适用于 1–5 岁');
    expect(within(run('us-breast')).getByTestId('run-population').textContent).toBe('患者 6 个月（来自患者年龄）；模型适用于 ≥ 25 岁');
  });
});


describe('FindingsPanel: ultrasound images analysed without their B-mode region', () => {
  const whole = result({
    resultId: 31,
    modelId: 'us-breast',
    findings: [{ label: 'malignant', score: 0.8, positive: true, threshold: 0.5 }],
    warnings: [
      {
        code: 'NO_ULTRASOUND_REGION',
        message: 'no B-mode region (Sequence of Ultrasound Regions) for 2 of 3 images: analysed whole, so text and scale bars around the image reach the model',
        units: 2,
        of: 3,
      },
    ],
  });

  it('warns on the run, with how many images reached the model whole, and keeps the findings', () => {
    renderPanel(fake(), analysis({ results: [whole, result({ resultId: 32, modelId: 'cxr-pneumonia', warnings: [] })] }));
    const warning = within(run('us-breast')).getByTestId('ultrasound-region-warning');
    expect(warning.textContent).toBe('No B-mode region (Sequence of Ultrasound Regions) for 2 of 3 images: analysed whole, so text and scale bars around the image reached the model');
    expect(item('us-breast', 'malignant')).not.toBeNull();
    // Not a population warning, and no warning on a run without one.
    expect(within(run('us-breast')).queryByTestId('population-warning')).toBeNull();
    expect(within(run('cxr-pneumonia')).queryByTestId('ultrasound-region-warning')).toBeNull();
  });

  it('speaks Simplified Chinese too', () => {
    setLocale('zh-CN');
    renderPanel(fake(), analysis({ results: [whole] }));
    expect(within(run('us-breast')).getByTestId('ultrasound-region-warning').textContent).toBe('3 幅图像中有 2 幅没有 B 模式区域（超声区域序列）：已按整幅图像分析，图像周围的文字和标尺也进入了模型');
  });
});

describe('FindingsPanel: a series that does not record what the model checks', () => {
  const refused = result({
    resultId: 41,
    modelId: 'us-breast',
    seriesInstanceUid: `${STUDY}.3`,
    provider: null,
    status: 'not-analysed',
    reason: 'body part not recorded (no Body Part Examined, Anatomic Region Sequence or body part in the descriptions); the model needs BREAST',
    unrecorded: ['Body Part Examined'],
  });
  const vouched = result({
    resultId: 42,
    modelId: 'us-breast',
    seriesInstanceUid: `${STUDY}.3`,
    findings: [{ label: 'malignant', score: 0.7, positive: true, threshold: 0.5 }],
    warnings: [
      {
        code: 'APPLICABILITY_NOT_RECORDED',
        message: 'Analysed although Body Part Examined is not recorded: the reader vouched that the series is what the model needs',
        attributes: ['Body Part Examined'],
        vouchedBy: 'reader',
      },
    ],
  });

  it('offers "Analyse anyway", saying what is not recorded, and runs that model on that series with the reader\'s vouch', async () => {
    const vigil = fake();
    const a = analysis({ results: [refused, RESULTS[2]!] });
    renderPanel(vigil, a);
    expect(within(run('us-breast')).getByTestId('run-not-analysed').textContent).toContain('body part not recorded');
    const button = within(document.querySelector<HTMLElement>('[data-testid="finding-run"][data-series-uid$=".3"]')!).getByTestId('analyse-anyway');
    expect(button.textContent).toBe('Analyse anyway');
    expect(button.getAttribute('title')).toBe('This series does not record Body Part Examined. Analyse it only if you vouch that it is what the model needs; the result will say you did, and later runs of this model on this series keep your word until a new image joins it or the model changes.');
    // Screen readers get the same description as the tooltip.
    expect(document.getElementById(button.getAttribute('aria-describedby')!)?.textContent).toBe(button.getAttribute('title'));
    fireEvent.click(button);
    await waitFor(() => expect(a.refresh).toHaveBeenCalled());
    // The request names the refusal the reader answers: the vouch is for what it showed, not for the series as it is now.
    expect(vigil.run).toHaveBeenCalledWith({ studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.3`, modelId: 'us-breast', vouchForUnrecorded: true, vouchForResultId: 41 });
    // Until the new run's result replaces the refusal, a second click queues nothing more.
    expect(button).toHaveProperty('disabled', true);
    fireEvent.click(button);
    expect(vigil.run).toHaveBeenCalledTimes(1);
    // A refusal for a recorded value that contradicts the model offers nothing to vouch for.
    expect(screen.getAllByTestId('analyse-anyway')).toHaveLength(1);
  });

  it('lets the reader try again when the vouched run could not be queued', async () => {
    const vigil = fake();
    vigil.run.mockRejectedValueOnce(new Error('the host went away'));
    const a = analysis({ results: [refused, RESULTS[2]!] });
    const { reportError } = renderPanel(vigil, a);
    const button = within(document.querySelector<HTMLElement>('[data-testid="finding-run"][data-series-uid$=".3"]')!).getByTestId('analyse-anyway');
    fireEvent.click(button);
    await waitFor(() => expect(reportError).toHaveBeenCalledWith({ code: 'INTERNAL', message: 'the host went away' }));
    await waitFor(() => expect(button).toHaveProperty('disabled', false));
    fireEvent.click(button);
    await waitFor(() => expect(vigil.run).toHaveBeenCalledTimes(2));
  });

  it('shows who vouched on the analysed run, with its findings', () => {
    renderPanel(fake(), analysis({ results: [vouched] }));
    const warning = within(run('us-breast')).getByTestId('unrecorded-warning');
    expect(warning.textContent).toBe('Not recorded: Body Part Examined. Analysed because the reader vouched that the series is what the model needs');
    expect(warning.getAttribute('data-vouched-by')).toBe('reader');
    expect(item('us-breast', 'malignant')).not.toBeNull();
    expect(screen.queryByTestId('analyse-anyway')).toBeNull();
  });

  it('speaks Simplified Chinese too', () => {
    setLocale('zh-CN');
    renderPanel(fake(), analysis({ results: [vouched, refused] }));
    expect(screen.getByTestId('unrecorded-warning').textContent).toBe('未记录：Body Part Examined。因阅片者确认该序列符合模型要求而进行了分析');
    const button = screen.getByTestId('analyse-anyway');
    expect(button.textContent).toBe('仍然分析');
    expect(button.getAttribute('title')).toBe('此序列未记录 Body Part Examined。仅当您确认该序列符合模型要求时才进行分析；结果会注明是您确认的；在该序列加入新图像或模型更新之前，此模型以后对该序列的分析也将沿用您的确认。');
  });

  describe('when the reader had vouched before and that vouch no longer holds', () => {
    const lapsed = (vouchLapsed: NonNullable<AnalysisResult['vouchLapsed']>) => ({ ...refused, reason: `${refused.reason ?? ''}; your earlier vouch …`, vouchLapsed });
    const note = () => within(run('us-breast')).getByTestId('vouch-lapsed');
    /** The note's lines: one per reason. */
    const lines = () => [...note().children].map((c) => c.textContent);

    it('says why beside "Analyse anyway": images added since, another version of the model, or both', () => {
      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 1, modelChanged: false })] }));
      expect(lines()).toEqual(['Your earlier vouch does not cover the image added to this series since: you have not seen it.']);
      expect(note().getAttribute('role')).toBe('note');
      // Screen readers reaching the button hear why too, before what vouching means.
      const button = screen.getByTestId('analyse-anyway');
      expect(document.getElementById(button.getAttribute('aria-describedby')!)?.textContent).toBe(
        `Your earlier vouch does not cover the image added to this series since: you have not seen it. ${button.getAttribute('title') ?? ''}`,
      );
      cleanup();

      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 3, modelChanged: false })] }));
      expect(lines()).toEqual(['Your earlier vouch does not cover the 3 images added to this series since: you have not seen them.']);
      cleanup();

      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 0, modelChanged: true })] }));
      expect(lines()).toEqual(['Your earlier vouch was for another version of this model.']);
      cleanup();

      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 2, modelChanged: true })] }));
      expect(lines()).toEqual(['Your earlier vouch was for another version of this model.', 'Your earlier vouch does not cover the 2 images added to this series since: you have not seen them.']);
    });

    it('names the attributes the series does not record now that the earlier vouch was not given for', () => {
      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 0, modelChanged: true, attributesNotVouched: ['Pixel Spacing'] })] }));
      expect(lines()).toEqual(['Your earlier vouch was for another version of this model.', 'Your earlier vouch was not given for Pixel Spacing, which this series does not record.']);
      cleanup();
      setLocale('zh-CN');
      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 1, modelChanged: false, attributesNotVouched: ['Pixel Spacing', 'View Position'] })] }));
      expect(lines()).toEqual(['您之前的确认不包括此后加入该序列的 1 幅图像：您尚未看过它。', '您之前的确认不包括 Pixel Spacing, View Position，而该序列未记录这些属性。']);
    });

    it('says nothing of a vouch where none lapsed', () => {
      renderPanel(fake(), analysis({ results: [refused] }));
      expect(screen.queryByTestId('vouch-lapsed')).toBeNull();
      const button = screen.getByTestId('analyse-anyway');
      expect(document.getElementById(button.getAttribute('aria-describedby')!)?.textContent).toBe(button.getAttribute('title'));
    });

    it('speaks Simplified Chinese too', () => {
      setLocale('zh-CN');
      renderPanel(fake(), analysis({ results: [lapsed({ imagesAdded: 2, modelChanged: true })] }));
      expect(lines()).toEqual(['您之前的确认针对的是此模型的另一个版本。', '您之前的确认不包括此后加入该序列的 2 幅图像：您尚未看过它们。']);
    });
  });
});

describe('FindingsPanel: "Analyse anyway" on a refusal that no longer held', () => {
  const refused = result({
    resultId: 51,
    modelId: 'us-breast',
    seriesInstanceUid: `${STUDY}.3`,
    provider: null,
    status: 'not-analysed',
    reason: 'body part not recorded (no Body Part Examined or Anatomic Region Sequence); the model needs BREAST',
    unrecorded: ['Body Part Examined'],
  });
  /** The fresh refusal the services record when the answered refusal no longer held. */
  const fresh = (vouchLapsed: NonNullable<AnalysisResult['vouchLapsed']>) => ({ ...refused, resultId: 52, reason: `${refused.reason ?? ''}; not analysed on your vouch: …`, vouchLapsed });
  const note = () => screen.getByTestId('vouch-lapsed');
  const lines = () => [...note().children].map((c) => c.textContent);

  it('says why the click analysed nothing, and offers "Analyse anyway" again on the fresh refusal', async () => {
    const vigil = fake();
    vigil.run.mockResolvedValueOnce(ok({ queued: [], notAnalysed: [{ jobId: 'applicability', studyInstanceUid: STUDY, seriesInstanceUid: `${STUDY}.3`, modelId: 'us-breast', status: 'not-analysed', reason: 'stale' }] }));
    const a = analysis({ results: [refused] });
    const panel = (results: AnalysisResult[]) => (
      <AppContext value={{ vigil, reportError: vi.fn() }}>
        <FindingsPanel studyInstanceUid={STUDY} activeSeriesUid={`${STUDY}.3`} analysis={{ ...a, results }} layers={[]} style={STYLE} onStyle={vi.fn()} onJump={vi.fn()} labelEdit={null} onLabelEdit={vi.fn()} />
      </AppContext>
    );
    const { rerender } = render(panel([refused]));
    expect(screen.queryByTestId('vouch-lapsed')).toBeNull();
    fireEvent.click(screen.getByTestId('analyse-anyway'));
    await waitFor(() => expect(a.refresh).toHaveBeenCalled());
    expect(vigil.run).toHaveBeenCalledWith(expect.objectContaining({ vouchForUnrecorded: true, vouchForResultId: 51 }));

    // The refresh brings the fresh refusal: it tells why, and its own "Analyse anyway" answers it.
    rerender(panel([fresh({ imagesAdded: 1, modelChanged: false, answered: true })]));
    expect(lines()).toEqual(['Nothing was analysed: the series or model changed after the refusal you answered was recorded.', '1 image was added to this series.', 'Check the images, then choose Analyse anyway again.']);
    expect(note().getAttribute('data-answered')).toBe('true');
    // Not the wording of an earlier vouch that lapsed: the reader vouched for nothing.
    expect(note().textContent).not.toContain('earlier vouch');
    const button = screen.getByTestId('analyse-anyway');
    expect(button).toHaveProperty('disabled', false);
    expect(document.getElementById(button.getAttribute('aria-describedby')!)?.textContent).toBe(`${lines().join(' ')} ${button.getAttribute('title') ?? ''}`);
    fireEvent.click(button);
    await waitFor(() => expect(vigil.run).toHaveBeenLastCalledWith(expect.objectContaining({ vouchForUnrecorded: true, vouchForResultId: 52 })));
  });

  it('names every change: images, another model version, attributes', () => {
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 3, modelChanged: true, attributesNotVouched: ['Pixel Spacing'], answered: true, attributesNoLongerUnrecorded: ['View Position'] })] }));
    expect(lines()).toEqual([
      'Nothing was analysed: the series or model changed after the refusal you answered was recorded.',
      'The model was updated to another version.',
      '3 images were added to this series.',
      'This series also does not record Pixel Spacing.',
      'The refusal you answered also listed View Position; the series is no longer refused for that.',
      'Check the images, then choose Analyse anyway again.',
    ]);
  });

  it('names images removed from the series since the refusal', () => {
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 1, imagesRemoved: 2, modelChanged: false, answered: true })] }));
    expect(lines()).toEqual([
      'Nothing was analysed: the series or model changed after the refusal you answered was recorded.',
      '1 image was added to this series.',
      '2 images were removed from this series.',
      'Check the images, then choose Analyse anyway again.',
    ]);
  });

  it('says a refusal stored before refusals recorded their images could not be tied to what the reader saw', () => {
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 0, modelChanged: false, answered: true, imagesNotRecorded: true })] }));
    expect(lines()).toEqual([
      'Nothing was analysed: the refusal you answered was recorded before Vigil noted which images a refusal judged, so your choice could not be tied to the images you saw.',
      'Check the images, then choose Analyse anyway again.',
    ]);
    expect(screen.getByTestId('analyse-anyway')).toHaveProperty('disabled', false);
  });

  it('speaks Simplified Chinese too', () => {
    setLocale('zh-CN');
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 1, modelChanged: true, answered: true })] }));
    expect(lines()).toEqual(['未进行分析：在您回应的结果记录之后，序列或模型已有变化。', '模型已更新为另一个版本。', '该序列新加入了 1 幅图像。', '请检查图像，然后再次选择“仍然分析”。']);
    cleanup();
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 2, modelChanged: false, attributesNotVouched: ['Pixel Spacing'], answered: true, attributesNoLongerUnrecorded: ['View Position'] })] }));
    expect(lines()).toEqual([
      '未进行分析：在您回应的结果记录之后，序列或模型已有变化。',
      '该序列新加入了 2 幅图像。',
      '该序列也未记录 Pixel Spacing。',
      '您回应的结果还列出了 View Position；该序列已不再因此被拒绝。',
      '请检查图像，然后再次选择“仍然分析”。',
    ]);
    cleanup();
    renderPanel(fake(), analysis({ results: [fresh({ imagesAdded: 0, modelChanged: false, answered: true, imagesNotRecorded: true })] }));
    expect(lines()).toEqual(['未进行分析：您回应的结果记录于 Vigil 开始记下所判断的图像之前，因此无法将您的选择与您看到的图像对应。', '请检查图像，然后再次选择“仍然分析”。']);
  });
});

describe('FindingsPanel: images scored on each of their B-mode regions', () => {
  const region = (image: number, x0: number, malignant: number) => ({ image, x0, y0: 24, x1: x0 + 303, y1: 415, scores: [1 - malignant, malignant] });
  const classification = (regions: unknown[]) => ({ kind: 'classification', tensor: 'logits', labels: ['normal_or_benign', 'malignant'], normalLabels: ['normal_or_benign'], regions });
  const findings = [
    { label: 'normal_or_benign', score: 0.2, positive: false, threshold: 0.75, normal: true },
    { label: 'malignant', score: 0.8, positive: true, threshold: 0.25 },
  ];
  const dual = result({ resultId: 41, modelId: 'us-breast', findings, outputs: [classification([region(0, 32, 0.1), region(0, 336, 0.8)])] });
  const series = result({
    resultId: 42,
    modelId: 'us-breast',
    findings,
    inputSopInstanceUids: [1, 2, 3].map((i) => `${STUDY}.1.${i}`),
    outputs: [classification([region(0, 32, 0.1), region(0, 336, 0.8), region(1, 32, 0.3)])],
  });

  it('says the image was scored on each of its views and the highest is shown', () => {
    renderPanel(fake(), analysis({ results: [dual] }));
    expect(within(run('us-breast')).getByTestId('ultrasound-views').textContent).toBe('Scored on 2 B-mode regions of the image; the highest is shown');
    expect(item('us-breast', 'malignant')).not.toBeNull();
  });

  it('counts the images of a series that had several views', () => {
    renderPanel(fake(), analysis({ results: [series] }));
    expect(within(run('us-breast')).getByTestId('ultrasound-views').textContent).toBe('1 of 3 images scored on each of their B-mode regions; each image counts its highest');
  });

  it('says nothing when every image had one region, or none was recorded', () => {
    const single = result({ resultId: 43, modelId: 'us-breast', findings, outputs: [classification([region(0, 32, 0.8)])] });
    renderPanel(fake(), analysis({ results: [single, result({ resultId: 44, modelId: 'cxr-pneumonia', outputs: [{ kind: 'classification', tensor: 'logits' }] })] }));
    expect(within(run('us-breast')).queryByTestId('ultrasound-views')).toBeNull();
    expect(within(run('cxr-pneumonia')).queryByTestId('ultrasound-views')).toBeNull();
  });

  it('speaks Simplified Chinese too', () => {
    setLocale('zh-CN');
    renderPanel(fake(), analysis({ results: [dual, { ...series, resultId: 45, modelId: 'cxr-pneumonia' }] }));
    expect(within(run('us-breast')).getByTestId('ultrasound-views').textContent).toBe('已在图像的 2 个 B 模式区域上分别评分；显示最高分');
    expect(within(run('cxr-pneumonia')).getByTestId('ultrasound-views').textContent).toBe('3 幅图像中有 1 幅在其每个 B 模式区域上分别评分；每幅图像取其最高分');
  });
});
