/**
 * Deterministic UIDs for objects whose UIDs are missing. Real files do lack
 * them (anonymisers, converters); dropping such files would lose data, so we
 * derive a stable UID under the 2.25 (UUID-derived) root from the identifying
 * attributes, and flag it as derived in the index.
 */
import { createHash } from 'node:crypto';

export function derivedUid(kind: 'study' | 'series' | 'instance', parts: readonly string[]): string {
  const h = createHash('sha256').update(`vigil-derived-uid:${kind}\0${parts.join('\0')}`).digest();
  // 2.25.<decimal of a 128-bit value> is at most 44 characters, within the 64-char UI limit.
  const value = BigInt(`0x${h.subarray(0, 16).toString('hex')}`);
  return `2.25.${value.toString(10)}`;
}
