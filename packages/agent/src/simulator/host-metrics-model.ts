/**
 * The metric model of one virtual host: per tick, the 20 host metrics and 5 process events
 * of the DevOps generator with their documented distributions, the cpu overlays, missing
 * values, power and temperature driven by load, and the `HostMetrics` a real agent would
 * read from /proc (cumulative counters, load averages, memory in bytes). Pure: it draws from
 * the generator it is given and takes the time as an argument. docs/simulator.md lists every
 * metric with its distribution.
 */
import type { HostMetrics, Rng } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import type { VirtualHostSpec } from './fleet-model.js';
import {
  overlayValue,
  resolveSignalOverlay,
  type ResolvedSignalOverlay,
  type SignalOverlayOptions,
} from './signal-overlay.js';

/** Names of the simulated metrics in `Sample.metrics`, in the order of the dataset columns. */
export const SIMULATED_METRICS = [
  'cpu_user_percent',
  'cpu_system_percent',
  'cpu_iowait_percent',
  'cpu_steal_percent',
  'cpu_nice_percent',
  'cpu_si_percent',
  'cpu_hi_percent',
  'cpu_idle_percent',
  'memory_used_megabytes',
  'memory_free_megabytes',
  'memory_cached_megabytes',
  'disk_io_read_bytes',
  'disk_io_write_bytes',
  'disk_used_gigabytes',
  'disk_free_gigabytes',
  'file_descriptors_in_use',
  'latency_per_read_milliseconds',
  'latency_per_write_milliseconds',
  'network_in_bytes',
  'network_out_bytes',
  'gc_reclaimed_percent',
  'gc_pause_percent',
  'jvm_memory_free_percent',
  'task_completed',
  'task_end_state',
  'power_watts',
  'temperature_celsius',
] as const;
export type SimulatedMetric = (typeof SIMULATED_METRICS)[number];

/**
 * The text of each `task_end_state` code: the metric carries the index into this list.
 * Drawn with the likelihoods {@link TASK_END_STATE_WEIGHTS}.
 */
export const TASK_END_STATES = [
  'SUCCESS_WITH_NO_RESULT',
  'SUCCESS_WITH_RESULT',
  'INTERNAL_ERROR',
  'USER_ERROR',
  'UNKNOWN',
  'THROTTLED',
] as const;

/** Likelihood of each {@link TASK_END_STATES} code. */
export const TASK_END_STATE_WEIGHTS: readonly number[] = [0.2, 0.7, 0.01, 0.07, 0.01, 0.01];

const TASK_END_STATE_CUMULATIVE = TASK_END_STATE_WEIGHTS.reduce<number[]>(
  (acc, w) => [...acc, (acc[acc.length - 1] ?? 0) + w],
  [],
);

/** Bytes in a megabyte (SI) and a gigabyte, as the metric names mean them. */
export const BYTES_PER_MEGABYTE = 1e6;
export const BYTES_PER_GIGABYTE = 1e9;

/** Memory the seed's memory_used is drawn over, MB: used ~ U(0, 8000). */
export const MEMORY_BASE_MEGABYTES = 8000;
/** Free space of a disk around which disk_free moves, GB. */
export const DISK_FREE_GIGABYTES = 15;
/** Time constant of the temperature's lag behind power, ms. */
export const TEMPERATURE_TIME_CONSTANT_MS = 60_000;

/** Options of a {@link HostMetricsModel}. */
export interface MetricModelOptions {
  /** Nominal time between two samples, ms; the first sample's counters advance by it. Default 1000; in [1, 86400000]. */
  intervalMs?: number;
  /** Chance of each metric of `Sample.metrics` to be missing from a sample, percent in [0, 100]. Default 0. */
  missingPercent?: number;
  /** Sine overlay on cpu_user. Default off. */
  sinSignal?: SignalOverlayOptions;
  /** Sawtooth overlay on cpu_user. Default off. */
  sawSignal?: SignalOverlayOptions;
}

export interface ResolvedMetricModelOptions {
  readonly intervalMs: number;
  readonly missingPercent: number;
  readonly sinSignal: ResolvedSignalOverlay | undefined;
  readonly sawSignal: ResolvedSignalOverlay | undefined;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError}. */
export function resolveMetricModelOptions(raw: MetricModelOptions = {}): ResolvedMetricModelOptions {
  const intervalMs = raw.intervalMs ?? 1000;
  if (!(Number.isFinite(intervalMs) && intervalMs >= 1 && intervalMs <= 86_400_000)) {
    throw new InvalidOptionsError('intervalMs', `intervalMs must be in [1, 86400000], got ${intervalMs}`);
  }
  const missingPercent = raw.missingPercent ?? 0;
  if (!(Number.isFinite(missingPercent) && missingPercent >= 0 && missingPercent <= 100)) {
    throw new InvalidOptionsError(
      'missingPercent',
      `missingPercent must be in [0, 100], got ${missingPercent}`,
    );
  }
  return {
    intervalMs,
    missingPercent,
    sinSignal: resolveSignalOverlay('sinSignal', raw.sinSignal),
    sawSignal: resolveSignalOverlay('sawSignal', raw.sawSignal),
  };
}

/**
 * What injections and the baseline do to a host at one instant, summed over everything
 * running there. Rates are per second; the model turns them into the interval's amounts.
 */
export interface HostEffects {
  /** Extra cpu, percent of one core (cores × load %). */
  cpuCorePercent: number;
  /** Extra memory in use, bytes. */
  memoryBytes: number;
  diskReadBytesPerSecond: number;
  diskWriteBytesPerSecond: number;
  networkOutBytesPerSecond: number;
  /** Added to both latencies, ms. */
  latencyMs: number;
  /** Multiplies task_completed, in [0, 1]. */
  taskCompletedFactor: number;
  /** Extra processes and threads (HostMetrics.procs_total). */
  extraProcesses: number;
  /** Extra forks per second. */
  forksPerSecond: number;
}

export function noEffects(): HostEffects {
  return {
    cpuCorePercent: 0,
    memoryBytes: 0,
    diskReadBytesPerSecond: 0,
    diskWriteBytesPerSecond: 0,
    networkOutBytesPerSecond: 0,
    latencyMs: 0,
    taskCompletedFactor: 1,
    extraProcesses: 0,
    forksPerSecond: 0,
  };
}

export function resetEffects(e: HostEffects): void {
  e.cpuCorePercent = 0;
  e.memoryBytes = 0;
  e.diskReadBytesPerSecond = 0;
  e.diskWriteBytesPerSecond = 0;
  e.networkOutBytesPerSecond = 0;
  e.latencyMs = 0;
  e.taskCompletedFactor = 1;
  e.extraProcesses = 0;
  e.forksPerSecond = 0;
}

/** One tick of one host. */
export interface HostTick {
  /** The simulated metrics present this tick (missing ones are absent, never NaN). */
  metrics: Record<string, number>;
  host: HostMetrics;
  /**
   * Share of the requested extra cpu and memory the host could take, in [0, 1] (1 when none
   * was requested): cpu_user stops at what the other cpu states leave, memory at the total.
   */
  cpuApplied: number;
  memoryApplied: number;
}

const M = Object.fromEntries(SIMULATED_METRICS.map((name, i) => [name, i])) as Record<
  SimulatedMetric,
  number
>;
const METRIC_COUNT = SIMULATED_METRICS.length;

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/**
 * Generates one host's samples tick after tick. Distributions (per tick, independent):
 * cpu_user ~ N(85, 10) on high-cpu hosts and N(15, 10) on the others (or the overlays'
 * signal plus noise), the six small cpu states ~ U(0, 1), cpu_idle the rest of 100;
 * memory_used ~ U(0, 8000) MB, memory_free = total − used, memory_cached ~ U(0, 4000) MB;
 * disk_io_read/write ~ U(0, 25000) bytes; disk_used = base + δ and disk_free = 15 − δ GB with
 * δ ~ N(0, 5); file descriptors ~ N(2200, 500); latencies ~ N(8, 4) and N(12, 8) ms (cut at
 * 0); network in/out ~ U(0, 1000) / U(0, 5000) bytes; gc and JVM percentages ~ U(0, 100);
 * task_completed ~ U{0..500}; task_end_state by {@link TASK_END_STATE_WEIGHTS}. Power is
 * idle + (max − idle)·busy plus 2 % noise, within [idle, max]; the temperature follows power
 * with a first-order lag of {@link TEMPERATURE_TIME_CONSTANT_MS}.
 */
export class HostMetricsModel {
  private lastTimeMs = NaN;
  private readonly totals = new Float64Array(18);
  private load1 = NaN;
  private load5 = NaN;
  private load15 = NaN;
  private temperature = NaN;
  private readonly values = new Float64Array(METRIC_COUNT);
  private readonly missing: number;

  constructor(
    readonly host: VirtualHostSpec,
    readonly options: ResolvedMetricModelOptions,
    private readonly rng: Rng,
  ) {
    this.missing = options.missingPercent / 100;
  }

  /** The cpu_user the host shows without effects: the overlays when set, else its profile's normal. */
  private baseCpuUser(timeMs: number): number {
    const { sinSignal, sawSignal } = this.options;
    if (sinSignal && sawSignal) {
      return (
        (overlayValue('sin', sinSignal, timeMs, this.rng) +
          overlayValue('saw', sawSignal, timeMs, this.rng)) /
        2
      );
    }
    if (sinSignal) return overlayValue('sin', sinSignal, timeMs, this.rng);
    if (sawSignal) return overlayValue('saw', sawSignal, timeMs, this.rng);
    return (this.host.cpuProfile === 'high' ? 85 : 15) + 10 * this.rng.normal();
  }

  /** The sample at `timeMs` (ms since the epoch; later than the previous one) under `effects`. */
  next(timeMs: number, effects: HostEffects): HostTick {
    const rng = this.rng;
    const h = this.host;
    const v = this.values;
    const dtMs = Number.isNaN(this.lastTimeMs)
      ? this.options.intervalMs
      : Math.max(0, timeMs - this.lastTimeMs);
    this.lastTimeMs = timeMs;
    const dt = dtMs / 1000;

    // cpu: the small states first, so cpu_user can stop at what they leave.
    const system = rng.next();
    const iowait = rng.next();
    const steal = rng.next();
    const nice = rng.next();
    const si = rng.next();
    const hi = rng.next();
    const room = 100 - (system + iowait + steal + nice + si + hi);
    const userBase = clamp(this.baseCpuUser(timeMs), 0, room);
    const cpuAsked = effects.cpuCorePercent / h.vcpus;
    const cpuCapped = userBase + cpuAsked > room;
    const user = cpuCapped ? room : userBase + cpuAsked;
    const cpuApplied = cpuCapped ? (room - userBase) / cpuAsked : 1;
    const idle = room - user;
    v[M.cpu_user_percent] = user;
    v[M.cpu_system_percent] = system;
    v[M.cpu_iowait_percent] = iowait;
    v[M.cpu_steal_percent] = steal;
    v[M.cpu_nice_percent] = nice;
    v[M.cpu_si_percent] = si;
    v[M.cpu_hi_percent] = hi;
    v[M.cpu_idle_percent] = idle;

    // memory
    const total = h.memoryTotalBytes;
    const usedBase = rng.next() * MEMORY_BASE_MEGABYTES * BYTES_PER_MEGABYTE;
    const memoryCapped = usedBase + effects.memoryBytes > total;
    const used = memoryCapped ? total : usedBase + effects.memoryBytes;
    const memoryApplied = memoryCapped ? (total - usedBase) / effects.memoryBytes : 1;
    const cached = Math.min(total - used, rng.next() * 4000 * BYTES_PER_MEGABYTE);
    v[M.memory_used_megabytes] = used / BYTES_PER_MEGABYTE;
    v[M.memory_free_megabytes] = (total - used) / BYTES_PER_MEGABYTE;
    v[M.memory_cached_megabytes] = cached / BYTES_PER_MEGABYTE;

    // disk
    const read = rng.next() * 25_000 + effects.diskReadBytesPerSecond * dt;
    const written = rng.next() * 25_000 + effects.diskWriteBytesPerSecond * dt;
    const delta = clamp(5 * rng.normal(), -h.diskBaseGigabytes, DISK_FREE_GIGABYTES);
    v[M.disk_io_read_bytes] = read;
    v[M.disk_io_write_bytes] = written;
    v[M.disk_used_gigabytes] = h.diskBaseGigabytes + delta;
    v[M.disk_free_gigabytes] = DISK_FREE_GIGABYTES - delta;
    const fds = Math.max(0, Math.round(2200 + 500 * rng.normal()));
    v[M.file_descriptors_in_use] = fds;

    // network
    v[M.latency_per_read_milliseconds] = Math.max(0, 8 + 4 * rng.normal()) + effects.latencyMs;
    v[M.latency_per_write_milliseconds] = Math.max(0, 12 + 8 * rng.normal()) + effects.latencyMs;
    const netIn = rng.next() * 1000;
    const netOut = rng.next() * 5000 + effects.networkOutBytesPerSecond * dt;
    v[M.network_in_bytes] = netIn;
    v[M.network_out_bytes] = netOut;

    // process events
    v[M.gc_reclaimed_percent] = rng.next() * 100;
    v[M.gc_pause_percent] = rng.next() * 100;
    v[M.jvm_memory_free_percent] = rng.next() * 100;
    v[M.task_completed] = Math.round(rng.int(501) * clamp(effects.taskCompletedFactor, 0, 1));
    const u = rng.next();
    let state = 0;
    while (state < TASK_END_STATE_CUMULATIVE.length - 1 && u >= TASK_END_STATE_CUMULATIVE[state]!) state++;
    v[M.task_end_state] = state;

    // power and temperature
    const busy = (100 - idle) / 100;
    const span = h.maxWatts - h.idleWatts;
    const power = clamp(h.idleWatts + span * busy + 0.02 * span * rng.normal(), h.idleWatts, h.maxWatts);
    const target = h.ambientCelsius + 10 + (30 * (power - h.idleWatts)) / span;
    this.temperature = Number.isNaN(this.temperature)
      ? target
      : this.temperature + (target - this.temperature) * (1 - Math.exp(-dtMs / TEMPERATURE_TIME_CONSTANT_MS));
    v[M.power_watts] = power;
    v[M.temperature_celsius] = this.temperature + 0.1 * rng.normal();

    const metrics: Record<string, number> = {};
    for (let i = 0; i < METRIC_COUNT; i++) {
      if (this.missing > 0 && rng.next() < this.missing) continue;
      metrics[SIMULATED_METRICS[i]!] = v[i]!;
    }

    // The /proc view: counters advance by the interval's amounts.
    const t = this.totals;
    const cpuSeconds = (h.vcpus * dt) / 100;
    t[0]! += user * cpuSeconds;
    t[1]! += nice * cpuSeconds;
    t[2]! += system * cpuSeconds;
    t[3]! += idle * cpuSeconds;
    t[4]! += iowait * cpuSeconds;
    t[5]! += hi * cpuSeconds;
    t[6]! += si * cpuSeconds;
    t[7]! += steal * cpuSeconds;
    t[8]! += Math.round(read);
    t[9]! += Math.round(written);
    t[10]! += Math.ceil(read / 4096);
    t[11]! += Math.ceil(written / 4096);
    t[12]! += Math.round(netIn);
    t[13]! += Math.round(netOut);
    t[14]! += Math.ceil(netIn / 1500);
    t[15]! += Math.ceil(netOut / 1500);
    t[16]! += Math.round(dt * (1500 * h.vcpus * busy + 300));
    t[17]! += Math.round(dt * (0.5 + effects.forksPerSecond));
    const runnable = busy * h.vcpus;
    if (Number.isNaN(this.load1)) {
      this.load1 = this.load5 = this.load15 = runnable;
    } else {
      this.load1 = runnable + (this.load1 - runnable) * Math.exp(-dt / 60);
      this.load5 = runnable + (this.load5 - runnable) * Math.exp(-dt / 300);
      this.load15 = runnable + (this.load15 - runnable) * Math.exp(-dt / 900);
    }
    const host: HostMetrics = {
      cpuUserSecondsTotal: t[0]!,
      cpuNiceSecondsTotal: t[1]!,
      cpuSystemSecondsTotal: t[2]!,
      cpuIdleSecondsTotal: t[3]!,
      cpuIowaitSecondsTotal: t[4]!,
      cpuIrqSecondsTotal: t[5]!,
      cpuSoftirqSecondsTotal: t[6]!,
      cpuStealSecondsTotal: t[7]!,
      cpuCount: h.vcpus,
      load1: this.load1,
      load5: this.load5,
      load15: this.load15,
      memoryTotalBytes: total,
      memoryUsedBytes: used,
      memoryFreeBytes: total - used - cached,
      memoryCachedBytes: cached,
      memoryAvailableBytes: total - used,
      memoryBuffersBytes: 0,
      swapTotalBytes: 0,
      swapUsedBytes: 0,
      diskReadBytesTotal: t[8]!,
      diskWrittenBytesTotal: t[9]!,
      diskReadsCompletedTotal: t[10]!,
      diskWritesCompletedTotal: t[11]!,
      netRxBytesTotal: t[12]!,
      netTxBytesTotal: t[13]!,
      netRxPacketsTotal: t[14]!,
      netTxPacketsTotal: t[15]!,
      openFds: fds,
      procsRunning: Math.max(1, Math.round(runnable)),
      procsBlocked: Math.round((iowait / 100) * h.vcpus),
      procsTotal: h.baseProcesses + effects.extraProcesses,
      contextSwitchesTotal: t[16]!,
      forksTotal: t[17]!,
    };
    return { metrics, host, cpuApplied, memoryApplied };
  }
}
