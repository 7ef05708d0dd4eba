import { Fragment, useCallback, useState } from 'react';
import type { SortKey, StudySummary } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { studyColumns } from './columns';
import { SeriesRows } from './SeriesRows';
import { type SortDir, SortHeader } from './SortHeader';
import { StudyRow } from './StudyRow';

interface Props {
  readonly studies: readonly StudySummary[];
  readonly sortBy: SortKey;
  readonly sortDir: SortDir;
  readonly onSort: (key: SortKey) => void;
  /** Bumped on `library.changed`; expanded studies reload their series. */
  readonly version: number;
  readonly loading: boolean;
}

/** The worklist: sortable header, one row per study, series nested under expanded studies. */
export function StudyTable({ studies, sortBy, sortDir, onSort, version, loading }: Props) {
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const toggle = useCallback((uid: string, open?: boolean) => {
    setExpanded((current) => {
      const isOpen = current.has(uid);
      const want = open ?? !isOpen;
      if (want === isOpen) return current;
      const next = new Set(current);
      if (want) next.add(uid);
      else next.delete(uid);
      return next;
    });
  }, []);
  const colSpan = studyColumns.length + 1;
  return (
    <table className={loading ? 'study-table loading' : 'study-table'} data-testid="study-table" aria-busy={loading}>
      <caption className="visually-hidden">{t('table.caption')}</caption>
      <thead>
        <tr>
          <th scope="col" className="col-chevron">
            <span className="visually-hidden">{t('table.expand', { name: '' })}</span>
          </th>
          {studyColumns.map((col) => (
            <SortHeader key={col.sortKey} column={col} sortBy={sortBy} sortDir={sortDir} onSort={onSort} />
          ))}
        </tr>
      </thead>
      <tbody>
        {studies.map((study) => {
          const isOpen = expanded.has(study.studyInstanceUid);
          return (
            <Fragment key={study.studyInstanceUid}>
              <StudyRow study={study} columns={studyColumns} expanded={isOpen} onToggle={toggle} />
              {isOpen && <SeriesRows studyInstanceUid={study.studyInstanceUid} colSpan={colSpan} version={version} />}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}
