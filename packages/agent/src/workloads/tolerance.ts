import type { Achieved } from '@faultline/protocol';
import type { ResolvedWorkload } from './workload-spec.js';

/**
 * How close to the request an injection must come for its truth window to say
 * `reachedTarget`. Achieved values are measured on the injection's own process tree.
 */
export const WorkloadTolerance = {
  /** memory: peak RSS delta within ± this fraction of the requested bytes (±10 %). */
  memoryFraction: 0.1,
  /** cpu: mean cpu within ± this many points of one core, per core requested (±10 points). */
  cpuPointsPerCore: 10,
  /** io (storage write_bytes/read_bytes rates) and network (bytes written to the socket): ±15 %. */
  rateFraction: 0.15,
  /** matmul: every dot product done, and a peak RSS delta of at least this fraction of the matrices' bytes. */
  matmulMinFraction: 0.9,
  /** procs / threads: at least this fraction of `count` extra processes / threads alive at once. */
  burstMinFraction: 0.9,
  /** stall: held at least the requested time minus this slack, ms (timer granularity). */
  stallSlackMs: 20,
} as const;

/** Run-queue wait share from which a cpu shortfall is put down to contention. */
export const CONTENTION_WAIT_FRACTION = 0.05;

/** What the runner knows about one injection besides the achieved values. */
export interface InjectionEvidence {
  achieved: Achieved;
  /** Snapshots measured after the baseline. */
  samples: number;
  /** Time the work ran, ms. */
  durationMs: number;
  peakExtraProcesses: number;
  peakExtraThreads: number;
  /** Bytes through write(2) per second: what an io workload wrote before the storage layer. */
  wcharBytesPerSecond: number;
  /** What the workload processes themselves reported (a cap, an allocation failure, falling behind). */
  notes: readonly string[];
  /** Why the workload stopped early (a crash, a failure to start); undefined when it did not. */
  failure: string | undefined;
  /**
   * Share of the time the workload's processes were runnable but waiting for a cpu, [0, 1]
   * (from schedstat); undefined when unknown.
   */
  runQueueWaitFraction?: number | undefined;
  /** matmul: dot products done. */
  dotsDone?: number;
  /** matmul: bytes of the matrices and the result. */
  expectedBytes?: number;
}

/** The verdict written into the truth window. */
export interface Judgement {
  reachedTarget: boolean;
  /** Why not, in words (several reasons joined with "; "); empty when the target was reached. */
  shortfall: string;
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const mibps = (bytesPerSecond: number): string => `${(bytesPerSecond / 1048576).toFixed(2)} MiB/s`;

/** Judges achieved against requested, with {@link WorkloadTolerance}. Pure. */
export function judgeAchieved(workload: ResolvedWorkload, evidence: InjectionEvidence): Judgement {
  const reasons: string[] = [];
  if (evidence.failure !== undefined) reasons.push(evidence.failure);
  const a = evidence.achieved;
  // A matmul process reports its own peak RSS and products when it is done: a short one that
  // ended before the first monitor tick (a busy machine delays the tick) is still measured.
  const measured =
    workload.kind === 'stall' ||
    evidence.samples > 0 ||
    (workload.kind === 'matmul' && evidence.dotsDone !== undefined && a.peakRssDeltaBytes > 0);
  if (!measured) {
    reasons.push(
      `no measurement: the workload ran ${Math.round(evidence.durationMs)} ms, less than one monitor interval`,
    );
  } else {
    switch (workload.kind) {
      case 'cpu': {
        const tolerance = WorkloadTolerance.cpuPointsPerCore * Math.ceil(workload.cores);
        if (Math.abs(a.meanCpuPercent - workload.targetCpuPercent) > tolerance) {
          reasons.push(
            `mean cpu ${a.meanCpuPercent.toFixed(1)} % of one core, requested ${workload.targetCpuPercent.toFixed(1)} % ` +
              `(±${tolerance} points)`,
          );
          const wait = evidence.runQueueWaitFraction;
          if (
            a.meanCpuPercent < workload.targetCpuPercent &&
            wait !== undefined &&
            wait >= CONTENTION_WAIT_FRACTION
          ) {
            reasons.push(
              `contention: the busy loops were runnable but waiting for a cpu ${(wait * 100).toFixed(0)} % of the time`,
            );
          }
        }
        break;
      }
      case 'memory': {
        const off = (a.peakRssDeltaBytes - workload.bytes) / workload.bytes;
        if (Math.abs(off) > WorkloadTolerance.memoryFraction) {
          reasons.push(
            `peak RSS delta ${mib(a.peakRssDeltaBytes)} is ${Math.abs(off * 100).toFixed(1)} % ` +
              `${off < 0 ? 'below' : 'above'} the requested ${mib(workload.bytes)}`,
          );
        }
        break;
      }
      case 'matmul': {
        if (evidence.dotsDone !== undefined && evidence.dotsDone < workload.dots) {
          reasons.push(`stopped after ${evidence.dotsDone} of ${workload.dots} dot products`);
        }
        const expected = evidence.expectedBytes ?? 0;
        if (a.peakRssDeltaBytes < WorkloadTolerance.matmulMinFraction * expected) {
          reasons.push(`peak RSS delta ${mib(a.peakRssDeltaBytes)}, expected ${mib(expected)} of matrices`);
        }
        break;
      }
      case 'io': {
        checkRate(reasons, 'storage write rate', a.writeBytesPerSecond, workload.writeBytesPerSecond);
        checkRate(reasons, 'storage read rate', a.readBytesPerSecond, workload.readBytesPerSecond);
        if (
          workload.writeBytesPerSecond > 0 &&
          a.writeBytesPerSecond === 0 &&
          evidence.wcharBytesPerSecond > 0
        ) {
          reasons.push(
            `the filesystem of ${workload.directory} does not account writes to storage (write_bytes stayed 0, ` +
              `tmpfs?) though the workload wrote ${mibps(evidence.wcharBytesPerSecond)}`,
          );
        }
        break;
      }
      case 'network':
        checkRate(reasons, 'network send rate', a.netBytesPerSecond, workload.bytesPerSecond);
        break;
      case 'procs':
        if (evidence.peakExtraProcesses < WorkloadTolerance.burstMinFraction * workload.count) {
          reasons.push(
            `at most ${evidence.peakExtraProcesses} extra processes at once, requested ${workload.count}`,
          );
        }
        break;
      case 'threads':
        if (evidence.peakExtraThreads < WorkloadTolerance.burstMinFraction * workload.count) {
          reasons.push(
            `at most ${evidence.peakExtraThreads} extra threads at once, requested ${workload.count}`,
          );
        }
        break;
      case 'stall':
        if (a.holdMs < workload.extraMs - WorkloadTolerance.stallSlackMs) {
          reasons.push(`held ${a.holdMs} ms of the requested ${workload.extraMs} ms`);
        }
        break;
    }
  }
  if (reasons.length === 0) return { reachedTarget: true, shortfall: '' };
  return { reachedTarget: false, shortfall: [...reasons, ...evidence.notes].join('; ') };
}

function checkRate(reasons: string[], what: string, achieved: number, requested: number): void {
  if (requested <= 0) return;
  const off = (achieved - requested) / requested;
  if (Math.abs(off) > WorkloadTolerance.rateFraction) {
    reasons.push(
      `${what} ${mibps(achieved)} is ${Math.abs(off * 100).toFixed(1)} % ${off < 0 ? 'below' : 'above'} ` +
        `the requested ${mibps(requested)}`,
    );
  }
}
