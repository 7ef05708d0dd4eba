/**
 * Decodes DICOM text values per Specific Character Set (0008,0005), including
 * ISO 2022 code extensions (escape sequences switching G0/G1), UTF-8 (ISO_IR 192)
 * and GB18030/GBK. Only text VRs (SH, LO, ST, LT, PN, UC, UT) use it; all other
 * string VRs are ASCII by definition.
 */

/** WHATWG encoding label for each single-byte/multi-byte defined term. */
import { TextDecoder } from 'node:util';

const SINGLE_CODEC: Record<string, string> = {
  '': 'latin1', // ISO_IR 6 (ASCII); read leniently as Latin-1
  'ISO_IR 6': 'latin1',
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 203': 'iso-8859-15',
  'ISO_IR 166': 'windows-874',
  'ISO_IR 13': 'shift_jis',
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

/** Code extension terms: the codec used for bytes in the initial state. */
const EXTENSION_INITIAL: Record<string, string> = {
  'ISO 2022 IR 6': 'latin1',
  'ISO 2022 IR 100': 'latin1',
  'ISO 2022 IR 101': 'iso-8859-2',
  'ISO 2022 IR 109': 'iso-8859-3',
  'ISO 2022 IR 110': 'iso-8859-4',
  'ISO 2022 IR 144': 'iso-8859-5',
  'ISO 2022 IR 127': 'iso-8859-6',
  'ISO 2022 IR 126': 'iso-8859-7',
  'ISO 2022 IR 138': 'iso-8859-8',
  'ISO 2022 IR 148': 'iso-8859-9',
  'ISO 2022 IR 203': 'iso-8859-15',
  'ISO 2022 IR 166': 'windows-874',
  'ISO 2022 IR 13': 'shift_jis',
  'ISO 2022 IR 87': 'iso-2022-jp',
  'ISO 2022 IR 159': 'iso-2022-jp',
  'ISO 2022 IR 149': 'euc-kr',
  'ISO 2022 IR 58': 'gb18030',
};

/** Escape sequence (bytes after ESC) → codec for the segment it introduces. */
const ESCAPES: Array<[number[], string]> = [
  [[0x28, 0x42], 'latin1'], // ESC ( B  ASCII (G0)
  [[0x28, 0x4a], 'shift_jis'], // ESC ( J  JIS X 0201 Romaji (G0)
  [[0x29, 0x49], 'shift_jis'], // ESC ) I  JIS X 0201 Katakana (G1)
  [[0x24, 0x42], 'iso-2022-jp'], // ESC $ B  JIS X 0208 (G0)
  [[0x24, 0x40], 'iso-2022-jp'], // ESC $ @  JIS C 6226-1978
  [[0x24, 0x28, 0x44], 'iso-2022-jp'], // ESC $ ( D JIS X 0212 (best effort)
  [[0x24, 0x29, 0x43], 'euc-kr'], // ESC $ ) C KS X 1001 (G1)
  [[0x24, 0x29, 0x41], 'gb18030'], // ESC $ ) A GB 2312 (G1)
  [[0x2d, 0x41], 'latin1'], // ESC - A ISO 8859-1 (G1)
  [[0x2d, 0x42], 'iso-8859-2'],
  [[0x2d, 0x43], 'iso-8859-3'],
  [[0x2d, 0x44], 'iso-8859-4'],
  [[0x2d, 0x4c], 'iso-8859-5'],
  [[0x2d, 0x47], 'iso-8859-6'],
  [[0x2d, 0x46], 'iso-8859-7'],
  [[0x2d, 0x48], 'iso-8859-8'],
  [[0x2d, 0x4d], 'iso-8859-9'],
  [[0x2d, 0x62], 'iso-8859-15'],
  [[0x2d, 0x54], 'windows-874'],
];

const decoders = new Map<string, TextDecoder>();
function decoder(label: string): TextDecoder {
  let d = decoders.get(label);
  if (!d) {
    d = new TextDecoder(label, { fatal: false });
    decoders.set(label, d);
  }
  return d;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80 || bytes[i] === 0x1b) return false;
  return true;
}

export class CharacterSet {
  /** Codec for bytes before any escape sequence. */
  private readonly initial: string;
  private readonly usesExtensions: boolean;
  readonly terms: readonly string[];
  /** Terms we did not recognise (decoded as Latin-1 instead); reported, not fatal. */
  readonly unknownTerms: readonly string[];

  constructor(specificCharacterSet: string | readonly string[] = '') {
    const raw = typeof specificCharacterSet === 'string' ? specificCharacterSet.split('\\') : [...specificCharacterSet];
    const terms = raw.map((t) => t.trim().toUpperCase().replace(/^ISO-IR/, 'ISO_IR'));
    this.terms = terms;
    const unknown: string[] = [];
    const first = terms[0] ?? '';
    this.usesExtensions = terms.length > 1 || first.startsWith('ISO 2022');
    if (this.usesExtensions) {
      // An empty first value means ISO-IR 6 (ASCII) as the initial G0.
      this.initial = first === '' ? 'latin1' : (EXTENSION_INITIAL[first] ?? SINGLE_CODEC[first] ?? 'latin1');
    } else {
      this.initial = SINGLE_CODEC[first] ?? SINGLE_CODEC[first.replace(/ /g, '_')] ?? 'latin1';
    }
    for (const t of terms) {
      if (t !== '' && !(t in SINGLE_CODEC) && !(t in EXTENSION_INITIAL)) unknown.push(t);
    }
    this.unknownTerms = unknown;
  }

  /** Decodes a text value's bytes (trailing padding is the caller's business). */
  decode(bytes: Uint8Array): string {
    if (bytes.length === 0) return '';
    if (isAscii(bytes)) return decoder('latin1').decode(bytes);
    if (!this.usesExtensions || bytes.indexOf(0x1b) < 0) return decoder(this.initial).decode(bytes);
    return this.decodeWithEscapes(bytes);
  }

  private decodeWithEscapes(bytes: Uint8Array): string {
    let out = '';
    let codec = this.initial;
    let segStart = 0;
    let i = 0;
    const flush = (end: number, escapeLen: number, escapeAt: number) => {
      if (end > segStart) {
        // ISO-2022-JP segments are decoded with their escape so the decoder enters the right mode.
        const seg = codec === 'iso-2022-jp' && escapeLen > 0 ? bytes.subarray(escapeAt, end) : bytes.subarray(segStart, end);
        out += decoder(codec).decode(seg);
      }
    };
    let lastEscapeAt = 0;
    let lastEscapeLen = 0;
    while (i < bytes.length) {
      if (bytes[i] !== 0x1b) {
        i++;
        continue;
      }
      const match = ESCAPES.find(([seq]) => seq.every((b, k) => bytes[i + 1 + k] === b));
      if (!match) {
        i++;
        continue;
      }
      flush(i, lastEscapeLen, lastEscapeAt);
      codec = match[1];
      lastEscapeAt = i;
      lastEscapeLen = match[0].length + 1;
      i += lastEscapeLen;
      segStart = i;
    }
    flush(bytes.length, lastEscapeLen, lastEscapeAt);
    return out;
  }
}
