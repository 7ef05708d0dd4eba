/**
 * The viewer's one rendering engine and tool group, image ids for a series,
 * and the per-viewport actions the toolbar and keyboard use.
 */
import { Enums as CoreEnums, RenderingEngine, type StackViewport, type Types, getRenderingEngine, metaData } from '@cornerstonejs/core';
import {
  AngleTool,
  BrushTool,
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  utilities as toolUtilities,
} from '@cornerstonejs/tools';
import type { InstanceSummary } from '../../../../contract/ipc-contract';
import { type WindowPreset, windowToRange } from '../presets';
import { nonImageKind } from '../series-kind';
import { createRenderingEngine } from './rendering-engine';

export const ENGINE_ID = 'vigil-viewer';
export const TOOL_GROUP_ID = 'vigil-stack';

export function viewerEngine(): RenderingEngine {
  return (getRenderingEngine(ENGINE_ID) as RenderingEngine | undefined) ?? createRenderingEngine(ENGINE_ID);
}

export function stackViewport(viewportId: string): StackViewport | null {
  const vp = getRenderingEngine(ENGINE_ID)?.getViewport(viewportId);
  return (vp as StackViewport | undefined) ?? null;
}

/** One entry per displayable frame, in reading order. */
export interface FrameRef {
  readonly imageId: string;
  readonly instance: InstanceSummary;
  /** 1-based frame number in a multi-frame object, 0 for a single-frame image. */
  readonly frame: number;
}

/** `wadouri:` image ids on the host's one instance URL (vigil:// in Electron, the bridge in tests). */
export function framesFor(instances: readonly InstanceSummary[], instanceUrl: (uid: string) => string): FrameRef[] {
  const out: FrameRef[] = [];
  for (const instance of instances) {
    // SEG/SR/RT/ECG/PDF objects are listed as such, never decoded as images.
    if (!instance.hasPixelData || instance.frames < 1 || nonImageKind(instance.sopClassUid) !== null) continue;
    const url = instanceUrl(instance.sopInstanceUid);
    if (instance.frames === 1) {
      out.push({ imageId: `wadouri:${url}`, instance, frame: 0 });
      continue;
    }
    const sep = url.includes('?') ? '&' : '?';
    // The loader reads `frame=` as the last query parameter (1-based).
    for (let f = 1; f <= instance.frames; f++) out.push({ imageId: `wadouri:${url}${sep}frame=${f}`, instance, frame: f });
  }
  return out;
}

export type LeftTool = 'wl' | 'pan' | 'zoom' | 'length' | 'angle' | 'rect' | 'ellipse';

export const LEFT_TOOL_NAMES: Record<LeftTool, string> = {
  wl: WindowLevelTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
  length: LengthTool.toolName,
  angle: AngleTool.toolName,
  rect: RectangleROITool.toolName,
  ellipse: EllipticalROITool.toolName,
};

const MEASUREMENT_TOOLS = [LengthTool.toolName, AngleTool.toolName, RectangleROITool.toolName, EllipticalROITool.toolName];

/** The shared tool group with radiologist bindings: left W/L, right zoom, middle pan, wheel scroll. */
export function viewerToolGroup(): NonNullable<ReturnType<typeof ToolGroupManager.getToolGroup>> {
  const existing = ToolGroupManager.getToolGroup(TOOL_GROUP_ID);
  if (existing) return existing;
  const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
  if (!group) throw new Error('could not create the viewer tool group');
  for (const name of [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, StackScrollTool.toolName, ...MEASUREMENT_TOOLS, BrushTool.toolName]) group.addTool(name);
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Wheel }] });
  setLeftTool('wl');
  return group;
}

let leftTool: LeftTool = 'wl';
let brushOn = false;

/** Binds the left button to a tool; right stays zoom, middle stays pan; measurements stay visible. */
export function setLeftTool(tool: LeftTool): void {
  leftTool = tool;
  const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID);
  if (!group) return;
  if (brushOn) {
    // The label-map brush holds the left button until it is turned off.
    return;
  }
  const primary = ToolEnums.MouseBindings.Primary;
  const secondary = ToolEnums.MouseBindings.Secondary;
  const auxiliary = ToolEnums.MouseBindings.Auxiliary;
  const target = LEFT_TOOL_NAMES[tool];
  const bindings: Record<string, { mouseButton: number }[]> = {
    [WindowLevelTool.toolName]: [],
    [PanTool.toolName]: [{ mouseButton: auxiliary }],
    [ZoomTool.toolName]: [{ mouseButton: secondary }],
  };
  for (const name of MEASUREMENT_TOOLS) bindings[name] = [];
  bindings[target] = [...(bindings[target] ?? []), { mouseButton: primary }];
  for (const [name, b] of Object.entries(bindings)) {
    if (b.length > 0) group.setToolActive(name, { bindings: b as never });
    else if (MEASUREMENT_TOOLS.includes(name)) group.setToolPassive(name);
    else group.setToolDisabled(name);
  }
}

/**
 * Cornerstone's BrushTool on the left button, painting (brush) or erasing
 * (eraser) a circle of `radiusMm` in the active segmentation; null gives the
 * left button back to the chosen left tool.
 */
export function setLabelmapBrush(mode: 'brush' | 'eraser' | null, radiusMm = 1): void {
  const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID);
  if (!group) return;
  if (mode === null) {
    if (!brushOn) return;
    brushOn = false;
    group.setToolDisabled(BrushTool.toolName);
    setLeftTool(leftTool);
    return;
  }
  brushOn = true;
  group.setToolConfiguration(BrushTool.toolName, { activeStrategy: mode === 'eraser' ? 'ERASE_INSIDE_CIRCLE' : 'FILL_INSIDE_CIRCLE' });
  toolUtilities.segmentation.setBrushSizeForToolGroup(TOOL_GROUP_ID, radiusMm);
  const primary = ToolEnums.MouseBindings.Primary;
  for (const name of [WindowLevelTool.toolName, ...MEASUREMENT_TOOLS]) {
    if (MEASUREMENT_TOOLS.includes(name)) group.setToolPassive(name);
    else group.setToolDisabled(name);
  }
  for (const name of [PanTool.toolName, ZoomTool.toolName]) {
    // Pan and zoom keep their own buttons; only a left binding is taken away.
    if (name === LEFT_TOOL_NAMES[leftTool]) group.setToolActive(name, { bindings: [{ mouseButton: name === PanTool.toolName ? ToolEnums.MouseBindings.Auxiliary : ToolEnums.MouseBindings.Secondary }] });
  }
  group.setToolActive(BrushTool.toolName, { bindings: [{ mouseButton: primary }] });
}

export function scrollBy(vp: StackViewport, delta: number): void {
  const n = vp.getImageIds().length;
  if (n === 0) return;
  const next = Math.max(0, Math.min(n - 1, vp.getCurrentImageIdIndex() + delta));
  if (next !== vp.getCurrentImageIdIndex()) void vp.setImageIdIndex(next).catch(() => undefined);
}

export function scrollTo(vp: StackViewport, index: number): void {
  const n = vp.getImageIds().length;
  if (n === 0) return;
  const next = Math.max(0, Math.min(n - 1, index));
  if (next !== vp.getCurrentImageIdIndex()) void vp.setImageIdIndex(next).catch(() => undefined);
}

export function applyWindow(vp: StackViewport, preset: Pick<WindowPreset, 'center' | 'width'>): void {
  vp.setProperties({ voiRange: windowToRange(preset.center, preset.width) });
  vp.render();
}

export function toggleInvert(vp: StackViewport): void {
  vp.setProperties({ invert: !vp.getProperties().invert });
  vp.render();
}

export function rotate90(vp: StackViewport): void {
  const rotation = vp.getViewPresentation().rotation ?? 0;
  vp.setViewPresentation({ rotation: (rotation + 90) % 360 });
  vp.render();
}

/** Signed difference a − b of two angles in degrees, in (−180, 180]. */
function angleBetween(a: number, b: number): number {
  const d = (((a - b) % 360) + 360) % 360;
  return d > 180 ? d - 360 : d;
}

/**
 * Mirrors the image as displayed: left↔right ('h') or top↔bottom ('v') on the screen, about the image's centre,
 * whatever the rotation. Both backends show `rotation` (clockwise) applied after the flips, so mirroring a view
 * rotated by θ gives the flip toggled and the rotation −θ (mirror ∘ R(θ) = R(−θ) ∘ mirror). WebGL does that by
 * itself (its flip mirrors the camera, and its rotation reads back as −θ); Cornerstone's CPU path only toggles a flip
 * of the image before its rotation, which at 90° or 270° mirrors the other screen axis (left/right swapped with
 * top/bottom): there the rotation is set to −θ here.
 */
export function flip(vp: StackViewport, direction: 'h' | 'v'): void {
  const rotation = vp.getViewPresentation({ rotation: true }).rotation ?? 0;
  const cam = vp.getCamera();
  vp.setCamera(direction === 'h' ? { flipHorizontal: !cam.flipHorizontal } : { flipVertical: !cam.flipVertical });
  const mirrored = (360 - rotation) % 360;
  const now = vp.getViewPresentation({ rotation: true }).rotation ?? 0;
  if (Math.abs(angleBetween(now, mirrored)) > 0.5) vp.setViewPresentation({ rotation: mirrored });
  vp.render();
}

export function resetView(vp: StackViewport): void {
  vp.resetProperties();
  vp.resetCamera();
  // With CPU rendering, resetCamera keeps the rotation and flips: undo them explicitly (no-ops on WebGL).
  if ((vp.getViewPresentation().rotation ?? 0) !== 0) vp.setViewPresentation({ rotation: 0 });
  const cam = vp.getCamera();
  if (cam.flipHorizontal || cam.flipVertical) vp.setCamera({ flipHorizontal: false, flipVertical: false });
  vp.render();
}

/** Screen right/down as patient-space vectors (follows rotation, flips and the image plane). */
export function screenAxes(vp: StackViewport): { right: Types.Point3; down: Types.Point3 } | null {
  const canvas = vp.canvas;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (!w || !h) return null;
  const a = vp.canvasToWorld([0, h / 2]);
  const b = vp.canvasToWorld([w, h / 2]);
  const c = vp.canvasToWorld([w / 2, 0]);
  const d = vp.canvasToWorld([w / 2, h]);
  // CPU rendering has no world transform until its first image is displayed.
  if (!a || !b || !c || !d) return null;
  return { right: [b[0] - a[0], b[1] - a[1], b[2] - a[2]], down: [d[0] - c[0], d[1] - c[1], d[2] - c[2]] };
}

/** The VOI (window) tags of an image, for the "file windows" presets. */
export function voiTags(imageId: string): { center: unknown; width: unknown; explanation: unknown } {
  const voi = (metaData.get('voiLutModule', imageId) ?? {}) as { windowCenter?: unknown; windowWidth?: unknown; windowCenterWidthExplanation?: unknown };
  return { center: voi.windowCenter, width: voi.windowWidth, explanation: voi.windowCenterWidthExplanation };
}

/** Prefetch around the current image in both directions, bounded by the cache. */
export function enablePrefetch(element: HTMLDivElement, maxEachSide: number): void {
  toolUtilities.stackPrefetch.setConfiguration({ maxImagesToPrefetch: maxEachSide, preserveExistingPool: false });
  toolUtilities.stackPrefetch.enable(element);
}

export function disablePrefetch(element: HTMLDivElement): void {
  try {
    toolUtilities.stackPrefetch.disable(element);
  } catch {
    /* not enabled */
  }
}

export const Events = CoreEnums.Events;
export const ViewportType = CoreEnums.ViewportType;
export const ToolEvents = ToolEnums.Events;

/**
 * Canvas CSS position of the centre of image pixel (col, row) of the displayed
 * image, from Cornerstone's image-plane metadata (its defaults where the image
 * has no geometry) and the viewport's worldToCanvas. Null before the viewport
 * has image data (CPU rendering sets it a moment after the render event).
 */
export function imagePixelToCanvas(vp: StackViewport, col: number, row: number): Types.Point2 | null {
  const imageId = vp.getCurrentImageId?.();
  if (!imageId || !vp.getImageData()) return null;
  const plane = (metaData.get('imagePlaneModule', imageId) ?? {}) as {
    rowCosines?: number[];
    columnCosines?: number[];
    imagePositionPatient?: number[];
    rowPixelSpacing?: number | null;
    columnPixelSpacing?: number | null;
  };
  const rowDir = plane.rowCosines ?? [1, 0, 0];
  const colDir = plane.columnCosines ?? [0, 1, 0];
  const origin = plane.imagePositionPatient ?? [0, 0, 0];
  const dx = plane.columnPixelSpacing || 1;
  const dy = plane.rowPixelSpacing || 1;
  const world = [0, 1, 2].map((a) => origin[a]! + rowDir[a]! * dx * col + colDir[a]! * dy * row) as Types.Point3;
  const p = vp.worldToCanvas(world);
  return p && Number.isFinite(p[0]) && Number.isFinite(p[1]) ? [p[0], p[1]] : null;
}

/**
 * The zoom the overlay shows: how many screen CSS pixels one image pixel spans
 * along an image row, so 1.00× is 1:1 (one image pixel per CSS pixel) and 2.00×
 * twice that — the convention of the radiology workstations that print a zoom
 * factor (a percentage of actual size), not "relative to fit", which changes
 * with the window size. Computed from the drawn geometry, so GPU and CPU
 * rendering report the same (Cornerstone's own getZoom() is relative to the
 * fitted camera on GPU and the canvas scale on CPU). Null before image data.
 */
export function displayZoom(vp: StackViewport): number | null {
  const a = imagePixelToCanvas(vp, 0, 0);
  const b = imagePixelToCanvas(vp, 1, 0);
  if (!a || !b) return null;
  const zoom = Math.hypot(b[0] - a[0], b[1] - a[1]);
  return zoom > 0 && Number.isFinite(zoom) ? zoom : null;
}

/** The members of Cornerstone 5's StackViewport that its CPU rendering path reads its geometry through. */
interface CpuGeometryInternals {
  worldToCanvasCPU: (world: Types.Point3) => Types.Point2;
  canvasToWorldCPU: (canvas: Types.Point2, out?: Types.Point3) => Types.Point3 | undefined;
  getImageDataCPU: () => CpuImageData | undefined;
  renderingPipelineFunctions: Record<string, { cpu: unknown }>;
  _configureRenderingPipeline: (useCpu?: boolean) => void;
  useCPURendering: boolean;
}

interface CpuImageData {
  spacing: number[];
  direction: number[];
  imageData: {
    worldToIndex: (world: Types.Point3) => Types.Point3;
    indexToWorld: (index: Types.Point3, out?: Types.Point3) => Types.Point3;
  };
}

const aligned = new WeakSet<StackViewport>();

function cpuInternals(vp: StackViewport): CpuGeometryInternals | null {
  const v = vp as unknown as Partial<CpuGeometryInternals>;
  const table = v.renderingPipelineFunctions;
  const ok =
    typeof v.worldToCanvasCPU === 'function' &&
    typeof v.canvasToWorldCPU === 'function' &&
    typeof v.getImageDataCPU === 'function' &&
    typeof v._configureRenderingPipeline === 'function' &&
    table !== undefined &&
    ['worldToCanvas', 'canvasToWorld', 'getImageData'].every((k) => table[k] !== undefined);
  return ok ? (v as CpuGeometryInternals) : null;
}

/** What Cornerstone's CPU path draws a stack with: its zoom (image pixels to canvas pixels), pan, rotation and flips. */
export interface CpuView {
  readonly scale: number;
  readonly translation: { readonly x: number; readonly y: number };
  readonly rotation: number;
  readonly hflip: boolean;
  readonly vflip: boolean;
}

interface CpuViewInternals {
  useCPURendering: boolean;
  _cpuFallbackEnabledElement?: { viewport?: { scale?: number; translation?: { x: number; y: number }; rotation?: number; hflip?: boolean; vflip?: boolean } };
}

/**
 * The CPU-rendered view of a stack exactly as drawn, or null (GPU rendering, no image yet, or internals not the expected
 * ones). Its camera is no substitute: getCamera/setCamera go through the canvas and lose the pan once it is rotated or
 * flipped (setCamera moves the focal point before it flips), so a view taken and given back that way comes out moved.
 */
export function cpuView(vp: StackViewport): CpuView | null {
  const v = vp as unknown as CpuViewInternals;
  const view = v.useCPURendering ? v._cpuFallbackEnabledElement?.viewport : undefined;
  if (!view || typeof view.scale !== 'number' || !view.translation) return null;
  return { scale: view.scale, translation: { x: view.translation.x, y: view.translation.y }, rotation: view.rotation ?? 0, hflip: Boolean(view.hflip), vflip: Boolean(view.vflip) };
}

/** Draws a CPU-rendered stack with a view taken by cpuView (its rotation and flips through the public API, so the stack's own state agrees). */
export function setCpuView(vp: StackViewport, view: CpuView): boolean {
  const v = vp as unknown as CpuViewInternals;
  const target = v.useCPURendering ? v._cpuFallbackEnabledElement?.viewport : undefined;
  if (!target) return false;
  vp.setViewPresentation({ rotation: view.rotation });
  const cam = vp.getCamera();
  if (Boolean(cam.flipHorizontal) !== view.hflip || Boolean(cam.flipVertical) !== view.vflip) vp.setCamera({ flipHorizontal: view.hflip, flipVertical: view.vflip });
  target.scale = view.scale;
  target.translation = { x: view.translation.x, y: view.translation.y };
  // An empty camera change recomputes the CPU transform from those fields (and tells the listeners).
  vp.setCamera({});
  return true;
}

/**
 * CPU rendering: make the geometry put image pixel centres where the pixels are drawn.
 *
 * Cornerstone's CPU path draws pixel i over canvas-image coordinates [i, i+1)
 * but maps world <-> canvas with pixel i's centre at coordinate i, so every
 * point (measurements, the AI overlay, the orientation of a drag) sat half an
 * image pixel up-left of the drawn image (~0.6 px measured at 1:1), while WebGL
 * maps centres onto centres. Here the CPU mappings are shifted by half a pixel
 * along the image rows and columns, and the CPU image data's worldToIndex /
 * indexToWorld (which go through the canvas) compensate, so indices stay exact.
 * Returns false (and changes nothing) under GPU rendering or when Cornerstone's
 * internals are not the expected ones (the gpu-and-cpu E2E spec then fails).
 */
export function alignCpuPixelCentres(vp: StackViewport): boolean {
  if (aligned.has(vp)) return true;
  const internals = cpuInternals(vp);
  if (!internals || !internals.useCPURendering) return false;
  const worldToCanvas = internals.worldToCanvasCPU;
  const canvasToWorld = internals.canvasToWorldCPU;
  const getImageData = internals.getImageDataCPU.bind(vp);
  /** Half an image pixel along the row and column directions, in world units (null without image data). */
  const halfPixel = (): Types.Point3 | null => {
    const data = getImageData();
    if (!data) return null;
    const { spacing, direction } = data;
    return [0, 1, 2].map((a) => 0.5 * (direction[a]! * spacing[0]! + direction[3 + a]! * spacing[1]!)) as Types.Point3;
  };
  const worldToCanvasCPU = (world: Types.Point3): Types.Point2 => {
    const h = halfPixel();
    return worldToCanvas(h ? [world[0] + h[0], world[1] + h[1], world[2] + h[2]] : world);
  };
  const canvasToWorldCPU = (canvas: Types.Point2, out: Types.Point3 = [0, 0, 0]): Types.Point3 | undefined => {
    const world = canvasToWorld(canvas, out);
    const h = halfPixel();
    if (!world || !h) return world;
    for (let a = 0; a < 3; a++) world[a] = world[a]! - h[a]!;
    return world;
  };
  const getImageDataCPU = (): CpuImageData | undefined => {
    const data = getImageData();
    if (!data) return data;
    const { worldToIndex, indexToWorld } = data.imageData;
    data.imageData.worldToIndex = (world) => {
      const index = worldToIndex(world);
      return [index[0] - 0.5, index[1] - 0.5, index[2]];
    };
    data.imageData.indexToWorld = (index, out) => indexToWorld([index[0] + 0.5, index[1] + 0.5, index[2]], out);
    return data;
  };
  internals.worldToCanvasCPU = worldToCanvasCPU;
  internals.canvasToWorldCPU = canvasToWorldCPU;
  internals.getImageDataCPU = getImageDataCPU;
  internals.renderingPipelineFunctions.worldToCanvas!.cpu = worldToCanvasCPU;
  internals.renderingPipelineFunctions.canvasToWorld!.cpu = canvasToWorldCPU;
  internals.renderingPipelineFunctions.getImageData!.cpu = getImageDataCPU;
  internals._configureRenderingPipeline(true);
  aligned.add(vp);
  return true;
}
