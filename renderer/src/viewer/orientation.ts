/**
 * Orientation markers: which patient direction lies towards each screen edge.
 * Patient coordinates are DICOM LPS: +x left, +y posterior, +z head.
 */
export type Vec3 = readonly [number, number, number];

const POS = ['L', 'P', 'H'] as const;
const NEG = ['R', 'A', 'F'] as const;

/** The label of a direction: its dominant axes (up to two, e.g. "LA"), strongest first. */
export function directionLabel(v: Vec3, threshold = 0.25): string {
  const len = Math.hypot(v[0], v[1], v[2]);
  if (!(len > 0)) return '';
  const parts = [0, 1, 2]
    .map((axis) => ({ axis, value: v[axis]! / len }))
    .filter((p) => Math.abs(p.value) >= threshold)
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
    .slice(0, 2);
  return parts.map((p) => (p.value > 0 ? POS[p.axis as 0 | 1 | 2] : NEG[p.axis as 0 | 1 | 2])).join('');
}

export interface OrientationMarkers {
  readonly left: string;
  readonly right: string;
  readonly top: string;
  readonly bottom: string;
}

/** Markers from the screen's right and down vectors expressed in patient space. */
export function markersFor(right: Vec3, down: Vec3): OrientationMarkers {
  const neg = (v: Vec3): Vec3 => [-v[0], -v[1], -v[2]];
  return { left: directionLabel(neg(right)), right: directionLabel(right), top: directionLabel(neg(down)), bottom: directionLabel(down) };
}

/** Parses ImageOrientationPatient ("r1\\r2\\r3\\c1\\c2\\c3") into row and column direction cosines. */
export function parseOrientation(iop: string): { row: Vec3; column: Vec3 } | null {
  const n = iop.split('\\').map(Number);
  if (n.length !== 6 || n.some((x) => !Number.isFinite(x))) return null;
  return { row: [n[0]!, n[1]!, n[2]!], column: [n[3]!, n[4]!, n[5]!] };
}
