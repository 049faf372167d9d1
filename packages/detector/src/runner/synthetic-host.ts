/**
 * A seeded generator of realistic samples for one host (host metrics and a workload's
 * process tree, with noise), with planted memory spikes and CPU surges labelled as injections.
 * The stream runner's tests and the live benchmark feed it to the detector; the numbers are
 * shaped like a 4-core, 16 GiB worker running a steady workload.
 *
 * @example
 * ```ts
 * const host = new SyntheticHost({
 *   hostId: 'host-1',
 *   seed: 7,
 *   startUnixNano: 1_763_000_000_000_000_000n,
 *   anomalies: [{ kind: 'memory_spike', start: 200, length: 30 }],
 * });
 * const samples = host.take(400); // seq 1..400, 100 ms apart
 * ```
 */
import { createRng, type Rng, type Sample } from '@faultline/protocol';

import { InvalidOptionsError } from '../errors.js';
import { checkInteger, checkNumber, describeValue } from '../option-checks.js';

/** Kinds of planted anomalies. */
export type SyntheticAnomalyKind = 'memory_spike' | 'cpu_surge';

/** One planted anomaly: samples `[start, start + length)` (0-based sample index). */
export interface SyntheticAnomaly {
  kind: SyntheticAnomalyKind;
  /** Index of the first anomalous sample (0-based). */
  start: number;
  /** Number of anomalous samples, >= 1. */
  length: number;
}

/** Options of a {@link SyntheticHost}. */
export interface SyntheticHostOptions {
  /** Host id of every sample; required. */
  hostId: string;
  /** Seed of the noise (`createRng`); default 0. */
  seed?: number | string;
  /** Time of the first sample, ns since the epoch; required. */
  startUnixNano: bigint;
  /** Time between samples, ms; default 100 (compressed time), range (0, 3600000]. */
  intervalMs?: number;
  /** Planted anomalies; default none. */
  anomalies?: readonly SyntheticAnomaly[];
  /** Experiment id of the labels; default '' (no experiment). */
  experimentId?: string;
  /** With an experiment, the first `warmupSamples` samples are in phase `warmup`, the rest in `main`; default 0. */
  warmupSamples?: number;
  /** Memory a memory spike adds to the workload, bytes; default 3 GiB. */
  memorySpikeBytes?: number;
  /** Busy fraction of all CPUs during a CPU surge, (0, 1]; default 0.9. */
  cpuSurgeFraction?: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** The injection id of a planted anomaly, as its samples carry it. */
export function syntheticInjectionId(hostId: string, anomaly: SyntheticAnomaly): string {
  return `${hostId}-${anomaly.kind}-${anomaly.start}`;
}

/** Emits one host's samples in sequence, seq 1, 2, …; see the module comment. */
export class SyntheticHost {
  readonly hostId: string;
  readonly intervalMs: number;
  readonly anomalies: readonly SyntheticAnomaly[];
  readonly #rng: Rng;
  readonly #start: bigint;
  readonly #experimentId: string;
  readonly #warmupSamples: number;
  readonly #spikeBytes: number;
  readonly #surge: number;
  readonly #cpus = 4;
  #index = 0;
  #load1 = 0.8;
  // Cumulative counters.
  #cpuUser = 50_000;
  #cpuSystem = 15_000;
  #cpuIdle = 900_000;
  #cpuIowait = 2_000;
  #cpuSteal = 300;
  #diskRead = 40 * GiB;
  #diskWritten = 90 * GiB;
  #diskReads = 3e6;
  #diskWrites = 7e6;
  #netRx = 200 * GiB;
  #netTx = 150 * GiB;
  #netRxPackets = 2e8;
  #netTxPackets = 1.6e8;
  #ctxt = 9e9;
  #forks = 4e6;
  #procUtime = 1000;
  #procStime = 200;
  #rchar = 5 * GiB;
  #wchar = 3 * GiB;
  #readBytes = 1 * GiB;
  #writeBytes = 2 * GiB;

  constructor(options: SyntheticHostOptions) {
    if (typeof options.hostId !== 'string' || options.hostId === '') {
      throw new InvalidOptionsError(
        'hostId',
        `hostId must be a non-empty string, got ${describeValue(options.hostId)}`,
      );
    }
    this.hostId = options.hostId;
    this.intervalMs = checkNumber(options.intervalMs, 100, 'intervalMs', {
      min: 0,
      max: 3_600_000,
      minOpen: true,
    });
    this.anomalies = (options.anomalies ?? []).map((a, i) => {
      if (a.kind !== 'memory_spike' && a.kind !== 'cpu_surge') {
        throw new InvalidOptionsError(
          `anomalies[${i}].kind`,
          `anomalies[${i}].kind must be "memory_spike" or "cpu_surge", got ${describeValue(a.kind)}`,
        );
      }
      checkInteger(a.start, 0, `anomalies[${i}].start`, 0, Number.MAX_SAFE_INTEGER);
      checkInteger(a.length, 1, `anomalies[${i}].length`, 1, Number.MAX_SAFE_INTEGER);
      return { ...a };
    });
    this.#rng = createRng(options.seed ?? 0);
    this.#start = options.startUnixNano;
    this.#experimentId = options.experimentId ?? '';
    this.#warmupSamples = checkInteger(options.warmupSamples, 0, 'warmupSamples', 0, Number.MAX_SAFE_INTEGER);
    this.#spikeBytes = checkNumber(options.memorySpikeBytes, 3 * GiB, 'memorySpikeBytes', {
      min: 0,
      max: Infinity,
    });
    this.#surge = checkNumber(options.cpuSurgeFraction, 0.9, 'cpuSurgeFraction', {
      min: 0,
      max: 1,
      minOpen: true,
    });
  }

  /** Index (0-based) of the next sample; its seq is one more. */
  get index(): number {
    return this.#index;
  }

  /** The planted anomaly active at sample index `i`, if any. */
  anomalyAt(i: number): SyntheticAnomaly | undefined {
    return this.anomalies.find((a) => i >= a.start && i < a.start + a.length);
  }

  /** The next `n` samples. */
  take(n: number): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < n; i++) out.push(this.next());
    return out;
  }

  /** The next sample. */
  next(): Sample {
    const i = this.#index++;
    const rng = this.#rng;
    const n = (): number => rng.normal();
    const dt = this.intervalMs / 1000;
    const cpus = this.#cpus;
    const anomaly = this.anomalyAt(i);
    const surge = anomaly?.kind === 'cpu_surge';
    const spike = anomaly?.kind === 'memory_spike';

    const busy = clamp(surge ? this.#surge + 0.02 * n() : 0.2 + 0.02 * n(), 0.01, 0.99);
    const iowait = clamp(0.01 + 0.002 * n(), 0, 0.05);
    const steal = clamp(0.002 + 0.0005 * n(), 0, 0.01);
    this.#cpuUser += dt * cpus * busy * 0.75;
    this.#cpuSystem += dt * cpus * busy * 0.25;
    this.#cpuIowait += dt * cpus * iowait;
    this.#cpuSteal += dt * cpus * steal;
    this.#cpuIdle += dt * cpus * Math.max(0, 1 - busy - iowait - steal);
    const running = Math.max(1, Math.round(cpus * busy + 0.4 * n()));
    // load1 is an exponentially damped average of runnable tasks (30 samples here).
    this.#load1 += (cpus * busy + 0.2 * n() - this.#load1) / 30;

    const workloadRss = 400 * MiB + 4 * MiB * n() + (spike ? this.#spikeBytes : 0);
    const used = 3.6 * GiB + workloadRss + 20 * MiB * n();
    const total = 16 * GiB;
    const cached = 6 * GiB + 10 * MiB * n();
    const buffers = 200 * MiB + MiB * n();
    const free = total - used - cached - buffers;

    const readRate = 2 * MiB * Math.exp(0.1 * n());
    const writeRate = 5 * MiB * Math.exp(0.1 * n());
    this.#diskRead += readRate * dt;
    this.#diskWritten += writeRate * dt;
    this.#diskReads += (readRate / 65536) * dt;
    this.#diskWrites += (writeRate / 65536) * dt;
    const rxRate = MiB * Math.exp(0.1 * n());
    const txRate = 0.8 * MiB * Math.exp(0.1 * n());
    this.#netRx += rxRate * dt;
    this.#netTx += txRate * dt;
    this.#netRxPackets += (rxRate / 1200) * dt;
    this.#netTxPackets += (txRate / 1200) * dt;
    this.#ctxt += ((surge ? 14_000 : 8000) + 300 * n()) * dt;
    this.#forks += Math.max(0, 15 + 3 * n()) * dt;

    const procCpu = busy * cpus * 0.6;
    this.#procUtime += dt * procCpu * 0.8;
    this.#procStime += dt * procCpu * 0.2;
    this.#rchar += Math.max(0, 0.5 * MiB + 0.05 * MiB * n()) * dt;
    this.#wchar += Math.max(0, 1.5 * MiB + 0.1 * MiB * n()) * dt;
    this.#readBytes += readRate * 0.3 * dt;
    this.#writeBytes += writeRate * 0.5 * dt;

    const warmup = this.#experimentId !== '' && i < this.#warmupSamples;
    const injectionId = anomaly === undefined ? '' : syntheticInjectionId(this.hostId, anomaly);
    return {
      hostId: this.hostId,
      seq: BigInt(i + 1),
      agentStartUnixNano: this.#start,
      timeUnixNano: this.#start + BigInt(Math.round(i * this.intervalMs * 1e6)),
      labels: {
        experimentId: this.#experimentId,
        phase: this.#experimentId === '' ? '' : warmup ? 'warmup' : 'main',
        state: anomaly === undefined ? 'working_normal' : `working_anomaly_${anomaly.kind}`,
        injectionId,
        anomalyType: anomaly?.kind ?? '',
      },
      host: {
        cpuUserSecondsTotal: this.#cpuUser,
        cpuNiceSecondsTotal: 0,
        cpuSystemSecondsTotal: this.#cpuSystem,
        cpuIdleSecondsTotal: this.#cpuIdle,
        cpuIowaitSecondsTotal: this.#cpuIowait,
        cpuIrqSecondsTotal: 0,
        cpuSoftirqSecondsTotal: 0,
        cpuStealSecondsTotal: this.#cpuSteal,
        cpuCount: cpus,
        load1: Math.max(0, this.#load1),
        load5: Math.max(0, this.#load1 * 0.9),
        load15: Math.max(0, this.#load1 * 0.8),
        memoryTotalBytes: total,
        memoryUsedBytes: used,
        memoryFreeBytes: free,
        memoryCachedBytes: cached,
        memoryAvailableBytes: free + cached * 0.9,
        memoryBuffersBytes: buffers,
        swapTotalBytes: 2 * GiB,
        swapUsedBytes: 50 * MiB,
        diskReadBytesTotal: this.#diskRead,
        diskWrittenBytesTotal: this.#diskWritten,
        diskReadsCompletedTotal: this.#diskReads,
        diskWritesCompletedTotal: this.#diskWrites,
        netRxBytesTotal: this.#netRx,
        netTxBytesTotal: this.#netTx,
        netRxPacketsTotal: this.#netRxPackets,
        netTxPacketsTotal: this.#netTxPackets,
        openFds: Math.round(2048 + 8 * n()),
        procsRunning: running,
        procsBlocked: n() > 2.3 ? 1 : 0,
        procsTotal: Math.round(320 + 2 * n()),
        contextSwitchesTotal: this.#ctxt,
        forksTotal: this.#forks,
      },
      process: {
        pssBytes: workloadRss * 0.95,
        rssBytes: workloadRss,
        swapBytes: 0,
        vmemBytes: 1.2 * GiB + (spike ? this.#spikeBytes : 0),
        rcharBytesTotal: this.#rchar,
        wcharBytesTotal: this.#wchar,
        readBytesTotal: this.#readBytes,
        writeBytesTotal: this.#writeBytes,
        utimeSecondsTotal: this.#procUtime,
        stimeSecondsTotal: this.#procStime,
        nprocs: 3,
        nthreads: 12,
        cpuPercent: procCpu * 100,
      },
      cgroup: undefined,
      metrics: {},
    };
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
