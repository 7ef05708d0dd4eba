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
 *  - 16-bit RLE decoded straight to its post-processed form (rle-frame.ts:
 *    rescale and min/max folded into the decode, output type guessed, general
 *    path when the guess is wrong) equals the stock RLE decoder followed by the
 *    stock post-processing, over signed/unsigned ranges, intercepts that keep
 *    or change the output type (Int8/Uint8/Float32 fallbacks), every scaling
 *    kind, target buffers, 12-bit signed samples and truncated frames;
 *  - results are transferred only when they own their whole ArrayBuffer; a
 *    decode task's input frame is transferred when the loader cut it into its
 *    own buffer, and otherwise only its own bytes are copied and transferred.
 */
import { describe, expect, it } from 'vitest';
import { postProcessDecodedPixels as stockPostProcess } from '../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js';
import stockDecodeRLE from '../../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/shared/decoders/decodeRLE.js';
import { type DecodeTaskOptions, type DecodedImageFrame, type PixelArray, completeOffsetFrame, offsetPostProcess, postProcessDecodedPixels } from '../../../renderer/src/viewer/cornerstone/decode-post-process';
import { decodeRle16Frame } from '../../../renderer/src/viewer/cornerstone/rle-frame';
import { decodeTaskTransfer, transferableBuffer } from '../../../renderer/src/viewer/cornerstone/transferable-buffer';
import { rleFrameOfSamples } from '../../fixtures/rle-encoder';

type Make = () => PixelArray;
const N = 64 * 48;
// An Array.from / TypedArray.from map function: (value, index).
const ramp = (lo: number, hi: number) => (_: unknown, i: number) => lo + Math.round(((hi - lo) * ((i * 7919) % N)) / (N - 1));
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

describe('16-bit RLE decoded straight to the post-processed frame equals the stock decoder + post-processing', () => {
  const rows = 37;
  const columns = 41;
  const n = rows * columns;
  // CT-like: runs of air, a body with noise, and (optionally) padding pixels.
  const body = (lo: number, hi: number, padding?: number) => (_: unknown, i: number) => {
    const x = i % columns;
    const y = Math.floor(i / columns);
    if (padding !== undefined && (x < 3 || y < 2)) return padding;
    if (x < 8) return lo;
    return lo + Math.round(((hi - lo) * ((i * 7919) % n)) / (n - 1));
  };
  const images: Record<string, { signed: boolean; bitsStored: number; samples: number[] }> = {
    'signed CT -2000..2402': { signed: true, bitsStored: 16, samples: Array.from({ length: n }, body(-2000, 2402)) },
    'signed CT with padding -32768': { signed: true, bitsStored: 16, samples: Array.from({ length: n }, body(-1000, 3000, -32768)) },
    'signed full range': { signed: true, bitsStored: 16, samples: Array.from({ length: n }, body(-32768, 32767)) },
    'signed -100..100': { signed: true, bitsStored: 16, samples: Array.from({ length: n }, body(-100, 100)) },
    'signed 12 bits stored': { signed: true, bitsStored: 12, samples: Array.from({ length: n }, body(0, 4095)) },
    'unsigned 0..4095': { signed: false, bitsStored: 12, samples: Array.from({ length: n }, body(0, 4095)) },
    'unsigned 0..65535': { signed: false, bitsStored: 16, samples: Array.from({ length: n }, body(0, 65535)) },
    'unsigned 0..200': { signed: false, bitsStored: 16, samples: Array.from({ length: n }, body(0, 200)) },
    // High bytes >= 0x80 in runs: read unsigned here, signed above.
    'unsigned 40000..60000': { signed: false, bitsStored: 16, samples: Array.from({ length: n }, body(40000, 60000)) },
    'unsigned 1000..1000 (flat)': { signed: false, bitsStored: 16, samples: Array.from({ length: n }, () => 1000) },
  };
  const rescales: Record<string, DecodeTaskOptions['preScale']> = {
    ...scalings,
    'CT 1/+1024': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: 1024, modality: 'CT' } },
    'CT 1/-32768': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: -32768, modality: 'CT' } },
    'intercept 5e9': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: 5e9, modality: 'OT' } },
    'PT SUV NaN, 1/-10': { enabled: true, scalingParameters: { rescaleSlope: 1, rescaleIntercept: -10, modality: 'PT', suvbw: Number.NaN } },
    'enabled, no parameters': { enabled: true },
  };

  it('over images x rescales x float rendering x target buffer x truncation', async () => {
    let compared = 0;
    let offsetPlans = 0;
    for (const [imageLabel, image] of Object.entries(images)) {
      const full = rleFrameOfSamples(image.samples, 2);
      for (const [frameLabel, data] of [['whole', full], ['truncated', full.slice(0, Math.floor(full.length * 0.7))]] as const) {
        for (const [scaleLabel, preScale] of Object.entries(rescales)) {
          for (const allowFloatRendering of [true, false]) {
            for (const targetBuffer of [undefined, { type: 'Float32Array', offset: 0 }]) {
              const label = `${imageLabel}, ${frameLabel}, ${scaleLabel}, float ${allowFloatRendering}, target ${targetBuffer?.type ?? 'none'}`;
              const frame = { rows, columns, bitsAllocated: 16, bitsStored: image.bitsStored, samplesPerPixel: 1, pixelRepresentation: image.signed ? 1 : 0, photometricInterpretation: 'MONOCHROME2' };
              const options = { preScale, allowFloatRendering, ...(targetBuffer ? { targetBuffer } : {}) };
              const stock = await (async () => {
                try {
                  const decoded = (await stockDecodeRLE(clone(frame) as never, data)) as unknown as DecodedImageFrame;
                  return outcome(() => stockPostProcess(decoded, clone(options), Date.now(), {}) as DecodedImageFrame);
                } catch (err) {
                  return { error: err instanceof Error ? err.message : String(err) };
                }
              })();
              const ours = outcome(() => {
                const done = decodeRle16Frame(clone(frame), data, clone(options), Date.now());
                if (!done) throw new Error('not decoded');
                return done;
              });
              expect(ours, label).toEqual(stock);
              if (offsetPostProcess(frame, options)) offsetPlans++;
              compared++;
            }
          }
        }
      }
    }
    expect(compared).toBe(Object.keys(images).length * 2 * Object.keys(rescales).length * 2 * 2);
    expect(offsetPlans).toBeGreaterThan(100);
  });

  it('folds an integer intercept only: other scalings, target buffers and sign extension go the general way', () => {
    const ct = { pixelRepresentation: 1, bitsStored: 16 } as DecodedImageFrame;
    expect(offsetPostProcess(ct, { preScale: scalings['CT 1/-1024'] })).toEqual({ offset: -1024, scaled: true });
    expect(offsetPostProcess(ct, { preScale: scalings.off })).toEqual({ offset: 0, scaled: false });
    expect(offsetPostProcess(ct, { preScale: scalings['no rescale values'] })).toEqual({ offset: 0, scaled: false });
    // A float slope with float rendering off: the loader leaves the samples unscaled.
    expect(offsetPostProcess(ct, { preScale: scalings['slope 0.5'], allowFloatRendering: false })).toEqual({ offset: 0, scaled: false });
    for (const name of ['CT 2.0002442/-4047', 'slope 0.5', 'PT SUV', 'RTDOSE'] as const) expect(offsetPostProcess(ct, { preScale: scalings[name] }), name).toBeNull();
    expect(offsetPostProcess(ct, { preScale: scalings['CT 1/-1024'], targetBuffer: { type: 'Int16Array' } })).toBeNull();
    expect(offsetPostProcess({ pixelRepresentation: 1, bitsStored: 12 } as DecodedImageFrame, { preScale: scalings.off })).toBeNull();
    expect(offsetPostProcess(ct, {})).toBeNull();
  });

  it('refuses a guessed output type the loader would not choose, leaving the frame untouched', () => {
    const frame = { pixelData: new Uint8Array(1) } as DecodedImageFrame;
    const pixels = new Int16Array([-33792, 100]); // -32768 + -1024 wrapped: the loader would choose Float32
    expect(completeOffsetFrame(frame, { preScale: scalings['CT 1/-1024'] }, Date.now(), pixels, { min: -33792, max: 100 }, { offset: -1024, scaled: true })).toBeNull();
    expect(frame.pixelData).toBeInstanceOf(Uint8Array);
  });

  it('narrows a range that fits the guessed type to the type the loader would choose, without decoding again', () => {
    const narrowed = completeOffsetFrame({ pixelData: new Uint8Array(1) } as DecodedImageFrame, { preScale: scalings.off }, Date.now(), new Uint16Array([3, 70]), { min: 3, max: 70 }, { offset: 0, scaled: false });
    expect(narrowed?.pixelData).toEqual(Uint8Array.from([3, 70]));
    expect(narrowed).toMatchObject({ pixelDataLength: 2, smallestPixelValue: 3, largestPixelValue: 70 });
    const signed = completeOffsetFrame({ pixelData: new Uint8Array(1) } as DecodedImageFrame, { preScale: scalings.off }, Date.now(), new Int16Array([-5, 100]), { min: -5, max: 100 }, { offset: 0, scaled: false });
    expect(signed?.pixelData).toEqual(Int8Array.from([-5, 100]));
  });

  it('returns null for layouts it does not decode (the stock decoder runs)', () => {
    const data = rleFrameOfSamples(images['signed CT -2000..2402']!.samples, 2);
    const frame = { rows, columns, bitsAllocated: 16, bitsStored: 16, samplesPerPixel: 1, pixelRepresentation: 1, photometricInterpretation: 'MONOCHROME2' };
    expect(decodeRle16Frame({ ...frame, bitsAllocated: 8 }, data, { preScale: scalings.off }, Date.now())).toBeNull();
    expect(decodeRle16Frame({ ...frame, samplesPerPixel: 3 }, data, { preScale: scalings.off }, Date.now())).toBeNull();
    const threeSegments = data.slice();
    new DataView(threeSegments.buffer).setInt32(0, 3, true);
    expect(decodeRle16Frame(frame, threeSegments, { preScale: scalings.off }, Date.now())).toBeNull();
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

  it('decode task messages: the owned frame buffer as it is, otherwise a copy of the frame bytes alone, the loader\'s message untouched', () => {
    const message = (pixelData: unknown, path = ['decodeTask']) => ({ id: 'x', type: 'APPLY', path, argumentList: [{ type: 'RAW', value: { imageFrame: { rows: 2 }, pixelData, transferSyntax: '1.2.840.10008.1.2.5' } }] });
    const own = Uint8Array.from({ length: 100 }, (_, i) => i);
    const ownMessage = message(own);
    expect(decodeTaskTransfer(ownMessage, true)).toEqual({ message: ownMessage, transfer: own.buffer });
    expect(decodeTaskTransfer(ownMessage, true).message).toBe(ownMessage);

    const file = Uint8Array.from({ length: 1000 }, (_, i) => i % 251); // the cached file: the frame is a view into it
    for (const [label, sent, transferOwned] of [['view', file.subarray(200, 300), true], ['owned, not transferable', own, false]] as const) {
      const original = message(sent);
      const before = structuredClone(original);
      const { message: posted, transfer } = decodeTaskTransfer(original, transferOwned);
      const value = (posted as typeof original).argumentList[0]!.value;
      expect(value.pixelData, label).not.toBe(sent);
      expect(Array.from(value.pixelData as Uint8Array), label).toEqual(Array.from(sent));
      expect((value.pixelData as Uint8Array).buffer, label).toBe(transfer);
      expect(transfer!.byteLength, label).toBe(sent.length); // the frame's bytes, not the whole file
      expect(value.imageFrame, label).toBe(original.argumentList[0]!.value.imageFrame);
      expect((posted as typeof original).id).toBe('x');
      expect(original, label).toEqual(before);
      expect(original.argumentList[0]!.value.pixelData, label).toBe(sent);
    }
    const shared = new Uint8Array(new SharedArrayBuffer(16));
    expect(decodeTaskTransfer(message(shared), true)).toEqual({ message: message(shared), transfer: null });
    const other = message(own, ['otherTask']);
    expect(decodeTaskTransfer(other, true)).toEqual({ message: other, transfer: null });
    expect(decodeTaskTransfer({ type: 'RELEASE' }, true).transfer).toBeNull();
    expect(decodeTaskTransfer(message(new Uint16Array(8)), true).transfer).toBeNull(); // not the loader's Uint8Array frame
    expect(decodeTaskTransfer({ type: 'GET', path: ['decodeTask'] }, true).transfer).toBeNull();
    expect(decodeTaskTransfer(null, true)).toEqual({ message: null, transfer: null });
  });
});
