import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AiTriage, StudySummary } from '../../../contract/ipc-contract';
import { aiFilterOf, emptyFilters, FilterBar, type Filters } from './FilterBar';
import { StudyTable } from './StudyTable';

afterEach(cleanup);

type Ai = NonNullable<StudySummary['ai']>;
const IDLE: Omit<Ai, 'status' | 'triage' | 'priority' | 'unreviewedPositive'> = { active: false, toReview: 0, accepted: 0, rejected: 0, corrected: 0, failedRuns: 0 };

function study(n: number, ai: Ai | undefined): StudySummary {
  return {
    studyInstanceUid: `1.2.826.0.1.3680043.10.1138.5${n}`,
    patientName: `Patient^${n}`,
    patientId: `PID-${n}`,
    birthDate: '19700101',
    sex: 'F',
    studyDate: '20250101',
    studyTime: '',
    accessionNumber: `ACC-${n}`,
    description: 'CT CHEST',
    modalities: ['CT'],
    seriesCount: 1,
    instanceCount: 10,
    uidDerived: false,
    ...(ai ? { ai } : {}),
  };
}

const flagged = (over: Partial<Ai> = {}): Ai => ({ ...IDLE, status: 'positive', triage: 'positive-unreviewed', priority: true, unreviewedPositive: true, toReview: 1, ...over });

function renderTable(studies: StudySummary[]) {
  render(<StudyTable studies={studies} sortBy="aiPriority" sortDir="desc" onSort={vi.fn()} version={0} loading={false} />);
}

const cell = (n: number) => within(document.querySelector<HTMLElement>(`[data-study-uid="1.2.826.0.1.3680043.10.1138.5${n}"]`)!).getByTestId('ai-status');

describe('worklist AI column', () => {
  it('is the first column after the expander', () => {
    renderTable([study(1, undefined)]);
    const headers = [...document.querySelectorAll('thead th')].map((th) => th.className.split(' ')[0]);
    expect(headers.slice(0, 3)).toEqual(['col-chevron', 'col-ai', 'col-name']);
  });

  it('says in words what the AI did with each study, with review counts once reviewed', () => {
    const states: [AiTriage, Ai | undefined][] = [
      ['positive-unreviewed', flagged()],
      ['positive-unreviewed', flagged({ toReview: 3, accepted: 1 })],
      ['positive-reviewed', flagged({ triage: 'positive-reviewed', unreviewedPositive: false, toReview: 2, accepted: 1, rejected: 1 })],
      ['in-progress', { ...IDLE, status: 'running', triage: 'in-progress', priority: false, unreviewedPositive: false, active: true }],
      ['in-progress', { ...IDLE, status: 'pending', triage: 'in-progress', priority: false, unreviewedPositive: false, active: true }],
      ['negative', { ...IDLE, status: 'done', triage: 'negative', priority: false, unreviewedPositive: false, active: true, failedRuns: 1 }],
      ['not-analysed', { ...IDLE, status: 'not-analysed', triage: 'not-analysed', priority: false, unreviewedPositive: false }],
      ['failed', { ...IDLE, status: 'failed', triage: 'failed', priority: false, unreviewedPositive: false, failedRuns: 2 }],
      ['none', undefined],
    ];
    renderTable(states.map(([, ai], i) => study(i, ai)));
    const shown = states.map((_, i) => [
      cell(i).getAttribute('data-triage'),
      cell(i).querySelector('.ai-status-text')!.textContent,
      cell(i).querySelector('[data-testid="ai-detail"]')?.textContent ?? '',
      cell(i).querySelector('[data-testid="ai-priority"]') !== null,
    ]);
    expect(shown).toEqual([
      ['positive-unreviewed', 'Positive', 'not reviewed', true],
      ['positive-unreviewed', 'Positive', '1 of 3 reviewed', true],
      ['positive-reviewed', 'Positive · reviewed', '1 accepted · 1 rejected', true],
      ['in-progress', 'Analysing…', '', false],
      ['in-progress', 'Queued', '', false],
      ['negative', 'Negative', 'analysing · 1 failed', false],
      ['not-analysed', 'Not analysed', '', false],
      ['failed', 'Failed', '', false],
      ['none', '—', '', false],
    ]);
    expect(cell(2).getAttribute('data-reviewed')).toBe('true');
    // The cell's tooltip says what the group means.
    expect(cell(0).closest('td')!.getAttribute('title')).toContain('no one has reviewed yet');
  });
});

describe('flagged counts in the filter bar', () => {
  function renderBar(filters: Filters, counts = { flagged: 3, unreviewed: 2 }) {
    const onChange = vi.fn();
    render(<FilterBar filters={filters} modalities={['CT']} aiCounts={counts} onChange={onChange} />);
    return onChange;
  }

  it('reads "3 flagged by AI · 2 not reviewed" and each count filters with one click', () => {
    const onChange = renderBar(emptyFilters);
    expect(screen.getByTestId('ai-counts').textContent).toBe('3 flagged by AI·2 not reviewed');
    fireEvent.click(screen.getByTestId('ai-unreviewed-count'));
    expect(onChange).toHaveBeenLastCalledWith({ ...emptyFilters, aiUnreviewed: true, aiFlagged: false });
    fireEvent.click(screen.getByTestId('ai-flagged-count'));
    expect(onChange).toHaveBeenLastCalledWith({ ...emptyFilters, aiFlagged: true, aiUnreviewed: false });
  });

  it('shows the active count as pressed, and a second click clears it', () => {
    const onChange = renderBar({ ...emptyFilters, aiFlagged: true });
    expect(screen.getByTestId('ai-flagged-count').getAttribute('aria-pressed')).toBe('true');
    expect(screen.getByTestId('ai-unreviewed-count').getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(screen.getByTestId('ai-flagged-count'));
    expect(onChange).toHaveBeenLastCalledWith({ ...emptyFilters, aiFlagged: false, aiUnreviewed: false });
  });

  it('says when nothing is flagged', () => {
    renderBar(emptyFilters, { flagged: 0, unreviewed: 0 });
    expect(screen.getByTestId('ai-counts').textContent).toBe('None flagged by AI');
    expect(screen.queryByTestId('ai-flagged-count')).toBeNull();
  });

  it('maps the filter state to the query: not reviewed wins over flagged', () => {
    expect(aiFilterOf(emptyFilters)).toBeUndefined();
    expect(aiFilterOf({ ...emptyFilters, aiFlagged: true })).toBe('positive');
    expect(aiFilterOf({ ...emptyFilters, aiUnreviewed: true, aiFlagged: true })).toBe('positive-unreviewed');
  });
});
