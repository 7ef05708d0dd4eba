/** Measurement annotations (length, angle, rectangle/ellipse ROI) as text for the side panel. */
import { annotation } from '@cornerstonejs/tools';
import { t } from '../i18n/strings';
import { isCalibratedByImagerPixelSpacing } from './cornerstone/init-cornerstone';

export interface MeasurementRow {
  readonly uid: string;
  readonly tool: string;
  readonly imageId: string;
  readonly text: string;
}

const TOOL_LABEL: Record<string, string> = {
  Length: 'Length',
  Angle: 'Angle',
  RectangleROI: 'Rectangle',
  EllipticalROI: 'Ellipse',
};

type Stats = Record<string, number | string | undefined>;

function n(v: unknown, digits: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

/** `spacingNote` labels a calibration that is not PixelSpacing (e.g. ImagerPixelSpacing). */
export function describeStats(tool: string, stats: Stats, spacingNote = ''): string {
  const note = spacingNote ? ` (${spacingNote})` : '';
  switch (tool) {
    case 'Length':
      return `${n(stats.length, 1)} ${stats.unit ?? 'mm'}${note}`;
    case 'Angle':
      return `${n(stats.angle, 1)}°`;
    case 'RectangleROI':
    case 'EllipticalROI': {
      const unit = typeof stats.modalityUnit === 'string' ? ` ${stats.modalityUnit}` : '';
      return `mean ${n(stats.mean, 1)} SD ${n(stats.stdDev, 1)} min ${n(stats.min, 0)} max ${n(stats.max, 0)}${unit} · area ${n(stats.area, 1)} ${stats.areaUnit ?? 'mm²'}${note}`;
    }
    default:
      return '';
  }
}

/** `spacingNoteFor` may add a note per image; images calibrated only by ImagerPixelSpacing are always labelled so. */
export function listMeasurements(spacingNoteFor: (imageId: string) => string): MeasurementRow[] {
  const all = annotation.state.getAllAnnotations();
  const rows: MeasurementRow[] = [];
  for (const a of all) {
    const tool = a.metadata?.toolName ?? '';
    if (!(tool in TOOL_LABEL)) continue;
    const cached = (a.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {};
    const stats = Object.values(cached)[0];
    if (!stats) continue;
    const imageId = a.metadata?.referencedImageId ?? '';
    rows.push({ uid: a.annotationUID ?? '', tool: TOOL_LABEL[tool] ?? tool, imageId, text: describeStats(tool, stats, isCalibratedByImagerPixelSpacing(imageId) ? t('viewer.imagerSpacing') : spacingNoteFor(imageId)) });
  }
  return rows;
}

export function clearMeasurements(): void {
  annotation.state.removeAllAnnotations();
}
