import type { ReactNode } from 'react';
import type { StudyList } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { Close, Search } from './Icons';

export interface Filters {
  readonly search: string;
  readonly modality: string;
  /** <input type="date"> values (YYYY-MM-DD) or ''. */
  readonly dateFrom: string;
  readonly dateTo: string;
  /** Only studies with a positive AI finding nobody has reviewed. */
  readonly aiUnreviewed?: boolean;
  /** Only studies the AI flagged (reviewed or not); aiUnreviewed narrows further and wins. */
  readonly aiFlagged?: boolean;
}

export const emptyFilters: Filters = { search: '', modality: '', dateFrom: '', dateTo: '', aiUnreviewed: false, aiFlagged: false };

export function hasActiveFilters(f: Filters): boolean {
  return f.search.trim() !== '' || f.modality !== '' || f.dateFrom !== '' || f.dateTo !== '' || Boolean(f.aiUnreviewed) || Boolean(f.aiFlagged);
}

/** The query's AI filter for the filter bar's state. */
export function aiFilterOf(f: Filters): 'positive-unreviewed' | 'positive' | undefined {
  return f.aiUnreviewed ? 'positive-unreviewed' : f.aiFlagged ? 'positive' : undefined;
}

interface Props {
  readonly filters: Filters;
  readonly modalities: readonly string[];
  /** Flagged / not-reviewed counts under the other filters (absent until the first list arrives). */
  readonly aiCounts?: StudyList['aiCounts'];
  readonly onChange: (next: Filters) => void;
}

/** Search box, modality filter and study-date range above the worklist. */
export function FilterBar({ filters, modalities, aiCounts, onChange }: Props) {
  const set = (patch: Partial<Filters>) => onChange({ ...filters, ...patch });
  const options = filters.modality && !modalities.includes(filters.modality) ? [...modalities, filters.modality] : modalities;
  return (
    <div className="filter-bar" role="search">
      <label className="search-box">
        <Search size={15} className="search-icon" />
        <span className="visually-hidden">{t('toolbar.searchLabel')}</span>
        <input
          type="search"
          data-testid="search-input"
          placeholder={t('toolbar.searchPlaceholder')}
          value={filters.search}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => set({ search: e.currentTarget.value })}
        />
      </label>
      <label className="field">
        <span className="field-label">{t('toolbar.modalityLabel')}</span>
        <select data-testid="modality-filter" value={filters.modality} onChange={(e) => set({ modality: e.currentTarget.value })}>
          <option value="">{t('toolbar.modalityAll')}</option>
          {options.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span className="field-label">{t('toolbar.dateFrom')}</span>
        <input type="date" data-testid="date-from" value={filters.dateFrom} max={filters.dateTo || undefined} onChange={(e) => set({ dateFrom: e.currentTarget.value })} />
      </label>
      <label className="field">
        <span className="field-label">{t('toolbar.dateTo')}</span>
        <input type="date" data-testid="date-to" value={filters.dateTo} min={filters.dateFrom || undefined} onChange={(e) => set({ dateTo: e.currentTarget.value })} />
      </label>
      <div className="ai-filter-group">
        <label className="field checkbox-field">
          <input type="checkbox" data-testid="ai-filter" checked={Boolean(filters.aiUnreviewed)} onChange={(e) => set({ aiUnreviewed: e.currentTarget.checked, aiFlagged: false })} />
          <span className="field-label">{t('toolbar.aiFilter')}</span>
        </label>
        {aiCounts && <AiCounts counts={aiCounts} filters={filters} onFilter={set} />}
      </div>
      {hasActiveFilters(filters) && (
        <button type="button" className="button ghost small" data-testid="clear-filters" onClick={() => onChange(emptyFilters)}>
          <Close size={13} />
          {t('toolbar.clearFilters')}
        </button>
      )}
    </div>
  );
}

/** A count that filters the list to what it counts; pressed while that filter is on. */
function CountFilter({ on, testId, title, onClick, children }: { on: boolean; testId: string; title: string; onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" className={on ? 'count-filter on' : 'count-filter'} data-testid={testId} aria-pressed={on} title={title} onClick={onClick}>
      {children}
    </button>
  );
}

/** "3 flagged by AI · 2 not reviewed": each count is a one-click filter (click again to show all). */
function AiCounts({ counts, filters, onFilter }: { counts: NonNullable<StudyList['aiCounts']>; filters: Filters; onFilter: (patch: Partial<Filters>) => void }) {
  if (counts.flagged === 0) {
    return (
      <span className="ai-counts none" data-testid="ai-counts" data-flagged={0} data-unreviewed={0}>
        {t('toolbar.aiFlaggedNone')}
      </span>
    );
  }
  const flaggedOn = Boolean(filters.aiFlagged) && !filters.aiUnreviewed;
  const unreviewedOn = Boolean(filters.aiUnreviewed);
  return (
    <span className="ai-counts" data-testid="ai-counts" data-flagged={counts.flagged} data-unreviewed={counts.unreviewed}>
      <span className="ai-flag" aria-hidden="true" />
      <CountFilter on={flaggedOn} testId="ai-flagged-count" title={t('toolbar.aiFlaggedTitle')} onClick={() => onFilter({ aiFlagged: !flaggedOn, aiUnreviewed: false })}>
        {t('toolbar.aiFlagged', { count: counts.flagged })}
      </CountFilter>
      <span className="ai-counts-sep" aria-hidden="true">
        ·
      </span>
      <CountFilter on={unreviewedOn} testId="ai-unreviewed-count" title={t('toolbar.aiNotReviewedTitle')} onClick={() => onFilter({ aiUnreviewed: !unreviewedOn, aiFlagged: false })}>
        {t('toolbar.aiNotReviewed', { count: counts.unreviewed })}
      </CountFilter>
    </span>
  );
}
