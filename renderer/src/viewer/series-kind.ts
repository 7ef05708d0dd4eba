import type { InstanceSummary } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';

/** What a series holds, from its SOP classes: images, or an object that is not an image. */
export type NonImageKind = 'SR' | 'SEG' | 'RTSTRUCT' | 'ECG' | 'PDF' | 'KO' | 'PR' | 'RT' | 'OTHER';

export function nonImageKind(sopClassUid: string, modality = ''): NonImageKind | null {
  const c = sopClassUid;
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.88.59')) return 'KO';
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.88.')) return 'SR';
  if (c === '1.2.840.10008.5.1.4.1.1.66.4') return 'SEG';
  if (c === '1.2.840.10008.5.1.4.1.1.481.3') return 'RTSTRUCT';
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.9.')) return 'ECG';
  if (c === '1.2.840.10008.5.1.4.1.1.104.1') return 'PDF';
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.11.')) return 'PR';
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.481.')) return c === '1.2.840.10008.5.1.4.1.1.481.1' ? null : 'RT';
  if (c.startsWith('1.2.840.10008.5.1.4.1.1.66.')) return 'OTHER';
  const m = modality.toUpperCase();
  if (m === 'SR' || m === 'KO' || m === 'PR' || m === 'SEG' || m === 'RTSTRUCT' || m === 'ECG' || m === 'DOC') return (m === 'DOC' ? 'PDF' : m) as NonImageKind;
  return null;
}

export const NON_IMAGE_LABEL: Record<NonImageKind, string> = {
  SR: 'Structured report',
  SEG: 'Segmentation',
  RTSTRUCT: 'RT structure set',
  ECG: 'Waveform (ECG)',
  PDF: 'Encapsulated PDF',
  KO: 'Key object selection',
  PR: 'Presentation state',
  RT: 'RT object',
  OTHER: 'Non-image object',
};

export const NON_IMAGE_MODALITIES: ReadonlySet<string> = new Set(['SR', 'KO', 'PR', 'SEG', 'RTSTRUCT', 'DOC', 'ECG']);

/** For the series strip: the kind of a non-image series (from its instances), or null for images. */
export function seriesNonImageLabel(list: readonly InstanceSummary[] | undefined, modality: string): string | null {
  const first = list?.[0];
  if (!list || !first) return NON_IMAGE_MODALITIES.has(modality.toUpperCase()) ? t('viewer.nonImage') : null;
  if (list.some((i) => i.hasPixelData && i.frames > 0 && nonImageKind(i.sopClassUid) === null)) return null;
  return NON_IMAGE_LABEL[nonImageKind(first.sopClassUid, modality) ?? 'OTHER'];
}
