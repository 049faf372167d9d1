import { Sample } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { plottedMetrics, rawSampleValues, type RawHostSeries } from './plotted-metrics.js';

const MiB = 1024 ** 2;

/** A host whose CPU is `busy` busy over each 1 s interval on 4 CPUs, and whose workload writes 2 MiB/s. */
function hostSamples(n: number, busy: (i: number) => number): Sample[] {
  let user = 100;
  let idle = 1000;
  return Array.from({ length: n }, (_, i) => {
    if (i > 0) {
      user += 4 * busy(i);
      idle += 4 * (1 - busy(i));
    }
    return Sample.fromPartial({
      hostId: 'h',
      seq: BigInt(i + 1),
      timeUnixNano: BigInt(i) * 1_000_000_000n + 1n,
      host: {
        cpuUserSecondsTotal: user,
        cpuIdleSecondsTotal: idle,
        memoryUsedBytes: 1e9 + i,
        diskWrittenBytesTotal: i * 1000,
      },
      process: { rssBytes: 100 * MiB, writeBytesTotal: i * 2 * MiB },
    });
  });
}

function series(samples: Sample[]): RawHostSeries {
  return {
    timesMs: samples.map((s) => Number(s.timeUnixNano / 1_000_000n)),
    values: samples.map(rawSampleValues),
  };
}

describe('plottedMetrics', () => {
  it('derives memory, CPU busy share, RSS and the write rate; rates start with NaN', () => {
    const busy = (i: number): number => (i >= 3 ? 0.75 : 0.25);
    const [m] = plottedMetrics([series(hostSamples(6, busy))]);
    expect(Object.keys(m!)).toEqual([
      'memory_used_bytes',
      'cpu_busy_ratio',
      'process_rss_bytes',
      'process_write_bytes_per_second',
    ]);
    expect(m!.memory_used_bytes).toEqual([1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4, 1e9 + 5]);
    expect(m!.cpu_busy_ratio![0]).toBeNaN();
    expect(m!.cpu_busy_ratio!.slice(1).map((v) => Number(v.toFixed(12)))).toEqual([
      0.25, 0.25, 0.75, 0.75, 0.75,
    ]);
    expect(m!.process_write_bytes_per_second!.slice(1)).toEqual([
      2 * MiB,
      2 * MiB,
      2 * MiB,
      2 * MiB,
      2 * MiB,
    ]);
  });

  it('reads a counter reset and a gap as no rate, and uses the disk when no process is tracked', () => {
    const samples = hostSamples(5, () => 0.5).map((s) => ({ ...s, process: undefined }));
    samples[3]!.host!.diskWrittenBytesTotal = 0; // the counter restarted
    const s = series(samples);
    const gapped: RawHostSeries = { timesMs: [...s.timesMs, 5000], values: [...s.values, undefined] };
    const [m] = plottedMetrics([gapped]);
    expect(Object.keys(m!)).toEqual(['memory_used_bytes', 'cpu_busy_ratio', 'disk_written_bytes_per_second']);
    const rate = m!.disk_written_bytes_per_second!;
    expect(rate[1]).toBe(1000);
    expect(rate[2]).toBe(1000);
    expect(rate[3]).toBeNaN();
    expect(rate[4]).toBe(4000);
    expect(rate[5]).toBeNaN();
  });

  it('fills up with the free-form metrics, counters as rates, the same keys for every host', () => {
    const sim = (i: number, h: number): Sample =>
      Sample.fromPartial({
        hostId: `v${h}`,
        seq: BigInt(i + 1),
        timeUnixNano: BigInt(i * 2) * 1_000_000_000n + 1n,
        metrics: { power_watts: 100 + h, requests_total: i * 10 * (h + 1), temperature_celsius: 40 },
      });
    const hosts = [0, 1].map((h) => series([0, 1, 2].map((i) => sim(i, h))));
    const out = plottedMetrics(hosts);
    expect(out.map((m) => Object.keys(m))).toEqual([
      ['power_watts', 'requests_per_second', 'temperature_celsius'],
      ['power_watts', 'requests_per_second', 'temperature_celsius'],
    ]);
    expect(out[1]!.requests_per_second).toEqual([NaN, 10, 10]);
    expect(out[0]!.power_watts).toEqual([100, 100, 100]);
  });
});
