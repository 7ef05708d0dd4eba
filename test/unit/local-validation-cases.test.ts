/**
 * `vigil validate --cases`: how a cases folder or CSV becomes labelled cases (collectCases).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectCases, pastedPath, ValidationInputError } from '../../electron/services/ai/local-validation';
import { syntheticDicom } from '../fixtures/synthetic-dicom';

const LABELS = ['normal', 'pneumonia'];
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vigil-cases-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

describe('collectCases: folder of label sub-folders', () => {
  it('reports a DICOM file directly in the cases folder as excluded, naming the label ids; other files there are not cases', () => {
    mkdirSync(join(root, 'normal'));
    writeFileSync(join(root, 'normal', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    writeFileSync(join(root, 'stray.dcm'), syntheticDicom({ modality: 'DX' }));
    writeFileSync(join(root, 'README.txt'), 'cases for the pneumonia model\n');
    const cases = collectCases(root, LABELS);
    expect(cases.filter((c) => !c.excludedReason)).toEqual([{ file: join(root, 'normal', 'a.dcm'), label: 'normal' }]);
    const stray = cases.filter((c) => c.excludedReason);
    expect(stray).toHaveLength(1);
    expect(stray[0]!.file).toBe(join(root, 'stray.dcm'));
    expect(stray[0]!.excludedReason).toMatch(/sub-folder named by a label id.*normal, pneumonia/);
  });

  it('passes over what operating systems leave in folders (a Mac zip\'s __MACOSX, a recycle bin, Thumbs.db, desktop.ini)', () => {
    for (const dir of ['normal', '__MACOSX/normal', '$RECYCLE.BIN', 'System Volume Information']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'normal', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    for (const junk of ['Thumbs.db', 'desktop.ini', '.DS_Store', 'DICOMDIR']) writeFileSync(join(root, 'normal', junk), 'x');
    writeFileSync(join(root, '__MACOSX', 'normal', '._a.dcm'), 'x');
    expect(collectCases(root, LABELS)).toEqual([{ file: join(root, 'normal', 'a.dcm'), label: 'normal' }]);
  });

  it('matches sub-folder names to label ids ignoring case when unambiguous', () => {
    mkdirSync(join(root, 'Normal'));
    writeFileSync(join(root, 'Normal', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    expect(collectCases(root, LABELS)).toEqual([{ file: join(root, 'Normal', 'a.dcm'), label: 'normal' }]);
    // Two label ids that differ only in case: the folder must name one exactly.
    expect(() => collectCases(root, ['normal', 'NORMAL'])).toThrow(ValidationInputError);
  });

  it('reports a broken link, in a label sub-folder or beside them, as an excluded case that cannot be read', () => {
    mkdirSync(join(root, 'pneumonia'));
    writeFileSync(join(root, 'pneumonia', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(join(root, 'gone', 'b.dcm'), join(root, 'pneumonia', 'b.dcm'));
    symlinkSync(join(root, 'gone'), join(root, 'normal-old'));
    expect(collectCases(root, LABELS)).toEqual([
      { file: join(root, 'pneumonia', 'a.dcm'), label: 'pneumonia' },
      { file: join(root, 'pneumonia', 'b.dcm'), label: 'pneumonia', excludedReason: `cannot read: broken symbolic link to ${join(root, 'gone', 'b.dcm')}` },
      { file: join(root, 'normal-old'), label: '', excludedReason: `cannot read: broken symbolic link to ${join(root, 'gone')}` },
    ]);
  });

  it('reports a link loop as an excluded case with the system error', () => {
    mkdirSync(join(root, 'normal'));
    writeFileSync(join(root, 'normal', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(join(root, 'normal', 'loop.dcm'), join(root, 'normal', 'loop.dcm'));
    const cases = collectCases(root, LABELS);
    expect(cases[1]).toEqual({ file: join(root, 'normal', 'loop.dcm'), label: 'normal', excludedReason: expect.stringMatching(/^cannot read: ELOOP/) });
  });

  it('never lists a case under a label folder it only reaches through a link (up to the cases folder, or into another label)', () => {
    mkdirSync(join(root, 'normal'));
    mkdirSync(join(root, 'pneumonia'));
    writeFileSync(join(root, 'normal', 'n1.dcm'), syntheticDicom({ modality: 'DX' }));
    writeFileSync(join(root, 'pneumonia', 'p1.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(root, join(root, 'normal', 'up'));
    symlinkSync(join(root, 'pneumonia'), join(root, 'normal', 'sideways'));
    expect(collectCases(root, LABELS)).toEqual([
      { file: join(root, 'normal', 'n1.dcm'), label: 'normal' },
      { file: join(root, 'pneumonia', 'p1.dcm'), label: 'pneumonia' },
    ]);
  });

  it('does not depend on the order of the labels: a folder outside reached from both labels is excluded, a link into another label is not followed', () => {
    mkdirSync(join(root, 'normal'));
    mkdirSync(join(root, 'pneumonia', 'sub'), { recursive: true });
    mkdirSync(join(root, '..', `${basename(root)}-outside`), { recursive: true });
    const outside = join(root, '..', `${basename(root)}-outside`);
    writeFileSync(join(outside, 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    writeFileSync(join(root, 'pneumonia', 'sub', 'b.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(outside, join(root, 'normal', 'ext'));
    symlinkSync(outside, join(root, 'pneumonia', 'ext'));
    symlinkSync(join(root, 'pneumonia', 'sub'), join(root, 'normal', 'lnk'));
    try {
      for (const labels of [LABELS, [...LABELS].reverse()]) {
        const cases = collectCases(root, labels);
        expect(cases.filter((c) => !c.excludedReason).map((c) => [c.file, c.label])).toEqual([[join(root, 'pneumonia', 'sub', 'b.dcm'), 'pneumonia']]);
        expect(cases.filter((c) => c.excludedReason).map((c) => c.label).sort()).toEqual(['normal', 'pneumonia']);
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('excludes a file listed under two labels and lists a repeated file once', () => {
    mkdirSync(join(root, 'normal'));
    mkdirSync(join(root, 'pneumonia'));
    writeFileSync(join(root, 'normal', 'both.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(join(root, 'normal', 'both.dcm'), join(root, 'pneumonia', 'both-link.dcm'));
    writeFileSync(join(root, 'normal', 'once.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(join(root, 'normal', 'once.dcm'), join(root, 'normal', 'once-again.dcm'));
    const cases = collectCases(root, LABELS);
    // The first of the two names in listing order is kept.
    expect(cases.filter((c) => !c.excludedReason).map((c) => [c.file, c.label])).toEqual([[join(root, 'normal', 'once-again.dcm'), 'normal']]);
    expect(cases.filter((c) => c.excludedReason).map((c) => c.excludedReason)).toEqual([
      'the same file is listed under "normal" and "pneumonia": its label is unknown',
      'the same file is listed under "normal" and "pneumonia": its label is unknown',
    ]);
  });

  it('lists a folder reached again through a symbolic link back up the tree once', () => {
    mkdirSync(join(root, 'normal', 'deeper'), { recursive: true });
    writeFileSync(join(root, 'normal', 'deeper', 'a.dcm'), syntheticDicom({ modality: 'DX' }));
    symlinkSync(join(root, 'normal'), join(root, 'normal', 'deeper', 'up'));
    expect(collectCases(root, LABELS)).toEqual([{ file: join(root, 'normal', 'deeper', 'a.dcm'), label: 'normal' }]);
  });
});

describe('collectCases: CSV', () => {
  it('skips a header row (file/path/filename/file_name, label; any case) after comment lines', () => {
    for (const header of ['file,label', 'Path,Label', 'FILENAME,LABEL', 'file_name,label']) {
      const path = csv('cases.csv', `# exported 2024-05-01\n\n${header}\n# a comment between rows\na.dcm,normal\nb.dcm,pneumonia\n`);
      expect(collectCases(path, LABELS), header).toEqual([
        { file: join(root, 'a.dcm'), label: 'normal' },
        { file: join(root, 'b.dcm'), label: 'pneumonia' },
      ]);
    }
  });

  it('reads a first row whose label cell is a label id as a case, even when it looks like a header', () => {
    const path = csv('cases.csv', 'file,label\nb.dcm,normal\n');
    expect(collectCases(path, ['normal', 'label'])).toEqual([
      { file: join(root, 'file'), label: 'label' },
      { file: join(root, 'b.dcm'), label: 'normal' },
    ]);
  });

  it('accepts a semicolon-separated CSV (detected from the first line), with quoting', () => {
    const ok = csv('ok.csv', '\uFEFFfile;label\r\n"x;1.dcm";normal\r\nb,2.dcm;pneumonia\r\n');
    expect(collectCases(ok, LABELS)).toEqual([
      { file: join(root, 'x;1.dcm'), label: 'normal' },
      { file: join(root, 'b,2.dcm'), label: 'pneumonia' },
    ]);
  });

  it('reads what spreadsheets write: any header row, tabs, old Mac line ends, rows of empty cells, Windows-1252', () => {
    const expected = [
      { file: join(root, 'a.dcm'), label: 'normal' },
      { file: join(root, 'b.dcm'), label: 'pneumonia' },
    ];
    // A first row whose file cell names nothing on disk and whose label cell is no label id is a header, in any words.
    expect(collectCases(csv('de.csv', 'Datei;Befund;Arzt\r\na.dcm;normal;\r\nb.dcm;pneumonia;\r\n;;\r\n'), LABELS)).toEqual(expected);
    expect(collectCases(csv('tab.txt', 'File Name\tLabel\na.dcm\tnormal\nb.dcm\tPneumonia\n'), LABELS)).toEqual(expected);
    expect(collectCases(csv('mac.csv', 'a.dcm,normal\rb.dcm,pneumonia\r'), LABELS)).toEqual(expected);
    // But a first row naming a file that exists is a case: a label typo there is an error, not a skipped header.
    writeFileSync(join(root, 'a.dcm'), '');
    expect(() => collectCases(csv('typo.csv', 'a.dcm,pneumonai\nb.dcm,pneumonia\n'), LABELS)).toThrow(/line 1: "pneumonai" is not a label id/);
    // ... and so is a mistyped first row naming a file that is gone (a file cell has a '.', '/' or '\\'; a header's none).
    expect(() => collectCases(csv('gone.csv', 'gone.dcm,postive\nb.dcm,pneumonia\n'), LABELS)).toThrow(/line 1: "postive" is not a label id/);
    // A row of empty cells above the header is no row: the header is still the first.
    expect(collectCases(csv('blank-top.csv', ';;\r\nDatei;Befund\r\nb.dcm;pneumonia\r\n'), LABELS)).toEqual([{ file: join(root, 'b.dcm'), label: 'pneumonia' }]);
    // Excel's plain "CSV (Comma delimited)" on a Western Windows: Windows-1252, not UTF-8; line by line, so a row
    // appended from a UTF-8 source keeps its own.
    const cp1252 = join(root, 'excel.csv');
    writeFileSync(cp1252, Buffer.concat([Buffer.from('M'), Buffer.from([0xfc]), Buffer.from('ller.dcm,normal\r\n'), Buffer.from('Jürgen/j.dcm,pneumonia\r\n', 'utf8')]));
    expect(collectCases(cp1252, LABELS)).toEqual([
      { file: join(root, 'Müller.dcm'), label: 'normal' },
      { file: join(root, 'Jürgen', 'j.dcm'), label: 'pneumonia' },
    ]);
  });

  it('reads a Windows path (backslashes) where a backslash is no separator, unless a file has that very name', () => {
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'a.dcm'), '');
    writeFileSync(join(root, 'odd\\name.dcm'), '');
    const rows = collectCases(csv('win.csv', 'sub\\a.dcm,normal\nodd\\name.dcm,pneumonia\n'), LABELS);
    expect(rows).toEqual([
      { file: join(root, 'sub', 'a.dcm'), label: 'normal' },
      { file: join(root, 'odd\\name.dcm'), label: 'pneumonia' },
    ]);
  });

  it('gives every file below a folder a row names its label (a series exported to a folder of its own)', () => {
    mkdirSync(join(root, 'case1', 'deeper'), { recursive: true });
    writeFileSync(join(root, 'case1', '1.dcm'), '');
    writeFileSync(join(root, 'case1', 'deeper', '2.dcm'), '');
    writeFileSync(join(root, 'case1', 'Thumbs.db'), '');
    // A link below it back up the tree (to the CSV's folder) is not followed: files no row names are no cases.
    symlinkSync('..', join(root, 'case1', 'up'));
    writeFileSync(join(root, 'unnamed.dcm'), '');
    expect(collectCases(csv('folders.csv', 'case1,pneumonia\n'), LABELS)).toEqual([
      { file: join(root, 'case1', '1.dcm'), label: 'pneumonia' },
      { file: join(root, 'case1', 'deeper', '2.dcm'), label: 'pneumonia' },
    ]);
  });

  it('takes a pasted path with the quotes Windows "Copy as path" adds', () => {
    writeFileSync(join(root, 'a.dcm'), '');
    const path = csv('cases.csv', 'a.dcm,normal\n');
    expect(pastedPath(`  "${path}" `)).toBe(path);
    expect(pastedPath(`'${path}'`)).toBe(path);
    expect(collectCases(`"${path}"`, LABELS)).toEqual([{ file: join(root, 'a.dcm'), label: 'normal' }]);
  });

  it('keeps a comma-separated CSV whose paths contain semicolons', () => {
    const path = csv('cases.csv', 'a;b.dcm,normal\n');
    expect(collectCases(path, LABELS)).toEqual([{ file: join(root, 'a;b.dcm'), label: 'normal' }]);
  });

  it('detects a semicolon-separated CSV whose first path contains commas (the cell after the separator is the label)', () => {
    expect(collectCases(csv('one.csv', 'a,b.dcm;normal\nc.dcm;pneumonia\n'), LABELS)).toEqual([
      { file: join(root, 'a,b.dcm'), label: 'normal' },
      { file: join(root, 'c.dcm'), label: 'pneumonia' },
    ]);
    expect(collectCases(csv('two.csv', 'a,b,c.dcm;Pneumonia;reader 2\n'), LABELS)).toEqual([{ file: join(root, 'a,b,c.dcm'), label: 'pneumonia' }]);
    // Neither split names a label: the one giving exactly the two cells of a case row, so the error names the label cell.
    expect(() => collectCases(csv('bad.csv', 'a,b,c.dcm;cancer\n'), LABELS)).toThrow(/line 1: "cancer" is not a label id/);
  });

  it('keeps quoted spaces at the ends of a cell and trims unquoted ones', () => {
    const path = csv('cases.csv', '" a.dcm ",normal\n  "b.dcm"  ;x.dcm  ,  pneumonia  \n"c "" d.dcm" , "normal"\n');
    expect(collectCases(path, LABELS)).toEqual([
      { file: join(root, ' a.dcm '), label: 'normal' },
      { file: join(root, 'b.dcm  ;x.dcm'), label: 'pneumonia' },
      { file: join(root, 'c " d.dcm'), label: 'normal' },
    ]);
  });

  it('matches label ids ignoring case when unambiguous, and refuses otherwise', () => {
    expect(collectCases(csv('cases.csv', 'a.dcm,Normal\nb.dcm,PNEUMONIA\n'), LABELS)).toEqual([
      { file: join(root, 'a.dcm'), label: 'normal' },
      { file: join(root, 'b.dcm'), label: 'pneumonia' },
    ]);
    expect(() => collectCases(csv('amb.csv', 'a.dcm,Normal\n'), ['normal', 'NORMAL'])).toThrow(/line 1: "Normal" is not a label id/);
    expect(collectCases(csv('exact.csv', 'a.dcm,NORMAL\n'), ['normal', 'NORMAL'])).toEqual([{ file: join(root, 'a.dcm'), label: 'NORMAL' }]);
  });
});
