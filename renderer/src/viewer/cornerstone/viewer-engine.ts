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

export function flip(vp: StackViewport, direction: 'h' | 'v'): void {
  const cam = vp.getCamera();
  vp.setCamera(direction === 'h' ? { flipHorizontal: !cam.flipHorizontal } : { flipVertical: !cam.flipVertical });
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
