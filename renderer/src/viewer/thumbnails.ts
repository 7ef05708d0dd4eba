/**
 * Series thumbnails: read from the on-disk cache (`library.getThumbnail`);
 * when missing, render one in the background (CPU, off-screen canvas, low
 * priority, one at a time) and store it (`library.saveThumbnail`).
 * Never blocks the viewport: generation waits for the first image to show.
 * Drawn as Cornerstone's loadImageToCanvas draws a CPU thumbnail (same request
 * pool, type and priority, same renderer), except that the window and LUTs
 * come from thumbnail-window.ts: a file whose window is missing, empty or
 * invalid is shown over its pixel range instead of black.
 */
import { Enums, type Types, imageLoadPoolManager, imageLoader, metaData, utilities } from '@cornerstonejs/core';
import type { VigilApi } from '../../../contract/ipc-contract';
import { type ThumbnailImageFields, thumbnailDisplay } from './thumbnail-window';

let chain: Promise<unknown> = new Promise((resolve) => setTimeout(resolve, 400));

function base64OfDataUrl(url: string): string {
  const comma = url.indexOf(',');
  return comma >= 0 ? url.slice(comma + 1) : '';
}

/** The image through the thumbnail request pool, as loadImageToCanvas loads it (RGBA for the CPU renderer, priority -5). */
function loadThumbnailImage(imageId: string): Promise<Types.IImage> {
  return new Promise((resolve, reject) => {
    const request = () => imageLoader.loadAndCacheImage(imageId, { useRGBA: true, requestType: Enums.RequestType.Thumbnail } as never).then(resolve, reject);
    imageLoadPoolManager.addRequest(request, Enums.RequestType.Thumbnail, { imageId }, -5);
  });
}

/** Canvas side in device pixels (what loadImageToCanvas uses for thumbnails); the PNG is scaled down for display. */
const CANVAS_SIZE = 256;

async function render(imageId: string): Promise<string> {
  const image = await loadThumbnailImage(imageId);
  const canvas = document.createElement('canvas');
  canvas.width = CANVAS_SIZE;
  canvas.height = CANVAS_SIZE;
  const isPreScaled = Boolean(image.isPreScaled || image.preScale?.scaled);
  const display = thumbnailDisplay({ ...(image as unknown as ThumbnailImageFields), isPreScaled });
  // A copy with the thumbnail's window and LUTs: the cached image (shared with the viewports) is left as it is.
  const shown = { ...image, isPreScaled, windowCenter: display.windowCenter, windowWidth: display.windowWidth, voiLUT: display.voiLUT, modalityLUT: display.modalityLUT, cachedLut: undefined } as unknown as Types.IImage;
  const { modality } = (metaData.get(Enums.MetadataModules.GENERAL_SERIES, imageId) ?? {}) as { modality?: string };
  await utilities.renderToCanvasCPU(canvas, shown, modality);
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
