/** Turning picked and dropped Files into the contract's DroppedFile values. */
import type { DroppedFile } from '../../../contract/ipc-contract';

/** Files from an <input type="file"> (folder picks carry webkitRelativePath). */
export function filesFromInput(list: FileList | readonly File[] | null): DroppedFile[] {
  if (!list) return [];
  return Array.from(list, (file) => ({ name: file.name, relativePath: file.webkitRelativePath || '', file }));
}

function readAllEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  return new Promise((resolve, reject) => {
    // readEntries answers in batches (about 100 at a time) until it returns none.
    const next = (): void =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(all);
        all.push(...batch);
        next();
      }, reject);
    next();
  });
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: DroppedFile[], loose: boolean): Promise<void> {
  if (entry.isFile) {
    const file = await fileOf(entry as FileSystemFileEntry);
    const relativePath = loose ? '' : entry.fullPath.replace(/^\/+/, '');
    out.push({ name: file.name, relativePath, file });
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) {
      await walk(child, out, false);
    }
  }
}

/**
 * Collects every file in a drop, walking dropped folders. Must be called
 * synchronously inside the drop handler: the item list dies after the event.
 */
export function collectDroppedFiles(dataTransfer: DataTransfer): Promise<DroppedFile[]> {
  const entries: FileSystemEntry[] = [];
  const plain: File[] = [];
  const items = dataTransfer.items ? Array.from(dataTransfer.items) : [];
  for (const item of items) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) plain.push(file);
    }
  }
  if (items.length === 0) plain.push(...Array.from(dataTransfer.files ?? []));
  return (async () => {
    const out: DroppedFile[] = filesFromInput(plain);
    for (const entry of entries) {
      try {
        await walk(entry, out, entry.isFile);
      } catch {
        // An unreadable entry (permissions, vanished file) is skipped; the rest still imports.
      }
    }
    return out;
  })();
}
