import type { ErrorCode, VigilError } from '../../contract/ipc-contract';

/** An expected failure a service reports to its caller as a typed error value. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/**
 * Turns anything thrown into an error value safe to send across the boundary:
 * ServiceErrors keep their code and message; anything else becomes INTERNAL
 * with a generic message (details go to the local log, never to the caller).
 */
export function toVigilError(err: unknown, log: (msg: string) => void = (m) => console.error(m)): VigilError {
  if (err instanceof ServiceError) return { code: err.code, message: err.message };
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log(`[vigil] internal error: ${detail}`);
  return { code: 'INTERNAL', message: 'Internal error; details were written to the local log.' };
}
