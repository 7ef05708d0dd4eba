/**
 * ModelRegistry: discovers model packages in the bundled models folder and the
 * user's models folder, validates every one on load, and lists them with their
 * status. Only packages with status "ok" can be run.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ModelMetrics } from '../../../contract/ipc-contract';
import type { ModelManifest } from './model-manifest';
import { type GraphInspector, type GraphSignature, loadModelPackage, MANIFEST_FILE, type ModelPackageStatus, ortGraphInspector } from './model-package';
import { readPackageMetrics } from './package-metrics';

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
  /** Test-split performance the package ships (metrics.json) for this model.onnx. */
  metrics?: ModelMetrics;
}

/** What a rescan found, by package folder. */
export interface RescanSummary {
  added: string[];
  removed: string[];
  /** Status, reason or manifest (e.g. a new sha-256 or version) differ from the previous scan. */
  changed: string[];
}

type Entry = { origin: 'bundled' | 'user'; pkg: ModelPackageStatus; metrics: ModelMetrics | null };

/** A package's state between scans: its status, the reason when invalid, and its manifest (sha-256, version, rules). */
function fingerprint(e: Entry): string {
  return JSON.stringify([e.pkg.status, e.pkg.status === 'invalid' ? e.pkg.reason : null, e.pkg.manifest]);
}

export interface ReadyModel {
  manifest: ModelManifest;
  dir: string;
  modelPath: string;
  signature: GraphSignature;
  origin: 'bundled' | 'user';
}

export class ModelRegistry {
  private entries: Entry[] = [];
  /** Scans run one at a time, in order: a rescan asked for during a scan runs after it. */
  private scans: Promise<unknown> = Promise.resolve();
  private firstScan: Promise<RescanSummary> | null = null;

  constructor(
    private readonly sources: readonly ModelSource[],
    private readonly inspect: GraphInspector = ortGraphInspector,
  ) {}

  /**
   * (Re)scans every source folder and validates each package again (hash, graph, signature). The new
   * list replaces the old one in one step when the scan is complete, so callers never see a half scan
   * and a job that already holds a ReadyModel keeps it.
   */
  refresh(): Promise<RescanSummary> {
    const scan = this.scans.then(() => this.scan());
    this.scans = scan.catch(() => undefined);
    this.firstScan ??= scan;
    return scan;
  }

  private async scan(): Promise<RescanSummary> {
    const entries: Entry[] = [];
    for (const source of this.sources) {
      if (!existsSync(source.dir)) continue;
      const names = readdirSync(source.dir).sort();
      for (const name of names) {
        const dir = resolve(join(source.dir, name));
        if (!statSync(dir).isDirectory() || !existsSync(join(dir, MANIFEST_FILE))) continue;
        const pkg = await loadModelPackage(dir, this.inspect);
        entries.push({ origin: source.origin, pkg, metrics: pkg.status === 'ok' ? readPackageMetrics(dir, pkg.manifest.sha256) : null });
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
    const before = new Map(this.entries.map((e) => [e.pkg.dir, fingerprint(e)]));
    const after = new Map(entries.map((e) => [e.pkg.dir, fingerprint(e)]));
    const summary: RescanSummary = {
      added: [...after.keys()].filter((d) => !before.has(d)),
      removed: [...before.keys()].filter((d) => !after.has(d)),
      changed: [...after].filter(([d, f]) => before.has(d) && before.get(d) !== f).map(([d]) => d),
    };
    this.entries = entries;
    return summary;
  }

  private async ensureLoaded(): Promise<void> {
    await (this.firstScan ?? this.refresh());
  }

  async list(): Promise<RegisteredModel[]> {
    await this.ensureLoaded();
    return this.entries.map(({ origin, pkg, metrics }) => {
      const m = pkg.manifest;
      const base = {
        id: m?.id ?? (pkg.status === 'invalid' ? pkg.id : null) ?? pkg.dir.split(/[\\/]/).pop() ?? pkg.dir,
        name: m?.name ?? '',
        version: m?.version ?? '',
        path: pkg.dir,
        origin,
        clinicalUse: m?.clinicalUse ?? null,
        ...(m?.intendedUse ? { intendedUse: m.intendedUse } : {}),
        ...(metrics ? { metrics } : {}),
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
