import { describe, expect, it } from 'vitest';
import { isInputFileError } from '../errors.js';
import { readDelimited } from './csv-reader.js';

function failure(text: string): Error {
  try {
    readDelimited(text, { file: 'in.csv' });
  } catch (err) {
    expect(isInputFileError(err)).toBe(true);
    return err as Error;
  }
  throw new Error('expected an InputFileError');
}

describe('readDelimited', () => {
  it('reads RFC 4180 quoting: delimiters, doubled quotes and line breaks inside quotes', () => {
    const t = readDelimited('a,b,c\r\n1,"x, y","say ""hi"""\r\n2,"two\nlines",z\r\n', { file: 'in.csv' });
    expect(t.delimiter).toBe(',');
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([
      ['1', 'x, y', 'say "hi"'],
      ['2', 'two\nlines', 'z'],
    ]);
    expect(t.lines).toEqual([2, 3]);
  });

  it('numbers records by the line they start on, past multi-line fields and blank lines', () => {
    const t = readDelimited('\uFEFFa,b\n\n1,"p\nq\nr"\n\n2,s', { file: 'in.csv' });
    expect(t.headerLine).toBe(1);
    expect(t.lines).toEqual([3, 7]);
    expect(t.rows[1]).toEqual(['2', 's']);
  });

  it('sniffs tabs from a tab-separated header and keeps commas inside tab-separated fields', () => {
    const t = readDelimited('Time\tpss\n1\t2,5\n', { file: 'prmon.txt' });
    expect(t.delimiter).toBe('\t');
    expect(t.rows).toEqual([['1', '2,5']]);
  });

  it('accepts a trailing delimiter on every line', () => {
    const t = readDelimited('a,b,\n1,2,\n', { file: 'in.csv' });
    expect(t.header).toEqual(['a', 'b']);
    expect(t.rows).toEqual([['1', '2']]);
  });

  it('names the file and line of a ragged row, an unclosed quote and text after a closing quote', () => {
    expect(failure('a,b\n1,2\n3\n').message).toBe('in.csv:3: expected 2 fields as in the header, got 1');
    expect(failure('a,b\n1,2\n3,"open\n\n').message).toBe(
      'in.csv:3: a quoted field is not closed before the end of the file',
    );
    expect(failure('a,b\n1,"x"y\n').message).toContain(
      'in.csv:2: column "#2": unexpected "y" after a closing quote',
    );
    expect(failure('').message).toBe('in.csv: the file is empty: expected a header line and records');
    expect(failure('a,a\n1,2\n').message).toBe(
      'in.csv:1: column "a": the header names this column twice (#1 and #2)',
    );
  });
});
