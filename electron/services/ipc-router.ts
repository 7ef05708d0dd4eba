/**
 * IpcRouter: the one place a request from any host (Electron IPC, loopback
 * bridge) is checked and dispatched. Validation happens before any service
 * sees the payload; failures come back as typed error values.
 */
import {
  type Channel,
  type ResponseOf,
  type Result,
  channels,
  isChannel,
  parseRequest,
} from '../../contract/ipc-contract';
import type { z } from 'zod';
import { toVigilError } from './service-error';

export type ValidRequest<C extends Channel> = z.infer<(typeof channels)[C]['request']>;

export type ChannelHandlers = {
  [C in Channel]: (request: ValidRequest<C>) => Promise<ResponseOf<C>> | ResponseOf<C>;
};

export class IpcRouter {
  constructor(
    private readonly handlers: ChannelHandlers,
    private readonly log: (msg: string) => void = (m) => console.error(m),
  ) {}

  async dispatch(channel: unknown, payload: unknown): Promise<Result<unknown>> {
    if (!isChannel(channel)) {
      return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: `Unknown channel: ${String(channel).slice(0, 80)}` } };
    }
    const parsed = parseRequest(channel, payload);
    if (!parsed.ok) return parsed;
    try {
      const handler = this.handlers[channel] as (request: unknown) => Promise<unknown> | unknown;
      const value = await handler(parsed.value);
      return { ok: true, value };
    } catch (err) {
      return { ok: false, error: toVigilError(err, this.log) };
    }
  }
}
