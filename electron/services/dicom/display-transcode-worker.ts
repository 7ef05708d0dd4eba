/** Worker-thread entry: answers the display transcode requests posted by DisplayTranscodePool (display-transcode-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { DisplayTranscodeRunner, type TranscodeEnvelope, type TranscodeReplyEnvelope, transferablesOf } from './display-transcode-runner';

if (!parentPort) throw new Error('display-transcode-worker must run in a worker thread');
const port = parentPort;
const runner = new DisplayTranscodeRunner();
port.on('message', (message: TranscodeEnvelope) => {
  void runner.run(message.request).then((result) => {
    const reply: TranscodeReplyEnvelope = { id: message.id, result };
    // Decoded frames are handed over, not copied.
    port.postMessage(reply, transferablesOf(result));
  });
});
