/**
 * The detector's per-host pipeline, pure: feature extraction → training window → robust
 * scaling + Isolation Forest, per-metric forecast bands, fusion, and the anomaly event
 * tracker with hysteresis. The stream runner keeps one {@link HostDetector} per host it owns
 * and checkpoints it with {@link HostDetector.snapshot}; nothing here does I/O or reads a
 * clock: every time is a sample's own timestamp.
 *
 * @example
 * ```ts
 * const detector = new HostDetector('host-1', { training: { samples: 120 } }, { detectorId: 'det-0' });
 * for (const sample of samples) {
 *   const result = detector.score(sample); // undefined when the sample was already scored
 *   if (result === undefined) continue;
 *   publishScore(result.score);
 *   for (const t of result.transitions) publishEvent(t);
 * }
 * const saved = JSON.stringify(detector.snapshot());
 * const again = HostDetector.restore(JSON.parse(saved), options, { detectorId: 'det-1' });
 * ```
 *
 * Training
 * --------
 * The forest is fitted on the host's training window:
 * - when the samples carry an experiment whose current phase is a warm-up phase
 *   (`training.warmupPhases`, by default `warmup` as the plan compiler names it, and
 *   `baseline`/`baseline1` of phased plans), the window is that warm-up: the vectors of those
 *   samples, fitted as soon as the first sample of the experiment outside them arrives. A new
 *   experiment with a warm-up collects a new window (the old model keeps scoring meanwhile);
 * - otherwise the window is the host's first `training.samples` feature vectors.
 *
 * Samples labelled with an injection never enter a training window. A window longer than
 * `training.maxSamples` keeps its latest vectors; one shorter than `training.minSamples` at
 * the end of a warm-up keeps collecting until it holds `training.samples`.
 *
 * After that, every `training.retrainEverySamples` scored samples (plus a per-host offset of
 * up to a quarter of that, so that hosts started together do not all refit at once) the
 * scaler and forest are refitted on the last `training.retrainWindow` vectors the detector did
 * not flag (neither anomalous nor inside an open event), so the model follows slow drift
 * without learning the incidents. With `contamination: 'auto'` the forest's threshold is 0.5 and scores reach the
 * fusion as they are; a contamination fraction gives each fit its own threshold t = −offset,
 * and scores are mapped ({@link mapForestScore}) so that t lands on the fusion's
 * `iforestThreshold`, so one fusion setting serves every fitted model.
 *
 * Scores
 * ------
 * Every sample gets a `Score`: its fused score, the forest's s(x) (0 until the host's first
 * model is fitted), the bands' score (0 while they warm up) and the highest band severity.
 */
import { Sample, Severity, type AnomalyEvent, type SampleLabels, type Score } from '@faultline/protocol';

import {
  AnomalyEventTracker,
  resolveAnomalyEventOptions,
  type AnomalyEventOptions,
  type AnomalyEventStep,
  type AnomalyEventTransition,
  type ResolvedAnomalyEventOptions,
} from '../anomaly-events.js';
import {
  InvalidOptionsError,
  isDetectorError,
  MalformedCheckpointError,
  type DetectorError,
} from '../errors.js';
import {
  FeatureExtractor,
  RobustScaler,
  resolveFeatureExtractorOptions,
  resolveRobustScalerOptions,
  type FeatureExtractorOptions,
  type ResolvedFeatureExtractorOptions,
  type ResolvedRobustScalerOptions,
  type RobustScalerOptions,
} from '../features.js';
import {
  BandForecaster,
  BandStatus,
  createMetricVerdict,
  resolveForecastBandsOptions,
  type BandForecasterState,
  type ForecastBandsOptions,
  type MetricBandVerdict,
  type ResolvedForecastBandsOptions,
} from '../forecast-bands.js';
import {
  IsolationForest,
  resolveIsolationForestOptions,
  type IsolationForestOptions,
  type ResolvedIsolationForestOptions,
} from '../isolation-forest.js';
import { matrixFromData } from '../matrix.js';
import { checkInteger, checkObject, describeValue } from '../option-checks.js';

/** How the training window is chosen and how often the model is refitted. */
export interface TrainingOptions {
  /**
   * Feature vectors in the training window of a host whose samples carry no experiment
   * warm-up: its first `samples` vectors. Samples, default 120, range [8, 100000].
   */
  samples?: number;
  /**
   * Phase labels that mark an experiment's warm-up window. Non-empty strings; default
   * `['warmup', 'baseline', 'baseline1']`.
   */
  warmupPhases?: readonly string[];
  /**
   * Fewest vectors a window may be fitted on (a shorter warm-up keeps collecting up to
   * `samples`; a retrain waits for this many unflagged vectors). Samples, default 32, range
   * [8, samples].
   */
  minSamples?: number;
  /** Most vectors kept from a long warm-up (the latest). Samples, default 1024, range [samples, 100000]. */
  maxSamples?: number;
  /**
   * Scored samples between refits on the unflagged window; 0 never refits. Default 3600 (an
   * hour at the agent's default 1 s interval; a refit costs about 5 ms), range [0, 10000000].
   */
  retrainEverySamples?: number;
  /**
   * Length of the sliding window of unflagged vectors refits use. Samples, default 256 (the
   * rows one tree draws with `maxSamples: 'auto'`), range [minSamples, 100000].
   */
  retrainWindow?: number;
}

/** Options of a {@link HostDetector}; every field is optional. */
export interface HostDetectorOptions {
  /** Which metrics become features, rolling statistics, deltas: see {@link FeatureExtractorOptions}. */
  features?: FeatureExtractorOptions;
  /** Scaling fitted with the forest on the training window: see {@link RobustScalerOptions}. */
  scaler?: RobustScalerOptions;
  /** The forest: see {@link IsolationForestOptions} (`nEstimators`, `contamination`, `seed`, …). */
  forest?: IsolationForestOptions;
  /** One forecast band per base feature: see {@link ForecastBandsOptions}. */
  bands?: ForecastBandsOptions;
  /**
   * Band options of single metrics, by base feature name (`host.procs_running`,
   * `host.cpu_user_seconds_total:rate`), merged over `bands`. Default
   * {@link DEFAULT_BAND_OVERRIDES}: counts of processes, threads and file handles get a band
   * never narrower than one unit (`minStd: 1`), since a series that sits on one integer for a
   * while otherwise gets a band of nearly zero width and flags every ±1; the process tree's
   * memory, CPU and I/O get a floor at their measurement noise for the same reason.
   */
  bandOverrides?: Readonly<Record<string, ForecastBandsOptions>>;
  /** Fusion thresholds and hysteresis of the events: see {@link AnomalyEventOptions}. */
  events?: AnomalyEventOptions;
  training?: TrainingOptions;
}

/** {@link TrainingOptions} with defaults applied and validated. */
export interface ResolvedTrainingOptions {
  readonly samples: number;
  readonly warmupPhases: readonly string[];
  readonly minSamples: number;
  readonly maxSamples: number;
  readonly retrainEverySamples: number;
  readonly retrainWindow: number;
}

/** {@link HostDetectorOptions} with defaults applied and validated. */
export interface ResolvedHostDetectorOptions {
  readonly features: ResolvedFeatureExtractorOptions;
  readonly scaler: ResolvedRobustScalerOptions;
  readonly forest: ResolvedIsolationForestOptions;
  readonly bands: ResolvedForecastBandsOptions;
  /** Resolved band options of the metrics that have overrides. */
  readonly bandOverrides: Readonly<Record<string, ResolvedForecastBandsOptions>>;
  readonly events: ResolvedAnomalyEventOptions;
  readonly training: ResolvedTrainingOptions;
}

const MIB = 1024 * 1024;

/**
 * Default σ floors of single metrics (see {@link HostDetectorOptions.bandOverrides}): a metric
 * that sits still through the warm-up would otherwise get a band of nearly zero width, and
 * every later wiggle would be CRITICAL.
 * - Counts (processes, threads, file handles): one unit.
 * - The process tree's memory: 4 MiB, the size of the heap growth and collection steps of an
 *   idle Node.js or Python process.
 * - Its CPU: 10 percentage points, and 0.1 s/s of user or system time: with the kernel's
 *   10 ms clock ticks, one tick more or less in a 50 ms sample is 20 points.
 * - Its I/O: 256 KiB/s, the bursts of a process writing its logs.
 */
export const DEFAULT_BAND_OVERRIDES: Readonly<Record<string, ForecastBandsOptions>> = Object.freeze({
  'host.procs_running': { minStd: 1 },
  'host.procs_blocked': { minStd: 1 },
  'host.procs_total': { minStd: 1 },
  'host.open_fds': { minStd: 1 },
  'process.nprocs': { minStd: 1 },
  'process.nthreads': { minStd: 1 },
  'process.rss_bytes': { minStd: 4 * MIB },
  'process.pss_bytes': { minStd: 4 * MIB },
  'process.swap_bytes': { minStd: 4 * MIB },
  'process.cpu_percent': { minStd: 10 },
  'process.utime_seconds_total:rate': { minStd: 0.1 },
  'process.stime_seconds_total:rate': { minStd: 0.1 },
  'process.read_bytes_total:rate': { minStd: MIB / 4 },
  'process.write_bytes_total:rate': { minStd: MIB / 4 },
  'process.rchar_bytes_total:rate': { minStd: MIB / 4 },
  'process.wchar_bytes_total:rate': { minStd: MIB / 4 },
});

const HOST_DETECTOR_KEYS = ['features', 'scaler', 'forest', 'bands', 'bandOverrides', 'events', 'training'];
const TRAINING_KEYS = [
  'samples',
  'warmupPhases',
  'minSamples',
  'maxSamples',
  'retrainEverySamples',
  'retrainWindow',
];
const resolvedHostOptions = new WeakSet<object>();

/** Runs `resolve`, prefixing the field named by an {@link InvalidOptionsError} with `prefix.`. */
function nested<T>(prefix: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (!(err instanceof InvalidOptionsError)) throw err;
    const field = `${prefix}.${err.field}`;
    const message = err.message.startsWith(err.field)
      ? `${prefix}.${err.message}`
      : `${prefix}: ${err.message}`;
    throw new InvalidOptionsError(field, message);
  }
}

function rejectUnknown(obj: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown ${where} option ${JSON.stringify(key)} (expected one of ${known.join(', ')})`,
      );
    }
  }
}

/** Applies the defaults of {@link TrainingOptions} and validates; field names carry `training.`. */
export function resolveTrainingOptions(raw: TrainingOptions = {}): ResolvedTrainingOptions {
  const o = checkObject(raw, 'training');
  rejectUnknown(o, TRAINING_KEYS, 'training');
  const samples = checkInteger(o['samples'], 120, 'training.samples', 8, 100_000);
  const phases = o['warmupPhases'] ?? ['warmup', 'baseline', 'baseline1'];
  if (
    !Array.isArray(phases) ||
    !phases.every((p: unknown) => typeof p === 'string' && p !== '') ||
    phases.length === 0
  ) {
    throw new InvalidOptionsError(
      'training.warmupPhases',
      `training.warmupPhases must be a non-empty array of non-empty strings, got ${describeValue(phases)}`,
    );
  }
  const minSamples = checkInteger(o['minSamples'], 32, 'training.minSamples', 8, samples);
  const maxSamples = checkInteger(
    o['maxSamples'],
    Math.max(1024, samples),
    'training.maxSamples',
    samples,
    100_000,
  );
  const retrainEverySamples = checkInteger(
    o['retrainEverySamples'],
    3600,
    'training.retrainEverySamples',
    0,
    10_000_000,
  );
  const retrainWindow = checkInteger(
    o['retrainWindow'],
    Math.max(256, minSamples),
    'training.retrainWindow',
    minSamples,
    100_000,
  );
  return Object.freeze({
    samples,
    warmupPhases: Object.freeze([...(phases as string[])]),
    minSamples,
    maxSamples,
    retrainEverySamples,
    retrainWindow,
  });
}

function resolveBandOverrides(o: Record<string, unknown>): Record<string, ResolvedForecastBandsOptions> {
  const base = checkObject(o['bands'], 'bands');
  const overrides = checkObject(o['bandOverrides'] ?? DEFAULT_BAND_OVERRIDES, 'bandOverrides');
  const out: Record<string, ResolvedForecastBandsOptions> = {};
  for (const [metric, raw] of Object.entries(overrides)) {
    const field = `bandOverrides[${JSON.stringify(metric)}]`;
    const own = checkObject(raw, field);
    out[metric] = nested(field, () =>
      resolveForecastBandsOptions({ ...base, ...own } as ForecastBandsOptions),
    );
  }
  return Object.freeze(out);
}

/**
 * Applies the defaults of {@link HostDetectorOptions} and validates every part; throws
 * {@link InvalidOptionsError} naming the field with its part, e.g.
 * `forest.nEstimators must be an integer in [1, 10000], got 0`.
 */
export function resolveHostDetectorOptions(raw: HostDetectorOptions = {}): ResolvedHostDetectorOptions {
  if (resolvedHostOptions.has(raw)) return raw as unknown as ResolvedHostDetectorOptions;
  const o = checkObject(raw, 'options');
  rejectUnknown(o, HOST_DETECTOR_KEYS, 'HostDetector');
  const resolved: ResolvedHostDetectorOptions = Object.freeze({
    features: nested('features', () =>
      resolveFeatureExtractorOptions(checkObject(o['features'], 'features') as FeatureExtractorOptions),
    ),
    scaler: nested('scaler', () =>
      resolveRobustScalerOptions(checkObject(o['scaler'], 'scaler') as RobustScalerOptions),
    ),
    forest: nested('forest', () =>
      resolveIsolationForestOptions(checkObject(o['forest'], 'forest') as IsolationForestOptions),
    ),
    bands: nested('bands', () =>
      resolveForecastBandsOptions(checkObject(o['bands'], 'bands') as ForecastBandsOptions),
    ),
    bandOverrides: resolveBandOverrides(o),
    events: nested('events', () =>
      resolveAnomalyEventOptions(checkObject(o['events'], 'events') as AnomalyEventOptions),
    ),
    training: resolveTrainingOptions(checkObject(o['training'], 'training') as TrainingOptions),
  });
  resolvedHostOptions.add(resolved);
  return resolved;
}

/** Who a host detector works for: copied into its events. */
export interface HostDetectorIdentity {
  /** The detector replica, copied into every event; default ''. */
  detectorId?: string;
}

/** Why a model was fitted. */
export const ModelFitReason = {
  /** On the training window (the first vectors, or an experiment's warm-up). */
  Warmup: 'warmup',
  /** On the sliding window of unflagged vectors. */
  Retrain: 'retrain',
} as const;
export type ModelFitReason = (typeof ModelFitReason)[keyof typeof ModelFitReason];

/** The detector's answer to one sample. */
export interface HostScoreResult {
  /** The sample's score, ready for a `ScoreBatch`. */
  score: Score;
  /** Event transitions this sample caused (opened / updated / closed), at most one. */
  transitions: AnomalyEventTransition[];
  /** Set when a model was fitted right after this sample. */
  fitted?: ModelFitReason;
}

/**
 * What {@link HostDetector.scoreAll} gives for one sample: the result, undefined where
 * {@link HostDetector.score} returns undefined, or the detector error it would throw.
 */
export type HostScoreOutcome = HostScoreResult | DetectorError | undefined;

/** Most samples {@link HostDetector.scoreAll} extracts and scores as one batch. */
const BATCH_SAMPLES = 64;

const BatchKind = { Skipped: 0, Failed: 1, NoVector: 2, Vector: 3 } as const;

/** Working memory of one batch of scoreAll; see {@link batchScratch}. */
interface BatchScratch {
  readonly dimension: number;
  /** The batch's feature vectors, row-major, and a view of each. */
  readonly vectors: Float64Array;
  readonly views: readonly Float64Array[];
  /** Per sample, a {@link BatchKind}. */
  readonly kinds: Uint8Array;
  /** The scaled vectors the forest scores, row-major. */
  readonly scaled: Float64Array;
  /** Per sample, its row in `scaled`, or −1. */
  readonly forestRow: Int32Array;
}

let scratch: BatchScratch | undefined;

/**
 * The batch working memory for vectors of `dimension` values. One for every detector of the
 * thread, since scoreAll runs to completion without yielding: it stays in the CPU caches,
 * where per-host buffers would be one more thing to fetch per host.
 */
function batchScratch(dimension: number): BatchScratch {
  if (scratch?.dimension === dimension) return scratch;
  const vectors = new Float64Array(BATCH_SAMPLES * dimension);
  scratch = {
    dimension,
    vectors,
    views: Array.from({ length: BATCH_SAMPLES }, (_, k) =>
      vectors.subarray(k * dimension, (k + 1) * dimension),
    ),
    kinds: new Uint8Array(BATCH_SAMPLES),
    scaled: new Float64Array(BATCH_SAMPLES * dimension),
    forestRow: new Int32Array(BATCH_SAMPLES),
  };
  return scratch;
}

const TrainingMode = { FirstN: 'first-n', Experiment: 'experiment', Done: 'done' } as const;
type TrainingMode = (typeof TrainingMode)[keyof typeof TrainingMode];

/** Rows of a fixed width in a ring of fixed capacity; the oldest is overwritten. */
class RowRing {
  readonly data: Float64Array;
  count = 0;
  next = 0;
  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    this.data = new Float64Array(capacity * width);
  }

  push(row: ArrayLike<number>): void {
    this.data.set(row, this.next * this.width);
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.count < this.capacity) this.count++;
  }

  clear(): void {
    this.count = 0;
    this.next = 0;
  }

  /** The rows, oldest first, as one new row-major array. */
  ordered(): Float64Array {
    const w = this.width;
    const out = new Float64Array(this.count * w);
    const first = this.count < this.capacity ? 0 : this.next;
    for (let i = 0; i < this.count; i++) {
      const r = (first + i) % this.capacity;
      out.set(this.data.subarray(r * w, (r + 1) * w), i * w);
    }
    return out;
  }

  /** Replaces the contents with `rows` (oldest first; only the last `capacity` are kept). */
  load(rows: Float64Array): void {
    this.clear();
    const n = rows.length / this.width;
    for (let i = Math.max(0, n - this.capacity); i < n; i++) {
      this.push(rows.subarray(i * this.width, (i + 1) * this.width));
    }
  }
}

interface FittedModel {
  readonly scaler: RobustScaler;
  readonly forest: IsolationForest;
  /** The raw rows it was fitted on (row-major), kept for checkpoints. */
  readonly rows: Float64Array;
  /** The fitted forest threshold (−offset) with a contamination fraction; undefined for 'auto'. */
  readonly threshold: number | undefined;
  readonly fittedAtUnixNano: bigint;
}

/** One logged input of the event tracker, kept while an event is pending or open (see snapshot). */
interface TrackerInput {
  seq: bigint;
  timeUnixNano: bigint;
  iforestScore: number | undefined;
  bands: MetricBandVerdict[];
}

/** A {@link HostDetector}'s state as JSON-safe data, for checkpoints; see {@link HostDetector.snapshot}. */
export interface HostDetectorState {
  readonly format: 'faultline.host-detector';
  readonly version: 1;
  readonly hostId: string;
  /** Sequence number of the last sample scored (decimal). */
  readonly lastSeq: string;
  /**
   * `agentStartUnixNano` of the last sample scored (decimal): seqs start over when the agent
   * does. Absent in checkpoints written before it existed (then 0).
   */
  readonly lastAgentStart?: string;
  /** Samples scored so far. */
  readonly scored: number;
  /** The last samples (protobuf `Sample`, base64), replayed into a fresh feature extractor. */
  readonly recentSamples: readonly string[];
  /** One forecaster state per base feature, in feature order. */
  readonly bands: readonly BandForecasterState[];
  readonly training: {
    readonly mode: TrainingMode;
    readonly experimentId: string;
    /** Collected rows (little-endian float64, base64), oldest first. */
    readonly rows: string;
  };
  /** The current model's training rows; the forest and scaler are refitted from them (same seed, same bits). */
  readonly model?: { readonly rows: string; readonly fittedAtUnixNano: string; readonly fits: number };
  readonly retrain: { readonly rows: string; readonly sinceFit: number };
  readonly tracker: {
    readonly experimentId: string;
    /** The tracker's inputs since it was last idle, replayed on restore. */
    readonly inputs: readonly SerializedTrackerInput[];
  };
}

interface SerializedTrackerInput {
  readonly seq: string;
  readonly t: string;
  /** The forest score, null when there was none. */
  readonly s: number | null;
  /** Per metric: status, value, expected, lower, upper, distance, score, severity (null for non-finite). */
  readonly b: ReadonlyArray<readonly [string, ...(number | null)[]]>;
}

/** The longest run of tracker inputs kept for a checkpoint; a longer open event keeps its latest. */
const MAX_TRACKER_INPUTS = 4096;

/**
 * The scoring pipeline of one host (see the module comment). Feed its samples in sequence
 * order; a sample at or below the last scored sequence number of the same agent start
 * (`agentStartUnixNano`) is skipped (a redelivery after a failover), so outputs are never
 * produced twice from one detector state. A sample of a later start is scored whatever its
 * seq (the agent restarted; any open event is closed first).
 */
export class HostDetector {
  readonly options: ResolvedHostDetectorOptions;
  readonly hostId: string;
  readonly detectorId: string;
  /** Names of the base features, which also name the bands' metrics. */
  readonly metricNames: readonly string[];
  readonly #extractor: FeatureExtractor;
  readonly #dimension: number;
  readonly #recent: Sample[] = [];
  readonly #recentLimit: number;
  #forecasters: BandForecaster[];
  readonly #verdicts: MetricBandVerdict[];
  #trainingMode: TrainingMode = TrainingMode.FirstN;
  #trainingExperiment = '';
  readonly #training: RowRing;
  readonly #retrain: RowRing;
  #sinceFit = 0;
  #fits = 0;
  #model: FittedModel | undefined;
  readonly #scaled: Float64Array;
  /** The vector of the sample {@link score} is scoring. */
  readonly #vector: Float64Array;
  #tracker: AnomalyEventTracker;
  #trackerInputs: TrackerInput[] = [];
  #lastSeq = -1n;
  #lastStart = 0n;
  #scored = 0;

  constructor(hostId: string, options: HostDetectorOptions = {}, identity: HostDetectorIdentity = {}) {
    this.options = resolveHostDetectorOptions(options);
    this.hostId = hostId;
    this.detectorId = identity.detectorId ?? '';
    this.#extractor = new FeatureExtractor(this.options.features);
    this.#dimension = this.#extractor.dimension;
    const m = this.options.features.metrics.length;
    this.metricNames = this.#extractor.featureNames.slice(0, m);
    this.#recentLimit = this.options.features.rollingWindow + 2;
    this.#forecasters = this.metricNames.map((m) => new BandForecaster(this.#bandOptions(m)));
    this.#verdicts = this.metricNames.map((metric) => createMetricVerdict(metric));
    const t = this.options.training;
    this.#training = new RowRing(t.maxSamples, this.#dimension);
    this.#retrain = new RowRing(t.retrainWindow, this.#dimension);
    this.#scaled = new Float64Array(this.#dimension);
    this.#vector = new Float64Array(this.#dimension);
    this.#tracker = this.#newTracker('');
  }

  /** Sequence number of the last sample scored; −1 before the first. */
  get lastSeq(): bigint {
    return this.#lastSeq;
  }

  /** Samples scored so far (this detector and the states it was restored from). */
  get scoredSamples(): number {
    return this.#scored;
  }

  /** Whether a model has been fitted (the forest scores samples). */
  get isFitted(): boolean {
    return this.#model !== undefined;
  }

  /** Sample time the current model was fitted at, ns since the epoch; undefined before the first fit. */
  get modelFittedAtUnixNano(): bigint | undefined {
    return this.#model?.fittedAtUnixNano;
  }

  /** Models fitted so far (warm-up and retrains). */
  get fits(): number {
    return this.#fits;
  }

  /** The open event as it stands, if any. */
  openEvent(): AnomalyEvent | undefined {
    return this.#tracker.current();
  }

  /**
   * Scores the host's next sample (see the module comment). Returns undefined, changing
   * nothing, for a sample of another host or one at or below {@link lastSeq} of the same agent
   * start, or of an earlier start. Throws
   * `MissingMetricError` when the features are configured with `missing: 'error'` and a
   * metric is absent; the state is then unchanged.
   */
  score(sample: Sample): HostScoreResult | undefined {
    if (sample.hostId !== this.hostId || !isAfter(sample, this.#lastStart, this.#lastSeq)) return undefined;
    const vector = this.#vector;
    const produced = this.#extractor.pushInto(sample, vector);
    return this.#scoreExtracted(sample, produced ? vector : undefined, undefined);
  }

  /**
   * Scores the host's next samples in order, with the same results, and leaving the same
   * state, as {@link score} on each in turn: one outcome per sample, undefined where score
   * returns undefined, and the detector error where score throws one (the samples after it
   * are still scored, as they would be one at a time). An error that is not a detector error
   * (a bug) is thrown and leaves the state undefined.
   *
   * Faster than one at a time when the host's model is not in the CPU caches (the usual case
   * with many hosts): the forest walks the samples' vectors together, so that its nodes are
   * fetched once for all of them.
   */
  scoreAll(samples: readonly Sample[]): HostScoreOutcome[] {
    const out = new Array<HostScoreOutcome>(samples.length);
    for (let from = 0; from < samples.length; from += BATCH_SAMPLES) {
      this.#scoreChunk(samples, from, Math.min(samples.length, from + BATCH_SAMPLES), out);
    }
    return out;
  }

  /** {@link scoreAll} of `samples[from, to)`, at most BATCH_SAMPLES of them, into `out`. */
  #scoreChunk(samples: readonly Sample[], from: number, to: number, out: HostScoreOutcome[]): void {
    const d = this.#dimension;
    const batch = batchScratch(d);
    const { vectors, views, kinds, scaled, forestRow } = batch;
    // Features first: they depend on the samples alone, not on what scoring them changes.
    let lastSeq = this.#lastSeq;
    let lastStart = this.#lastStart;
    for (let i = from; i < to; i++) {
      const sample = samples[i] as Sample;
      const k = i - from;
      if (sample.hostId !== this.hostId || !isAfter(sample, lastStart, lastSeq)) {
        kinds[k] = BatchKind.Skipped;
        continue;
      }
      try {
        kinds[k] = this.#extractor.pushInto(sample, vectors, k * d) ? BatchKind.Vector : BatchKind.NoVector;
        lastSeq = sample.seq;
        lastStart = sample.agentStartUnixNano;
      } catch (err) {
        if (!isDetectorError(err)) throw err;
        kinds[k] = BatchKind.Failed;
        out[i] = err;
      }
    }
    // The forest's scores of the vectors under the current model, together. A row with a
    // non-finite value is left to score, which throws for it as it would one at a time.
    const model = this.#model;
    let rows = 0;
    if (model !== undefined) {
      const center = model.scaler.center;
      const scale = model.scaler.scale;
      for (let k = 0; k < to - from; k++) {
        forestRow[k] = -1;
        if (kinds[k] !== BatchKind.Vector) continue;
        let finite = true;
        for (let j = 0; j < d; j++) {
          const v = ((vectors[k * d + j] as number) - (center[j] as number)) / (scale[j] as number);
          scaled[rows * d + j] = v;
          if (v - v !== 0) finite = false;
        }
        if (finite) forestRow[k] = rows++;
      }
    }
    const forestScores =
      rows > 0
        ? (model as FittedModel).forest.scoreSamples(matrixFromData(scaled.subarray(0, rows * d), rows, d))
        : undefined;
    for (let i = from; i < to; i++) {
      const k = i - from;
      const kind = kinds[k];
      if (kind === BatchKind.Skipped) {
        out[i] = undefined;
        continue;
      }
      if (kind === BatchKind.Failed) continue;
      const row = forestRow[k] as number;
      // A model fitted after an earlier sample of the batch scores the rest itself.
      const forest =
        forestScores !== undefined && row >= 0 && this.#model === model
          ? -(forestScores[row] as number)
          : undefined;
      try {
        out[i] = this.#scoreExtracted(
          samples[i] as Sample,
          kind === BatchKind.Vector ? (views[k] as Float64Array) : undefined,
          forest,
        );
      } catch (err) {
        if (!isDetectorError(err)) throw err;
        out[i] = err;
      }
    }
  }

  /**
   * The part of {@link score} after the features: `vector` is the sample's (undefined when it
   * has none), `forestScore` its forest score under the current model if already known.
   */
  #scoreExtracted(
    sample: Sample,
    vector: Float64Array | undefined,
    forestScore: number | undefined,
  ): HostScoreResult {
    // The agent started again and its seqs start over: an event still open ended with its
    // previous run, and the tracker follows the new seqs.
    let ended: AnomalyEventTransition[] = [];
    if (sample.agentStartUnixNano > this.#lastStart) {
      if (this.#lastSeq >= 0n) ended = this.finish();
      this.#lastStart = sample.agentStartUnixNano;
      this.#tracker = this.#newTracker(this.#tracker.experimentId);
    }
    this.#lastSeq = sample.seq;
    this.#scored++;
    this.#remember(sample);
    const labels = sample.labels;
    const experimentId = labels?.experimentId ?? '';
    this.#followExperiment(experimentId, labels);

    let iforestScore: number | undefined;
    let verdicts: MetricBandVerdict[] = [];
    if (vector !== undefined) {
      verdicts = this.#verdicts;
      const forecasters = this.#forecasters;
      for (let j = 0; j < forecasters.length; j++) {
        (forecasters[j] as BandForecaster).update(vector[j] as number, verdicts[j] as MetricBandVerdict);
      }
      const model = this.#model;
      if (model !== undefined) {
        iforestScore =
          forestScore ?? model.forest.anomalyScore(model.scaler.transformRow(vector, this.#scaled));
      }
    }

    const model = this.#model;
    const step = this.#observe({
      seq: sample.seq,
      timeUnixNano: sample.timeUnixNano,
      iforestScore:
        iforestScore === undefined || model?.threshold === undefined
          ? iforestScore
          : mapForestScore(iforestScore, model.threshold, this.options.events.fusion.iforestThreshold),
      bands: verdicts,
    });

    let fitted: ModelFitReason | undefined;
    if (vector !== undefined) fitted = this.#learn(vector, sample, step);

    const score: Score = {
      hostId: this.hostId,
      sampleSeq: sample.seq,
      timeUnixNano: sample.timeUnixNano,
      score: step.fused.score,
      threshold: this.options.events.openThreshold,
      iforestScore: iforestScore ?? 0,
      bandScore: step.fused.bandPart,
      isAnomaly: step.isAnomaly,
      severity: step.fused.severity,
      labels,
    };
    const result: HostScoreResult = {
      score,
      transitions: ended.length > 0 ? [...ended, ...step.transitions] : step.transitions,
    };
    if (fitted !== undefined) result.fitted = fitted;
    return result;
  }

  /**
   * Closes the open event at the end of a stream (it ends at its last active sample); see
   * `AnomalyEventTracker.finish`.
   */
  finish(): AnomalyEventTransition[] {
    this.#trackerInputs = [];
    return this.#tracker.finish();
  }

  /** The whole state as JSON-safe data; {@link restore} continues from it. */
  snapshot(): HostDetectorState {
    const model = this.#model;
    return {
      format: 'faultline.host-detector',
      version: 1,
      hostId: this.hostId,
      lastSeq: this.#lastSeq.toString(),
      lastAgentStart: this.#lastStart.toString(),
      scored: this.#scored,
      recentSamples: this.#recent.map((s) => Buffer.from(Sample.encode(s).finish()).toString('base64')),
      bands: this.#forecasters.map((f) => f.snapshot()),
      training: {
        mode: this.#trainingMode,
        experimentId: this.#trainingExperiment,
        rows: encodeFloat64(this.#training.ordered()),
      },
      ...(model === undefined
        ? {}
        : {
            model: {
              rows: encodeFloat64(model.rows),
              fittedAtUnixNano: model.fittedAtUnixNano.toString(),
              fits: this.#fits,
            },
          }),
      retrain: { rows: encodeFloat64(this.#retrain.ordered()), sinceFit: this.#sinceFit },
      tracker: {
        experimentId: this.#tracker.experimentId,
        inputs: this.#trackerInputs.map(serializeTrackerInput),
      },
    };
  }

  /**
   * A detector that continues from `state` (taken with the same options: the feature
   * dimension and band count must match). Throws {@link MalformedCheckpointError} for a state
   * that is not one or does not fit the options.
   */
  static restore(
    state: unknown,
    options: HostDetectorOptions = {},
    identity: HostDetectorIdentity = {},
  ): HostDetector {
    if (typeof state !== 'object' || state === null) {
      throw new MalformedCheckpointError('', 'expected an object');
    }
    const s = state as HostDetectorState;
    const host = typeof s.hostId === 'string' ? s.hostId : '';
    const bad = (reason: string, cause?: unknown): MalformedCheckpointError =>
      new MalformedCheckpointError(host, reason, cause === undefined ? undefined : { cause });
    if (s.format !== 'faultline.host-detector') throw bad('format must be "faultline.host-detector"');
    if (s.version !== 1) throw bad(`unsupported version ${describeValue(s.version)}`);
    if (host === '') throw bad('hostId is empty');
    const d = new HostDetector(host, options, identity);
    try {
      d.#lastSeq = BigInt(s.lastSeq);
      d.#lastStart = s.lastAgentStart === undefined ? 0n : BigInt(s.lastAgentStart);
      d.#scored = s.scored;
      for (const b64 of s.recentSamples) {
        const sample = Sample.decode(Buffer.from(b64, 'base64'));
        d.#extractor.push(sample);
        d.#remember(sample);
      }
      if (s.bands.length !== d.#forecasters.length) {
        throw bad(`holds ${s.bands.length} band states, the options give ${d.#forecasters.length} metrics`);
      }
      d.#forecasters = s.bands.map((b, j) =>
        BandForecaster.restore(b, d.#bandOptions(d.metricNames[j] as string)),
      );
      if (!Object.values(TrainingMode).includes(s.training.mode)) {
        throw bad(`unknown training mode ${describeValue(s.training.mode)}`);
      }
      d.#trainingMode = s.training.mode;
      d.#trainingExperiment = s.training.experimentId;
      d.#training.load(d.#decodeRows(s.training.rows, bad));
      d.#retrain.load(d.#decodeRows(s.retrain.rows, bad));
      if (s.model !== undefined) {
        const rows = d.#decodeRows(s.model.rows, bad);
        d.#fit(rows, BigInt(s.model.fittedAtUnixNano));
        d.#fits = s.model.fits;
      }
      // After the refit, which resets the count.
      d.#sinceFit = s.retrain.sinceFit;
      d.#tracker = d.#newTracker(s.tracker.experimentId);
      for (const input of s.tracker.inputs) d.#observe(deserializeTrackerInput(input));
    } catch (err) {
      if (err instanceof MalformedCheckpointError) throw err;
      throw bad(err instanceof Error ? err.message : String(err), err);
    }
    return d;
  }

  #decodeRows(b64: string, bad: (reason: string) => MalformedCheckpointError): Float64Array {
    const rows = decodeFloat64(b64);
    if (rows.length % this.#dimension !== 0) {
      throw bad(`a row block holds ${rows.length} values, not a multiple of the ${this.#dimension} features`);
    }
    return rows;
  }

  #bandOptions(metric: string): ResolvedForecastBandsOptions {
    return this.options.bandOverrides[metric] ?? this.options.bands;
  }

  #newTracker(experimentId: string): AnomalyEventTracker {
    return new AnomalyEventTracker(
      { hostId: this.hostId, experimentId, detectorId: this.detectorId, agentStartUnixNano: this.#lastStart },
      this.options.events,
    );
  }

  #remember(sample: Sample): void {
    this.#recent.push(sample);
    if (this.#recent.length > this.#recentLimit) this.#recent.shift();
  }

  /** Starts an experiment's warm-up window, and gives the tracker the experiment once it is idle. */
  #followExperiment(experimentId: string, labels: SampleLabels | undefined): void {
    if (
      experimentId !== this.#tracker.experimentId &&
      !this.#tracker.isOpen &&
      this.#trackerInputs.length === 0
    ) {
      this.#tracker = this.#newTracker(experimentId);
    }
    if (experimentId === '' || experimentId === this.#trainingExperiment) return;
    if (this.options.training.warmupPhases.includes(labels?.phase ?? '')) {
      this.#trainingExperiment = experimentId;
      this.#trainingMode = TrainingMode.Experiment;
      this.#training.clear();
    }
  }

  /** Runs the tracker and keeps its inputs while it is not idle, so a snapshot can replay them. */
  #observe(input: TrackerInput): AnomalyEventStep {
    const step = this.#tracker.observe(input);
    if (!this.#tracker.isOpen && !step.isAnomaly) {
      if (this.#trackerInputs.length > 0) this.#trackerInputs = [];
    } else {
      this.#trackerInputs.push({ ...input, bands: input.bands.map((v) => ({ ...v })) });
      if (this.#trackerInputs.length > MAX_TRACKER_INPUTS) this.#trackerInputs.shift();
    }
    return step;
  }

  /** Training windows and refits after the sample was scored; returns why a model was fitted. */
  #learn(vector: Float64Array, sample: Sample, step: AnomalyEventStep): ModelFitReason | undefined {
    const t = this.options.training;
    const labels = sample.labels;
    const injected = (labels?.injectionId ?? '') !== '';
    if (this.#trainingMode !== TrainingMode.Done) {
      let windowEnds = false;
      if (this.#trainingMode === TrainingMode.Experiment) {
        const inWarmup =
          (labels?.experimentId ?? '') === this.#trainingExperiment &&
          t.warmupPhases.includes(labels?.phase ?? '');
        if (inWarmup) {
          if (!injected) this.#training.push(vector);
        } else if (this.#training.count >= t.minSamples) {
          windowEnds = true;
        } else {
          // Too short a warm-up: keep collecting the host's vectors as if there were none.
          this.#trainingMode = TrainingMode.FirstN;
        }
      }
      if (this.#trainingMode === TrainingMode.FirstN) {
        if (!injected) this.#training.push(vector);
        windowEnds = this.#training.count >= t.samples;
      }
      if (windowEnds) {
        this.#fit(this.#training.ordered(), sample.timeUnixNano);
        this.#training.clear();
        this.#trainingMode = TrainingMode.Done;
        return ModelFitReason.Warmup;
      }
    }
    if (this.#model === undefined) return undefined;
    if (!step.isAnomaly && !this.#tracker.isOpen) this.#retrain.push(vector);
    this.#sinceFit++;
    if (
      t.retrainEverySamples > 0 &&
      this.#sinceFit >= t.retrainEverySamples + this.#retrainJitter() &&
      this.#retrain.count >= t.minSamples
    ) {
      this.#fit(this.#retrain.ordered(), sample.timeUnixNano);
      return ModelFitReason.Retrain;
    }
    return undefined;
  }

  /**
   * Extra samples before this host's next refit, in [0, retrainEverySamples / 4): hosts that
   * started together would otherwise refit in the same second, every time. A hash of the host
   * and the fit count, so a restored detector refits where the original would have.
   */
  #retrainJitter(): number {
    const spread = Math.floor(this.options.training.retrainEverySamples / 4);
    if (spread < 1) return 0;
    const key = `${this.hostId}:${this.#fits}`;
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
    return h % spread;
  }

  #fit(rows: Float64Array, atUnixNano: bigint): void {
    const X = matrixFromData(rows, rows.length / this.#dimension, this.#dimension);
    const scaler = new RobustScaler(this.options.scaler).fit(X);
    const forest = new IsolationForest(this.options.forest).fit(scaler.transform(X));
    const threshold =
      this.options.forest.contamination === 'auto'
        ? undefined
        : Math.min(0.99, Math.max(0.01, -forest.offset));
    this.#model = { scaler, forest, rows, threshold, fittedAtUnixNano: atUnixNano };
    this.#fits++;
    this.#sinceFit = 0;
  }
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function serializeTrackerInput(input: TrackerInput): SerializedTrackerInput {
  return {
    seq: input.seq.toString(),
    t: input.timeUnixNano.toString(),
    s: input.iforestScore === undefined ? null : finiteOrNull(input.iforestScore),
    b: input.bands.map(
      (v) =>
        [
          v.metric,
          statusCode(v.status),
          finiteOrNull(v.value),
          finiteOrNull(v.expected),
          finiteOrNull(v.lower),
          finiteOrNull(v.upper),
          v.distance,
          v.score,
          v.severity,
        ] as const,
    ),
  };
}

const STATUSES: readonly BandStatus[] = [
  BandStatus.Warmup,
  BandStatus.Missing,
  BandStatus.Normal,
  BandStatus.Anomaly,
];

function statusCode(status: BandStatus): number {
  return STATUSES.indexOf(status);
}

function deserializeTrackerInput(input: SerializedTrackerInput): TrackerInput {
  const num = (v: number | null | undefined): number => (typeof v === 'number' ? v : NaN);
  return {
    seq: BigInt(input.seq),
    timeUnixNano: BigInt(input.t),
    iforestScore: input.s === null ? undefined : input.s,
    bands: input.b.map(([metric, ...f]) => {
      const status = STATUSES[num(f[0])];
      if (status === undefined) throw new Error(`unknown band status code ${describeValue(f[0])}`);
      return {
        metric,
        status,
        value: num(f[1]),
        expected: num(f[2]),
        lower: num(f[3]),
        upper: num(f[4]),
        distance: num(f[5]),
        score: num(f[6]),
        severity: num(f[7]) as Severity,
        isAnomaly: status === BandStatus.Anomaly,
      };
    }),
  };
}

/** Float64 values as base64 of their little-endian bytes. */
export function encodeFloat64(values: Float64Array): string {
  const bytes = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i] as number, i * 8);
  return bytes.toString('base64');
}

/** The inverse of {@link encodeFloat64}; throws on a length that is not a multiple of 8. */
export function decodeFloat64(b64: string): Float64Array {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 8 !== 0)
    throw new Error(`float64 block of ${bytes.length} bytes is not a multiple of 8`);
  const out = new Float64Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readDoubleLE(i * 8);
  return out;
}

/**
 * A forest score as the fusion sees it: the fitted threshold `fitted` is sent to the fusion's
 * `target` piecewise linearly, (0, fitted] → (0, target] and [fitted, 1] → [target, 1].
 */
export function mapForestScore(score: number, fitted: number, target: number): number {
  return score <= fitted
    ? (target * score) / fitted
    : target + ((1 - target) * (score - fitted)) / (1 - fitted);
}

/**
 * Whether `sample` comes after the last one scored: from a later start of the agent (its
 * seqs start over), or from the same start with a higher seq. A redelivery, or a sample of an
 * earlier start arriving late, is not.
 */
function isAfter(sample: Sample, lastStart: bigint, lastSeq: bigint): boolean {
  const start = sample.agentStartUnixNano;
  return start > lastStart || (start === lastStart && sample.seq > lastSeq);
}
