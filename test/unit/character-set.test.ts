import { describe, expect, it } from 'vitest';
import { CharacterSet } from '../../electron/services/dicom/character-set';
import { formatComponentGroup, parsePersonName } from '../../electron/services/dicom/person-name';

const ESC = 0x1b;
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe('CharacterSet', () => {
  it('decodes ASCII and Latin-1 (ISO_IR 100)', () => {
    expect(new CharacterSet('').decode(Uint8Array.from(ascii('Doe^Jane')))).toBe('Doe^Jane');
    expect(new CharacterSet('ISO_IR 100').decode(Uint8Array.from([0x42, 0x75, 0x63, 0x5e, 0x4a, 0xe9, 0x72, 0xf4, 0x6d, 0x65]))).toBe('Buc^Jérôme');
  });

  it('decodes UTF-8 (ISO_IR 192) including emoji', () => {
    const bytes = new TextEncoder().encode('Müller^Zoë=ミュラー^ゾエ 🫁');
    expect(new CharacterSet('ISO_IR 192').decode(bytes)).toBe('Müller^Zoë=ミュラー^ゾエ 🫁');
  });

  it('decodes GB18030 where 0x5C may be a trail byte', () => {
    // 王^小明 in GB18030
    expect(new CharacterSet('GB18030').decode(Uint8Array.from([0xcd, 0xf5, 0x5e, 0xd0, 0xa1, 0xc3, 0xf7]))).toBe('王^小明');
  });

  it('decodes Cyrillic (ISO_IR 144) and Greek (ISO_IR 126)', () => {
    // "Люкceмбypг" first letters: Л=0xBB, ю=0xEE in ISO 8859-5
    expect(new CharacterSet('ISO_IR 144').decode(Uint8Array.from([0xbb, 0xee]))).toBe('Лю');
    expect(new CharacterSet('ISO_IR 126').decode(Uint8Array.from([0xc4, 0xe9]))).toBe('Δι');
  });

  it('decodes ISO 2022 IR 87 Japanese (PS3.5 Annex H example)', () => {
    // Yamada^Tarou=山田^太郎=やまだ^たろう
    const bytes = [
      ...ascii('Yamada^Tarou='),
      ESC, ...ascii('$B;3ED'), ESC, ...ascii('(B^'),
      ESC, ...ascii('$BB@O:'), ESC, ...ascii('(B='),
      ESC, ...ascii('$B$d$^$@'), ESC, ...ascii('(B^'),
      ESC, ...ascii('$B$?$m$&'), ESC, ...ascii('(B'),
    ];
    expect(new CharacterSet('\\ISO 2022 IR 87').decode(Uint8Array.from(bytes))).toBe('Yamada^Tarou=山田^太郎=やまだ^たろう');
  });

  it('decodes ISO 2022 IR 149 Korean (PS3.5 Annex I example)', () => {
    const bytes = [
      ...ascii('Hong^Gildong='),
      ESC, 0x24, 0x29, 0x43, 0xfb, 0xf3, 0x5e,
      ESC, 0x24, 0x29, 0x43, 0xd1, 0xce, 0xd4, 0xd7, 0x3d,
      ESC, 0x24, 0x29, 0x43, 0xc8, 0xab, 0x5e,
      ESC, 0x24, 0x29, 0x43, 0xb1, 0xe6, 0xb5, 0xbf,
    ];
    expect(new CharacterSet(['', 'ISO 2022 IR 149']).decode(Uint8Array.from(bytes))).toBe('Hong^Gildong=洪^吉洞=홍^길동');
  });

  it('reports unknown terms but still decodes', () => {
    const cs = new CharacterSet('ISO_IR 999');
    expect(cs.unknownTerms).toEqual(['ISO_IR 999']);
    expect(cs.decode(Uint8Array.from(ascii('ABC')))).toBe('ABC');
  });
});

describe('person names', () => {
  it('formats "Family, Given Middle"', () => {
    expect(formatComponentGroup('Doe^Jane^Q')).toBe('Doe, Jane Q');
    expect(formatComponentGroup('Doe')).toBe('Doe');
    expect(formatComponentGroup('^Jane')).toBe('Jane');
    expect(formatComponentGroup('Doe^Jane^^Dr^III')).toBe('Doe, Dr Jane, III');
  });

  it('shows the first non-empty group and searches all of them', () => {
    const pn = parsePersonName('Yamada^Tarou=山田^太郎=やまだ^たろう');
    expect(pn.display).toBe('Yamada, Tarou');
    expect(pn.searchText).toContain('山田, 太郎');
    expect(parsePersonName('=王^小明').display).toBe('王, 小明');
  });
});
