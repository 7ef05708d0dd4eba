import type { SortKey, StudySummary } from '../../../contract/ipc-contract';
import { type StringId, t } from '../i18n/strings';
import { formatCount, formatDicomDate, formatPersonName, formatSex } from '../lib/format';

export interface StudyColumn {
  readonly sortKey: SortKey;
  readonly label: StringId;
  readonly className: string;
  /** Plain-text cell value (rendered as a React text node). */
  readonly text: (s: StudySummary) => string;
}

export const studyColumns: readonly StudyColumn[] = [
  { sortKey: 'patientName', label: 'table.patientName', className: 'col-name', text: (s) => formatPersonName(s.patientName) },
  { sortKey: 'patientId', label: 'table.patientId', className: 'col-id mono', text: (s) => s.patientId },
  { sortKey: 'birthDate', label: 'table.birthDate', className: 'col-date mono', text: (s) => formatDicomDate(s.birthDate) },
  { sortKey: 'sex', label: 'table.sex', className: 'col-sex', text: (s) => formatSex(s.sex) },
  { sortKey: 'studyDate', label: 'table.studyDate', className: 'col-date mono', text: (s) => formatDicomDate(s.studyDate) },
  { sortKey: 'accessionNumber', label: 'table.accession', className: 'col-acc mono', text: (s) => s.accessionNumber },
  { sortKey: 'modalities', label: 'table.modalities', className: 'col-mod', text: (s) => s.modalities.join(', ') },
  { sortKey: 'description', label: 'table.description', className: 'col-desc', text: (s) => s.description },
  { sortKey: 'seriesCount', label: 'table.series', className: 'col-num', text: (s) => formatCount(s.seriesCount) },
  { sortKey: 'instanceCount', label: 'table.images', className: 'col-num', text: (s) => formatCount(s.instanceCount) },
  { sortKey: 'aiPriority', label: 'table.ai', className: 'col-ai', text: (s) => aiStatusText(s) },
];

export function aiStatusText(s: StudySummary): string {
  const status = s.ai?.status;
  return status ? t(`ai.status.${status}`) : t('ai.status.none');
}
