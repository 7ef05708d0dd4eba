/** Display formatting of DICOM values. Pure functions; output is plain text. */

/** DICOM DA (YYYYMMDD) → YYYY-MM-DD; anything else is returned trimmed as-is. */
export function formatDicomDate(value: string): string {
  const v = value.trim();
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (m) return `${m[1]}-${m[2]}-${m[3]}`;
  // Old ACR-NEMA style "YYYY.MM.DD"
  const dotted = /^(\d{4})\.(\d{2})\.(\d{2})$/.exec(v);
  if (dotted) return `${dotted[1]}-${dotted[2]}-${dotted[3]}`;
  return v;
}

/** <input type="date"> value (YYYY-MM-DD) → DICOM DA (YYYYMMDD), or undefined when empty/invalid. */
export function toDicomDate(inputValue: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(inputValue.trim());
  return m ? `${m[1]}${m[2]}${m[3]}` : undefined;
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;

function formatGroup(group: string): string {
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = group.split('^').map((s) => s.trim());
  const isCjk = CJK.test(family) || CJK.test(given);
  if (isCjk) {
    // East-Asian order: family name then given name, no comma.
    return [prefix, `${family}${given}${middle}`, suffix].filter(Boolean).join(' ');
  }
  const rest = [given, middle].filter(Boolean).join(' ');
  const core = family && rest ? `${family}, ${rest}` : family || rest;
  const withPrefix = [prefix, core].filter(Boolean).join(' ');
  return suffix ? (withPrefix ? `${withPrefix}, ${suffix}` : suffix) : withPrefix;
}

/**
 * DICOM PN → readable text: "Doe^Jane" → "Doe, Jane". Component groups
 * (alphabetic=ideographic=phonetic) are shown as "Alphabetic (Ideographic)".
 */
export function formatPersonName(value: string): string {
  const raw = value.trim();
  const parts = raw.split('=');
  // Not a structured name (markup, or more groups than DICOM allows): show it verbatim.
  if (parts.length > 3 || /[<>]/.test(raw)) return raw;
  const groups = parts
    .map((g) => formatGroup(g))
    .filter((g) => g !== '');
  const [first, second] = groups;
  if (!first) return '';
  return second && second !== first ? `${first} (${second})` : first;
}

export function formatSex(value: string): string {
  return value.trim().toUpperCase();
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Seconds → "1 h 02 min", "3 min 05 s", "42 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatRate(rate: number): string {
  if (!Number.isFinite(rate) || rate <= 0) return '0';
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

/** ISO timestamp → "2025-01-31 14:05" in local time. */
export function formatTimestamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Elapsed milliseconds → "0.4 s" under ten seconds, else as formatDuration. */
export function formatElapsed(ms: number): string {
  const seconds = ms / 1000;
  if (Number.isFinite(seconds) && seconds >= 0 && seconds < 10) return `${seconds.toFixed(1)} s`;
  return formatDuration(seconds);
}
