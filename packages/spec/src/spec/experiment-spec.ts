/**
 * The validated, normalised form of an experiment spec (see docs/spec.md for the YAML
 * it comes from). Every duration is in milliseconds (`…Ms`), every size in bytes, every
 * default applied, so that the plan compiler never looks at units or missing fields.
 */

/** Names of the workload kinds, as written in `kind:`. */
export const WORKLOAD_KINDS = [
  'cpu',
  'memory',
  'matmul',
  'io',
  'network',
  'stall',
  'procs',
  'threads',
] as const;
export type WorkloadKindName = (typeof WORKLOAD_KINDS)[number];

/** Burn CPU: `cores` busy loops at a duty cycle of `loadPercent`. */
export interface CpuWorkloadSpec {
  kind: 'cpu';
  /** Cores to load, (0, 1024]; fractions allowed. */
  cores: number;
  /** Duty cycle per core, percent in (0, 100]. Default 100. */
  loadPercent: number;
}

/** Allocate and touch memory. Exactly one of `bytes` and `fraction` is set. */
export interface MemoryWorkloadSpec {
  kind: 'memory';
  /** Bytes to allocate, >= 1. */
  bytes?: number;
  /** Fraction of the host's MemTotal, (0, 1]. */
  fraction?: number;
  /** Time to ramp up to the target, ms. Default 0 (at once). */
  rampMs: number;
  /** Time to hold the target after the ramp, ms. Default 0 (until the injection ends). */
  holdMs: number;
}

/** The seeds' matrix-multiply loop. */
export interface MatmulWorkloadSpec {
  kind: 'matmul';
  /** Square matrix sizes, one drawn per run; each in [1, 8192]. */
  sizes: number[];
  /** Matrices created per run, [1, 64]. Default 3. */
  matrices: number;
  /** Dot products per run, [1, 10000]. Default 5. */
  dots: number;
}

/** Disk I/O at a rate; at least one of the rates is above 0. */
export interface IoWorkloadSpec {
  kind: 'io';
  /** Bytes written per second. Default 0. */
  writeBytesPerSecond: number;
  /** Bytes read per second. Default 0. */
  readBytesPerSecond: number;
  /** Scratch file size, bytes, >= 4096. Default 64 MiB. */
  fileSizeBytes: number;
  /** fsync after each write chunk. Default false. */
  fsync: boolean;
  /** Scratch directory; empty = the agent's work directory. Default empty. */
  directory: string;
}

/** Network traffic at a rate. */
export interface NetworkWorkloadSpec {
  kind: 'network';
  /** Bytes per second, >= 1. */
  bytesPerSecond: number;
  /** `host:port` of a sink; empty = a loopback sink on the agent. Default empty. */
  peer: string;
}

/** Extra sleep between cycles, no work (the seeds' sleep anomaly). */
export interface StallWorkloadSpec {
  kind: 'stall';
  /** Extra sleep, ms, (0, 1h]. */
  extraMs: number;
}

/** Bursts of short-lived processes or threads. */
export interface BurstWorkloadSpec {
  kind: 'procs' | 'threads';
  /** How many at once, [1, 10000]. */
  count: number;
  /** Lifetime of each, ms, [1ms, 1h]. Default 1s. */
  lifetimeMs: number;
}

export type WorkloadSpec =
  | CpuWorkloadSpec
  | MemoryWorkloadSpec
  | MatmulWorkloadSpec
  | IoWorkloadSpec
  | NetworkWorkloadSpec
  | StallWorkloadSpec
  | BurstWorkloadSpec;

/** One named anomaly of a catalog (random and scheduled modes). */
export interface AnomalySpec {
  /** Catalog name; the agent's state while it runs is `working_anomaly_<name>`. */
  name: string;
  /** What runs; a catalog `stall:` entry becomes a `stall` workload. */
  workload: WorkloadSpec;
  /**
   * How long one occurrence lasts, ms. Default: for a stall, `baseline.sleep + extra`
   * (the seed's longer sleep); otherwise one nominal baseline cycle.
   */
  durationMs: number;
  /** Relative probability of being picked in random mode, > 0. Default 1. */
  weight: number;
  /** Whether the anomaly takes the baseline's place while it runs. */
  replacesBaseline: boolean;
}

/** Per-cycle random anomalies (the seeds' `1 in 50` loop). */
export interface RandomAnomaliesSpec {
  mode: 'random';
  /** Probability that a cycle is anomalous, (0, 1]. */
  chance: number;
  catalog: AnomalySpec[];
}

/** An injection that fills (part of) a phase. */
export interface PhaseInjectionSpec {
  /** Anomaly type; default the phase name. */
  name: string;
  workload: WorkloadSpec;
  /** Start within the phase, ms. Default 0. */
  offsetMs: number;
  /** Length, ms; offset + duration never exceeds the phase. Default: to the phase end. */
  durationMs: number;
  replacesBaseline: boolean;
}

export interface PhaseSpec {
  name: string;
  /** Phase offset from T0, ms (the sum of the previous phases' durations). */
  startMs: number;
  durationMs: number;
  injection?: PhaseInjectionSpec;
}

/** Random anomalies drawn inside the phases that have no injection of their own. */
export interface PhasedRandomSpec {
  chance: number;
  catalog: AnomalySpec[];
}

/** Named phases tiling the experiment (the prmon seed's six phases). */
export interface PhasedAnomaliesSpec {
  mode: 'phased';
  phases: PhaseSpec[];
  random?: PhasedRandomSpec;
}

/** One explicit injection of scheduled mode. */
export interface ScheduledInjectionSpec {
  /** Offset from T0, ms; at or after the warm-up. */
  atMs: number;
  /** Catalog name. */
  anomaly: string;
  /** Length, ms; default the catalog entry's duration. */
  durationMs: number;
}

/** Explicit offsets, durations and anomalies. */
export interface ScheduledAnomaliesSpec {
  mode: 'scheduled';
  catalog: AnomalySpec[];
  /** Sorted by `atMs` (stable). */
  schedule: ScheduledInjectionSpec[];
}

/** No anomalies at all: a baseline-only dataset. */
export interface NoAnomaliesSpec {
  mode: 'none';
}

export type AnomaliesSpec =
  RandomAnomaliesSpec | PhasedAnomaliesSpec | ScheduledAnomaliesSpec | NoAnomaliesSpec;

/** How the hosts' injection times relate to each other. */
export type CoordinationSpec =
  | { mode: 'independent' }
  | { mode: 'simultaneous' }
  | {
      mode: 'rolling';
      /** Hosts per wave, >= 1. Default 1. */
      waveSize: number;
      /** Time between waves, ms, > 0. */
      intervalMs: number;
    }
  | {
      mode: 'cascade';
      /** Agent label whose values form the groups, for example `zone`. */
      label: string;
      /** Time between consecutive groups, ms, > 0. */
      delayMs: number;
    };

export interface TargetsSpec {
  /** Labels an agent must all have (equal values). Empty = every agent. */
  selector: Record<string, string>;
  /** Take exactly this many of the matching agents, >= 1. */
  count?: number;
  /** Take this fraction of the matching agents (rounded up), (0, 1]. */
  fraction?: number;
}

export interface BaselineSpec {
  /** Absent: no work, only sleep (idle). */
  workload?: WorkloadSpec;
  /** Sleep after each run, ms, [0, 1h]. Default 1s. */
  sleepMs: number;
  /**
   * Nominal time one run of the workload takes, ms, [0, 1h]. Default 1s with a workload,
   * 0 without. Only random mode uses it (nominal cycle = estimatedWork + sleep).
   */
  estimatedWorkMs: number;
}

export interface ExperimentSpecBody {
  /** Seed of every random choice the compiler makes. Default `metadata.name`. */
  seed: number | string;
  targets: TargetsSpec;
  /** Experiment length, ms, [1s, 168h]. */
  durationMs: number;
  /** Sampling interval, ms, [50ms, 60s]. Default 1s. */
  samplingIntervalMs: number;
  baseline: BaselineSpec;
  /** Initial normal period without anomalies, ms, [0, duration). Default 0. */
  warmupMs: number;
  anomalies: AnomaliesSpec;
  coordination: CoordinationSpec;
  blastRadius: {
    /** Max fraction of the targets anomalous at once, (0, 1]. Default 1. */
    maxConcurrentFraction: number;
    /** What happens to an injection that would exceed the limit. Default `shift`. */
    policy: 'shift' | 'drop';
  };
  /** What the scheduler does when agents do not ack their plans. Default `abort`. */
  onMissingAck: 'abort' | 'continue';
  /** Agents' dead-man timeout, ms, [1s, 1h]; absent = the agent's default. */
  deadManTimeoutMs?: number;
}

/** A validated experiment spec. */
export interface ExperimentSpec {
  apiVersion: 'faultline/v1';
  kind: 'Experiment';
  metadata: {
    /** Lowercase letters, digits and `-`, 1..63 characters, starting and ending alphanumeric. */
    name: string;
    description?: string;
    labels: Record<string, string>;
  };
  spec: ExperimentSpecBody;
}
