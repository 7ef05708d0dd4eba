import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  DroppedFile,
  ImportProgress,
  ImportRecord,
  ImportSummary,
  Result,
} from '../../../contract/ipc-contract';
import { useAppServices } from '../app-context';

/** What the last import left behind: a fresh summary, or the stored record loaded at startup. */
export type ImportOutcome =
  | { readonly kind: 'summary'; readonly summary: ImportSummary }
  | { readonly kind: 'record'; readonly record: ImportRecord };

export type ImportStage =
  | { readonly stage: 'idle' }
  | { readonly stage: 'preparing'; readonly files: number }
  | { readonly stage: 'importing' };

export interface Importer {
  readonly stage: ImportStage;
  readonly progress: ImportProgress | null;
  readonly outcome: ImportOutcome | null;
  readonly cancelling: boolean;
  /** Imports picked or dropped files (bridge uploads them; Electron resolves real paths). */
  importDropped(files: readonly DroppedFile[]): Promise<void>;
  /** Electron only: native picker, then import. */
  importWithDialog(kind: 'folder' | 'files'): Promise<void>;
  cancel(): void;
  dismissOutcome(): void;
}

export function useImporter(): Importer {
  const { vigil, reportError } = useAppServices();
  const [stage, setStage] = useState<ImportStage>({ stage: 'idle' });
  const [progress, setProgress] = useState<ImportProgress | null>(null);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const finished = useRef(new Set<string>());
  const busy = useRef(false);

  useEffect(
    () =>
      vigil.on('import.progress', (p) => {
        if (finished.current.has(p.importId)) return;
        if (p.phase === 'done' || p.phase === 'cancelled') {
          finished.current.add(p.importId);
          setProgress(null);
          return;
        }
        setProgress(p);
      }),
    [vigil],
  );

  // The stored last import: at startup, and after imports this page did not start (another window, the CLI).
  const [lastImportCheck, setLastImportCheck] = useState(0);
  useEffect(
    () =>
      vigil.on('library.changed', () => {
        if (!busy.current) setLastImportCheck((n) => n + 1);
      }),
    [vigil],
  );
  useEffect(() => {
    let stale = false;
    vigil.library.lastImport({}).then((result) => {
      if (stale) return;
      if (!result.ok) return reportError(result.error);
      const record = result.value;
      if (!record) return;
      setOutcome((current) => {
        if (current === null) return { kind: 'record', record };
        const shownId = current.kind === 'summary' ? current.summary.importId : current.record.importId;
        return shownId === record.importId ? current : { kind: 'record', record };
      });
    }, () => undefined);
    return () => {
      stale = true;
    };
  }, [vigil, reportError, lastImportCheck]);

  const runImport = useCallback(
    async (paths: string[]) => {
      setStage({ stage: 'importing' });
      const result = await vigil.library.import({ paths });
      if (result.ok) {
        finished.current.add(result.value.importId);
        setOutcome({ kind: 'summary', summary: result.value });
      } else {
        reportError(result.error);
      }
      setProgress(null);
    },
    [vigil, reportError],
  );

  const guarded = useCallback(
    async (work: () => Promise<void>) => {
      if (busy.current) return;
      busy.current = true;
      try {
        await work();
      } catch (err) {
        reportError({ code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
      } finally {
        busy.current = false;
        setCancelling(false);
        setStage({ stage: 'idle' });
      }
    },
    [reportError],
  );

  const importDropped = useCallback(
    (files: readonly DroppedFile[]) =>
      guarded(async () => {
        if (files.length === 0) return;
        setStage({ stage: 'preparing', files: files.length });
        const resolved: Result<{ paths: string[] }> = await vigil.resolveDroppedFiles(files);
        if (!resolved.ok) return reportError(resolved.error);
        if (resolved.value.paths.length === 0) return;
        await runImport(resolved.value.paths);
      }),
    [guarded, vigil, reportError, runImport],
  );

  const importWithDialog = useCallback(
    (kind: 'folder' | 'files') =>
      guarded(async () => {
        const chosen = await vigil.dialog.chooseImportSources({ kind });
        if (!chosen.ok) return reportError(chosen.error);
        if (chosen.value.paths.length === 0) return; // user closed the dialog
        await runImport(chosen.value.paths);
      }),
    [guarded, vigil, reportError, runImport],
  );

  const cancel = useCallback(() => {
    const importId = progress?.importId;
    if (!importId) return;
    setCancelling(true);
    void vigil.library.cancelImport({ importId }).then((result) => {
      if (!result.ok) {
        setCancelling(false);
        reportError(result.error);
      }
    });
  }, [vigil, reportError, progress?.importId]);

  const dismissOutcome = useCallback(() => setOutcome(null), []);

  return { stage, progress, outcome, cancelling, importDropped, importWithDialog, cancel, dismissOutcome };
}
