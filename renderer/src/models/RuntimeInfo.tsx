import type { RuntimeInfo, Settings } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';

/** The AI runtime: ONNX Runtime version, execution providers, the one that ran last, and the AI settings. */
export function RuntimeInfoPanel({
  info,
  settings,
  onSetting,
}: {
  info: RuntimeInfo | null;
  settings: Settings | null;
  onSetting: (patch: { aiForceCpu?: boolean; aiAutoRunOnImport?: boolean }) => void;
}) {
  return (
    <section className="runtime-info panel" aria-labelledby="runtime-heading">
      <h2 id="runtime-heading">{t('models.runtimeHeading')}</h2>
      {!info ? (
        <p className="muted">{t('models.loading')}</p>
      ) : (
        <>
          <p className="muted">{t('models.runtimeLine', { ort: info.ortVersion ?? 'n/a', platform: info.platform, arch: info.arch })}</p>
          <ul className="provider-list" data-testid="runtime-providers">
            {info.providers.map((p) => (
              <li key={p.name} className={`provider ${p.available ? 'available' : 'unavailable'}`} data-provider={p.name}>
                <span className={`provider-dot ${p.available ? 'ok' : ''}`} aria-hidden="true" />
                <span className="provider-name mono">{p.name}</span>
                <span className="provider-state">{t(p.available ? 'models.providerAvailable' : 'models.providerUnavailable')}</span>
                {info.lastRun?.provider === p.name && <span className="badge provider-last">{t('models.providerLast')}</span>}
                {p.reason && <span className="muted provider-reason">{p.reason}</span>}
              </li>
            ))}
          </ul>
          <p className="last-run" data-testid="runtime-last-run">
            {info.lastRun
              ? t('models.lastRun', { provider: info.lastRun.provider, model: info.lastRun.modelId, at: new Date(info.lastRun.at).toLocaleString() })
              : t('models.lastRunNone')}
            {info.lastRun?.note && <span className="muted"> — {info.lastRun.note}</span>}
          </p>
        </>
      )}
      <div className="settings-toggles">
        <label className="toggle">
          <input
            type="checkbox"
            data-testid="setting-force-cpu"
            checked={settings?.aiForceCpu ?? false}
            disabled={!settings}
            onChange={(e) => onSetting({ aiForceCpu: e.currentTarget.checked })}
          />
          <span>{t('models.forceCpu')}</span>
        </label>
        <label className="toggle">
          <input
            type="checkbox"
            data-testid="setting-auto-run"
            checked={settings?.aiAutoRunOnImport ?? false}
            disabled={!settings}
            onChange={(e) => onSetting({ aiAutoRunOnImport: e.currentTarget.checked })}
          />
          <span>{t('models.autoRun')}</span>
        </label>
      </div>
    </section>
  );
}
