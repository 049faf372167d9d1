import { createRng } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import type { VirtualHostSpec } from './fleet-model.js';
import {
  HostMetricsModel,
  noEffects,
  resolveMetricModelOptions,
  SIMULATED_METRICS,
  TASK_END_STATE_WEIGHTS,
  type HostEffects,
  type HostTick,
  type MetricModelOptions,
} from './host-metrics-model.js';

const T0 = Date.UTC(2026, 10, 1);

const HOST: VirtualHostSpec = {
  index: 0,
  hostId: 'i-test0000-apollo-0000',
  region: 'eu-west-1',
  cell: 'eu-west-1-cell-1',
  silo: 'eu-west-1-cell-1-silo-1',
  availabilityZone: 'eu-west-1-1',
  microservice: 'apollo',
  instanceName: 'i-test0000-apollo-0000.amazonaws.com',
  instanceType: 'm5.2xlarge',
  osVersion: 'AL2',
  process: 'server',
  jdkVersion: 'JDK_11',
  serialNumber: 'ABC1234XYZ',
  serverModel: 'DL360-G10',
  location: 'dublin-1',
  idleWatts: 110,
  maxWatts: 600,
  ambientCelsius: 18,
  vcpus: 8,
  memoryTotalBytes: 32 * 2 ** 30,
  diskBaseGigabytes: 200,
  baseProcesses: 150,
  cpuProfile: 'high',
};

function run(
  n: number,
  options: MetricModelOptions = {},
  host: Partial<VirtualHostSpec> = {},
  effectsAt: (i: number) => HostEffects = () => noEffects(),
  seed = 'model-test',
): HostTick[] {
  const model = new HostMetricsModel(
    { ...HOST, ...host },
    resolveMetricModelOptions(options),
    createRng(seed),
  );
  const out: HostTick[] = [];
  for (let i = 0; i < n; i++) out.push(model.next(T0 + i * 1000, effectsAt(i)));
  return out;
}

function column(ticks: HostTick[], name: string): number[] {
  return ticks.map((t) => t.metrics[name]).filter((v): v is number => v !== undefined);
}

function stats(xs: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

/** Standard normal pdf and cdf (Zelen & Severo 26.2.17, |error| < 7.5e-8). */
const phi = (x: number): number => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
function Phi(x: number): number {
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const poly =
    t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  const upper = phi(x) * poly;
  return x >= 0 ? 1 - upper : upper;
}
/** E[max(0, X)] for X ~ N(mu, sd). */
const positiveMean = (mu: number, sd: number): number => mu * Phi(mu / sd) + sd * phi(mu / sd);

const N = 20_000;

describe('HostMetricsModel distributions', () => {
  const high = run(N);
  const low = run(N, {}, { cpuProfile: 'low' });

  it('puts the 20 host metrics, the 5 events, power and temperature in every sample', () => {
    expect(Object.keys(high[0]!.metrics)).toEqual([...SIMULATED_METRICS]);
  });

  it('draws cpu_user around 85 ± 10 on high-cpu hosts and 15 ± 10 (cut at 0) on low-cpu hosts', () => {
    const h = stats(column(high, 'cpu_user_percent'));
    expect(h.mean).toBeGreaterThan(84.3);
    expect(h.mean).toBeLessThan(85.3);
    expect(h.sd).toBeGreaterThan(9);
    expect(h.sd).toBeLessThan(10.3);
    const l = stats(column(low, 'cpu_user_percent'));
    expect(l.min).toBe(0);
    expect(Math.abs(l.mean - positiveMean(15, 10))).toBeLessThan(0.3);
  });

  it('keeps the six small cpu states in [0, 1) and makes the cpu states add up to 100', () => {
    for (const name of ['system', 'iowait', 'steal', 'nice', 'si', 'hi']) {
      const s = stats(column(high, `cpu_${name}_percent`));
      expect(s.min).toBeGreaterThanOrEqual(0);
      expect(s.max).toBeLessThan(1);
      expect(Math.abs(s.mean - 0.5)).toBeLessThan(0.02);
    }
    for (const t of high.slice(0, 1000)) {
      const m = t.metrics;
      const sum = ['user', 'system', 'iowait', 'steal', 'nice', 'si', 'hi', 'idle']
        .map((k) => m[`cpu_${k}_percent`]!)
        .reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(100, 9);
      expect(m.cpu_idle_percent).toBeGreaterThanOrEqual(0);
    }
  });

  it('respects the uniform ranges of memory, disk io, network and the process events', () => {
    const uniform: Array<[string, number]> = [
      ['memory_used_megabytes', 8000],
      ['memory_cached_megabytes', 4000],
      ['disk_io_read_bytes', 25_000],
      ['disk_io_write_bytes', 25_000],
      ['network_in_bytes', 1000],
      ['network_out_bytes', 5000],
      ['gc_reclaimed_percent', 100],
      ['gc_pause_percent', 100],
      ['jvm_memory_free_percent', 100],
    ];
    for (const [name, top] of uniform) {
      const s = stats(column(high, name));
      expect(s.min, name).toBeGreaterThanOrEqual(0);
      expect(s.max, name).toBeLessThan(top);
      // mean top/2, sd top/√12: bounds at ~5 standard errors.
      expect(Math.abs(s.mean - top / 2), name).toBeLessThan((5 * top) / Math.sqrt(12 * N));
      expect(Math.abs(s.sd - top / Math.sqrt(12)), name).toBeLessThan(0.02 * top);
    }
    const tasks = column(high, 'task_completed');
    expect(tasks.every((x) => Number.isInteger(x) && x >= 0 && x <= 500)).toBe(true);
    expect(Math.abs(stats(tasks).mean - 250)).toBeLessThan(5);
  });

  it('reports memory_free as the rest of the host memory', () => {
    for (const t of high.slice(0, 100)) {
      expect(t.metrics.memory_free_megabytes! + t.metrics.memory_used_megabytes!).toBeCloseTo(
        HOST.memoryTotalBytes / 1e6,
        6,
      );
      expect(t.host.memoryUsedBytes).toBeCloseTo(t.metrics.memory_used_megabytes! * 1e6, 3);
    }
  });

  it('draws file descriptors ~ N(2200, 500) and latencies ~ N(8, 4) and N(12, 8) cut at 0', () => {
    const fds = stats(column(high, 'file_descriptors_in_use'));
    expect(Math.abs(fds.mean - 2200)).toBeLessThan(15);
    expect(Math.abs(fds.sd - 500)).toBeLessThan(15);
    const read = stats(column(high, 'latency_per_read_milliseconds'));
    expect(Math.abs(read.mean - positiveMean(8, 4))).toBeLessThan(0.15);
    expect(read.min).toBeGreaterThanOrEqual(0);
    const write = stats(column(high, 'latency_per_write_milliseconds'));
    expect(Math.abs(write.mean - positiveMean(12, 8))).toBeLessThan(0.3);
  });

  it('moves disk_used around the host base by ±5 GB and disk_free inversely around 15 GB', () => {
    const used = stats(column(high, 'disk_used_gigabytes'));
    expect(Math.abs(used.mean - 200)).toBeLessThan(0.2);
    expect(Math.abs(used.sd - 5)).toBeLessThan(0.25);
    for (const t of high.slice(0, 100)) {
      expect(t.metrics.disk_used_gigabytes! + t.metrics.disk_free_gigabytes!).toBeCloseTo(215, 9);
    }
  });

  it('draws task_end_state with the likelihoods [0.2, 0.7, 0.01, 0.07, 0.01, 0.01]', () => {
    const counts = new Array<number>(6).fill(0);
    for (const code of column(high, 'task_end_state')) counts[code]!++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
    TASK_END_STATE_WEIGHTS.forEach((p, code) => {
      const se = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(counts[code]! / N - p), `code ${code}`).toBeLessThan(5 * se);
    });
  });

  it('keeps power between the idle and max watts, higher on busier hosts', () => {
    const hp = stats(column(high, 'power_watts'));
    const lp = stats(column(low, 'power_watts'));
    for (const s of [hp, lp]) {
      expect(s.min).toBeGreaterThanOrEqual(HOST.idleWatts);
      expect(s.max).toBeLessThanOrEqual(HOST.maxWatts);
    }
    // idle + (max − idle)·busy: busy ≈ 0.88 on high-cpu hosts, ≈ 0.18 on low-cpu ones.
    expect(Math.abs(hp.mean - (110 + 490 * 0.88))).toBeLessThan(8);
    expect(Math.abs(lp.mean - (110 + 490 * 0.183))).toBeLessThan(8);
  });

  it('is deterministic: same seed, same values; another seed, other values', () => {
    expect(run(50)).toEqual(run(50));
    expect(column(run(50, {}, {}, undefined, 'other'), 'cpu_user_percent')).not.toEqual(
      column(run(50), 'cpu_user_percent'),
    );
  });
});

describe('HostMetricsModel overlays and missing values', () => {
  function autocorrelation(xs: number[], lag: number): number {
    const { mean } = stats(xs);
    let num = 0;
    let den = 0;
    for (let i = 0; i < xs.length; i++) {
      den += (xs[i]! - mean) ** 2;
      if (i + lag < xs.length) num += (xs[i]! - mean) * (xs[i + lag]! - mean);
    }
    return num / den;
  }

  it('shows the period of a sine overlay with a high signal-to-noise ratio', () => {
    const cpu = column(run(600, { sinSignal: { snr: 20, frequency: 'm' } }), 'cpu_user_percent');
    expect(autocorrelation(cpu, 60)).toBeGreaterThan(0.85);
    expect(autocorrelation(cpu, 30)).toBeLessThan(-0.85);
    // Noise spans ±50/snr = ±2.5 around 50 + 50·sin(2πt/60 s) (T0 is a whole minute).
    cpu.slice(0, 120).forEach((v, i) => {
      const signal = 50 + 50 * Math.sin((2 * Math.PI * i) / 60);
      expect(Math.abs(v - Math.min(signal, 97))).toBeLessThanOrEqual(2.5 + 1e-9 + Math.max(0, signal - 94));
    });
  });

  it('shows no period without the overlay', () => {
    const cpu = column(run(600), 'cpu_user_percent');
    expect(Math.abs(autocorrelation(cpu, 60))).toBeLessThan(0.15);
  });

  it('draws a sawtooth that rises over each hour and drops back', () => {
    const ticks = run(2 * 3600, { sawSignal: { snr: 100, frequency: 'h' } });
    const cpu = column(ticks, 'cpu_user_percent');
    expect(cpu[0]).toBeCloseTo(0, 9);
    expect(cpu[1800]).toBeCloseTo(50, 9);
    expect(cpu[3599]).toBeGreaterThan(94);
    expect(cpu[3600]).toBeCloseTo(0, 9);
  });

  it('leaves out the requested share of metrics, absent from the map and never NaN', () => {
    const ticks = run(2000, { missingPercent: 10 });
    let missing = 0;
    let nonFinite = 0;
    for (const t of ticks) {
      missing += SIMULATED_METRICS.length - Object.keys(t.metrics).length;
      for (const v of Object.values(t.metrics)) if (!Number.isFinite(v)) nonFinite++;
    }
    expect(nonFinite).toBe(0);
    const share = missing / (ticks.length * SIMULATED_METRICS.length);
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
  });
});

describe('HostMetricsModel effects, power and the /proc view', () => {
  it('adds cpu and memory effects and says how much the host took', () => {
    const ticks = run(200, {}, { cpuProfile: 'low' }, (i) => ({
      ...noEffects(),
      cpuCorePercent: i >= 100 ? 400 : 0,
      memoryBytes: i >= 100 ? 4e9 : 0,
    }));
    const before = stats(column(ticks.slice(0, 100), 'cpu_user_percent')).mean;
    const after = stats(column(ticks.slice(100), 'cpu_user_percent')).mean;
    // 400 % of one core on 8 vcpus is 50 points.
    expect(after - before).toBeGreaterThan(47);
    expect(after - before).toBeLessThan(53);
    const mem = stats(column(ticks.slice(100), 'memory_used_megabytes'));
    expect(mem.min).toBeGreaterThanOrEqual(4000);
    expect(ticks[150]!.memoryApplied).toBe(1);
  });

  it('caps cpu at what the other states leave and memory at the total', () => {
    const [t] = run(1, {}, {}, () => ({ ...noEffects(), cpuCorePercent: 800, memoryBytes: 64 * 2 ** 30 }));
    expect(t!.metrics.cpu_idle_percent).toBe(0);
    expect(t!.cpuApplied).toBeLessThan(1);
    expect(t!.metrics.memory_free_megabytes).toBe(0);
    expect(t!.memoryApplied).toBeLessThan(1);
  });

  it('lets the temperature follow a power step with a lag of about a minute', () => {
    const ticks = run(600, {}, { cpuProfile: 'low' }, (i) => ({
      ...noEffects(),
      cpuCorePercent: i >= 300 ? 800 : 0,
    }));
    const temp = column(ticks, 'temperature_celsius');
    const power = column(ticks, 'power_watts');
    expect(power[300]! - power[299]!).toBeGreaterThan(300);
    const before = stats(temp.slice(250, 300)).mean;
    const after = stats(temp.slice(550, 600)).mean;
    // One time constant after the step, 1 − 1/e of the way.
    const share = (temp[360]! - before) / (after - before);
    expect(share).toBeGreaterThan(0.55);
    expect(share).toBeLessThan(0.72);
    expect(temp[301]! - before).toBeLessThan(0.1 * (after - before));
  });

  it('fills HostMetrics with counters that add up to the elapsed cpu time', () => {
    const ticks = run(100);
    const last = ticks[99]!.host;
    const cpuSeconds =
      last.cpuUserSecondsTotal +
      last.cpuNiceSecondsTotal +
      last.cpuSystemSecondsTotal +
      last.cpuIdleSecondsTotal +
      last.cpuIowaitSecondsTotal +
      last.cpuIrqSecondsTotal +
      last.cpuSoftirqSecondsTotal +
      last.cpuStealSecondsTotal;
    expect(cpuSeconds).toBeCloseTo(8 * 100, 6);
    expect(last.cpuCount).toBe(8);
    expect(last.diskReadBytesTotal).toBeGreaterThan(ticks[50]!.host.diskReadBytesTotal);
    expect(last.load1).toBeGreaterThan(6);
    expect(last.memoryTotalBytes).toBe(HOST.memoryTotalBytes);
  });
});
