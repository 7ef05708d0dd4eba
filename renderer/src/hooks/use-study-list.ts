import { useEffect, useState } from 'react';
import type { StudyList, StudyQuery } from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';

export interface StudyListState {
  readonly list: StudyList | null;
  readonly loading: boolean;
}

/** Runs `library.listStudies` whenever the query (or `version`) changes; late answers to old queries are dropped. */
export function useStudyList(query: StudyQuery, version: number): StudyListState {
  const { vigil, reportError } = useAppServices();
  const [state, setState] = useState<StudyListState>({ list: null, loading: true });
  const key = JSON.stringify(query);
  useEffect(() => {
    let stale = false;
    setState((s) => ({ ...s, loading: true }));
    vigil.library.listStudies(JSON.parse(key) as StudyQuery).then(
      (result) => {
        if (stale) return;
        if (result.ok) setState({ list: result.value, loading: false });
        else {
          setState((s) => ({ ...s, loading: false }));
          reportError(result.error);
        }
      },
      (err: unknown) => {
        if (stale) return;
        setState((s) => ({ ...s, loading: false }));
        reportError({ code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      stale = true;
    };
  }, [vigil, reportError, key, version]);
  return state;
}
