/**
 * The performance a model package ships (metrics.json, test split): AUC with
 * its CI, the operating point, the ROC curve (or the operating point alone
 * when no ROC points are shipped) and the reliability (calibration) diagram.
 */
import type { ModelInfo, ModelMetrics } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { ReliabilityDiagram } from './ReliabilityDiagram';
import { PlotAxes } from './RocCurve';
import { fmtCi, fmtMetric, rocGeometryOf } from './validation-view';

/** The shipped ROC: the curve when metrics.json has its points, always the operating point (1 − specificity, sensitivity). */
export function ShippedRoc({ metrics, size = 300 }: { metrics: ModelMetrics; size?: number }) {
  const op = metrics.sensitivity !== null && metrics.specificity !== null ? { fpr: 1 - metrics.specificity, tpr: metrics.sensitivity } : null;
  const points = metrics.roc ? metrics.roc.fpr.map((fpr, i) => ({ fpr, tpr: metrics.roc!.tpr[i]! })) : [];
  const g = rocGeometryOf(points, op, size);
  const auc = fmtMetric(metrics.auc);
  const threshold = metrics.threshold ?? 'n/a';
  return (
    <figure className="roc-figure" data-testid="shipped-roc">
      <svg className="roc-curve" width={g.size} height={g.size} viewBox={`0 0 ${g.size} ${g.size}`} role="img" aria-label={t('models.rocAria', { auc })}>
        <PlotAxes g={g} xLabel={t('models.rocX')} yLabel={t('models.rocY')} />
        <path d={g.diagonal} className="roc-diagonal" />
        {points.length > 0 && <path d={g.curve} className="roc-line" data-testid="shipped-roc-path" />}
        {g.point && <circle cx={g.point.x} cy={g.point.y} r={4.5} className="roc-point" data-testid="shipped-roc-operating-point" />}
      </svg>
      <figcaption className="muted">{points.length > 0 ? t('models.rocCaption', { auc, threshold }) : t('models.rocNoPoints', { auc, threshold })}</figcaption>
    </figure>
  );
}

/** The selected model's shipped performance, or a note that the package ships none. */
export function ShippedMetrics({ model }: { model: ModelInfo }) {
  const m = model.metrics;
  return (
    <section className="panel model-detail" aria-labelledby="model-detail-heading" data-testid="model-detail" data-model-id={model.id}>
      <h2 id="model-detail-heading">{t('models.detailHeading', { model: model.name || model.id })}</h2>
      {!m ? (
        <p className="muted" data-testid="model-detail-none">
          {t('models.detailNone')}
        </p>
      ) : (
        <>
          <p className="model-detail-summary" data-testid="model-detail-summary">
            <span>{t('models.detailSummary', { n: m.n, positives: m.positives, label: m.positiveLabel ?? '' })}</span>
            <span>{t('models.detailAuc', { auc: fmtMetric(m.auc), ci: m.aucCi95 ? fmtCi(m.aucCi95) : 'n/a' })}</span>
            <span>{t('models.detailOperating', { threshold: m.threshold ?? 'n/a', sensitivity: fmtMetric(m.sensitivity), specificity: fmtMetric(m.specificity) })}</span>
          </p>
          {m.dataset && <p className="muted model-detail-dataset">{m.dataset}</p>}
          <div className="model-detail-plots">
            <div>
              <h3>{t('models.rocHeading')}</h3>
              <ShippedRoc metrics={m} />
            </div>
            <div>
              <h3>{t('models.reliabilityHeading')}</h3>
              <ReliabilityDiagram bins={m.reliability} ece={m.ece} />
            </div>
          </div>
        </>
      )}
    </section>
  );
}
