/**
 * Rendering engines for stack viewports, with WebGL contexts created without
 * multisampling (MSAA).
 *
 * Why: Cornerstone renders each viewport into a pooled offscreen WebGL canvas
 * and copies it onto the viewport's 2-D canvas every frame. A stack viewport
 * draws one textured quad, so MSAA changes no image pixel, but the copy has to
 * resolve the multisampled buffer first. With SwiftShader (WebGL on a machine
 * without a usable GPU) that copy is what limits stack scrolling: measured
 * here, turning MSAA off made a 512² viewport scroll ~1.4× faster.
 *
 * `multisamplingOff` reads the contexts back (diagnostics, the benchmark), so
 * a Cornerstone upgrade that creates them elsewhere is noticed.
 */
import { RenderingEngine } from '@cornerstonejs/core';

/** vtk.js's own context attributes (RenderWindow.get3DContext), minus multisampling. */
export const WEBGL_CONTEXT_ATTRIBUTES: Readonly<WebGLContextAttributes> = {
  alpha: true,
  depth: true,
  preserveDrawingBuffer: false,
  powerPreference: 'high-performance',
  antialias: false,
};

interface VtkOpenGLRenderWindow {
  /** The WebGL context vtk.js created for this window (undefined until then). */
  getContext(): WebGLRenderingContext | WebGL2RenderingContext | null | undefined;
}

interface OffscreenMultiRenderWindow {
  getOpenGLRenderWindow(): VtkOpenGLRenderWindow;
}

interface EngineImplementation {
  contextPool?: { getAllContexts(): OffscreenMultiRenderWindow[] };
  offscreenMultiRenderWindow?: OffscreenMultiRenderWindow;
}

function renderWindows(engine: RenderingEngine): VtkOpenGLRenderWindow[] {
  const impl = (engine as unknown as { _implementation?: EngineImplementation })._implementation;
  const windows = impl?.contextPool?.getAllContexts() ?? (impl?.offscreenMultiRenderWindow ? [impl.offscreenMultiRenderWindow] : []);
  return windows.map((w) => w.getOpenGLRenderWindow()).filter((w) => typeof w?.getContext === 'function');
}

/**
 * A Cornerstone rendering engine whose WebGL contexts have no MSAA (no effect with CPU rendering).
 *
 * The engine's constructor creates its pooled vtk.js render windows and their WebGL contexts, synchronously,
 * with vtk.js's fixed attributes; vtk.js objects are frozen and the canvases are internal. So for the duration of
 * that one synchronous call only, WebGL contexts are requested without MSAA; nothing else can run meanwhile.
 */
export function createRenderingEngine(id: string): RenderingEngine {
  const proto = HTMLCanvasElement.prototype;
  const native = Object.getOwnPropertyDescriptor(proto, 'getContext');
  if (!native || typeof native.value !== 'function') return new RenderingEngine(id);
  const nativeGetContext = native.value as (this: HTMLCanvasElement, type: string, options?: unknown) => RenderingContext | null;
  function getContext(this: HTMLCanvasElement, type: string, options?: unknown): RenderingContext | null {
    const webgl = type === 'webgl2' || type === 'webgl';
    return nativeGetContext.call(this, type, webgl ? { ...WEBGL_CONTEXT_ATTRIBUTES, ...(options as WebGLContextAttributes | undefined), antialias: false } : options);
  }
  Object.defineProperty(proto, 'getContext', { ...native, value: getContext });
  try {
    return new RenderingEngine(id);
  } finally {
    Object.defineProperty(proto, 'getContext', native);
  }
}

/** Whether every WebGL context the engine has created so far has MSAA off (null: none created, or CPU rendering). */
export function multisamplingOff(engine: RenderingEngine): boolean | null {
  const attributes = renderWindows(engine)
    .map((w) => w.getContext()?.getContextAttributes() ?? null)
    .filter((a): a is WebGLContextAttributes => a !== null);
  return attributes.length === 0 ? null : attributes.every((a) => a.antialias === false);
}
