import { HostMetrics, ProcessTreeMetrics, Sample } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';

import { isInvalidOptionsError, isMissingMetricError, isNotFittedError } from './errors.js';
import {
  DEFAULT_FEATURE_METRICS,
  FeatureExtractor,
  resolveFeatureExtractorOptions,
  resolveRobustScalerOptions,
  RobustScaler,
} from './features.js';
import { fromRows, toRows } from './matrix.js';

interface Parts {
  host?: Partial<HostMetrics>;
  process?: Partial<ProcessTreeMetrics>;
  metrics?: Record<string, number>;
}

let seq = 0n;
/** A sample of `hostId` at `seconds` after a fixed epoch time. */
function sample(hostId: string, seconds: number, parts: Parts = {}): Sample {
  seq++;
  return Sample.fromPartial({
    hostId,
    seq,
    timeUnixNano: 1_700_000_000_000_000_000n + BigInt(Math.round(seconds * 1e9)),
    host: parts.host === undefined ? undefined : HostMetrics.fromPartial(parts.host),
    process: parts.process === undefined ? undefined : ProcessTreeMetrics.fromPartial(parts.process),
    metrics: parts.metrics ?? {},
  });
}

const vec = (v: Float64Array | undefined): number[] | undefined =>
  v === undefined ? undefined : Array.from(v);

describe('FeatureExtractor', () => {
  const metrics = ['host.cpu_user_seconds_total', 'host.memory_used_bytes', 'metrics.requests_total'];

  it('turns counters into per-second rates and passes gauges through', () => {
    const fx = new FeatureExtractor({ metrics });
    expect(fx.featureNames).toEqual([
      'host.cpu_user_seconds_total:rate',
      'host.memory_used_bytes',
      'metrics.requests_total:rate',
    ]);
    const at = (t: number, cpu: number, mem: number, req: number): Sample =>
      sample('a', t, {
        host: { cpuUserSecondsTotal: cpu, memoryUsedBytes: mem },
        metrics: { requests_total: req },
      });
    expect(fx.push(at(0, 10, 100, 100))).toBeUndefined();
    // Δt = 2 s: cpu (11 − 10)/2 = 0.5, requests (160 − 100)/2 = 30.
    expect(vec(fx.push(at(2, 11, 200, 160)))).toEqual([0.5, 200, 30]);
    // Δt = 0.5 s: cpu 0.25/0.5 = 0.5, requests 15/0.5 = 30.
    expect(vec(fx.push(at(2.5, 11.25, 150, 175)))).toEqual([0.5, 150, 30]);
  });

  it('reads a counter decrease as a reset and never yields a negative rate', () => {
    const fx = new FeatureExtractor({ metrics: ['metrics.requests_total'] });
    fx.push(sample('a', 0, { metrics: { requests_total: 100 } }));
    expect(vec(fx.push(sample('a', 2, { metrics: { requests_total: 160 } })))).toEqual([30]);
    // The process restarted: the counter went 160 → 0 → 20 within the 4 s interval.
    expect(vec(fx.push(sample('a', 6, { metrics: { requests_total: 20 } })))).toEqual([5]);
    expect(vec(fx.push(sample('a', 7, { metrics: { requests_total: 20 } })))).toEqual([0]);
  });

  it('keeps the state of each host apart', () => {
    const fx = new FeatureExtractor({ metrics: ['metrics.bytes_total'] });
    expect(fx.push(sample('a', 0, { metrics: { bytes_total: 0 } }))).toBeUndefined();
    expect(fx.push(sample('b', 0, { metrics: { bytes_total: 1000 } }))).toBeUndefined();
    expect(vec(fx.push(sample('a', 1, { metrics: { bytes_total: 10 } })))).toEqual([10]);
    expect(vec(fx.push(sample('b', 2, { metrics: { bytes_total: 1400 } })))).toEqual([200]);
    expect(fx.hostCount).toBe(2);
    expect(fx.forget('a')).toBe(true);
    expect(fx.push(sample('a', 3, { metrics: { bytes_total: 20 } }))).toBeUndefined();
  });

  it('ignores samples not newer than the last and counts them', () => {
    const fx = new FeatureExtractor({ metrics: ['metrics.bytes_total'] });
    fx.push(sample('a', 0, { metrics: { bytes_total: 0 } }));
    fx.push(sample('a', 1, { metrics: { bytes_total: 10 } }));
    expect(fx.push(sample('a', 1, { metrics: { bytes_total: 999 } }))).toBeUndefined();
    expect(fx.push(sample('a', 0.5, { metrics: { bytes_total: 999 } }))).toBeUndefined();
    expect(fx.staleSamples).toBe(2);
    expect(vec(fx.push(sample('a', 3, { metrics: { bytes_total: 30 } })))).toEqual([10]);
  });

  it('adds rolling means, population standard deviations and deltas under stable names', () => {
    const fx = new FeatureExtractor({ metrics: ['metrics.temp_celsius'], rollingWindow: 3, deltas: true });
    expect(fx.featureNames).toEqual([
      'metrics.temp_celsius',
      'metrics.temp_celsius:mean3',
      'metrics.temp_celsius:std3',
      'metrics.temp_celsius:delta',
    ]);
    const out = [10, 1, 2, 3, 5].map((v, t) =>
      vec(fx.push(sample('a', t, { metrics: { temp_celsius: v } }))),
    );
    expect(out[0]).toBeUndefined();
    // With deltas the second sample has nothing to difference against yet.
    expect(out[1]).toBeUndefined();
    // Window [1, 2]: mean 1.5, std 0.5; delta 2 − 1.
    expect(out[2]).toEqual([2, 1.5, 0.5, 1]);
    // Window [1, 2, 3]: mean 2, std sqrt(2/3).
    expect(out[3]![1]).toBe(2);
    expect(out[3]![2]).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect(out[3]![3]).toBe(1);
    // Window [2, 3, 5]: mean 10/3, std sqrt(((4/3)² + (1/3)² + (5/3)²)/3) = sqrt(14/9).
    expect(out[4]![1]).toBeCloseTo(10 / 3, 12);
    expect(out[4]![2]).toBeCloseTo(Math.sqrt(14 / 9), 12);
    expect(out[4]![3]).toBe(2);
  });

  it('writes with pushInto the vectors push returns, at an offset, and leaves out alone without one', () => {
    const options = {
      metrics: ['metrics.temp_celsius', 'metrics.ops_total'],
      rollingWindow: 2,
      deltas: true,
    };
    const viaPush = new FeatureExtractor(options);
    const viaInto = new FeatureExtractor(options);
    const out = new Float64Array(2 + 8).fill(-1);
    const values = [
      [20, 0],
      [21, 10],
      [23, 30],
      [22, 35],
    ] as const;
    values.forEach(([temp, ops], t) => {
      const s = sample('a', t * 0.5, { metrics: { temp_celsius: temp, ops_total: ops } });
      const expected = viaPush.push(s);
      const before = Array.from(out);
      const produced = viaInto.pushInto(s, out, 2);
      expect(produced).toBe(expected !== undefined);
      if (expected === undefined) expect(Array.from(out)).toEqual(before);
      else expect(Array.from(out.subarray(2))).toEqual(Array.from(expected));
      expect(Array.from(out.subarray(0, 2))).toEqual([-1, -1]);
    });
    // Last sample: temp 22 (mean of [23, 22], std 0.5, delta −1), ops (35 − 30)/0.5 = 10 (delta −30).
    expect(Array.from(out.subarray(2))).toEqual([22, 10, 22.5, 25, 0.5, 15, -1, -30]);
    expect(() => viaInto.pushInto(sample('a', 9, { metrics: { temp_celsius: 1 } }), out, 3)).toThrow(
      'out holds 10 values: no room for a vector of 8 at offset 3',
    );
  });

  it('carries the last value of a missing metric and spans the gap for a counter', () => {
    const fx = new FeatureExtractor({ metrics: ['metrics.load', 'metrics.ops_total'] });
    fx.push(sample('a', 0, { metrics: { load: 1, ops_total: 0 } }));
    expect(vec(fx.push(sample('a', 1, { metrics: { load: 2, ops_total: 4 } })))).toEqual([2, 4]);
    // Both missing (one as NaN): both features keep their last values.
    expect(vec(fx.push(sample('a', 2, { metrics: { load: NaN } })))).toEqual([2, 4]);
    // ops_total moved 4 → 16 over the 2 s since it was last seen.
    expect(vec(fx.push(sample('a', 3, { metrics: { load: 3, ops_total: 16 } })))).toEqual([3, 6]);
  });

  it('holds vectors back until every selected metric has had a value', () => {
    const fx = new FeatureExtractor({ metrics: ['host.load1', 'process.rss_bytes'] });
    expect(fx.push(sample('a', 0, { host: { load1: 1 } }))).toBeUndefined();
    expect(fx.push(sample('a', 1, { host: { load1: 1 } }))).toBeUndefined();
    expect(vec(fx.push(sample('a', 2, { host: { load1: 2 }, process: { rssBytes: 4096 } })))).toEqual([
      2, 4096,
    ]);
  });

  it("throws MissingMetricError with missing: 'error'", () => {
    const fx = new FeatureExtractor({ metrics: ['process.rss_bytes'], missing: 'error' });
    let caught: unknown;
    try {
      fx.push(sample('web-1', 0, { host: {} }));
    } catch (err) {
      caught = err;
    }
    expect(isMissingMetricError(caught)).toBe(true);
    expect((caught as Error).message).toMatch(
      /^sample \d+ of host "web-1" has no value for process\.rss_bytes$/,
    );
    // The failed sample left no state behind: the next one is still the host's first.
    expect(fx.hostCount).toBe(0);
  });

  it('selects the default host metrics', () => {
    const fx = new FeatureExtractor();
    expect(fx.options.metrics).toEqual(DEFAULT_FEATURE_METRICS);
    expect(fx.dimension).toBe(DEFAULT_FEATURE_METRICS.length);
    expect(fx.featureNames[0]).toBe('host.cpu_user_seconds_total:rate');
    expect(fx.featureNames).toContain('host.memory_used_bytes');
    const host = { cpuUserSecondsTotal: 100, memoryUsedBytes: 5e9 };
    fx.push(sample('a', 0, { host }));
    const v = fx.push(sample('a', 1, { host: { ...host, cpuUserSecondsTotal: 101.5 } }));
    expect(v![0]).toBe(1.5);
    expect(v![fx.featureNames.indexOf('host.memory_used_bytes')]).toBe(5e9);
  });

  it.each([
    [{ metrics: ['host.nope'] }, 'metrics[0] names no numeric host field'],
    [{ metrics: ['host.cpuUserSecondsTotal'] }, 'use the snake_case proto name'],
    [
      { metrics: ['cpu'] },
      'metrics[0] must be host.<field>, process.<field>, cgroup.<field> or metrics.<key>',
    ],
    [{ metrics: ['cgroup.path'] }, 'names no numeric cgroup field'],
    [{ metrics: ['host.load1', 'host.load1'] }, 'metrics[1] repeats "host.load1"'],
    [{ metrics: [] }, 'metrics must be a non-empty array'],
    [{ rollingWindow: 1 }, 'rollingWindow must be an integer in [2, 10000], got 1'],
    [{ missing: 'zero' }, 'missing must be one of "carry", "error", got "zero"'],
    [{ window: 3 }, 'unknown FeatureExtractor option "window"'],
  ])('rejects %j', (raw, message) => {
    let caught: unknown;
    try {
      resolveFeatureExtractorOptions(raw as never);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidOptionsError(caught)).toBe(true);
    expect((caught as Error).message).toContain(message);
  });
});

describe('RobustScaler', () => {
  it('centres on the median and divides by the interquartile range', () => {
    // Column 0: sorted [1, 2, 3, 4, 100]: median 3, q25 2, q75 4, IQR 2.
    // Column 1: [1, 2, 3, 4] plus 10: the same ranks give median 3, IQR 2.
    // Column 2: constant 5: IQR 0, floored at minScale 0.5.
    const X = fromRows([
      [1, 4, 5],
      [2, 3, 5],
      [3, 2, 5],
      [4, 1, 5],
      [100, 10, 5],
    ]);
    const scaler = new RobustScaler({ minScale: 0.5 }).fit(X);
    expect(Array.from(scaler.center)).toEqual([3, 3, 5]);
    expect(Array.from(scaler.scale)).toEqual([2, 2, 0.5]);
    expect(toRows(scaler.transform(fromRows([[100, 3, 6]])))).toEqual([[48.5, 0, 2]]);
    const row = new Float64Array([5, 7, 4]);
    expect(scaler.transformRow(row, row)).toBe(row);
    expect(Array.from(row)).toEqual([1, 2, -2]);
  });

  it('interpolates percentiles linearly between ranks, as numpy does', () => {
    // [1, 2, 3, 4]: median 2.5, q25 at rank 0.75 → 1.75, q75 at rank 2.25 → 3.25.
    const scaler = new RobustScaler().fit(fromRows([[4], [1], [3], [2]]));
    expect(scaler.center[0]).toBe(2.5);
    expect(scaler.scale[0]).toBe(1.5);
    // quantileRange [10, 90]: ranks 0.3 → 1.3 and 2.7 → 3.7.
    const wide = new RobustScaler({ quantileRange: [10, 90] }).fit(fromRows([[4], [1], [3], [2]]));
    expect(wide.scale[0]).toBeCloseTo(2.4, 12);
  });

  it('floors a zero IQR at the default minScale of 1e-6', () => {
    const scaler = new RobustScaler().fit(fromRows([[7], [7], [7]]));
    expect(scaler.scale[0]).toBe(1e-6);
    expect(scaler.transformRow([7.5])[0]).toBeCloseTo(5e5, 6);
  });

  it('round-trips through JSON and refuses use before fit', () => {
    const scaler = new RobustScaler({ minScale: [1, 2] }).fit(
      fromRows([
        [1, 2],
        [3, 8],
        [9, 9],
      ]),
    );
    const loaded = RobustScaler.fromJSON(JSON.parse(JSON.stringify(scaler.toJSON())));
    expect(Array.from(loaded.center)).toEqual(Array.from(scaler.center));
    expect(Array.from(loaded.scale)).toEqual(Array.from(scaler.scale));
    expect(loaded.options).toEqual(scaler.options);
    let caught: unknown;
    try {
      new RobustScaler().transformRow([1]);
    } catch (err) {
      caught = err;
    }
    expect(isNotFittedError(caught)).toBe(true);
    expect(() => new RobustScaler({ minScale: [1] }).fit(fromRows([[1, 2]]))).toThrow(
      'minScale has 1 entries, but X has 2 columns',
    );
  });

  it.each([
    [{ quantileRange: [75, 25] }, 'quantileRange must be [q1, q3] with 0 <= q1 < q3 <= 100, got [75,25]'],
    [{ minScale: 0 }, 'minScale must be a number > 0 or an array of them, got 0'],
  ])('rejects %j', (raw, message) => {
    expect(() => resolveRobustScalerOptions(raw as never)).toThrow(message);
  });
});
