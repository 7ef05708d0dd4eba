/**
 * Saves brush / eraser strokes on a segmentation (review.saveMaskEdits, one stored plane a stroke, gzip + base64) and
 * keeps the screen honest: a stroke that could not be saved is undone on screen, back to the plane last saved for that
 * slice, so the reader never sees an edit that is not stored. Strokes are sent one after another, in the order they
 * were painted (each sends its whole plane: one sent out of order would store an older plane last), so the newest
 * stroke of a slice decides: an older one failing while a newer one waits undoes nothing yet.
 */
import type { ResponseOf, Result, VigilApi, VigilError } from '../../../../contract/ipc-contract';

type MaskEditsSaved = ResponseOf<'review.saveMaskEdits'>;

/** What the pane that painted the stroke gives: the plane before it, and how to put a plane back on screen. */
export interface StrokeEdit {
  /** The stored plane as it was before this stroke. */
  readonly before: Uint8Array;
  /**
   * Writes `plane` into the slice (the label map and what is drawn); false when it did not, a stroke on the slice
   * being painted right now (its own save decides).
   */
  readonly restore: (plane: Uint8Array) => boolean;
}

export interface StrokeTarget {
  readonly resultId: number;
  /** The model's mask file the edits belong to. */
  readonly file: string;
  /** [slices, rows, columns] of the stored label map. */
  readonly shape: readonly [number, number, number];
}

async function gzipBase64(plane: Uint8Array<ArrayBuffer>): Promise<string> {
  const gz = await new Response(new Response(plane).body!.pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
  let binary = '';
  const bytes = new Uint8Array(gz);
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export class MaskEditSaver {
  /** Per mask slice: the plane the store holds (as far as this window knows). */
  private readonly confirmed = new Map<string, Uint8Array>();
  /** Per mask slice: the number of the newest stroke painted. */
  private readonly newest = new Map<string, number>();
  /** The sends, one at a time. */
  private sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly vigil: Pick<VigilApi, 'review'>,
    private readonly reportError: (error: VigilError) => void,
  ) {}

  /**
   * Sends the stroke's slice of `values` (the whole label map after the stroke). Resolves with the save's answer once
   * handled: on failure the error is reported and, if no newer stroke of the slice is in flight, the slice is restored.
   */
  save(target: StrokeTarget, slice: number, values: Uint8Array, edit: StrokeEdit): Promise<Result<MaskEditsSaved>> {
    const key = `${target.resultId}\0${target.file}\0${slice}`;
    if (!this.confirmed.has(key)) this.confirmed.set(key, edit.before);
    const seq = (this.newest.get(key) ?? 0) + 1;
    this.newest.set(key, seq);
    const plane = target.shape[1] * target.shape[2];
    // Taken now: a later stroke changes `values` while this one is compressed and sent.
    const sent = values.slice(slice * plane, (slice + 1) * plane);
    const send = this.sending.then(() => this.send(target, slice, key, seq, sent, edit));
    this.sending = send.catch(() => undefined);
    return send;
  }

  private async send(target: StrokeTarget, slice: number, key: string, seq: number, sent: Uint8Array<ArrayBuffer>, edit: StrokeEdit): Promise<Result<MaskEditsSaved>> {
    let answer: Result<MaskEditsSaved>;
    try {
      answer = await this.vigil.review.saveMaskEdits({ resultId: target.resultId, file: target.file, slices: [{ slice, planeGzBase64: await gzipBase64(sent) }] });
    } catch (err) {
      answer = { ok: false, error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } };
    }
    if (answer.ok) {
      this.confirmed.set(key, sent);
      return answer;
    }
    let undone = false;
    try {
      undone = this.newest.get(key) === seq && edit.restore(this.confirmed.get(key)!);
    } catch {
      // The pane is gone (the study closed): nothing on screen to undo.
    }
    this.reportError({ ...answer.error, message: `The mask edit could not be saved${undone ? ' and was undone' : ''}: ${answer.error.message}` });
    return answer;
  }
}
