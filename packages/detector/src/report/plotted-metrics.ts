/**
 * The handful of metrics a live report plots per host, taken from the samples: memory used,
 * CPU busy (from the CPU time counters), the workload's RSS and its disk write rate (the host's
 * when no process tree is tracked); when fewer are present, the free-form `metrics` map fills
 * up. Counters become rates between consecutive samples. Pure.
 */
import type { Sample } from '@faultline/protocol';

/** Metrics plotted per host at most. */
export const MAX_PLOTTED_METRICS = 4;

/** The raw numbers of one sample that the plotted metrics derive from (NaN where absent). */
export interface RawSampleValues {
  memoryUsedBytes: number;
  /** Sum of every CPU time counter, s. */
  cpuTotalSeconds: number;
  /** Idle plus iowait CPU time, s. */
  cpuIdleSeconds: number;
  processRssBytes: number;
  processWriteBytesTotal: number;
  diskWrittenBytesTotal: number;
  /** The free-form metrics, when the sample has any. */
  extra: Readonly<Record<string, number>> | undefined;
}

/** The values of `sample` the plotted metrics need. */
export function rawSampleValues(sample: Sample): RawSampleValues {
  const h = sample.host;
  const p = sample.process;
  const cpuIdle = h === undefined ? NaN : h.cpuIdleSecondsTotal + h.cpuIowaitSecondsTotal;
  const cpuTotal =
    h === undefined
      ? NaN
      : cpuIdle +
        h.cpuUserSecondsTotal +
        h.cpuNiceSecondsTotal +
        h.cpuSystemSecondsTotal +
        h.cpuIrqSecondsTotal +
        h.cpuSoftirqSecondsTotal +
        h.cpuStealSecondsTotal;
  return {
    memoryUsedBytes: h?.memoryUsedBytes ?? NaN,
    cpuTotalSeconds: cpuTotal,
    cpuIdleSeconds: cpuIdle,
    processRssBytes: p?.rssBytes ?? NaN,
    processWriteBytesTotal: p?.writeBytesTotal ?? NaN,
    diskWrittenBytesTotal: h?.diskWrittenBytesTotal ?? NaN,
    extra: Object.keys(sample.metrics).length > 0 ? sample.metrics : undefined,
  };
}

/** One host's raw values in time order (`values[i]` undefined where the host has only a score). */
export interface RawHostSeries {
  timesMs: readonly number[];
  values: readonly (RawSampleValues | undefined)[];
}

/**
 * The rate of a counter between consecutive samples, per second: NaN for the first sample,
 * after a gap in the values, and when the counter went down (a restart) or time did not advance.
 */
function counterRate(times: readonly number[], counter: readonly number[]): number[] {
  return counter.map((v, i) => {
    if (i === 0) return NaN;
    const dt = ((times[i] as number) - (times[i - 1] as number)) / 1000;
    const dv = v - (counter[i - 1] as number);
    return dt > 0 && dv >= 0 ? dv / dt : NaN;
  });
}

/** Busy share of CPU time between consecutive samples, in [0, 1]. */
function busyRatio(total: readonly number[], idle: readonly number[]): number[] {
  return total.map((t, i) => {
    if (i === 0) return NaN;
    const dTotal = t - (total[i - 1] as number);
    const dIdle = (idle[i] as number) - (idle[i - 1] as number);
    return dTotal > 0 && dIdle >= 0 && dIdle <= dTotal ? 1 - dIdle / dTotal : NaN;
  });
}

type Derivation = (s: RawHostSeries) => number[];

const field =
  (pick: (v: RawSampleValues) => number): ((s: RawHostSeries) => number[]) =>
  (s) =>
    s.values.map((v) => (v === undefined ? NaN : pick(v)));

const STANDARD: ReadonlyArray<readonly [string, Derivation]> = [
  ['memory_used_bytes', field((v) => v.memoryUsedBytes)],
  ['cpu_busy_ratio', (s) => busyRatio(field((v) => v.cpuTotalSeconds)(s), field((v) => v.cpuIdleSeconds)(s))],
  ['process_rss_bytes', field((v) => v.processRssBytes)],
  [
    'process_write_bytes_per_second',
    (s) => counterRate(s.timesMs, field((v) => v.processWriteBytesTotal)(s)),
  ],
  ['disk_written_bytes_per_second', (s) => counterRate(s.timesMs, field((v) => v.diskWrittenBytesTotal)(s))],
];

const hasFinite = (values: readonly number[]): boolean => values.some(Number.isFinite);

/**
 * The plotted metrics of every host (aligned with its times), the same keys for all hosts, at
 * most {@link MAX_PLOTTED_METRICS}: `memory_used_bytes`, `cpu_busy_ratio`, `process_rss_bytes`,
 * `process_write_bytes_per_second` (or `disk_written_bytes_per_second` when no host has a
 * process tree), each only when some host has a value; then keys of the `metrics` map by
 * name, `<name>_total` counters as `<name>_per_second` rates.
 */
export function plottedMetrics(hosts: readonly RawHostSeries[]): Record<string, number[]>[] {
  const out = hosts.map((): Record<string, number[]> => ({}));
  const chosen: string[] = [];
  const add = (key: string, derive: Derivation): void => {
    if (chosen.length >= MAX_PLOTTED_METRICS || chosen.includes(key)) return;
    const series = hosts.map(derive);
    if (!series.some(hasFinite)) return;
    chosen.push(key);
    series.forEach((values, i) => ((out[i] as Record<string, number[]>)[key] = values));
  };
  for (const [key, derive] of STANDARD) {
    if (key === 'disk_written_bytes_per_second' && chosen.includes('process_write_bytes_per_second'))
      continue;
    add(key, derive);
  }
  const extraKeys = new Set<string>();
  for (const h of hosts)
    for (const v of h.values) for (const k of Object.keys(v?.extra ?? {})) extraKeys.add(k);
  for (const k of [...extraKeys].sort()) {
    const raw = field((v) => v.extra?.[k] ?? NaN);
    if (k.endsWith('_total'))
      add(`${k.slice(0, -'_total'.length)}_per_second`, (s) => counterRate(s.timesMs, raw(s)));
    else add(k, raw);
  }
  return out;
}
