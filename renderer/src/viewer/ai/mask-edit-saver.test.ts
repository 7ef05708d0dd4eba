import { describe, expect, it, vi } from 'vitest';
import type { Result, VigilError } from '../../../../contract/ipc-contract';
import { MaskEditSaver, type StrokeTarget } from './mask-edit-saver';

type Saved = { reviewedFile: string; voxels: Record<string, number> };
const TARGET: StrokeTarget = { resultId: 7, file: 'mask.u8.gz', shape: [2, 2, 3] };
const PLANE = 6;

/** A label map of two 2×3 slices, and a stroke painting `label` over slice `slice` of it. */
function paint(values: Uint8Array, slice: number, label: number): Uint8Array {
  const before = values.slice(slice * PLANE, (slice + 1) * PLANE);
  values.fill(label, slice * PLANE, (slice + 1) * PLANE);
  return before;
}

async function gunzipBase64(b64: string): Promise<number[]> {
  const gz = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return [...new Uint8Array(await new Response(new Response(gz).body!.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer())];
}

/** `answers`, in the order the saves reach main. */
function setup(answers: (() => Promise<Result<Saved>>)[]) {
  const sent: { slice: number; plane: number[] }[] = [];
  const saveMaskEdits = vi.fn(async (req: { slices: { slice: number; planeGzBase64: string }[] }) => {
    for (const s of req.slices) sent.push({ slice: s.slice, plane: await gunzipBase64(s.planeGzBase64) });
    return answers.shift()!();
  });
  const errors: VigilError[] = [];
  const saver = new MaskEditSaver({ review: { saveMaskEdits } } as never, (e) => errors.push(e));
  const values = new Uint8Array(2 * PLANE);
  const restore = (slice: number) => (plane: Uint8Array) => {
    values.set(plane, slice * PLANE);
    return true;
  };
  return { saver, values, sent, errors, restore };
}

const ok = async (): Promise<Result<Saved>> => ({ ok: true, value: { reviewedFile: 'mask.reviewed.u8.gz', voxels: {} } });
const refused = async (): Promise<Result<Saved>> => ({ ok: false, error: { code: 'IO_ERROR', message: 'disk full' } });

describe('MaskEditSaver', () => {
  it('sends the stroke\u2019s slice and keeps it on screen when saved', async () => {
    const { saver, values, sent, errors, restore } = setup([ok]);
    const before = paint(values, 1, 3);
    const r = await saver.save(TARGET, 1, values, { before, restore: restore(1) });
    expect(r.ok).toBe(true);
    expect(sent).toEqual([{ slice: 1, plane: [3, 3, 3, 3, 3, 3] }]);
    expect([...values]).toEqual([0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3]);
    expect(errors).toEqual([]);
  });

  it('undoes a stroke the store refused, back to the plane last saved, and says so', async () => {
    const { saver, values, errors, restore } = setup([ok, refused]);
    await saver.save(TARGET, 0, values, { before: paint(values, 0, 1), restore: restore(0) });
    await saver.save(TARGET, 0, values, { before: paint(values, 0, 2), restore: restore(0) });
    // The first stroke (saved) stays, the second (refused) is gone.
    expect([...values.subarray(0, PLANE)]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(errors).toEqual([{ code: 'IO_ERROR', message: 'The mask edit could not be saved and was undone: disk full' }]);
  });

  it('sends strokes in the order painted; with a newer stroke of the slice waiting, leaves the undo to it', async () => {
    let rejectFirst: (() => void) | undefined;
    const first = () => new Promise<Result<Saved>>((done) => (rejectFirst = () => done({ ok: false, error: { code: 'IO_ERROR', message: 'disk full' } })));
    const { saver, values, errors, restore, sent } = setup([first, refused]);
    const a = saver.save(TARGET, 0, values, { before: paint(values, 0, 1), restore: restore(0) });
    const b = saver.save(TARGET, 0, values, { before: paint(values, 0, 2), restore: restore(0) });
    await vi.waitFor(() => expect(rejectFirst).toBeTypeOf('function'));
    // The second waits for the first's answer.
    expect(sent.map((x) => x.plane[0])).toEqual([1]);
    rejectFirst!();
    await a;
    // The older refusal undoes nothing while the newer stroke is still being saved.
    expect([...values.subarray(0, PLANE)]).toEqual([2, 2, 2, 2, 2, 2]);
    await b;
    expect(sent.map((x) => x.plane[0])).toEqual([1, 2]);
    expect([...values.subarray(0, PLANE)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(errors.map((e) => e.message)).toEqual(['The mask edit could not be saved: disk full', 'The mask edit could not be saved and was undone: disk full']);
  });

  it('leaves the stroke on screen when the pane is painting a newer one on the slice, and says it was not undone', async () => {
    const { saver, values, errors } = setup([refused]);
    await saver.save(TARGET, 0, values, { before: paint(values, 0, 5), restore: () => false });
    expect([...values.subarray(0, PLANE)]).toEqual([5, 5, 5, 5, 5, 5]);
    expect(errors.map((e) => e.message)).toEqual(['The mask edit could not be saved: disk full']);
  });

  it('undoes a stroke whose save threw (the channel itself failed)', async () => {
    const { saver, values, errors, restore } = setup([() => Promise.reject(new Error('bridge gone'))]);
    await saver.save(TARGET, 1, values, { before: paint(values, 1, 4), restore: restore(1) });
    expect([...values]).toEqual(new Array(2 * PLANE).fill(0));
    expect(errors).toEqual([{ code: 'INTERNAL', message: 'The mask edit could not be saved and was undone: bridge gone' }]);
  });
});
