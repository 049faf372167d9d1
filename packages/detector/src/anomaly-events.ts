/**
 * Fusion and events: one score per sample from the Isolation Forest score and the forecast
 * bands' verdicts ({@link fuseScores}), and per host an {@link AnomalyEventTracker} that turns
 * the fused scores into anomaly events with hysteresis, so one incident is one event.
 *
 * @example
 * ```ts
 * const tracker = new AnomalyEventTracker({ hostId: 'host-1', detectorId: 'det-0' });
 * const step = tracker.observe({ seq, timeUnixNano, iforestScore: s, bands: verdicts });
 * for (const t of step.transitions) publish(t.event); // opened / updated / closed
 * ```
 *
 * Notes
 * -----
 * The forest's score s(x) ∈ (0, 1] is mapped to [0, 1] with its threshold t (0.5, the
 * scikit-learn `'auto'` offset, by default) sent to 0: f = clamp((s − t) / (1 − t), 0, 1). The
 * bands' part b is the highest band score among the metrics (each 0 inside its band and
 * 1 − 1/d at distance d half-widths outside). With weights w_f and w_b, the fused score is
 *
 *     max(w_f·f, w_b·b)                        (mode 'max', the default: either detector can raise it)
 *     (w_f·f + w_b·b) / (w_f + w_b)            (mode 'mean': both must agree to reach 1)
 *
 * and a detector without an opinion (the forest not trained yet, every band warming up) is
 * left out of the mean.
 */
import { AnomalyEventState, Severity, type AnomalyEvent, type MetricContribution } from '@faultline/protocol';
import { InvalidOptionsError, OutOfOrderSampleError } from './errors.js';
import { BandStatus, type BandVerdict, type MetricBandVerdict } from './forecast-bands.js';
import { checkChoice, checkInteger, checkNumber, checkObject } from './option-checks.js';

/** How the two detectors' parts are combined. */
export type FusionMode = 'max' | 'mean';

/** Options of {@link fuseScores}. */
export interface FusionOptions {
  /** `'max'` or `'mean'` of the weighted parts (see the module notes). Default `'max'`. */
  mode?: FusionMode;
  /** Weight w_f of the Isolation Forest part. Unitless, default 1, range [0, 1]. */
  iforestWeight?: number;
  /** Weight w_b of the forecast bands part. Unitless, default 1, range [0, 1]. */
  bandWeight?: number;
  /**
   * The forest score s(x) that maps to 0: the forest's own threshold (0.5 for
   * `contamination: 'auto'`; pass the fitted offset otherwise). Unitless, default 0.5,
   * range (0, 1).
   */
  iforestThreshold?: number;
}

/** {@link FusionOptions} with defaults applied and validated. */
export interface ResolvedFusionOptions {
  readonly mode: FusionMode;
  readonly iforestWeight: number;
  readonly bandWeight: number;
  readonly iforestThreshold: number;
}

/**
 * Applies defaults and validates; `prefix` is put before field names in messages (the event
 * options pass `fusion.`). At least one weight must be above 0.
 */
export function resolveFusionOptions(raw: FusionOptions = {}, prefix = ''): ResolvedFusionOptions {
  const o = checkObject(raw, prefix === '' ? 'options' : prefix.slice(0, -1));
  const mode = checkChoice<FusionMode>(o.mode, 'max', `${prefix}mode`, ['max', 'mean']);
  const iforestWeight = checkNumber(o.iforestWeight, 1, `${prefix}iforestWeight`, { min: 0, max: 1 });
  const bandWeight = checkNumber(o.bandWeight, 1, `${prefix}bandWeight`, { min: 0, max: 1 });
  if (iforestWeight === 0 && bandWeight === 0) {
    throw new InvalidOptionsError(
      `${prefix}bandWeight`,
      `${prefix}iforestWeight and ${prefix}bandWeight must not both be 0`,
    );
  }
  const iforestThreshold = checkNumber(o.iforestThreshold, 0.5, `${prefix}iforestThreshold`, {
    min: 0,
    max: 1,
    minOpen: true,
    maxOpen: true,
  });
  return Object.freeze({ mode, iforestWeight, bandWeight, iforestThreshold });
}

/** One sample's fused score and its parts. */
export interface FusedScore {
  /** The fused score in [0, 1]. */
  score: number;
  /** The forest part f in [0, 1]; 0 when the forest gave no score. */
  iforestPart: number;
  /** The bands part b in [0, 1]: the highest band score; 0 when no band gave a verdict. */
  bandPart: number;
  /** The highest band severity (SEVERITY_UNSPECIFIED when every metric is inside its band). */
  severity: Severity;
}

/**
 * Fuses the forest score `iforestScore` (s(x) in (0, 1], or undefined/NaN when the forest is
 * not trained yet) with the bands' verdicts of the same sample (see the module notes).
 */
export function fuseScores(
  iforestScore: number | undefined,
  bands: readonly BandVerdict[],
  options: ResolvedFusionOptions,
): FusedScore {
  const hasForest = iforestScore !== undefined && Number.isFinite(iforestScore);
  let iforestPart = 0;
  if (hasForest) {
    const f = (iforestScore - options.iforestThreshold) / (1 - options.iforestThreshold);
    iforestPart = f > 1 ? 1 : f > 0 ? f : 0;
  }
  let bandPart = 0;
  let hasBands = false;
  let severity: Severity = Severity.SEVERITY_UNSPECIFIED;
  for (const v of bands) {
    if (v.status !== BandStatus.Normal && v.status !== BandStatus.Anomaly) continue;
    hasBands = true;
    if (v.score > bandPart) bandPart = v.score;
    if (v.severity > severity) severity = v.severity;
  }
  const wf = options.iforestWeight * iforestPart;
  const wb = options.bandWeight * bandPart;
  let score: number;
  if (options.mode === 'max') {
    score = wf > wb ? wf : wb;
  } else {
    const denominator = (hasForest ? options.iforestWeight : 0) + (hasBands ? options.bandWeight : 0);
    score = denominator > 0 ? (wf + wb) / denominator : 0;
  }
  return { score, iforestPart, bandPart, severity };
}

/** Options of an {@link AnomalyEventTracker}. */
export interface AnomalyEventOptions {
  /** Fused score at or above which a sample is anomalous and may open an event. Default 0.3, range (0, 1]. */
  openThreshold?: number;
  /**
   * Fused score below which a sample counts towards closing an open event; below
   * `openThreshold` (the gap is the hysteresis). Default 0.1 (openThreshold / 2 when that is
   * lower), range [0, openThreshold).
   */
  closeThreshold?: number;
  /** Consecutive anomalous samples needed to open an event. Samples, default 1, range [1, 10_000]. */
  minConsecutive?: number;
  /** Consecutive samples under `closeThreshold` that close an event. Samples, default 5, range [1, 1_000_000]. */
  closeAfter?: number;
  /** How many metrics an event names in `topMetrics`. Default 3, range [0, 1_000]. */
  topMetrics?: number;
  /**
   * An `updated` transition is emitted when an open event's severity rises or its peak score
   * has grown by at least this much since the last transition. Default 0.05, range [0, 1].
   */
  minPeakIncrease?: number;
  /** How the scores are fused; field names in messages are prefixed with `fusion.`. */
  fusion?: FusionOptions;
}

/** {@link AnomalyEventOptions} with defaults applied and validated. */
export interface ResolvedAnomalyEventOptions {
  readonly openThreshold: number;
  readonly closeThreshold: number;
  readonly minConsecutive: number;
  readonly closeAfter: number;
  readonly topMetrics: number;
  readonly minPeakIncrease: number;
  readonly fusion: ResolvedFusionOptions;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field. */
export function resolveAnomalyEventOptions(raw: AnomalyEventOptions = {}): ResolvedAnomalyEventOptions {
  const o = checkObject(raw, 'options');
  const openThreshold = checkNumber(o.openThreshold, 0.3, 'openThreshold', { min: 0, max: 1, minOpen: true });
  const closeThreshold = checkNumber(o.closeThreshold, Math.min(0.1, openThreshold / 2), 'closeThreshold', {
    min: 0,
    max: openThreshold,
    maxOpen: true,
  });
  return Object.freeze({
    openThreshold,
    closeThreshold,
    minConsecutive: checkInteger(o.minConsecutive, 1, 'minConsecutive', 1, 10_000),
    closeAfter: checkInteger(o.closeAfter, 5, 'closeAfter', 1, 1_000_000),
    topMetrics: checkInteger(o.topMetrics, 3, 'topMetrics', 0, 1_000),
    minPeakIncrease: checkNumber(o.minPeakIncrease, 0.05, 'minPeakIncrease', { min: 0, max: 1 }),
    fusion: resolveFusionOptions(checkObject(o.fusion, 'fusion') as FusionOptions, 'fusion.'),
  });
}

/** Who the tracked events belong to. */
export interface AnomalyEventTrackerIdentity {
  hostId: string;
  /** Copied into every event; default ''. */
  experimentId?: string;
  /** The detector replica, copied into every event; default ''. */
  detectorId?: string;
  /** When the agent run whose samples it tracks started (part of the event ids); default 0. */
  agentStartUnixNano?: bigint;
}

/** One scored sample of the tracked host. */
export interface FusionSample {
  /** The sample's sequence number; strictly increasing per host. */
  seq: bigint;
  /** The sample's time, ns since the epoch. */
  timeUnixNano: bigint;
  /** Isolation Forest score s(x) in (0, 1]; undefined or NaN when the forest has none yet. */
  iforestScore?: number;
  /** The bands' verdicts on the sample's metrics (for example {@link MultiMetricBands.observe}'s). */
  bands?: readonly MetricBandVerdict[];
}

/** What happened to an event on a sample. */
export const AnomalyEventTransitionKind = {
  Opened: 'opened',
  Updated: 'updated',
  Closed: 'closed',
} as const;
export type AnomalyEventTransitionKind =
  (typeof AnomalyEventTransitionKind)[keyof typeof AnomalyEventTransitionKind];

/** An event's change, with the event as it stands after it. */
export interface AnomalyEventTransition {
  kind: AnomalyEventTransitionKind;
  event: AnomalyEvent;
  /** The sample that caused the transition. */
  seq: bigint;
  timeUnixNano: bigint;
}

/** The tracker's answer to one sample. */
export interface AnomalyEventStep {
  fused: FusedScore;
  /** The fused score reached `openThreshold`. */
  isAnomaly: boolean;
  /** At most one transition, in the order they happened (several only from {@link AnomalyEventTracker.finish}). */
  transitions: AnomalyEventTransition[];
}

/**
 * The deterministic id of the event of `hostId` opened by sample `openSampleSeq` of the
 * agent run that started at `agentStartUnixNano`: `<host>:<seq>`, or `<host>:<start ms>:<seq>`
 * when the start is known (seqs start over with every start of the agent).
 */
export function anomalyEventId(hostId: string, openSampleSeq: bigint, agentStartUnixNano = 0n): string {
  return `${hostId}:${runTag(agentStartUnixNano)}${openSampleSeq}`;
}

/** `<start ms>:` for a known agent start, '' for 0: the part of output ids that names the run. */
export function runTag(agentStartUnixNano: bigint): string {
  return agentStartUnixNano === 0n ? '' : `${agentStartUnixNano / 1_000_000n}:`;
}

interface MetricAccumulator {
  excess: number;
  distance: number;
  peakDistance: number;
  value: number;
  expected: number;
  lower: number;
  upper: number;
}

const Phase = { Idle: 0, Pending: 1, Open: 2 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/**
 * Turns one host's fused scores into anomaly events.
 *
 * An event opens when the fused score is at or above `openThreshold` for `minConsecutive`
 * consecutive samples; it starts at the first of them (its `startUnixNano` and
 * `openSampleSeq`, hence its id `<host>:<seq>`), while the `opened` transition carries the
 * sample on which it was emitted. It closes after `closeAfter` consecutive samples under
 * `closeThreshold`; it ends at the last sample at or above `closeThreshold`. Scores between
 * the two thresholds keep an open event open, so one noisy incident is one event.
 *
 * An event's `peakScore` is its highest fused score, its `severity` the highest band
 * severity among its samples (LOW when only the forest flagged it), and `topMetrics` the
 * `topMetrics` metrics with the largest share of the summed band excess (distance − 1 beyond
 * the band) over the event (of the summed distance when no metric left its band), each with
 * the value, forecast and band at its farthest point.
 */
export class AnomalyEventTracker {
  readonly options: ResolvedAnomalyEventOptions;
  readonly hostId: string;
  readonly experimentId: string;
  readonly detectorId: string;
  readonly agentStartUnixNano: bigint;
  private lastSeq: bigint | undefined;
  private phase: Phase = Phase.Idle;
  private run = 0;
  private quiet = 0;
  private startSeq = 0n;
  private startTime = 0n;
  private lastActiveTime = 0n;
  private peak = 0;
  private severity: Severity = Severity.SEVERITY_UNSPECIFIED;
  private emittedPeak = 0;
  private emittedSeverity: Severity = Severity.SEVERITY_UNSPECIFIED;
  private readonly metrics = new Map<string, MetricAccumulator>();

  constructor(identity: AnomalyEventTrackerIdentity, options: AnomalyEventOptions = {}) {
    this.options = resolveAnomalyEventOptions(options);
    this.hostId = identity.hostId;
    this.experimentId = identity.experimentId ?? '';
    this.detectorId = identity.detectorId ?? '';
    this.agentStartUnixNano = identity.agentStartUnixNano ?? 0n;
  }

  /** True while an event is open. */
  get isOpen(): boolean {
    return this.phase === Phase.Open;
  }

  /** The open event as it stands, if any. */
  current(): AnomalyEvent | undefined {
    return this.phase === Phase.Open
      ? this.toEvent(AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0n)
      : undefined;
  }

  /**
   * Scores one sample and advances the event state; throws {@link OutOfOrderSampleError} when
   * `sample.seq` is not above the previous one.
   */
  observe(sample: FusionSample): AnomalyEventStep {
    if (this.lastSeq !== undefined && sample.seq <= this.lastSeq) {
      throw new OutOfOrderSampleError(this.hostId, sample.seq, this.lastSeq);
    }
    this.lastSeq = sample.seq;
    const o = this.options;
    const bands = sample.bands ?? [];
    const fused = fuseScores(sample.iforestScore, bands, o.fusion);
    const score = fused.score;
    const isAnomaly = score >= o.openThreshold;
    const transitions: AnomalyEventTransition[] = [];

    if (this.phase === Phase.Open) {
      this.accumulate(score, fused.severity, bands);
      if (score < o.closeThreshold) {
        this.quiet++;
        if (this.quiet >= o.closeAfter) {
          transitions.push(this.close(sample));
        }
      } else {
        this.quiet = 0;
        this.lastActiveTime = sample.timeUnixNano;
        if (
          this.severity > this.emittedSeverity ||
          this.peak >= this.emittedPeak + o.minPeakIncrease + Number.EPSILON
        ) {
          transitions.push(this.transition(AnomalyEventTransitionKind.Updated, sample));
        }
      }
      return { fused, isAnomaly, transitions };
    }

    if (!isAnomaly) {
      this.phase = Phase.Idle;
      return { fused, isAnomaly, transitions };
    }
    if (this.phase === Phase.Idle) {
      this.phase = Phase.Pending;
      this.run = 0;
      this.startSeq = sample.seq;
      this.startTime = sample.timeUnixNano;
      this.peak = 0;
      this.severity = Severity.SEVERITY_UNSPECIFIED;
      this.metrics.clear();
    }
    this.run++;
    this.lastActiveTime = sample.timeUnixNano;
    this.accumulate(score, fused.severity, bands);
    if (this.run >= o.minConsecutive) {
      this.phase = Phase.Open;
      this.quiet = 0;
      transitions.push(this.transition(AnomalyEventTransitionKind.Opened, sample));
    }
    return { fused, isAnomaly, transitions };
  }

  /**
   * Closes the open event, if any, at the end of a stream (it ends at its last active
   * sample); a pending run that has not reached `minConsecutive` is dropped.
   */
  finish(): AnomalyEventTransition[] {
    if (this.phase !== Phase.Open) {
      this.phase = Phase.Idle;
      return [];
    }
    return [this.close({ seq: this.lastSeq ?? 0n, timeUnixNano: this.lastActiveTime })];
  }

  private close(at: { seq: bigint; timeUnixNano: bigint }): AnomalyEventTransition {
    const event = this.toEvent(AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED, this.lastActiveTime);
    this.phase = Phase.Idle;
    this.metrics.clear();
    return { kind: AnomalyEventTransitionKind.Closed, event, seq: at.seq, timeUnixNano: at.timeUnixNano };
  }

  private transition(kind: AnomalyEventTransitionKind, sample: FusionSample): AnomalyEventTransition {
    this.emittedPeak = this.peak;
    this.emittedSeverity = this.severity;
    const event = this.toEvent(AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0n);
    return { kind, event, seq: sample.seq, timeUnixNano: sample.timeUnixNano };
  }

  private accumulate(score: number, severity: Severity, bands: readonly MetricBandVerdict[]): void {
    if (score > this.peak) this.peak = score;
    if (severity > this.severity) this.severity = severity;
    if (this.options.topMetrics === 0) return;
    for (const v of bands) {
      if (v.status !== BandStatus.Normal && v.status !== BandStatus.Anomaly) continue;
      let acc = this.metrics.get(v.metric);
      if (acc === undefined) {
        acc = { excess: 0, distance: 0, peakDistance: -1, value: 0, expected: 0, lower: 0, upper: 0 };
        this.metrics.set(v.metric, acc);
      }
      acc.distance += v.distance;
      if (v.distance > 1) acc.excess += v.distance - 1;
      if (v.distance > acc.peakDistance) {
        acc.peakDistance = v.distance;
        acc.value = v.value;
        acc.expected = v.expected;
        acc.lower = v.lower;
        acc.upper = v.upper;
      }
    }
  }

  private topContributions(): MetricContribution[] {
    const k = this.options.topMetrics;
    if (k === 0 || this.metrics.size === 0) return [];
    let totalExcess = 0;
    let totalDistance = 0;
    for (const acc of this.metrics.values()) {
      totalExcess += acc.excess;
      totalDistance += acc.distance;
    }
    const byExcess = totalExcess > 0;
    const total = byExcess ? totalExcess : totalDistance;
    if (!(total > 0)) return [];
    const ranked: MetricContribution[] = [];
    for (const [metric, acc] of this.metrics) {
      const part = byExcess ? acc.excess : acc.distance;
      if (part <= 0) continue;
      ranked.push({
        metric,
        value: acc.value,
        expected: acc.expected,
        lower: acc.lower,
        upper: acc.upper,
        contribution: part / total,
      });
    }
    ranked.sort(
      (a, b) => b.contribution - a.contribution || (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0),
    );
    return ranked.slice(0, k);
  }

  private toEvent(state: AnomalyEventState, endUnixNano: bigint): AnomalyEvent {
    return {
      eventId: anomalyEventId(this.hostId, this.startSeq, this.agentStartUnixNano),
      hostId: this.hostId,
      experimentId: this.experimentId,
      state,
      startUnixNano: this.startTime,
      endUnixNano,
      peakScore: this.peak,
      severity: this.severity === Severity.SEVERITY_UNSPECIFIED ? Severity.SEVERITY_LOW : this.severity,
      topMetrics: this.topContributions(),
      detectorId: this.detectorId,
      openSampleSeq: this.startSeq,
    };
  }
}
