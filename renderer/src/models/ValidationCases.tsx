import { useMemo, useState } from 'react';
import type { ValidationCase, ValidationResult } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { caseCounts, caseDisplayPath, caseMarker, caseOutcome, casesFolder, caseWarningTag, fmtScore, moreFilesNote, orderedCases, predictedName, splitCasePath } from './validation-view';

/**
 * The analysed cases of a validation, mistakes first (false negatives, then false positives, the most confident
 * first), so a clinic can pull up the cases the model got wrong. "Show only mistakes" keeps a large run's table short.
 */
export function ValidationCases({ result }: { result: ValidationResult }) {
  const ordered = useMemo(() => orderedCases(result.cases, result.threshold), [result.cases, result.threshold]);
  const counts = useMemo(() => caseCounts(result.cases), [result.cases]);
  const mistakes = counts.fn + counts.fp;
  const [onlyMistakes, setOnlyMistakes] = useState(mistakes > 0);
  const folder = casesFolder(result);
  const shown = onlyMistakes ? ordered.filter((c) => !c.correct) : ordered;
  return (
    <section className="validation-cases" aria-labelledby="validation-cases-heading" data-testid="validation-cases">
      <div className="validation-cases-head">
        <h3 id="validation-cases-heading">{t('models.casesHeading', { count: result.cases.length })}</h3>
        <span className="muted" data-testid="validation-cases-summary">
          {t('models.casesSummary', { mistakes, n: result.cases.length, fn: counts.fn, fp: counts.fp })}
        </span>
        <label className="toggle">
          <input type="checkbox" data-testid="cases-only-mistakes" checked={onlyMistakes} onChange={(e) => setOnlyMistakes(e.currentTarget.checked)} />
          <span>{t('models.casesOnlyMistakes')}</span>
        </label>
      </div>
      {shown.length === 0 ? (
        <p className="muted" data-testid="cases-no-mistakes">
          {t('models.casesNoMistakes')}
        </p>
      ) : (
        <div className="cases-table-scroll">
          <table className="cases-table" data-testid="cases-table">
            <colgroup>
              <col className="col-call" />
              <col />
              <col className="col-label" />
              <col className="col-score" />
              <col className="col-label" />
              <col className="col-warnings" />
            </colgroup>
            <thead>
              <tr>
                <th scope="col">{t('models.caseOutcome')}</th>
                <th scope="col">{t('models.caseFile')}</th>
                <th scope="col">{t('models.caseTruth')}</th>
                <th scope="col" className="num">
                  {t('models.caseScore', { label: result.positiveLabel })}
                </th>
                <th scope="col">{t('models.casePredicted')}</th>
                <th scope="col">{t('models.caseWarnings')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c, i) => (
                <CaseRow key={`${i}:${c.file}`} c={c} result={result} folder={folder} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CaseRow({ c, result, folder }: { c: ValidationCase; result: ValidationResult; folder: string }) {
  const outcome = caseOutcome(c);
  const marker = caseMarker(outcome, result.positiveLabel);
  const { dir, name } = splitCasePath(caseDisplayPath(c.file, folder));
  const predicted = predictedName(c, result);
  return (
    <tr data-testid="case-row" data-outcome={outcome} className={`case-${outcome}`}>
      <td>
        {/* The short mark for the eye, its meaning for screen readers (an aria-label on a plain span is not read). */}
        <abbr className={`case-marker ${outcome}`} title={marker.title}>
          <span aria-hidden="true">{marker.text}</span>
          <span className="visually-hidden">{marker.title}</span>
        </abbr>
      </td>
      {/* The folder part gives way first, so the file name stays readable; the title has the full path. */}
      <td className="case-file mono" title={[c.file, moreFilesNote(c)].filter(Boolean).join(' ')} data-testid="case-file">
        <span className="case-path">
          {dir && <span className="case-dir">{dir}</span>}
          <span className="case-name">{name}</span>
          <MoreFiles files={c.files} />
        </span>
      </td>
      <td className="case-label" title={c.label}>
        {c.label}
      </td>
      <td className="num mono" data-testid="case-score">
        {fmtScore(c.score)}
      </td>
      <td className="case-label" title={predicted}>
        {predicted}
      </td>
      <td className="case-warnings">
        {c.warnings?.map((code) => {
          const tag = caseWarningTag(code);
          return (
            <span key={code} className="case-tag" title={tag.title} data-code={code}>
              <span aria-hidden="true">{tag.tag}</span>
              <span className="visually-hidden">{tag.title}</span>
            </span>
          );
        })}
      </td>
    </tr>
  );
}

/** "+4 more files of its series" after the file shown for a case of several files; nothing for a case of one. */
export function MoreFiles({ files }: { files: number | undefined }) {
  const note = moreFilesNote({ files });
  if (!note) return null;
  // A no-break space: a flex item's leading space is dropped, and the note must not touch the file name.
  return (
    <span className="case-more muted" data-testid="case-more-files">
      {'\u00a0'}
      {note}
    </span>
  );
}
