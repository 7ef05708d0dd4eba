/**
 * ModelRegistry: discovers model packages in the bundled models folder and the
 * user's models folder, validates every one on load, and lists them with their
 * status. Only packages with status "ok" can be run.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ModelManifest } from './model-manifest';
import { type GraphInspector, type GraphSignature, loadModelPackage, MANIFEST_FILE, type ModelPackageStatus, ortGraphInspector } from './model-package';

export interface ModelSource {
  dir: string;
  origin: 'bundled' | 'user';
}

export interface RegisteredModel {
  id: string;
  name: string;
  version: string;
  status: 'ok' | 'invalid';
  reason?: string;
  path: string;
  origin: 'bundled' | 'user';
  clinicalUse: boolean | null;
  intendedUse?: string;
}

export interface ReadyModel {
  manifest: ModelManifest;
  dir: string;
  modelPath: string;
  signature: GraphSignature;
  origin: 'bundled' | 'user';
}

export class ModelRegistry {
  private entries: { origin: 'bundled' | 'user'; pkg: ModelPackageStatus }[] = [];
  private loaded = false;

  constructor(
    private readonly sources: readonly ModelSource[],
    private readonly inspect: GraphInspector = ortGraphInspector,
  ) {}

  /** (Re)scans every source folder and validates each package. */
  async refresh(): Promise<void> {
    const entries: { origin: 'bundled' | 'user'; pkg: ModelPackageStatus }[] = [];
    for (const source of this.sources) {
      if (!existsSync(source.dir)) continue;
      const names = readdirSync(source.dir).sort();
      for (const name of names) {
        const dir = resolve(join(source.dir, name));
        if (!statSync(dir).isDirectory() || !existsSync(join(dir, MANIFEST_FILE))) continue;
        entries.push({ origin: source.origin, pkg: await loadModelPackage(dir, this.inspect) });
      }
    }
    // Ids are unique: the first package with an id wins (bundled before user), later ones are refused.
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.pkg.status !== 'ok') continue;
      const id = e.pkg.manifest.id;
      if (seen.has(id)) e.pkg = { status: 'invalid', reason: `another package already provides model id "${id}"`, dir: e.pkg.dir, manifest: e.pkg.manifest, id };
      else seen.add(id);
    }
    this.entries = entries;
    this.loaded = true;
  }

  private async ensureLoaded(): Promise<void> {
    if (!this.loaded) await this.refresh();
  }

  async list(): Promise<RegisteredModel[]> {
    await this.ensureLoaded();
    return this.entries.map(({ origin, pkg }) => {
      const m = pkg.manifest;
      const base = {
        id: m?.id ?? (pkg.status === 'invalid' ? pkg.id : null) ?? pkg.dir.split(/[\\/]/).pop() ?? pkg.dir,
        name: m?.name ?? '',
        version: m?.version ?? '',
        path: pkg.dir,
        origin,
        clinicalUse: m?.clinicalUse ?? null,
        ...(m?.intendedUse ? { intendedUse: m.intendedUse } : {}),
      };
      return pkg.status === 'ok' ? { ...base, status: 'ok' as const } : { ...base, status: 'invalid' as const, reason: pkg.reason };
    });
  }

  /** Valid packages only. */
  async ready(): Promise<ReadyModel[]> {
    await this.ensureLoaded();
    const out: ReadyModel[] = [];
    for (const { origin, pkg } of this.entries) {
      if (pkg.status === 'ok') out.push({ manifest: pkg.manifest, dir: pkg.dir, modelPath: pkg.modelPath, signature: pkg.signature, origin });
    }
    return out;
  }

  async get(id: string): Promise<ReadyModel | null> {
    return (await this.ready()).find((m) => m.manifest.id === id) ?? null;
  }
}
