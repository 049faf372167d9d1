/**
 * The seed RAM log layout (`timestamp,state,event_type,event_details,ram_usage_mb`), one log
 * per host, rebuilt from the host's samples and the experiment's truth windows. Pure: the
 * only times used are the samples' and the windows' own.
 *
 * Rows of a host's log, in time order:
 * - `SCRIPT_START` at the host's first sample (or at its first workload event if that is
 *   earlier), details `experiment:<id>,host:<host>`;
 * - `WORKLOAD_START` / `WORKLOAD_END` of each injection at the truth window's actual start and
 *   end, state `working_anomaly_<type>`, details `type:<type>,injection:<id>` (END adds
 *   `duration:<seconds>s`); an injection seen in sample labels without any truth window gets
 *   its events from the labels (first labelled sample, first sample after);
 * - `WORKLOAD_START` / `WORKLOAD_END` of the non-anomalous workloads (`working_normal`,
 *   `working_special_prep`, …) at the samples where the state enters and leaves them,
 *   details `type:normal` (END adds the duration);
 * - `SAMPLED_STATE` for every sample: its state, empty details, `ram_usage_mb` the workload
 *   process tree's RSS in MiB (2^20 bytes), or the host's used memory when the sample has no
 *   process tree;
 * - `SCRIPT_END` at the last sample (or last workload event), state `ending_script`,
 *   details `experiment:<id>,host:<host>,samples:<n>`.
 * Events at the same time as a sample come before its `SAMPLED_STATE` row. A workload still
 * running at the last sample has no END row.
 */
import type { Sample, TruthWindow } from '@faultline/protocol';
import type { DatasetColumn, Row } from './dataset-columns.js';

/** The columns of a RAM log file. */
export const RAMLOG_COLUMNS: readonly DatasetColumn[] = [
  { name: 'timestamp', type: 'timestamp', timeText: 'log' },
  { name: 'state', type: 'string' },
  { name: 'event_type', type: 'string' },
  { name: 'event_details', type: 'string' },
  { name: 'ram_usage_mb', type: 'double' },
];

/** The `event_type` values of a RAM log. */
export const RamlogEvent = {
  ScriptStart: 'SCRIPT_START',
  ScriptEnd: 'SCRIPT_END',
  WorkloadStart: 'WORKLOAD_START',
  WorkloadEnd: 'WORKLOAD_END',
  SampledState: 'SAMPLED_STATE',
} as const;
export type RamlogEvent = (typeof RamlogEvent)[keyof typeof RamlogEvent];

const MIB = 1024 * 1024;
const ANOMALY_STATE_PREFIX = 'working_anomaly_';
const WORKING_PREFIX = 'working_';

interface TimedEvent {
  readonly time: bigint;
  readonly state: string;
  readonly type: RamlogEvent;
  readonly details: string;
}

/** `12.345` for 12 345 000 000 ns. */
function seconds(ns: bigint): string {
  return (Number(ns) / 1e9).toFixed(3);
}

function anomalyEvents(windows: readonly TruthWindow[]): TimedEvent[] {
  const events: Array<TimedEvent & { rank: number }> = [];
  for (const w of windows) {
    const type = w.anomalyType || 'anomaly';
    const state = `${ANOMALY_STATE_PREFIX}${type}`;
    const details = `type:${type},injection:${w.injectionId}`;
    events.push({
      time: w.actualStartUnixNano,
      state,
      type: RamlogEvent.WorkloadStart,
      details,
      rank: 1,
    });
    if (w.actualEndUnixNano > 0n) {
      events.push({
        time: w.actualEndUnixNano,
        state,
        type: RamlogEvent.WorkloadEnd,
        details: `${details},duration:${seconds(w.actualEndUnixNano - w.actualStartUnixNano)}s`,
        rank: w.actualEndUnixNano === w.actualStartUnixNano ? 2 : 0,
      });
    }
  }
  // At equal times, injections that end go before those that start, except that a
  // zero-length window starts before it ends. The sort is stable for the rest.
  return events.sort((a, b) => (a.time !== b.time ? (a.time < b.time ? -1 : 1) : a.rank - b.rank));
}

/** The workload type of a non-anomalous working state (`working_normal` → `normal`), else undefined. */
function workloadType(state: string): string | undefined {
  if (!state.startsWith(WORKING_PREFIX) || state.startsWith(ANOMALY_STATE_PREFIX)) return undefined;
  return state.slice(WORKING_PREFIX.length);
}

function ramUsageMb(sample: Sample): number | null {
  const bytes = sample.process?.rssBytes ?? sample.host?.memoryUsedBytes;
  return bytes === undefined || !Number.isFinite(bytes) ? null : bytes / MIB;
}

/**
 * Builds the RAM log of one host from its samples, given in time order. Holds the host's
 * truth events and a few values of state: memory is constant in the number of samples.
 */
export class RamlogHostLog {
  private readonly events: readonly TimedEvent[];
  private readonly truthInjections: ReadonlySet<string>;
  private next = 0;
  private started = false;
  private count = 0;
  private lastTime = 0n;
  private workload: { type: string; state: string; since: bigint } | undefined;
  private labelled: { id: string; type: string; since: bigint } | undefined;

  /**
   * @param hostId the host this log is for
   * @param experimentId the experiment, for the SCRIPT_START/END details
   * @param windows the experiment's truth windows of this host (others are ignored)
   */
  constructor(
    readonly hostId: string,
    readonly experimentId: string,
    windows: readonly TruthWindow[],
  ) {
    const own = windows.filter((w) => w.hostId === hostId);
    this.events = anomalyEvents(own);
    this.truthInjections = new Set(own.map((w) => w.injectionId));
  }

  /** Samples taken so far. */
  get samples(): number {
    return this.count;
  }

  /** The rows due up to and including `sample`, ending with its SAMPLED_STATE row. */
  push(sample: Sample): Row[] {
    const rows: Row[] = [];
    const t = sample.timeUnixNano;
    const state = sample.labels?.state ?? '';
    if (!this.started) {
      this.started = true;
      const first = this.events[0];
      const start = first !== undefined && first.time < t ? first.time : t;
      rows.push([start, state || null, RamlogEvent.ScriptStart, this.scriptDetails(), null]);
    }
    this.drainEvents(t, rows);
    this.labelledEvents(sample, rows);
    this.stateEvents(state, t, rows);
    rows.push([t, state || null, RamlogEvent.SampledState, null, ramUsageMb(sample)]);
    this.count++;
    this.lastTime = t;
    return rows;
  }

  /** The rows after the last sample: truth events still due, then SCRIPT_END. Empty for a host without samples. */
  finish(): Row[] {
    if (!this.started) return [];
    const rows: Row[] = [];
    let end = this.lastTime;
    const last = this.events[this.events.length - 1];
    if (last !== undefined && last.time > end) end = last.time;
    this.drainEvents(end, rows);
    rows.push([
      end,
      'ending_script',
      RamlogEvent.ScriptEnd,
      `${this.scriptDetails()},samples:${this.count}`,
      null,
    ]);
    return rows;
  }

  private scriptDetails(): string {
    return `experiment:${this.experimentId},host:${this.hostId}`;
  }

  private drainEvents(until: bigint, rows: Row[]): void {
    while (this.next < this.events.length && this.events[this.next]!.time <= until) {
      const e = this.events[this.next++]!;
      rows.push([e.time, e.state, e.type, e.details, null]);
    }
  }

  // Injections that left no truth window: their only trace is the sample labels.
  private labelledEvents(sample: Sample, rows: Row[]): void {
    const t = sample.timeUnixNano;
    const id = sample.labels?.injectionId ?? '';
    const current = id !== '' && !this.truthInjections.has(id) ? id : undefined;
    if (this.labelled !== undefined && this.labelled.id !== current) {
      const { id: was, type, since } = this.labelled;
      rows.push([
        t,
        `${ANOMALY_STATE_PREFIX}${type}`,
        RamlogEvent.WorkloadEnd,
        `type:${type},injection:${was},duration:${seconds(t - since)}s`,
        null,
      ]);
      this.labelled = undefined;
    }
    if (current !== undefined && this.labelled === undefined) {
      const type = sample.labels?.anomalyType || 'anomaly';
      this.labelled = { id: current, type, since: t };
      rows.push([
        t,
        `${ANOMALY_STATE_PREFIX}${type}`,
        RamlogEvent.WorkloadStart,
        `type:${type},injection:${current}`,
        null,
      ]);
    }
  }

  private stateEvents(state: string, t: bigint, rows: Row[]): void {
    const type = workloadType(state);
    if (this.workload !== undefined && this.workload.state !== state) {
      const w = this.workload;
      rows.push([
        t,
        w.state,
        RamlogEvent.WorkloadEnd,
        `type:${w.type},duration:${seconds(t - w.since)}s`,
        null,
      ]);
      this.workload = undefined;
    }
    if (type !== undefined && this.workload === undefined) {
      this.workload = { type, state, since: t };
      rows.push([t, state, RamlogEvent.WorkloadStart, `type:${type}`, null]);
    }
  }
}
