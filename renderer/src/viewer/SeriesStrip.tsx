/** The series strip: one thumbnail per series; click to show, drag onto a viewport. */
import { useEffect, useState } from 'react';
import type { InstanceSummary, SeriesSummary } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';
import { t } from '../i18n/strings';
import { framesFor } from './cornerstone/viewer-engine';
import { thumbnailFor } from './thumbnails';
import { seriesNonImageLabel } from './series-kind';
import { SERIES_DRAG_TYPE } from './ViewportPane';

interface Props {
  readonly series: readonly SeriesSummary[];
  readonly instances: ReadonlyMap<string, InstanceSummary[]>;
  readonly displayed: readonly (string | null)[];
  readonly onPick: (seriesUid: string) => void;
}

export function SeriesStrip({ series, instances, displayed, onPick }: Props) {
  return (
    <nav className="series-strip" data-testid="series-strip" aria-label={t('viewer.series')}>
      {series.map((s) => (
        <SeriesThumb key={s.seriesInstanceUid} series={s} instances={instances.get(s.seriesInstanceUid)} shown={displayed.includes(s.seriesInstanceUid)} onPick={onPick} />
      ))}
    </nav>
  );
}

function SeriesThumb({ series, instances, shown, onPick }: { series: SeriesSummary; instances: InstanceSummary[] | undefined; shown: boolean; onPick: (uid: string) => void }) {
  const { vigil } = useAppServices();
  const [src, setSrc] = useState<string | null>(null);
  const nonImage = instances ? seriesNonImageLabel(instances, series.modality) : null;
  const frames = instances && !nonImage ? framesFor(instances, (uid) => vigil.instanceUrl(uid)) : null;
  const middle = frames && frames.length > 0 ? (frames[Math.floor(frames.length / 2)]?.imageId ?? null) : null;
  const count = frames ? frames.length : series.instances;

  useEffect(() => {
    if (!instances || nonImage) return;
    let stale = false;
    void thumbnailFor(vigil, series.seriesInstanceUid, middle).then((url) => {
      if (!stale && url) setSrc(url);
    });
    return () => {
      stale = true;
    };
  }, [vigil, series.seriesInstanceUid, middle, instances, nonImage]);

  return (
    <button
      type="button"
      className={shown ? 'series-thumb shown' : 'series-thumb'}
      data-testid="series-thumbnail"
      data-series-uid={series.seriesInstanceUid}
      data-non-image={nonImage ? 'true' : 'false'}
      draggable={!nonImage}
      title={`${series.modality} ${series.seriesNumber ?? ''} ${series.description}`.trim()}
      onClick={() => onPick(series.seriesInstanceUid)}
      onDragStart={(e) => {
        e.dataTransfer.setData(SERIES_DRAG_TYPE, series.seriesInstanceUid);
        e.dataTransfer.effectAllowed = 'copy';
      }}
    >
      <div className="thumb-image">
        {src ? <img src={src} alt="" draggable={false} /> : <span className="thumb-placeholder">{nonImage ? series.modality || 'DOC' : ''}</span>}
        <span className="thumb-count">{t('viewer.seriesImages', { count })}</span>
      </div>
      <div className="thumb-caption">
        <span className="modality-chip">{series.modality || '—'}</span>
        <span className="thumb-sno">{series.seriesNumber ?? ''}</span>
        <span className="thumb-desc">{series.description || t('table.noDescription')}</span>
      </div>
      {nonImage && <div className="thumb-note" data-testid="series-non-image">{nonImage}</div>}
    </button>
  );
}
