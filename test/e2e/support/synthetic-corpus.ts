/** On-disk corpora for UI imports and the viewer bench: two patients, three series, plus junk; a long CT series. */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MR_IMAGE_STORAGE, syntheticDicom } from '../../fixtures/synthetic-dicom';

export interface SyntheticCorpus {
  readonly root: string;
  readonly sopInstanceUids: string[];
  readonly notDicom: string;
  readonly truncated: string;
}

export function writeSyntheticCorpus(root: string): SyntheticCorpus {
  const study1 = '1.2.826.0.1.3680043.10.1138.71';
  const study2 = '1.2.826.0.1.3680043.10.1138.72';
  const files: { path: string; sop: string; bytes: Buffer }[] = [];
  const add = (path: string, spec: Parameters<typeof syntheticDicom>[0]) => {
    const sop = spec?.sopInstanceUid ?? `${spec?.seriesInstanceUid}.${files.length + 1}`;
    files.push({ path, sop, bytes: syntheticDicom({ ...spec, sopInstanceUid: sop }) });
  };
  for (let i = 1; i <= 3; i++) {
    add(`Doe_Jane/CT_AXIAL/IM${i}.dcm`, {
      patientName: 'Doe^Jane',
      patientId: 'PID-DOE-1',
      birthDate: '19620314',
      sex: 'F',
      studyInstanceUid: study1,
      seriesInstanceUid: `${study1}.1`,
      seriesNumber: 2,
      instanceNumber: i,
      studyDate: '20240311',
      accessionNumber: 'ACC-3101',
      studyDescription: 'CT CHEST WITH CONTRAST',
      seriesDescription: 'Axial 1.25mm',
      modality: 'CT',
    });
  }
  add('Doe_Jane/CT_SCOUT/IM1.dcm', {
    patientName: 'Doe^Jane',
    patientId: 'PID-DOE-1',
    birthDate: '19620314',
    sex: 'F',
    studyInstanceUid: study1,
    seriesInstanceUid: `${study1}.2`,
    seriesNumber: 1,
    studyDate: '20240311',
    accessionNumber: 'ACC-3101',
    studyDescription: 'CT CHEST WITH CONTRAST',
    seriesDescription: 'Scout',
    modality: 'CT',
  });
  for (let i = 1; i <= 2; i++) {
    add(`Roe_Richard/MR_T1/IM${i}`, {
      patientName: 'Roe^Richard',
      patientId: 'PID-ROE-2',
      birthDate: '19851102',
      sex: 'M',
      studyInstanceUid: study2,
      seriesInstanceUid: `${study2}.1`,
      sopClassUid: MR_IMAGE_STORAGE,
      seriesNumber: 3,
      instanceNumber: i,
      studyDate: '20231205',
      accessionNumber: 'ACC-2207',
      studyDescription: 'MR BRAIN W/O CONTRAST',
      seriesDescription: 'T1 SAG',
      modality: 'MR',
    });
  }
  for (const f of files) {
    mkdirSync(join(root, f.path, '..'), { recursive: true });
    writeFileSync(join(root, f.path), f.bytes);
  }
  const notDicom = join(root, 'notes.txt');
  writeFileSync(notDicom, 'Radiology request notes: not a DICOM file.\n');
  const full = syntheticDicom({ patientName: 'Broken^Bob', patientId: 'PID-BROKEN', studyInstanceUid: '1.2.826.0.1.3680043.10.1138.79', seriesInstanceUid: '1.2.826.0.1.3680043.10.1138.79.1', sopInstanceUid: '1.2.826.0.1.3680043.10.1138.79.1.1' });
  const truncated = join(root, 'truncated.dcm');
  // Cut inside the dataset's text elements, well before the pixel data.
  writeFileSync(truncated, full.subarray(0, Math.floor(full.length * 0.45)));
  return { root, sopInstanceUids: files.map((f) => f.sop), notDicom, truncated };
}

/**
 * A 512² CT series of `slices` 0.5 mm slices in `dir`, one file per slice (IM00001.dcm, …): a water disc with a striped
 * insert and a bone ring, air outside, the same pixels on every slice (position and number differ).
 */
export function writeSyntheticCtSeries(dir: string, spec: { studyInstanceUid: string; slices: number; patientName: string; patientId?: string }): void {
  const { studyInstanceUid: study, slices, patientName } = spec;
  mkdirSync(dir, { recursive: true });
  const size = 512;
  const px = new Uint16Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - 256, y - 256);
      px[y * size + x] = r < 200 ? 1024 + 40 + ((x >> 4) & 1) * 60 : r < 210 ? 1024 + 700 : 24;
    }
  }
  const series = `${study}.1`;
  for (let i = 0; i < slices; i++) {
    const z = (i * 0.5).toFixed(1);
    const bytes = syntheticDicom({
      rows: size,
      columns: size,
      pixels: px,
      patientName,
      patientId: spec.patientId ?? `PID-${study.slice(-6)}`,
      studyInstanceUid: study,
      seriesInstanceUid: series,
      sopInstanceUid: `${series}.${i + 1}`,
      instanceNumber: i + 1,
      studyDescription: `CT ${slices} SLICES`,
      seriesDescription: 'Axial 0.5mm',
      extra: [
        { tag: 0x00180050, vr: 'DS', value: '0.5' },
        { tag: 0x00200032, vr: 'DS', value: `-128\\-128\\${z}` },
        { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
        { tag: 0x00201041, vr: 'DS', value: z },
        { tag: 0x00281050, vr: 'DS', value: '40' },
        { tag: 0x00281051, vr: 'DS', value: '400' },
        { tag: 0x00281052, vr: 'DS', value: '-1024' },
        { tag: 0x00281053, vr: 'DS', value: '1' },
      ],
    });
    const fd = openSync(join(dir, `IM${String(i + 1).padStart(5, '0')}.dcm`), 'w');
    writeSync(fd, bytes);
    closeSync(fd);
  }
}
