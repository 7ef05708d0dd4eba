import { useCallback, useState } from 'react';
import type { VigilError } from '../../../contract/ipc-contract';

export interface ShownError extends VigilError {
  readonly id: number;
  readonly repeat: number;
}

const MAX_SHOWN = 4;
let nextId = 1;

/** The error banner's list: newest last, identical repeats folded, oldest dropped past MAX_SHOWN. */
export function useErrors(): { errors: ShownError[]; report: (e: VigilError) => void; dismiss: (id: number) => void } {
  const [errors, setErrors] = useState<ShownError[]>([]);
  const report = useCallback((error: VigilError) => {
    setErrors((list) => {
      const last = list[list.length - 1];
      if (last && last.code === error.code && last.message === error.message) {
        return [...list.slice(0, -1), { ...last, repeat: last.repeat + 1 }];
      }
      return [...list, { code: error.code, message: error.message, id: nextId++, repeat: 1 }].slice(-MAX_SHOWN);
    });
  }, []);
  const dismiss = useCallback((id: number) => setErrors((list) => list.filter((e) => e.id !== id)), []);
  return { errors, report, dismiss };
}
