/**
 * Running and pending analysis jobs with their phase and a cancel button. A running job cancelled stops at its next
 * step (its model run is never cut short): until then it says it is stopping.
 */
import { useEffect, useState } from 'react';
import type { ModelInfo } from '../../../../contract/ipc-contract';
import { useAppServices } from '../../app-context';
import { t } from '../../i18n/strings';
import type { QueueEntry } from './use-analysis';

const PHASES = ['decode', 'preprocess', 'inference', 'postprocess'] as const;

export function QueuePanel({ jobs, models }: { readonly jobs: readonly QueueEntry[]; readonly models: ReadonlyMap<string, ModelInfo> }) {
  const { vigil, reportError } = useAppServices();
  const [stopping, setStopping] = useState<ReadonlySet<string>>(new Set());
  // A job that stopped leaves the set: its id comes back when the series is analysed again by the same model.
  useEffect(() => {
    setStopping((s) => {
      const running = [...s].filter((id) => jobs.some((j) => j.jobId === id && j.status === 'running'));
      return running.length === s.size ? s : new Set(running);
    });
  }, [jobs]);
  return (
    <div className="queue-panel" data-testid="queue-panel">
      <div className="panel-subtitle">{t('queue.title')}</div>
      {jobs.length === 0 ? (
        <p className="panel-note">{t('queue.empty')}</p>
      ) : (
        <ul className="queue-list">
          {jobs.map((j) => {
            const step = j.phase ? PHASES.indexOf(j.phase) + 1 : 0;
            const isStopping = j.status === 'running' && stopping.has(j.jobId);
            return (
              <li key={j.jobId} className={`queue-item ${j.status}`} data-testid="queue-item" data-status={j.status} data-job-id={j.jobId}>
                <span className="queue-model">{models.get(j.modelId)?.name ?? j.modelId}</span>
                <span className="queue-status" data-testid="queue-status">
                  {isStopping ? t('queue.stopping') : j.phase ? t(`queue.phase.${j.phase}`) : t(`ai.status.${j.status === 'running' ? 'running' : 'pending'}`)}
                </span>
                <progress max={PHASES.length} value={j.status === 'running' ? step : 0} />
                <button
                  type="button"
                  className="link-button"
                  data-testid="queue-cancel"
                  disabled={isStopping}
                  onClick={() => {
                    if (j.status === 'running') setStopping((s) => new Set(s).add(j.jobId));
                    void vigil.analysis.cancel({ jobId: j.jobId }).then((r) => {
                      if (r.ok) return;
                      setStopping((s) => {
                        const next = new Set(s);
                        next.delete(j.jobId);
                        return next;
                      });
                      reportError(r.error);
                    });
                  }}
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
