import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ModelInfo, ModelMetrics, Result, RuntimeInfo, Settings, ValidationCase, ValidationCasesKind, ValidationResult } from '../../../contract/ipc-contract';
import { App } from '../App';
import { AppContext } from '../app-context';
import { setLocale } from '../i18n/strings';
import { fakeVigil, type FakeVigil, ok } from '../test-support/fake-vigil';
import { ModelsPage } from './ModelsPage';
import { buildReportHtml, escapeHtml } from './report-html';
import { analysedWholeWarning, caseDisplayPath, casesFolder, excludedReasons, oneTruthWarning, validationSummary, vouchedUnrecordedWarning } from './validation-view';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
  setLocale('en');
});

const MODELS: ModelInfo[] = [
  { id: 'cxr-pneumonia', name: 'CXR pneumonia', version: '1.0.0', status: 'ok', path: '/m/cxr', origin: 'bundled', clinicalUse: false, intendedUse: 'Research demonstration. Not for clinical use.' },
  { id: 'broken', name: '', version: '', status: 'invalid', reason: 'model.onnx sha-256 does not match the manifest', path: '/m/broken', origin: 'user', clinicalUse: null },
];

/** Analysed cases in reading order: two false negatives, two false positives, three correct (one outside the cases folder). */
const CASES: ValidationCase[] = [
  { file: '/cases/normal/n1.dcm', label: 'normal', score: 0.12, predictedPositive: false, correct: true },
  { file: '/cases/normal/n2.dcm', label: 'normal', score: 0.62, predictedPositive: true, correct: false },
  { file: '/cases/normal/n3.dcm', label: 'normal', score: 0.97, predictedPositive: true, correct: false, warnings: ['APPLICABILITY_NOT_RECORDED'] },
  { file: '/cases/pneumonia/p1.dcm', label: 'pneumonia', score: 0.91, predictedPositive: true, correct: true, warnings: ['NO_ULTRASOUND_REGION'] },
  { file: '/cases/pneumonia/p2.dcm', label: 'pneumonia', score: 0.41, predictedPositive: false, correct: false },
  { file: '/cases/pneumonia/deep/p3.dcm', label: 'pneumonia', score: 0.05, predictedPositive: false, correct: false, warnings: ['NO_ULTRASOUND_REGION', 'APPLICABILITY_NOT_RECORDED'] },
  { file: '/elsewhere/p4.dcm', label: 'pneumonia', score: 0.77, predictedPositive: true, correct: true },
];

function result(overrides: Partial<ValidationResult> = {}): ValidationResult {
  const ci: [number, number] = [0.7, 0.9];
  return {
    modelId: 'cxr-pneumonia',
    modelName: 'CXR <b>pneumonia</b>',
    modelVersion: '1.0.0',
    modelSha256: 'ab'.repeat(32),
    intendedUse: 'Research demonstration <script>alert(1)</script>',
    clinicalUse: false,
    casesPath: '/cases',
    positiveLabel: 'pneumonia',
    negativeLabels: ['normal'],
    provider: 'cpu',
    ortVersion: '1.30.0',
    n: 40,
    positives: 20,
    threshold: 0.5,
    auc: 0.91,
    accuracy: 0.825,
    sensitivity: 0.9,
    specificity: 0.75,
    ppv: 0.783,
    npv: 0.882,
    f1: 0.837,
    ece: 0.05,
    brier: 0.12,
    ci95: { auc: ci, accuracy: ci, sensitivity: ci, specificity: ci, ppv: ci, npv: ci, f1: [null, null], ece: ci, brier: ci },
    ciMethod: 'percentile bootstrap, 2000 resamples',
    confusion: { tp: 18, fn: 2, fp: 5, tn: 15 },
    roc: [
      { fpr: 0, tpr: 0, threshold: null },
      { fpr: 0.1, tpr: 0.6, threshold: 0.8 },
      { fpr: 0.25, tpr: 0.9, threshold: 0.5 },
      { fpr: 1, tpr: 1, threshold: 0.01 },
    ],
    reliability: [],
    excluded: [{ file: '/cases/pneumonia/bad.dcm', label: 'pneumonia', status: 'not-applicable', reason: 'modality CT is not one of CR, DX' }],
    seconds: 2.5,
    finishedAt: '2026-01-02T03:04:05.000Z',
    analysedWhole: 0,
    vouchedUnrecorded: 0,
    cases: CASES,
    caseUnit: 'series',
    ...overrides,
  };
}

/** Ten equal-width bins as models.validate returns them: three with cases, the rest empty. */
const RELIABILITY: ValidationResult['reliability'] = Array.from({ length: 10 }, (_, i) => {
  const lo = i / 10;
  const filled: Record<number, { n: number; meanPredicted: number; observed: number }> = {
    0: { n: 15, meanPredicted: 0.04, observed: 0.0 },
    5: { n: 5, meanPredicted: 0.55, observed: 0.4 },
    9: { n: 20, meanPredicted: 0.93, observed: 0.85 },
  };
  const f = filled[i];
  return { lo, hi: (i + 1) / 10, n: f?.n ?? 0, meanPredicted: f?.meanPredicted ?? null, observed: f?.observed ?? null };
});

const RUNTIME: RuntimeInfo = {
  ortVersion: '1.30.0',
  platform: 'linux',
  arch: 'x64',
  providers: [
    { name: 'cuda', available: false, reason: 'not in this installation (needs an NVIDIA GPU)' },
    { name: 'cpu', available: true },
  ],
  forceCpu: false,
  lastRun: { provider: 'cpu', modelId: 'cxr-pneumonia', at: '2026-01-02T03:04:05.000Z', note: null },
};

/** Shipped test-split metrics as a package's metrics.json gives them (three bins, one empty). */
const METRICS: ModelMetrics = {
  split: 'test',
  n: 624,
  positives: 390,
  positiveLabel: 'pneumonia',
  dataset: 'PneumoniaMNIST (MedMNIST v2)',
  auc: 0.971225,
  aucCi95: [0.958158, 0.983268],
  threshold: 0.157871,
  sensitivity: 0.992308,
  specificity: 0.747863,
  ece: 0.02278,
  reliability: [
    { lo: 0, hi: 0.5, n: 200, meanPredicted: 0.05, observed: 0.04 },
    { lo: 0.5, hi: 0.7, n: 0, meanPredicted: null, observed: null },
    { lo: 0.7, hi: 1, n: 424, meanPredicted: 0.95, observed: 0.97 },
  ],
  roc: { fpr: [0, 0.1, 0.25, 1], tpr: [0, 0.9, 0.99, 1] },
};

type ModelsFake = FakeVigil & {
  /** The mocks behind the Models page's channels. */
  m: {
    validate: ReturnType<typeof vi.fn>;
    update: ReturnType<typeof vi.fn>;
    save: ReturnType<typeof vi.fn>;
    rescan: ReturnType<typeof vi.fn>;
    list: ReturnType<typeof vi.fn>;
    chooseCases: ReturnType<typeof vi.fn>;
  };
};

function fake(host: 'electron' | 'bridge' = 'bridge', validate?: () => Promise<Result<ValidationResult>>, models: ModelInfo[] = MODELS): ModelsFake {
  const base = fakeVigil({ host });
  let settings: Settings = { reviewerName: '', aiForceCpu: false, aiAutoRunOnImport: false };
  const m = {
    validate: vi.fn(validate ?? (async () => ok(result()))),
    update: vi.fn(async (patch: Partial<Settings>) => ok((settings = { ...settings, ...patch }))),
    save: vi.fn(async () => ok({ saved: true, path: '/home/u/report.html' })),
    rescan: vi.fn(async () => ok({ models, added: [], removed: [], changed: [] })),
    list: vi.fn(async () => ok({ models })),
    chooseCases: vi.fn(async (_req: { kind: ValidationCasesKind }) => ok<{ path: string | null }>({ path: null })),
  };
  return Object.assign(base, {
    dialog: { ...base.dialog, chooseValidationCases: m.chooseCases },
    models: { list: m.list, validate: m.validate, rescan: m.rescan },
    ai: { runtimeInfo: vi.fn(async () => ok(RUNTIME)) },
    settings: { get: vi.fn(async () => ok(settings)), update: m.update },
    reports: { save: m.save },
    m,
  }) as unknown as ModelsFake;
}

/** Renders the page; `unmount` leaves it (as going back to the library does). */
function renderPage(vigil: ModelsFake) {
  const reportError = vi.fn();
  const { unmount } = render(
    <AppContext value={{ vigil, reportError }}>
      <ModelsPage />
    </AppContext>,
  );
  return Object.assign(reportError, { unmount });
}

describe('Models page', () => {
  it('lists models with status, version, intended use and the clinical-use flag, and the runtime providers', async () => {
    const vigil = fake();
    renderPage(vigil);
    const items = await screen.findAllByTestId('model-item');
    expect(items).toHaveLength(2);
    expect(items[0]!.textContent).toContain('v1.0.0');
    expect(items[0]!.textContent).toContain('ok');
    expect(items[0]!.textContent).toContain('research only');
    expect(items[0]!.textContent).toContain('Research demonstration. Not for clinical use.');
    expect(items[1]!.textContent).toContain('invalid');
    expect(items[1]!.textContent).toContain('sha-256 does not match');
    const providers = await screen.findByTestId('runtime-providers');
    expect(within(providers).getAllByRole('listitem').map((li) => li.getAttribute('data-provider'))).toEqual(['cuda', 'cpu']);
    expect(providers.textContent).toContain('needs an NVIDIA GPU');
    expect(providers.querySelector('[data-provider="cpu"]')!.textContent).toContain('ran last');
    expect(screen.getByTestId('intended-use').textContent).toContain('Not for clinical use.');
  });

  it('toggles the force-CPU and auto-run settings', async () => {
    const vigil = fake();
    renderPage(vigil);
    const force = await screen.findByTestId('setting-force-cpu');
    await waitFor(() => expect((force as HTMLInputElement).disabled).toBe(false));
    fireEvent.click(force);
    await waitFor(() => expect(vigil.m.update).toHaveBeenCalledWith({ aiForceCpu: true }));
    await waitFor(() => expect((force as HTMLInputElement).checked).toBe(true));
    fireEvent.click(screen.getByTestId('setting-auto-run'));
    await waitFor(() => expect(vigil.m.update).toHaveBeenCalledWith({ aiAutoRunOnImport: true }));
  });

  it('validates the chosen model on a typed path (bridge), shows progress, metrics, ROC, confusion matrix and excluded cases', async () => {
    let finish!: (r: Result<ValidationResult>) => void;
    const vigil = fake('bridge', () => new Promise((resolve) => (finish = resolve)));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    const run = screen.getByTestId('validate-run') as HTMLButtonElement;
    expect(run.disabled).toBe(true);
    expect(screen.getByText(/a path on the machine running the bridge/)).toBeTruthy();
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: ' /cases ' } });
    fireEvent.click(run);
    await waitFor(() => expect(vigil.m.validate).toHaveBeenCalledWith({ modelId: 'cxr-pneumonia', casesPath: '/cases', caseUnit: 'series' }));
    // Series cases: the case files' headers are read first (files), then the cases are analysed.
    act(() => vigil.emit('models.validateProgress', { modelId: 'cxr-pneumonia', done: 12, total: 41, phase: 'reading' }));
    expect(screen.getByTestId('validate-progress').textContent).toContain('Reading the case files: 12 of 41');
    act(() => vigil.emit('models.validateProgress', { modelId: 'cxr-pneumonia', done: 7, total: 40, phase: 'analysing' }));
    expect(screen.getByTestId('validate-progress').textContent).toContain('7 of 40 cases');
    await act(async () => finish(ok(result())));

    const metrics = await screen.findByTestId('validation-metrics');
    const row = (key: string) => metrics.querySelector(`[data-metric="${key}"]`)!.textContent;
    expect(row('auc')).toContain('0.910');
    expect(row('auc')).toContain('0.700–0.900');
    expect(row('f1')).toContain('n/a');
    expect(row('n')).toContain('40');
    expect(row('threshold')).toContain('0.5');
    for (const label of ['AUC', 'Accuracy', 'Sensitivity', 'Specificity', 'PPV', 'NPV', 'F1']) expect(metrics.textContent).toContain(label);

    const roc = screen.getByTestId('roc-curve');
    expect(roc.querySelector('[data-testid="roc-path"]')!.getAttribute('d')).toMatch(/^M44\.00,\d+\.\d+ L/);
    expect(roc.querySelector('[data-testid="roc-operating-point"]')).not.toBeNull();

    const cm = screen.getByTestId('confusion-matrix');
    expect(within(cm).getByTestId('cm-tp').textContent).toContain('18');
    expect(within(cm).getByTestId('cm-fn').textContent).toContain('2');
    expect(within(cm).getByTestId('cm-fp').textContent).toContain('5');
    expect(within(cm).getByTestId('cm-tn').textContent).toContain('15');
    expect(cm.textContent).toContain('pneumonia');
    expect(cm.textContent).toContain('normal');

    expect(screen.getByTestId('excluded-cases').textContent).toContain('modality CT is not one of CR, DX');
    // Every case was cropped to its B-mode region (or the model does not crop): nothing to warn about.
    expect(screen.queryByTestId('analysed-whole')).toBeNull();
    // The result's intended use is rendered as text, never as markup.
    expect(document.querySelector('script')).toBeNull();
    expect(screen.getAllByTestId('intended-use').some((b) => b.textContent!.includes('<script>alert(1)</script>'))).toBe(true);
  });

  it('shows calibration: ECE and Brier with their CIs, and the reliability diagram of the validated cases', async () => {
    const vigil = fake('bridge', async () => ok(result({ reliability: RELIABILITY, ece: 0.0625, brier: 0.118, ci95: { ...result().ci95, ece: [0.031, 0.104], brier: [0.081, 0.16] } })));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    const metrics = await screen.findByTestId('validation-metrics');
    const row = (key: string) => metrics.querySelector(`[data-metric="${key}"]`)!.textContent;
    expect(row('ece')).toContain('ECE');
    expect(row('ece')).toContain('0.063');
    expect(row('ece')).toContain('0.031–0.104');
    expect(row('brier')).toContain('Brier score');
    expect(row('brier')).toContain('0.118');
    expect(row('brier')).toContain('0.081–0.160');

    const diagram = screen.getByTestId('validation-reliability');
    const bins = within(diagram).getAllByTestId('reliability-bin');
    // One dot per non-empty bin, sized by its cases; 320 px plot: left 44, top 12, side 242.
    expect(bins.map((b) => b.getAttribute('data-n'))).toEqual(['15', '5', '20']);
    expect(Number(bins[2]!.getAttribute('r'))).toBeGreaterThan(Number(bins[1]!.getAttribute('r')));
    expect(Number(bins[1]!.getAttribute('cx'))).toBeCloseTo(44 + 0.55 * 242, 6);
    expect(Number(bins[1]!.getAttribute('cy'))).toBeCloseTo(12 + (1 - 0.4) * 242, 6);
    expect(bins[1]!.textContent).toBe('0.50–0.60: 5 cases, predicted 0.55, observed 0.40');
    expect(diagram.querySelector('.roc-diagonal')!.getAttribute('d')).toBe('M44,254 L286,12');
    expect(diagram.textContent).toContain('ECE 0.063');
  });

  it('warns when cases were analysed whole, without their B-mode region, in English and Chinese', async () => {
    renderPage(fake('bridge', async () => ok(result({ analysedWhole: 3 }))));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    const warning = await screen.findByTestId('analysed-whole');
    expect(warning.getAttribute('role')).toBe('note');
    expect(warning.textContent).toBe('3 of 40 cases were analysed whole: no B-mode region (Sequence of Ultrasound Regions), so scanner text and scale bars reached the model.');
    setLocale('zh-CN');
    expect(analysedWholeWarning({ analysedWhole: 3, n: 40 })).toBe('40 个病例中有 3 个按整幅图像分析：没有 B 模式区域（超声区域序列），因此扫描仪文字和标尺也进入了模型。');
  });

  it('says how many cases their label vouched for (files without an attribute the model checks), in English and Chinese', async () => {
    renderPage(fake('bridge', async () => ok(result({ vouchedUnrecorded: 4 }))));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    const warning = await screen.findByTestId('vouched-unrecorded');
    expect(warning.getAttribute('role')).toBe('note');
    expect(warning.textContent).toBe('4 of 40 cases were analysed although their files do not record an attribute the model checks (such as Body Part Examined or View Position): their label vouches for them.');
    expect(screen.queryByTestId('analysed-whole')).toBeNull();
    setLocale('zh-CN');
    expect(vouchedUnrecordedWarning({ vouchedUnrecorded: 4, n: 40 })).toBe('40 个病例中有 4 个的文件未记录模型检查的属性（如 Body Part Examined 或 View Position），因其标签确认而进行了分析。');
  });

  it('says when every analysed case has one truth (AUC undefined), in English and Chinese, and nothing when both are present', async () => {
    renderPage(fake('bridge', async () => ok(result({ positives: 0 }))));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    const warning = await screen.findByTestId('one-truth');
    expect(warning.getAttribute('role')).toBe('note');
    expect(warning.textContent).toBe('No analysed case is labelled pneumonia: AUC and sensitivity cannot be computed, and the ROC curve means nothing. Add pneumonia cases.');
    const r = { n: 40, positiveLabel: 'pneumonia', negativeLabels: ['normal'] };
    expect(oneTruthWarning({ ...r, positives: 40 })).toBe('Every analysed case is labelled pneumonia: AUC and specificity cannot be computed, and the ROC curve means nothing. Add cases of normal.');
    expect(oneTruthWarning({ ...r, positives: 12 })).toBeNull();
    setLocale('zh-CN');
    expect(oneTruthWarning({ ...r, positives: 0 })).toBe('没有任何已分析病例标注为 pneumonia：无法计算 AUC 和灵敏度，ROC 曲线也没有意义。请加入 pneumonia 病例。');
  });

  it('keeps a running validation when the page is left: back on the page it is still running, then shows its result', async () => {
    let finish!: (r: Result<ValidationResult>) => void;
    const vigil = fake('bridge', () => new Promise((resolve) => (finish = resolve)));
    const page = renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases/run-1' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    await waitFor(() => expect(vigil.m.validate).toHaveBeenCalledTimes(1));
    act(() => vigil.emit('models.validateProgress', { modelId: 'cxr-pneumonia', done: 3, total: 40, phase: 'analysing' }));
    page.unmount();
    // Away from the page (the library), the run goes on and ends.
    act(() => vigil.emit('models.validateProgress', { modelId: 'cxr-pneumonia', done: 9, total: 40, phase: 'analysing' }));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    expect(screen.getByTestId('validate-progress').textContent).toContain('9 of 40 cases');
    expect((screen.getByTestId('validate-cases') as HTMLInputElement).value).toBe('/cases/run-1');
    expect((screen.getByTestId('validate-run') as HTMLButtonElement).disabled).toBe(true);
    await act(async () => finish(ok(result())));
    expect(await screen.findByTestId('validation-metrics')).toBeTruthy();
    expect(screen.queryByTestId('validate-progress')).toBeNull();
    expect(vigil.m.validate).toHaveBeenCalledTimes(1);
  });

  it('cancels a running validation: the run ends as cancelled, with nothing scored', async () => {
    let finish!: (r: Result<ValidationResult>) => void;
    const vigil = fake('bridge', () => new Promise((resolve) => (finish = resolve)));
    const cancel = vi.fn(async () => {
      finish({ ok: false, error: { code: 'CANCELLED', message: 'The validation was cancelled: nothing was scored.' } });
      return ok({ cancelled: true });
    });
    (vigil.models as unknown as { cancelValidation: typeof cancel }).cancelValidation = cancel;
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    expect(screen.queryByTestId('validate-cancel')).toBeNull();
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/archive' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    fireEvent.click(await screen.findByTestId('validate-cancel'));
    expect(await screen.findByTestId('validate-cancelled')).toBeTruthy();
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId('validate-cancelled').textContent).toBe('Validation cancelled: nothing was scored.');
    expect(screen.queryByTestId('validate-error')).toBeNull();
    expect(screen.queryByTestId('validate-cancel')).toBeNull();
    expect(screen.queryByTestId('validation-metrics')).toBeNull();
  });

  it('offers to cancel a validation it did not start when its own run is refused as BUSY (a reloaded page, another window)', async () => {
    const vigil = fake('bridge', async () => ({ ok: false, error: { code: 'BUSY', message: 'a validation is already running; wait for it to finish' } }));
    const cancel = vi.fn(async () => ok({ cancelled: true }));
    (vigil.models as unknown as { cancelValidation: typeof cancel }).cancelValidation = cancel;
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validate-other-running')).textContent).toContain('Another validation is running');
    expect(screen.getByTestId('validate-error').textContent).toContain('BUSY');
    fireEvent.click(screen.getByTestId('validate-cancel-other'));
    expect(await screen.findByTestId('validate-cancelled')).toBeTruthy();
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId('validate-other-running')).toBeNull();
    expect(screen.queryByTestId('validate-error')).toBeNull();
  });

  it('says why cases were excluded, each reason with its count, the most common first, and counts the rest', async () => {
    const excluded = [
      ...Array.from({ length: 3 }, (_, i) => ({ file: `/cases/normal/Thumbs${i}.txt`, label: 'normal', status: 'not-analysed', reason: 'not a DICOM file' })),
      ...Array.from({ length: 6 }, (_, i) => ({ file: `/cases/normal/ct${i}.dcm`, label: 'normal', status: 'not-applicable', reason: `reason ${i}` })),
      { file: '/cases/pneumonia/ct.dcm', label: 'pneumonia', status: 'not-applicable', reason: 'reason 0' },
    ];
    renderPage(fake('bridge', async () => ok(result({ excluded }))));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    const reasons = await screen.findByTestId('excluded-reasons');
    expect([...reasons.querySelectorAll('li')].map((li) => li.textContent)).toEqual(['3 × not a DICOM file', '2 × reason 0', '1 × reason 1', '1 × reason 2', '1 × reason 3', '2 other reasons (see the list)']);
    expect(excludedReasons([{ reason: 'a' }])).toEqual([{ reason: 'a', count: 1 }]);
  });

  it('says so when the validated cases fill no reliability bin', async () => {
    renderPage(fake('bridge', async () => ok(result({ reliability: [] }))));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validation-reliability-none')).textContent).toContain('no reliability bins');
    expect(screen.queryByTestId('validation-reliability')).toBeNull();
  });

  it('clears the previous result when a new run starts, so a failed run shows no old report to save', async () => {
    let finish!: (r: Result<ValidationResult>) => void;
    const vigil = fake('bridge');
    vigil.m.validate.mockResolvedValueOnce(ok(result())).mockImplementationOnce(() => new Promise((resolve) => (finish = resolve)));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    await screen.findByTestId('save-report');

    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/other-cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    await screen.findByTestId('validate-progress');
    expect(screen.queryByTestId('validation-metrics')).toBeNull();
    expect(screen.queryByTestId('save-report')).toBeNull();

    await act(async () => finish({ ok: false, error: { code: 'BAD_REQUEST', message: 'no such folder' } }));
    expect(screen.getByTestId('validate-error').textContent).toContain('no such folder');
    expect(screen.queryByTestId('validation-metrics')).toBeNull();
    expect(screen.queryByTestId('save-report')).toBeNull();
  });

  it('shows a validation error inline', async () => {
    const vigil = fake('bridge', async () => ({ ok: false, error: { code: 'BAD_REQUEST', message: 'sub-folder(s) "cats" are not label ids' } }));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/x' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validate-error')).textContent).toContain('"cats"');
  });

  it('bridge: Save report downloads a Blob through <a download>', async () => {
    const vigil = fake('bridge');
    const created: Blob[] = [];
    const createObjectURL = vi.fn((b: Blob) => {
      created.push(b);
      return 'blob:report';
    });
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    const clicked: HTMLAnchorElement[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this);
    });
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    fireEvent.click(await screen.findByTestId('save-report'));
    expect(clicked).toHaveLength(1);
    expect(clicked[0]!.download).toBe('validation-cxr-pneumonia-20260102-0304.html');
    expect(created[0]!.type).toContain('text/html');
    expect(vigil.m.save).not.toHaveBeenCalled();
    expect(screen.getByTestId('report-saved').textContent).toContain('downloaded');
  });

  it('electron: chooses the cases folder with the native dialog and saves the report through reports.save', async () => {
    const vigil = fake('electron');
    vigil.m.chooseCases.mockResolvedValue(ok({ path: '/picked/cases' }));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.click(screen.getByTestId('validate-choose'));
    await waitFor(() => expect((screen.getByTestId('validate-cases') as HTMLInputElement).value).toBe('/picked/cases'));
    // Its own picker for labelled cases, not the DICOM import dialog.
    expect(vigil.m.chooseCases).toHaveBeenCalledWith({ kind: 'folder' });
    expect(vigil.mocks.chooseImportSources).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId('validate-run'));
    fireEvent.click(await screen.findByTestId('save-report'));
    await waitFor(() => expect(vigil.m.save).toHaveBeenCalledTimes(1));
    const req = vigil.m.save.mock.calls[0]![0] as { suggestedName: string; html: string };
    expect(req.suggestedName).toBe('validation-cxr-pneumonia-20260102-0304.html');
    expect(req.html).toContain('<svg');
    expect((await screen.findByTestId('report-saved')).textContent).toContain('/home/u/report.html');
  });
});

describe('Models page: the validated cases, mistakes first', () => {
  async function validated(r: ValidationResult) {
    renderPage(fake('bridge', async () => ok(r)));
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    fireEvent.click(screen.getByTestId('validate-run'));
    return screen.findByTestId('validation-cases');
  }
  const rows = (section: HTMLElement) =>
    within(section)
      .queryAllByTestId('case-row')
      .map((tr) => ({ outcome: tr.getAttribute('data-outcome'), file: within(tr).getByTestId('case-file').textContent, score: within(tr).getByTestId('case-score').textContent }));

  it('lists false negatives, then false positives (each farthest from the threshold first), then the correct cases; only the mistakes by default', async () => {
    const section = await validated(result());
    expect(within(section).getByTestId('validation-cases-summary').textContent).toBe('4 of 7 misclassified: 2 false negatives, 2 false positives');
    const only = within(section).getByTestId('cases-only-mistakes') as HTMLInputElement;
    expect(only.checked).toBe(true);
    expect(rows(section)).toEqual([
      { outcome: 'fn', file: 'pneumonia/deep/p3.dcm', score: '0.050' },
      { outcome: 'fn', file: 'pneumonia/p2.dcm', score: '0.410' },
      { outcome: 'fp', file: 'normal/n3.dcm', score: '0.970' },
      { outcome: 'fp', file: 'normal/n2.dcm', score: '0.620' },
    ]);
    fireEvent.click(only);
    expect(only.checked).toBe(false);
    expect(rows(section).map((r) => `${r.outcome} ${r.file}`)).toEqual([
      'fn pneumonia/deep/p3.dcm',
      'fn pneumonia/p2.dcm',
      'fp normal/n3.dcm',
      'fp normal/n2.dcm',
      'tn normal/n1.dcm',
      'tp pneumonia/p1.dcm',
      // Outside the cases folder (a CSV row may point anywhere): the full path.
      'tp /elsewhere/p4.dcm',
    ]);
    fireEvent.click(only);
    expect(rows(section)).toHaveLength(4);
  });

  /** What the eye sees: the text without the screen-reader-only parts. */
  const visible = (el: Element): string => {
    const copy = el.cloneNode(true) as Element;
    copy.querySelectorAll('.visually-hidden').forEach((n) => n.remove());
    return copy.textContent ?? '';
  };
  /** What a screen reader gets instead of the short mark. */
  const spoken = (el: Element): string => el.querySelector('.visually-hidden')?.textContent ?? '';

  it('shows each row: the path relative to the cases folder with the full path as its title, truth, predicted label, the mistake marker and warning tags', async () => {
    const section = await validated(result());
    const first = within(section).getAllByTestId('case-row')[0]!;
    const cells = [...first.querySelectorAll('td')];
    expect(cells.map(visible)).toEqual(['FN', 'pneumonia/deep/p3.dcm', 'pneumonia', '0.050', 'normal', 'whole imagevouched']);
    expect(within(first).getByTestId('case-file').getAttribute('title')).toBe('/cases/pneumonia/deep/p3.dcm');
    expect(first.querySelector('.case-marker')!.getAttribute('title')).toBe('False negative: pneumonia by its label, scored below the threshold');
    // Screen readers hear the meaning, not the abbreviation or the short tag (a title alone is not reliably read).
    expect(spoken(first.querySelector('.case-marker')!)).toBe('False negative: pneumonia by its label, scored below the threshold');
    const tags = [...first.querySelectorAll('.case-tag')];
    expect(tags.map(spoken)).toEqual(tags.map((t) => t.getAttribute('title')));
    expect(tags.map((t) => t.getAttribute('title'))).toEqual([
      'Analysed whole: no B-mode region (Sequence of Ultrasound Regions), so scanner text and scale bars reached the model',
      'Its file does not record an attribute the model checks (such as Body Part Examined): its label vouched that it is what the model needs',
    ]);
    const fp = within(section).getAllByTestId('case-row')[2]!;
    expect(visible(fp.querySelector('.case-marker')!)).toBe('FP');
    expect([...fp.querySelectorAll('td')][4]!.textContent).toBe('pneumonia');
    expect(within(section).getByRole('columnheader', { name: 'Score (pneumonia)' })).toBeTruthy();
  });

  it('shows every case when none is misclassified, and says so when only mistakes are asked for', async () => {
    const section = await validated(result({ cases: CASES.filter((c) => c.correct) }));
    const only = within(section).getByTestId('cases-only-mistakes') as HTMLInputElement;
    expect(only.checked).toBe(false);
    expect(rows(section)).toHaveLength(3);
    fireEvent.click(only);
    expect(within(section).getByTestId('cases-no-mistakes').textContent).toBe('No case was misclassified.');
  });

  it('shows paths relative to the folder of a CSV of cases, and Windows paths', () => {
    const csv = { casesPath: '/data/labels.csv', cases: [{ ...CASES[0]!, file: '/data/scans/a.dcm' }], excluded: [] };
    expect(casesFolder(csv)).toBe('/data');
    expect(caseDisplayPath('/data/scans/a.dcm', casesFolder(csv))).toBe('scans/a.dcm');
    // A sibling whose name starts like the folder is not inside it.
    expect(caseDisplayPath('/database/a.dcm', '/data')).toBe('/database/a.dcm');
    const win = { casesPath: 'C:\\cases\\', cases: [{ ...CASES[0]!, file: 'C:\\cases\\normal\\n1.dcm' }], excluded: [] };
    expect(casesFolder(win)).toBe('C:\\cases');
    expect(caseDisplayPath('C:\\cases\\normal\\n1.dcm', casesFolder(win))).toBe('normal\\n1.dcm');
    expect(casesFolder({ casesPath: '/labels.csv', cases: [{ ...CASES[0]!, file: '/x/a.dcm' }], excluded: [] })).toBe('/');
  });

  it('speaks Chinese: heading, summary, toggle, markers and warning tags', async () => {
    setLocale('zh-CN');
    const section = await validated(result());
    expect(within(section).getByRole('heading').textContent).toBe('病例（7）');
    expect(within(section).getByTestId('validation-cases-summary').textContent).toBe('7 个病例中有 4 个分类错误：假阴性 2 个，假阳性 2 个');
    expect(within(section).getByText('只显示分类错误')).toBeTruthy();
    const first = within(section).getAllByTestId('case-row')[0]!;
    expect(visible(first.querySelector('.case-marker')!)).toBe('假阴性');
    expect(first.querySelector('.case-marker')!.getAttribute('title')).toBe('假阴性：标签为 pneumonia，但分数低于阈值');
    expect([...first.querySelectorAll('.case-tag')].map(visible)).toEqual(['整幅图像', '标签确认']);
    expect(visible(within(section).getAllByTestId('case-row')[2]!.querySelector('.case-marker')!)).toBe('假阳性');
  });
});

describe('Models page: what one case is', () => {
  /** The CASES as series: p2 (a false negative) held 5 files, n1 (correct) 2; 7 cases of 12 files. */
  const SERIES_CASES: ValidationCase[] = CASES.map((c) => (c.file === '/cases/pneumonia/p2.dcm' ? { ...c, files: 5 } : c.file === '/cases/normal/n1.dcm' ? { ...c, files: 2 } : c));

  async function validate(r: ValidationResult) {
    const vigil = fake('bridge', async () => ok(r));
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.change(screen.getByTestId('validate-cases'), { target: { value: '/cases' } });
    return vigil;
  }

  it('offers each series (the default) or each file as one case, each with its hint, and sends the choice', async () => {
    const vigil = await validate(result());
    const group = screen.getByRole('radiogroup', { name: 'One case' });
    const series = within(group).getByRole('radio', { name: 'Each series is one case' }) as HTMLInputElement;
    const file = within(group).getByRole('radio', { name: 'Each file is one case' }) as HTMLInputElement;
    expect(series.checked).toBe(true);
    expect(file.checked).toBe(false);
    // The hint describes the option without lengthening its name.
    expect(document.getElementById(series.getAttribute('aria-describedby')!)!.textContent).toBe('Images of one series are scored together, as the viewer scores them');
    expect(document.getElementById(file.getAttribute('aria-describedby')!)!.textContent).toBe('When each image has its own label');
    fireEvent.click(screen.getByTestId('validate-run'));
    await waitFor(() => expect(vigil.m.validate).toHaveBeenLastCalledWith({ modelId: 'cxr-pneumonia', casesPath: '/cases', caseUnit: 'series' }));
    await screen.findByTestId('validation-metrics');
    fireEvent.click(file);
    expect(file.checked).toBe(true);
    expect(series.checked).toBe(false);
    fireEvent.click(screen.getByTestId('validate-run'));
    await waitFor(() => expect(vigil.m.validate).toHaveBeenLastCalledWith({ modelId: 'cxr-pneumonia', casesPath: '/cases', caseUnit: 'file' }));
  });

  it('says what one case was: a series with the files they held, or a file', async () => {
    await validate(result({ n: 7, positives: 4, cases: SERIES_CASES }));
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validation-summary')).textContent).toBe('7 cases analysed, each a series (12 files in all); 4 pneumonia; positive when score ≥ 0.5');
    cleanup();
    await validate(result({ n: 7, positives: 4, caseUnit: 'file' }));
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validation-summary')).textContent).toBe('7 cases analysed, each a file; 4 pneumonia; positive when score ≥ 0.5');
  });

  it('shows a case of several files as its first file and how many more, in the cases table and the excluded list', async () => {
    const excluded = [
      { file: '/cases/normal/s1/a.dcm', label: 'normal', status: 'not-applicable', reason: 'modality CT is not one of CR, DX', files: 3 },
      { file: '/cases/normal/b.dcm', label: 'normal', status: 'failed', reason: 'unreadable' },
    ];
    await validate(result({ cases: SERIES_CASES, excluded }));
    fireEvent.click(screen.getByTestId('validate-run'));
    const section = await screen.findByTestId('validation-cases');
    fireEvent.click(within(section).getByTestId('cases-only-mistakes'));
    const file = (name: string) => within(section).getAllByTestId('case-file').find((td) => td.getAttribute('title')?.startsWith(`${name}`))!;
    // Relative path, then the note; the title keeps the full path of the file shown, and the note.
    expect(file('/cases/pneumonia/p2.dcm').getAttribute('title')).toBe('/cases/pneumonia/p2.dcm +4 more files of its series');
    expect(file('/cases/normal/n2.dcm').getAttribute('title')).toBe('/cases/normal/n2.dcm');
    expect(file('/cases/pneumonia/p2.dcm').textContent).toBe('pneumonia/p2.dcm\u00a0+4 more files of its series');
    expect(file('/cases/normal/n1.dcm').textContent).toBe('normal/n1.dcm\u00a0+1 more file of its series');
    expect(within(file('/cases/normal/n1.dcm')).getByTestId('case-more-files').textContent).toBe('\u00a0+1 more file of its series');
    expect(within(file('/cases/normal/n2.dcm')).queryByTestId('case-more-files')).toBeNull();
    const items = within(screen.getByTestId('excluded-cases')).getAllByRole('listitem');
    expect(within(items[0]!).getByTestId('case-more-files').textContent).toBe('\u00a0+2 more files of its series');
    expect(within(items[1]!).queryByTestId('case-more-files')).toBeNull();
  });

  it('speaks Chinese: the choice, the summary and the more-files note', async () => {
    setLocale('zh-CN');
    await validate(result({ n: 7, positives: 4, cases: SERIES_CASES }));
    expect(within(screen.getByRole('radiogroup', { name: '病例单位' })).getAllByRole('radio').map((r) => r.getAttribute('value'))).toEqual(['series', 'file']);
    expect(screen.getByRole('radio', { name: '每个序列为一个病例' })).toBeTruthy();
    expect(screen.getByRole('radio', { name: '每个文件为一个病例' })).toBeTruthy();
    fireEvent.click(screen.getByTestId('validate-run'));
    expect((await screen.findByTestId('validation-summary')).textContent).toBe('分析了 7 个病例，每个病例为一个序列（共 12 个文件）；pneumonia 4 个；分数 ≥ 0.5 时为阳性');
    expect(validationSummary(result({ caseUnit: 'file' }))).toBe('分析了 40 个病例，每个病例为一个文件；pneumonia 20 个；分数 ≥ 0.5 时为阳性');
    expect(screen.getAllByTestId('case-more-files')[0]!.textContent).toBe('\u00a0及同一序列的另外 4 个文件');
  });
});

describe('Models page: choosing the labelled cases (electron)', () => {
  it('"Choose CSV…" picks a CSV of file,label rows; a cancelled picker keeps the path', async () => {
    const vigil = fake('electron');
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    const csv = screen.getByTestId('validate-choose-csv');
    expect(csv.textContent).toBe('Choose CSV…');
    expect(screen.getByTestId('validate-choose').textContent).toBe('Choose folder…');
    vigil.m.chooseCases.mockResolvedValueOnce(ok({ path: '/picked/labels.csv' }));
    fireEvent.click(csv);
    await waitFor(() => expect((screen.getByTestId('validate-cases') as HTMLInputElement).value).toBe('/picked/labels.csv'));
    expect(vigil.m.chooseCases).toHaveBeenLastCalledWith({ kind: 'csv' });
    vigil.m.chooseCases.mockResolvedValueOnce(ok({ path: null }));
    fireEvent.click(screen.getByTestId('validate-choose'));
    await waitFor(() => expect(vigil.m.chooseCases).toHaveBeenLastCalledWith({ kind: 'folder' }));
    expect((screen.getByTestId('validate-cases') as HTMLInputElement).value).toBe('/picked/labels.csv');
    fireEvent.click(screen.getByTestId('validate-run'));
    await waitFor(() => expect(vigil.m.validate).toHaveBeenCalledWith({ modelId: 'cxr-pneumonia', casesPath: '/picked/labels.csv', caseUnit: 'series' }));
  });

  it('reports a failed picker through the app error handler; the bridge shows no picker', async () => {
    const vigil = fake('electron');
    vigil.m.chooseCases.mockResolvedValue({ ok: false, error: { code: 'UNAVAILABLE', message: 'no dialog' } });
    const reportError = renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.click(screen.getByTestId('validate-choose-csv'));
    await waitFor(() => expect(reportError).toHaveBeenCalledWith({ code: 'UNAVAILABLE', message: 'no dialog' }));
    cleanup();
    renderPage(fake('bridge'));
    await screen.findAllByTestId('model-item');
    expect(screen.queryByTestId('validate-choose')).toBeNull();
    expect(screen.queryByTestId('validate-choose-csv')).toBeNull();
  });
});

describe('Models page: rescan', () => {
  it('rescans the model folders, shows the new list and what changed, and keeps the chosen model', async () => {
    const vigil = fake();
    const added: ModelInfo = { id: 'us-breast', name: 'US breast', version: '2.0.0', status: 'ok', path: '/u/us-breast', origin: 'user', clinicalUse: false, intendedUse: 'Research.' };
    let finish!: (r: Result<{ models: ModelInfo[]; added: string[]; removed: string[]; changed: string[] }>) => void;
    vigil.m.rescan.mockImplementation(() => new Promise((resolve) => (finish = resolve)));
    renderPage(vigil);
    expect(await screen.findAllByTestId('model-item')).toHaveLength(2);
    const button = screen.getByTestId('models-rescan') as HTMLButtonElement;
    fireEvent.click(button);
    expect(vigil.m.rescan).toHaveBeenCalledWith({});
    await waitFor(() => expect(button.disabled).toBe(true));
    expect(button.textContent).toBe('Rescanning…');
    await act(async () => finish(ok({ models: [...MODELS, added], added: ['/u/us-breast'], removed: [], changed: ['/m/broken'] })));
    const items = screen.getAllByTestId('model-item');
    expect(items.map((i) => i.getAttribute('data-model-id'))).toEqual(['cxr-pneumonia', 'broken', 'us-breast']);
    expect(screen.getByTestId('models-rescan-status').textContent).toBe('Model folders rescanned: 1 added, 1 changed, 0 removed.');
    expect(button.disabled).toBe(false);
    expect((screen.getByTestId('validate-model') as HTMLSelectElement).value).toBe('cxr-pneumonia');
  });

  it('picks another model when the chosen one became invalid, and follows models.changed from elsewhere', async () => {
    const vigil = fake();
    renderPage(vigil);
    await screen.findAllByTestId('model-item');
    const second: ModelInfo = { id: 'us-breast', name: 'US breast', version: '2.0.0', status: 'ok', path: '/u/us-breast', origin: 'user', clinicalUse: false };
    vigil.m.list.mockResolvedValue(ok({ models: [{ ...MODELS[0]!, status: 'invalid', reason: 'sha-256 of model.onnx is 00…' }, second] }));
    act(() => vigil.emit('models.changed', { reason: 'rescan' }));
    await waitFor(() => expect((screen.getByTestId('validate-model') as HTMLSelectElement).value).toBe('us-breast'));
    expect(screen.getAllByTestId('model-item')[0]!.textContent).toContain('sha-256 of model.onnx is 00…');
  });

  it('reports a failed rescan through the app error handler', async () => {
    const vigil = fake();
    vigil.m.rescan.mockResolvedValue({ ok: false, error: { code: 'IO_ERROR', message: 'models folder unreadable' } });
    const reportError = renderPage(vigil);
    await screen.findAllByTestId('model-item');
    fireEvent.click(screen.getByTestId('models-rescan'));
    await waitFor(() => expect(reportError).toHaveBeenCalledWith({ code: 'IO_ERROR', message: 'models folder unreadable' }));
    expect(screen.queryByTestId('models-rescan-status')).toBeNull();
  });
});

describe('Models page: shipped performance of the chosen model', () => {
  const withMetrics = (metrics: ModelMetrics | undefined): ModelInfo[] => [{ ...MODELS[0]!, ...(metrics ? { metrics } : {}) }, MODELS[1]!];

  it('shows AUC with its CI, the operating point, the ROC curve and the reliability bins', async () => {
    renderPage(fake('bridge', undefined, withMetrics(METRICS)));
    const detail = await screen.findByTestId('model-detail');
    expect(detail.getAttribute('data-model-id')).toBe('cxr-pneumonia');
    const summary = within(detail).getByTestId('model-detail-summary').textContent;
    expect(summary).toContain('624 cases, 390 pneumonia');
    expect(summary).toContain('AUC 0.971 (95% CI 0.958–0.983)');
    expect(summary).toContain('At threshold 0.157871: sensitivity 0.992, specificity 0.748');
    const roc = within(detail).getByTestId('shipped-roc');
    // Four points: M + 3 L; the plot's left edge is x = 44 (fpr 0).
    expect(within(roc).getByTestId('shipped-roc-path').getAttribute('d')!.match(/[ML]/g)).toEqual(['M', 'L', 'L', 'L']);
    const op = within(roc).getByTestId('shipped-roc-operating-point');
    // 300 px plot: left 44, top 12, side 222; fpr 1 − 0.747863, tpr 0.992308.
    expect(Number(op.getAttribute('cx'))).toBeCloseTo(44 + (1 - 0.747863) * 222, 6);
    expect(Number(op.getAttribute('cy'))).toBeCloseTo(12 + (1 - 0.992308) * 222, 6);
    const reliability = within(detail).getByTestId('reliability-diagram');
    const bins = within(reliability).getAllByTestId('reliability-bin');
    // The empty bin has no dot; the larger bin has the larger dot.
    expect(bins.map((b) => b.getAttribute('data-n'))).toEqual(['200', '424']);
    expect(Number(bins[1]!.getAttribute('r'))).toBeGreaterThan(Number(bins[0]!.getAttribute('r')));
    expect(Number(bins[1]!.getAttribute('cx'))).toBeCloseTo(44 + 0.95 * 222, 6);
    expect(Number(bins[1]!.getAttribute('cy'))).toBeCloseTo(12 + (1 - 0.97) * 222, 6);
    expect(bins[0]!.textContent).toBe('0.00–0.50: 200 cases, predicted 0.05, observed 0.04');
    expect(reliability.textContent).toContain('ECE 0.023');
  });

  it('without shipped ROC points draws the operating point alone and says so', async () => {
    renderPage(fake('bridge', undefined, withMetrics({ ...METRICS, roc: null })));
    const roc = await screen.findByTestId('shipped-roc');
    expect(within(roc).queryByTestId('shipped-roc-path')).toBeNull();
    expect(within(roc).getByTestId('shipped-roc-operating-point')).toBeTruthy();
    expect(roc.textContent).toContain('The package ships no ROC points');
  });

  it('says when the package ships no metrics', async () => {
    renderPage(fake());
    const detail = await screen.findByTestId('model-detail');
    expect(within(detail).getByTestId('model-detail-none').textContent).toContain('ships no test metrics');
    expect(within(detail).queryByTestId('shipped-roc')).toBeNull();
  });
});

describe('routing', () => {
  it('#/models renders the Models page; its back button returns to the study browser', async () => {
    window.location.hash = '#/models';
    try {
      render(<App vigil={fake()} />);
      await screen.findByTestId('models-page');
      fireEvent.click(screen.getByTestId('back-to-library'));
      expect(window.location.hash).toBe('#/');
    } finally {
      window.location.hash = '';
    }
  });
});

describe('report HTML', () => {
  it('is self-contained, has no scripts and escapes every text', () => {
    const html = buildReportHtml(result({ excluded: [{ file: '/c/<img src=x onerror=alert(1)>.dcm', label: 'pneumonia', status: 'failed', reason: '"quoted" & <b>' }] }), RUNTIME);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>pneumonia</b>');
    expect(html).toContain('CXR &lt;b&gt;pneumonia&lt;/b&gt;');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&quot;quoted&quot; &amp; &lt;b&gt;');
    expect(html).toContain('<svg');
    expect(html).toContain('Not for clinical use.');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
    // Parses as a document with the metrics and the confusion matrix.
    const doc = new DOMParser().parseFromString(html, 'text/html');
    expect(doc.querySelector('.metrics')!.textContent).toContain('0.910');
    expect(doc.querySelector('.cm')!.textContent).toContain('18');
    expect(doc.querySelectorAll('script')).toHaveLength(0);
  });

  it('carries calibration: ECE and Brier with their CIs, the reliability diagram with n per dot, and every bin', () => {
    const html = buildReportHtml(result({ reliability: RELIABILITY, ece: 0.0625, brier: 0.118, ci95: { ...result().ci95, ece: [0.031, 0.104], brier: [0.081, 0.16] } }), RUNTIME);
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const row = (key: string) => doc.querySelector(`.metrics [data-metric="${key}"]`)!.textContent;
    expect(row('ece')).toContain('0.063');
    expect(row('ece')).toContain('0.031–0.104');
    expect(row('brier')).toContain('0.118');
    expect(row('brier')).toContain('0.081–0.160');
    const svg = doc.querySelector('svg[aria-label="Reliability diagram, ECE 0.063"]')!;
    const dots = [...svg.querySelectorAll('circle')];
    expect(dots.map((c) => c.querySelector('title')!.textContent)).toEqual([
      '0.00–0.10: 15 cases, predicted 0.04, observed 0.00',
      '0.50–0.60: 5 cases, predicted 0.55, observed 0.40',
      '0.90–1.00: 20 cases, predicted 0.93, observed 0.85',
    ]);
    // 360 px plot: left 44, top 12, side 282; the diagonal is perfect calibration.
    expect(Number(dots[1]!.getAttribute('cx'))).toBeCloseTo(44 + 0.55 * 282, 2);
    expect(Number(dots[1]!.getAttribute('cy'))).toBeCloseTo(12 + (1 - 0.4) * 282, 2);
    expect([...svg.querySelectorAll('path')].map((p) => p.getAttribute('d'))).toContain('M44,294 L326,12');
    expect([...svg.querySelectorAll('text')].map((t) => t.textContent)).toEqual(expect.arrayContaining(['15', '5', '20']));
    const bins = [...doc.querySelectorAll('.bins tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    expect(bins).toHaveLength(10);
    expect(bins[1]).toEqual(['0.10–0.20', '0', 'n/a', 'n/a']);
    expect(bins[9]).toEqual(['0.90–1.00', '20', '0.930', '0.850']);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('warns under the intended-use banner when cases were analysed whole; says nothing when none were', () => {
    const doc = new DOMParser().parseFromString(buildReportHtml(result({ analysedWhole: 2, n: 9 }), RUNTIME), 'text/html');
    const warning = doc.querySelector('[data-testid="analysed-whole"]');
    expect(warning?.textContent).toBe('2 of 9 cases were analysed whole: no B-mode region (Sequence of Ultrasound Regions), so scanner text and scale bars reached the model.');
    // Right under the intended-use banner, before the metrics.
    expect(warning?.previousElementSibling?.textContent).toContain('Not for clinical use.');
    const none = new DOMParser().parseFromString(buildReportHtml(result({ analysedWhole: 0 }), RUNTIME), 'text/html');
    expect(none.querySelector('[data-testid="analysed-whole"]')).toBeNull();
    expect(none.body.textContent).not.toContain('analysed whole');
  });

  it('says in the saved report how many cases their label vouched for; nothing when none', () => {
    const doc = new DOMParser().parseFromString(buildReportHtml(result({ vouchedUnrecorded: 3, n: 9 }), RUNTIME), 'text/html');
    expect(doc.querySelector('[data-testid="vouched-unrecorded"]')?.textContent).toBe(
      '3 of 9 cases were analysed although their files do not record an attribute the model checks (such as Body Part Examined or View Position): their label vouches for them.',
    );
    expect(new DOMParser().parseFromString(buildReportHtml(result()), 'text/html').querySelector('[data-testid="vouched-unrecorded"]')).toBeNull();
  });

  it('lists every misclassified case, false negatives first, with the count of correct ones; a hostile file name stays text', () => {
    const hostile = '/cases/pneumonia/<img src=x onerror=alert(1)>.dcm';
    const cases = CASES.map((c) => (c.file === '/cases/pneumonia/p2.dcm' ? { ...c, file: hostile } : c));
    const html = buildReportHtml(result({ cases }), RUNTIME);
    expect(html).not.toContain('<img');
    expect(html).toContain('pneumonia/&lt;img src=x onerror=alert(1)&gt;.dcm');
    const doc = new DOMParser().parseFromString(html, 'text/html');
    expect(doc.querySelectorAll('script, img')).toHaveLength(0);
    expect(doc.body.textContent).toContain('Misclassified cases (4)');
    expect(doc.querySelector('[data-testid="correct-count"]')!.textContent).toBe('3 of 7 cases were classified correctly.');
    const table = doc.querySelector('[data-testid="misclassified"]')!;
    const rows = [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    expect(rows).toEqual([
      ['FN', 'pneumonia/deep/p3.dcm', 'pneumonia', '0.050', 'normal', 'whole image vouched'],
      ['FN', 'pneumonia/<img src=x onerror=alert(1)>.dcm', 'pneumonia', '0.410', 'normal', ''],
      ['FP', 'normal/n3.dcm', 'normal', '0.970', 'pneumonia', 'vouched'],
      ['FP', 'normal/n2.dcm', 'normal', '0.620', 'pneumonia', ''],
    ]);
    expect(table.querySelectorAll('tbody tr')[1]!.querySelector('.mono')!.getAttribute('title')).toBe(hostile);
  });

  it('says what one case was and shows a case of several files with how many more; a hostile name of one stays text', () => {
    const hostile = '/cases/pneumonia/<img src=x onerror=alert(1)>.dcm';
    const cases = CASES.map((c) => (c.file === '/cases/pneumonia/p2.dcm' ? { ...c, file: hostile, files: 4 } : c));
    const excluded = [{ file: '/cases/normal/<b>x</b>.dcm', label: 'normal', status: 'failed', reason: 'unreadable', files: 2 }];
    const html = buildReportHtml(result({ n: 7, positives: 4, cases, excluded }), RUNTIME);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>x</b>');
    const doc = new DOMParser().parseFromString(html, 'text/html');
    expect(doc.querySelectorAll('script, img, b')).toHaveLength(0);
    expect(doc.querySelector('[data-testid="validation-summary"]')!.textContent).toBe('7 cases analysed, each a series (10 files in all); 4 pneumonia; positive when score ≥ 0.5');
    const cell = [...doc.querySelectorAll('[data-testid="misclassified"] tbody td.mono')].find((td) => td.getAttribute('title') === hostile)!;
    expect(cell.textContent).toBe('pneumonia/<img src=x onerror=alert(1)>.dcm +3 more files of its series');
    const others = [...doc.querySelectorAll('[data-testid="misclassified"] tbody td.mono')].filter((td) => td !== cell);
    expect(others.map((td) => td.textContent)).toEqual(['pneumonia/deep/p3.dcm', 'normal/n3.dcm', 'normal/n2.dcm']);
    expect(doc.body.textContent).toContain('/cases/normal/<b>x</b>.dcm +1 more file of its series');
    const byFile = new DOMParser().parseFromString(buildReportHtml(result({ caseUnit: 'file' })), 'text/html');
    expect(byFile.querySelector('[data-testid="validation-summary"]')!.textContent).toBe('40 cases analysed, each a file; 20 pneumonia; positive when score ≥ 0.5');
    expect(byFile.body.textContent).not.toContain('more file');
  });

  it('says when no case was misclassified', () => {
    const doc = new DOMParser().parseFromString(buildReportHtml(result({ cases: CASES.filter((c) => c.correct) })), 'text/html');
    expect(doc.body.textContent).toContain('Misclassified cases (0)');
    expect(doc.body.textContent).toContain('No case was misclassified.');
    expect(doc.querySelector('[data-testid="correct-count"]')!.textContent).toBe('3 of 3 cases were classified correctly.');
    expect(doc.querySelector('[data-testid="misclassified"]')).toBeNull();
  });

  it('says so when no reliability bin has cases', () => {
    const doc = new DOMParser().parseFromString(buildReportHtml(result({ reliability: [] })), 'text/html');
    expect(doc.body.textContent).toContain('No case was analysed: there are no reliability bins.');
    expect(doc.querySelectorAll('svg')).toHaveLength(1);
  });
});
