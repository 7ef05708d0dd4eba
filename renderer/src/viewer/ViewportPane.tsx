/**
 * One reading viewport: a Cornerstone3D stack viewport for one series, with
 * corner overlays, orientation markers, a drop target for thumbnails and the
 * AI overlays of its series: label maps as Cornerstone segmentations (GPU
 * rendering; edited with BrushTool), heatmaps and boxes on a canvas laid over
 * the viewport — and label maps there too under CPU rendering, where this
 * Cornerstone version cannot attach labelmaps to a stack viewport.
 */
import { type StackViewport, cache, eventTarget, utilities } from '@cornerstonejs/core';
import { useEffect, useRef, useState } from 'react';
import type { InstanceSummary, SeriesSummary, StudySummary } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';
import { t } from '../i18n/strings';
import { formatDicomDate, formatPersonName } from '../lib/format';
import {
  alignCpuPixelCentres,
  type CpuView,
  cpuView,
  disablePrefetch,
  displayZoom,
  enablePrefetch,
  scrollBy,
  setCpuView,
  setLabelmapBrush,
  Events,
  type FrameRef,
  framesFor,
  screenAxes,
  stackViewport,
  viewerEngine,
  viewerToolGroup,
  ViewportType,
} from './cornerstone/viewer-engine';
import {
  activateLabelmapEditing,
  attachLabelmap,
  collectLabelmapEdits,
  detachLabelmap,
  ensureLabelmapFrame,
  holdLabelmapSync,
  labelmapEvents,
  restoreLabelmapSlice,
  SEGMENTATION_DATA_MODIFIED,
  SEGMENTATION_RENDERED,
  type SegmentationLayer,
  setLabelmapValues,
  styleLabelmap,
} from './ai/labelmap-segmentation';
import { storedPlane } from './ai/labelmap-slices';
import type { StrokeEdit } from './ai/mask-edit-saver';
import { drawOverlays, type ImageToCanvas, invalidateSlices } from './ai/overlay-draw';
import { canvasToImage, layerShown, type OverlayLayer, type OverlayStyle, paintDisc } from './ai/overlay-model';
import { loadResultArray, rememberArray } from './ai/result-arrays';
import { markersFor, type OrientationMarkers } from './orientation';
import { rangeToWindow } from './presets';
import { NON_IMAGE_LABEL, nonImageKind } from './series-kind';

export const SERIES_DRAG_TYPE = 'application/x-vigil-series';

export interface PaneInfo {
  readonly frames: readonly FrameRef[];
  readonly modality: string;
}

interface Props {
  readonly slot: number;
  readonly study: StudySummary;
  readonly series: SeriesSummary | null;
  readonly instances: readonly InstanceSummary[] | null;
  readonly active: boolean;
  readonly rendering: 'gpu' | 'cpu';
  readonly onActivate: (slot: number) => void;
  readonly onDropSeries: (slot: number, seriesUid: string) => void;
  readonly onLoaded: (slot: number, info: PaneInfo | null) => void;
  /** AI overlay layers of this study (the pane draws those of its series). */
  readonly aiLayers?: readonly OverlayLayer[];
  readonly aiStyle?: OverlayStyle;
  /** Brush / eraser on a label map: left-drag paints on the displayed slice. */
  readonly aiEdit?: LabelEditTool | null;
  /** A stroke ended: the edited slice of the layer's (reviewed) mask, to save. */
  /** A finished stroke changed stored slice `slice` of `values`; `edit` undoes it on screen if it cannot be saved. */
  readonly onAiEdited?: (layer: OverlayLayer, slice: number, values: Uint8Array, edit: StrokeEdit) => void;
}

export interface LabelEditTool {
  readonly tool: 'brush' | 'eraser';
  /** Label index the brush paints. */
  readonly label: number;
  /** Radius in image pixels. */
  readonly radius: number;
  readonly layerKey: string;
}

const NO_LAYERS: readonly OverlayLayer[] = [];

const isSegmentation = (l: OverlayLayer): l is SegmentationLayer => l.kind === 'segmentation';
/** A label map's identity across its original and reviewed versions (the layer key gains ":reviewed"). */
const labelmapBase = (l: SegmentationLayer): string => `${l.resultId}:${l.originalFile}`;
const HIDDEN_STYLE: OverlayStyle = { visible: false, opacity: 0.5, fill: true, hiddenLabels: new Set() };

interface OverlayState {
  index: number;
  count: number;
  center: number | null;
  width: number | null;
  /** null until an image is displayed (a CPU-rendered viewport has no scale before its first image). */
  zoom: number | null;
  markers: OrientationMarkers | null;
}

export function viewportIdFor(slot: number): string {
  return `vigil-vp-${slot}`;
}

/** A reader's view of a stack: Cornerstone's view presentation and camera, and the window and inversion they chose. */
interface SavedView {
  readonly series: string;
  readonly presentation: ReturnType<StackViewport['getViewPresentation']>;
  /** CPU rendering: the view as drawn (its camera does not round-trip once rotated or flipped); null under WebGL. */
  readonly cpu: CpuView | null;
  /** The window the reader set (W/L drag, a preset); null while the images' own windows show. */
  readonly voiRange: { lower: number; upper: number } | null;
  readonly invert: boolean;
}

function saveView(vp: StackViewport, series: string): SavedView | null {
  try {
    if (!vp.getCurrentImageId()) return null;
    const props = vp.getProperties();
    const voiRange = props.voiRange && readerWindow(vp, props.voiRange) ? { lower: props.voiRange.lower, upper: props.voiRange.upper } : null;
    return { series, presentation: vp.getViewPresentation(), cpu: cpuView(vp), voiRange, invert: Boolean(props.invert) };
  } catch {
    return null;
  }
}

/**
 * Whether the window shown is the reader's (a W/L drag, a preset) rather than the image's own: Cornerstone says so
 * under GPU rendering; its CPU path never does, so there a window other than the image's own counts as the reader's.
 */
function readerWindow(vp: StackViewport, range: { lower: number; upper: number }): boolean {
  if (!vp.getProperties().isComputedVOI) return true;
  const image = vp.getCornerstoneImage();
  if (!image) return false;
  const own = utilities.getVOIRangeFromWindowLevel(image.windowWidth, image.windowCenter, image.voiLUTFunction);
  return !own || Math.abs(own.lower - range.lower) > 1e-6 || Math.abs(own.upper - range.upper) > 1e-6;
}

/**
 * Shows a saved view on a new stack of the same series (rendered by the caller). WebGL: Cornerstone's view
 * presentation (as it keeps the view from image to image). CPU rendering: the view as drawn (cpuView), since the CPU
 * path's presentation and camera misplace the pan.
 */
function restoreView(vp: StackViewport, saved: SavedView): void {
  if (!saved.cpu || !setCpuView(vp, saved.cpu)) vp.setViewPresentation(saved.presentation);
  if (saved.voiRange) vp.setProperties({ voiRange: saved.voiRange });
  if (saved.invert !== Boolean(vp.getProperties().invert)) vp.setProperties({ invert: saved.invert });
}

/** Index of the frame shown before (same instance and frame; else the instance's first frame), -1 when gone. */
function resumeIndex(frames: readonly FrameRef[], shown: { sopInstanceUid: string; frame: number }): number {
  const exact = frames.findIndex((f) => f.instance.sopInstanceUid === shown.sopInstanceUid && f.frame === shown.frame);
  return exact >= 0 ? exact : frames.findIndex((f) => f.instance.sopInstanceUid === shown.sopInstanceUid);
}

function fmt(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

export function ViewportPane({ slot, study, series, instances, active, rendering, onActivate, onDropSeries, onLoaded, aiLayers = NO_LAYERS, aiStyle = HIDDEN_STYLE, aiEdit = null, onAiEdited }: Props) {
  const { vigil, reportError } = useAppServices();
  const element = useRef<HTMLDivElement>(null);
  const aiCanvas = useRef<HTMLCanvasElement>(null);
  const [aiArrays, setAiArrays] = useState<ReadonlyMap<string, Uint8Array | Float32Array>>(new Map());
  const seriesUid = series?.seriesInstanceUid ?? '';
  const layers = aiLayers.filter((l) => l.seriesInstanceUid === seriesUid);
  const layerKeys = layers.map((l) => l.key).join(',');
  const gpu = rendering === 'gpu';
  // Under GPU rendering label maps are Cornerstone segmentations; the canvas draws the rest.
  const segLayers = gpu ? layers.filter(isSegmentation) : [];
  const segKey = segLayers.map(labelmapBase).join(',');
  const canvasLayers = layers.filter((l) => layerShown(l, aiStyle) && !(gpu && l.kind === 'segmentation'));
  // The latest overlay inputs, read by the redraw that runs on every render of the viewport.
  const aiState = useRef({ all: layers, layers: canvasLayers, segLayers, arrays: aiArrays, style: aiStyle });
  aiState.current = { all: layers, layers: canvasLayers, segLayers, arrays: aiArrays, style: aiStyle };
  /** Segmentation id per label map (labelmapBase) attached to this viewport. */
  const attached = useRef<ReadonlyMap<string, string>>(new Map());
  const [attachTick, setAttachTick] = useState(0);
  const detachAll = useRef<() => void>(() => undefined);
  const [stackKey, setStackKey] = useState('');
  const redrawAi = useRef<() => void>(() => undefined);
  const [overlay, setOverlay] = useState<OverlayState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [frames, setFrames] = useState<FrameRef[]>([]);
  const [dragOver, setDragOver] = useState(false);
  const viewportId = viewportIdFor(slot);

  const imageFrames = instances ? framesFor(instances, (uid) => vigil.instanceUrl(uid)) : null;
  const firstInstance = instances?.[0];
  const nonImage = instances && imageFrames?.length === 0 && firstInstance ? (nonImageKind(firstInstance.sopClassUid, series?.modality) ?? 'OTHER') : null;
  const key = series ? `${series.seriesInstanceUid}:${instances?.length ?? -1}` : '';
  // The image shown (its frame in a multi-frame instance), so that images arriving in the series (a new stack) keep
  // the reader on it.
  const shown = useRef<{ series: string; sopInstanceUid: string; frame: number } | null>(null);
  // The reader's view of the last stack (zoom, pan, rotation, flips; the window they set, inversion), taken when it is
  // taken down: a new stack of the same series (images arrived) shows it again; another series starts afresh.
  const view = useRef<SavedView | null>(null);

  useEffect(() => {
    // Before any early return: a pane that moved on to another series (one without images too, or not listed yet, or
    // whose stack never loaded) forgets the frame and view it kept, so coming back starts afresh.
    const paneSeries = series?.seriesInstanceUid ?? null;
    if (shown.current && shown.current.series !== paneSeries) shown.current = null;
    if (view.current && view.current.series !== paneSeries) view.current = null;
    const el = element.current;
    if (!el || !imageFrames || imageFrames.length === 0) {
      setFrames([]);
      setOverlay(null);
      return;
    }
    let disposed = false;
    const engine = viewerEngine();
    engine.enableElement({ viewportId, element: el, type: ViewportType.STACK, defaultOptions: { background: [0, 0, 0] } });
    const group = viewerToolGroup();
    group.addViewport(viewportId, engine.id);
    const vp = stackViewport(viewportId) as StackViewport;
    // CPU rendering: pixel centres where they are drawn, as on WebGL (measurements, overlays, the zoom readout).
    if (rendering === 'cpu') alignCpuPixelCentres(vp);
    setFrames(imageFrames);
    setError(null);

    let raf = 0;
    const refresh = () => {
      if (raf) return;
      raf = requestAnimationFrame(() => {
        raf = 0;
        if (disposed) return;
        const props = vp.getProperties();
        const win = props.voiRange ? rangeToWindow(props.voiRange) : null;
        const hasOrientation = Boolean(imageFrames[vp.getCurrentImageIdIndex()]?.instance.imageOrientationPatient);
        const axes = hasOrientation ? screenAxes(vp) : null;
        setOverlay({
          index: vp.getCurrentImageIdIndex(),
          count: vp.getImageIds().length,
          center: win?.center ?? null,
          width: win?.width ?? null,
          zoom: displayZoom(vp),
          markers: axes ? markersFor(axes.right, axes.down) : null,
        });
      });
    };
    const redraw = () => {
      const canvas = aiCanvas.current;
      if (disposed || !canvas || vp.getImageIds().length === 0) return;
      const frame = imageFrames[vp.getCurrentImageIdIndex()];
      const { layers: drawLayers, arrays, style } = aiState.current;
      const { drawn, transform } = drawOverlays({ vp, canvas, sopInstanceUid: frame?.instance.sopInstanceUid ?? null, frame: frame?.frame ?? 0, layers: drawLayers, arrays, style });
      canvas.dataset.drawn = drawn.join(',');
      canvas.dataset.transform = transform ? JSON.stringify(transform) : '';
      canvas.dataset.sop = frame?.instance.sopInstanceUid ?? '';
      canvas.dataset.frame = String(frame?.frame ?? 0);
      canvas.dataset.draws = String(Number(canvas.dataset.draws ?? '0') + 1);
    };
    redrawAi.current = redraw;
    const onRendered = () => {
      el.dataset.rendered = String(Number(el.dataset.rendered ?? '0') + 1);
      el.dataset.imageIndex = String(vp.getCurrentImageIdIndex());
      const at = imageFrames[vp.getCurrentImageIdIndex()];
      if (series && at) shown.current = { series: series.seriesInstanceUid, sopInstanceUid: at.instance.sopInstanceUid, frame: at.frame };
      redraw();
      refresh();
    };
    const onFailed = (evt: Event) => {
      const detail = (evt as CustomEvent<{ error?: { message?: string } | string; imageId?: string }>).detail;
      if (detail?.imageId && !vp.getImageIds().includes(detail.imageId)) return;
      const message = typeof detail?.error === 'string' ? detail.error : (detail?.error?.message ?? 'decode failed');
      setError(message);
    };
    el.addEventListener(Events.IMAGE_RENDERED, onRendered);
    el.addEventListener(Events.VOI_MODIFIED, refresh);
    el.addEventListener(Events.CAMERA_MODIFIED, refresh);
    // A labelmap image the bounded cache evicted is rebuilt from the stored map before its frame shows.
    const onNewImage = () => {
      for (const id of attached.current.values()) ensureLabelmapFrame(id, vp.getCurrentImageIdIndex());
      refresh();
    };
    const onSegRendered = (evt: Event) => {
      if ((evt as CustomEvent<{ viewportId?: string }>).detail?.viewportId !== viewportId) return;
      el.dataset.segRenders = String(Number(el.dataset.segRenders ?? '0') + 1);
    };
    el.addEventListener(Events.STACK_NEW_IMAGE, onNewImage);
    // After onNewImage: a held labelmap sync runs once the new image is loaded, with its labelmap image rebuilt.
    const releaseHold = holdLabelmapSync(el, viewportId);
    eventTarget.addEventListener(Events.IMAGE_LOAD_FAILED, onFailed);
    labelmapEvents.addEventListener(SEGMENTATION_RENDERED, onSegRendered);

    const before = shown.current;
    const resumeAt = before && before.series === series?.seriesInstanceUid ? resumeIndex(imageFrames, before) : -1;
    // The view to show again: only a stack of the series it was taken from (a new series starts at its own fit).
    const keep = view.current && view.current.series === series?.seriesInstanceUid ? view.current : null;
    let loaded = false;
    vp.setStack(
      imageFrames.map((f) => f.imageId),
      Math.max(0, resumeAt),
    ).then(
      () => {
        if (disposed) return;
        loaded = true;
        if (keep) {
          try {
            restoreView(vp, keep);
          } catch {
            /* the new stack keeps its own fit and window */
          }
        }
        // Prefetch around the current image in both directions: what fits comfortably in the cache, at most 40
        // each side (well ahead of reading speed; deeper prefetch after a big jump only piles up requests and memory).
        const first = vp.getImageData?.();
        const bytesPerImage = Math.max(1, (first?.dimensions?.[0] ?? 512) * (first?.dimensions?.[1] ?? 512) * 4);
        const fit = Math.floor((cache.getMaxCacheSize() * 0.6) / bytesPerImage);
        enablePrefetch(el, Math.max(4, Math.min(40, Math.floor(fit / 2))));
        vp.render();
        refresh();
        setStackKey(key);
        onLoaded(slot, { frames: imageFrames, modality: series?.modality ?? '' });
      },
      (err: unknown) => {
        if (!disposed) setError(err instanceof Error ? err.message : String(err));
      },
    );
    // Only a real change of size: the observer also reports the size it starts with, and Cornerstone's resize takes the
    // camera and sets it back, which under CPU rendering mirrors the pan of a rotated and flipped view (kept below).
    let size = `${el.clientWidth}×${el.clientHeight}`;
    const resize = new ResizeObserver(() => {
      if (disposed) return;
      const now = `${el.clientWidth}×${el.clientHeight}`;
      if (now === size) return;
      size = now;
      // Under CPU rendering the view as drawn is kept through it (the new zoom is Cornerstone's, for the new size).
      const before = cpuView(vp);
      engine.resize(true, true);
      const after = before && cpuView(vp);
      if (before && after) setCpuView(vp, { ...before, scale: after.scale });
      refresh();
    });
    resize.observe(el);
    return () => {
      disposed = true;
      // A stack that never showed an image leaves the view taken from the one before it.
      if (loaded && series) view.current = saveView(vp, series.seriesInstanceUid);
      // Segmentation representations go before the viewport does (Cornerstone keeps them per viewport id).
      detachAll.current();
      setStackKey('');
      redrawAi.current = () => undefined;
      if (raf) cancelAnimationFrame(raf);
      resize.disconnect();
      el.removeEventListener(Events.IMAGE_RENDERED, onRendered);
      el.removeEventListener(Events.VOI_MODIFIED, refresh);
      el.removeEventListener(Events.CAMERA_MODIFIED, refresh);
      el.removeEventListener(Events.STACK_NEW_IMAGE, onNewImage);
      releaseHold();
      eventTarget.removeEventListener(Events.IMAGE_LOAD_FAILED, onFailed);
      labelmapEvents.removeEventListener(SEGMENTATION_RENDERED, onSegRendered);
      disablePrefetch(el);
      try {
        group.removeViewports(engine.id, viewportId);
      } catch {
        /* already gone */
      }
      engine.disableElement(viewportId);
      delete el.dataset.rendered;
      delete el.dataset.segRenders;
      onLoaded(slot, null);
    };
    // imageFrames is derived from `key` (series + instances).
  }, [key, viewportId]);

  // Result arrays (label maps, heatmaps) of the layers on this series, fetched by URL.
  useEffect(() => {
    let stale = false;
    // Every layer of the series, drawn or not yet (a negative finding's heatmap can be asked for later).
    for (const layer of aiState.current.all) {
      if (layer.kind === 'detection') continue;
      const url = vigil.resultUrl(layer.resultId, layer.array.file);
      loadResultArray(url, layer.array).then(
        (values) => {
          rememberArray(url, values);
          if (!stale) setAiArrays((m) => (m.get(layer.key) === values ? m : new Map(m).set(layer.key, values)));
        },
        (err: unknown) => !stale && reportError({ code: 'IO_ERROR', message: `AI overlay: ${err instanceof Error ? err.message : String(err)}` }),
      );
    }
    return () => {
      stale = true;
    };
  }, [vigil, reportError, layerKeys]);

  useEffect(() => redrawAi.current(), [aiArrays, aiStyle, layerKeys]);

  // Label maps as Cornerstone segmentations on this viewport, once its stack is set (GPU rendering).
  useEffect(() => {
    if (!gpu || stackKey !== key || frames.length === 0) return;
    const ids = new Map<string, string>();
    for (const layer of aiState.current.segLayers) ids.set(labelmapBase(layer), attachLabelmap(viewportId, layer, frames));
    attached.current = ids;
    const detach = () => {
      for (const id of ids.values()) detachLabelmap(viewportId, id);
      if (attached.current === ids) attached.current = new Map();
      detachAll.current = () => undefined;
    };
    detachAll.current = detach;
    element.current?.setAttribute('data-labelmaps', aiState.current.segLayers.map((l) => l.key).join(','));
    setAttachTick((n) => n + 1);
    return () => {
      detach();
      element.current?.setAttribute('data-labelmaps', '');
    };
  }, [gpu, stackKey, key, segKey, viewportId, frames]);

  // Their voxels: the stored label map (the reviewed copy once edited), and their look.
  useEffect(() => {
    const keys: string[] = [];
    for (const layer of aiState.current.segLayers) {
      const id = attached.current.get(labelmapBase(layer));
      const values = aiArrays.get(layer.key);
      if (!id || !(values instanceof Uint8Array)) continue;
      setLabelmapValues(id, values, layer.key.endsWith(':reviewed'));
      keys.push(layer.key);
    }
    element.current?.setAttribute('data-labelmaps-filled', keys.join(','));
  }, [aiArrays, attachTick, layerKeys]);
  useEffect(() => {
    for (const layer of aiState.current.segLayers) {
      const id = attached.current.get(labelmapBase(layer));
      if (id) styleLabelmap(viewportId, id, layer, aiStyle);
    }
  }, [aiStyle, attachTick, layerKeys, viewportId]);

  // Brush / eraser strokes on the label map of this pane's series.
  // The layer key gains ":reviewed" once the first edit is saved; the tool keeps working on it.
  const editLayer = aiEdit ? layers.find((l) => (l.key === aiEdit.layerKey || l.key === `${aiEdit.layerKey}:reviewed`) && l.kind === 'segmentation') : undefined;
  const latestEditLayer = useRef(editLayer);
  latestEditLayer.current = editLayer;
  const latestOnEdited = useRef(onAiEdited);
  latestOnEdited.current = onAiEdited;
  const editBase = editLayer && isSegmentation(editLayer) ? labelmapBase(editLayer) : '';

  // GPU: Cornerstone's BrushTool paints the segmentation; each finished stroke is read back and saved.
  useEffect(() => {
    const el = element.current;
    const vp = stackViewport(viewportId);
    const segmentationId = attached.current.get(editBase) ?? '';
    if (!gpu || !aiEdit || !el || !vp || !segmentationId) return;
    activateLabelmapEditing(viewportId, segmentationId, aiEdit.label);
    // The brush radius is in image pixels; BrushTool wants millimetres (half a pixel more so the disc covers
    // every pixel centre within the radius wherever inside the pixel the click lands).
    const columnSpacing = vp.getImageData?.()?.spacing[0] ?? 1;
    setLabelmapBrush(aiEdit.tool, (aiEdit.radius + 0.5) * columnSpacing);
    // BrushTool reports each applied stroke with SEGMENTATION_DATA_MODIFIED: the displayed frame's labelmap is
    // read back on the next animation frame (one save per stroke, however many events it sent).
    let raf = 0;
    const onModified = (evt: Event) => {
      if ((evt as CustomEvent<{ segmentationId?: string }>).detail?.segmentationId !== segmentationId || raf) return;
      raf = requestAnimationFrame(() => {
        raf = 0;
        const layer = latestEditLayer.current;
        const edits = collectLabelmapEdits(segmentationId, [vp.getCurrentImageIdIndex()]);
        if (!edits || !layer) return;
        for (const slice of edits.slices) {
          latestOnEdited.current?.(layer, slice, edits.values, {
            before: edits.before.get(slice)!,
            restore: (plane) => {
              restoreLabelmapSlice(segmentationId, slice, plane);
              return true;
            },
          });
        }
      });
    };
    labelmapEvents.addEventListener(SEGMENTATION_DATA_MODIFIED, onModified);
    return () => {
      if (raf) cancelAnimationFrame(raf);
      labelmapEvents.removeEventListener(SEGMENTATION_DATA_MODIFIED, onModified);
      setLabelmapBrush(null);
    };
  }, [gpu, aiEdit, editBase, attachTick, viewportId]);
  const canvasEditing = Boolean(editLayer) && !gpu;
  const stroke = useRef<{ layer: OverlayLayer; slice: number; values: Uint8Array; before: Uint8Array; changed: number } | null>(null);
  // The viewer's own copies of model masks (edits never go into the model's array).
  const editCopies = useRef(new WeakSet<Uint8Array>());
  const paintAt = (e: React.PointerEvent<HTMLCanvasElement>, start: boolean) => {
    const canvas = aiCanvas.current;
    if (!canvasEditing || !aiEdit || !editLayer || editLayer.kind !== 'segmentation' || !canvas?.dataset.transform) return;
    let current = stroke.current;
    if (start) {
      // The shown frame's plane (a cine's frames share one SOP Instance UID).
      const slice = storedPlane(editLayer.inputSopInstanceUids, canvas.dataset.sop ?? '', Number(canvas.dataset.frame ?? 0));
      let values = aiState.current.arrays.get(editLayer.key);
      if (slice < 0 || !(values instanceof Uint8Array)) return;
      if (!editLayer.key.endsWith(':reviewed') && !editCopies.current.has(values)) {
        // The model's mask stays as it is: the first edit works on a copy (saved as the reviewed mask), and every
        // stroke until the reviewed mask is loaded paints on that same copy (one copy per stroke would drop the
        // strokes before it from the screen, and from the store at the next save of their slice).
        values = values.slice();
        editCopies.current.add(values);
        const arrays = new Map(aiState.current.arrays).set(editLayer.key, values);
        aiState.current = { ...aiState.current, arrays };
        setAiArrays(arrays);
      }
      const plane = editLayer.array.shape[1] * editLayer.array.shape[2];
      current = stroke.current = { layer: editLayer, slice, values, before: values.slice(slice * plane, (slice + 1) * plane), changed: 0 };
    }
    if (!current) return;
    const rect = canvas.getBoundingClientRect();
    const at = canvasToImage(JSON.parse(canvas.dataset.transform) as ImageToCanvas, e.clientX - rect.left, e.clientY - rect.top);
    if (!at) return;
    const changed = paintDisc(current.values, editLayer.array.shape, current.slice, at[0], at[1], aiEdit.radius, aiEdit.tool === 'eraser' ? 0 : aiEdit.label);
    if (changed > 0) {
      current.changed += changed;
      invalidateSlices(current.values);
      redrawAi.current();
    }
  };
  const endStroke = () => {
    const done = stroke.current;
    stroke.current = null;
    if (!done || done.changed === 0 || done.layer.kind !== 'segmentation') return;
    const plane = done.layer.array.shape[1] * done.layer.array.shape[2];
    onAiEdited?.(done.layer, done.slice, done.values, {
      before: done.before,
      restore: (stored) => {
        // A stroke being painted on the slice now decides what is stored: it goes on (its save sends its plane).
        const painting = stroke.current;
        if (painting && painting.values === done.values && painting.slice === done.slice) return false;
        done.values.set(stored, done.slice * plane);
        invalidateSlices(done.values);
        redrawAi.current();
        return true;
      },
    });
  };

  const current = overlay ? frames[overlay.index] : undefined;
  const inst = current?.instance;
  const frameText = current && current.frame > 0 ? ` · fr ${current.frame}` : '';
  const className = ['viewport-pane', active ? 'active' : '', dragOver ? 'drag-over' : ''].filter(Boolean).join(' ');

  return (
    <div
      className={className}
      data-testid="viewport-pane"
      data-slot={slot}
      data-active={active}
      onPointerDownCapture={() => onActivate(slot)}
      onContextMenu={(e) => e.preventDefault()}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes(SERIES_DRAG_TYPE)) {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setDragOver(true);
        }
      }}
      onDragLeave={() => setDragOver(false)}
      onDrop={(e) => {
        setDragOver(false);
        const uid = e.dataTransfer.getData(SERIES_DRAG_TYPE);
        if (uid) {
          e.preventDefault();
          onDropSeries(slot, uid);
          onActivate(slot);
        }
      }}
    >
      <div
        ref={element}
        className="viewport-element"
        data-testid="viewport"
        data-series-uid={series?.seriesInstanceUid ?? ''}
        data-rendering={rendering}
        data-image-count={imageFrames?.length ?? 0}
      />
      <canvas
        ref={aiCanvas}
        className={canvasEditing ? 'ai-overlay-canvas editing' : 'ai-overlay-canvas'}
        data-testid="ai-overlay-canvas"
        data-slot={slot}
        data-editing={Boolean(editLayer)}
        aria-hidden="true"
        onPointerDown={(e) => {
          if (!canvasEditing || e.button !== 0) return;
          e.currentTarget.setPointerCapture(e.pointerId);
          paintAt(e, true);
        }}
        onPointerMove={(e) => {
          if (stroke.current) paintAt(e, false);
        }}
        onPointerUp={endStroke}
        onPointerCancel={endStroke}
        onWheel={(e) => {
          const vp = stackViewport(viewportId);
          if (canvasEditing && vp) scrollBy(vp, Math.sign(e.deltaY));
        }}
      />
      {!series && <div className="viewport-empty">{t('viewer.noSeries')}</div>}
      {nonImage && (
        <div className="viewport-empty" data-testid="viewport-non-image">
          {t('viewer.nonImageNamed', { kind: NON_IMAGE_LABEL[nonImage] })}
        </div>
      )}
      {error && (
        <div className="viewport-error" data-testid="viewport-error" role="alert">
          {t('viewer.loadFailed', { message: error })}
        </div>
      )}
      {overlay && series && (
        <div className="viewport-overlay" data-testid="viewport-overlay" aria-hidden="false">
          <div className="ov ov-tl">
            <div className="ov-strong">{formatPersonName(study.patientName) || '—'}</div>
            <div>{study.patientId}</div>
            <div>{formatDicomDate(study.studyDate)}</div>
            <div>{study.description}</div>
          </div>
          <div className="ov ov-tr">
            <div className="ov-strong">{series.modality} · Se {series.seriesNumber ?? '—'}</div>
            <div>{series.description}</div>
            {inst && inst.rows && inst.columns ? <div>{`${inst.columns} × ${inst.rows}`}</div> : null}
          </div>
          <div className="ov ov-bl">
            <div data-testid="overlay-image">{`Im ${overlay.index + 1} / ${overlay.count}${frameText}`}</div>
            {inst?.sliceLocation !== null && inst?.sliceLocation !== undefined && <div>{`Loc ${inst.sliceLocation.toFixed(1)} mm`}</div>}
            {inst?.sliceThickness ? <div>{`Thk ${inst.sliceThickness.toFixed(2)} mm`}</div> : null}
          </div>
          <div className="ov ov-br">
            <div data-testid="overlay-wl">{`W ${fmt(overlay.width)} L ${fmt(overlay.center)}`}</div>
            <div data-testid="overlay-zoom">{`Zoom ${fmt(overlay.zoom, 2)}×`}</div>
            <div className="ov-dim">{rendering === 'gpu' ? t('viewer.rendering.gpu') : t('viewer.rendering.cpu')}</div>
          </div>
          {overlay.markers && (
            <>
              <div className="ov-marker ov-m-top" data-testid="orientation-top">{overlay.markers.top}</div>
              <div className="ov-marker ov-m-bottom" data-testid="orientation-bottom">{overlay.markers.bottom}</div>
              <div className="ov-marker ov-m-left" data-testid="orientation-left">{overlay.markers.left}</div>
              <div className="ov-marker ov-m-right" data-testid="orientation-right">{overlay.markers.right}</div>
            </>
          )}
        </div>
      )}
    </div>
  );
}
