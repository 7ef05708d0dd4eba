/**
 * The saved validation report: one self-contained HTML file (inline CSS and
 * SVG, no scripts, no external resources). Every piece of text that came from
 * a model package, a file path or the host is HTML-escaped.
 */
import type { RuntimeInfo, ValidationResult } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { fmtCi, fmtMetric, METRIC_ROWS, rocGeometry } from './validation-view';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function rocSvg(r: ValidationResult): string {
  const g = rocGeometry(r.roc, r.confusion, 360);
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
  const point = g.point ? `<circle cx="${g.point.x.toFixed(2)}" cy="${g.point.y.toFixed(2)}" r="4.5" fill="#d9480f"/>` : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${g.size}" height="${g.size}" viewBox="0 0 ${g.size} ${g.size}" role="img" aria-label="${escapeHtml(t('models.rocAria', { auc: fmtMetric(r.auc) }))}">` +
    `<rect x="${g.left}" y="${g.top}" width="${g.plot}" height="${g.plot}" fill="none" stroke="#999"/>${ticks}` +
    `<path d="${g.diagonal}" stroke="#aaa" stroke-dasharray="4 4" fill="none"/>` +
    `<path d="${g.curve}" stroke="#1864ab" stroke-width="2" fill="none"/>${point}` +
    `<text x="${g.left + g.plot / 2}" y="${g.size - 4}" text-anchor="middle" font-size="12">${escapeHtml(t('models.rocX'))}</text>` +
    `<text x="12" y="${g.top + g.plot / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 ${g.top + g.plot / 2})">${escapeHtml(t('models.rocY'))}</text>` +
    `</svg>`
  );
}

/** The report as a complete HTML document. */
export function buildReportHtml(r: ValidationResult, runtime?: RuntimeInfo | null): string {
  const e = escapeHtml;
  const neg = r.negativeLabels.join(' / ') || t('models.notLabel', { label: r.positiveLabel });
  const c = r.confusion;
  const metricRows = METRIC_ROWS.map((m) => `<tr><th scope="row">${e(m.label)}</th><td>${e(fmtMetric(r[m.key]))}</td><td>${e(fmtCi(r.ci95[m.key]))}</td></tr>`).join('');
  const excluded =
    r.excluded.length === 0
      ? `<p>${e(t('models.excludedNone'))}</p>`
      : `<table class="list"><thead><tr><th>${e(t('models.excludedFile'))}</th><th>${e(t('models.excludedLabel'))}</th><th>${e(t('models.excludedStatus'))}</th><th>${e(t('models.excludedReason'))}</th></tr></thead><tbody>${r.excluded
          .map((x) => `<tr><td class="mono">${e(x.file)}</td><td>${e(x.label)}</td><td>${e(x.status)}</td><td>${e(x.reason)}</td></tr>`)
          .join('')}</tbody></table>`;
  const banner = r.clinicalUse ? e(r.intendedUse) : `<strong>${e(t('models.notClinical'))}</strong> ${e(r.intendedUse)}`;
  const runtimeLine = runtime ? ` · ONNX Runtime ${e(runtime.ortVersion ?? 'n/a')} on ${e(runtime.platform)}-${e(runtime.arch)}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(t('models.reportTitle', { model: r.modelId }))}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d232b;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.banner{border:1px solid #e5a93b;background:#fff6e0;padding:8px 12px;border-radius:6px}
table{border-collapse:collapse}th,td{border:1px solid #ccd;padding:4px 10px;text-align:left}
.metrics td{font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.cm td{text-align:center;min-width:110px}.cm .ok{background:#e6f4ea}.cm .bad{background:#fdecea}
.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}.meta{color:#555}
</style></head><body>
<h1>${e(t('models.reportTitle', { model: r.modelName || r.modelId }))}</h1>
<p class="meta">${e(r.modelId)} ${e(r.modelVersion)} · sha-256 <span class="mono">${e(r.modelSha256)}</span></p>
<p class="banner">${banner}</p>
<p class="meta">${e(t('models.reportCases', { path: r.casesPath }))}<br>${e(t('models.summary', { n: r.n, positives: r.positives, label: r.positiveLabel, threshold: r.threshold }))}<br>${e(t('models.reportRun', { at: r.finishedAt, provider: r.provider ?? 'n/a', seconds: r.seconds.toFixed(1) }))}${runtimeLine}</p>
<h2>${e(t('models.metricsHeading'))}</h2>
<table class="metrics"><thead><tr><th>${e(t('models.metric'))}</th><th>${e(t('models.value'))}</th><th>${e(t('models.ci95'))}</th></tr></thead><tbody>${metricRows}
<tr><th scope="row">n</th><td>${r.n}</td><td></td></tr><tr><th scope="row">${e(t('models.threshold'))}</th><td>${e(r.threshold)}</td><td></td></tr></tbody></table>
<p class="meta">${e(r.ciMethod)}</p>
<div class="row"><section><h2>${e(t('models.rocHeading'))}</h2>${rocSvg(r)}</section>
<section><h2>${e(t('models.cmHeading'))}</h2>
<table class="cm"><thead><tr><th>${e(t('models.cmTruth'))} \\ ${e(t('models.cmPredicted'))}</th><th>${e(r.positiveLabel)}</th><th>${e(neg)}</th></tr></thead>
<tbody><tr><th>${e(r.positiveLabel)}</th><td class="ok">${c.tp}<br>${e(t('models.cm.tp'))}</td><td class="bad">${c.fn}<br>${e(t('models.cm.fn'))}</td></tr>
<tr><th>${e(neg)}</th><td class="bad">${c.fp}<br>${e(t('models.cm.fp'))}</td><td class="ok">${c.tn}<br>${e(t('models.cm.tn'))}</td></tr></tbody></table></section></div>
<h2>${e(t('models.excludedHeading', { count: r.excluded.length }))}</h2>${excluded}
</body></html>
`;
}
