/**
 * AI label maps as Cornerstone3D segmentations on the viewer's stack
 * viewports: one labelmap image per displayed frame, derived from (and
 * registered against) the frame's image id, filled pixel for pixel from the
 * stored label map (see labelmap-slices.ts). Cornerstone then draws them in
 * image space through its own actors, so they follow scroll, zoom, pan,
 * rotate and flip; colours come from the manifest through a colour LUT,
 * per-label visibility / fill / outline / opacity through the segmentation
 * style API, and brush / eraser edits go through BrushTool into the same
 * labelmap images, from where they are read back to be saved.
 *
 * Only for GPU rendering: in this Cornerstone version a CPU-rendered
 * StackViewport has no actors (getDefaultActor / addActors throw), so the
 * labelmap display cannot attach there; ViewportPane keeps drawing label maps
 * on its canvas overlay in CPU mode.
 *
 * A segmentation is shared by every viewport showing the same series and
 * removed (with its labelmap images and colour LUT) when the last one lets go.
 */
import { cache, Enums as CoreEnums, eventTarget, getEnabledElementByViewportId, imageLoader, metaData, type Types } from '@cornerstonejs/core';
import { Enums as ToolEnums, segmentation as csSegmentation, utilities as toolUtilities } from '@cornerstonejs/tools';
import type { FrameRef } from '../cornerstone/viewer-engine';
import { fillFramePlane, frameSlices, labelColorTable, type MaskShape, writeFramePlane } from './labelmap-slices';
import { effectiveLabelStyle, type OverlayLayer, type OverlayStyle } from './overlay-model';

export type SegmentationLayer = Extract<OverlayLayer, { kind: 'segmentation' }>;

const LABELMAP = ToolEnums.SegmentationRepresentations.Labelmap;
const DERIVED_PREFIX = 'vigil-labelmap:';
/** Outline width in screen pixels (fill mode draws it too, like the canvas fallback's brighter edge). */
const OUTLINE_WIDTH = 2;

interface LabelmapEntry {
  readonly segmentationId: string;
  readonly referencedImageIds: readonly string[];
  readonly derivedImageIds: readonly string[];
  readonly frameSize: readonly (readonly [number, number])[];
  readonly geometry: readonly FramePlaceholder[];
  readonly slices: Int32Array;
  readonly shape: MaskShape;
  readonly colorLUTIndex: number;
  readonly viewports: Set<string>;
  /** The stored array the labelmap images hold (null until it is loaded). */
  values: Uint8Array | null;
  /** `values` is the viewer's own copy (edits may go into it); otherwise it is the model's output and is never written. */
  ownsValues: boolean;
  /** New values wait to be announced until every viewport of the segmentation shows a loaded image (see holdLabelmapSync). */
  modifiedPending: boolean;
}

interface FramePlaceholder {
  readonly origin: Types.Point3 | undefined;
  readonly direction: number[] | undefined;
  readonly spacing: Types.Point2;
}

const entries = new Map<string, LabelmapEntry>();
const freeColorLUTs: number[] = [];
/** Labelmap image id → the image id of the frame it labels. */
const referencedOf = new Map<string, string>();

let installed = false;
/**
 * Labelmap images take their plane geometry (and series, for the modality)
 * from the frame they label, as Cornerstone itself reads it once that frame is
 * loaded: the labelmap lands on exactly the pixels of the image it labels.
 * Until then the placeholder geometry from the library's index answers.
 * Evicted labelmap images (the cache is bounded) are rebuilt from the stored
 * array the next time their frame is shown.
 */
function install(): void {
  if (installed) return;
  installed = true;
  metaData.addProvider((type: string, ...query: unknown[]) => {
    const id = query[0];
    if (typeof id !== 'string' || !id.startsWith(DERIVED_PREFIX)) return undefined;
    if (type !== 'imagePlaneModule' && type !== 'generalSeriesModule') return undefined;
    const ref = referencedOf.get(id);
    return ref ? (metaData.get(type, ref) as unknown) : undefined;
  }, 50_000);
}

function numbers(ds: string): number[] {
  return ds
    .split('\\')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isFinite(n));
}

function placeholder(frame: FrameRef): FramePlaceholder {
  const position = numbers(frame.instance.imagePositionPatient);
  const orientation = numbers(frame.instance.imageOrientationPatient);
  const spacing = numbers(frame.instance.pixelSpacing);
  const ok = (n: number | undefined) => n !== undefined && n > 0;
  return {
    origin: position.length === 3 ? [position[0]!, position[1]!, position[2]!] : undefined,
    direction: orientation.length === 6 ? orientation : undefined,
    // PixelSpacing is (row, column); the local image wants (column, row).
    spacing: ok(spacing[0]) && ok(spacing[1]) ? [spacing[1]!, spacing[0]!] : [1, 1],
  };
}

/** One labelmap image (zeros, or the stored plane when the values are there). */
function createLabelmapImage(entry: LabelmapEntry, i: number): void {
  const id = entry.derivedImageIds[i]!;
  if (cache.getImage(id)) return;
  const [rows, cols] = entry.frameSize[i]!;
  const g = entry.geometry[i]!;
  const scalarData = new Uint8Array(rows * cols);
  if (entry.values) fillFramePlane(entry.values, entry.shape, entry.slices[i]!, scalarData, rows, cols);
  imageLoader.createAndCacheLocalImage(id, {
    scalarData,
    dimensions: [cols, rows],
    spacing: g.spacing,
    ...(g.origin ? { origin: g.origin } : {}),
    ...(g.direction ? { direction: g.direction as Types.Mat3 } : {}),
    referencedImageId: entry.referencedImageIds[i]!,
    targetBuffer: { type: 'Uint8Array' },
  });
}

/** The segmentation id of a label map layer on a series of `frameCount` frames. */
export function labelmapSegmentationId(layer: SegmentationLayer, frameCount: number): string {
  return `vigil-seg:${layer.resultId}:${layer.originalFile}:${frameCount}`;
}

/** Adds (creating on first use) the layer's segmentation to a stack viewport showing `frames`. */
export function attachLabelmap(viewportId: string, layer: SegmentationLayer, frames: readonly FrameRef[]): string {
  install();
  const segmentationId = labelmapSegmentationId(layer, frames.length);
  let entry = entries.get(segmentationId);
  if (!entry) {
    const referencedImageIds = frames.map((f) => f.imageId);
    const derivedImageIds = frames.map((_, i) => `${DERIVED_PREFIX}${segmentationId}:${i}`);
    derivedImageIds.forEach((id, i) => referencedOf.set(id, referencedImageIds[i]!));
    const [, maskRows, maskCols] = layer.array.shape;
    const table = labelColorTable(layer.labels);
    entry = {
      segmentationId,
      referencedImageIds,
      derivedImageIds,
      frameSize: frames.map((f) => [f.instance.rows ?? maskRows, f.instance.columns ?? maskCols] as const),
      geometry: frames.map(placeholder),
      slices: frameSlices(
        frames.map((f) => ({ sopInstanceUid: f.instance.sopInstanceUid, frame: f.frame })),
        layer.inputSopInstanceUids,
      ),
      shape: layer.array.shape,
      colorLUTIndex: csSegmentation.config.color.addColorLUT(table.map((c) => [...c]) as Types.ColorLUT, freeColorLUTs.pop()),
      viewports: new Set(),
      values: null,
      ownsValues: false,
      modifiedPending: false,
    };
    entries.set(segmentationId, entry);
    for (let i = 0; i < derivedImageIds.length; i++) createLabelmapImage(entry, i);
    const segments: Record<number, { label: string }> = {};
    for (const l of layer.labels) if (l.index > 0) segments[l.index] = { label: l.name };
    csSegmentation.addSegmentations([
      {
        segmentationId,
        representation: { type: LABELMAP, data: { imageIds: [...derivedImageIds], referencedImageIds: [...referencedImageIds] } },
        config: { label: layer.modelId, segments },
      },
    ]);
  }
  if (!entry.viewports.has(viewportId)) {
    entry.viewports.add(viewportId);
    csSegmentation.addLabelmapRepresentationToViewport(viewportId, [{ segmentationId, config: { colorLUTOrIndex: entry.colorLUTIndex } }]);
    // Every AI label map of the viewport is drawn, not only the one being edited.
    csSegmentation.config.style.setRenderInactiveSegmentations(viewportId, true);
  }
  return segmentationId;
}

/** Removes the segmentation from a viewport; the last viewport to let go frees it. */
export function detachLabelmap(viewportId: string, segmentationId: string): void {
  const entry = entries.get(segmentationId);
  if (!entry) return;
  if (entry.viewports.delete(viewportId)) {
    try {
      csSegmentation.removeLabelmapRepresentation(viewportId, segmentationId, true);
    } catch {
      /* the viewport is already gone */
    }
  }
  if (entry.viewports.size > 0) return;
  entries.delete(segmentationId);
  csSegmentation.removeSegmentation(segmentationId);
  // This Cornerstone version exports no way to remove a colour LUT: its slot is reused by the next label map.
  freeColorLUTs.push(entry.colorLUTIndex);
  for (const id of entry.derivedImageIds) {
    referencedOf.delete(id);
    if (cache.getImage(id)) cache.removeImageLoadObject(id, { force: true });
  }
}

/**
 * Fills every labelmap image from a stored label map (no-op when they already
 * hold this very array, e.g. the reviewed copy the viewer just saved, or when
 * the model's array comes again while the viewer's edited copy is shown).
 */
export function setLabelmapValues(segmentationId: string, values: Uint8Array, ownedByViewer = false): void {
  const entry = entries.get(segmentationId);
  if (!entry || entry.values === values) return;
  // The model's array again (another layer's array loaded, the viewport re-attached) while the viewer's edited copy is
  // shown: the copy holds the model's mask plus the reader's edits, and goes only for the reviewed mask.
  if (entry.ownsValues && !ownedByViewer) return;
  entry.values = values;
  entry.ownsValues = ownedByViewer;
  entry.derivedImageIds.forEach((id, i) => {
    const image = cache.getImage(id);
    if (!image) {
      createLabelmapImage(entry, i);
      return;
    }
    const [rows, cols] = entry.frameSize[i]!;
    const data = image.voxelManager?.getScalarData() as Uint8Array | undefined;
    if (!data) return;
    fillFramePlane(values, entry.shape, entry.slices[i]!, data, rows, cols);
  });
  announceModified(entry);
}

/**
 * Whether Cornerstone can sync labelmaps on the viewport now: its current image's file has been read (a wadouri image
 * has no metadata before that, and the sync reads the image's plane and pixel modules).
 */
function imageReady(viewportId: string): boolean {
  const vp = getEnabledElementByViewportId(viewportId)?.viewport as Types.IStackViewport | undefined;
  const imageId = vp?.getCurrentImageId?.();
  return !imageId || metaData.get('imagePixelModule', imageId) !== undefined;
}

/** SEGMENTATION_DATA_MODIFIED (which syncs every viewport of the segmentation at once), or later when one is not ready. */
function announceModified(entry: LabelmapEntry): void {
  entry.modifiedPending = ![...entry.viewports].every(imageReady);
  if (!entry.modifiedPending) csSegmentation.triggerSegmentationEvents.triggerSegmentationDataModified(entry.segmentationId);
}

/** A held PRE_STACK_NEW_IMAGE, dispatched again (it passes the hold). */
class HeldEvent extends CustomEvent<unknown> {}

/**
 * Holds Cornerstone's labelmap sync of a stack viewport until its new image is loaded.
 *
 * Cornerstone syncs a stack viewport's labelmap actors on PRE_STACK_NEW_IMAGE, i.e. as soon as a new image index is
 * set and before that image is loaded; the sync matches labelmap images to the current image by its plane and places
 * them with its pixel metadata. A wadouri image has no metadata until its file is read, so a jump (or a fast scroll)
 * to a slice not fetched yet would throw there. For such an image the event is held here (the segmentation sync is
 * its only listener) and dispatched again once the image is loaded (STACK_NEW_IMAGE, before that image is drawn);
 * label map values that changed meanwhile are announced then too. Returns the cleanup.
 */
export function holdLabelmapSync(element: HTMLElement, viewportId: string): () => void {
  let held: unknown = null;
  const onPreNewImage = (evt: Event) => {
    const detail = (evt as CustomEvent<{ imageId?: string; imageIdIndex?: number }>).detail;
    // Cornerstone's sync skips a labelmap image the bounded cache evicted (the frame would show no label map
    // until the next render): rebuild it first, from the stored map.
    if (detail?.imageId) rebuildEvictedFor(viewportId, detail.imageId, detail.imageIdIndex);
    if (evt instanceof HeldEvent) return;
    const imageId = detail?.imageId;
    if (!imageId || metaData.get('imagePixelModule', imageId) !== undefined || ![...entries.values()].some((e) => e.viewports.has(viewportId))) {
      held = null;
      return;
    }
    evt.stopImmediatePropagation();
    held = (evt as CustomEvent<unknown>).detail;
  };
  const onNewImage = (evt: Event) => {
    const imageId = (evt as CustomEvent<{ imageId?: string }>).detail?.imageId;
    const vp = getEnabledElementByViewportId(viewportId)?.viewport as Types.IStackViewport | undefined;
    if (held === null || !imageId || vp?.getCurrentImageId() !== imageId || !imageReady(viewportId)) return;
    const detail = held;
    held = null;
    element.dispatchEvent(new HeldEvent(CoreEnums.Events.PRE_STACK_NEW_IMAGE, { detail, cancelable: true }));
    for (const entry of entries.values()) if (entry.modifiedPending && entry.viewports.has(viewportId)) announceModified(entry);
  };
  element.addEventListener(CoreEnums.Events.PRE_STACK_NEW_IMAGE, onPreNewImage, { capture: true });
  element.addEventListener(CoreEnums.Events.STACK_NEW_IMAGE, onNewImage);
  return () => {
    element.removeEventListener(CoreEnums.Events.PRE_STACK_NEW_IMAGE, onPreNewImage, { capture: true });
    element.removeEventListener(CoreEnums.Events.STACK_NEW_IMAGE, onNewImage);
  };
}

/** Rebuilds the labelmap images of `imageId` (frame `index` when known) on a viewport's segmentations if they were evicted. */
function rebuildEvictedFor(viewportId: string, imageId: string, index: number | undefined): void {
  for (const entry of entries.values()) {
    if (!entry.viewports.has(viewportId)) continue;
    const i = index !== undefined && entry.referencedImageIds[index] === imageId ? index : entry.referencedImageIds.indexOf(imageId);
    if (i >= 0 && !cache.getImage(entry.derivedImageIds[i]!)) createLabelmapImage(entry, i);
  }
}

/** Rebuilds the labelmap image of a frame if the bounded cache evicted it (before it is shown). */
export function ensureLabelmapFrame(segmentationId: string, frameIndex: number): void {
  const entry = entries.get(segmentationId);
  if (!entry || frameIndex < 0 || frameIndex >= entry.derivedImageIds.length || cache.getImage(entry.derivedImageIds[frameIndex]!)) return;
  createLabelmapImage(entry, frameIndex);
  toolUtilities.segmentation.triggerSegmentationRenderBySegmentationId(segmentationId);
}

/**
 * The overlay style on a segmentation: whole-overlay visibility per
 * viewport, per-label visibility, fill or outline only and fill opacity.
 */
export function styleLabelmap(viewportId: string, segmentationId: string, layer: SegmentationLayer, style: OverlayStyle): void {
  if (!entries.get(segmentationId)?.viewports.has(viewportId)) return;
  const specifier = { segmentationId, type: LABELMAP };
  csSegmentation.config.style.setStyle(
    specifier,
    {
      renderOutline: true,
      renderOutlineInactive: true,
      outlineWidth: OUTLINE_WIDTH,
      outlineWidthInactive: OUTLINE_WIDTH,
      outlineOpacity: Math.max(style.opacity, 0.8),
      outlineOpacityInactive: Math.max(style.opacity, 0.8),
      renderFill: style.fill,
      renderFillInactive: style.fill,
      fillAlpha: style.opacity,
      fillAlphaInactive: style.opacity,
    },
    true,
  );
  // The representation's visibility sets every segment's: it goes first, the per-label choices after it.
  csSegmentation.config.visibility.setSegmentationRepresentationVisibility(viewportId, specifier, style.visible);
  for (const l of layer.labels) {
    if (l.index === 0) continue;
    const look = effectiveLabelStyle(style, layer.resultId, l.index);
    csSegmentation.config.style.setStyle(
      { ...specifier, segmentIndex: l.index },
      { renderFill: look.fill, renderFillInactive: look.fill, fillAlpha: look.opacity, fillAlphaInactive: look.opacity },
      true,
    );
    if (style.visible) csSegmentation.config.visibility.setSegmentIndexVisibility(viewportId, specifier, l.index, look.visible);
  }
  toolUtilities.segmentation.triggerSegmentationRender(viewportId);
}

/** Makes the segmentation the target of BrushTool in a viewport, painting `label`. */
export function activateLabelmapEditing(viewportId: string, segmentationId: string, label: number): void {
  if (!entries.get(segmentationId)?.viewports.has(viewportId)) return;
  csSegmentation.activeSegmentation.setActiveSegmentation(viewportId, segmentationId);
  csSegmentation.segmentIndex.setActiveSegmentIndex(segmentationId, label);
}

/**
 * Reads the labelmap images of `frameIndices` back into the stored label map.
 * The model's own array is never written: the first edit copies it. Returns
 * the array now holding the edits, the stored slices that changed, and each
 * such slice's plane as it was before (to undo a stroke that was not saved).
 */
export function collectLabelmapEdits(segmentationId: string, frameIndices: Iterable<number>): { values: Uint8Array; slices: number[]; before: Map<number, Uint8Array> } | null {
  const entry = entries.get(segmentationId);
  if (!entry?.values) return null;
  const changed = new Set<number>();
  const before = new Map<number, Uint8Array>();
  for (const i of frameIndices) {
    const slice = entry.slices[i] ?? -1;
    const image = slice >= 0 ? cache.getImage(entry.derivedImageIds[i]!) : undefined;
    if (!image) continue;
    const edited = image.voxelManager?.getScalarData() as Uint8Array | undefined;
    if (!edited) continue;
    const [, rows, cols] = entry.shape;
    const start = slice * rows * cols;
    if (edited.length !== rows * cols) continue;
    if (!entry.ownsValues) {
      // Copy the model's array only for a slice that really differs; once copied, writeFramePlane's count decides.
      if (entry.values.subarray(start, start + rows * cols).every((v, k) => v === edited[k])) continue;
      entry.values = entry.values.slice();
      entry.ownsValues = true;
    }
    const previous = before.get(slice) ?? entry.values.slice(start, start + rows * cols);
    if (writeFramePlane(entry.values, entry.shape, slice, edited) > 0) {
      changed.add(slice);
      before.set(slice, previous);
    }
  }
  return changed.size > 0 ? { values: entry.values, slices: [...changed].sort((a, b) => a - b), before } : null;
}

/**
 * Puts `plane` back as stored slice `slice`: into the viewer's copy of the label map and into every labelmap image
 * showing that slice (a stroke the store refused is undone on screen).
 */
export function restoreLabelmapSlice(segmentationId: string, slice: number, plane: Uint8Array): void {
  const entry = entries.get(segmentationId);
  const [, rows, cols] = entry?.shape ?? [0, 0, 0];
  if (!entry?.values || plane.length !== rows * cols) return;
  // The model's own array is never written (it already holds what the store has).
  if (entry.ownsValues) entry.values.set(plane, slice * rows * cols);
  entry.slices.forEach((s, i) => {
    if (s !== slice) return;
    const data = cache.getImage(entry.derivedImageIds[i]!)?.voxelManager?.getScalarData() as Uint8Array | undefined;
    const [frameRows, frameCols] = entry.frameSize[i]!;
    if (data && frameRows === rows && frameCols === cols && data.length === plane.length) data.set(plane);
  });
  announceModified(entry);
}

export const SEGMENTATION_RENDERED = ToolEnums.Events.SEGMENTATION_RENDERED;
export const SEGMENTATION_DATA_MODIFIED = ToolEnums.Events.SEGMENTATION_DATA_MODIFIED;
export { eventTarget as labelmapEvents };
