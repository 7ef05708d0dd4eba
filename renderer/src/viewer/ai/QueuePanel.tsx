/** Running and pending analysis jobs with their phase and a cancel button. */
import type { ModelInfo } from '../../../../contract/ipc-contract';
import { useAppServices } from '../../app-context';
import { t } from '../../i18n/strings';
import type { QueueEntry } from './use-analysis';

const PHASES = ['decode', 'preprocess', 'inference', 'postprocess'] as const;

export function QueuePanel({ jobs, models }: { readonly jobs: readonly QueueEntry[]; readonly models: ReadonlyMap<string, ModelInfo> }) {
  const { vigil, reportError } = useAppServices();
  return (
    <div className="queue-panel" data-testid="queue-panel">
      <div className="panel-subtitle">{t('queue.title')}</div>
      {jobs.length === 0 ? (
        <p className="panel-note">{t('queue.empty')}</p>
      ) : (
        <ul className="queue-list">
          {jobs.map((j) => {
            const step = j.phase ? PHASES.indexOf(j.phase) + 1 : 0;
            return (
              <li key={j.jobId} className={`queue-item ${j.status}`} data-testid="queue-item" data-status={j.status} data-job-id={j.jobId}>
                <span className="queue-model">{models.get(j.modelId)?.name ?? j.modelId}</span>
                <span className="queue-status">{j.phase ? t(`queue.phase.${j.phase}`) : t(`ai.status.${j.status === 'running' ? 'running' : 'pending'}`)}</span>
                <progress max={PHASES.length} value={j.status === 'running' ? step : 0} />
                <button
                  type="button"
                  className="link-button"
                  data-testid="queue-cancel"
                  onClick={() =>
                    void vigil.analysis.cancel({ jobId: j.jobId }).then((r) => {
                      if (!r.ok) reportError(r.error);
                    })
                  }
                >
                  {t('queue.cancel')}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
