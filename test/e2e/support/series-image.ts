/**
 * A second image of a file's series for tests: the same DICOM file (explicit VR little endian, as the fixtures write
 * it) under another SOP Instance UID of the same length, so a library or a validation run sees two images of one
 * series rather than one image twice (which it would count once).
 */
const SOP_INSTANCE_UID = Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49]); // (0008,0018) UI

export function anotherImageOfSeries(dicom: Buffer): Buffer {
  // Past the 128-byte preamble and "DICM": the file meta group holds no (0008,0018).
  const at = dicom.indexOf(SOP_INSTANCE_UID, 132);
  if (at < 0) throw new Error('no SOP Instance UID (0008,0018) written as explicit VR little endian');
  const length = dicom.readUInt16LE(at + 6);
  const uid = dicom.toString('latin1', at + 8, at + 8 + length).replace(/\0+$/, '');
  const last = Number(uid.at(-1));
  if (!Number.isInteger(last)) throw new Error(`SOP Instance UID ${uid} does not end in a digit`);
  // Same length, so no element length changes; the file meta's Media Storage SOP Instance UID follows.
  const other = Buffer.from(`${uid.slice(0, -1)}${(last + 1) % 10}`, 'latin1');
  const old = Buffer.from(uid, 'latin1');
  const out = Buffer.from(dicom);
  for (let i = out.indexOf(old); i >= 0; i = out.indexOf(old, i + old.length)) other.copy(out, i);
  return out;
}
