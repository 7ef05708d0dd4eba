/** What the metadata reader needs to know about a transfer syntax. */
export interface TransferSyntaxEncoding {
  explicitVr: boolean;
  littleEndian: boolean;
  deflated: boolean;
  encapsulated: boolean;
}

export const TS = {
  ImplicitVrLittleEndian: '1.2.840.10008.1.2',
  ExplicitVrLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVrBigEndian: '1.2.840.10008.1.2.2',
} as const;

export function encodingOf(uid: string): TransferSyntaxEncoding {
  switch (uid) {
    case TS.ImplicitVrLittleEndian:
      return { explicitVr: false, littleEndian: true, deflated: false, encapsulated: false };
    case TS.ExplicitVrLittleEndian:
      return { explicitVr: true, littleEndian: true, deflated: false, encapsulated: false };
    case TS.DeflatedExplicitVrLittleEndian:
      return { explicitVr: true, littleEndian: true, deflated: true, encapsulated: false };
    case TS.ExplicitVrBigEndian:
      return { explicitVr: true, littleEndian: false, deflated: false, encapsulated: false };
    default:
      // Every other standard syntax (JPEG family, RLE, JPIP, MPEG, HTJ2K, deflated image
      // frames...) is explicit VR little endian with encapsulated pixel data.
      return { explicitVr: true, littleEndian: true, deflated: false, encapsulated: true };
  }
}
