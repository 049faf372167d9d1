import { describe, expect, it } from 'vitest';

import { SyntheticHost, syntheticInjectionId } from './synthetic-host.js';

const T0 = 1_763_000_000_000_000_000n;

describe('SyntheticHost', () => {
  it('emits contiguous sequence numbers at its interval, with counters that never decrease', () => {
    const samples = new SyntheticHost({ hostId: 'h', seed: 1, startUnixNano: T0, intervalMs: 250 }).take(50);
    expect(samples.map((s) => Number(s.seq))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(samples[3]!.timeUnixNano - samples[2]!.timeUnixNano).toBe(250_000_000n);
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.host!.cpuUserSecondsTotal).toBeGreaterThan(
        samples[i - 1]!.host!.cpuUserSecondsTotal,
      );
      expect(samples[i]!.host!.netRxBytesTotal).toBeGreaterThan(samples[i - 1]!.host!.netRxBytesTotal);
    }
  });

  it('is reproducible from its seed', () => {
    const a = new SyntheticHost({ hostId: 'h', seed: 'x', startUnixNano: T0 }).take(5);
    const b = new SyntheticHost({ hostId: 'h', seed: 'x', startUnixNano: T0 }).take(5);
    const c = new SyntheticHost({ hostId: 'h', seed: 'y', startUnixNano: T0 }).take(5);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('plants a memory spike and a CPU surge with their labels, and labels an experiment warm-up', () => {
    const anomalies = [
      { kind: 'memory_spike' as const, start: 10, length: 5 },
      { kind: 'cpu_surge' as const, start: 20, length: 5 },
    ];
    const host = new SyntheticHost({
      hostId: 'h',
      seed: 2,
      startUnixNano: T0,
      anomalies,
      experimentId: 'e',
      warmupSamples: 8,
    });
    const s = host.take(30);
    expect(s[10]!.process!.rssBytes - s[9]!.process!.rssBytes).toBeGreaterThan(2.5 * 1024 ** 3);
    expect(s[10]!.labels).toMatchObject({
      state: 'working_anomaly_memory_spike',
      injectionId: syntheticInjectionId('h', anomalies[0]!),
      anomalyType: 'memory_spike',
    });
    expect(s[15]!.labels).toMatchObject({ state: 'working_normal', injectionId: '' });
    const busy = (i: number): number => s[i]!.host!.cpuUserSecondsTotal - s[i - 1]!.host!.cpuUserSecondsTotal;
    expect(busy(21) / busy(15)).toBeGreaterThan(3);
    expect(s.map((x) => x.labels!.phase).slice(6, 10)).toEqual(['warmup', 'warmup', 'main', 'main']);
  });

  it('refuses bad options with the field named', () => {
    expect(() => new SyntheticHost({ hostId: '', startUnixNano: T0 })).toThrow(
      /hostId must be a non-empty string/,
    );
    expect(() => new SyntheticHost({ hostId: 'h', startUnixNano: T0, intervalMs: 0 })).toThrow(
      'intervalMs must be in (0, 3600000], got 0',
    );
    expect(
      () =>
        new SyntheticHost({
          hostId: 'h',
          startUnixNano: T0,
          anomalies: [{ kind: 'disk' as 'cpu_surge', start: 0, length: 1 }],
        }),
    ).toThrow(/anomalies\[0\]\.kind/);
  });
});
