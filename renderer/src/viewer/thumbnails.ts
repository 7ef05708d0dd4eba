/**
 * Series thumbnails: read from the on-disk cache (`library.getThumbnail`);
 * when missing, render one in the background (CPU, off-screen canvas, low
 * priority, one at a time) and store it (`library.saveThumbnail`).
 * Never blocks the viewport: generation waits for the first image to show.
 */
import { Enums, utilities } from '@cornerstonejs/core';
import type { VigilApi } from '../../../contract/ipc-contract';

export const THUMBNAIL_SIZE = 96;

let chain: Promise<unknown> = new Promise((resolve) => setTimeout(resolve, 400));

function base64OfDataUrl(url: string): string {
  const comma = url.indexOf(',');
  return comma >= 0 ? url.slice(comma + 1) : '';
}

async function render(imageId: string): Promise<string> {
  const canvas = document.createElement('canvas');
  canvas.width = THUMBNAIL_SIZE;
  canvas.height = THUMBNAIL_SIZE;
  await utilities.loadImageToCanvas({ canvas, imageId, requestType: Enums.RequestType.Thumbnail, useCPURendering: true, thumbnail: true });
  return canvas.toDataURL('image/png');
}

/** Resolves to a data: URL (or null when no thumbnail can be made). */
export async function thumbnailFor(vigil: VigilApi, seriesInstanceUid: string, imageId: string | null): Promise<string | null> {
  const stored = await vigil.library.getThumbnail({ seriesInstanceUid });
  if (stored.ok && stored.value.pngBase64) return `data:image/png;base64,${stored.value.pngBase64}`;
  if (!imageId) return null;
  const job = chain.then(async () => {
    const url = await render(imageId);
    const b64 = base64OfDataUrl(url);
    if (b64) void vigil.library.saveThumbnail({ seriesInstanceUid, pngBase64: b64 });
    return url;
  });
  chain = job.catch(() => undefined);
  return job.catch(() => null);
}
