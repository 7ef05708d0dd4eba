import type { ValidationResult } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { ConfusionMatrix } from './ConfusionMatrix';
import { RocCurve } from './RocCurve';
import { MoreFiles, ValidationCases } from './ValidationCases';
import { ReliabilityDiagram } from './ReliabilityDiagram';
import { analysedWholeWarning, EXCLUDED_REASONS_SHOWN, excludedReasons, fmtCi, fmtMetric, METRIC_ROWS, oneTruthWarning, validationSummary, vouchedUnrecordedWarning } from './validation-view';

/** The result of one local validation: banner, cases analysed whole, metrics with 95% CIs (calibration included), ROC, confusion matrix, reliability diagram, the analysed cases (mistakes first), excluded cases. */
export function ValidationReport({ result, onSave, saving }: { result: ValidationResult; onSave: () => void; saving: boolean }) {
  const analysedWhole = analysedWholeWarning(result);
  const vouchedUnrecorded = vouchedUnrecordedWarning(result);
  const oneTruth = oneTruthWarning(result);
  return (
    <section className="validation-report" aria-label={t('models.resultHeading')}>
      <div className="validation-head">
        <h2>{t('models.resultHeading')}</h2>
        <span className="muted" data-testid="validation-summary">
          {validationSummary(result)}
        </span>
        <span className="spacer" />
        <button type="button" className="button" data-testid="save-report" onClick={onSave} disabled={saving}>
          {t('models.saveReport')}
        </button>
      </div>
      <IntendedUseBanner clinicalUse={result.clinicalUse} intendedUse={result.intendedUse} />
      {analysedWhole && (
        <p className="run-warning" role="note" data-testid="analysed-whole">
          {analysedWhole}
        </p>
      )}
      {vouchedUnrecorded && (
        <p className="run-warning" role="note" data-testid="vouched-unrecorded">
          {vouchedUnrecorded}
        </p>
      )}
      {oneTruth && (
        <p className="run-warning" role="note" data-testid="one-truth">
          {oneTruth}
        </p>
      )}
      <p className="muted validation-meta">
        {t('models.reportRun', { at: result.finishedAt, provider: result.provider ?? 'n/a', seconds: result.seconds.toFixed(1) })} · {result.modelId} {result.modelVersion}
      </p>
      <div className="validation-grid">
        <table className="metrics-table" data-testid="validation-metrics">
          <thead>
            <tr>
              <th scope="col">{t('models.metric')}</th>
              <th scope="col">{t('models.value')}</th>
              <th scope="col">{t('models.ci95')}</th>
            </tr>
          </thead>
          <tbody>
            {METRIC_ROWS.map((m) => (
              <tr key={m.key} data-metric={m.key}>
                <th scope="row">
                  {m.label}
                  {m.note && <span className="metric-note">{t(m.note)}</span>}
                </th>
                <td className="num">{fmtMetric(result[m.key])}</td>
                <td className="num muted">{fmtCi(result.ci95[m.key])}</td>
              </tr>
            ))}
            <tr data-metric="n">
              <th scope="row">n</th>
              <td className="num">{result.n}</td>
              <td className="muted">{t('models.positivesOf', { positives: result.positives, label: result.positiveLabel })}</td>
            </tr>
            <tr data-metric="threshold">
              <th scope="row">{t('models.threshold')}</th>
              <td className="num">{result.threshold}</td>
              <td className="muted">{t('models.thresholdNote', { label: result.positiveLabel })}</td>
            </tr>
          </tbody>
          <tfoot>
            <tr>
              <td colSpan={3} className="muted">
                {result.ciMethod}
              </td>
            </tr>
          </tfoot>
        </table>
        <RocCurve result={result} />
        {/* One column: the reliability diagram fills the space under the short confusion matrix. */}
        <div className="validation-side">
          <ConfusionMatrix result={result} />
          <section className="validation-calibration" aria-label={t('models.reliabilityHeading')}>
            <h3>{t('models.reliabilityHeading')}</h3>
            <ReliabilityDiagram bins={result.reliability} ece={result.ece} size={320} none="models.validationReliabilityNone" testId="validation-reliability" />
          </section>
        </div>
      </div>
      <ValidationCases key={result.finishedAt} result={result} />
      <ExcludedReasons excluded={result.excluded} />
      <details className="excluded-cases" data-testid="excluded-cases" open={result.excluded.length > 0 && result.excluded.length <= 20}>
        <summary>{t('models.excludedHeading', { count: result.excluded.length })}</summary>
        {result.excluded.length === 0 ? (
          <p className="muted">{t('models.excludedNone')}</p>
        ) : (
          <ul className="excluded-list">
            {result.excluded.map((x, i) => (
              // A file listed under two labels is excluded once per label: the file alone is no key.
              <li key={`${i}:${x.file}`} className="excluded-case">
                <span className="mono excluded-file">{x.file}</span>
                <MoreFiles files={x.files} />
                <span className="badge">{x.label}</span>
                <span className="muted">
                  {x.status}: {x.reason}
                </span>
              </li>
            ))}
          </ul>
        )}
      </details>
    </section>
  );
}

/**
 * Why cases were excluded, each reason with its count (shown even when the list of excluded cases is folded: an
 * archive with hundreds of exclusions has a handful of reasons); nothing for fewer than two excluded cases.
 */
function ExcludedReasons({ excluded }: { excluded: ValidationResult['excluded'] }) {
  if (excluded.length < 2) return null;
  const reasons = excludedReasons(excluded);
  const others = reasons.length - EXCLUDED_REASONS_SHOWN;
  return (
    <div className="excluded-reasons" data-testid="excluded-reasons">
      <span className="field-label">{t('models.excludedReasons')}</span>
      <ul>
        {reasons.slice(0, EXCLUDED_REASONS_SHOWN).map((r) => (
          <li key={r.reason} data-count={r.count}>
            <span className="num">{r.count} ×</span> {r.reason}
          </li>
        ))}
        {others > 0 && <li className="muted">{t('models.excludedOtherReasons', { count: others })}</li>}
      </ul>
    </div>
  );
}

/** Intended use, and "not for clinical use" unless the manifest says the model is cleared for it. */
export function IntendedUseBanner({ clinicalUse, intendedUse }: { clinicalUse: boolean | null; intendedUse?: string | undefined }) {
  return (
    <div className={`intended-use ${clinicalUse === true ? '' : 'research'}`} data-testid="intended-use" role="note">
      {clinicalUse !== true && <strong>{t('models.notClinical')} </strong>}
      <span>{intendedUse ?? t('models.noIntendedUse')}</span>
    </div>
  );
}
