/**
 * Numbers of a finding as the findings panel shows them. Pure functions (the
 * E2E tests format stored results with them to find them on screen).
 */

/** A score or probability threshold: three decimals, scientific below 0.001 (so a tiny score is not shown as 0.000). */
export function formatScore(n: number): string {
  return Math.abs(n) < 0.001 && n !== 0 ? n.toExponential(1) : n.toFixed(3);
}

/** A volume in millilitres, to 0.1 mL. */
export function formatMl(ml: number): string {
  return ml.toFixed(1);
}
