/**
 * Warms the viewer while the study list is on screen, so that the first study
 * opens as fast as the later ones: the viewer's JS chunk (Cornerstone3D,
 * vtk.js), then Cornerstone's init (loader, decode workers, tools), then the
 * rendering engine (its WebGL contexts). Each step runs in its own idle period
 * (requestIdleCallback, without a deadline: a list that is never idle, e.g.
 * during a big import, is never interrupted), so none of them competes with
 * the list's own rendering or input; a study opened meanwhile simply joins what
 * is under way (the module import and initCornerstone are shared promises).
 * Evaluating the chunk is one task the page cannot split (~200-400 ms measured
 * on a loaded 2-core machine): it happens here, in idle time, instead of
 * after the double-click.
 *
 * Where the page has no requestIdleCallback (jsdom in tests) nothing is
 * preloaded: the viewer then loads on first use, as before. Failures are left
 * to the viewer, which reports them when it is opened.
 *
 * Preloading only pays off if the page then renders the loaded chunk
 * directly: a React.lazy component suspends on its first render even when its
 * import has already resolved, and React holds a Suspense boundary's content
 * back for ~300 ms after showing its fallback (measured: the study opened
 * ~320 ms later than with the component rendered directly). See
 * preloadableComponent.
 */
import { type ComponentType, type LazyExoticComponent, createElement, lazy, useState } from 'react';

/** What the viewer chunk exports for warming up, one step per idle period. */
export interface ViewerWarmUp {
  readonly warmUpSteps: readonly (() => Promise<unknown> | unknown)[];
}

interface IdleWindow {
  requestIdleCallback(callback: () => void): number;
  cancelIdleCallback(handle: number): void;
}

function idleApi(): IdleWindow | null {
  const w = globalThis as unknown as Partial<IdleWindow>;
  return typeof w.requestIdleCallback === 'function' && typeof w.cancelIdleCallback === 'function' ? (w as IdleWindow) : null;
}

/** Starts warming the viewer in idle time; returns a function that stops what has not started yet. */
export function preloadViewerWhenIdle(load: () => Promise<ViewerWarmUp>): () => void {
  const idle = idleApi();
  if (!idle) return () => undefined;
  let cancelled = false;
  let handle: number | null = null;
  const whenIdle = (step: () => void): void => {
    handle = idle.requestIdleCallback(() => {
      handle = null;
      if (!cancelled) step();
    });
  };
  const run = (steps: ViewerWarmUp['warmUpSteps'], i: number): void => {
    const step = steps[i];
    if (!step) return;
    whenIdle(() => {
      Promise.resolve()
        .then(step)
        .then(
          () => run(steps, i + 1),
          () => undefined, // the viewer reports its own start-up failure when it is opened
        );
    });
  };
  whenIdle(() => {
    load().then(
      (viewer) => run(viewer.warmUpSteps, 0),
      () => undefined, // a chunk that does not load fails again, visibly, when the viewer is opened
    );
  });
  return () => {
    cancelled = true;
    if (handle !== null) idle.cancelIdleCallback(handle);
  };
}

/**
 * A component from a lazily loaded chunk: `load` imports the chunk (share it
 * with preloadViewerWhenIdle), `Component` renders the component directly
 * once the chunk is loaded, and through React.lazy (inside the caller's
 * Suspense) before. Each mount keeps the choice it made, so a chunk that
 * finishes loading while it is shown never swaps (remounts) the component.
 */
export function preloadableComponent<Chunk, Props extends object>(
  importChunk: () => Promise<Chunk>,
  pick: (chunk: Chunk) => ComponentType<Props>,
): { load: () => Promise<Chunk>; Component: ComponentType<Props> } {
  let loaded: Chunk | null = null;
  const load = (): Promise<Chunk> =>
    importChunk().then((chunk) => {
      loaded = chunk;
      return chunk;
    });
  const Lazy = lazy(() => load().then((chunk) => ({ default: pick(chunk) })));
  function Component(props: Props) {
    const [Shown] = useState<ComponentType<Props> | LazyExoticComponent<ComponentType<Props>>>(() => (loaded ? pick(loaded) : Lazy));
    return createElement(Shown, props);
  }
  return { load, Component };
}
