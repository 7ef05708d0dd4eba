/**
 * Draws AI overlays on a canvas laid over a Cornerstone3D stack viewport, in
 * image space: every layer pixel goes through the viewport's own image →
 * world → canvas transform (the displayed image's origin, direction and
 * spacing, then worldToCanvas), so overlays follow scroll, zoom, pan, rotate
 * and flip, and are never stretched over the canvas.
 */
import type { StackViewport } from '@cornerstonejs/core';
import { storedPlane } from './labelmap-slices';
import { type LabelStyle, type OverlayLayer, type OverlayStyle, sliceExtent, slicePixels } from './overlay-model';

/** Image (column, row) of a pixel centre → canvas CSS pixels: canvas = o + col·a + row·b. */
export interface ImageToCanvas {
  readonly o: readonly [number, number];
  readonly a: readonly [number, number];
  readonly b: readonly [number, number];
  /** The displayed image's [columns, rows], when the viewport says. */
  readonly size?: readonly [number, number];
}

export function imageToCanvasTransform(vp: StackViewport): ImageToCanvas | null {
  const data = vp.getImageData?.();
  if (!data) return null;
  const { origin, direction, spacing, dimensions } = data;
  const world = (col: number, row: number): [number, number, number] => [
    origin[0] + col * spacing[0] * direction[0] + row * spacing[1] * direction[3],
    origin[1] + col * spacing[0] * direction[1] + row * spacing[1] * direction[4],
    origin[2] + col * spacing[0] * direction[2] + row * spacing[1] * direction[5],
  ];
  const p0 = vp.worldToCanvas(world(0, 0));
  const px = vp.worldToCanvas(world(1, 0));
  const py = vp.worldToCanvas(world(0, 1));
  if (![...p0, ...px, ...py].every(Number.isFinite)) return null;
  const size: [number, number] | undefined = dimensions && dimensions[0] > 0 && dimensions[1] > 0 ? [dimensions[0], dimensions[1]] : undefined;
  return { o: [p0[0], p0[1]], a: [px[0] - p0[0], px[1] - p0[1]], b: [py[0] - p0[0], py[1] - p0[1]], ...(size ? { size } : {}) };
}

export function applyTransform(t: ImageToCanvas, col: number, row: number): [number, number] {
  return [t.o[0] + col * t.a[0] + row * t.b[0], t.o[1] + col * t.a[1] + row * t.b[1]];
}

const sliceCanvases = new WeakMap<object, Map<string, HTMLCanvasElement | null>>();

/** Forgets the cached slice images of an array after it was edited in place. */
export function invalidateSlices(values: object): void {
  sliceCanvases.delete(values);
}

/**
 * What of a style a slice's image depends on: a cached image is reused only under the same key (so every setting that
 * slicePixels reads is in it, each label's own fill and opacity included).
 */
export function sliceStyleKey(style: OverlayStyle): string {
  const labels = [...(style.labelStyles ?? new Map<string, LabelStyle>())].map(([label, own]) => `${label}:${own.fill ?? ''}:${own.opacity ?? ''}`);
  return `${style.opacity}|${style.fill}|${[...style.hiddenLabels].sort().join(',')}|${labels.sort().join(',')}`;
}

/** One slice of a layer as an offscreen canvas (cached per values array, slice and style). */
function sliceCanvas(layer: OverlayLayer, values: Uint8Array | Float32Array, slice: number, style: OverlayStyle): HTMLCanvasElement | null {
  if (layer.kind === 'detection') return null;
  let byKey = sliceCanvases.get(values);
  if (!byKey) {
    byKey = new Map();
    sliceCanvases.set(values, byKey);
  }
  const key = `${slice}|${sliceStyleKey(style)}`;
  if (byKey.has(key)) return byKey.get(key)!;
  if (byKey.size > 64) byKey.clear();
  const [, rows, cols] = layer.array.shape;
  // A slice smaller than the planes (images of several sizes) is drawn at its own size: the padding is not its image's.
  const [ownRows, ownCols] = sliceExtent(layer.array, slice);
  const width = Math.floor(ownCols);
  const height = Math.floor(ownRows);
  // A malformed shape (an empty, negative or missing extent) has nothing to draw: a 0-sized canvas makes drawImage throw.
  const pixels = width >= 1 && height >= 1 ? slicePixels(layer, values, slice, style) : null;
  let canvas: HTMLCanvasElement | null = null;
  if (pixels) {
    canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d')!.putImageData(new ImageData(pixels as Uint8ClampedArray<ArrayBuffer>, cols, rows), 0, 0);
  }
  byKey.set(key, canvas);
  return canvas;
}

export interface DrawInput {
  readonly vp: StackViewport;
  readonly canvas: HTMLCanvasElement;
  readonly sopInstanceUid: string | null;
  /** 1-based frame number of the displayed frame in a multi-frame instance, 0 for a single-frame image. */
  readonly frame: number;
  readonly layers: readonly OverlayLayer[];
  readonly arrays: ReadonlyMap<string, Uint8Array | Float32Array>;
  readonly style: OverlayStyle;
}

/** Redraws every layer for the displayed image; returns the keys of the layers drawn. */
export function drawOverlays({ vp, canvas, sopInstanceUid, frame, layers, arrays, style }: DrawInput): { drawn: string[]; transform: ImageToCanvas | null } {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return { drawn: [], transform: null };
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const t = imageToCanvasTransform(vp);
  if (!style.visible || !sopInstanceUid || !t) return { drawn: [], transform: t };
  const drawn: string[] = [];
  for (const layer of layers) {
    // A multi-frame instance (a cine) has one plane per frame: the displayed frame's, not the first.
    const slice = storedPlane(layer.inputSopInstanceUids, sopInstanceUid, frame);
    if (slice < 0) continue;
    if (layer.kind === 'detection') {
      const several = layer.inputSopInstanceUids.indexOf(sopInstanceUid) !== layer.inputSopInstanceUids.lastIndexOf(sopInstanceUid);
      const boxes = layer.boxes.filter((b) => (b.sopInstanceUid ? b.sopInstanceUid === sopInstanceUid && (!several || b.slice === slice) : b.slice === slice));
      if (boxes.length === 0) continue;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.lineWidth = 2;
      ctx.font = '12px system-ui, sans-serif';
      for (const b of boxes) {
        // Box edges are pixel edges: centre-based index − 0.5.
        const corners = [
          [b.x0, b.y0],
          [b.x1, b.y0],
          [b.x1, b.y1],
          [b.x0, b.y1],
        ].map(([x, y]) => applyTransform(t, x! - 0.5, y! - 0.5));
        ctx.strokeStyle = `rgba(255, 214, 0, ${Math.max(0.4, style.opacity)})`;
        ctx.beginPath();
        corners.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
        ctx.closePath();
        ctx.stroke();
        const top = corners.reduce((m, c) => (c[1] < m[1] ? c : m));
        const text = `${b.label} ${b.score.toFixed(2)}`;
        ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
        ctx.fillRect(top[0], top[1] - 16, ctx.measureText(text).width + 6, 15);
        ctx.fillStyle = '#ffd600';
        ctx.fillText(text, top[0] + 3, top[1] - 4);
      }
      drawn.push(layer.key);
      continue;
    }
    const values = arrays.get(layer.key);
    if (!values) continue;
    const img = sliceCanvas(layer, values, slice, style);
    if (!img) continue;
    // Offscreen pixel (u, v) spans image pixels [u·step, (u+1)·step) (step 1 unless a coarse heatmap): image pixel
    // centre index = u·step − 0.5.
    const step = layer.array.step ?? 1;
    ctx.setTransform(
      dpr * step * t.a[0],
      dpr * step * t.a[1],
      dpr * step * t.b[0],
      dpr * step * t.b[1],
      dpr * (t.o[0] - 0.5 * t.a[0] - 0.5 * t.b[0]),
      dpr * (t.o[1] - 0.5 * t.a[1] - 0.5 * t.b[1]),
    );
    ctx.imageSmoothingEnabled = layer.kind === 'heatmap';
    if (step > 1 && t.size) {
      // A partial last block covers image pixels beyond the image: only the part over the image is drawn.
      const w = Math.min(img.width, t.size[0] / step);
      const h = Math.min(img.height, t.size[1] / step);
      ctx.drawImage(img, 0, 0, w, h, 0, 0, w, h);
    } else ctx.drawImage(img, 0, 0);
    drawn.push(layer.key);
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  return { drawn, transform: t };
}
