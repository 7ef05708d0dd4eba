import type { SortKey } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import type { StudyColumn } from './columns';
import { SortAsc, SortDesc, SortNone } from './Icons';

export type SortDir = 'asc' | 'desc';

interface Props {
  readonly column: StudyColumn;
  readonly sortBy: SortKey;
  readonly sortDir: SortDir;
  readonly onSort: (key: SortKey) => void;
}

/** A sortable column header: click toggles asc/desc; aria-sort tells assistive tech. */
export function SortHeader({ column, sortBy, sortDir, onSort }: Props) {
  const active = column.sortKey === sortBy;
  const ariaSort = active ? (sortDir === 'asc' ? 'ascending' : 'descending') : 'none';
  const Icon = !active ? SortNone : sortDir === 'asc' ? SortAsc : SortDesc;
  return (
    <th scope="col" className={`${column.className}${active ? ' sorted' : ''}`} aria-sort={ariaSort}>
      <button type="button" className="sort-button" data-testid={`sort-${column.sortKey}`} onClick={() => onSort(column.sortKey)}>
        <span>{t(column.label)}</span>
        <Icon size={13} className="sort-icon" />
      </button>
    </th>
  );
}
