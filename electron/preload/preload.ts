/**
 * Sandboxed preload (bundled to out/main/preload.cjs). Exposes exactly one
 * object, `window.vigil`, built from the contract; raw ipcRenderer never
 * crosses the bridge.
 */
import { type IpcRendererEvent, contextBridge, ipcRenderer, webUtils } from 'electron';
import {
  type DroppedFile,
  type EventName,
  type EventPayload,
  type Result,
  type VigilApi,
  IPC_EVENT_PREFIX,
  IPC_INVOKE_PREFIX,
  buildInvokeApi,
  isEventName,
} from '../../contract/ipc-contract';
import { instanceUrlFor, resultUrlFor } from '../main/app-urls';

const MAX_DROPPED_FILES = 10_000;

function on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
  if (!isEventName(event)) throw new TypeError(`Unknown Vigil event: ${String(event)}`);
  if (typeof listener !== 'function') throw new TypeError('Vigil event listener must be a function');
  const channel = IPC_EVENT_PREFIX + event;
  // The IpcRendererEvent (which carries `sender`) never reaches the page.
  const wrapper = (_event: IpcRendererEvent, payload: EventPayload<E>) => listener(payload);
  ipcRenderer.on(channel, wrapper);
  return () => {
    ipcRenderer.removeListener(channel, wrapper);
  };
}

function pathOf(dropped: DroppedFile): string {
  try {
    return webUtils.getPathForFile(dropped.file as File);
  } catch {
    return '';
  }
}

async function resolveDroppedFiles(files: readonly DroppedFile[]): Promise<Result<{ paths: string[] }>> {
  if (!Array.isArray(files) || files.length === 0) {
    return { ok: false, error: { code: 'BAD_REQUEST', message: 'No files were dropped.' } };
  }
  if (files.length > MAX_DROPPED_FILES) {
    return { ok: false, error: { code: 'BAD_REQUEST', message: `Too many files dropped at once (at most ${MAX_DROPPED_FILES}); drop their folder instead.` } };
  }
  const paths = files.map(pathOf).filter((path) => path.length > 0);
  if (paths.length === 0) {
    return {
      ok: false,
      error: { code: 'NOT_FOUND', message: 'None of the dropped items is a file on disk; drop files or folders from the file manager.' },
    };
  }
  return { ok: true, value: { paths } };
}

const api: VigilApi = {
  ...buildInvokeApi({
    invoke: (channel, request) => ipcRenderer.invoke(IPC_INVOKE_PREFIX + channel, request) as Promise<Result<unknown>>,
  }),
  host: 'electron',
  on,
  resolveDroppedFiles,
  instanceUrl: (sopInstanceUid) => instanceUrlFor(String(sopInstanceUid)),
  resultUrl: (resultId, file) => resultUrlFor(Number(resultId), String(file)),
};

contextBridge.exposeInMainWorld('vigil', api);
