import { createContext, useContext } from 'react';
import type { VigilApi, VigilError } from '../../contract/ipc-contract';

export interface AppServices {
  readonly vigil: VigilApi;
  /** Shows a non-blocking error banner; the app keeps working. */
  readonly reportError: (error: VigilError) => void;
}

export const AppContext = createContext<AppServices | null>(null);

export function useAppServices(): AppServices {
  const value = useContext(AppContext);
  if (!value) throw new Error('useAppServices outside <AppContext>');
  return value;
}
