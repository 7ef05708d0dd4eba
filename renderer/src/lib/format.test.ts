import { describe, expect, it } from 'vitest';
import { formatDicomDate, formatDuration, formatElapsed, formatPersonName, toDicomDate } from './format';

describe('format', () => {
  it('formats DICOM dates', () => {
    expect(formatDicomDate('20240115')).toBe('2024-01-15');
    expect(formatDicomDate('1999.12.31')).toBe('1999-12-31');
    expect(formatDicomDate('')).toBe('');
    expect(formatDicomDate('garbage')).toBe('garbage');
    expect(toDicomDate('2024-01-15')).toBe('20240115');
    expect(toDicomDate('')).toBeUndefined();
  });

  it('formats person names', () => {
    expect(formatPersonName('Doe^Jane')).toBe('Doe, Jane');
    expect(formatPersonName('Doe^Jane^Q^Dr^Jr')).toBe('Dr Doe, Jane Q, Jr');
    expect(formatPersonName('ANONYMOUS')).toBe('ANONYMOUS');
    expect(formatPersonName('王^小明')).toBe('王小明');
    expect(formatPersonName('Müller^Zoë=ミュラー^ゾエ')).toBe('Müller, Zoë (ミュラーゾエ)');
    expect(formatPersonName('=王^小明')).toBe('王小明');
    expect(formatPersonName('')).toBe('');
    expect(formatPersonName('<script>window.__pwned=1;alert(1)</script>')).toBe('<script>window.__pwned=1;alert(1)</script>');
    expect(formatPersonName('a=b=c=d')).toBe('a=b=c=d');
  });

  it('formats durations', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatElapsed(40)).toBe('0.0 s');
    expect(formatElapsed(3000)).toBe('3.0 s');
    expect(formatElapsed(65_000)).toBe('1 min 05 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
  });
});
