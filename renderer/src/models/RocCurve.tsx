import type { ValidationResult } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { type RocGeometry, fmtMetric, rocGeometry } from './validation-view';

/** The frame, grid, tick values and axis labels of a square unit plot (this ROC, the shipped ROC, the reliability diagram). */
export function PlotAxes({ g, xLabel, yLabel }: { g: Pick<RocGeometry, 'size' | 'left' | 'top' | 'plot' | 'ticks'>; xLabel: string; yLabel: string }) {
  const bottom = g.top + g.plot;
  return (
    <>
      <rect x={g.left} y={g.top} width={g.plot} height={g.plot} className="roc-frame" />
      {g.ticks.map((tk) => (
        <g key={tk.value}>
          <line x1={g.left + tk.pos} y1={g.top} x2={g.left + tk.pos} y2={bottom} className="roc-grid" />
          <line x1={g.left} y1={bottom - tk.pos} x2={g.left + g.plot} y2={bottom - tk.pos} className="roc-grid" />
          <text x={g.left + tk.pos} y={bottom + 14} textAnchor="middle" className="roc-tick">
            {tk.value}
          </text>
          <text x={g.left - 6} y={bottom - tk.pos + 4} textAnchor="end" className="roc-tick">
            {tk.value}
          </text>
        </g>
      ))}
      <text x={g.left + g.plot / 2} y={g.size - 4} textAnchor="middle" className="roc-axis">
        {xLabel}
      </text>
      <text x={12} y={g.top + g.plot / 2} textAnchor="middle" className="roc-axis" transform={`rotate(-90 12 ${g.top + g.plot / 2})`}>
        {yLabel}
      </text>
    </>
  );
}

/** The ROC curve as an SVG (no chart library): curve, chance diagonal and the model's operating point. */
export function RocCurve({ result, size = 320 }: { result: Pick<ValidationResult, 'roc' | 'confusion' | 'auc' | 'threshold'>; size?: number }) {
  const g = rocGeometry(result.roc, result.confusion, size);
  return (
    <figure className="roc-figure" data-testid="roc-curve">
      <svg className="roc-curve" width={g.size} height={g.size} viewBox={`0 0 ${g.size} ${g.size}`} role="img" aria-label={t('models.rocAria', { auc: fmtMetric(result.auc) })}>
        <PlotAxes g={g} xLabel={t('models.rocX')} yLabel={t('models.rocY')} />
        <path d={g.diagonal} className="roc-diagonal" />
        <path d={g.curve} className="roc-line" data-testid="roc-path" />
        {g.point && <circle cx={g.point.x} cy={g.point.y} r={4.5} className="roc-point" data-testid="roc-operating-point" />}
      </svg>
      <figcaption className="muted">{t('models.rocCaption', { auc: fmtMetric(result.auc), threshold: result.threshold })}</figcaption>
    </figure>
  );
}
