import { useState } from 'react';
import type { RejectedFile } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { formatCount } from '../lib/format';
import { Alert, ChevronDown, ChevronRight } from './Icons';

const MAX_LISTED = 500;

/** Every file the last import refused, with its reason. Collapsible. */
export function RejectedFilesPanel({ rejected, initiallyOpen = true }: { rejected: readonly RejectedFile[]; initiallyOpen?: boolean }) {
  const [open, setOpen] = useState(initiallyOpen);
  if (rejected.length === 0) return null;
  const listed = rejected.slice(0, MAX_LISTED);
  return (
    <section className="rejected-panel" data-testid="rejected-panel">
      <button type="button" className="rejected-toggle" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {open ? <ChevronDown size={14} /> : <ChevronRight size={14} />}
        <Alert size={14} className="warn-icon" />
        <span>{t('rejected.title', { count: formatCount(rejected.length) })}</span>
      </button>
      {open && (
        <ul className="rejected-list">
          {listed.map((r, i) => (
            <li key={`${i}:${r.path}`} className="rejected-file" data-testid="rejected-file" title={r.path}>
              <span className="rejected-path">{r.path}</span>
              <span className="rejected-code">{r.code}</span>
              <span className="rejected-reason">{r.reason}</span>
            </li>
          ))}
          {rejected.length > MAX_LISTED && <li className="rejected-more">{t('rejected.more', { count: formatCount(rejected.length - MAX_LISTED) })}</li>}
        </ul>
      )}
    </section>
  );
}
