/**
 * ModelManifest: the versioned schema of `manifest.json` in a Vigil model
 * package (see models/README.md). Everything the runtime needs to decide
 * whether a model applies, how to build its input tensors, and how to turn its
 * outputs into findings and overlays in image space is declared here.
 */
import { z } from 'zod';

/** The version this Vigil writes and documents; every version in SUPPORTED_MANIFEST_VERSIONS loads. */
export const MANIFEST_SCHEMA_VERSION = 5;
/**
 * Version 2 adds the segmentation `findings` rule and aggregation by a second model; version 3 adds the
 * intended population (`intendedPopulation`) and description matching of the body part
 * (`applicability.allowDescriptionMatch`); version 4 adds the `cropUltrasoundRegion` preprocessing op (an older
 * Vigil would refuse the op, so a manifest using it says so by its version); version 5 adds the `voiLut` op (the
 * image's own window or VOI LUT). Older manifests are read as before.
 */
export const SUPPORTED_MANIFEST_VERSIONS = [1, 2, 3, 4, 5] as const;

const Id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, ".", "_" or "-", at most 64');
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex sha-256 (64 characters)');
const Range = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .strict()
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min must not exceed max');
const Rgb = z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]);
const Interpolation = z.enum(['nearest', 'linear']);
/** `area` averages every source pixel under each output pixel (anti-aliased downsampling, like PIL BOX / cv2 INTER_AREA). */
const ResizeInterpolation = z.enum(['nearest', 'linear', 'area']);
/** Anatomical orientation code: 3 letters, one of L/R, P/A, I/S each (e.g. LIA, RAS, LPS). */
const Orientation = z
  .string()
  .regex(/^[LRPAIS]{3}$/)
  .refine((s) => ['LR', 'PA', 'IS'].every((pair) => [...s].filter((c) => pair.includes(c)).length === 1), 'one of L/R, P/A and I/S each');

export const ApplicabilitySchema = z
  .object({
    /** DICOM Modality values (e.g. ["MR"]). Empty or absent: any. */
    modalities: z.array(z.string().min(1)).optional(),
    /**
     * Body Part Examined terms (case-insensitive; THORAX reads as CHEST). A series without Body Part Examined
     * is matched through its Anatomic Region Sequence code (see applicability.ts). Absent: any.
     */
    bodyParts: z.array(z.string().min(1)).optional(),
    viewPositions: z.array(z.string().min(1)).optional(),
    photometric: z.array(z.enum(['MONOCHROME1', 'MONOCHROME2', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'PALETTE COLOR'])).optional(),
    /** In-plane pixel spacing in mm (both directions must lie in range). */
    pixelSpacingMm: Range.optional(),
    sliceCount: Range.optional(),
    /** Checked only where Patient's Age / Birth Date are known. */
    patientAgeYears: Range.optional(),
    /**
     * Schema v3: when neither Body Part Examined nor the Anatomic Region Sequence names the body part, match
     * keywords of the study / series description (e.g. "US BREAST LEFT"). Weaker evidence: off unless declared.
     */
    allowDescriptionMatch: z.boolean().optional(),
  })
  .strict();

/**
 * Schema v3: the population the model was trained and validated on. A series outside it is still analysed
 * (unlike applicability.patientAgeYears, a hard rule), but its run carries a warning the reader sees.
 */
export const IntendedPopulationSchema = z
  .object({
    /** Patient age range in completed years (e.g. { "min": 1, "max": 5 }). */
    ageYears: Range.optional(),
    /** Where the range comes from (e.g. the training data's population), shown beside the warning. */
    note: z.string().min(1).max(500).optional(),
  })
  .strict();
export type IntendedPopulation = z.infer<typeof IntendedPopulationSchema>;

export const DType = z.enum(['float32', 'float16', 'uint8', 'int8', 'int32', 'int64']);
/** Named dims: N batch, C channels, S slices (sequence), D depth, H height, W width. */
export const Layout = z.enum(['NCHW', 'NHWC', 'NCDHW', 'NDHWC', 'NSCHW']);
const Dim = z.union([z.number().int().positive(), z.string().min(1).max(32)]);

export const InputTensorSchema = z
  .object({
    name: z.string().min(1),
    dtype: DType,
    shape: z.array(Dim).min(1).max(6),
    layout: Layout,
  })
  .strict()
  .refine((t) => t.shape.length === t.layout.length, { message: 'shape and layout must have the same rank' });

export const PreprocessOpSchema = z.discriminatedUnion('op', [
  /** Stored values -> modality units (HU for CT) with Rescale Slope/Intercept. */
  z.object({ op: z.literal('modalityRescale') }).strict(),
  z.object({ op: z.literal('invertMonochrome1') }).strict(),
  /**
   * Schema v5: the image's own VOI LUT transformation (its VOI LUT Sequence, else its first Window Center / Width with
   * the VOI LUT Function), as a viewer shows it by default: for models trained on images exported for display (PNG,
   * JPEG). Windows map to 0..1, tables to their entries; a no-op for images without one (and for colour images).
   */
  z.object({ op: z.literal('voiLut') }).strict(),
  z.object({ op: z.literal('window'), center: z.number(), width: z.number().positive() }).strict(),
  z
    .object({ op: z.literal('percentileClip'), lower: z.number().min(0).max(100), upper: z.number().min(0).max(100) })
    .strict()
    .refine((o) => o.lower < o.upper, 'lower must be below upper'),
  /** Resize the in-plane grid (2 values: rows, columns) or the volume (3: slices, rows, columns). */
  z.object({ op: z.literal('resize'), size: z.array(z.number().int().positive()).min(2).max(3), interpolation: ResizeInterpolation }).strict(),
  /**
   * Schema v4: crop an ultrasound screen capture to its B-mode image regions (Sequence of Ultrasound Regions, 2D tissue
   * regions); with unit "image" each region of a multi-view capture is its own input, with "slices"/"volume" the largest
   * region every image shares; a no-op for images without one. Works in source pixels, so it must precede every geometric op.
   */
  z.object({ op: z.literal('cropUltrasoundRegion') }).strict(),
  /** Centre crop the in-plane grid to a square on its short edge (how MedMNIST made its images). */
  z.object({ op: z.literal('cropSquare') }).strict(),
  /** Centre crop / pad to a size; pad with a constant or the image minimum. */
  z
    .object({ op: z.literal('cropPad'), size: z.array(z.number().int().positive()).min(2).max(3), pad: z.union([z.number(), z.literal('min')]) })
    .strict(),
  z.object({ op: z.literal('flip'), axes: z.array(z.enum(['slices', 'rows', 'columns'])).min(1) }).strict(),
  /** Rotate the in-plane grid by k × 90° counter-clockwise. */
  z.object({ op: z.literal('rotate90'), k: z.number().int().min(1).max(3) }).strict(),
  /**
   * Resample a volume onto a grid with the given anatomical orientation
   * (tensor axis 0, 1, 2 point to the three letters), spacing and size,
   * centred on the source volume (as FreeSurfer mri_conform does).
   */
  z
    .object({
      op: z.literal('reorient'),
      orientation: Orientation,
      spacingMm: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
      size: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
      interpolation: Interpolation,
    })
    .strict(),
  z.object({ op: z.literal('replicateChannels'), channels: z.number().int().min(2).max(16) }).strict(),
  z
    .object({
      op: z.literal('normalize'),
      method: z.enum(['minmax', 'zscore', 'fixed']),
      /** fixed: (x - mean[c]) / std[c] per channel (e.g. ImageNet statistics on a 0..1 scale). */
      mean: z.array(z.number()).optional(),
      std: z.array(z.number().positive()).optional(),
    })
    .strict()
    .refine((o) => o.method !== 'fixed' || (o.mean !== undefined && o.std !== undefined && o.mean.length === o.std.length), 'fixed needs mean and std of equal length'),
]);
export type PreprocessOp = z.infer<typeof PreprocessOpSchema>;

/** Preprocessing ops that change the grid's geometry (cropUltrasoundRegion, in source pixels, must precede them). */
export const GEOMETRIC_PREPROCESS_OPS: ReadonlySet<PreprocessOp['op']> = new Set(['resize', 'cropSquare', 'cropPad', 'flip', 'rotate90', 'reorient']);

const Threshold = z.number().min(0).max(1);

const ClassificationOutputSchema = z
  .object({
    kind: z.literal('classification'),
    tensor: z.string().min(1),
    labels: z.array(z.string().min(1)).min(1),
    activation: z.enum(['sigmoid', 'softmax', 'none']),
    /** Operating point per label (or one for all): score >= threshold is positive. */
    thresholds: z.union([Threshold, z.array(Threshold)]),
    /** Labels that mean "nothing found" (e.g. "normal"): reported, but never raise the study's AI priority. */
    normalLabels: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((o) => !Array.isArray(o.thresholds) || o.thresholds.length === o.labels.length, 'one threshold per label')
  .refine((o) => (o.normalLabels ?? []).every((l) => o.labels.includes(l)), 'normalLabels must be among the labels');

/**
 * How a segmentation's labels become findings (manifest schema v2).
 * - anatomy: the labels are structures (a parcellation): each is reported with
 *   its volume as a measurement, never positive or negative.
 * - lesion: each listed label (default: every non-background label) is an
 *   abnormality, positive when its volume on the source grid is at least
 *   minVolumeMl (any voxel when the series has no geometry to measure it);
 *   unlisted labels are measurements.
 */
export const SegmentationFindingsSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('anatomy') }).strict(),
  z
    .object({
      role: z.literal('lesion'),
      /** Smallest volume (mL) that counts as a finding; 0 = any voxel. */
      minVolumeMl: z.number().min(0),
      labels: z.array(z.string().min(1)).min(1).optional(),
    })
    .strict(),
]);
export type SegmentationFindings = z.infer<typeof SegmentationFindingsSchema>;

export const OutputSchema = z.discriminatedUnion('kind', [
  ClassificationOutputSchema,
  z
    .object({
      kind: z.literal('detection'),
      /** [N, K, 4 + 1 + classes] or [K, 6]: box, score, class. */
      tensor: z.string().min(1),
      boxFormat: z.enum(['xyxy', 'xywh', 'cxcywh']),
      /** Box coordinates are in input-tensor pixels, or normalised 0..1. */
      normalized: z.boolean(),
      labels: z.array(z.string().min(1)).min(1),
      scoreThreshold: Threshold,
      nmsIouThreshold: Threshold,
    })
    .strict(),
  z
    .object({
      kind: z.literal('segmentation'),
      tensor: z.string().min(1),
      method: z.enum(['argmax', 'threshold']),
      threshold: Threshold.optional(),
      labels: z.array(z.object({ index: z.number().int().min(0).max(255), name: z.string().min(1), color: Rgb }).strict()).min(1),
      /** What the labels mean (schema v2). Absent: measurements only, never a positive finding. */
      findings: SegmentationFindingsSchema.optional(),
    })
    .strict()
    .superRefine((o, ctx) => {
      if (o.findings?.role !== 'lesion' || !o.findings.labels) return;
      const named = new Map(o.labels.map((l) => [l.name, l.index]));
      for (const [i, name] of o.findings.labels.entries()) {
        const index = named.get(name);
        if (index === undefined) ctx.addIssue({ code: 'custom', path: ['findings', 'labels', i], message: `"${name}" is not one of the output's labels` });
        else if (index === 0) ctx.addIssue({ code: 'custom', path: ['findings', 'labels', i], message: `"${name}" is the background (index 0), which is never a finding` });
      }
    }),
  z
    .object({
      kind: z.literal('heatmap'),
      tensor: z.string().min(1),
      label: z.string().min(1),
      normalize: z.enum(['minmax', 'none']),
    })
    .strict(),
]);
export type OutputSpec = z.infer<typeof OutputSchema>;

/** A file of the package, by plain name (no folders, so it cannot point outside the package). */
const PackageOnnxFile = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.onnx$/, 'a plain .onnx file name inside the package folder (no folders)')
  .refine((f) => f !== 'model.onnx', 'the aggregator must be a file other than model.onnx');

export const AggregationSchema = z.discriminatedUnion('method', [
  /** Per-slice classification scores -> one case-level score per label. */
  z.object({ method: z.enum(['max', 'mean']) }).strict(),
  /**
   * A second model (e.g. a GRU or attention head) reads the per-slice model's
   * embeddings, stacked in slice order, and makes the case-level prediction.
   */
  z
    .object({
      method: z.literal('model'),
      /** The aggregator's ONNX file in the package folder. */
      onnx: PackageOnnxFile,
      /** sha-256 of that file; checked on every load like model.onnx. */
      sha256: Sha256,
      /** Output of the per-slice model holding one embedding per slice ([N, E], or [N, E, 1, …]). */
      embeddingOutput: z.string().min(1),
      input: z
        .object({
          name: z.string().min(1),
          dtype: z.literal('float32'),
          /** S = slices (sequence), E = embedding size; NSE = [1, S, E], SE = [S, E]. */
          shape: z.array(Dim).min(2).max(3),
          layout: z.enum(['NSE', 'SE']),
        })
        .strict()
        .refine((t) => t.shape.length === t.layout.length, { message: 'shape and layout must have the same rank' }),
      /** The case-level output: one row of scores, post-processed like a classification output. */
      output: ClassificationOutputSchema,
    })
    .strict(),
]);
export type AggregationSpec = z.infer<typeof AggregationSchema>;

export const ModelManifestSchema = z
  .object({
    schemaVersion: z.union(SUPPORTED_MANIFEST_VERSIONS.map((v) => z.literal(v))),
    id: Id,
    name: z.string().min(1).max(200),
    version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'semantic version, e.g. 1.0.0'),
    /** sha-256 of model.onnx; checked on every load. */
    sha256: Sha256,
    license: z.string().min(1),
    authors: z.array(z.string().min(1)).min(1),
    provenance: z.string().min(1),
    intendedUse: z.string().min(1),
    /** false: research / demonstration only. The UI must show it with every result. */
    clinicalUse: z.boolean(),
    applicability: ApplicabilitySchema,
    intendedPopulation: IntendedPopulationSchema.optional(),
    input: z
      .object({
        unit: z.enum(['image', 'slices', 'volume']),
        tensors: z.array(InputTensorSchema).length(1, 'exactly one image input tensor is supported in schema v1'),
      })
      .strict(),
    preprocessing: z.array(PreprocessOpSchema),
    outputs: z.array(OutputSchema).min(1),
    aggregation: AggregationSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const layout = m.input.tensors[0]?.layout;
    const volumeLayout = layout === 'NCDHW' || layout === 'NDHWC';
    if (m.input.unit === 'volume' && !volumeLayout) ctx.addIssue({ code: 'custom', path: ['input', 'tensors', 0, 'layout'], message: 'a volume input needs NCDHW or NDHWC' });
    if (m.input.unit !== 'volume' && volumeLayout) ctx.addIssue({ code: 'custom', path: ['input', 'tensors', 0, 'layout'], message: `${layout} needs unit "volume"` });
    if (m.input.unit === 'image' && layout === 'NSCHW') ctx.addIssue({ code: 'custom', path: ['input', 'tensors', 0, 'layout'], message: 'NSCHW needs unit "slices"' });
    if (m.aggregation && m.input.unit !== 'slices') ctx.addIssue({ code: 'custom', path: ['aggregation'], message: 'aggregation applies to unit "slices"' });
    if (m.aggregation?.method === 'model' && layout === 'NSCHW') ctx.addIssue({ code: 'custom', path: ['aggregation'], message: 'an aggregator model needs per-slice input (NCHW or NHWC), not a whole-sequence NSCHW input' });
    if (m.aggregation?.method === 'model' && m.schemaVersion < 2) ctx.addIssue({ code: 'custom', path: ['aggregation', 'method'], message: 'aggregation by a model needs schemaVersion 2' });
    if (m.schemaVersion < 3 && m.intendedPopulation) ctx.addIssue({ code: 'custom', path: ['intendedPopulation'], message: 'intendedPopulation needs schemaVersion 3' });
    if (m.schemaVersion < 3 && m.applicability.allowDescriptionMatch !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['applicability', 'allowDescriptionMatch'], message: 'allowDescriptionMatch needs schemaVersion 3' });
    }
    // The region is in source pixels: the crop must see the source grid. Checked here so a misordered package is
    // listed as invalid, not found out on the first ultrasound image that carries a region.
    const firstGeometric = m.preprocessing.findIndex((o) => GEOMETRIC_PREPROCESS_OPS.has(o.op));
    const rescaleAt = m.preprocessing.findIndex((o) => o.op === 'modalityRescale');
    let regionCrops = 0;
    m.preprocessing.forEach((o, i) => {
      if (o.op !== 'cropUltrasoundRegion') return;
      const path = ['preprocessing', i, 'op'];
      if (m.schemaVersion < 4) ctx.addIssue({ code: 'custom', path, message: 'cropUltrasoundRegion needs schemaVersion 4' });
      if (++regionCrops > 1) ctx.addIssue({ code: 'custom', path, message: 'cropUltrasoundRegion may appear once' });
      if (firstGeometric >= 0 && firstGeometric < i) ctx.addIssue({ code: 'custom', path, message: `cropUltrasoundRegion must come before "${m.preprocessing[firstGeometric]!.op}" (a geometric op)` });
      if (rescaleAt > i) ctx.addIssue({ code: 'custom', path, message: 'cropUltrasoundRegion must come after modalityRescale' });
      // Statistics (min-max, z-score, percentiles, MONOCHROME1's inversion range) must not see the scanner's UI,
      // and channels are replicated last.
      const before = m.preprocessing
        .slice(0, i)
        .find((o) => (o.op === 'normalize' && o.method !== 'fixed') || o.op === 'percentileClip' || o.op === 'invertMonochrome1' || o.op === 'replicateChannels');
      if (before) ctx.addIssue({ code: 'custom', path, message: `cropUltrasoundRegion must come before "${before.op}"` });
    });
    // The VOI transformation takes modality values (so only the rescale and the region crop, which keeps them, may
    // precede it) and works slice by slice (so before geometric ops, which may change the slices).
    let vois = 0;
    m.preprocessing.forEach((o, i) => {
      if (o.op !== 'voiLut') return;
      const path = ['preprocessing', i, 'op'];
      if (m.schemaVersion < 5) ctx.addIssue({ code: 'custom', path, message: 'voiLut needs schemaVersion 5' });
      if (++vois > 1) ctx.addIssue({ code: 'custom', path, message: 'voiLut may appear once' });
      if (rescaleAt < 0 || rescaleAt > i) ctx.addIssue({ code: 'custom', path, message: 'voiLut must come after modalityRescale (it maps modality values)' });
      const before = m.preprocessing.slice(0, i).find((o) => o.op !== 'modalityRescale' && o.op !== 'cropUltrasoundRegion');
      if (before) ctx.addIssue({ code: 'custom', path, message: `voiLut must come before "${before.op}"` });
    });
    m.outputs.forEach((o, i) => {
      if (m.schemaVersion < 2 && o.kind === 'segmentation' && o.findings) ctx.addIssue({ code: 'custom', path: ['outputs', i, 'findings'], message: 'findings needs schemaVersion 2' });
    });
    const tensors = m.outputs.map((o) => o.tensor);
    if (new Set(tensors).size !== tensors.length) ctx.addIssue({ code: 'custom', path: ['outputs'], message: 'each output tensor may be declared once' });
  });

export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** Validates parsed JSON; returns the manifest or a one-line reason. */
export function parseManifest(json: unknown): { ok: true; manifest: ModelManifest } | { ok: false; reason: string } {
  const r = ModelManifestSchema.safeParse(json);
  if (r.success) return { ok: true, manifest: r.data };
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  const version = (json as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && !(SUPPORTED_MANIFEST_VERSIONS as readonly number[]).includes(version)) {
    const versions = `${SUPPORTED_MANIFEST_VERSIONS.slice(0, -1).join(', ')} and ${SUPPORTED_MANIFEST_VERSIONS.at(-1)}`;
    return { ok: false, reason: `manifest schemaVersion ${version} is not supported (this Vigil reads versions ${versions})` };
  }
  return { ok: false, reason: `manifest.json is invalid${where}: ${issue?.message ?? 'malformed'}` };
}
