/**
 * A delimited-text reader for the offline formats: RFC 4180 CSV (quoted fields, `""` escapes,
 * delimiters and line breaks inside quotes, CRLF or LF) and prmon's tab-separated output.
 * Every record remembers the line it starts on, so later errors can name it. Pure: text in,
 * table out.
 *
 * @example
 * ```ts
 * const table = readDelimited('timestamp,value\n2025-06-01 00:00:00,0.53\n', { file: 'cpu.csv' });
 * table.header;   // ['timestamp', 'value']
 * table.rows[0];  // ['2025-06-01 00:00:00', '0.53']
 * table.lines[0]; // 2
 * ```
 */
import { InputFileError } from '../errors.js';

/** Options of {@link readDelimited}. */
export interface ReadDelimitedOptions {
  /** The file's name as the user gave it; errors name it. */
  file: string;
  /**
   * Field separator: `','`, `'\t'`, or `'auto'` (default): a tab when the header line has a
   * tab and no comma, else a comma.
   */
  delimiter?: ',' | '\t' | 'auto';
}

/** A delimited file: its header and its records, each with the line it starts on. */
export interface DelimitedTable {
  readonly file: string;
  readonly delimiter: ',' | '\t';
  /** Column names, trimmed; a trailing empty name (a line ending in a delimiter) is dropped. */
  readonly header: string[];
  /** 1-based line of the header (after any blank lines before it). */
  readonly headerLine: number;
  /** Records, each with exactly `header.length` fields, as written (not trimmed). */
  readonly rows: string[][];
  /** 1-based line on which each record starts (a quoted field may span lines). */
  readonly lines: number[];
}

/**
 * Reads delimited text. Blank lines are skipped; a UTF-8 byte order mark is dropped. A record
 * with one field more than the header whose last field is empty (a trailing delimiter) is
 * accepted without it. Throws {@link InputFileError} naming the file and line for an empty
 * file, a record with another field count than the header, an unterminated quoted field, or
 * text after a closing quote.
 */
export function readDelimited(text: string, options: ReadDelimitedOptions): DelimitedTable {
  const file = options.file;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const delimiter =
    options.delimiter === undefined || options.delimiter === 'auto' ? sniffDelimiter(src) : options.delimiter;
  const records: string[][] = [];
  const lines: number[] = [];
  parseRecords(src, delimiter, file, (fields, line) => {
    if (fields.length === 1 && fields[0]!.trim() === '') return; // blank line
    records.push(fields);
    lines.push(line);
  });
  const headerFields = records.shift();
  const headerLine = lines.shift();
  if (headerFields === undefined || headerLine === undefined) {
    throw new InputFileError(file, 0, '', 'the file is empty: expected a header line and records');
  }
  const header = headerFields.map((h) => h.trim());
  if (header.length > 1 && header[header.length - 1] === '') header.pop();
  header.forEach((name, i) => {
    if (name === '')
      throw new InputFileError(file, headerLine, `#${i + 1}`, 'the header has an empty column name');
    const first = header.indexOf(name);
    if (first !== i) {
      throw new InputFileError(
        file,
        headerLine,
        name,
        `the header names this column twice (#${first + 1} and #${i + 1})`,
      );
    }
  });
  const width = header.length;
  records.forEach((fields, r) => {
    if (fields.length === width + 1 && fields[width]!.trim() === '') fields.pop();
    if (fields.length !== width) {
      throw new InputFileError(
        file,
        lines[r]!,
        '',
        `expected ${width} fields as in the header, got ${fields.length}`,
      );
    }
  });
  return { file, delimiter, header, headerLine, rows: records, lines };
}

/** A tab when the first line has a tab and no comma (outside quotes), else a comma. */
function sniffDelimiter(src: string): ',' | '\t' {
  let tabs = 0;
  let commas = 0;
  let quoted = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted && c === '\t') tabs++;
    else if (!quoted && c === ',') commas++;
  }
  return tabs > 0 && commas === 0 ? '\t' : ',';
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

/** Splits `src` into records and hands each to `emit` with the line it starts on. */
function parseRecords(
  src: string,
  delimiter: string,
  file: string,
  emit: (fields: string[], line: number) => void,
): void {
  const delim = delimiter.charCodeAt(0);
  const n = src.length;
  let line = 1;
  let i = 0;
  while (i < n) {
    const recordLine = line;
    const fields: string[] = [];
    for (;;) {
      // One field, starting at i.
      if (src.charCodeAt(i) === QUOTE) {
        const fieldLine = line;
        let value = '';
        let start = i + 1;
        let j = start;
        for (;;) {
          if (j >= n) {
            throw new InputFileError(
              file,
              fieldLine,
              '',
              'a quoted field is not closed before the end of the file',
            );
          }
          const c = src.charCodeAt(j);
          if (c === QUOTE) {
            if (src.charCodeAt(j + 1) === QUOTE) {
              value += src.slice(start, j + 1);
              j += 2;
              start = j;
              continue;
            }
            value += src.slice(start, j);
            j++;
            break;
          }
          if (c === LF || (c === CR && src.charCodeAt(j + 1) !== LF)) line++;
          j++;
        }
        fields.push(value);
        i = j;
        const after = src.charCodeAt(i);
        if (i < n && after !== delim && after !== LF && after !== CR) {
          throw new InputFileError(
            file,
            line,
            `#${fields.length}`,
            `unexpected ${JSON.stringify(src[i])} after a closing quote (a quote inside a quoted field is written "")`,
          );
        }
      } else {
        let j = i;
        while (j < n) {
          const c = src.charCodeAt(j);
          if (c === delim || c === LF || c === CR) break;
          j++;
        }
        fields.push(src.slice(i, j));
        i = j;
      }
      // After a field: a delimiter (another field follows), a line break or the end.
      const c = src.charCodeAt(i);
      if (c === delim) {
        i++;
        continue;
      }
      if (c === CR) i += src.charCodeAt(i + 1) === LF ? 2 : 1;
      else if (c === LF) i++;
      line++;
      break;
    }
    emit(fields, recordLine);
  }
}
