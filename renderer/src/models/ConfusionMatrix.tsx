import type { ValidationResult } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';

/** 2×2 confusion matrix at the model's operating point: truth in rows, prediction in columns. */
export function ConfusionMatrix({ result }: { result: Pick<ValidationResult, 'confusion' | 'positiveLabel' | 'negativeLabels' | 'threshold'> }) {
  const { tp, fn, fp, tn } = result.confusion;
  const pos = result.positiveLabel;
  const neg = result.negativeLabels.join(' / ') || t('models.notLabel', { label: pos });
  const cell = (kind: 'tp' | 'fn' | 'fp' | 'tn', count: number, correct: boolean) => (
    <td className={`cm-cell ${correct ? 'cm-correct' : 'cm-wrong'}`} data-testid={`cm-${kind}`}>
      <span className="cm-count">{count}</span>
      <span className="cm-kind">{t(`models.cm.${kind}`)}</span>
    </td>
  );
  return (
    <table className="confusion-matrix" data-testid="confusion-matrix">
      <caption className="muted">{t('models.cmCaption', { threshold: result.threshold })}</caption>
      <thead>
        <tr>
          <th scope="col" className="cm-corner">
            {t('models.cmTruth')} \ {t('models.cmPredicted')}
          </th>
          <th scope="col">{pos}</th>
          <th scope="col">{neg}</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">{pos}</th>
          {cell('tp', tp, true)}
          {cell('fn', fn, false)}
        </tr>
        <tr>
          <th scope="row">{neg}</th>
          {cell('fp', fp, false)}
          {cell('tn', tn, true)}
        </tr>
      </tbody>
    </table>
  );
}
