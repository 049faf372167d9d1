import { Sample } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import {
  FIXED_MEASUREMENTS,
  forEachMeasurement,
  LONG_COLUMNS,
  LongRowPairer,
  wideColumns,
  wideRow,
} from './dataset-columns.js';

const SEC = 1_000_000_000n;

type SamplePart = Parameters<typeof Sample.fromPartial>[0];

function sample(host: string, t: number, extra: SamplePart = {}): Sample {
  return Sample.fromPartial({
    hostId: host,
    seq: BigInt(t),
    timeUnixNano: BigInt(t) * SEC,
    labels: { experimentId: 'e', state: 'idle', phase: 'p1' },
    host: { memoryUsedBytes: 1000 + t, cpuCount: 2 },
    ...extra,
  });
}

describe('wide rows', () => {
  const columns = wideColumns(['power_watts', 'temp']);
  const at = (name: string): number => columns.findIndex((c) => c.name === name);

  it('have stable, unit-carrying column names for every section', () => {
    const names = columns.map((c) => c.name);
    expect(names.slice(0, 10)).toEqual([
      'experiment_id',
      'host_id',
      'seq',
      'time_unix_nano',
      'time',
      'phase',
      'state',
      'injection_id',
      'anomaly_type',
      'is_anomaly',
    ]);
    expect(names).toContain('host_cpu_user_seconds_total');
    expect(names).toContain('host_load15');
    expect(names).toContain('process_rss_bytes');
    expect(names).toContain('cgroup_cpu_throttled_seconds_total');
    expect(names.slice(-3)).toEqual(['cgroup_path', 'metric_power_watts', 'metric_temp']);
    expect(new Set(names).size).toBe(names.length);
    expect(FIXED_MEASUREMENTS).toHaveLength(34 + 13 + 7);
  });

  it('carry labels, nulls for absent sections and metrics, and is_anomaly from the injection id', () => {
    const index = new Map([
      ['power_watts', 0],
      ['temp', 1],
    ]);
    const plain = wideRow(sample('h', 5, { metrics: { temp: 40, unknown: 1 } }), index);
    expect(plain).toHaveLength(columns.length);
    expect(plain[at('host_memory_used_bytes')]).toBe(1005);
    expect(plain[at('process_rss_bytes')]).toBeNull();
    expect(plain[at('metric_temp')]).toBe(40);
    expect(plain[at('metric_power_watts')]).toBeNull();
    expect(plain[at('injection_id')]).toBeNull();
    expect(plain[at('is_anomaly')]).toBe(false);
    expect(plain[at('time_unix_nano')]).toBe(5n * SEC);

    const injected = wideRow(
      sample('h', 6, {
        labels: { experimentId: 'e', state: 'working_anomaly_x', injectionId: 'i', anomalyType: 'x' },
        process: { rssBytes: 7 },
        host: { load1: NaN },
      }),
      index,
    );
    expect(injected[at('is_anomaly')]).toBe(true);
    expect(injected[at('anomaly_type')]).toBe('x');
    expect(injected[at('phase')]).toBeNull();
    expect(injected[at('process_rss_bytes')]).toBe(7);
    expect(injected[at('host_load1')]).toBeNull();
  });
});

describe('long rows', () => {
  it('count one row per measurement present', () => {
    expect(forEachMeasurement(sample('h', 1), () => {})).toBe(34);
    expect(
      forEachMeasurement(sample('h', 1, { process: { rssBytes: 1 }, metrics: { b: 1, a: 2 } }), () => {}),
    ).toBe(34 + 13 + 2);
  });

  it('carry the interval to the same host next sample, and none for its last', () => {
    const pairer = new LongRowPairer();
    const m = { host: undefined, metrics: { watts: 1 } };
    expect(pairer.push(sample('a', 1, m))).toEqual([]);
    expect(pairer.push(sample('b', 2, m))).toEqual([]);
    const a1 = pairer.push(sample('a', 4, { ...m, metrics: { watts: 9 } }));
    const end = LONG_COLUMNS.findIndex((c) => c.name === 'interval_end');
    const value = LONG_COLUMNS.findIndex((c) => c.name === 'value');
    expect(a1).toHaveLength(1);
    expect(a1[0]![end]).toBe(4n * SEC);
    expect(a1[0]![value]).toBe(1);
    const last = [...pairer.finish()];
    expect(last.map((rows) => [rows[0]![1], rows[0]![end], rows[0]![value]])).toEqual([
      ['a', null, 9],
      ['b', null, 1],
    ]);
  });
});
