/**
 * Reads a DICOMDIR (Media Storage Directory) and resolves the files its
 * directory records reference, relative to the DICOMDIR's folder. File IDs on
 * CDs are upper-case ISO 9660 names; on case-sensitive file systems we match
 * each path component case-insensitively when the exact name is absent.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DicomFileInfo } from './dicom-dataset-reader';
import { Tag } from './dicom-dataset-reader';

const DirectoryRecordType = 0x00041430;
const ReferencedFileId = 0x00041500;

export interface DicomdirReference {
  /** Absolute path the record points at (resolved case-insensitively when possible). */
  path: string;
  recordType: string;
  exists: boolean;
}

function resolveComponents(root: string, components: string[]): { path: string; exists: boolean } {
  let current = root;
  for (const comp of components) {
    const direct = join(current, comp);
    if (existsSync(direct)) {
      current = direct;
      continue;
    }
    let match: string | undefined;
    try {
      match = readdirSync(current).find((name) => name.toUpperCase() === comp.toUpperCase());
    } catch {
      match = undefined;
    }
    if (!match) return { path: join(root, ...components), exists: false };
    current = join(current, match);
  }
  return { path: current, exists: true };
}

function isUnsafeComponent(c: string): boolean {
  return c === '..' || c === '.' || c.includes('/') || c.includes('\\') || c.includes(':') || c.includes('\0');
}

export function dicomdirReferences(info: DicomFileInfo, dicomdirPath: string): DicomdirReference[] {
  const seq = info.dataset.elements.get(Tag.DirectoryRecordSequence);
  const root = dirname(dicomdirPath);
  const refs: DicomdirReference[] = [];
  const seen = new Set<string>();
  for (const record of seq?.items ?? []) {
    const components = record.strings(ReferencedFileId).filter((c) => c.length > 0);
    if (components.length === 0) continue;
    // File IDs are relative and use only ISO 9660 characters; anything that could escape the folder is ignored:
    // ':' marks a drive or an NTFS stream on Windows ("C:", "IM1:stream"); '\\' is a separator there (strings()
    // already splits on it, but the rule should not depend on that).
    if (components.some(isUnsafeComponent)) continue;
    const { path, exists } = resolveComponents(root, components);
    if (seen.has(path)) continue;
    seen.add(path);
    refs.push({ path, exists, recordType: record.string(DirectoryRecordType) });
  }
  return refs;
}

export const DICOMDIR_EXPAND = new Set<number>([Tag.DirectoryRecordSequence]);
