/** A scriptable in-memory VigilApi for component tests. */
import { vi } from 'vitest';
import type {
  EventName,
  EventPayload,
  ImportRecord,
  ImportSummary,
  Result,
  StudyDetail,
  StudyList,
  StudyQuery,
  StudySummary,
  VigilApi,
} from '../../../contract/ipc-contract';

export function study(overrides: Partial<StudySummary> = {}): StudySummary {
  return {
    studyInstanceUid: '1.2.3.4',
    patientName: 'Doe^Jane',
    patientId: 'PID-001',
    birthDate: '19700102',
    sex: 'F',
    studyDate: '20240115',
    studyTime: '101500',
    accessionNumber: 'ACC-1',
    description: 'CT CHEST',
    modalities: ['CT'],
    seriesCount: 2,
    instanceCount: 120,
    uidDerived: false,
    ...overrides,
  };
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export interface FakeVigil extends VigilApi {
  /** Pushes an event to every subscriber, as main would. */
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void;
  readonly mocks: {
    listStudies: ReturnType<typeof vi.fn>;
    getStudy: ReturnType<typeof vi.fn>;
    import: ReturnType<typeof vi.fn>;
    cancelImport: ReturnType<typeof vi.fn>;
    lastImport: ReturnType<typeof vi.fn>;
    chooseImportSources: ReturnType<typeof vi.fn>;
    resolveDroppedFiles: ReturnType<typeof vi.fn>;
  };
}

export interface FakeOptions {
  host?: 'electron' | 'bridge';
  studies?: StudySummary[];
  modalities?: string[];
  detail?: (uid: string) => Result<StudyDetail>;
  importResult?: () => Promise<Result<ImportSummary>>;
  lastImport?: ImportRecord | null;
}

export function fakeVigil(options: FakeOptions = {}): FakeVigil {
  const listeners = new Map<string, Set<(p: unknown) => void>>();
  const studies = options.studies ?? [study()];
  const listStudies = vi.fn(async (q: StudyQuery): Promise<Result<StudyList>> => {
    const s = (q.search ?? '').toLowerCase();
    const matched = studies.filter((st) => !s || `${st.patientName} ${st.patientId} ${st.description} ${st.accessionNumber}`.toLowerCase().includes(s));
    return ok({ total: matched.length, studies: matched, modalities: options.modalities ?? [...new Set(studies.flatMap((st) => st.modalities))] });
  });
  const getStudy = vi.fn(async ({ studyInstanceUid }: { studyInstanceUid: string }): Promise<Result<StudyDetail>> => {
    if (options.detail) return options.detail(studyInstanceUid);
    const st = studies.find((x) => x.studyInstanceUid === studyInstanceUid) ?? study();
    return ok({
      study: st,
      series: [
        { seriesInstanceUid: `${studyInstanceUid}.2`, modality: 'CT', seriesNumber: 2, description: 'Lung 1.0', bodyPart: 'CHEST', instances: 100, uidDerived: true },
        { seriesInstanceUid: `${studyInstanceUid}.1`, modality: 'CT', seriesNumber: 1, description: 'Scout', bodyPart: 'CHEST', instances: 20, uidDerived: false },
      ],
    });
  });
  const importFn = vi.fn(
    options.importResult ??
      (async (): Promise<Result<ImportSummary>> =>
        ok({
          importId: 'imp-1',
          status: 'done',
          offered: 3,
          imported: 2,
          duplicates: 0,
          rejected: [{ path: '/staging/x/notes.txt', code: 'NOT_DICOM', reason: 'Not a DICOM file (no DICM prefix).' }],
          patients: 1,
          studies: 1,
          series: 1,
          instances: 2,
          elapsedMs: 1200,
        })),
  );
  const cancelImport = vi.fn(async () => ok({ cancelled: true }));
  const lastImport = vi.fn(async () => ok(options.lastImport ?? null));
  const chooseImportSources = vi.fn(async () => ok({ paths: ['/data/in'] }));
  const resolveDroppedFiles = vi.fn(async () => ok({ paths: ['/staging/batch'] }));
  const api = {
    host: options.host ?? 'bridge',
    app: { info: vi.fn(async () => ok({ version: '0.1.0', host: 'bridge', dataDir: '/tmp/vigil', storageMode: 'copy' })) },
    library: { import: importFn, cancelImport, listStudies, getStudy, lastImport },
    dialog: { chooseImportSources },
    on(event: string, listener: (p: unknown) => void) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    resolveDroppedFiles,
    instanceUrl: (uid: string) => `/dicom/instances/${uid}`,
    resultUrl: (resultId: number, file: string) => `/results/${resultId}/${file}`,
    emit(event: string, payload: unknown) {
      for (const l of listeners.get(event) ?? []) l(payload);
    },
    mocks: { listStudies, getStudy, import: importFn, cancelImport, lastImport, chooseImportSources, resolveDroppedFiles },
  };
  return api as unknown as FakeVigil;
}
