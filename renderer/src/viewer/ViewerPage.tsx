/**
 * The reading viewer: `#/study/<StudyInstanceUID>`. Header, toolbar, series
 * strip (thumbnails) on the left, 1×1 / 1×2 / 2×2 viewports, measurements on
 * the right. Radiologist bindings: wheel/arrows/PageUp/PageDown/Home/End
 * scroll, left-drag W/L, right-drag zoom, middle-drag pan, 1–5 CT presets.
 */
import { type StackViewport, eventTarget, metaData } from '@cornerstonejs/core';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { AnalysisResult, Finding, InstanceSummary, SeriesSummary, StudyDetail } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';
import { t } from '../i18n/strings';
import { formatDicomDate, formatPersonName, formatSex } from '../lib/format';
import { openBrowser } from '../lib/route';
import { initCornerstone, type RenderingMode } from './cornerstone/init-cornerstone';
import {
  applyWindow,
  flip,
  imagePixelToCanvas,
  type LeftTool,
  resetView,
  rotate90,
  scrollBy,
  scrollTo,
  setLeftTool,
  stackViewport,
  toggleInvert,
  ToolEvents,
  viewerEngine,
  voiTags,
} from './cornerstone/viewer-engine';
import { FindingsPanel } from './ai/FindingsPanel';
import { findingTarget, type OverlayLayer, type OverlayStyle, overlayLayers } from './ai/overlay-model';
import { MaskEditSaver, type StrokeEdit } from './ai/mask-edit-saver';
import { loadedArray, loadResultArray, rememberArray, seedResultArray } from './ai/result-arrays';
import { useStudyAnalysis } from './ai/use-analysis';
import { clearMeasurements, listMeasurements, type MeasurementRow } from './measurements';
import { CT_PRESETS, fileWindows, type WindowPreset } from './presets';
import { NON_IMAGE_MODALITIES } from './series-kind';
import { SeriesStrip } from './SeriesStrip';
import * as Icon from './ViewerIcons';
import { type LabelEditTool, type PaneInfo, viewportIdFor, ViewportPane } from './ViewportPane';

export type Layout = '1x1' | '1x2' | '2x2';
const LAYOUTS: readonly Layout[] = ['1x1', '1x2', '2x2'];
const SLOTS: Record<Layout, number> = { '1x1': 1, '1x2': 2, '2x2': 4 };

function bySeriesNumber(a: SeriesSummary, b: SeriesSummary): number {
  if (a.seriesNumber === b.seriesNumber) return a.description.localeCompare(b.description);
  if (a.seriesNumber === null) return 1;
  if (b.seriesNumber === null) return -1;
  return a.seriesNumber - b.seriesNumber;
}

/**
 * The first `n` slots with every empty one given a series: `first` (when given) for slot 0, then an image series not
 * shown yet, else the first image series (a layout change; a study shown again after it was deleted while open).
 */
function fillSlots(current: readonly (string | null)[], series: readonly SeriesSummary[], n: number, first: string | null): (string | null)[] {
  const out = [...current];
  const imageSeries = series.filter((s) => !NON_IMAGE_MODALITIES.has(s.modality.toUpperCase()));
  for (let i = 0; i < n; i++) {
    if (out[i]) continue;
    const unused = imageSeries.find((s) => !out.includes(s.seriesInstanceUid));
    out[i] = (i === 0 ? first : null) ?? unused?.seriesInstanceUid ?? imageSeries[0]?.seriesInstanceUid ?? null;
  }
  return out.every((uid, i) => uid === current[i]) ? (current as (string | null)[]) : out;
}


interface Props {
  readonly studyInstanceUid: string;
  readonly initialSeriesUid?: string | undefined;
  readonly banner: React.ReactNode;
}

/**
 * Warm-up for preload-viewer.ts, one step per idle period while the study list shows: this chunk is loaded by
 * then; Cornerstone's init (shared with the first ViewerPage), then the rendering engine and its WebGL contexts.
 */
export const warmUpSteps: readonly (() => Promise<unknown> | unknown)[] = [() => initCornerstone(), () => viewerEngine()];

export function ViewerPage({ studyInstanceUid, initialSeriesUid, banner }: Props) {
  const { vigil, reportError } = useAppServices();
  const [rendering, setRendering] = useState<RenderingMode | null>(null);
  const [detail, setDetail] = useState<StudyDetail | null>(null);
  const [notFound, setNotFound] = useState(false);
  // The study shown, for the loader (another error than "not found" leaves a loaded study on screen).
  const shownDetail = useRef<StudyDetail | null>(null);
  shownDetail.current = detail;
  const [instances, setInstances] = useState<ReadonlyMap<string, InstanceSummary[]>>(new Map());
  // Each series' image count its loaded instances were listed at (the study's detail says when it grows).
  const loadedCounts = useRef(new Map<string, number>());
  const [layout, setLayout] = useState<Layout>('1x1');
  // The layout, for the study loader (a study shown again fills the layout's panes).
  const layoutNow = useRef(layout);
  layoutNow.current = layout;
  const [slots, setSlots] = useState<(string | null)[]>([null, null, null, null]);
  const [activeSlot, setActiveSlot] = useState(0);
  const [leftTool, setLeftToolState] = useState<LeftTool>('wl');
  const [panes, setPanes] = useState<(PaneInfo | null)[]>([null, null, null, null]);
  const [cine, setCine] = useState<{ playing: boolean; fps: number }>({ playing: false, fps: 15 });
  const [measurements, setMeasurements] = useState<MeasurementRow[]>([]);
  const [imageTick, setImageTick] = useState(0);
  const analysis = useStudyAnalysis(studyInstanceUid);
  const { refresh: refreshAnalysis } = analysis;
  const aiLayers = useMemo(() => overlayLayers(analysis.results, analysis.reviews?.maskEdits ?? []), [analysis.results, analysis.reviews]);
  const [labelEdit, setLabelEdit] = useState<LabelEditTool | null>(null);
  // Saves the slice a brush / eraser stroke changed: the reviewed mask beside the model's (a stroke not saved is undone).
  const maskSaver = useMemo(() => new MaskEditSaver(vigil, reportError), [vigil, reportError]);
  const saveLabelEdit = useCallback(
    (layer: OverlayLayer, slice: number, values: Uint8Array, edit: StrokeEdit) => {
      if (layer.kind !== 'segmentation') return;
      void (async () => {
        const r = await maskSaver.save({ resultId: layer.resultId, file: layer.originalFile, shape: layer.array.shape }, slice, values, edit);
        if (r.ok && !layer.key.endsWith(':reviewed')) {
          // The reviewed file now holds this edit: later strokes paint on the copy the viewer loads from it.
          rememberArray(vigil.resultUrl(layer.resultId, r.value.reviewedFile), values);
          await seedResultArray(vigil.resultUrl(layer.resultId, r.value.reviewedFile), values);
        }
        refreshAnalysis();
      })();
    },
    [vigil, maskSaver, refreshAnalysis],
  );
  const [aiStyle, setAiStyle] = useState<OverlayStyle>({ visible: true, opacity: 0.5, fill: true, hiddenLabels: new Set(), labelStyles: new Map(), showNegativeHeatmaps: false });
  const [pendingJump, setPendingJump] = useState<{ slot: number; seriesUid: string; sopInstanceUid: string | null; frame: number } | null>(null);

  useEffect(() => {
    let stale = false;
    initCornerstone().then(
      (r) => !stale && setRendering(r.rendering),
      (err: unknown) => reportError({ code: 'INTERNAL', message: `Viewer could not start: ${err instanceof Error ? err.message : String(err)}` }),
    );
    return () => {
      stale = true;
    };
  }, [reportError]);

  // Bumped when the library changes (an import, e.g. images of this study arriving while it is open): the study reloads.
  const [libraryVersion, setLibraryVersion] = useState(0);
  useEffect(() => vigil.on('library.changed', () => setLibraryVersion((v) => v + 1)), [vigil]);

  // The errors the study loader reported since it last loaded the study: each once, not again on every later library
  // change while the study stays away (not found) or unreadable.
  const reportedErrors = useRef(new Set<string>());
  useEffect(() => {
    reportedErrors.current.clear();
  }, [studyInstanceUid]);

  // The study and its series.
  useEffect(() => {
    let stale = false;
    void vigil.library.getStudy({ studyInstanceUid }).then((r) => {
      if (stale) return;
      if (!r.ok) {
        const errorKey = `${r.error.code}: ${r.error.message}`;
        if (!reportedErrors.current.has(errorKey)) reportError(r.error);
        reportedErrors.current.add(errorKey);
        if (r.error.code !== 'NOT_FOUND') {
          if (!shownDetail.current) setNotFound(true);
          return;
        }
        // Not (or no longer: deleted while open) in the library: the panes stop showing it, and the measurements made
        // on its images go with them (its AI results went with the study: useStudyAnalysis re-reads them).
        setNotFound(true);
        setDetail(null);
        setSlots([null, null, null, null]);
        setInstances(new Map());
        loadedCounts.current.clear();
        clearMeasurements();
        setMeasurements([]);
        setLabelEdit(null);
        setPendingJump(null);
        return;
      }
      reportedErrors.current.clear();
      setNotFound(false);
      const sorted = { ...r.value, series: [...r.value.series].sort(bySeriesNumber) };
      setDetail((current) => (current && sameSeries(current, sorted) ? current : sorted));
      const first =
        sorted.series.find((s) => s.seriesInstanceUid === initialSeriesUid) ??
        sorted.series.find((s) => !NON_IMAGE_MODALITIES.has(s.modality.toUpperCase())) ??
        sorted.series[0];
      // The panes of the layout (all of them again for a study shown again after it was deleted while open).
      setSlots((current) => fillSlots(current, sorted.series, SLOTS[layoutNow.current], first?.seriesInstanceUid ?? null));
    });
    return () => {
      stale = true;
    };
  }, [vigil, studyInstanceUid, initialSeriesUid, reportError, libraryVersion]);

  // Instances of every series (reading order), the displayed series first; again for a series whose count changed.
  useEffect(() => {
    if (!detail) return;
    let stale = false;
    const order = [...detail.series].sort((a, b) => Number(b.seriesInstanceUid === slots[0]) - Number(a.seriesInstanceUid === slots[0]));
    void (async () => {
      for (const s of order) {
        if (stale) return;
        if (loadedCounts.current.get(s.seriesInstanceUid) === s.instances) continue;
        const r = await vigil.library.listInstances({ seriesInstanceUid: s.seriesInstanceUid });
        if (stale) return;
        if (!r.ok) continue;
        loadedCounts.current.set(s.seriesInstanceUid, s.instances);
        setInstances((m) => new Map(m).set(s.seriesInstanceUid, r.value.instances));
      }
    })();
    return () => {
      stale = true;
    };
    // The order only prefers the first displayed series.
  }, [vigil, detail]);

  const seriesByUid = useMemo(() => new Map((detail?.series ?? []).map((s) => [s.seriesInstanceUid, s])), [detail]);
  const slotCount = SLOTS[layout];
  const activeViewport = useCallback(() => stackViewport(viewportIdFor(activeSlot)), [activeSlot]);

  const onLoaded = useCallback((slot: number, info: PaneInfo | null) => {
    setPanes((p) => p.map((x, i) => (i === slot ? info : x)));
  }, []);
  const assign = useCallback((slot: number, uid: string) => {
    setSlots((s) => s.map((x, i) => (i === slot ? uid : x)));
  }, []);

  const changeLayout = useCallback(
    (next: Layout) => {
      setLayout(next);
      const n = SLOTS[next];
      setSlots((current) => fillSlots(current, detail?.series ?? [], n, null));
      setActiveSlot((a) => (a < n ? a : 0));
    },
    [detail],
  );

  // Clicking a finding: show its series in the active viewport at the slice where it is strongest.
  const jumpToFinding = useCallback(
    (result: AnalysisResult, finding: Finding) => {
      void (async () => {
        for (const layer of overlayLayers([result])) {
          if (layer.kind === 'detection') continue;
          const url = vigil.resultUrl(layer.resultId, layer.array.file);
          if (!loadedArray(url)) rememberArray(url, await loadResultArray(url, layer.array).catch(() => new Uint8Array(0)));
        }
        const target = findingTarget(result, finding.label, (layer) =>
          layer.kind === 'detection' ? null : (loadedArray(vigil.resultUrl(layer.resultId, layer.array.file)) ?? null),
        );
        setSlots((s) => s.map((x, i) => (i === activeSlot ? target.seriesInstanceUid : x)));
        setPendingJump({ slot: activeSlot, seriesUid: target.seriesInstanceUid, sopInstanceUid: target.sopInstanceUid, frame: target.frame });
      })();
    },
    [vigil, activeSlot],
  );
  useEffect(() => {
    if (!pendingJump) return;
    const frames = panes[pendingJump.slot]?.frames;
    if (!frames || !frames.some((f) => f.instance.sopInstanceUid === pendingJump.sopInstanceUid || pendingJump.sopInstanceUid === null)) return;
    const vp = stackViewport(viewportIdFor(pendingJump.slot));
    if (!vp || vp.getImageIds().length !== frames.length) return;
    // The frame of a multi-frame instance (a cine) where the finding is strongest, else the instance's first.
    const ofInstance = (f: (typeof frames)[number]) => f.instance.sopInstanceUid === pendingJump.sopInstanceUid;
    const exact = pendingJump.frame > 0 ? frames.findIndex((f) => ofInstance(f) && f.frame === pendingJump.frame) : -1;
    const index = Math.max(0, exact >= 0 ? exact : frames.findIndex(ofInstance));
    scrollTo(vp, index);
    setPendingJump(null);
  }, [pendingJump, panes]);

  const chooseTool = useCallback((tool: LeftTool) => {
    // Picking a left-button tool ends label-map editing (the brush held the left button).
    setLabelEdit(null);
    setLeftTool(tool);
    setLeftToolState(tool);
  }, []);

  // Measurements panel follows annotation events.
  const activeFrames = panes[activeSlot]?.frames;
  const spacingNote = useCallback(
    (imageId: string) => {
      const calibration = (metaData.get('calibratedPixelSpacing', imageId) ?? null) as { type?: string } | null;
      if (calibration?.type && calibration.type !== 'NOT_APPLICABLE' && calibration.type !== 'USER') return t('viewer.imagerSpacing');
      const plane = metaData.get('imagePlaneModule', imageId) as { usingDefaultValues?: boolean } | undefined;
      return plane?.usingDefaultValues ? t('viewer.noSpacing') : '';
    },
    [],
  );
  useEffect(() => {
    let raf = 0;
    const update = () => {
      if (raf) return;
      raf = requestAnimationFrame(() => {
        raf = 0;
        setMeasurements(listMeasurements(spacingNote));
      });
    };
    const names = [ToolEvents.ANNOTATION_COMPLETED, ToolEvents.ANNOTATION_MODIFIED, ToolEvents.ANNOTATION_REMOVED];
    for (const n of names) eventTarget.addEventListener(n, update);
    return () => {
      if (raf) cancelAnimationFrame(raf);
      for (const n of names) eventTarget.removeEventListener(n, update);
    };
  }, [spacingNote]);

  // Presets: CT presets plus the file's own windows for the active image.
  const activeModality = panes[activeSlot]?.modality ?? '';
  const presets = useMemo<WindowPreset[]>(() => {
    const vp = stackViewport(viewportIdFor(activeSlot));
    const imageId = vp?.getCurrentImageId?.();
    const own = imageId ? voiTags(imageId) : null;
    const file = own ? fileWindows(own.center, own.width, own.explanation).slice(0, 4) : [];
    return [...(activeModality === 'CT' ? CT_PRESETS : []), ...file];
    // imageTick: recompute when the active image changes.
  }, [activeSlot, activeModality, activeFrames, imageTick]);

  useEffect(() => {
    const el = document.querySelector<HTMLDivElement>(`[data-testid="viewport-pane"][data-slot="${activeSlot}"] .viewport-element`);
    if (!el) return;
    const bump = () => setImageTick((n) => n + 1);
    el.addEventListener('CORNERSTONE_STACK_NEW_IMAGE', bump);
    return () => el.removeEventListener('CORNERSTONE_STACK_NEW_IMAGE', bump);
  }, [activeSlot, activeFrames]);

  // Cine on the active viewport.
  useEffect(() => {
    if (!cine.playing) return;
    let busy = false;
    const timer = setInterval(
      () => {
        const vp = activeViewport();
        if (!vp || busy) return;
        const n = vp.getImageIds().length;
        if (n < 2) return;
        busy = true;
        vp.setImageIdIndex((vp.getCurrentImageIdIndex() + 1) % n).then(
          () => (busy = false),
          () => (busy = false),
        );
      },
      Math.max(10, 1000 / cine.fps),
    );
    return () => clearInterval(timer);
  }, [cine.playing, cine.fps, activeViewport]);

  const act = useCallback(
    (fn: (vp: StackViewport) => void) => {
      const vp = activeViewport();
      if (vp && vp.getImageIds().length > 0) fn(vp);
    },
    [activeViewport],
  );

  // Keyboard bindings.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const vp = activeViewport();
      const n = vp?.getImageIds().length ?? 0;
      const page = Math.max(1, Math.round(n / 10));
      let handled = true;
      switch (e.key) {
        case 'ArrowDown':
        case 'ArrowRight':
          if (vp) scrollBy(vp, 1);
          break;
        case 'ArrowUp':
        case 'ArrowLeft':
          if (vp) scrollBy(vp, -1);
          break;
        case 'PageDown':
          if (vp) scrollBy(vp, page);
          break;
        case 'PageUp':
          if (vp) scrollBy(vp, -page);
          break;
        case 'Home':
          if (vp) scrollTo(vp, 0);
          break;
        case 'End':
          if (vp) scrollTo(vp, n - 1);
          break;
        case 'i':
        case 'I':
          act(toggleInvert);
          break;
        case 'r':
        case 'R':
          act(rotate90);
          break;
        case 'h':
        case 'H':
          act((v) => flip(v, 'h'));
          break;
        case 'v':
        case 'V':
          act((v) => flip(v, 'v'));
          break;
        case '0':
          act(resetView);
          break;
        case ' ':
          setCine((c) => ({ ...c, playing: !c.playing }));
          break;
        case 'Escape':
          setCine((c) => ({ ...c, playing: false }));
          break;
        default: {
          const preset = presets.find((p) => p.key && p.key === e.key);
          if (preset) act((v) => applyWindow(v, preset));
          else handled = false;
        }
      }
      if (handled) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [activeViewport, act, presets]);

  useEffect(() => () => clearMeasurements(), []);

  // Test and support hook: canvas CSS position of an image pixel centre (column, row) of the displayed image in a slot,
  // from Cornerstone's image-plane metadata and worldToCanvas (independent of the overlay's transform).
  useEffect(() => {
    const w = window as unknown as { __vigilImageToCanvas?: (slot: number, col: number, row: number) => [number, number] | null };
    w.__vigilImageToCanvas = (slot, col, row) => {
      const vp = stackViewport(viewportIdFor(slot));
      return vp ? imagePixelToCanvas(vp, col, row) : null;
    };
    return () => {
      delete w.__vigilImageToCanvas;
    };
  }, []);

  const study = detail?.study;
  const loading = !detail || !rendering;

  return (
    <div className="viewer" data-testid="viewer">
      <header className="viewer-header">
        <button type="button" className="back-button" data-testid="viewer-back" title={t('viewer.backTitle')} onClick={openBrowser}>
          <Icon.IconBack />
          <span>{t('viewer.back')}</span>
        </button>
        {study && (
          <div className="viewer-patient" data-testid="viewer-patient">
            <span className="vp-name">{formatPersonName(study.patientName) || '—'}</span>
            <span className="vp-meta">{study.patientId}</span>
            <span className="vp-meta">{[formatDicomDate(study.birthDate), formatSex(study.sex)].filter(Boolean).join(' · ')}</span>
            <span className="vp-sep" />
            <span className="vp-meta">{formatDicomDate(study.studyDate)}</span>
            <span className="vp-desc">{study.description}</span>
            {study.accessionNumber && <span className="vp-meta">Acc {study.accessionNumber}</span>}
          </div>
        )}
        <span className="spacer" />
        {rendering && (
          <span className={`render-badge ${rendering}`} data-testid="rendering-mode" title={t('viewer.renderingTitle', { mode: rendering.toUpperCase() })}>
            {rendering === 'gpu' ? t('viewer.rendering.gpu') : t('viewer.rendering.cpu')}
          </span>
        )}
      </header>
      <div className="viewer-toolbar" role="toolbar">
        <div className="tb-group">
          {(
            [
              ['wl', Icon.IconWindowLevel, 'viewer.tool.wl'],
              ['pan', Icon.IconPan, 'viewer.tool.pan'],
              ['zoom', Icon.IconZoom, 'viewer.tool.zoom'],
              ['length', Icon.IconLength, 'viewer.tool.length'],
              ['angle', Icon.IconAngle, 'viewer.tool.angle'],
              ['rect', Icon.IconRect, 'viewer.tool.rect'],
              ['ellipse', Icon.IconEllipse, 'viewer.tool.ellipse'],
            ] as const
          ).map(([tool, Glyph, label]) => (
            <button
              key={tool}
              type="button"
              className={leftTool === tool ? 'tb-button on' : 'tb-button'}
              data-testid={`tool-${tool}`}
              aria-pressed={leftTool === tool}
              title={t(label)}
              aria-label={t(label)}
              onClick={() => chooseTool(tool)}
            >
              <Glyph />
            </button>
          ))}
        </div>
        <div className="tb-group">
          <button type="button" className="tb-button" data-testid="view-invert" title={t('viewer.invert')} aria-label={t('viewer.invert')} onClick={() => act(toggleInvert)}>
            <Icon.IconInvert />
          </button>
          <button type="button" className="tb-button" data-testid="view-rotate" title={t('viewer.rotate')} aria-label={t('viewer.rotate')} onClick={() => act(rotate90)}>
            <Icon.IconRotate />
          </button>
          <button type="button" className="tb-button" data-testid="view-flip-h" title={t('viewer.flipH')} aria-label={t('viewer.flipH')} onClick={() => act((v) => flip(v, 'h'))}>
            <Icon.IconFlipH />
          </button>
          <button type="button" className="tb-button" data-testid="view-flip-v" title={t('viewer.flipV')} aria-label={t('viewer.flipV')} onClick={() => act((v) => flip(v, 'v'))}>
            <Icon.IconFlipV />
          </button>
          <button type="button" className="tb-button" data-testid="view-reset" title={t('viewer.reset')} aria-label={t('viewer.reset')} onClick={() => act(resetView)}>
            <Icon.IconReset />
          </button>
        </div>
        <div className="tb-group">
          {LAYOUTS.map((l) => (
            <button
              key={l}
              type="button"
              className={layout === l ? 'tb-button on' : 'tb-button'}
              data-testid="layout-button"
              data-layout={l}
              aria-pressed={layout === l}
              title={t('viewer.layout', { layout: l.replace('x', '×') })}
              aria-label={t('viewer.layout', { layout: l.replace('x', '×') })}
              onClick={() => changeLayout(l)}
            >
              <Icon.IconLayout layout={l} />
            </button>
          ))}
        </div>
        <div className="tb-group presets" aria-label={t('viewer.presets')}>
          {presets.map((p) => (
            <button
              key={p.id}
              type="button"
              className="tb-chip"
              data-testid="wl-preset"
              data-preset={p.id}
              title={`${p.label}: W ${Math.round(p.width)} L ${Math.round(p.center)}${p.key ? ` (${p.key})` : ''}`}
              onClick={() => act((v) => applyWindow(v, p))}
            >
              {p.key ? <kbd>{p.key}</kbd> : null}
              {p.label}
            </button>
          ))}
        </div>
        <span className="spacer" />
        <div className="tb-group cine">
          <button
            type="button"
            className={cine.playing ? 'tb-button on' : 'tb-button'}
            data-testid="cine-play"
            aria-pressed={cine.playing}
            title={t(cine.playing ? 'viewer.cineStop' : 'viewer.cinePlay')}
            aria-label={t(cine.playing ? 'viewer.cineStop' : 'viewer.cinePlay')}
            onClick={() => setCine((c) => ({ ...c, playing: !c.playing }))}
          >
            {cine.playing ? <Icon.IconStop /> : <Icon.IconPlay />}
          </button>
          <label className="fps" title={t('viewer.fps')}>
            <input
              type="number"
              min={1}
              max={60}
              value={cine.fps}
              data-testid="cine-fps"
              aria-label={t('viewer.fps')}
              onChange={(e) => {
                const fps = Math.max(1, Math.min(60, Number(e.target.value) || 1));
                setCine((c) => ({ ...c, fps }));
              }}
            />
            <span>fps</span>
          </label>
        </div>
      </div>
      <div className="notices">{banner}</div>
      <div className="viewer-body">
        <SeriesStrip series={detail?.series ?? []} instances={instances} displayed={slots.slice(0, slotCount)} onPick={(uid) => assign(activeSlot, uid)} />
        <main className={`viewport-grid layout-${layout}`} data-testid="viewport-grid" data-layout={layout}>
          {notFound && <div className="viewport-empty">{t('viewer.studyNotFound', { uid: studyInstanceUid })}</div>}
          {!loading &&
            study &&
            Array.from({ length: slotCount }, (_, slot) => {
              const uid = slots[slot] ?? null;
              return (
                <ViewportPane
                  key={slot}
                  slot={slot}
                  study={study}
                  series={uid ? (seriesByUid.get(uid) ?? null) : null}
                  instances={uid ? (instances.get(uid) ?? null) : null}
                  active={slot === activeSlot}
                  rendering={rendering}
                  onActivate={setActiveSlot}
                  onDropSeries={assign}
                  onLoaded={onLoaded}
                  aiLayers={aiLayers}
                  aiStyle={aiStyle}
                  aiEdit={slot === activeSlot ? labelEdit : null}
                  onAiEdited={saveLabelEdit}
                />
              );
            })}
        </main>
        <div className="side-panels">
        <FindingsPanel
          studyInstanceUid={studyInstanceUid}
          activeSeriesUid={slots[activeSlot] ?? null}
          analysis={analysis}
          layers={aiLayers}
          style={aiStyle}
          onStyle={setAiStyle}
          onJump={jumpToFinding}
          labelEdit={labelEdit}
          onLabelEdit={setLabelEdit}
        />
        <aside className="measure-panel" data-testid="measure-panel">
          <div className="panel-title">
            <span>{t('viewer.measurements')}</span>
            {measurements.length > 0 && (
              <button
                type="button"
                className="link-button"
                onClick={() => {
                  clearMeasurements();
                  setMeasurements([]);
                  for (let s = 0; s < slotCount; s++) stackViewport(viewportIdFor(s))?.render();
                }}
              >
                {t('viewer.clearMeasurements')}
              </button>
            )}
          </div>
          {measurements.length === 0 ? (
            <p className="panel-note">{t('viewer.noMeasurements')}</p>
          ) : (
            <ul className="measure-list">
              {measurements.map((m) => {
                const idx = activeFrames?.findIndex((f) => f.imageId === m.imageId) ?? -1;
                return (
                  <li key={m.uid} data-testid="measurement" data-tool={m.tool}>
                    <span className="m-tool">{m.tool}</span>
                    <span className="m-value">{m.text}</span>
                    {idx >= 0 && <span className="m-image">Im {idx + 1}</span>}
                  </li>
                );
              })}
            </ul>
          )}
        </aside>
        </div>
      </div>
    </div>
  );
}

/** Whether a reloaded study lists the same series with the same image counts (nothing to reload). */
function sameSeries(a: StudyDetail, b: StudyDetail): boolean {
  return a.series.length === b.series.length && a.series.every((s, i) => s.seriesInstanceUid === b.series[i]!.seriesInstanceUid && s.instances === b.series[i]!.instances);
}
