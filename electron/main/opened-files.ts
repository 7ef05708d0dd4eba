/**
 * Files the operating system asks Vigil to open: a double-clicked .dcm or
 * DICOMDIR (file association), `Vigil /media/cdrom` from a shell, a second
 * launch with a path, or macOS's open-file event (which can arrive before the
 * app is ready). They are queued until the library and the window are up, then
 * imported, and the renderer is told which study to show.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/**
 * Paths to open from a command line. `argv` is the process's argv; the
 * executable (and, in development, the app folder Electron was started with)
 * come first and are not documents. Flags and paths that do not exist are ignored.
 */
export function pathsFromArgv(argv: readonly string[], isPackaged: boolean, cwd: string, exists: (p: string) => boolean = existsSync): string[] {
  const documents = argv.slice(isPackaged ? 1 : 2);
  return documents.filter((a) => a.length > 0 && !a.startsWith('-')).map((a) => (isAbsolute(a) ? a : resolve(cwd, a))).filter((p) => exists(p));
}

export type OpenPaths = (paths: string[]) => Promise<void>;

/** Holds requests until `start` is called with the opener, then runs them one batch at a time. */
export class OpenedFilesQueue {
  private pending: string[] = [];
  private opener: OpenPaths | null = null;
  private running: Promise<void> = Promise.resolve();

  add(paths: readonly string[]): void {
    if (paths.length === 0) return;
    this.pending.push(...paths);
    this.flush();
  }

  start(opener: OpenPaths): void {
    this.opener = opener;
    this.flush();
  }

  /** Resolves when everything queued so far has been handled (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  private flush(): void {
    const opener = this.opener;
    if (!opener || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.running = this.running.then(() => opener(batch)).catch(() => undefined);
  }
}
