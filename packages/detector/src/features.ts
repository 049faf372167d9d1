/**
 * Feature extraction: turns the consecutive samples of each host into fixed-length numeric
 * vectors for the models, and scales them robustly. Pure: the only time used is the samples'
 * own timestamps.
 *
 * - Counters (names ending `_total`) become per-second rates between consecutive samples; a
 *   decrease is a counter reset, and the rate is then the new value over the interval (as
 *   Prometheus' `rate()` does), so rates are never negative.
 * - Gauges pass through.
 * - Optionally, rolling mean and standard deviation over the last samples, and deltas.
 * - {@link RobustScaler} centres on the training median and divides by the interquartile range.
 *
 * @example
 * ```ts
 * const extractor = new FeatureExtractor({ rollingWindow: 10 });
 * const warmup: Float64Array[] = [];
 * for (const sample of samples) {
 *   const v = extractor.push(sample); // undefined for the host's first sample
 *   if (v !== undefined) warmup.push(v);
 * }
 * const scaler = new RobustScaler().fit(fromRows(warmup));
 * const forest = new IsolationForest({ seed: 1 }).fit(scaler.transform(fromRows(warmup)));
 * // live: one sample at a time
 * const v = extractor.push(next);
 * if (v !== undefined) forest.anomalyScore(scaler.transformRow(v, v));
 * ```
 */
import { CgroupMetrics, HostMetrics, ProcessTreeMetrics, type Sample } from '@faultline/protocol';

import {
  InvalidOptionsError,
  MalformedModelError,
  MissingMetricError,
  NotFittedError,
  ShapeMismatchError,
} from './errors.js';
import { assertFiniteMatrix, type Matrix } from './matrix.js';
import { checkChoice, checkInteger, checkObject, describeValue } from './option-checks.js';

/**
 * The metrics used when {@link FeatureExtractorOptions.metrics} is not given: host CPU time
 * split, load, memory, swap, disk and network throughput, file handles, processes, context
 * switches and forks.
 */
export const DEFAULT_FEATURE_METRICS: readonly string[] = [
  'host.cpu_user_seconds_total',
  'host.cpu_system_seconds_total',
  'host.cpu_iowait_seconds_total',
  'host.cpu_steal_seconds_total',
  'host.load1',
  'host.memory_used_bytes',
  'host.memory_available_bytes',
  'host.swap_used_bytes',
  'host.disk_read_bytes_total',
  'host.disk_written_bytes_total',
  'host.net_rx_bytes_total',
  'host.net_tx_bytes_total',
  'host.open_fds',
  'host.procs_running',
  'host.procs_blocked',
  'host.context_switches_total',
  'host.forks_total',
];

/** Options of {@link FeatureExtractor}; every field is optional. */
export interface FeatureExtractorOptions {
  /**
   * The metrics to turn into features, in output order, each named by where it is in a
   * `Sample`: `host.<field>`, `process.<field>` or `cgroup.<field>` with the protobuf field
   * name in snake_case (`host.cpu_user_seconds_total`, `process.rss_bytes`), or
   * `metrics.<key>` for a key of the sample's free-form `metrics` map. Names ending `_total`
   * are counters and become per-second rates. No duplicates, at least one.
   * Default {@link DEFAULT_FEATURE_METRICS}.
   */
  metrics?: readonly string[];
  /**
   * Length, in samples, of the window of the rolling mean and standard deviation features
   * (population std, over the current and previous base vectors; until the window has
   * filled, over those seen so far). 0 disables them. 0 or an integer in [2, 10000]. Default 0.
   */
  rollingWindow?: number;
  /**
   * Add the first difference of each base feature (current minus previous sample's value).
   * The host's second sample then yields no vector either: there is nothing to difference.
   * Default false.
   */
  deltas?: boolean;
  /**
   * What a selected metric absent from a sample (no `process` section, no map key) or not
   * finite (NaN, ±Infinity) does: `'carry'` (default) reuses that feature's last value, and a counter's next rate
   * spans the gap; `'error'` throws {@link MissingMetricError}. A feature that has never had
   * a value holds back the host's vectors (push returns undefined) until it gets one.
   */
  missing?: 'carry' | 'error';
}

/** {@link FeatureExtractorOptions} with defaults applied and validated. */
export interface ResolvedFeatureExtractorOptions {
  readonly metrics: readonly string[];
  readonly rollingWindow: number;
  readonly deltas: boolean;
  readonly missing: 'carry' | 'error';
}

const EXTRACTOR_KEYS = ['metrics', 'rollingWindow', 'deltas', 'missing'];

/** The numeric fields of each `Sample` section, by snake_case proto name → camelCase TS name. */
const SECTION_FIELDS: Readonly<Record<'host' | 'process' | 'cgroup', ReadonlyMap<string, string>>> = {
  host: numericFields(HostMetrics.fromPartial({})),
  process: numericFields(ProcessTreeMetrics.fromPartial({})),
  cgroup: numericFields(CgroupMetrics.fromPartial({})),
};

function numericFields(empty: object): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(empty)) {
    if (typeof value === 'number')
      out.set(
        key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        key,
      );
  }
  return out;
}

const enum Source {
  Host,
  Process,
  Cgroup,
  Map,
}

interface MetricReader {
  readonly name: string;
  readonly source: Source;
  /** camelCase field of the section, or the map key. */
  readonly key: string;
  readonly counter: boolean;
}

function parseMetric(field: string, name: unknown): MetricReader {
  if (typeof name !== 'string') {
    throw new InvalidOptionsError(field, `${field} must be a metric name string, got ${describeValue(name)}`);
  }
  const dot = name.indexOf('.');
  const section = dot < 0 ? '' : name.slice(0, dot);
  const rest = dot < 0 ? '' : name.slice(dot + 1);
  const counter = rest.endsWith('_total');
  if (section === 'metrics' && rest !== '') {
    return { name, source: Source.Map, key: rest, counter };
  }
  if (section === 'host' || section === 'process' || section === 'cgroup') {
    const key = SECTION_FIELDS[section].get(rest);
    if (key === undefined) {
      throw new InvalidOptionsError(
        field,
        `${field} names no numeric ${section} field: got ${JSON.stringify(name)} ` +
          `(use the snake_case proto name, for example ${section}.${[...SECTION_FIELDS[section].keys()][0] ?? ''})`,
      );
    }
    const source = section === 'host' ? Source.Host : section === 'process' ? Source.Process : Source.Cgroup;
    return { name, source, key, counter };
  }
  throw new InvalidOptionsError(
    field,
    `${field} must be host.<field>, process.<field>, cgroup.<field> or metrics.<key>, got ${JSON.stringify(name)}`,
  );
}

/**
 * Applies the defaults of {@link FeatureExtractorOptions} and validates every field; throws
 * {@link InvalidOptionsError} naming the field, the allowed values and the value received.
 */
export function resolveFeatureExtractorOptions(
  raw: FeatureExtractorOptions = {},
): ResolvedFeatureExtractorOptions {
  const obj = checkObject(raw, 'options');
  for (const key of Object.keys(obj)) {
    if (!EXTRACTOR_KEYS.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown FeatureExtractor option ${JSON.stringify(key)} (expected one of ${EXTRACTOR_KEYS.join(', ')})`,
      );
    }
  }
  const metrics = obj['metrics'] ?? DEFAULT_FEATURE_METRICS;
  if (!Array.isArray(metrics) || metrics.length === 0) {
    throw new InvalidOptionsError(
      'metrics',
      `metrics must be a non-empty array of metric names, got ${describeValue(metrics)}`,
    );
  }
  const seen = new Set<string>();
  metrics.forEach((name: unknown, i) => {
    const parsed = parseMetric(`metrics[${i}]`, name);
    if (seen.has(parsed.name)) {
      throw new InvalidOptionsError(`metrics[${i}]`, `metrics[${i}] repeats ${JSON.stringify(parsed.name)}`);
    }
    seen.add(parsed.name);
  });
  const rollingWindow = obj['rollingWindow'] ?? 0;
  if (rollingWindow !== 0) checkInteger(rollingWindow, 0, 'rollingWindow', 2, 10_000);
  const deltas = obj['deltas'] ?? false;
  if (typeof deltas !== 'boolean') {
    throw new InvalidOptionsError('deltas', `deltas must be a boolean, got ${describeValue(deltas)}`);
  }
  const missing = checkChoice(obj['missing'], 'carry', 'missing', ['carry', 'error'] as const);
  return { metrics: [...(metrics as string[])], rollingWindow: rollingWindow as number, deltas, missing };
}

/**
 * What the extractor remembers of one host between samples. The per-metric values live in one
 * array, so that a host whose state has left the CPU caches costs few misses to bring back.
 */
interface HostState {
  /** Time of the host's first sample: other times are kept as seconds since it. */
  readonly originNs: bigint;
  lastNs: bigint;
  /**
   * With m metrics, in blocks of m from these offsets: the last value seen of each metric (the
   * counter itself for counters) `RAW`, and when `RAW_AT`, whether there is one `HAS_RAW`
   * (0 or 1); the last value of each base feature (rate or gauge) `BASE`, for 'carry' and
   * deltas, and whether there is one `HAS_BASE`; then, from `RING`, the complete base vectors
   * of the last `rollingWindow` samples, ring-ordered.
   */
  readonly values: Float64Array;
  /** Whether the previous sample produced a complete base vector (deltas need one). */
  prevComplete: boolean;
  ringCount: number;
  ringNext: number;
}

const RAW = 0;
const RAW_AT = 1;
const HAS_RAW = 2;
const BASE = 3;
const HAS_BASE = 4;
const RING = 5;

/**
 * Turns the samples of many hosts into feature vectors, keeping each host's state (last
 * counter values, rolling window) apart. Feed each host's samples in time order.
 *
 * A vector holds, in order: the base features (one per metric: a rate for counters, the
 * value for gauges), then if `rollingWindow` > 0 their rolling means and rolling standard
 * deviations, then if `deltas` their differences; {@link featureNames} names each entry.
 *
 * {@link push} returns undefined, and the host yields no vector, for:
 * - the host's first sample: no rate can be computed yet (with `deltas`, the second too);
 * - a sample not newer than the host's last one (a redelivery or a late duplicate), which
 *   leaves the state alone and is counted in {@link staleSamples};
 * - a sample where a selected metric has never had a value yet (with `missing: 'carry'`).
 */
export class FeatureExtractor {
  readonly options: ResolvedFeatureExtractorOptions;
  /** Name of each entry of the vectors, stable for given options (see the class comment). */
  readonly featureNames: readonly string[];
  readonly #readers: readonly MetricReader[];
  readonly #counter: Uint8Array;
  readonly #hosts = new Map<string, HostState>();
  /** Scratch: the metrics read from the sample being pushed (NaN where absent). */
  readonly #read: Float64Array;
  /** Scratch: the base features at the sample being pushed (NaN where there is none yet). */
  readonly #current: Float64Array;
  #stale = 0;

  constructor(options: FeatureExtractorOptions = {}) {
    this.options = resolveFeatureExtractorOptions(options);
    this.#readers = this.options.metrics.map((name, i) => parseMetric(`metrics[${i}]`, name));
    this.#counter = Uint8Array.from(this.#readers, (r) => (r.counter ? 1 : 0));
    this.#read = new Float64Array(this.#readers.length);
    this.#current = new Float64Array(this.#readers.length);
    const base = this.#readers.map((r) => (r.counter ? `${r.name}:rate` : r.name));
    const w = this.options.rollingWindow;
    this.featureNames = [
      ...base,
      ...(w > 0 ? base.map((b) => `${b}:mean${w}`) : []),
      ...(w > 0 ? base.map((b) => `${b}:std${w}`) : []),
      ...(this.options.deltas ? base.map((b) => `${b}:delta`) : []),
    ];
  }

  /** Length of every vector: `featureNames.length`. */
  get dimension(): number {
    return this.featureNames.length;
  }

  /** Hosts with state held. */
  get hostCount(): number {
    return this.#hosts.size;
  }

  /** Samples ignored so far because they were not newer than their host's last sample. */
  get staleSamples(): number {
    return this.#stale;
  }

  /** Drops a host's state (the host left); its next sample counts as its first. */
  forget(hostId: string): boolean {
    return this.#hosts.delete(hostId);
  }

  /**
   * Takes the next sample of its host and returns that host's feature vector at this sample
   * (a new array of {@link dimension} values), or undefined in the cases the class comment
   * lists. Throws {@link MissingMetricError} for an absent metric with `missing: 'error'`.
   */
  push(sample: Sample): Float64Array | undefined {
    const out = new Float64Array(this.featureNames.length);
    return this.pushInto(sample, out) ? out : undefined;
  }

  /**
   * {@link push} without allocating: writes the vector into `out` from `offset` and returns
   * true, or returns false (leaving `out` alone) where push returns undefined. Throws
   * {@link ShapeMismatchError} when `out` has no room for {@link dimension} values there.
   */
  pushInto(sample: Sample, out: Float64Array, offset = 0): boolean {
    const dim = this.featureNames.length;
    if (!(offset >= 0 && offset + dim <= out.length)) {
      throw new ShapeMismatchError(
        `out holds ${out.length} values: no room for a vector of ${dim} at offset ${offset}`,
      );
    }
    const m = this.#readers.length;
    const known = this.#hosts.get(sample.hostId);
    if (known !== undefined && sample.timeUnixNano <= known.lastNs) {
      this.#stale++;
      return false;
    }
    // Read everything first: with missing: 'error', a bad sample throws before any state changes.
    // NaN marks a metric without a value (readMetrics never reads NaN).
    const read = this.#read;
    this.#readMetrics(sample, read);
    const counter = this.#counter;

    if (known === undefined) {
      const fresh = this.#newState(sample.timeUnixNano);
      const f = fresh.values;
      for (let j = 0; j < m; j++) {
        const v = read[j] as number;
        if (Number.isNaN(v)) continue;
        f[RAW * m + j] = v;
        f[HAS_RAW * m + j] = 1;
        if (counter[j] === 0) {
          f[BASE * m + j] = v;
          f[HAS_BASE * m + j] = 1;
        }
      }
      this.#hosts.set(sample.hostId, fresh);
      return false;
    }
    const state = known;
    const f = state.values;
    state.lastNs = sample.timeUnixNano;
    const t = Number(sample.timeUnixNano - state.originNs) / 1e9;

    // The base features at this sample, NaN where there is none yet.
    const current = this.#current;
    let complete = true;
    for (let j = 0; j < m; j++) {
      const v = read[j] as number;
      let value = NaN;
      if (Number.isNaN(v)) {
        if (f[HAS_BASE * m + j] === 1) value = f[BASE * m + j] as number;
      } else if (counter[j] === 1) {
        if (f[HAS_RAW * m + j] === 1) {
          const prev = f[RAW * m + j] as number;
          const increase = v >= prev ? v - prev : v;
          value = increase / (t - (f[RAW_AT * m + j] as number));
        }
        f[RAW * m + j] = v;
        f[RAW_AT * m + j] = t;
        f[HAS_RAW * m + j] = 1;
      } else {
        value = v;
      }
      current[j] = value;
      if (Number.isNaN(value)) complete = false;
    }

    const w = this.options.rollingWindow;
    const deltas = this.options.deltas;
    const produced = complete && (!deltas || state.prevComplete);
    if (produced) {
      out.set(current, offset);
      if (deltas) {
        const at = offset + m * (w > 0 ? 3 : 1);
        for (let j = 0; j < m; j++) out[at + j] = (current[j] as number) - (f[BASE * m + j] as number);
      }
    }
    for (let j = 0; j < m; j++) {
      if (!Number.isNaN(current[j] as number)) {
        f[BASE * m + j] = current[j] as number;
        f[HAS_BASE * m + j] = 1;
      }
    }
    state.prevComplete = complete;
    if (complete && w > 0) {
      f.set(current, RING * m + state.ringNext * m);
      state.ringNext = (state.ringNext + 1) % w;
      if (state.ringCount < w) state.ringCount++;
      if (produced) writeRollingStats(state, m, out, offset);
    }
    return produced;
  }

  #newState(timeUnixNano: bigint): HostState {
    const m = this.#readers.length;
    return {
      originNs: timeUnixNano,
      lastNs: timeUnixNano,
      values: new Float64Array(m * (RING + this.options.rollingWindow)),
      prevComplete: false,
      ringCount: 0,
      ringNext: 0,
    };
  }

  /**
   * Each metric's value in the sample into `out`: NaN when absent or not finite (or throws,
   * per `missing`). Each section is looked up once.
   */
  #readMetrics(sample: Sample, out: Float64Array): void {
    const readers = this.#readers;
    const host = sample.host as unknown as Record<string, number> | undefined;
    const process = sample.process as unknown as Record<string, number> | undefined;
    const cgroup = sample.cgroup as unknown as Record<string, number> | undefined;
    const map = sample.metrics;
    for (let j = 0; j < readers.length; j++) {
      const reader = readers[j] as MetricReader;
      const section =
        reader.source === Source.Host
          ? host
          : reader.source === Source.Process
            ? process
            : reader.source === Source.Cgroup
              ? cgroup
              : map;
      const v = section?.[reader.key];
      if (v === undefined || !Number.isFinite(v)) {
        if (this.options.missing === 'error') {
          throw new MissingMetricError(sample.hostId, reader.name, sample.seq);
        }
        out[j] = NaN;
      } else {
        out[j] = v;
      }
    }
  }
}

/** Writes the rolling means and population standard deviations of the ring into `out`. */
function writeRollingStats(state: HostState, m: number, out: Float64Array, offset: number): void {
  const count = state.ringCount;
  const ring = state.values;
  const at = RING * m;
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (let r = 0; r < count; r++) sum += ring[at + r * m + j] as number;
    const mean = sum / count;
    // Two passes: the naive sum-of-squares formula loses everything on large byte gauges.
    let ss = 0;
    for (let r = 0; r < count; r++) {
      const dev = (ring[at + r * m + j] as number) - mean;
      ss += dev * dev;
    }
    out[offset + m + j] = mean;
    out[offset + 2 * m + j] = Math.sqrt(ss / count);
  }
}

/** Options of {@link RobustScaler}; every field is optional. */
export interface RobustScalerOptions {
  /**
   * Percentiles, in [0, 100], whose distance is the scale: [q1, q3] with q1 < q3.
   * Default [25, 75], the interquartile range (IQR).
   */
  quantileRange?: readonly [number, number];
  /**
   * Floor of each feature's scale, in that feature's unit: a feature whose IQR is below it
   * (constant or nearly so in the training window) is divided by the floor instead, so its
   * scaled values stay finite. One number for all features or one per feature; > 0.
   * Default 1e-6.
   */
  minScale?: number | readonly number[];
}

/** {@link RobustScalerOptions} with defaults applied and validated. */
export interface ResolvedRobustScalerOptions {
  readonly quantileRange: readonly [number, number];
  readonly minScale: number | readonly number[];
}

/** Applies the defaults of {@link RobustScalerOptions} and validates; throws {@link InvalidOptionsError}. */
export function resolveRobustScalerOptions(raw: RobustScalerOptions = {}): ResolvedRobustScalerOptions {
  const obj = checkObject(raw, 'options');
  for (const key of Object.keys(obj)) {
    if (key !== 'quantileRange' && key !== 'minScale') {
      throw new InvalidOptionsError(
        key,
        `unknown RobustScaler option ${JSON.stringify(key)} (expected quantileRange, minScale)`,
      );
    }
  }
  const range = obj['quantileRange'] ?? [25, 75];
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    typeof range[0] !== 'number' ||
    typeof range[1] !== 'number' ||
    !(range[0] >= 0 && range[0] < range[1] && range[1] <= 100)
  ) {
    throw new InvalidOptionsError(
      'quantileRange',
      `quantileRange must be [q1, q3] with 0 <= q1 < q3 <= 100, got ${describeValue(range)}`,
    );
  }
  const minScale = obj['minScale'] ?? 1e-6;
  const positive = (v: unknown): boolean => typeof v === 'number' && v > 0 && v < Infinity;
  if (Array.isArray(minScale) ? !minScale.every(positive) : !positive(minScale)) {
    throw new InvalidOptionsError(
      'minScale',
      `minScale must be a number > 0 or an array of them, got ${describeValue(minScale)}`,
    );
  }
  return {
    quantileRange: [range[0], range[1]],
    minScale: Array.isArray(minScale) ? [...(minScale as number[])] : (minScale as number),
  };
}

/** What {@link RobustScaler.toJSON} returns and {@link RobustScaler.fromJSON} accepts. */
export interface RobustScalerJSON {
  readonly format: 'faultline.robust-scaler';
  readonly version: 1;
  readonly options: ResolvedRobustScalerOptions;
  readonly center: number[];
  readonly scale: number[];
}

/**
 * Scales each feature to (x − median) / max(q3 − q1, minScale), with the median and quartiles
 * of a training matrix: robust to the outliers the detector is looking for, unlike mean and
 * standard deviation. scikit-learn's `RobustScaler` with centring and scaling on, except that
 * a zero IQR is replaced by `minScale` (scikit-learn uses 1). Percentiles interpolate linearly
 * between closest ranks, as numpy's do.
 *
 * Fitted attributes: `center` (the medians), `scale` (the floored ranges), `nFeaturesIn`.
 */
export class RobustScaler {
  readonly options: ResolvedRobustScalerOptions;
  #center: Float64Array | undefined;
  #scale: Float64Array | undefined;

  constructor(options: RobustScalerOptions = {}) {
    this.options = resolveRobustScalerOptions(options);
  }

  get isFitted(): boolean {
    return this.#center !== undefined;
  }

  /** Per-feature medians of the training matrix. */
  get center(): Float64Array {
    return this.#require('center').center;
  }

  /** Per-feature divisors: the quantile range, floored at `minScale`. */
  get scale(): Float64Array {
    return this.#require('scale').scale;
  }

  get nFeaturesIn(): number {
    return this.#require('nFeaturesIn').center.length;
  }

  /**
   * Learns medians and ranges from `X` (rows are samples, at least one; values finite).
   * Throws {@link ShapeMismatchError} when `minScale` is an array of another length than
   * `X.cols`.
   */
  fit(X: Matrix): this {
    assertFiniteMatrix(X);
    if (X.rows < 1 || X.cols < 1) {
      throw new ShapeMismatchError(
        `X has shape ${X.rows}x${X.cols}: fit needs at least one row and one column`,
      );
    }
    const floors = this.options.minScale;
    if (typeof floors !== 'number' && floors.length !== X.cols) {
      throw new ShapeMismatchError(`minScale has ${floors.length} entries, but X has ${X.cols} columns`);
    }
    const [q1, q3] = this.options.quantileRange;
    const center = new Float64Array(X.cols);
    const scale = new Float64Array(X.cols);
    const column = new Float64Array(X.rows);
    for (let j = 0; j < X.cols; j++) {
      for (let i = 0; i < X.rows; i++) column[i] = X.data[i * X.cols + j] as number;
      column.sort();
      center[j] = sortedPercentile(column, 50);
      const range = sortedPercentile(column, q3) - sortedPercentile(column, q1);
      const floor = typeof floors === 'number' ? floors : (floors[j] as number);
      scale[j] = range >= floor ? range : floor;
    }
    this.#center = center;
    this.#scale = scale;
    return this;
  }

  /** A new matrix of the scaled rows of `X`. */
  transform(X: Matrix): Matrix {
    const { center, scale } = this.#require('transform');
    const d = center.length;
    if (X.cols !== d) {
      throw new ShapeMismatchError(`X has ${X.cols} columns, but this RobustScaler was fitted with ${d}`);
    }
    assertFiniteMatrix(X);
    const data = new Float64Array(X.rows * d);
    for (let i = 0; i < X.rows; i++) {
      const base = i * d;
      for (let j = 0; j < d; j++) {
        data[base + j] = ((X.data[base + j] as number) - (center[j] as number)) / (scale[j] as number);
      }
    }
    return { data, rows: X.rows, cols: d };
  }

  /**
   * Scales one row into `out` (default a new array) and returns `out`; `out` may be `row`
   * itself to scale in place without allocating.
   */
  transformRow(row: ArrayLike<number>, out: Float64Array = new Float64Array(row.length)): Float64Array {
    const { center, scale } = this.#require('transformRow');
    const d = center.length;
    if (row.length !== d || out.length !== d) {
      throw new ShapeMismatchError(
        `row has ${row.length} values and out ${out.length}, but this RobustScaler was fitted with ${d}`,
      );
    }
    for (let j = 0; j < d; j++) out[j] = ((row[j] as number) - (center[j] as number)) / (scale[j] as number);
    return out;
  }

  /** The fitted scaler as plain JSON-safe data; {@link fromJSON} restores it exactly. */
  toJSON(): RobustScalerJSON {
    const { center, scale } = this.#require('toJSON');
    return {
      format: 'faultline.robust-scaler',
      version: 1,
      options: this.options,
      center: Array.from(center),
      scale: Array.from(scale),
    };
  }

  /** Loads a scaler saved by {@link toJSON}; throws {@link MalformedModelError} when it is not one. */
  static fromJSON(json: unknown): RobustScaler {
    const bad = (reason: string, cause?: unknown): MalformedModelError =>
      new MalformedModelError('RobustScaler', reason, cause === undefined ? undefined : { cause });
    if (typeof json !== 'object' || json === null) throw bad('expected an object');
    const o = json as Record<string, unknown>;
    if (o['format'] !== 'faultline.robust-scaler') throw bad(`format must be "faultline.robust-scaler"`);
    if (o['version'] !== 1) throw bad(`unsupported version ${describeValue(o['version'])}`);
    let scaler: RobustScaler;
    try {
      scaler = new RobustScaler(o['options'] as RobustScalerOptions);
    } catch (err) {
      throw bad('options are invalid', err);
    }
    const center = o['center'];
    const scale = o['scale'];
    const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
    if (!Array.isArray(center) || center.length === 0 || !center.every(finite)) {
      throw bad('center must be a non-empty array of finite numbers');
    }
    if (
      !Array.isArray(scale) ||
      scale.length !== center.length ||
      !scale.every((v) => finite(v) && (v as number) > 0)
    ) {
      throw bad(`scale must be an array of ${center.length} positive numbers`);
    }
    scaler.#center = Float64Array.from(center as number[]);
    scaler.#scale = Float64Array.from(scale as number[]);
    return scaler;
  }

  #require(method: string): { center: Float64Array; scale: Float64Array } {
    const center = this.#center;
    const scale = this.#scale;
    if (center === undefined || scale === undefined) throw new NotFittedError('RobustScaler', method);
    return { center, scale };
  }
}

/** numpy's default percentile of already sorted values, q in [0, 100]. */
function sortedPercentile(sorted: Float64Array, q: number): number {
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}
