/**
 * The saved validation report: one self-contained HTML file (inline CSS and
 * SVG, no scripts, no external resources): cases analysed whole without their
 * B-mode region, metrics with calibration, ROC, confusion matrix, reliability
 * diagram with its bins, the misclassified cases (false negatives first),
 * excluded cases. Every
 * piece of text that came from a model package, a file path or the host is
 * HTML-escaped.
 */
import type { RuntimeInfo, ValidationResult } from '../../../contract/ipc-contract';
import { getLocale, t } from '../i18n/strings';
import {
  type RocGeometry,
  analysedWholeWarning,
  caseCounts,
  caseDisplayPath,
  caseMarker,
  caseOutcome,
  casesFolder,
  caseWarningTag,
  EXCLUDED_REASONS_SHOWN,
  excludedReasons,
  fmtCi,
  fmtMetric,
  fmtScore,
  METRIC_ROWS,
  moreFilesNote,
  negativeName,
  oneTruthWarning,
  orderedCases,
  predictedName,
  reliabilityGeometry,
  rocGeometry,
  validationSummary,
  vouchedUnrecordedWarning,
} from './validation-view';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Frame, grid, tick values and axis labels of a square unit plot (the ROC and the reliability diagram). */
function plotAxesSvg(g: Pick<RocGeometry, 'size' | 'left' | 'top' | 'plot' | 'ticks'>, xLabel: string, yLabel: string): string {
  const bottom = g.top + g.plot;
  const ticks = g.ticks
    .map(
      (tk) =>
        `<line x1="${g.left + tk.pos}" y1="${g.top}" x2="${g.left + tk.pos}" y2="${bottom}" stroke="#ddd"/>` +
        `<line x1="${g.left}" y1="${bottom - tk.pos}" x2="${g.left + g.plot}" y2="${bottom - tk.pos}" stroke="#ddd"/>` +
        `<text x="${g.left + tk.pos}" y="${bottom + 14}" text-anchor="middle" font-size="11">${tk.value}</text>` +
        `<text x="${g.left - 6}" y="${bottom - tk.pos + 4}" text-anchor="end" font-size="11">${tk.value}</text>`,
    )
    .join('');
  return (
    `<rect x="${g.left}" y="${g.top}" width="${g.plot}" height="${g.plot}" fill="none" stroke="#999"/>${ticks}` +
    `<text x="${g.left + g.plot / 2}" y="${g.size - 4}" text-anchor="middle" font-size="12">${escapeHtml(xLabel)}</text>` +
    `<text x="12" y="${g.top + g.plot / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 ${g.top + g.plot / 2})">${escapeHtml(yLabel)}</text>`
  );
}

function svgOpen(size: number, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="${escapeHtml(label)}">`;
}

function rocSvg(r: ValidationResult): string {
  const g = rocGeometry(r.roc, r.confusion, 360);
  const point = g.point ? `<circle cx="${g.point.x.toFixed(2)}" cy="${g.point.y.toFixed(2)}" r="4.5" fill="#d9480f"/>` : '';
  return (
    svgOpen(g.size, t('models.rocAria', { auc: fmtMetric(r.auc) })) +
    plotAxesSvg(g, t('models.rocX'), t('models.rocY')) +
    `<path d="${g.diagonal}" stroke="#aaa" stroke-dasharray="4 4" fill="none"/>` +
    `<path d="${g.curve}" stroke="#1864ab" stroke-width="2" fill="none"/>${point}</svg>`
  );
}

const prob = (v: number) => v.toFixed(2);

/** Observed positive rate against mean predicted probability per non-empty bin; dot area ∝ cases, each dot labelled with its n (a saved file has no tooltips). */
function reliabilitySvg(r: ValidationResult): string {
  const g = reliabilityGeometry(r.reliability, 360);
  if (g.points.length === 0) return `<p class="meta">${escapeHtml(t('models.validationReliabilityNone'))}</p>`;
  const dots = g.points
    .map((p) => {
      const title = t('models.reliabilityBin', { lo: prob(p.bin.lo), hi: prob(p.bin.hi), n: p.bin.n, predicted: prob(p.bin.meanPredicted!), observed: prob(p.bin.observed!) });
      // The n label sits right of the dot, or left of it near the right edge.
      const right = p.x + p.r + 3 + 24 <= g.left + g.plot;
      const lx = right ? p.x + p.r + 3 : p.x - p.r - 3;
      return (
        `<circle cx="${p.x.toFixed(2)}" cy="${p.y.toFixed(2)}" r="${p.r.toFixed(2)}" fill="#1864ab" fill-opacity="0.7" stroke="#fff"><title>${escapeHtml(title)}</title></circle>` +
        `<text x="${lx.toFixed(2)}" y="${(p.y + 4).toFixed(2)}" text-anchor="${right ? 'start' : 'end'}" font-size="10" fill="#333">${p.bin.n}</text>`
      );
    })
    .join('');
  return (
    svgOpen(g.size, t('models.reliabilityAria', { ece: fmtMetric(r.ece) })) +
    plotAxesSvg(g, t('models.reliabilityX'), t('models.reliabilityY')) +
    `<path d="${g.diagonal}" stroke="#aaa" stroke-dasharray="4 4" fill="none"/>` +
    `<path d="${g.curve}" stroke="#1864ab" stroke-width="1.5" fill="none"/>${dots}</svg>` +
    `<p class="meta caption">${escapeHtml(t('models.reliabilityCaption', { ece: fmtMetric(r.ece) }))}</p>`
  );
}

/** Every bin, empty ones included, so the plot can be checked number by number. */
function reliabilityTable(r: ValidationResult): string {
  if (r.reliability.length === 0) return '';
  const e = escapeHtml;
  const rows = r.reliability
    .map((b) => `<tr><td>${prob(b.lo)}–${prob(b.hi)}</td><td>${b.n}</td><td>${e(fmtMetric(b.meanPredicted))}</td><td>${e(fmtMetric(b.observed))}</td></tr>`)
    .join('');
  return `<table class="bins"><thead><tr><th>${e(t('models.reliabilityBinRange'))}</th><th>${e(t('models.reliabilityCases'))}</th><th>${e(t('models.reliabilityX'))}</th><th>${e(t('models.reliabilityY'))}</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** "+4 more files of its series" after the file shown for a case of several files, escaped; '' for a case of one. */
function moreFilesHtml(c: { files?: number | undefined }): string {
  const note = moreFilesNote(c);
  return note ? ` <span class="meta">${escapeHtml(note)}</span>` : '';
}

/** Every misclassified case, false negatives first (each the farthest from the threshold first), and how many were right. */
function misclassifiedSection(r: ValidationResult): string {
  const e = escapeHtml;
  const counts = caseCounts(r.cases);
  const mistakes = orderedCases(r.cases, r.threshold).filter((c) => !c.correct);
  const folder = casesFolder(r);
  const heading = `<h2>${e(t('models.misclassifiedHeading', { count: mistakes.length }))}</h2>`;
  const correct = `<p class="meta" data-testid="correct-count">${e(t('models.correctCount', { correct: counts.correct, n: r.cases.length }))}</p>`;
  if (mistakes.length === 0) return `${heading}${correct}<p>${e(t('models.casesNoMistakes'))}</p>`;
  const rows = mistakes
    .map((c) => {
      const outcome = caseOutcome(c);
      const marker = caseMarker(outcome, r.positiveLabel);
      const tags = (c.warnings ?? []).map((code) => caseWarningTag(code)).map((w) => `<span class="tag" title="${e(w.title)}">${e(w.tag)}</span>`).join(' ');
      return (
        `<tr data-outcome="${outcome}"><td class="${outcome}" title="${e(marker.title)}">${e(marker.text)}</td>` +
        `<td class="mono" title="${e(c.file)}">${e(caseDisplayPath(c.file, folder))}${moreFilesHtml(c)}</td><td>${e(c.label)}</td>` +
        `<td class="num">${e(fmtScore(c.score))}</td><td>${e(predictedName(c, r))}</td><td>${tags}</td></tr>`
      );
    })
    .join('');
  return (
    `${heading}${correct}<table class="list cases" data-testid="misclassified"><thead><tr><th>${e(t('models.caseOutcome'))}</th><th>${e(t('models.caseFile'))}</th>` +
    `<th>${e(t('models.caseTruth'))}</th><th>${e(t('models.caseScore', { label: r.positiveLabel }))}</th><th>${e(t('models.casePredicted'))}</th>` +
    `<th>${e(t('models.caseWarnings'))}</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

/** The report as a complete HTML document. */
export function buildReportHtml(r: ValidationResult, runtime?: RuntimeInfo | null): string {
  const e = escapeHtml;
  const neg = negativeName(r);
  const c = r.confusion;
  const metricRows = METRIC_ROWS.map(
    (m) => `<tr data-metric="${m.key}"><th scope="row">${e(m.label)}${m.note ? `<br><small>${e(t(m.note))}</small>` : ''}</th><td>${e(fmtMetric(r[m.key]))}</td><td>${e(fmtCi(r.ci95[m.key]))}</td></tr>`,
  ).join('');
  const excluded =
    r.excluded.length === 0
      ? `<p>${e(t('models.excludedNone'))}</p>`
      : `<table class="list"><thead><tr><th>${e(t('models.excludedFile'))}</th><th>${e(t('models.excludedLabel'))}</th><th>${e(t('models.excludedStatus'))}</th><th>${e(t('models.excludedReason'))}</th></tr></thead><tbody>${r.excluded
          .map((x) => `<tr><td class="mono">${e(x.file)}${moreFilesHtml(x)}</td><td>${e(x.label)}</td><td>${e(x.status)}</td><td>${e(x.reason)}</td></tr>`)
          .join('')}</tbody></table>`;
  const banner = r.clinicalUse ? e(r.intendedUse) : `<strong>${e(t('models.notClinical'))}</strong> ${e(r.intendedUse)}`;
  const whole = analysedWholeWarning(r);
  const analysedWhole = whole ? `\n<p class="banner whole" data-testid="analysed-whole">${e(whole)}</p>` : '';
  const vouched = vouchedUnrecordedWarning(r);
  const vouchedUnrecorded = vouched ? `\n<p class="banner" data-testid="vouched-unrecorded">${e(vouched)}</p>` : '';
  const truth = oneTruthWarning(r);
  const oneTruth = truth ? `\n<p class="banner" data-testid="one-truth">${e(truth)}</p>` : '';
  const runtimeLine = runtime ? ` · ONNX Runtime ${e(runtime.ortVersion ?? 'n/a')} on ${e(runtime.platform)}-${e(runtime.arch)}` : '';
  return `<!doctype html>
<html lang="${getLocale()}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(t('models.reportTitle', { model: r.modelId }))}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d232b;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.banner{border:1px solid #e5a93b;background:#fff6e0;padding:8px 12px;border-radius:6px}.banner.whole{border-color:#c92a2a;background:#fdecea;color:#a61e1e}
table{border-collapse:collapse}th,td{border:1px solid #ccd;padding:4px 10px;text-align:left}
.metrics td{font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.cm td{text-align:center;min-width:110px}.cm .ok{background:#e6f4ea}.cm .bad{background:#fdecea}
.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}.meta{color:#555}
th small{font-weight:400;color:#555}.caption{max-width:360px;font-size:12px}.bins td{font-variant-numeric:tabular-nums;text-align:right}
.cases .num{font-variant-numeric:tabular-nums;text-align:right}.cases .fn{color:#a61e1e;font-weight:600;background:#fdecea}.cases .fp{color:#8a5a00;font-weight:600;background:#fff6e0}
.tag{display:inline-block;border:1px solid #ccd;border-radius:3px;padding:0 4px;font-size:11px;color:#555;white-space:nowrap}
</style></head><body>
<h1>${e(t('models.reportTitle', { model: r.modelName || r.modelId }))}</h1>
<p class="meta">${e(r.modelId)} ${e(r.modelVersion)} · sha-256 <span class="mono">${e(r.modelSha256)}</span></p>
<p class="banner">${banner}</p>${analysedWhole}${vouchedUnrecorded}${oneTruth}
<p class="meta">${e(t('models.reportCases', { path: r.casesPath }))}<br><span data-testid="validation-summary">${e(validationSummary(r))}</span><br>${e(t('models.reportRun', { at: r.finishedAt, provider: r.provider ?? 'n/a', seconds: r.seconds.toFixed(1) }))}${runtimeLine}</p>
<h2>${e(t('models.metricsHeading'))}</h2>
<table class="metrics"><thead><tr><th>${e(t('models.metric'))}</th><th>${e(t('models.value'))}</th><th>${e(t('models.ci95'))}</th></tr></thead><tbody>${metricRows}
<tr><th scope="row">n</th><td>${r.n}</td><td></td></tr><tr><th scope="row">${e(t('models.threshold'))}</th><td>${e(r.threshold)}</td><td></td></tr></tbody></table>
<p class="meta">${e(r.ciMethod)}</p>
<div class="row"><section><h2>${e(t('models.rocHeading'))}</h2>${rocSvg(r)}</section>
<section><h2>${e(t('models.cmHeading'))}</h2>
<table class="cm"><thead><tr><th>${e(t('models.cmTruth'))} \\ ${e(t('models.cmPredicted'))}</th><th>${e(r.positiveLabel)}</th><th>${e(neg)}</th></tr></thead>
<tbody><tr><th>${e(r.positiveLabel)}</th><td class="ok">${c.tp}<br>${e(t('models.cm.tp'))}</td><td class="bad">${c.fn}<br>${e(t('models.cm.fn'))}</td></tr>
<tr><th>${e(neg)}</th><td class="bad">${c.fp}<br>${e(t('models.cm.fp'))}</td><td class="ok">${c.tn}<br>${e(t('models.cm.tn'))}</td></tr></tbody></table></section></div>
${misclassifiedSection(r)}
<h2>${e(t('models.reliabilityHeading'))}</h2>
<div class="row"><section class="reliability">${reliabilitySvg(r)}</section><section>${reliabilityTable(r)}</section></div>
<h2>${e(t('models.excludedHeading', { count: r.excluded.length }))}</h2>${reasonsHtml(r.excluded)}${excluded}
</body></html>
`;
}

/** Why cases were excluded, each reason with its count, above the list (nothing for fewer than two excluded cases). */
function reasonsHtml(excluded: ValidationResult['excluded']): string {
  if (excluded.length < 2) return '';
  const reasons = excludedReasons(excluded);
  const others = reasons.length - EXCLUDED_REASONS_SHOWN;
  const e = escapeHtml;
  const items = reasons.slice(0, EXCLUDED_REASONS_SHOWN).map((r) => `<li data-count="${r.count}">${r.count} × ${e(r.reason)}</li>`);
  if (others > 0) items.push(`<li>${e(t('models.excludedOtherReasons', { count: others }))}</li>`);
  return `<p>${e(t('models.excludedReasons'))}</p><ul data-testid="excluded-reasons">${items.join('')}</ul>`;
}
