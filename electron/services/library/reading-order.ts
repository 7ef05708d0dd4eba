/**
 * Orders a series' instances the way a radiologist scrolls them: along the
 * slice normal (from ImageOrientationPatient × ImagePositionPatient) when every
 * image has geometry and they share an orientation, else by Instance Number,
 * with the SOP Instance UID as the final tie-break so the order is stable.
 */
import type { InstanceSummary } from '../../../contract/ipc-contract';

function numbers(ds: string, count: number): number[] | null {
  const v = ds.split('\\').map(Number);
  return v.length === count && v.every(Number.isFinite) ? v : null;
}

export function sortInstancesForReading(instances: readonly InstanceSummary[]): InstanceSummary[] {
  const byNumber = (a: InstanceSummary, b: InstanceSummary) =>
    (a.instanceNumber ?? Number.MAX_SAFE_INTEGER) - (b.instanceNumber ?? Number.MAX_SAFE_INTEGER) ||
    (a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0);

  const orientation = instances[0] ? numbers(instances[0].imageOrientationPatient, 6) : null;
  const sameOrientation = instances.every((i) => i.imageOrientationPatient === instances[0]?.imageOrientationPatient);
  const positions = instances.map((i) => numbers(i.imagePositionPatient, 3));
  if (!orientation || !sameOrientation || positions.some((p) => p === null) || instances.length < 2) {
    return [...instances].sort(byNumber);
  }
  const [rx, ry, rz, cx, cy, cz] = orientation as [number, number, number, number, number, number];
  const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx] as const;
  const distance = new Map(instances.map((inst, k) => {
    const p = positions[k]!;
    return [inst, p[0]! * normal[0] + p[1]! * normal[1] + p[2]! * normal[2]] as const;
  }));
  // Multi-frame objects or duplicates at one position fall back to instance order.
  return [...instances].sort((a, b) => distance.get(a)! - distance.get(b)! || byNumber(a, b));
}
