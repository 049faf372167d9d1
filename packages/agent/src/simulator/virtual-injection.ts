/**
 * What a workload does to a virtual host, and the ground truth of an injection on one. Pure:
 * the effect is a function of the workload and the time since it started, and achieved
 * values are accumulated from the ticks at which the host model applied it.
 */
import type { Achieved, Injection, TruthWindow } from '@faultline/protocol';
import { judgeAchieved } from '../workloads/tolerance.js';
import { RAMP_FRACTION } from '../workloads/achieved-tracker.js';
import type { ResolvedWorkload } from '../workloads/workload-spec.js';
import { noEffects, type HostEffects } from './host-metrics-model.js';

/** What the effect model needs to know beyond the workload. */
export interface VirtualEffectOptions {
  /** Speed of a virtual core at matrix multiplication, floating-point operations per second. */
  readonly matmulFlopsPerSecond: number;
}

/** Bytes a matmul run holds: its matrices and the result, 8-byte doubles. */
export function matmulBytes(matrices: number, size: number): number {
  return (matrices + 1) * size * size * 8;
}

/**
 * How long a workload runs by itself on a virtual host, ms; Infinity when it runs until it
 * is recovered. memory with a hold: ramp + hold; matmul: dots × 2·size³ flops at the
 * virtual core's speed; stall: its extra time.
 */
export function selfDurationMs(
  w: ResolvedWorkload,
  matmulSize: number,
  options: VirtualEffectOptions,
): number {
  switch (w.kind) {
    case 'memory':
      return w.holdMs > 0 ? w.rampMs + w.holdMs : Infinity;
    case 'matmul':
      return Math.max(1, (w.dots * 2 * matmulSize ** 3 * 1000) / options.matmulFlopsPerSecond);
    case 'stall':
      return w.extraMs;
    default:
      return Infinity;
  }
}

/** The part of an effect that a host can refuse (it has only so much cpu and memory). */
export interface CappedEffect {
  /** Percent of one core. */
  cpuCorePercent: number;
  memoryBytes: number;
}

/**
 * Adds the effect of `w`, `elapsedMs` after it started, to `out`; returns its cpu and
 * memory share so that the achieved values can be scaled by what the host took.
 *
 * - cpu: cores × load % of one core on top of cpu_user;
 * - memory: the bytes, ramped linearly over `rampMs`;
 * - matmul: one core busy and the matrices' bytes;
 * - io: its write and read rates on disk_io_write / disk_io_read;
 * - network: its rate on network_out;
 * - stall: both latencies up by the extra time, task_completed down by 1 s / (1 s + extra);
 * - procs / threads: `count` more tasks (procs_total), and procs fork `count` per lifetime.
 */
export function addWorkloadEffect(
  w: ResolvedWorkload,
  elapsedMs: number,
  matmulSize: number,
  out: HostEffects,
): CappedEffect {
  switch (w.kind) {
    case 'cpu':
      out.cpuCorePercent += w.targetCpuPercent;
      return { cpuCorePercent: w.targetCpuPercent, memoryBytes: 0 };
    case 'memory': {
      const bytes = w.rampMs > 0 ? w.bytes * Math.min(1, Math.max(0, elapsedMs) / w.rampMs) : w.bytes;
      out.memoryBytes += bytes;
      return { cpuCorePercent: 0, memoryBytes: bytes };
    }
    case 'matmul': {
      const bytes = matmulBytes(w.matrices, matmulSize);
      out.cpuCorePercent += 100;
      out.memoryBytes += bytes;
      return { cpuCorePercent: 100, memoryBytes: bytes };
    }
    case 'io':
      out.diskWriteBytesPerSecond += w.writeBytesPerSecond;
      out.diskReadBytesPerSecond += w.readBytesPerSecond;
      break;
    case 'network':
      out.networkOutBytesPerSecond += w.bytesPerSecond;
      break;
    case 'stall':
      out.latencyMs += w.extraMs;
      out.taskCompletedFactor *= 1000 / (1000 + w.extraMs);
      break;
    case 'procs':
      out.extraProcesses += w.count;
      out.forksPerSecond += (w.count * 1000) / w.lifetimeMs;
      break;
    case 'threads':
      out.extraProcesses += w.count;
      break;
  }
  return { cpuCorePercent: 0, memoryBytes: 0 };
}

/** Where an injection is in its life. */
export type VirtualInjectionState = 'pending' | 'active' | 'done';

/**
 * One injection of a plan on one virtual host: its window, its effect, and the achieved
 * values measured at the ticks it was active. The truth window it reports has the same
 * fields as a real agent's; `achieved` is the effect the host actually took (cpu_user stops
 * at 100 % and memory at the host's total), judged with the real workloads' tolerances.
 */
export class VirtualInjection {
  state: VirtualInjectionState = 'pending';
  readonly startMs: number;
  readonly requestedEndMs: number;
  /** When it ends by itself (Infinity: never). */
  readonly selfEndMs: number;
  private haltedAtMs = Infinity;
  private samples = 0;
  private cpuSum = 0;
  private cpuPeak = 0;
  private memorySum = 0;
  private memoryPeak = 0;
  private firstAtTargetMs: number | undefined;
  private lastAtTargetMs: number | undefined;

  constructor(
    readonly injection: Injection,
    readonly workload: ResolvedWorkload,
    /** The matrix size drawn for a matmul workload (0 for other kinds). */
    readonly matmulSize: number,
    options: VirtualEffectOptions,
  ) {
    this.startMs = Number(injection.startUnixNano / 1_000_000n);
    this.requestedEndMs = Number(injection.endUnixNano / 1_000_000n);
    this.selfEndMs = this.startMs + selfDurationMs(workload, matmulSize, options);
  }

  /** When it ends: its requested end, its own end or a halt, whichever is first. */
  get endMs(): number {
    return Math.min(this.requestedEndMs, this.selfEndMs, this.haltedAtMs);
  }

  /** Whether it runs at `timeMs`: from its start (inclusive) to its end (exclusive). */
  activeAt(timeMs: number): boolean {
    return timeMs >= this.startMs && timeMs < this.endMs;
  }

  /** Stops it at `timeMs` (a halt); it never starts when that is before its start. */
  halt(timeMs: number): void {
    this.haltedAtMs = Math.min(this.haltedAtMs, Math.max(timeMs, this.startMs));
  }

  /** Adds its effect at `timeMs` to `out`; returns the cpu and memory it asked for. */
  contribute(timeMs: number, out: HostEffects): CappedEffect {
    return addWorkloadEffect(this.workload, timeMs - this.startMs, this.matmulSize, out);
  }

  /** Records one tick at which it was active: what it asked for, scaled by what the host took. */
  record(timeMs: number, asked: CappedEffect, cpuApplied: number, memoryApplied: number): void {
    const cpu = asked.cpuCorePercent * cpuApplied;
    const memory = asked.memoryBytes * memoryApplied;
    this.samples++;
    this.cpuSum += cpu;
    this.cpuPeak = Math.max(this.cpuPeak, cpu);
    this.memorySum += memory;
    this.memoryPeak = Math.max(this.memoryPeak, memory);
    const target = this.rampTarget();
    if (target !== undefined && target.measured(cpu, memory) >= RAMP_FRACTION * target.value) {
      this.firstAtTargetMs ??= timeMs;
      this.lastAtTargetMs = timeMs;
    }
  }

  private rampTarget(): { value: number; measured: (cpu: number, memory: number) => number } | undefined {
    const w = this.workload;
    switch (w.kind) {
      case 'cpu':
        return { value: w.targetCpuPercent, measured: (cpu) => cpu };
      case 'memory':
        return { value: w.bytes, measured: (_cpu, memory) => memory };
      case 'matmul':
        return { value: matmulBytes(w.matrices, this.matmulSize), measured: (_cpu, memory) => memory };
      default:
        return undefined;
    }
  }

  /**
   * The achieved values so far. Rates (io, network) and bursts (procs, threads) are taken
   * whole; cpu and memory are what the host took at the ticks. With no tick inside the
   * window yet (a window shorter than the interval), cpu and memory are the model's nominal
   * effect at the middle of the window.
   */
  private achieved(): { achieved: Achieved; samples: number } {
    const w = this.workload;
    const durationMs = Math.max(0, this.endMs - this.startMs);
    let samples = this.samples;
    let cpuMean = samples > 0 ? this.cpuSum / samples : 0;
    let cpuPeak = this.cpuPeak;
    let memoryMean = samples > 0 ? this.memorySum / samples : 0;
    let memoryPeak = this.memoryPeak;
    if (samples === 0 && this.state === 'done') {
      const nominal = addWorkloadEffect(w, durationMs / 2, this.matmulSize, noEffects());
      cpuMean = cpuPeak = nominal.cpuCorePercent;
      memoryMean = memoryPeak = nominal.memoryBytes;
      samples = 1;
    }
    const rampMs = this.firstAtTargetMs === undefined ? 0 : Math.round(this.firstAtTargetMs - this.startMs);
    const holdMs =
      w.kind === 'stall'
        ? Math.round(durationMs)
        : this.firstAtTargetMs === undefined || this.lastAtTargetMs === undefined
          ? 0
          : Math.round(this.lastAtTargetMs - this.firstAtTargetMs);
    return {
      samples,
      achieved: {
        peakRssDeltaBytes: memoryPeak,
        meanRssDeltaBytes: memoryMean,
        meanCpuPercent: cpuMean,
        peakCpuPercent: cpuPeak,
        writeBytesPerSecond: w.kind === 'io' && durationMs > 0 ? w.writeBytesPerSecond : 0,
        readBytesPerSecond: w.kind === 'io' && durationMs > 0 ? w.readBytesPerSecond : 0,
        netBytesPerSecond: w.kind === 'network' && durationMs > 0 ? w.bytesPerSecond : 0,
        rampMs,
        holdMs,
      },
    };
  }

  /**
   * The truth window: without an end while it runs (`actualEndUnixNano` 0, not judged yet),
   * with one once it is done.
   */
  truth(ids: { experimentId: string; agentId: string; hostId: string }): TruthWindow {
    const inj = this.injection;
    const done = this.state === 'done';
    const { achieved, samples } = this.achieved();
    const durationMs = Math.max(0, this.endMs - this.startMs);
    const judgement = done
      ? judgeAchieved(this.workload, {
          achieved,
          samples,
          durationMs,
          peakExtraProcesses: this.workload.kind === 'procs' && durationMs > 0 ? this.workload.count : 0,
          peakExtraThreads: this.workload.kind === 'threads' && durationMs > 0 ? this.workload.count : 0,
          wcharBytesPerSecond: achieved.writeBytesPerSecond,
          notes: [],
          failure: durationMs > 0 ? undefined : 'halted before it started',
          dotsDone:
            this.workload.kind === 'matmul'
              ? Math.floor(
                  (this.workload.dots * Math.min(durationMs, this.selfEndMs - this.startMs)) /
                    Math.max(1, this.selfEndMs - this.startMs),
                )
              : undefined,
          expectedBytes:
            this.workload.kind === 'matmul'
              ? matmulBytes(this.workload.matrices, this.matmulSize)
              : undefined,
        })
      : { reachedTarget: false, shortfall: 'not measured yet' };
    return {
      injectionId: inj.injectionId,
      experimentId: ids.experimentId,
      agentId: ids.agentId,
      hostId: ids.hostId,
      anomalyType: inj.anomalyType,
      phase: inj.phase,
      requestedStartUnixNano: inj.startUnixNano,
      requestedEndUnixNano: inj.endUnixNano,
      actualStartUnixNano: BigInt(Math.round(this.startMs)) * 1_000_000n,
      actualEndUnixNano: done ? BigInt(Math.round(this.endMs)) * 1_000_000n : 0n,
      requested: inj.workload,
      achieved,
      reachedTarget: judgement.reachedTarget,
      shortfall: judgement.shortfall,
    };
  }
}
