/**
 * The local validation the reader started, kept outside the Models page: a run outlives the page (the reader goes
 * back to the library, or a study opened from the file manager switches the view), and its progress, result or
 * error are there when the page comes back. One per Vigil connection, one run at a time, as main runs them.
 */
import { useSyncExternalStore } from 'react';
import type { ValidateModelRequest, ValidationResult, VigilApi } from '../../../contract/ipc-contract';

export interface ValidationRequest {
  readonly modelId: string;
  readonly casesPath: string;
  readonly caseUnit: NonNullable<ValidateModelRequest['caseUnit']>;
}

export interface ValidationSessionState {
  /** The last run asked for (running or ended); null before the first. */
  readonly request: ValidationRequest | null;
  readonly running: boolean;
  /** Cancel was asked and the run has not ended yet. */
  readonly cancelling: boolean;
  readonly progress: { readonly done: number; readonly total: number; readonly reading: boolean } | null;
  readonly result: ValidationResult | null;
  /** The run's error ("CODE: message"); a cancelled run's is null (cancelled says so). */
  readonly error: string | null;
  readonly cancelled: boolean;
  /**
   * Main is running a validation this session did not start (from another window, or before the page was reloaded):
   * the run asked for was refused as BUSY, and the reader may cancel the other one.
   */
  readonly otherRunning: boolean;
}

const IDLE: ValidationSessionState = { request: null, running: false, cancelling: false, progress: null, result: null, error: null, cancelled: false, otherRunning: false };

export class ValidationSession {
  private state = IDLE;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly vigil: VigilApi) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getState = (): ValidationSessionState => this.state;

  /** Starts a run (none may be running); settles when it ends, whatever became of the page that asked. */
  async start(request: ValidationRequest): Promise<void> {
    if (this.state.running) return;
    // The previous result must not stay on screen (or be saved) under a new run or its error.
    this.set({ ...IDLE, request, running: true });
    const off = this.vigil.on('models.validateProgress', (p) => {
      if (this.state.running && p.modelId === request.modelId) this.set({ ...this.state, progress: { done: p.done, total: p.total, reading: p.phase === 'reading' } });
    });
    try {
      const r = await this.vigil.models.validate({ modelId: request.modelId, casesPath: request.casesPath, caseUnit: request.caseUnit });
      if (r.ok) this.set({ ...this.state, result: r.value });
      else if (r.error.code === 'CANCELLED') this.set({ ...this.state, cancelled: true });
      else this.set({ ...this.state, error: `${r.error.code}: ${r.error.message}`, otherRunning: r.error.code === 'BUSY' });
    } finally {
      off();
      this.set({ ...this.state, running: false, cancelling: false });
    }
  }

  /** Asks main to stop the running validation (this session's, or the other one it was refused for). */
  async cancel(): Promise<void> {
    if (this.state.otherRunning) {
      this.set({ ...this.state, cancelling: true });
      const r = await this.vigil.models.cancelValidation({});
      this.set({ ...this.state, cancelling: false, otherRunning: false, error: r.ok ? null : `${r.error.code}: ${r.error.message}`, cancelled: r.ok });
      return;
    }
    if (!this.state.running || this.state.cancelling) return;
    this.set({ ...this.state, cancelling: true });
    const r = await this.vigil.models.cancelValidation({});
    // Nothing was running any more (it ended meanwhile): the run's own end clears the flag.
    if (!r.ok) this.set({ ...this.state, cancelling: false, error: `${r.error.code}: ${r.error.message}` });
  }

  private set(next: ValidationSessionState): void {
    this.state = next;
    for (const listener of this.listeners) listener();
  }
}

const sessions = new WeakMap<VigilApi, ValidationSession>();

/** The validation session of a Vigil connection (made on first use). */
export function validationSessionFor(vigil: VigilApi): ValidationSession {
  let session = sessions.get(vigil);
  if (!session) {
    session = new ValidationSession(vigil);
    sessions.set(vigil, session);
  }
  return session;
}

/** The session's state, re-rendering on each change. */
export function useValidationSession(session: ValidationSession): ValidationSessionState {
  return useSyncExternalStore(session.subscribe, session.getState);
}
