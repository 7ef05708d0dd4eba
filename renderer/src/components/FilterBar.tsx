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
}

export const emptyFilters: Filters = { search: '', modality: '', dateFrom: '', dateTo: '', aiUnreviewed: false };

export function hasActiveFilters(f: Filters): boolean {
  return f.search.trim() !== '' || f.modality !== '' || f.dateFrom !== '' || f.dateTo !== '' || Boolean(f.aiUnreviewed);
}

interface Props {
  readonly filters: Filters;
  readonly modalities: readonly string[];
  readonly onChange: (next: Filters) => void;
}

/** Search box, modality filter and study-date range above the worklist. */
export function FilterBar({ filters, modalities, onChange }: Props) {
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
      <label className="field checkbox-field">
        <input type="checkbox" data-testid="ai-filter" checked={Boolean(filters.aiUnreviewed)} onChange={(e) => set({ aiUnreviewed: e.currentTarget.checked })} />
        <span className="field-label">{t('toolbar.aiFilter')}</span>
      </label>
      {hasActiveFilters(filters) && (
        <button type="button" className="button ghost small" data-testid="clear-filters" onClick={() => onChange(emptyFilters)}>
          <Close size={13} />
          {t('toolbar.clearFilters')}
        </button>
      )}
    </div>
  );
}
