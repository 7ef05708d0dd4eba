/**
 * Numbers of a finding as the findings panel shows them. Pure functions (the
 * E2E tests format stored results with them to find them on screen).
 */
import { t } from '../../i18n/strings';

/** A score or probability threshold: three decimals, scientific below 0.001 (so a tiny score is not shown as 0.000). */
export function formatScore(n: number): string {
  return Math.abs(n) < 0.001 && n !== 0 ? n.toExponential(1) : n.toFixed(3);
}

/** A volume in millilitres, to 0.1 mL. */
export function formatMl(ml: number): string {
  return ml.toFixed(1);
}

/** A patient's age: whole years from 2 years, months below, days under a month (as ages are said). */
export function formatAge(years: number): string {
  if (years >= 2) return t('findings.age.years', { n: Math.floor(years) });
  const months = Math.floor(years * 12 + 1e-9);
  return months >= 1 ? t('findings.age.months', { n: months }) : t('findings.age.days', { n: Math.floor(years * 365.2425 + 1e-9) });
}

/** A model's intended age range in years ("1–5 y", "≥ 18 y", "≤ 17 y"). */
export function formatAgeRange(range: { readonly min?: number; readonly max?: number } | null): string {
  if (range?.min !== undefined && range.max !== undefined) return t('findings.ageRange.between', { min: range.min, max: range.max });
  if (range?.min !== undefined) return t('findings.ageRange.min', { min: range.min });
  if (range?.max !== undefined) return t('findings.ageRange.max', { max: range.max });
  return t('findings.ageRange.any');
}
