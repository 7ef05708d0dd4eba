/**
 * Composition root for the plain-Node services. The Electron main process, the
 * loopback bridge and the CLI all open the same services through this function
 * and differ only in the host-specific handlers they pass in.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AppInfo } from '../../contract/ipc-contract';
import { EventHub } from './event-hub';
import { type ChannelHandlers, IpcRouter } from './ipc-router';
import { StudyLibrary, type StorageMode } from './library/study-library';
import { ServiceError } from './service-error';

export type HostKind = AppInfo['host'];

export interface VigilServicesOptions {
  dataDir: string;
  host: HostKind;
  version?: string;
  /** Worker threads for import; 0 runs parsing in-process (tests, tiny imports). */
  importWorkers?: number;
  /** URL of the bundled import worker; defaults to the file beside the running bundle. */
  importWorkerUrl?: URL;
  storageMode?: StorageMode;
  /** Host-provided native picker (Electron only). */
  chooseImportSources?: (kind: 'folder' | 'files') => Promise<string[]>;
  log?: (msg: string) => void;
}

export interface VigilServices {
  readonly dataDir: string;
  readonly events: EventHub;
  readonly library: StudyLibrary;
  readonly router: IpcRouter;
  /** Absolute path of an instance's stored bytes, or null if unknown. */
  instanceFile(sopInstanceUid: string): string | null;
  close(): Promise<void>;
}

export async function openVigilServices(options: VigilServicesOptions): Promise<VigilServices> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const events = new EventHub();
  const library = await StudyLibrary.open({
    dataDir,
    events,
    importWorkers: options.importWorkers,
    importWorkerUrl: options.importWorkerUrl,
    storageMode: options.storageMode,
  });
  const version = options.version ?? '0.1.0';

  const handlers: ChannelHandlers = {
    'app.info': () => ({ version, host: options.host, dataDir, storageMode: library.storageMode }),
    'library.import': (request) => library.import(request),
    'library.cancelImport': (request) => ({ cancelled: library.cancelImport(request.importId) }),
    'library.listStudies': (request) => library.listStudies(request),
    'library.getStudy': (request) => library.getStudy(request.studyInstanceUid),
    'library.lastImport': () => library.lastImport(),
    'library.listInstances': (request) => library.listInstances(request.seriesInstanceUid),
    'dialog.chooseImportSources': async (request) => {
      if (!options.chooseImportSources) {
        throw new ServiceError('UNAVAILABLE', 'This host has no native file dialog; drop files or pick them in the page.');
      }
      return { paths: await options.chooseImportSources(request.kind) };
    },
  };

  return {
    dataDir,
    events,
    library,
    router: new IpcRouter(handlers, options.log),
    instanceFile: (uid) => library.instancePath(uid),
    close: () => library.close(),
  };
}
