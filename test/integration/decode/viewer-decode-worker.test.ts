/**
 * The viewer decode worker's page-independent parts
 * (renderer/src/viewer/cornerstone/decode-post-process.ts, transferable-buffer.ts):
 *
 *  - postProcessDecodedPixels gives what dicom-image-loader 5.14's own
 *    postProcessDecodedPixels gives (decodeImageFrameWorker.js, imported by file)
 *    over a grid of frames and options: every typed array a decoder returns,
 *    signed/unsigned with 8/12/16 bits stored, modality LUT off/integer/float,
 *    PT SUV and RTDOSE scaling, float rendering allowed or not, colour, target
 *    buffers (including one that forces the stock wrap-around path);
 *  - results are transferred only when they own their whole ArrayBuffer, and a
 *    decode task's input frame only when the loader cut it into its own buffer.
 */
import { describe, expect, it } from 'vitest';
import { postProcessDecodedPixels as stockPostProcess } from '../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js';
import { type DecodeTaskOptions, type DecodedImageFrame, type PixelArray, postProcessDecodedPixels } from '../../../renderer/src/viewer/cornerstone/decode-post-process';
import { decodeTaskInputBuffer, transferableBuffer } from '../../../renderer/src/viewer/cornerstone/transferable-buffer';

type Make = () => PixelArray;
const N = 64 * 48;
const ramp = (lo: number, hi: number) => (i: number) => lo + Math.round(((hi - lo) * ((i * 7919) % N)) / (N - 1));
const arrays: Record<string, Make> = {
  'Uint8 0..255': () => Uint8Array.from({ length: N }, ramp(0, 255)),
  'Int8 -128..127': () => Int8Array.from({ length: N }, ramp(-128, 127)),
  'Uint16 0..4095': () => Uint16Array.from({ length: N }, ramp(0, 4095)),
  'Uint16 0..65535': () => Uint16Array.from({ length: N }, ramp(0, 65535)),
  'Int16 -1024..3071': () => Int16Array.from({ length: N }, ramp(-1024, 3071)),
  'Int16 -32768..32767': () => Int16Array.from({ length: N }, ramp(-32768, 32767)),
  'Int16 12-bit pattern in 16': () => Int16Array.from({ length: N }, ramp(0, 4095)),
  'Float32': () => Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 1000.25),
  'Uint32 0..70000': () => Uint32Array.from({ length: N }, ramp(0, 70000)),
  // Above 2^24 a Float32 output cannot hold every value: the stock copy-then-scale rounding must be kept.
  'Uint32 odd values above 2^24': () => Uint32Array.from({ length: N }, (_, i) => 2 ** 24 + 2 * i + 1),
};

const scalings: Record<string, DecodeTaskOptions['preScale']> = {
  off: { enabled: false },
  'CT 1/-1024': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: -1024, modality: 'CT' } },
  'CT 2.0002442/-4047': { enabled: true, scalingParameters: { rescaleSlope: 2.0002442, rescaleIntercept: -4047, modality: 'CT' } },
  'CT 32.1216/-4047': { enabled: true, scalingParameters: { rescaleSlope: 32.1216, rescaleIntercept: -4047, modality: 'CT' } },
  'MR 1/0': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: 0, modality: 'MR' } },
  'slope 0.5': { enabled: true, scalingParameters: { rescaleSlope: 0.5, rescaleIntercept: 0, modality: 'CT' } },
  'slope 2 / -32768': { enabled: true, scalingParameters: { rescaleSlope: 2, rescaleIntercept: -32768, modality: 'CT' } },
  'PT SUV': { enabled: true, scalingParameters: { rescaleSlope: 0.25, rescaleIntercept: 0, modality: 'PT', suvbw: 0.0031 } },
  RTDOSE: { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: 0, modality: 'RTDOSE', doseGridScaling: 0.00125 } },
  'no rescale values': { enabled: true, scalingParameters: { modality: 'OT' } },
};

interface Case {
  label: string;
  make: Make;
  frame: Partial<DecodedImageFrame>;
  options: DecodeTaskOptions;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [arrayLabel, make] of Object.entries(arrays)) {
    for (const [pixelRepresentation, bitsStored] of [[0, 16], [1, 16], [1, 12], [0, 12], [1, 8], [0, 8]]) {
      for (const [scaleLabel, preScale] of Object.entries(scalings)) {
        for (const allowFloatRendering of [undefined, false]) {
          out.push({
            label: `${arrayLabel}, PR ${pixelRepresentation}, ${bitsStored} bits stored, ${scaleLabel}, float ${allowFloatRendering ?? 'default'}`,
            make,
            frame: { pixelRepresentation, bitsStored, photometricInterpretation: 'MONOCHROME2', rows: 48, columns: 64, samplesPerPixel: 1 },
            options: { preScale, ...(allowFloatRendering === undefined ? {} : { allowFloatRendering }) },
          });
        }
      }
    }
  }
  for (const [scaleLabel, preScale] of Object.entries(scalings)) {
    out.push({ label: `RGB, ${scaleLabel}`, make: arrays['Uint8 0..255']!, frame: { pixelRepresentation: 0, bitsStored: 8, photometricInterpretation: 'RGB', rows: 48, columns: 64, samplesPerPixel: 3 }, options: { preScale } });
    for (const type of ['Float32Array', 'Int16Array', 'Uint16Array', 'Uint8Array']) {
      for (const [arrayLabel, make] of Object.entries(arrays).slice(0, 6)) {
        out.push({
          label: `target buffer ${type}, ${arrayLabel}, ${scaleLabel}`,
          make,
          frame: { pixelRepresentation: 1, bitsStored: 16, photometricInterpretation: 'MONOCHROME2', rows: 48, columns: 64, samplesPerPixel: 1 },
          options: { preScale, targetBuffer: { type, offset: 0 } },
        });
      }
    }
  }
  return out;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function outcome(run: () => DecodedImageFrame): Record<string, unknown> {
  try {
    const f = run();
    return {
      type: f.pixelData.constructor.name,
      values: Array.from(f.pixelData, (v) => (Number.isNaN(v) ? 'NaN' : v)),
      length: f.pixelDataLength,
      smallest: f.smallestPixelValue,
      largest: f.largestPixelValue,
      preScale: f.preScale ?? null,
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

describe('decode post-processing equals dicom-image-loader 5.14', () => {
  const all = cases();
  it(`over ${all.length} frame/option combinations`, () => {
    let scaledPaths = 0;
    for (const c of all) {
      const source = c.make();
      const ours = outcome(() => postProcessDecodedPixels({ ...clone(c.frame), pixelData: source.slice() } as DecodedImageFrame, clone(c.options), Date.now()));
      const stock = outcome(() => stockPostProcess({ ...clone(c.frame), pixelData: source.slice() }, clone(c.options), Date.now(), {}) as DecodedImageFrame);
      expect(ours, c.label).toEqual(stock);
      // With the decoder's own min/max (RLE tracks them): the same result.
      const range = { min: Math.min(...source), max: Math.max(...source) };
      const withRange = outcome(() => postProcessDecodedPixels({ ...clone(c.frame), pixelData: source.slice() } as DecodedImageFrame, clone(c.options), Date.now(), range));
      expect(withRange, `${c.label}, decoder min/max`).toEqual(stock);
      // The decoded samples as a view into a larger buffer (a WASM heap): same result (never scaled in place there).
      const heap = new ArrayBuffer(source.byteLength + 64);
      const Ctor = source.constructor as new (b: ArrayBuffer, o: number, n: number) => PixelArray;
      const view = new Ctor(heap, 32, source.length);
      view.set(source);
      const fromHeap = outcome(() => postProcessDecodedPixels({ ...clone(c.frame), pixelData: view } as DecodedImageFrame, clone(c.options), Date.now()));
      expect(fromHeap, `${c.label}, heap view`).toEqual(stock);
      if ((ours.preScale as { scaled?: boolean } | null)?.scaled) scaledPaths++;
    }
    expect(scaledPaths).toBeGreaterThan(100);
  });

  it('scales in place only an array that owns its buffer and already has the output type', () => {
    const options = () => clone({ preScale: scalings['CT 1/-1024'] });
    const own = Int16Array.from({ length: N }, ramp(-1024, 3071));
    const frame = { pixelData: own, pixelRepresentation: 1, bitsStored: 16, photometricInterpretation: 'MONOCHROME2' };
    expect(postProcessDecodedPixels(frame, options(), Date.now()).pixelData).toBe(own);
    const heap = new Int16Array(N + 16);
    const view = heap.subarray(8, 8 + N);
    view.set(Int16Array.from({ length: N }, ramp(-1024, 3071)));
    const before = Array.from(heap);
    const out = postProcessDecodedPixels({ ...frame, pixelData: view }, options(), Date.now()).pixelData;
    expect(out.buffer).not.toBe(heap.buffer);
    expect(Array.from(heap)).toEqual(before);
  });
});

describe('what crosses the worker boundary by transfer', () => {
  it('results: only arrays that span a whole, non-shared ArrayBuffer', () => {
    expect(transferableBuffer(new Int16Array(16))).toBeInstanceOf(ArrayBuffer);
    const heap = new ArrayBuffer(1024); // e.g. a WASM heap the codec keeps
    expect(transferableBuffer(new Uint8Array(heap, 64, 128))).toBeNull();
    expect(transferableBuffer(new Uint8Array(heap, 0, 512))).toBeNull();
    expect(transferableBuffer(new Float32Array(new SharedArrayBuffer(64)))).toBeNull();
  });

  it('decode task inputs: the frame buffer of a comlink decodeTask call, when the frame owns it', () => {
    const message = (pixelData: unknown, path = ['decodeTask']) => ({ id: 'x', type: 'APPLY', path, argumentList: [{ type: 'RAW', value: { imageFrame: {}, pixelData, transferSyntax: '1.2.840.10008.1.2.5' } }] });
    const own = new Uint8Array(100);
    expect(decodeTaskInputBuffer(message(own))).toBe(own.buffer);
    const file = new Uint8Array(1000); // the cached file: a frame in place is a view into it
    expect(decodeTaskInputBuffer(message(file.subarray(200, 300)))).toBeNull();
    expect(decodeTaskInputBuffer(message(new Uint8Array(new SharedArrayBuffer(16))))).toBeNull();
    expect(decodeTaskInputBuffer(message(new Uint16Array(8)))).toBeNull();
    expect(decodeTaskInputBuffer(message(own, ['otherTask']))).toBeNull();
    expect(decodeTaskInputBuffer({ type: 'GET', path: ['decodeTask'] })).toBeNull();
    expect(decodeTaskInputBuffer({ type: 'RELEASE' })).toBeNull();
    expect(decodeTaskInputBuffer(null)).toBeNull();
  });
});
