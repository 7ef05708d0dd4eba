/**
 * A DX "For Processing" image (the detector's raw values, PS3.3 A.26) is never analysed by a model that learnt from
 * images as presented to a reader: the study index's SOP Class reaches the applicability rules, the refusal is a
 * contradiction (no "Analyse anyway"), and the For Presentation image of the same exposure is analysed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAnalysedLibrary } from '../fixtures/analysed-library';
import { classifierManifest, writeModelPackage } from '../fixtures/models/model-package-fixture';
import { tinyClassifierModel } from '../fixtures/models/onnx-builder';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const library = useAnalysedLibrary('vigil-for-processing-');
const ROOT_UID = '1.2.826.0.1.3680043.10.1138.990';
const DX_FOR_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.1';
const DX_FOR_PROCESSING = '1.2.840.10008.5.1.4.1.1.1.1.1';

/** A PA chest radiograph of study n, as a For Presentation or a For Processing image. */
const radiograph = (n: number, sopClassUid: string) =>
  syntheticDicom({
    modality: 'DX',
    sopClassUid,
    studyInstanceUid: `${ROOT_UID}.${n}`,
    seriesInstanceUid: `${ROOT_UID}.${n}.1`,
    sopInstanceUid: `${ROOT_UID}.${n}.1.1`,
    rows: 16,
    columns: 16,
    extra: [
      { tag: 0x00080068, vr: 'CS', value: sopClassUid === DX_FOR_PROCESSING ? 'FOR PROCESSING' : 'FOR PRESENTATION' },
      { tag: 0x00180015, vr: 'CS', value: 'CHEST' },
      { tag: 0x00185101, vr: 'CS', value: 'PA' },
    ],
  });

beforeEach(() => {
  const onnx = tinyClassifierModel({ w: 4, b: -2 });
  writeModelPackage(join(library.root, 'models', 'chest'), onnx, classifierManifest(onnx, { id: 'test-chest', applicability: { modalities: ['DX'], bodyParts: ['CHEST'], viewPositions: ['PA', 'AP'] } }));
});

describe('For Processing radiographs', () => {
  it('are refused as a contradiction; the For Presentation image is analysed', async () => {
    mkdirSync(join(library.root, 'in'));
    writeFileSync(join(library.root, 'in', 'raw.dcm'), radiograph(1, DX_FOR_PROCESSING));
    writeFileSync(join(library.root, 'in', 'presented.dcm'), radiograph(2, DX_FOR_PRESENTATION));
    const s = await library.analyse([join(library.root, 'in')]);
    const result = (study: number) => s.analysis.results.forStudy(`${ROOT_UID}.${study}`).find((r) => r.modelId === 'test-chest');
    expect(result(1)).toMatchObject({ status: 'not-analysed', reason: "1 image is For Processing (the detector's raw values, not processed for presentation): the model needs the For Presentation image" });
    expect(result(1)?.unrecorded).toBeUndefined();
    expect(result(2)).toMatchObject({ status: 'done' });
  });
});
