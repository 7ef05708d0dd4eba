/**
 * The case-level aggregator of a "slices" model (manifest `aggregation.method: "model"`): a second ONNX model that
 * reads the per-slice embeddings of the first as one sequence and gives the case's scores.
 */
import { dirname, join } from 'node:path';
import type { AnalysedUnit } from './analysis-unit';
import type { ModelManifest } from './model-manifest';
import { classificationFindings, classificationScores, type Finding } from './postprocessing';
import { type OutputRecord, toFloat } from './run-outputs';
import type { ProviderPreference, SessionManager, TensorLike } from './session-manager';

export type ModelAggregation = Extract<NonNullable<ModelManifest['aggregation']>, { method: 'model' }>;

/** The aggregator's input: the per-slice embeddings [N, E, …] as one sequence ([1, S, E] or [S, E]). */
export function embeddingSequence(agg: ModelAggregation, embedding: TensorLike, slices: number): { data: Float32Array; dims: number[] } {
  const data = toFloat(embedding);
  if (embedding.dims[0] !== slices || data.length % slices !== 0) {
    throw new Error(`embedding output "${agg.embeddingOutput}" has dims [${embedding.dims.join(', ')}], expected one row per slice (${slices})`);
  }
  const size: Record<string, number> = { N: 1, S: slices, E: data.length / slices };
  const dims = [...agg.input.layout].map((letter) => size[letter]!);
  agg.input.shape.forEach((declared, i) => {
    if (typeof declared === 'number' && declared !== dims[i]) throw new Error(`aggregator input "${agg.input.name}" dim ${i} (${agg.input.layout[i]}) is ${dims[i]} but the manifest declares ${declared}`);
  });
  // Row-major [N, E, …] flattened per slice is already [S, E] (and [1, S, E]) order.
  return { data, dims };
}

/**
 * Runs the aggregator on the unit's embeddings (same provider preference and session cache as the model). Throws when
 * an output is missing or malformed.
 */
export async function runCaseAggregator(
  ort: typeof import('onnxruntime-node'),
  sessions: SessionManager,
  modelPath: string,
  provider: ProviderPreference,
  aggregation: ModelAggregation,
  u: AnalysedUnit,
): Promise<{ findings: Finding[]; record: Extract<OutputRecord, { kind: 'aggregation' }>; sessionMs: number; inferenceMs: number }> {
  const embedding = u.outputs[aggregation.embeddingOutput];
  if (!embedding) throw new Error(`the model did not return the embedding output "${aggregation.embeddingOutput}"`);
  const sequence = embeddingSequence(aggregation, embedding, u.grid.shape[0]);
  const feed = new ort.Tensor('float32', sequence.data, sequence.dims);
  const run = await sessions.run(join(dirname(modelPath), aggregation.onnx), provider, { [aggregation.input.name]: feed }, { warmUp: { inputs: [{ name: aggregation.input.name, dtype: 'float32', dims: sequence.dims }] } });
  const tensor = run.outputs[aggregation.output.tensor];
  if (!tensor) throw new Error(`the aggregator did not return output "${aggregation.output.tensor}"`);
  const rows = classificationScores(aggregation.output, { dims: tensor.dims, data: toFloat(tensor) });
  if (rows.length !== 1) throw new Error(`the aggregator output "${aggregation.output.tensor}" has ${rows.length} rows, expected one case-level row`);
  return {
    findings: classificationFindings(aggregation.output, rows[0]!),
    record: {
      kind: 'aggregation',
      tensor: aggregation.output.tensor,
      model: aggregation.onnx,
      modelSha256: aggregation.sha256,
      embeddingOutput: aggregation.embeddingOutput,
      embeddingDims: sequence.dims,
      provider: run.provider,
      providerNote: run.fallbackReason,
      scores: rows[0]!,
    },
    sessionMs: run.sessionMs,
    inferenceMs: run.inferenceMs,
  };
}
