/**
 * Series thumbnails cached on disk: `<dataDir>/thumbnails/<seriesUid>.png`.
 * The renderer draws a small PNG once (from pixels it already decoded) and
 * stores it here; later it reads it back instead of decoding again.
 * Plain Node; small files only (a thumbnail is a few KB).
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../service-error';

/** A generous ceiling for a ~128 px PNG. */
export const MAX_THUMBNAIL_BYTES = 96 * 1024;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** UIDs are digits and dots; derived series keys may use a few more safe characters. */
const SAFE_KEY = /^[0-9A-Za-z._-]{1,64}$/;

export class ThumbnailStore {
  constructor(readonly dir: string) {}

  private fileFor(seriesUid: string): string {
    if (!SAFE_KEY.test(seriesUid) || seriesUid.startsWith('.')) throw new ServiceError('BAD_REQUEST', 'Invalid series UID for a thumbnail.');
    return join(this.dir, `${seriesUid}.png`);
  }

  /** The stored PNG as base64, or null when none was saved yet. */
  async get(seriesUid: string): Promise<string | null> {
    try {
      const bytes = await readFile(this.fileFor(seriesUid));
      return bytes.subarray(0, 8).equals(PNG_MAGIC) ? bytes.toString('base64') : null;
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      return null;
    }
  }

  async save(seriesUid: string, pngBase64: string): Promise<void> {
    const target = this.fileFor(seriesUid);
    const bytes = Buffer.from(pngBase64, 'base64');
    if (bytes.length > MAX_THUMBNAIL_BYTES) throw new ServiceError('BAD_REQUEST', `Thumbnail too large (${bytes.length} bytes).`);
    if (!bytes.subarray(0, 8).equals(PNG_MAGIC)) throw new ServiceError('BAD_REQUEST', 'Thumbnail is not a PNG.');
    await mkdir(this.dir, { recursive: true });
    const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new ServiceError('IO_ERROR', `Could not store the thumbnail: ${(err as Error).message}`);
    }
  }
}
