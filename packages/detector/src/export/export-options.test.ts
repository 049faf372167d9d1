import { describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from '../errors.js';
import { hostFileNames } from './export-experiment.js';
import { resolveExportOptions, type ExportOptions } from './export-options.js';

const base: ExportOptions = { natsUrl: 'nats://127.0.0.1:4222', experimentId: 'exp-1', outDir: '/tmp/x' };

function messageOf(raw: unknown): string {
  try {
    resolveExportOptions(raw as ExportOptions);
  } catch (err) {
    expect(isInvalidOptionsError(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('resolveExportOptions', () => {
  it('applies the defaults', () => {
    const o = resolveExportOptions(base);
    expect(o).toMatchObject({
      source: { natsUrl: 'nats://127.0.0.1:4222' },
      format: 'csv',
      layout: 'wide',
      parquetRowGroupRows: 65_536,
      maxBufferedBytes: 64 * 1024 * 1024,
    });
  });

  it('names the field, the allowed values and the value received', () => {
    expect(messageOf({ ...base, format: 'xlsx' })).toBe(
      'format must be one of "csv", "parquet", "jsonl", got "xlsx"',
    );
    expect(messageOf({ ...base, layout: 'tall' })).toBe(
      'layout must be one of "wide", "long", "ramlog", got "tall"',
    );
    expect(messageOf({ ...base, experimentId: 'a.b' })).toContain(
      'experimentId must be a NATS subject token',
    );
    expect(messageOf({ ...base, outDir: '' })).toBe('outDir must be a non-empty string, got ""');
    expect(messageOf({ ...base, parquetRowGroupRows: 0 })).toBe(
      'parquetRowGroupRows must be an integer in [1, 10000000], got 0',
    );
    expect(messageOf({ experimentId: 'e', outDir: 'd' })).toBe('natsUrl or connection is required');
    expect(messageOf({ ...base, connection: {} })).toBe('give natsUrl or connection, not both');
    expect(messageOf({ ...base, fromat: 'csv' })).toContain('unknown export option "fromat"');
  });
});

describe('hostFileNames', () => {
  it('makes safe, distinct names, also on case-insensitive file systems', () => {
    expect([...hostFileNames(['web-1', 'a/b', 'a:b', '..', 'Web-1', 'x y']).values()]).toEqual([
      'web-1',
      'a_b',
      'a_b-2',
      '_..',
      'Web-1-2',
      'x_y',
    ]);
  });
});
