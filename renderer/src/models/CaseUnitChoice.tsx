import { useId } from 'react';
import { t } from '../i18n/strings';
import { CASE_UNITS, type CaseUnit } from './validation-view';

/**
 * What one case of a validation is: a series (the default, scored over its images as the viewer scores it, so the
 * images of one exam do not count as independent cases) or a file (labels given per image). Each option's hint is
 * its description, not part of its name, so a screen reader reads the short name first.
 */
export function CaseUnitChoice({ value, onChange }: { value: CaseUnit; onChange: (unit: CaseUnit) => void }) {
  const id = useId();
  return (
    <div className="validate-case-unit" role="radiogroup" aria-labelledby={`${id}-label`} data-testid="validate-case-unit">
      <span className="field-label" id={`${id}-label`}>
        {t('models.caseUnit')}
      </span>
      {CASE_UNITS.map((u) => (
        <div key={u.unit} className="toggle">
          <input
            type="radio"
            id={`${id}-${u.unit}`}
            name={`${id}-case-unit`}
            value={u.unit}
            checked={value === u.unit}
            onChange={() => onChange(u.unit)}
            aria-describedby={`${id}-${u.unit}-hint`}
            data-testid={`validate-case-unit-${u.unit}`}
          />
          <label htmlFor={`${id}-${u.unit}`}>{t(u.label)}</label>
          <span className="muted" id={`${id}-${u.unit}-hint`}>
            {t(u.hint)}
          </span>
        </div>
      ))}
    </div>
  );
}
