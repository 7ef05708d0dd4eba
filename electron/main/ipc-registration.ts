/**
 * Electron IPC for the contract channels. Every handler first checks that the
 * request comes from a frame on the app origin, then hands the raw payload to
 * the services' router, which validates it and never throws.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import {
  type Channel,
  type EventName,
  type EventPayload,
  type Result,
  IPC_EVENT_PREFIX,
  IPC_INVOKE_PREFIX,
  channelNames,
} from '../../contract/ipc-contract';
import { isAppUrl } from './app-urls';

export interface RequestRouter {
  dispatch(channel: unknown, payload: unknown): Promise<Result<unknown>>;
}

export interface EventSource {
  subscribe(listener: <E extends EventName>(event: E, payload: EventPayload<E>) => void): () => void;
}

type InvokeRegistry = Pick<IpcMain, 'handle' | 'removeHandler'>;
type SenderInfo = Pick<IpcMainInvokeEvent, 'senderFrame'>;

function senderUrl(event: SenderInfo): string | null {
  try {
    return event.senderFrame?.url ?? null;
  } catch {
    // A frame that navigated away or was destroyed can throw on access.
    return null;
  }
}

export function isTrustedSender(event: SenderInfo): boolean {
  return isAppUrl(senderUrl(event));
}

export function invokeHandler(router: RequestRouter, channel: Channel) {
  return async (event: SenderInfo, payload: unknown): Promise<Result<unknown>> => {
    if (!isTrustedSender(event)) {
      return { ok: false, error: { code: 'FORBIDDEN', message: `Request to ${channel} refused: sender is not the Vigil app.` } };
    }
    return router.dispatch(channel, payload);
  };
}

/** Registers one ipcMain handler per contract channel; returns the function that removes them. */
export function registerIpcHandlers(ipcMain: InvokeRegistry, router: RequestRouter): () => void {
  for (const channel of channelNames) {
    ipcMain.handle(IPC_INVOKE_PREFIX + channel, invokeHandler(router, channel));
  }
  return () => {
    for (const channel of channelNames) ipcMain.removeHandler(IPC_INVOKE_PREFIX + channel);
  };
}

/** Pushes service events to the current window, if it is still alive. Returns the unsubscribe. */
export function forwardEvents(
  events: EventSource,
  target: () => Pick<WebContents, 'send' | 'isDestroyed'> | null,
): () => void {
  return events.subscribe((event, payload) => {
    const contents = target();
    if (contents && !contents.isDestroyed()) contents.send(IPC_EVENT_PREFIX + event, payload);
  });
}
