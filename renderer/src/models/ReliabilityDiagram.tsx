/**
 * The reliability (calibration) diagram of a model's scores: the shipped
 * package's (ShippedMetrics) and a local validation's (ValidationReport).
 */
import type { ReliabilityBin } from '../../../contract/ipc-contract';
import { type StringId, t } from '../i18n/strings';
import { PlotAxes } from './RocCurve';
import { fmtMetric, reliabilityGeometry } from './validation-view';

const pct = (v: number) => v.toFixed(2);

/** Reliability diagram: each non-empty bin's mean predicted probability against its observed positive rate. */
export function ReliabilityDiagram({
  bins,
  ece,
  size = 300,
  none = 'models.reliabilityNone',
  testId = 'reliability-diagram',
}: {
  bins: readonly ReliabilityBin[];
  ece: number | null;
  size?: number;
  /** Said instead of the plot when no bin has cases (the shipped package's wording by default). */
  none?: StringId;
  testId?: string;
}) {
  const g = reliabilityGeometry(bins, size);
  if (g.points.length === 0) return <p className="muted" data-testid={`${testId}-none`}>{t(none)}</p>;
  return (
    <figure className="roc-figure" data-testid={testId}>
      <svg className="roc-curve" width={g.size} height={g.size} viewBox={`0 0 ${g.size} ${g.size}`} role="img" aria-label={t('models.reliabilityAria', { ece: fmtMetric(ece) })}>
        <PlotAxes g={g} xLabel={t('models.reliabilityX')} yLabel={t('models.reliabilityY')} />
        <path d={g.diagonal} className="roc-diagonal" />
        <path d={g.curve} className="roc-line" />
        {g.points.map((p) => (
          <circle key={p.bin.lo} cx={p.x} cy={p.y} r={p.r} className="reliability-point" data-testid="reliability-bin" data-n={p.bin.n}>
            <title>{t('models.reliabilityBin', { lo: pct(p.bin.lo), hi: pct(p.bin.hi), n: p.bin.n, predicted: pct(p.bin.meanPredicted!), observed: pct(p.bin.observed!) })}</title>
          </circle>
        ))}
      </svg>
      <figcaption className="muted">{t('models.reliabilityCaption', { ece: fmtMetric(ece) })}</figcaption>
    </figure>
  );
}
