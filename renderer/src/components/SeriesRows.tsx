import { useEffect, useState } from 'react';
import type { SeriesSummary } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';
import { t } from '../i18n/strings';
import { formatCount } from '../lib/format';
import { openStudy } from '../lib/route';

function bySeriesNumber(a: SeriesSummary, b: SeriesSummary): number {
  if (a.seriesNumber === b.seriesNumber) return a.description.localeCompare(b.description);
  if (a.seriesNumber === null) return 1;
  if (b.seriesNumber === null) return -1;
  return a.seriesNumber - b.seriesNumber;
}

export function DerivedUidBadge() {
  return (
    <span className="badge derived" data-testid="derived-uid" title={t('table.derivedUidTitle')}>
      {t('table.derivedUid')}
    </span>
  );
}

/** The series of one expanded study, loaded with `library.getStudy`, as a nested table row. */
export function SeriesRows({ studyInstanceUid, colSpan, version }: { studyInstanceUid: string; colSpan: number; version: number }) {
  const { vigil, reportError } = useAppServices();
  const [series, setSeries] = useState<SeriesSummary[] | null>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let stale = false;
    vigil.library.getStudy({ studyInstanceUid }).then((result) => {
      if (stale) return;
      if (result.ok) {
        setSeries([...result.value.series].sort(bySeriesNumber));
        setFailed(false);
      } else {
        setFailed(true);
        reportError(result.error);
      }
    }, () => undefined);
    return () => {
      stale = true;
    };
  }, [vigil, reportError, studyInstanceUid, version]);

  let body: React.ReactNode;
  if (series === null) {
    body = <div className="series-note">{failed ? '—' : t('table.seriesLoading')}</div>;
  } else if (series.length === 0) {
    body = <div className="series-note">{t('table.seriesEmpty')}</div>;
  } else {
    body = (
      <table className="series-table">
        <thead>
          <tr>
            <th scope="col" className="col-sno">{t('table.seriesNumber')}</th>
            <th scope="col" className="col-mod">{t('table.modalities')}</th>
            <th scope="col" className="col-sdesc">{t('table.seriesDescription')}</th>
            <th scope="col" className="col-body">{t('table.bodyPart')}</th>
            <th scope="col" className="col-num">{t('table.images')}</th>
          </tr>
        </thead>
        <tbody>
          {series.map((s) => (
            <tr key={s.seriesInstanceUid} data-testid="series-row" title={s.seriesInstanceUid} onDoubleClick={() => openStudy(studyInstanceUid, s.seriesInstanceUid)}>
              <td className="col-sno">{s.seriesNumber ?? '—'}</td>
              <td className="col-mod">
                <span className="modality-chip">{s.modality || '—'}</span>
              </td>
              <td className="col-sdesc">
                <span className="cell-text">{s.description || t('table.noDescription')}</span>
                {s.uidDerived && <DerivedUidBadge />}
              </td>
              <td className="col-body">{s.bodyPart}</td>
              <td className="col-num mono">{formatCount(s.instances)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  return (
    <tr className="series-container" data-testid="series-container">
      <td colSpan={colSpan}>{body}</td>
    </tr>
  );
}
