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

/**
 * Default worklist columns. The AI column comes first after the expander so that what the AI flagged is seen at
 * any window width; 1280 px and up show every column without horizontal scrolling (fixed widths: .study-table in
 * styles.css). The series count is not a column: expanding a study lists its series with their image counts.
 */
export const studyColumns: readonly StudyColumn[] = [
  { sortKey: 'aiPriority', label: 'table.ai', className: 'col-ai', text: (s) => aiStatusText(s) },
  { sortKey: 'patientName', label: 'table.patientName', className: 'col-name', text: (s) => formatPersonName(s.patientName) },
  { sortKey: 'patientId', label: 'table.patientId', className: 'col-id mono', text: (s) => s.patientId },
  { sortKey: 'birthDate', label: 'table.birthDate', className: 'col-date mono', text: (s) => formatDicomDate(s.birthDate) },
  { sortKey: 'sex', label: 'table.sex', className: 'col-sex', text: (s) => formatSex(s.sex) },
  { sortKey: 'studyDate', label: 'table.studyDate', className: 'col-date mono', text: (s) => formatDicomDate(s.studyDate) },
  { sortKey: 'accessionNumber', label: 'table.accession', className: 'col-acc mono', text: (s) => s.accessionNumber },
  { sortKey: 'modalities', label: 'table.modalities', className: 'col-mod', text: (s) => s.modalities.join(', ') },
  { sortKey: 'description', label: 'table.description', className: 'col-desc', text: (s) => s.description },
  { sortKey: 'instanceCount', label: 'table.images', className: 'col-num', text: (s) => formatCount(s.instanceCount) },
];

/** The AI cell's main words: the study's triage group ("Positive", "Reviewed", "Analysing…", "Negative", …). */
export function aiStatusText(s: StudySummary): string {
  const ai = s.ai;
  if (!ai) return t('ai.triage.none');
  if (ai.triage === 'in-progress') return t(ai.status === 'running' ? 'ai.triage.running' : 'ai.triage.pending');
  return t(`ai.triage.${ai.triage}`);
}

/** "1 accepted", "2 rejected", "1 corrected": the non-zero review decisions, in that order (worklist tooltip and viewer panel). */
export function reviewDecisionParts(counts: { readonly accepted: number; readonly rejected: number; readonly corrected: number }): string[] {
  const parts: string[] = [];
  if (counts.accepted > 0) parts.push(t('ai.detail.accepted', { count: counts.accepted }));
  if (counts.rejected > 0) parts.push(t('ai.detail.rejected', { count: counts.rejected }));
  if (counts.corrected > 0) parts.push(t('ai.detail.corrected', { count: counts.corrected }));
  return parts;
}

/**
 * The AI cell's second part: how many flagged findings wait for a decision, or the decisions made; a run in
 * progress or a failed run beside another group's result. Empty when there is nothing more to say.
 */
export function aiDetailText(s: StudySummary): string {
  const ai = s.ai;
  if (!ai) return '';
  const parts: string[] = [];
  if (ai.triage === 'positive-unreviewed') {
    const reviewed = ai.accepted + ai.rejected + ai.corrected;
    parts.push(reviewed > 0 ? t('ai.detail.partlyReviewed', { reviewed, total: ai.toReview }) : t('ai.detail.notReviewed'));
  } else if (ai.triage === 'positive-reviewed') {
    parts.push(...reviewDecisionParts(ai));
  }
  if (ai.active && ai.triage !== 'in-progress') parts.push(t('ai.detail.analysing'));
  if (ai.failedRuns > 0 && ai.triage !== 'failed') parts.push(t('ai.detail.failed', { count: ai.failedRuns }));
  return parts.join(' · ');
}

/** The AI cell's tooltip: what the group means. */
export function aiStatusTitle(s: StudySummary): string {
  return t(`ai.title.${s.ai?.triage ?? 'none'}`);
}
