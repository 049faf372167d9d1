import type { Achieved } from '@faultline/protocol';
import { treeCpuPercent, type ProcessTreeSnapshot } from '../process-tree.js';

/** The measure a workload's ramp is timed on; rates are per monitor interval. */
export type RampMetric =
  | 'rssDeltaBytes'
  | 'cpuPercent'
  | 'writeBytesPerSecond'
  | 'readBytesPerSecond'
  | 'wcharBytesPerSecond'
  | 'extraProcesses'
  | 'extraThreads';

/** What the ramp is timed against: the target is reached at `rampFraction` × `value`. */
export interface RampTarget {
  metric: RampMetric;
  value: number;
}

/** Everything a tracker measured; `achieved` is the protocol's part of it. */
export interface TrackerSummary {
  achieved: Achieved;
  /** Snapshots after the baseline. */
  samples: number;
  /** From the baseline to the last snapshot, ms. */
  durationMs: number;
  /** Most processes above the baseline's at once. */
  peakExtraProcesses: number;
  /** Most threads above the baseline's at once. */
  peakExtraThreads: number;
  /** Bytes through write(2) per second (files, sockets, pipes), over the window. */
  wcharBytesPerSecond: number;
  /** Bytes through read(2) per second, over the window. */
  rcharBytesPerSecond: number;
  /** When the target was first reached, ms after the baseline; undefined when it never was. */
  reachedAtMs: number | undefined;
}

/** Fraction of the target at which a ramp counts as done (the 90 % of "time to 90 %"). */
export const RAMP_FRACTION = 0.9;

/**
 * Turns the process-tree snapshots of one injection into achieved values: RSS as a delta
 * over the baseline (the tree right after spawn, before the work started), cpu in percent of
 * one core, I/O as rates over the whole window (sums of the positive per-interval deltas, so
 * a short-lived process that leaves the tree takes nothing back), and the ramp (time to 90 %
 * of the target) and hold (first to last snapshot at target). Pure: snapshots carry their
 * own time.
 */
export class AchievedTracker {
  private last: ProcessTreeSnapshot;
  private samples = 0;
  private peakRssDelta = 0;
  private rssDeltaSum = 0;
  private peakCpu = 0;
  private cpuSeconds = 0;
  private writeBytes = 0;
  private readBytes = 0;
  private wcharBytes = 0;
  private rcharBytes = 0;
  private peakExtraProcesses = 0;
  private peakExtraThreads = 0;
  private firstAtTargetNs: bigint | undefined;
  private lastAtTargetNs: bigint | undefined;

  constructor(
    readonly baseline: ProcessTreeSnapshot,
    private readonly target: RampTarget | undefined,
  ) {
    this.last = baseline;
  }

  /** Adds a snapshot of the tree, later than the previous one. */
  add(snapshot: ProcessTreeSnapshot): void {
    const prev = this.last;
    const dtSeconds = Number(snapshot.timeNs - prev.timeNs) / 1e9;
    if (dtSeconds <= 0) return;
    this.last = snapshot;
    this.samples++;
    const rssDelta = snapshot.rssBytes - this.baseline.rssBytes;
    this.peakRssDelta = Math.max(this.peakRssDelta, rssDelta);
    this.rssDeltaSum += rssDelta;
    const cpu = treeCpuPercent(prev, snapshot);
    this.peakCpu = Math.max(this.peakCpu, cpu);
    this.cpuSeconds += (cpu / 100) * dtSeconds;
    const write = positive(snapshot.writeBytes - prev.writeBytes);
    const read = positive(snapshot.readBytes - prev.readBytes);
    const wchar = positive(snapshot.wcharBytes - prev.wcharBytes);
    this.writeBytes += write;
    this.readBytes += read;
    this.wcharBytes += wchar;
    this.rcharBytes += positive(snapshot.rcharBytes - prev.rcharBytes);
    const extraProcesses = snapshot.nprocs - this.baseline.nprocs;
    const extraThreads = snapshot.nthreads - this.baseline.nthreads;
    this.peakExtraProcesses = Math.max(this.peakExtraProcesses, extraProcesses);
    this.peakExtraThreads = Math.max(this.peakExtraThreads, extraThreads);

    if (this.target === undefined) return;
    const measured: Record<RampMetric, number> = {
      rssDeltaBytes: rssDelta,
      cpuPercent: cpu,
      writeBytesPerSecond: write / dtSeconds,
      readBytesPerSecond: read / dtSeconds,
      wcharBytesPerSecond: wchar / dtSeconds,
      extraProcesses,
      extraThreads,
    };
    if (measured[this.target.metric] >= RAMP_FRACTION * this.target.value) {
      this.firstAtTargetNs ??= snapshot.timeNs;
      this.lastAtTargetNs = snapshot.timeNs;
    }
  }

  /**
   * Raises the peak RSS delta to what the kernel's high-water mark (VmHWM, reset at the
   * baseline) shows: a peak between two snapshots is not missed.
   */
  notePeakRss(peakRssBytes: number): void {
    this.peakRssDelta = Math.max(this.peakRssDelta, peakRssBytes - this.baseline.rssBytes);
    if (this.target?.metric === 'rssDeltaBytes' && this.firstAtTargetNs === undefined) {
      // Reached between snapshots: the ramp is known only to the next snapshot.
      if (peakRssBytes - this.baseline.rssBytes >= RAMP_FRACTION * this.target.value) {
        this.firstAtTargetNs = this.last.timeNs;
        this.lastAtTargetNs = this.last.timeNs;
      }
    }
  }

  summary(): TrackerSummary {
    const durationSeconds = Number(this.last.timeNs - this.baseline.timeNs) / 1e9;
    const rate = (bytes: number): number => (durationSeconds > 0 ? bytes / durationSeconds : 0);
    const msSinceBaseline = (ns: bigint | undefined): number | undefined =>
      ns === undefined ? undefined : Number(ns - this.baseline.timeNs) / 1e6;
    const reachedAtMs = msSinceBaseline(this.firstAtTargetNs);
    const holdMs =
      this.firstAtTargetNs === undefined || this.lastAtTargetNs === undefined
        ? 0
        : Number(this.lastAtTargetNs - this.firstAtTargetNs) / 1e6;
    return {
      achieved: {
        peakRssDeltaBytes: Math.max(0, this.peakRssDelta),
        meanRssDeltaBytes: this.samples > 0 ? this.rssDeltaSum / this.samples : 0,
        meanCpuPercent: durationSeconds > 0 ? (this.cpuSeconds / durationSeconds) * 100 : 0,
        peakCpuPercent: this.peakCpu,
        writeBytesPerSecond: rate(this.writeBytes),
        readBytesPerSecond: rate(this.readBytes),
        netBytesPerSecond: 0,
        rampMs: Math.round(reachedAtMs ?? 0),
        holdMs: Math.round(holdMs),
      },
      samples: this.samples,
      durationMs: durationSeconds * 1000,
      peakExtraProcesses: this.peakExtraProcesses,
      peakExtraThreads: this.peakExtraThreads,
      wcharBytesPerSecond: rate(this.wcharBytes),
      rcharBytesPerSecond: rate(this.rcharBytes),
      reachedAtMs,
    };
  }
}

/** Sums the snapshots of several trees (the roots of one injection) into one. */
export function sumSnapshots(snapshots: readonly ProcessTreeSnapshot[]): ProcessTreeSnapshot | undefined {
  const first = snapshots[0];
  if (first === undefined) return undefined;
  if (snapshots.length === 1) return first;
  const sum: ProcessTreeSnapshot = { ...first, pids: [...first.pids] };
  for (const s of snapshots.slice(1)) {
    if (s.timeNs > sum.timeNs) sum.timeNs = s.timeNs;
    sum.pids.push(...s.pids);
    sum.pssBytes += s.pssBytes;
    sum.rssBytes += s.rssBytes;
    sum.swapBytes += s.swapBytes;
    sum.vmemBytes += s.vmemBytes;
    sum.rcharBytes += s.rcharBytes;
    sum.wcharBytes += s.wcharBytes;
    sum.readBytes += s.readBytes;
    sum.writeBytes += s.writeBytes;
    sum.utimeSeconds += s.utimeSeconds;
    sum.stimeSeconds += s.stimeSeconds;
    sum.nprocs += s.nprocs;
    sum.nthreads += s.nthreads;
    sum.restrictedPids += s.restrictedPids;
  }
  return sum;
}

function positive(x: number): number {
  return x > 0 ? x : 0;
}
