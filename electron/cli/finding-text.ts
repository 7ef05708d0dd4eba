import { join } from 'node:path';
import { describeAgeRange, formatAge } from '../services/ai/applicability';
import type { OutputRecord } from '../services/ai/run-outputs';

/**
 * One finding of `vigil analyze` as a line of text:
 *   "+ pneumonia: 0.9123 (threshold 0.158)"   a positive call
 *   "- normal: 0.0877 (threshold 0.842)"      a negative call
 *   "+ lesion: 2.4 mL (threshold 0.5 mL)"     a segmentation lesion (positive from minVolumeMl)
 *   "= White Matter: 412.3 mL"                a measurement: no call, its volume (voxels when not measurable)
 */
export interface FindingForText {
  readonly label: string;
  readonly score: number;
  readonly positive: boolean;
  readonly threshold?: number;
  readonly measurement?: boolean;
  readonly voxels?: number;
  readonly volumeMl?: number;
  readonly minVolumeMl?: number;
}

const volume = (f: FindingForText): string | null => (f.volumeMl !== undefined ? `${f.volumeMl.toFixed(1)} mL` : f.voxels !== undefined ? `${f.voxels} voxels` : null);

export function findingLine(f: FindingForText): string {
  if (f.measurement) return `= ${f.label}: ${volume(f) ?? '-'}`;
  const mark = f.positive ? '+' : '-';
  if (f.minVolumeMl !== undefined) return `${mark} ${f.label}: ${volume(f) ?? f.score.toFixed(4)} (threshold ${f.minVolumeMl.toFixed(1)} mL)`;
  return `${mark} ${f.label}: ${f.score.toFixed(4)}${f.threshold !== undefined ? ` (threshold ${f.threshold.toFixed(3)})` : ''}`;
}

/** A warning stored with a run, as a line: "! Outside intended population: patient 64 y; model intended for 1–5 y". */
export function warningLine(w: { readonly message: string }): string {
  return `! ${w.message}`;
}

/**
 * The population context when the age is unknown (no warning could be checked):
 *   "? patient age unknown; model intended for 1–5 y — Trained on paediatric chest radiographs …"
 */
export function populationLine(p: { readonly patientAgeYears: number | null; readonly intendedAgeYears: { readonly min?: number; readonly max?: number } | null; readonly note: string | null }): string {
  const age = p.patientAgeYears === null ? 'patient age unknown' : `patient ${formatAge(p.patientAgeYears)}`;
  return `? ${age}; model intended for ${describeAgeRange(p.intendedAgeYears ?? {})}${p.note ? ` — ${p.note}` : ''}`;
}

/**
 * The arrays a run wrote, one line each: what it is and the file it is in (`filesDir` is the run's folder):
 *   "heatmap for pneumonia (float32 1×224×224): /data/ai-results/…/logits-heatmap.f32.gz"
 *   "heatmap for malignant (float32 2×480×640; images of several sizes, each in the top-left of its plane: 480×640, 240×320): …"
 *   "heatmap for malignant (float32 300×200×267; one value per 3×3 block of image pixels): …"
 *   "segmentation mask (labels 1 lesion; uint8 64×256×256): /data/ai-results/…/seg-mask.u8.gz"
 */
export function outputFileLines(outputs: readonly OutputRecord[], filesDir: string): string[] {
  const lines: string[] = [];
  for (const o of outputs) {
    if (o.kind === 'heatmap') {
      // Images of several sizes share the largest plane: a script reading the array must know each image's own extent.
      const sizes = o.map.imageShapes ? `; images of several sizes, each in the top-left of its plane: ${o.map.imageShapes.map(([r, c]) => `${r}×${c}`).join(', ')}` : '';
      // A coarser map than the images (a long or large series): the array's pixels are not the image's.
      const step = o.map.step ? `; one value per ${o.map.step}×${o.map.step} block of image pixels` : '';
      lines.push(`heatmap for ${o.label} (${o.map.dtype} ${o.map.shape.join('×')}${sizes}${step}): ${join(filesDir, o.map.file)}`);
    }
    else if (o.kind === 'segmentation') {
      // A label map: each voxel holds the index of one of these labels.
      const labels = o.labels.map((l) => `${l.index} ${l.name}`).join(', ');
      lines.push(`segmentation mask (labels ${labels}; ${o.mask.dtype} ${o.mask.shape.join('×')}): ${join(filesDir, o.mask.file)}`);
    }
  }
  return lines;
}
