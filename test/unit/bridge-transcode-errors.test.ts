import { describe, expect, it } from 'vitest';
import { VigilErrorSchema } from '../../contract/ipc-contract';
import { transcodeFailureError } from '../../electron/bridge/bridge-server';
import { DisplayTranscodeError, type DisplayTranscodeErrorCode, transcodeFailureStatus } from '../../electron/services/dicom/display-transcode';

describe('the bridge answers display transcode failures with contract error codes', () => {
  it("maps the file's own data (422) to IO_ERROR, keeping the reason", () => {
    const err = new DisplayTranscodeError('cannot transcode for display (decompressed): truncated fragment');
    expect(transcodeFailureStatus(err)).toBe(422);
    expect(transcodeFailureError(err)).toEqual({ code: 'IO_ERROR', message: 'TRANSCODE_FAILED: cannot transcode for display (decompressed): truncated fragment' });
  });

  it.each<DisplayTranscodeErrorCode>(['WORKER_CRASHED', 'WORKER_TIMEOUT', 'WORKER_CLOSED', 'WORKER_UNAVAILABLE'])('maps %s (503) to UNAVAILABLE, keeping the reason', (code) => {
    const err = new DisplayTranscodeError('the display transcode worker exited (code 1)', code);
    expect(transcodeFailureStatus(err)).toBe(503);
    const error = transcodeFailureError(err);
    expect(error).toEqual({ code: 'UNAVAILABLE', message: `${code}: the display transcode worker exited (code 1)` });
    expect(VigilErrorSchema.parse(error)).toEqual(error);
  });
});
