/** A small on-disk corpus for UI imports: two patients, three series, plus junk. */
import { mkdirSync, writeFileSync } from 'node:fs';
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
