import { TruthWindow } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { TRUTH_COLUMNS, TruthWindowSet, truthRow } from './truth-table.js';

const SEC = 1_000_000_000n;

const report = (
  id: string,
  start: number,
  end: number,
  extra: Parameters<typeof TruthWindow.fromPartial>[0] = {},
): TruthWindow =>
  TruthWindow.fromPartial({
    injectionId: id,
    hostId: 'h',
    actualStartUnixNano: BigInt(start) * SEC,
    actualEndUnixNano: BigInt(end) * SEC,
    ...extra,
  });

describe('TruthWindowSet', () => {
  it('keeps the latest report per injection, but never lets an open report replace a closed one', () => {
    const set = new TruthWindowSet();
    set.add(report('a', 5, 0));
    set.add(report('a', 5, 9, { shortfall: 'first end' }));
    set.add(report('a', 5, 0)); // a late copy of the start report
    set.add(report('a', 5, 8, { shortfall: 'corrected end' }));
    set.add(report('b', 1, 0));
    expect(set.size).toBe(2);
    expect(set.windows().map((w) => [w.injectionId, w.actualEndUnixNano, w.shortfall])).toEqual([
      ['b', 0n, ''],
      ['a', 8n * SEC, 'corrected end'],
    ]);
  });
});

describe('truthRow', () => {
  const col = (name: string): number => TRUTH_COLUMNS.findIndex((c) => c.name === name);

  it('flattens the requested workload by kind and the achieved values', () => {
    const row = truthRow(
      report('a', 10, 25, {
        requested: { kind: { $case: 'memory', value: { bytes: 1024n, rampMs: 500 } } },
        achieved: { peakRssDeltaBytes: 1000, holdMs: 14_000 },
        reachedTarget: true,
      }),
    );
    expect(row).toHaveLength(TRUTH_COLUMNS.length);
    expect(row[col('requested_kind')]).toBe('memory');
    expect(row[col('requested_memory_bytes')]).toBe(1024n);
    expect(TRUTH_COLUMNS[col('requested_memory_bytes')]!.type).toBe('int64');
    expect(row[col('requested_memory_ramp_ms')]).toBe(500);
    expect(row[col('requested_cpu_cores')]).toBeNull();
    expect(row[col('achieved_peak_rss_delta_bytes')]).toBe(1000);
    expect(row[col('achieved_hold_ms')]).toBe(14_000);
    expect(row[col('duration_seconds')]).toBe(15);
    expect(row[col('actual_end')]).toBe(25n * SEC);
    expect(row[col('requested_start')]).toBeNull(); // 0 = not given
    expect(row[col('reached_target')]).toBe(true);
  });

  it('leaves the end and duration of a running injection empty and writes lists as JSON', () => {
    const row = truthRow(
      report('r', 10, 0, {
        requested: { kind: { $case: 'matmul', value: { sizes: [300, 500], matrices: 3 } } },
      }),
    );
    expect(row[col('actual_end')]).toBeNull();
    expect(row[col('actual_end_unix_nano')]).toBeNull();
    expect(row[col('duration_seconds')]).toBeNull();
    expect(row[col('requested_matmul_sizes')]).toBe('[300,500]');
    expect(row[col('requested_memory_bytes')]).toBeNull();
  });
});
