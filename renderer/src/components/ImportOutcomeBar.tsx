import type { ImportOutcome } from '../hooks/use-importer';
import { t } from '../i18n/strings';
import { formatCount, formatElapsed, formatTimestamp } from '../lib/format';
import { Close } from './Icons';

/** One line after an import (or the stored last import at startup). */
export function ImportOutcomeBar({ outcome, onDismiss }: { outcome: ImportOutcome; onDismiss: () => void }) {
  let line: string;
  let totals: string | null = null;
  let tone: 'ok' | 'warn' = 'ok';
  if (outcome.kind === 'summary') {
    const s = outcome.summary;
    const params = {
      imported: formatCount(s.imported),
      duplicates: formatCount(s.duplicates),
      rejected: formatCount(s.rejected.length),
      offered: formatCount(s.offered),
      elapsed: formatElapsed(s.elapsedMs),
    };
    line = s.status === 'cancelled' ? t('import.summary.cancelled', params) : t('import.summary.done', params);
    totals = t('import.summary.totals', {
      patients: formatCount(s.patients),
      studies: formatCount(s.studies),
      series: formatCount(s.series),
      instances: formatCount(s.instances),
    });
    if (s.status === 'cancelled' || s.rejected.length > 0) tone = 'warn';
  } else {
    const r = outcome.record;
    line = t('import.summary.last', {
      when: formatTimestamp(r.finishedAt ?? r.startedAt),
      imported: formatCount(r.imported),
      duplicates: formatCount(r.duplicates),
      rejected: formatCount(r.rejected.length),
      offered: formatCount(r.offered),
    });
    if (r.rejected.length > 0) tone = 'warn';
  }
  return (
    <div className={`import-summary ${tone}`} data-testid="import-summary" role="status">
      <span className="summary-line">{line}</span>
      {totals && <span className="summary-totals">{totals}</span>}
      <span className="spacer" />
      <button type="button" className="icon-button" aria-label={t('import.dismiss')} title={t('import.dismiss')} onClick={onDismiss}>
        <Close size={14} />
      </button>
    </div>
  );
}
