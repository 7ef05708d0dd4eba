/**
 * #/models: the installed model packages (status, version, intended use,
 * clinical-use flag), the AI runtime (providers, last run, force CPU /
 * auto-run settings) and local validation of a model on labelled cases with a
 * savable HTML report.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ModelInfo, RuntimeInfo, Settings, ValidationCasesKind } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';
import { t } from '../i18n/strings';
import { openBrowser } from '../lib/route';
import { CaseUnitChoice } from './CaseUnitChoice';
import { buildReportHtml } from './report-html';
import { RuntimeInfoPanel } from './RuntimeInfo';
import { ShippedMetrics } from './ShippedMetrics';
import { IntendedUseBanner, ValidationReport } from './ValidationReport';
import { useValidationSession, validationSessionFor } from './validation-session';
import { type CaseUnit, reportFileName } from './validation-view';

/** Browser download of a report (the bridge host: nothing is written on the server). */
export function downloadHtml(name: string, html: string): void {
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function ModelsPage({ banner }: { banner?: React.ReactNode }) {
  const { vigil, reportError } = useAppServices();
  const [models, setModels] = useState<ModelInfo[] | null>(null);
  const [runtime, setRuntime] = useState<RuntimeInfo | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  // The validation lives beyond this page: coming back shows the run still going, or how it ended, with its form.
  const session = validationSessionFor(vigil);
  const { request, running, cancelling, progress, result, error, cancelled, otherRunning } = useValidationSession(session);
  const [modelId, setModelId] = useState(() => request?.modelId ?? '');
  const [casesPath, setCasesPath] = useState(() => request?.casesPath ?? '');
  const [caseUnit, setCaseUnit] = useState<CaseUnit>(() => request?.caseUnit ?? 'series');
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [rescanning, setRescanning] = useState(false);
  const [rescanned, setRescanned] = useState<{ added: number; changed: number; removed: number } | null>(null);

  const refreshRuntime = useCallback(async () => {
    const r = await vigil.ai.runtimeInfo({});
    if (r.ok) setRuntime(r.value);
    else reportError(r.error);
  }, [vigil, reportError]);

  /** A new model list: keeps the chosen model while it can still run, else picks the first that can. */
  const showModels = useCallback((list: ModelInfo[]) => {
    setModels(list);
    setModelId((cur) => (list.some((m) => m.id === cur && m.status === 'ok') ? cur : (list.find((m) => m.status === 'ok')?.id ?? '')));
  }, []);

  useEffect(() => {
    let stale = false;
    void vigil.models.list({}).then((r) => {
      if (stale) return;
      if (!r.ok) return reportError(r.error);
      showModels(r.value.models);
    });
    void vigil.settings.get({}).then((r) => {
      if (!stale && r.ok) setSettings(r.value);
    });
    void refreshRuntime();
    return () => {
      stale = true;
    };
  }, [vigil, reportError, refreshRuntime, showModels]);

  // Another window (or the CLI host) rescanned: show the new list.
  useEffect(
    () =>
      vigil.on('models.changed', () => {
        void vigil.models.list({}).then((r) => {
          if (r.ok) showModels(r.value.models);
        });
      }),
    [vigil, showModels],
  );

  const rescan = async () => {
    setRescanning(true);
    try {
      const r = await vigil.models.rescan({});
      if (!r.ok) return reportError(r.error);
      showModels(r.value.models);
      setRescanned({ added: r.value.added.length, changed: r.value.changed.length, removed: r.value.removed.length });
    } finally {
      setRescanning(false);
    }
  };

  const onSetting = useCallback(
    async (patch: { aiForceCpu?: boolean; aiAutoRunOnImport?: boolean }) => {
      const r = await vigil.settings.update(patch);
      if (!r.ok) return reportError(r.error);
      setSettings(r.value);
      void refreshRuntime();
    },
    [vigil, reportError, refreshRuntime],
  );

  const chooseCases = async (kind: ValidationCasesKind) => {
    const r = await vigil.dialog.chooseValidationCases({ kind });
    if (!r.ok) return reportError(r.error);
    if (r.value.path) setCasesPath(r.value.path);
  };

  const run = async () => {
    if (!modelId || !casesPath.trim()) return;
    setSaved(null);
    await session.start({ modelId, casesPath: casesPath.trim(), caseUnit });
    void refreshRuntime();
  };

  const save = async () => {
    if (!result) return;
    const html = buildReportHtml(result, runtime);
    const name = reportFileName(result);
    if (vigil.host !== 'electron') {
      downloadHtml(name, html);
      setSaved(t('models.reportDownloaded', { name }));
      return;
    }
    setSaving(true);
    try {
      const r = await vigil.reports.save({ suggestedName: name, html });
      if (!r.ok) reportError(r.error);
      else if (r.value.saved) setSaved(t('models.reportSaved', { path: r.value.path ?? name }));
    } finally {
      setSaving(false);
    }
  };

  const selected = models?.find((m) => m.id === modelId) ?? null;
  const canRun = !running && !!selected && selected.status === 'ok' && casesPath.trim() !== '';

  return (
    <div className="app models-page" data-testid="models-page">
      <header className="app-header">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">{t('app.title')}</span>
          <span className="brand-sub">{t('models.title')}</span>
        </div>
        <span className="spacer" />
        <button type="button" className="button" data-testid="back-to-library" onClick={openBrowser}>
          {t('models.back')}
        </button>
      </header>
      {banner && <div className="notices">{banner}</div>}
      <main className="models-main">
        <div className="models-columns">
          <section className="panel model-list-panel" aria-labelledby="models-heading">
            <div className="model-list-head">
              <h2 id="models-heading">{t('models.listHeading')}</h2>
              <span className="spacer" />
              <button type="button" className="button" data-testid="models-rescan" onClick={() => void rescan()} disabled={rescanning}>
                {rescanning ? t('models.rescanning') : t('models.rescan')}
              </button>
            </div>
            {rescanned && (
              <p className="muted" role="status" data-testid="models-rescan-status">
                {t('models.rescanned', rescanned)}
              </p>
            )}
            {models === null ? (
              <p className="muted">{t('models.loading')}</p>
            ) : models.length === 0 ? (
              <p className="muted">{t('models.none')}</p>
            ) : (
              <ul className="model-list">
                {models.map((m) => (
                  <li key={`${m.origin}:${m.path}`} className={`model-item ${m.id === modelId ? 'selected' : ''}`} data-testid="model-item" data-model-id={m.id}>
                    <label className="model-pick">
                      <input type="radio" name="model" value={m.id} checked={m.id === modelId} disabled={m.status !== 'ok'} onChange={() => setModelId(m.id)} />
                      <span className="model-name">{m.name || m.id}</span>
                    </label>
                    <div className="model-meta">
                      <span className="mono">{m.id}</span>
                      <span>{m.version ? `v${m.version}` : ''}</span>
                      <span className="badge">{t(m.origin === 'bundled' ? 'models.originBundled' : 'models.originUser')}</span>
                      <span className={`model-status ${m.status}`}>{m.status === 'ok' ? t('models.statusOk') : t('models.statusInvalid')}</span>
                      <span className={m.clinicalUse === true ? 'clinical-flag' : 'clinical-flag research'}>
                        {m.clinicalUse === true ? t('models.clinical') : t('models.research')}
                      </span>
                    </div>
                    {m.status !== 'ok' && m.reason && <p className="model-reason">{m.reason}</p>}
                    {m.intendedUse && <p className="model-intended muted">{m.intendedUse}</p>}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <RuntimeInfoPanel info={runtime} settings={settings} onSetting={(p) => void onSetting(p)} />
        </div>

        {selected && <ShippedMetrics model={selected} />}

        <section className="panel validate-panel" aria-labelledby="validate-heading">
          <h2 id="validate-heading">{t('models.validateHeading')}</h2>
          <p className="muted">{t('models.validateHelp')}</p>
          {/* Its own lines under the help on cases: in the form's row it would squeeze the cases path. */}
          <CaseUnitChoice value={caseUnit} onChange={setCaseUnit} />
          {selected && <IntendedUseBanner clinicalUse={selected.clinicalUse} intendedUse={selected.intendedUse} />}
          <form
            className="validate-form"
            onSubmit={(e) => {
              e.preventDefault();
              void run();
            }}
          >
            <label className="field validate-model">
              <span className="field-label">{t('models.model')}</span>
              <select value={modelId} onChange={(e) => setModelId(e.currentTarget.value)} data-testid="validate-model">
                {(models ?? []).map((m) => (
                  <option key={`${m.origin}:${m.path}`} value={m.id} disabled={m.status !== 'ok'}>
                    {m.id} {m.version}
                  </option>
                ))}
              </select>
            </label>
            <label className="field validate-cases">
              <span className="field-label">{vigil.host === 'electron' ? t('models.casesFolder') : t('models.casesPathBridge')}</span>
              <input type="text" className="mono" value={casesPath} onChange={(e) => setCasesPath(e.currentTarget.value)} placeholder={t('models.casesPlaceholder')} data-testid="validate-cases" spellCheck={false} />
            </label>
            {vigil.host === 'electron' && (
              <>
                <button type="button" className="button" onClick={() => void chooseCases('folder')} data-testid="validate-choose" title={t('models.chooseFolderTitle')}>
                  {t('models.chooseFolder')}
                </button>
                <button type="button" className="button" onClick={() => void chooseCases('csv')} data-testid="validate-choose-csv" title={t('models.chooseCsvTitle')}>
                  {t('models.chooseCsv')}
                </button>
              </>
            )}
            <button type="submit" className="button primary" data-testid="validate-run" disabled={!canRun}>
              {running ? t('models.running') : t('models.run')}
            </button>
            {running && (
              <button type="button" className="button" data-testid="validate-cancel" onClick={() => void session.cancel()} disabled={cancelling}>
                {cancelling ? t('models.cancelling') : t('models.cancel')}
              </button>
            )}
          </form>
          {running && (
            <div className="validate-progress" role="status" data-testid="validate-progress">
              {progress ? t(progress.reading ? 'models.progressReading' : 'models.progress', { done: progress.done, total: progress.total }) : t('models.starting')}
              {progress && progress.total > 0 && (
                <div className="progress-track">
                  <div className="progress-fill" style={{ width: `${(100 * progress.done) / progress.total}%` }} />
                </div>
              )}
            </div>
          )}
          {error && (
            <p className="validate-error" role="alert" data-testid="validate-error">
              {error}
            </p>
          )}
          {otherRunning && (
            <p className="muted" data-testid="validate-other-running">
              {t('models.otherRunning')}{' '}
              <button type="button" className="button" data-testid="validate-cancel-other" onClick={() => void session.cancel()} disabled={cancelling}>
                {cancelling ? t('models.cancelling') : t('models.cancelOther')}
              </button>
            </p>
          )}
          {cancelled && (
            <p className="muted" role="status" data-testid="validate-cancelled">
              {t('models.cancelled')}
            </p>
          )}
          {saved && (
            <p className="muted" role="status" data-testid="report-saved">
              {saved}
            </p>
          )}
          {result && <ValidationReport result={result} onSave={() => void save()} saving={saving} />}
        </section>
      </main>
    </div>
  );
}
