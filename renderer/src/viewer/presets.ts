/** Window/level presets. Values in HU for CT (after rescale slope/intercept). */
export interface WindowPreset {
  readonly id: string;
  readonly label: string;
  /** Keyboard shortcut ("1"–"5") or empty. */
  readonly key: string;
  readonly center: number;
  readonly width: number;
}

export const CT_PRESETS: readonly WindowPreset[] = [
  { id: 'brain', label: 'Brain', key: '1', center: 40, width: 80 },
  { id: 'lung', label: 'Lung', key: '2', center: -600, width: 1500 },
  { id: 'mediastinum', label: 'Mediastinum', key: '3', center: 50, width: 350 },
  { id: 'abdomen', label: 'Abdomen', key: '4', center: 40, width: 400 },
  { id: 'bone', label: 'Bone', key: '5', center: 480, width: 2500 },
];

/** DICOM windows (PS3.3 C.11.2.1.2.1, LINEAR, as Cornerstone applies them): center/width → value range. */
export function windowToRange(center: number, width: number): { lower: number; upper: number } {
  const w = Math.max(1, width);
  return { lower: center - 0.5 - (w - 1) / 2, upper: center - 0.5 + (w - 1) / 2 };
}

export function rangeToWindow(range: { lower: number; upper: number }): { center: number; width: number } {
  return { center: (range.lower + range.upper) / 2 + 0.5, width: range.upper - range.lower + 1 };
}

/** The file's own windows (WindowCenter/WindowWidth, possibly multi-valued, with explanations). */
export function fileWindows(center: unknown, width: unknown, explanation: unknown): WindowPreset[] {
  const list = (v: unknown): number[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).map(Number).filter((n) => Number.isFinite(n));
  const centers = list(center);
  const widths = list(width);
  const names = Array.isArray(explanation) ? explanation.map(String) : typeof explanation === 'string' ? explanation.split('\\') : [];
  const out: WindowPreset[] = [];
  for (let i = 0; i < Math.min(centers.length, widths.length); i++) {
    const c = centers[i] as number;
    const w = widths[i] as number;
    if (w <= 0) continue;
    out.push({ id: `file-${i + 1}`, label: names[i]?.trim() || `W ${Math.round(w)} / L ${Math.round(c)}`, key: '', center: c, width: w });
  }
  return out;
}
