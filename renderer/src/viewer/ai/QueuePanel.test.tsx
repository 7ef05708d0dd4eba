import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ModelInfo, Result, VigilApi } from '../../../../contract/ipc-contract';
import { AppContext } from '../../app-context';
import { fakeVigil, ok } from '../../test-support/fake-vigil';
import { QueuePanel } from './QueuePanel';
import type { QueueEntry } from './use-analysis';

afterEach(cleanup);

const STUDY = '1.2.826.0.1.3680043.10.1138.8';
const MODELS = new Map<string, ModelInfo>([['cxr-pneumonia', { id: 'cxr-pneumonia', name: 'CXR pneumonia', version: '1.0.0', status: 'ok', path: '/m/cxr', origin: 'bundled', clinicalUse: false }]]);
const job = (jobId: string, status: 'running' | 'pending', phase?: QueueEntry['phase']): QueueEntry => ({
  jobId,
  studyInstanceUid: STUDY,
  seriesInstanceUid: `${STUDY}.1`,
  modelId: 'cxr-pneumonia',
  status,
  reason: null,
  ...(phase ? { phase } : {}),
});

function renderQueue(jobs: QueueEntry[], answer: Result<{ cancelled: boolean }>) {
  const cancel = vi.fn(async () => answer);
  const vigil = Object.assign(fakeVigil(), { analysis: { cancel } }) as unknown as VigilApi;
  const reportError = vi.fn();
  const view = render(
    <AppContext value={{ vigil, reportError }}>
      <QueuePanel jobs={jobs} models={MODELS} />
    </AppContext>,
  );
  return { cancel, reportError, view, vigil };
}

const item = (jobId: string) => screen.getAllByTestId('queue-item').find((li) => li.getAttribute('data-job-id') === jobId)!;
const within = (li: HTMLElement, id: string) => li.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;

describe('QueuePanel', () => {
  it('says a cancelled running job is stopping after its current step, until it leaves the queue', async () => {
    const { cancel } = renderQueue([job('a', 'running', 'inference'), job('b', 'pending')], ok({ cancelled: true }));
    expect(within(item('a'), 'queue-status').textContent).toBe('inference');
    fireEvent.click(within(item('a'), 'queue-cancel'));
    expect(within(item('a'), 'queue-status').textContent).toBe('Stopping after the current step…');
    expect((within(item('a'), 'queue-cancel') as HTMLButtonElement).disabled).toBe(true);
    await waitFor(() => expect(cancel).toHaveBeenCalledWith({ jobId: 'a' }));
    // The pending job is untouched; cancelling it is immediate (it never started).
    expect(within(item('b'), 'queue-status').textContent).toBe('pending');
    expect((within(item('b'), 'queue-cancel') as HTMLButtonElement).disabled).toBe(false);
  });

  it('forgets the stop once the job has left the queue: the same job queued again can be cancelled', async () => {
    const { view, vigil } = renderQueue([job('a', 'running', 'inference')], ok({ cancelled: true }));
    fireEvent.click(within(item('a'), 'queue-cancel'));
    expect(within(item('a'), 'queue-status').textContent).toBe('Stopping after the current step…');
    const rerender = (jobs: QueueEntry[]) =>
      view.rerender(
        <AppContext value={{ vigil, reportError: vi.fn() }}>
          <QueuePanel jobs={jobs} models={MODELS} />
        </AppContext>,
      );
    rerender([]);
    // Analysed again (a job keeps its id for its series and model).
    rerender([job('a', 'running', 'decode')]);
    expect(within(item('a'), 'queue-status').textContent).toBe('decoding');
    expect((within(item('a'), 'queue-cancel') as HTMLButtonElement).disabled).toBe(false);
  });

  it('goes back to the phase and reports the error when the cancel is refused', async () => {
    const { reportError } = renderQueue([job('a', 'running', 'decode')], { ok: false, error: { code: 'NOT_FOUND', message: 'no job a' } });
    fireEvent.click(within(item('a'), 'queue-cancel'));
    await waitFor(() => expect(reportError).toHaveBeenCalledWith({ code: 'NOT_FOUND', message: 'no job a' }));
    expect(within(item('a'), 'queue-status').textContent).toBe('decoding');
    expect((within(item('a'), 'queue-cancel') as HTMLButtonElement).disabled).toBe(false);
  });
});
