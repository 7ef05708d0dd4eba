import type { ImportProgress } from '../../../contract/ipc-contract';
import type { ImportStage } from '../hooks/use-importer';
import { t } from '../i18n/strings';
import { formatCount, formatDuration, formatRate } from '../lib/format';

interface Props {
  readonly stage: ImportStage;
  readonly progress: ImportProgress | null;
  readonly cancelling: boolean;
  readonly onCancel: () => void;
}

/** Live import status from `import.progress`: phase, counts, rate, ETA, cancel. */
export function ImportProgressBar({ stage, progress, cancelling, onCancel }: Props) {
  if (stage.stage === 'idle' && !progress) return null;

  if (!progress) {
    const label = stage.stage === 'preparing' ? t('import.preparing', { count: formatCount(stage.files) }) : t('import.phase.scanning');
    return (
      <section className="import-progress" data-testid="import-progress" aria-label={t('import.progressLabel')}>
        <div className="progress-head">
          <span className="progress-phase">{label}</span>
        </div>
        <div className="progress-track indeterminate" role="progressbar" aria-label={t('import.progressLabel')}>
          <div className="progress-fill" />
        </div>
      </section>
    );
  }

  const { phase, scanned, processed, imported, duplicates, rejected, rate, etaSeconds } = progress;
  const scanning = phase === 'scanning';
  const fraction = scanned > 0 && !scanning ? Math.min(1, processed / scanned) : 0;
  const percent = Math.round(fraction * 100);
  const phaseLabel = t(`import.phase.${phase}`);

  return (
    <section className="import-progress" data-testid="import-progress" data-phase={phase} aria-label={t('import.progressLabel')}>
      <div className="progress-head">
        <span className="progress-phase">{phaseLabel}</span>
        <span className="progress-count" data-testid="import-processed">
          {scanning ? t('import.found', { count: formatCount(scanned) }) : t('import.processed', { processed: formatCount(processed), scanned: formatCount(scanned) })}
        </span>
        {!scanning && <span className="progress-percent">{percent}%</span>}
        <span className="progress-stat ok">{t('import.imported', { count: formatCount(imported) })}</span>
        <span className="progress-stat muted">{t('import.duplicates', { count: formatCount(duplicates) })}</span>
        <span className={rejected > 0 ? 'progress-stat warn' : 'progress-stat muted'}>{t('import.rejected', { count: formatCount(rejected) })}</span>
        <span className="progress-stat muted">{t('import.rate', { rate: formatRate(rate) })}</span>
        {etaSeconds !== null && <span className="progress-stat muted">{t('import.eta', { eta: formatDuration(etaSeconds) })}</span>}
        <span className="spacer" />
        <button type="button" className="button small" data-testid="import-cancel" onClick={onCancel} disabled={cancelling}>
          {cancelling ? t('import.cancelling') : t('import.cancel')}
        </button>
      </div>
      <div
        className={scanning ? 'progress-track indeterminate' : 'progress-track'}
        role="progressbar"
        aria-label={t('import.progressLabel')}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={scanning ? undefined : percent}
      >
        <div className="progress-fill" style={scanning ? undefined : { width: `${percent}%` }} />
      </div>
    </section>
  );
}
