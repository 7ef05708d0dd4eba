import { Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { AppInfo, DroppedFile, SortKey, StudyQuery, VigilApi } from '../../contract/ipc-contract';
import { AppContext, type AppServices, useAppServices } from './app-context';
import { DropZone } from './components/DropZone';
import { EmptyState } from './components/EmptyState';
import { ErrorBanner } from './components/ErrorBanner';
import { aiFilterOf, emptyFilters, FilterBar, type Filters, hasActiveFilters } from './components/FilterBar';
import { ImportControls } from './components/ImportControls';
import { ImportOutcomeBar } from './components/ImportOutcomeBar';
import { ImportPickers, type ImportPickersHandle } from './components/ImportPickers';
import { ImportProgressBar } from './components/ImportProgressBar';
import { RejectedFilesPanel } from './components/RejectedFilesPanel';
import type { SortDir } from './components/SortHeader';
import { StatusBar } from './components/StatusBar';
import { StudyTable } from './components/StudyTable';
import { useDebounced } from './hooks/use-debounced';
import { useErrors } from './hooks/use-errors';
import { useImporter } from './hooks/use-importer';
import { useStudyList } from './hooks/use-study-list';
import { t } from './i18n/strings';
import { toDicomDate } from './lib/format';
import { MODELS_HASH, openStudy, useRoute } from './lib/route';
import { ModelsPage } from './models/ModelsPage';
import { preloadableComponent, preloadViewerWhenIdle } from './viewer/preload-viewer';

/**
 * The viewer (Cornerstone3D, vtk.js, codecs) is a separate chunk, loaded on first use or preloaded while the list
 * idles; once preloaded it renders without suspending (preload-viewer.ts preloadableComponent).
 */
const { load: loadViewer, Component: ViewerPage } = preloadableComponent(() => import('./viewer/ViewerPage'), (m) => m.ViewerPage);

export const SEARCH_DEBOUNCE_MS = 250;
export const STUDY_PAGE_LIMIT = 1000;

/** Sort keys whose first click sorts descending (newest / largest first). */
const DESC_FIRST: ReadonlySet<SortKey> = new Set(['studyDate', 'seriesCount', 'instanceCount', 'aiPriority']);

/** Root: provides the host API and the error reporter, then the study browser. */
export function App({ vigil }: { vigil: VigilApi }) {
  const { errors, report, dismiss } = useErrors();
  const services = useMemo<AppServices>(() => ({ vigil, reportError: report }), [vigil, report]);
  const route = useRoute();
  // A file opened from the OS (file association, second launch) was imported by main: show its study.
  useEffect(() => vigil.on('app.openStudy', ({ studyInstanceUid }) => openStudy(studyInstanceUid)), [vigil]);
  const banner = <ErrorBanner errors={errors} onDismiss={dismiss} />;
  return (
    <AppContext value={services}>
      {route.name === 'models' ? (
        <ModelsPage banner={banner} />
      ) : route.name === 'study' ? (
        <Suspense fallback={<div className="splash">{t('viewer.loading')}</div>}>
          <ViewerPage key={route.studyInstanceUid} studyInstanceUid={route.studyInstanceUid} initialSeriesUid={route.seriesInstanceUid} banner={banner} />
        </Suspense>
      ) : (
        <StudyBrowser banner={banner} />
      )}
    </AppContext>
  );
}

function StudyBrowser({ banner }: { banner: React.ReactNode }) {
  const { vigil, reportError } = useAppServices();
  // The first study opens warm: the viewer chunk and Cornerstone load while the list is idle.
  useEffect(() => preloadViewerWhenIdle(loadViewer), []);
  const [filters, setFilters] = useState<Filters>(emptyFilters);
  const [sort, setSort] = useState<{ by: SortKey; dir: SortDir }>({ by: 'studyDate', dir: 'desc' });
  const [version, setVersion] = useState(0);
  const [info, setInfo] = useState<AppInfo | null>(null);
  const pickers = useRef<ImportPickersHandle>(null);
  const importer = useImporter();
  const search = useDebounced(filters.search.trim(), SEARCH_DEBOUNCE_MS);

  const query = useMemo<StudyQuery>(() => {
    const q: StudyQuery = { sortBy: sort.by, sortDir: sort.dir, limit: STUDY_PAGE_LIMIT };
    if (search) q.search = search;
    if (filters.modality) q.modality = filters.modality;
    const from = toDicomDate(filters.dateFrom);
    const to = toDicomDate(filters.dateTo);
    if (from) q.dateFrom = from;
    if (to) q.dateTo = to;
    const aiFilter = aiFilterOf(filters);
    if (aiFilter) q.aiFilter = aiFilter;
    return q;
  }, [search, filters, sort.by, sort.dir]);

  const { list, loading } = useStudyList(query, version);

  useEffect(() => vigil.on('library.changed', () => setVersion((v) => v + 1)), [vigil]);
  // AI status changes (a job queued, started or finished) refresh the worklist's AI column, at most every 500 ms.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const off = vigil.on('analysis.progress', (p) => {
      if (p.phase || timer) return;
      timer = setTimeout(() => {
        timer = null;
        setVersion((v) => v + 1);
      }, 500);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [vigil]);
  useEffect(() => {
    let stale = false;
    void vigil.app.info({}).then((r) => {
      if (!stale && r.ok) setInfo(r.value);
    });
    return () => {
      stale = true;
    };
  }, [vigil]);

  const onSort = useCallback((key: SortKey) => {
    setSort((s) => (s.by === key ? { by: key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { by: key, dir: DESC_FIRST.has(key) ? 'desc' : 'asc' }));
  }, []);

  const { importDropped, importWithDialog } = importer;
  const importFiles = useCallback(
    (files: DroppedFile[]) => {
      if (files.length === 0) return reportError({ code: 'BAD_REQUEST', message: t('import.noFiles') });
      void importDropped(files);
    },
    [importDropped, reportError],
  );
  const startImport = useCallback(
    (kind: 'folder' | 'files') => {
      if (vigil.host === 'electron') void importWithDialog(kind);
      else pickers.current?.open(kind);
    },
    [vigil.host, importWithDialog],
  );

  const busy = importer.stage.stage !== 'idle';
  const studies = list?.studies ?? [];
  const total = list?.total ?? 0;
  const filtered = hasActiveFilters(filters);
  const libraryEmpty = list !== null && total === 0 && !filtered && !search;
  const images = studies.reduce((n, s) => n + s.instanceCount, 0);
  const outcome = importer.outcome;
  const rejected = outcome ? (outcome.kind === 'summary' ? outcome.summary.rejected : outcome.record.rejected) : [];

  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">{t('app.title')}</span>
          <span className="brand-sub">{t('app.subtitle')}</span>
        </div>
        <span className="host-badge" data-testid="host-badge">
          {t(vigil.host === 'electron' ? 'host.electron' : 'host.bridge')}
        </span>
        <span className="spacer" />
        <a className="button ghost" href={MODELS_HASH} data-testid="open-models">
          {t('models.open')}
        </a>
        <ImportControls onImport={startImport} disabled={busy} />
      </header>
      <FilterBar filters={filters} modalities={list?.modalities ?? []} aiCounts={list?.aiCounts} onChange={setFilters} />
      <div className="notices">
        {banner}
        <ImportProgressBar stage={importer.stage} progress={importer.progress} cancelling={importer.cancelling} onCancel={importer.cancel} />
        {outcome && !busy && <ImportOutcomeBar outcome={outcome} onDismiss={importer.dismissOutcome} />}
        {outcome && !busy && (
          <RejectedFilesPanel
            key={outcome.kind === 'summary' ? outcome.summary.importId : outcome.record.importId}
            rejected={rejected}
            initiallyOpen={outcome.kind === 'summary'}
          />
        )}
      </div>
      <main className="worklist">
        {libraryEmpty ? (
          <EmptyState onImport={startImport} disabled={busy} />
        ) : (
          <>
            <StudyTable studies={studies} sortBy={sort.by} sortDir={sort.dir} onSort={onSort} version={version} loading={loading} />
            {list !== null && studies.length === 0 && (
              <div className="no-match" data-testid="no-match">
                {t('empty.noMatch')}
              </div>
            )}
          </>
        )}
      </main>
      <StatusBar shown={studies.length} total={total} filtered={filtered} images={images} info={info} />
      <ImportPickers ref={pickers} onFiles={importFiles} />
      <DropZone onFiles={importFiles} disabled={busy} />
    </div>
  );
}
