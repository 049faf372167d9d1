import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import type { DatasetColumn } from './dataset-columns.js';
import { csvField, csvLine, formatTimestamp, jsonlEncoder, openRowSink, WriteBudget } from './row-sinks.js';

const T = 1_767_225_601_234_567_891n; // 2026-01-01T00:00:01.234567891Z

const COLUMNS: DatasetColumn[] = [
  { name: 'name', type: 'string' },
  { name: 'value', type: 'double' },
  { name: 'ns', type: 'int64' },
  { name: 'flag', type: 'bool' },
  { name: 'time', type: 'timestamp' },
  { name: 'logged', type: 'timestamp', timeText: 'log' },
];

describe('formatTimestamp', () => {
  it('writes ISO 8601 and the seed log form in UTC, truncated to the millisecond', () => {
    expect(formatTimestamp(T)).toBe('2026-01-01T00:00:01.234Z');
    expect(formatTimestamp(T, 'log')).toBe('2026-01-01 00:00:01.234');
  });
});

describe('CSV', () => {
  it('quotes fields with a comma, a quote, CR or LF and doubles the quotes (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField('')).toBe('');
  });

  it('writes a record with CRLF, nulls and non-finite numbers empty', () => {
    expect(csvLine(COLUMNS, ['x,y', 1.5, T, true, T, T])).toBe(
      `"x,y",1.5,${T},true,2026-01-01T00:00:01.234Z,2026-01-01 00:00:01.234\r\n`,
    );
    expect(csvLine(COLUMNS, [null, NaN, null, false, null, null])).toBe(',,,false,,\r\n');
    expect(csvLine(COLUMNS, ['a', Infinity, null, null, null, null])).toBe('a,,,,,\r\n');
  });
});

describe('JSON Lines', () => {
  it('writes one object per line with exact int64 literals and timestamps as text', () => {
    const line = jsonlEncoder(COLUMNS)(['q"\n', 2, T, false, T, null]);
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.split('\n')).toHaveLength(2);
    expect(line).toContain(`"ns":${T}`);
    expect(JSON.parse(line)).toEqual({
      name: 'q"\n',
      value: 2,
      ns: Number(T),
      flag: false,
      time: '2026-01-01T00:00:01.234Z',
      logged: null,
    });
    expect(JSON.parse(jsonlEncoder(COLUMNS)([null, -Infinity, null, null, null, null])).value).toBeNull();
  });
});

describe('openRowSink', () => {
  it('writes the header and every row across flushes forced by a small budget', async () => {
    await using dir = tempDir('faultline-sink-');
    const budget = new WriteBudget(1024);
    const limits = { parquetRowGroupRows: 100, budget };
    const a = await openRowSink('csv', join(dir.path, 'a.csv'), COLUMNS, limits);
    const b = await openRowSink('jsonl', join(dir.path, 'b.jsonl'), COLUMNS, limits);
    let flushes = 0;
    for (let i = 0; i < 500; i++) {
      for (const sink of [a, b]) {
        const pending = sink.write([`row ${i}`, i, BigInt(i), i % 2 === 0, T, T]);
        if (pending) {
          flushes++;
          await pending;
        }
      }
    }
    await a.close();
    await b.close();
    expect(flushes).toBeGreaterThan(10);
    expect(a.rows).toBe(500);
    const csv = readFileSync(join(dir.path, 'a.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('name,value,ns,flag,time,logged');
    expect(csv).toHaveLength(502); // header, 500 rows, '' after the last CRLF
    expect(csv[500]).toBe('row 499,499,499,false,2026-01-01T00:00:01.234Z,2026-01-01 00:00:01.234');
    const jsonl = readFileSync(join(dir.path, 'b.jsonl'), 'utf8').trimEnd().split('\n');
    expect(jsonl.map((l) => (JSON.parse(l) as { value: number }).value)).toEqual(
      Array.from({ length: 500 }, (_, i) => i),
    );
  });
});
