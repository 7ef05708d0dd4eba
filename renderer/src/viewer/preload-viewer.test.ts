import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { Suspense, createElement } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { preloadableComponent, preloadViewerWhenIdle, type ViewerWarmUp } from './preload-viewer';

type IdleGlobals = { requestIdleCallback?: (cb: () => void) => number; cancelIdleCallback?: (h: number) => void };
const g = globalThis as IdleGlobals;

/** A controllable requestIdleCallback: `idle()` runs the pending callback, as one idle period would. */
function fakeIdle() {
  const pending = new Map<number, () => void>();
  let next = 1;
  g.requestIdleCallback = (cb) => {
    pending.set(next, cb);
    return next++;
  };
  g.cancelIdleCallback = (h) => void pending.delete(h);
  return {
    pending: () => pending.size,
    async idle() {
      const [h, cb] = [...pending.entries()][0] ?? [];
      if (h === undefined || !cb) throw new Error('nothing scheduled');
      pending.delete(h);
      cb();
      // Let the step's promise chain settle (it schedules the next step).
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
  };
}

afterEach(() => {
  delete g.requestIdleCallback;
  delete g.cancelIdleCallback;
});

describe('preloadViewerWhenIdle', () => {
  it('does nothing where the page has no idle callbacks', () => {
    let loads = 0;
    const stop = preloadViewerWhenIdle(() => {
      loads++;
      return Promise.resolve({ warmUpSteps: [] });
    });
    stop();
    expect(loads).toBe(0);
  });

  it('loads the chunk, then runs each warm-up step in its own idle period, in order', async () => {
    const idle = fakeIdle();
    const done: string[] = [];
    const viewer: ViewerWarmUp = { warmUpSteps: [() => done.push('init'), () => done.push('engine')] };
    preloadViewerWhenIdle(() => {
      done.push('import');
      return Promise.resolve(viewer);
    });
    expect(done).toEqual([]);
    await idle.idle();
    expect(done).toEqual(['import']);
    await idle.idle();
    expect(done).toEqual(['import', 'init']);
    await idle.idle();
    expect(done).toEqual(['import', 'init', 'engine']);
    expect(idle.pending()).toBe(0);
  });

  it('stops before the next step when cancelled (the list was left), and after a failed step', async () => {
    const idle = fakeIdle();
    const done: string[] = [];
    const stop = preloadViewerWhenIdle(() => Promise.resolve({ warmUpSteps: [() => done.push('init'), () => done.push('engine')] }));
    await idle.idle();
    await idle.idle();
    stop();
    expect(done).toEqual(['init']);
    expect(idle.pending()).toBe(0);

    const failing = fakeIdle();
    preloadViewerWhenIdle(() => Promise.resolve({ warmUpSteps: [() => Promise.reject(new Error('no WebGL')), () => done.push('never')] }));
    await failing.idle();
    await failing.idle();
    expect(failing.pending()).toBe(0);
    expect(done).toEqual(['init']);
  });
});

describe('preloadableComponent', () => {
  afterEach(cleanup);

  function chunk() {
    let resolve: (m: { Page: (p: { name: string }) => React.ReactNode }) => void = () => undefined;
    const promise = new Promise<{ Page: (p: { name: string }) => React.ReactNode }>((r) => (resolve = r));
    return { promise, resolve: () => resolve({ Page: ({ name }) => createElement('p', null, `page ${name}`) }) };
  }
  const view = (Component: React.ComponentType<{ name: string }>, name: string) => createElement(Suspense, { fallback: createElement('p', null, 'loading') }, createElement(Component, { name }));

  it('renders through Suspense before the chunk is loaded', async () => {
    const c = chunk();
    const { Component } = preloadableComponent(() => c.promise, (m) => m.Page);
    render(view(Component, 'a'));
    expect(screen.getByText('loading')).toBeTruthy();
    await act(async () => c.resolve());
    await waitFor(() => expect(screen.getByText('page a')).toBeTruthy());
  });

  it('renders the preloaded component directly: no fallback, in the first commit', async () => {
    const c = chunk();
    const { Component, load } = preloadableComponent(() => c.promise, (m) => m.Page);
    const loading = load();
    c.resolve();
    await loading;
    render(view(Component, 'b'));
    expect(screen.queryByText('loading')).toBeNull();
    expect(screen.getByText('page b')).toBeTruthy();
  });
});
