/**
 * ModelPackage: one folder holding model.onnx, manifest.json and MODEL_CARD.md.
 * `loadModelPackage` validates everything that can be checked without running
 * the model: schema, sha-256, external-data references that would escape the
 * folder, that ONNX Runtime opens the graph, and that the declared inputs and
 * outputs match it. A package that fails any check is reported with the reason
 * and is never run.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type AggregationSpec, type ModelManifest, parseManifest } from './model-manifest';
import { externalDataLocations } from './onnx-external-data';

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'manifest.json';
export const MODEL_CARD_FILE = 'MODEL_CARD.md';

export interface GraphValueInfo {
  name: string;
  /** ONNX Runtime's type name, e.g. "float32"; null when not a tensor. */
  type: string | null;
  shape: (number | string)[] | null;
}

export interface GraphSignature {
  inputs: GraphValueInfo[];
  outputs: GraphValueInfo[];
}

/** Opens the graph and reports its signature (ONNX Runtime by default; injectable for tests). */
export type GraphInspector = (modelPath: string) => Promise<GraphSignature>;

export type ModelPackageStatus =
  | { status: 'ok'; manifest: ModelManifest; dir: string; modelPath: string; signature: GraphSignature }
  | { status: 'invalid'; reason: string; dir: string; manifest: ModelManifest | null; id: string | null };

/**
 * An ONNX file read once (asynchronously) and its sha-256, hashed in slices between event-loop turns: a rescan
 * runs in Electron's main process, and a large model must not stall it. The bytes also serve the external-data check.
 */
async function readHashed(path: string): Promise<{ bytes: Buffer; sha256: string }> {
  const bytes = await readFile(path);
  const hash = createHash('sha256');
  const slice = 8 << 20;
  for (let at = 0; at < bytes.length; at += slice) {
    hash.update(bytes.subarray(at, at + slice));
    if (at + slice < bytes.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { bytes, sha256: hash.digest('hex') };
}

export async function ortGraphInspector(modelPath: string): Promise<GraphSignature> {
  const { InferenceSession } = await import('onnxruntime-node');
  const session = await InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    const info = (m: (typeof session.inputMetadata)[number]): GraphValueInfo =>
      m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: null, shape: null };
    return { inputs: session.inputMetadata.map(info), outputs: session.outputMetadata.map(info) };
  } finally {
    await session.release();
  }
}

function isInside(dir: string, target: string): boolean {
  const rel = relative(dir, target);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..');
}

function checkExternalData(dir: string, modelPath: string, bytes: Buffer): string | null {
  let locations: string[];
  try {
    locations = externalDataLocations(bytes);
  } catch (err) {
    return `${basename(modelPath)} is not a readable ONNX protobuf: ${(err as Error).message}`;
  }
  const realDir = realpathSync(dir);
  for (const loc of locations) {
    if (loc === '' || isAbsolute(loc) || loc.includes('\0')) return `external data location "${loc}" is not a relative path inside the package`;
    const target = resolve(dir, loc);
    if (!isInside(dir, target)) return `external data location "${loc}" escapes the package folder`;
    if (!existsSync(target)) return `external data file "${loc}" is missing`;
    // A symlink inside the folder that points outside it escapes too.
    if (!isInside(realDir, realpathSync(target))) return `external data location "${loc}" resolves outside the package folder`;
  }
  return null;
}

const ORT_DTYPE: Record<string, string> = { float32: 'float32', float16: 'float16', uint8: 'uint8', int8: 'int8', int32: 'int32', int64: 'int64' };

function checkSignature(manifest: ModelManifest, sig: GraphSignature): string | null {
  for (const t of manifest.input.tensors) {
    const g = sig.inputs.find((i) => i.name === t.name);
    if (!g) return `declared input "${t.name}" is not an input of the graph (graph inputs: ${sig.inputs.map((i) => i.name).join(', ')})`;
    if (g.type !== null && g.type !== ORT_DTYPE[t.dtype]) return `input "${t.name}" is ${g.type} in the graph but declared ${t.dtype}`;
    if (g.shape && g.shape.length !== t.shape.length) return `input "${t.name}" has rank ${g.shape.length} in the graph but declared rank ${t.shape.length}`;
    if (g.shape) {
      for (let d = 0; d < t.shape.length; d++) {
        const gd = g.shape[d];
        const md = t.shape[d];
        if (typeof gd === 'number' && gd > 0 && typeof md === 'number' && gd !== md) return `input "${t.name}" dim ${d} is ${gd} in the graph but declared ${md}`;
      }
    }
  }
  const extra = sig.inputs.filter((i) => !manifest.input.tensors.some((t) => t.name === i.name));
  if (extra.length > 0) return `the graph has inputs the manifest does not declare: ${extra.map((i) => i.name).join(', ')}`;
  for (const o of manifest.outputs) {
    if (!sig.outputs.some((g) => g.name === o.tensor)) return `declared output "${o.tensor}" is not an output of the graph (graph outputs: ${sig.outputs.map((g) => g.name).join(', ')})`;
  }
  return null;
}

type ModelAggregation = Extract<AggregationSpec, { method: 'model' }>;

/** The per-slice graph must produce the embeddings; the aggregator graph must take exactly the declared input and give the declared output. */
function checkAggregatorSignature(agg: ModelAggregation, perSlice: GraphSignature, sig: GraphSignature): string | null {
  const embedding = perSlice.outputs.find((o) => o.name === agg.embeddingOutput);
  if (!embedding) return `aggregation.embeddingOutput "${agg.embeddingOutput}" is not an output of model.onnx (graph outputs: ${perSlice.outputs.map((o) => o.name).join(', ')})`;
  if (embedding.type !== null && embedding.type !== 'float32') return `embedding output "${agg.embeddingOutput}" is ${embedding.type}, the aggregator reads float32`;
  const t = agg.input;
  const g = sig.inputs.find((i) => i.name === t.name);
  if (!g) return `aggregator input "${t.name}" is not an input of ${agg.onnx} (graph inputs: ${sig.inputs.map((i) => i.name).join(', ')})`;
  if (g.type !== null && g.type !== 'float32') return `aggregator input "${t.name}" is ${g.type} in the graph but declared float32`;
  if (g.shape && g.shape.length !== t.shape.length) return `aggregator input "${t.name}" has rank ${g.shape.length} in the graph but declared rank ${t.shape.length}`;
  if (g.shape) {
    for (let d = 0; d < t.shape.length; d++) {
      const gd = g.shape[d];
      const md = t.shape[d];
      if (typeof gd === 'number' && gd > 0 && typeof md === 'number' && gd !== md) return `aggregator input "${t.name}" dim ${d} is ${gd} in the graph but declared ${md}`;
    }
  }
  const extra = sig.inputs.filter((i) => i.name !== t.name);
  if (extra.length > 0) return `${agg.onnx} has inputs the manifest does not declare: ${extra.map((i) => i.name).join(', ')}`;
  if (!sig.outputs.some((o) => o.name === agg.output.tensor)) return `aggregator output "${agg.output.tensor}" is not an output of ${agg.onnx} (graph outputs: ${sig.outputs.map((o) => o.name).join(', ')})`;
  // The embedding size, where both graphs fix it, must agree.
  const e = embedding.shape?.[1];
  const ge = g.shape?.[t.layout.indexOf('E')];
  if (typeof e === 'number' && e > 0 && typeof ge === 'number' && ge > 0 && e !== ge) return `embedding output "${agg.embeddingOutput}" has ${e} features per slice but aggregator input "${t.name}" takes ${ge}`;
  return null;
}

/**
 * The aggregator file: inside the folder (symlinks resolved), the declared sha-256, no escaping external data, opens, matches.
 * Returns why it cannot be used, or null. (The job opens it again by the manifest's path; nothing is kept here.)
 */
async function checkAggregator(dir: string, agg: ModelAggregation, perSlice: GraphSignature, inspect: GraphInspector): Promise<string | null> {
  const path = join(dir, agg.onnx);
  if (!existsSync(path) || !statSync(path).isFile()) return `aggregator ${agg.onnx} is missing`;
  if (!isInside(realpathSync(dir), realpathSync(path))) return `aggregator ${agg.onnx} resolves outside the package folder`;
  const { bytes, sha256: actual } = await readHashed(path);
  if (actual !== agg.sha256) return `sha-256 of ${agg.onnx} is ${actual}, the manifest declares ${agg.sha256}`;
  const external = checkExternalData(dir, path, bytes);
  if (external) return external;
  let signature: GraphSignature;
  try {
    signature = await inspect(path);
  } catch (err) {
    return `ONNX Runtime cannot open ${agg.onnx}: ${(err as Error).message.split('\n')[0]}`;
  }
  return checkAggregatorSignature(agg, perSlice, signature);
}

/** Loads and validates one package folder. Never throws. */
export async function loadModelPackage(dir: string, inspect: GraphInspector = ortGraphInspector): Promise<ModelPackageStatus> {
  const invalid = (reason: string, manifest: ModelManifest | null = null, id: string | null = null): ModelPackageStatus => ({
    status: 'invalid',
    reason,
    dir,
    manifest,
    id: manifest?.id ?? id,
  });
  const manifestPath = join(dir, MANIFEST_FILE);
  const modelPath = join(dir, MODEL_FILE);
  if (!existsSync(manifestPath)) return invalid(`${MANIFEST_FILE} is missing`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    return invalid(`${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  const rawId = typeof (json as { id?: unknown } | null)?.id === 'string' ? (json as { id: string }).id : null;
  const parsed = parseManifest(json);
  if (!parsed.ok) return invalid(parsed.reason, null, rawId);
  const manifest = parsed.manifest;
  if (!existsSync(modelPath) || !statSync(modelPath).isFile()) return invalid(`${MODEL_FILE} is missing`, manifest);
  if (!existsSync(join(dir, MODEL_CARD_FILE))) return invalid(`${MODEL_CARD_FILE} is missing`, manifest);
  const { bytes, sha256: actual } = await readHashed(modelPath);
  if (actual !== manifest.sha256) return invalid(`sha-256 of ${MODEL_FILE} is ${actual}, the manifest declares ${manifest.sha256}`, manifest);
  const external = checkExternalData(dir, modelPath, bytes);
  if (external) return invalid(external, manifest);
  let signature: GraphSignature;
  try {
    signature = await inspect(modelPath);
  } catch (err) {
    return invalid(`ONNX Runtime cannot open ${MODEL_FILE}: ${(err as Error).message.split('\n')[0]}`, manifest);
  }
  const mismatch = checkSignature(manifest, signature);
  if (mismatch) return invalid(mismatch, manifest);
  if (manifest.aggregation?.method === 'model') {
    const reason = await checkAggregator(dir, manifest.aggregation, signature, inspect);
    if (reason) return invalid(reason, manifest);
  }
  return { status: 'ok', manifest, dir, modelPath, signature };
}
