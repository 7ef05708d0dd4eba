import type { StudySummary } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { formatPersonName } from '../lib/format';
import { openStudy } from '../lib/route';
import { aiDetailText, aiStatusTitle, type StudyColumn } from './columns';
import { ChevronDown, ChevronRight } from './Icons';
import { DerivedUidBadge } from './SeriesRows';

interface Props {
  readonly study: StudySummary;
  readonly columns: readonly StudyColumn[];
  readonly expanded: boolean;
  readonly onToggle: (uid: string, open?: boolean) => void;
}

/** Columns whose text may be cut with an ellipsis: the full value is the cell's tooltip. */
const TRUNCATED: ReadonlySet<string> = new Set(['description', 'patientId', 'accessionNumber']);

function moveFocus(row: HTMLTableRowElement, dir: 1 | -1): void {
  const rows = Array.from(row.closest('tbody')?.querySelectorAll<HTMLTableRowElement>('tr[data-testid="study-row"]') ?? []);
  rows[rows.indexOf(row) + dir]?.focus();
}

/** One study in the worklist. Every DICOM value is a text node. */
export function StudyRow({ study, columns, expanded, onToggle }: Props) {
  const name = formatPersonName(study.patientName) || t('table.noName');
  const onKeyDown = (e: React.KeyboardEvent<HTMLTableRowElement>) => {
    if (e.target !== e.currentTarget) return;
    switch (e.key) {
      case 'Enter':
        e.preventDefault();
        openStudy(study.studyInstanceUid);
        break;
      case ' ':
        e.preventDefault();
        onToggle(study.studyInstanceUid);
        break;
      case 'ArrowRight':
        e.preventDefault();
        onToggle(study.studyInstanceUid, true);
        break;
      case 'ArrowLeft':
        e.preventDefault();
        onToggle(study.studyInstanceUid, false);
        break;
      case 'ArrowDown':
      case 'ArrowUp':
        e.preventDefault();
        moveFocus(e.currentTarget, e.key === 'ArrowDown' ? 1 : -1);
        break;
    }
  };
  return (
    <tr
      className={expanded ? 'study-row expanded' : 'study-row'}
      data-testid="study-row"
      data-study-uid={study.studyInstanceUid}
      aria-expanded={expanded}
      tabIndex={0}
      title={t('table.openHint')}
      onClick={() => onToggle(study.studyInstanceUid)}
      onDoubleClick={() => openStudy(study.studyInstanceUid)}
      onKeyDown={onKeyDown}
    >
      <td className="col-chevron">
        <button
          type="button"
          className="chevron-button"
          data-testid="study-expand"
          tabIndex={-1}
          aria-label={t(expanded ? 'table.collapse' : 'table.expand', { name })}
          aria-expanded={expanded}
          onClick={(e) => {
            e.stopPropagation();
            onToggle(study.studyInstanceUid);
          }}
        >
          {expanded ? <ChevronDown size={14} /> : <ChevronRight size={14} />}
        </button>
      </td>
      {columns.map((col) => {
        if (col.sortKey === 'patientName') {
          return (
            <td key={col.sortKey} className={col.className} title={study.patientName}>
              <span className={study.patientName ? 'cell-text strong' : 'cell-text muted'}>{name}</span>
              {study.uidDerived && <DerivedUidBadge />}
            </td>
          );
        }
        if (col.sortKey === 'modalities') {
          return (
            <td key={col.sortKey} className={col.className} title={study.modalities.join(', ')}>
              {study.modalities.map((m) => (
                <span key={m} className="modality-chip">
                  {m}
                </span>
              ))}
            </td>
          );
        }
        if (col.sortKey === 'aiPriority') {
          const ai = study.ai;
          const triage = ai?.triage ?? 'none';
          const detail = aiDetailText(study);
          return (
            <td key={col.sortKey} className={col.className} title={[col.text(study), detail, aiStatusTitle(study)].filter(Boolean).join('\n')}>
              <span
                className={`ai-status ai-${ai?.status ?? 'none'} triage-${triage}`}
                data-testid="ai-status"
                data-status={ai?.status ?? 'none'}
                data-triage={triage}
                data-priority={ai?.priority ?? false}
                data-reviewed={triage === 'positive-reviewed'}
              >
                {ai?.priority && <span className="ai-flag" data-testid="ai-priority" aria-label={t('ai.priority')} />}
                <span className="ai-status-text">{col.text(study)}</span>
                {detail && (
                  <span className="ai-detail" data-testid="ai-detail">
                    {detail}
                  </span>
                )}
              </span>
            </td>
          );
        }
        const text = col.text(study);
        return (
          <td key={col.sortKey} className={col.className} title={TRUNCATED.has(col.sortKey) ? text : undefined}>
            <span className="cell-text">{text}</span>
          </td>
        );
      })}
    </tr>
  );
}
