/**
 * Offline scoring of a parsed file ({@link OfflineDataset}): the detector's models run over the
 * whole file at once, per host, and every record gets a score and a verdict. Pure: no I/O, no
 * clock (the report's time is given), randomness only from the given seed.
 *
 * @example
 * ```ts
 * const dataset = parseOfflineData(text, { file: 'prmon.txt' });
 * const result = scoreDataset(dataset, { model: 'iforest', contamination: 0.1 }, { generatedAtMs: Date.now() });
 * result.summary.anomalies; // about 10% of the records
 * result.report;            // a ReportInput, as a live experiment's
 * ```
 *
 * Pipeline, per host
 * ------------------
 * 1. Features: every metric column; a counter becomes its per-second rate between consecutive
 *    records (a decrease is a reset: the rate is then the new value over the interval, as
 *    Prometheus' `rate()` does), named `<column>_per_second`; the first record takes the second's rate.
 *    Missing values are carried forward (backward before the first value); a metric without
 *    any value is dropped. Records sharing one timestamp (prmon writes whole seconds, so a
 *    sub-second `--interval` repeats them) are spread evenly over the file's time resolution
 *    for the rates only.
 * 2. Scaling fitted on the whole file: `standard` ((x − mean) / std, scikit-learn's
 *    StandardScaler as the seed uses, a constant column divided by 1) or `robust`
 *    ({@link RobustScaler}). Isolation Forest is unaffected by per-column linear scaling; the
 *    scaled values are the z-scores that name what stood out in each anomalous record.
 * 3. Isolation Forest fitted on every record of the file and scoring them (as the seed does),
 *    `contamination` 0.1 by default, so about 10% of the records are outliers: s(x) above the
 *    fitted threshold t (scikit-learn's `predict` = −1).
 * 4. Forecast bands over each feature in time order ({@link MultiMetricBands}); the first
 *    `bandWarmupPoints` records of a host only warm the bands up.
 * 5. Fusion and events ({@link AnomalyEventTracker}), with weights by model:
 *    - `iforest`: score s(x); anomalous when s(x) > t; events from the forest part alone.
 *    - `bands`: score = the highest band score (0 inside every band, 1 − 1/d at d
 *      half-widths outside); anomalous when any feature leaves its band.
 *    - `fused` (default): score = max(forest part, bands part) as in the live detector;
 *      anomalous at `openThreshold` (0.3) and above.
 *    An event closes after `closeAfter` records under the close threshold, so one incident is
 *    one event.
 * 6. With truth windows (a labels file, or the file's own labels), {@link evaluateDetection}.
 */
import { msToUnixNano, unixNanoToMs, type AnomalyEvent } from '@faultline/protocol';
import { AnomalyEventTracker, type AnomalyEventOptions, type FusionOptions } from '../anomaly-events.js';
import { InputFileError, InvalidOptionsError } from '../errors.js';
import { evaluateDetection, type EvaluationReport, type ScoredPoint, type TruthSpan } from '../evaluation.js';
import { RobustScaler } from '../features.js';
import {
  BandStatus,
  MultiMetricBands,
  resolveForecastBandsOptions,
  type MetricBandVerdict,
} from '../forecast-bands.js';
import { IsolationForest, resolveIsolationForestOptions } from '../isolation-forest.js';
import { matrixFromData, type Matrix } from '../matrix.js';
import { checkChoice, checkInteger, checkNumber, checkObject, describeValue } from '../option-checks.js';
import type { ReportEvent, ReportHost, ReportInput, ReportTruthWindow } from '../report/report-input.js';
import type { OfflineDataset, OfflineFormat, OfflineSeries, PrmonSummary } from './offline-dataset.js';

/** The models `faultline score --model` takes. */
export const OFFLINE_MODELS = ['iforest', 'bands', 'fused'] as const;
export type OfflineModel = (typeof OFFLINE_MODELS)[number];

/** The scalers of step 2 of the pipeline. */
export const OFFLINE_SCALINGS = ['standard', 'robust'] as const;
export type OfflineScaling = (typeof OFFLINE_SCALINGS)[number];

/** Options of offline scoring; every field is optional. */
export interface OfflineScoreOptions {
  /** `iforest`, `bands` or `fused` (see the module notes). Default `fused`. */
  model?: OfflineModel;
  /**
   * Isolation Forest's expected outlier fraction: a fraction in (0, 0.5], or `'auto'` for the
   * paper's fixed threshold s(x) > 0.5. Default 0.1, the seed's. Unused by `bands`.
   */
  contamination?: number | 'auto';
  /** Seed of the forest's random draws: an integer in [0, 2³² − 1]. Default 0. */
  seed?: number;
  /** Trees in the forest. Integer in [1, 10000], default 100 (scikit-learn's). */
  nEstimators?: number;
  /** `standard` (default, the seed's StandardScaler) or `robust` (median and IQR). */
  scaling?: OfflineScaling;
  /** Coverage of each band's prediction interval (Prophet's `interval_width`). In (0, 1), default 0.95. */
  intervalWidth?: number;
  /** Widening of the interval into the decision band (the seed's `threshold_multiplier`). In (0, 100], default 2. */
  thresholdMultiplier?: number;
  /**
   * Records that only warm the bands up, per host: an integer in [10, 1_000_000], or `'auto'`
   * (default): a fifth of the host's records, clamped to [10, 120].
   */
  bandWarmupPoints?: number | 'auto';
  /** `fused` only: the fused score at or above which a record is anomalous. In (0, 1], default 0.3. */
  openThreshold?: number;
  /** Consecutive unflagged records that close an event. Records, integer in [1, 1_000_000], default 5. */
  closeAfter?: number;
  /**
   * Evaluation: an event opening up to this long after a truth window's end still detects it.
   * ms, in [0, 86_400_000], default 5000.
   */
  graceMs?: number;
}

/** {@link OfflineScoreOptions} with defaults applied and validated. */
export interface ResolvedOfflineScoreOptions {
  readonly model: OfflineModel;
  readonly contamination: number | 'auto';
  readonly seed: number;
  readonly nEstimators: number;
  readonly scaling: OfflineScaling;
  readonly intervalWidth: number;
  readonly thresholdMultiplier: number;
  readonly bandWarmupPoints: number | 'auto';
  readonly openThreshold: number;
  readonly closeAfter: number;
  readonly graceMs: number;
}

const OPTION_KEYS = [
  'model',
  'contamination',
  'seed',
  'nEstimators',
  'scaling',
  'intervalWidth',
  'thresholdMultiplier',
  'bandWarmupPoints',
  'openThreshold',
  'closeAfter',
  'graceMs',
];

/**
 * Applies the defaults of {@link OfflineScoreOptions} and validates every field; throws
 * {@link InvalidOptionsError} naming the field, the allowed range and the value received.
 */
export function resolveOfflineScoreOptions(raw: OfflineScoreOptions = {}): ResolvedOfflineScoreOptions {
  const o = checkObject(raw, 'options');
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown offline scoring option ${JSON.stringify(key)} (expected one of ${OPTION_KEYS.join(', ')})`,
      );
    }
  }
  const model = checkChoice(o['model'], 'fused', 'model', OFFLINE_MODELS);
  const seed = o['seed'] ?? 0;
  if (typeof seed !== 'number') {
    throw new InvalidOptionsError(
      'seed',
      `seed must be an integer in [0, 4294967295], got ${describeValue(seed)}`,
    );
  }
  const forest = resolveIsolationForestOptions({
    contamination: (o['contamination'] ?? 0.1) as number | 'auto',
    seed,
    nEstimators: (o['nEstimators'] ?? 100) as number,
  });
  const bands = resolveForecastBandsOptions({
    intervalWidth: o['intervalWidth'] as number | undefined,
    thresholdMultiplier: o['thresholdMultiplier'] as number | undefined,
  });
  const warm = o['bandWarmupPoints'] ?? 'auto';
  const bandWarmupPoints =
    warm === 'auto' ? 'auto' : checkInteger(warm, 120, 'bandWarmupPoints', 10, 1_000_000);
  return Object.freeze({
    model,
    contamination: forest.contamination,
    seed,
    nEstimators: forest.nEstimators,
    scaling: checkChoice(o['scaling'], 'standard', 'scaling', OFFLINE_SCALINGS),
    intervalWidth: bands.intervalWidth,
    thresholdMultiplier: bands.thresholdMultiplier,
    bandWarmupPoints,
    openThreshold: checkNumber(o['openThreshold'], 0.3, 'openThreshold', { min: 0, max: 1, minOpen: true }),
    closeAfter: checkInteger(o['closeAfter'], 5, 'closeAfter', 1, 1_000_000),
    graceMs: checkNumber(o['graceMs'], 5_000, 'graceMs', { min: 0, max: 86_400_000 }),
  });
}

/** A feature that stood out in an anomalous record. */
export interface OfflineStandout {
  /** The feature: a column name, or `<column>_per_second` for a counter's rate. */
  readonly feature: string;
  /** Its value in the record (the rate for counters), in the column's unit (per second for rates). */
  readonly value: number;
  /** Its scaled value: how many standard deviations (or IQRs, with robust scaling) from the centre. */
  readonly z: number;
  /** Whether it was outside its forecast band. */
  readonly outsideBand: boolean;
}

/** One record's score and verdict. */
export interface OfflineRecordScore {
  readonly hostId: string;
  /** The line the record starts on in the file. */
  readonly line: number;
  readonly timeMs: number;
  /** The model's score (see the module notes); higher is more anomalous. */
  readonly score: number;
  readonly isAnomaly: boolean;
  /** The forest's s(x) in (0, 1]; NaN with the `bands` model. */
  readonly iforestScore: number;
  /** The bands' part in [0, 1]; 0 while warming up. */
  readonly bandScore: number;
  /** The record's text columns (`phase`, `state`, …). */
  readonly context: Readonly<Record<string, string>>;
  /** For anomalous records, up to three features that stood out, most first; empty otherwise. */
  readonly standouts: readonly OfflineStandout[];
}

/** Counts of one value of a context column (`phase` or a RAM log's `state`). */
export interface OfflineGroupCount {
  readonly value: string;
  readonly rows: number;
  readonly anomalies: number;
  /** anomalies / rows. */
  readonly share: number;
  /** Mean of the records' scores. */
  readonly meanScore: number;
}

/** Summary statistics of a scored file. */
export interface OfflineScoreSummary {
  readonly rows: number;
  readonly anomalies: number;
  /** anomalies / rows. */
  readonly share: number;
  readonly events: number;
  /** The context column the records are grouped by (`phase`, else `state`), if any. */
  readonly groupBy: string | undefined;
  /** Per value of `groupBy`, in order of first appearance. */
  readonly groups: OfflineGroupCount[];
}

/** What was fitted for one host. */
export interface OfflineHostModel {
  readonly hostId: string;
  readonly records: number;
  /** The features scored, in order. */
  readonly features: string[];
  /** The fitted forest threshold t (s(x) above it is an outlier); undefined with `bands`. */
  readonly forestThreshold: number | undefined;
  /** Records that only warmed the bands up. */
  readonly bandWarmupPoints: number;
}

/** Where the truth windows come from, and the windows. */
export interface OfflineTruth {
  /** `labels <file>`, `states` (RAM log), `phases`, `label-column`, or `none`. */
  readonly source: string;
  readonly windows: TruthSpan[];
}

/** What {@link scoreDataset} returns. */
export interface OfflineScoreResult {
  readonly file: string;
  readonly format: OfflineFormat;
  readonly options: ResolvedOfflineScoreOptions;
  /** The score threshold of `isAnomaly`: t (iforest), 0 (bands), `openThreshold` (fused). */
  readonly threshold: number;
  readonly hosts: OfflineHostModel[];
  /** Every record, host by host, in time order. */
  readonly records: OfflineRecordScore[];
  readonly events: ReportEvent[];
  readonly truth: OfflineTruth;
  /** The evaluation against the truth; undefined without any. */
  readonly evaluation: EvaluationReport | undefined;
  readonly summary: OfflineScoreSummary;
  readonly prmonSummary: PrmonSummary | undefined;
  /** What the reader and scorer did that the user should know. */
  readonly notes: string[];
  /** The data of the report, as a live experiment's. */
  readonly report: ReportInput;
}

/** What {@link scoreDataset} needs besides the dataset and the options. */
export interface OfflineScoreContext {
  /** When the report is made, ms since the epoch. */
  generatedAtMs: number;
  /** Truth windows that replace the dataset's own (from a labels file). */
  truth?: OfflineTruth;
}

/**
 * Open threshold of the tracker with the `iforest` and `bands` models: any positive part
 * flags a record there (a forest part is > 0 exactly when s(x) > t, a band part exactly when
 * a feature leaves its band), and the tracker needs a positive threshold.
 */
const FLAGGED_EPSILON = 1e-9;

/** Features shown per host in the report. */
const REPORT_METRICS = 6;

/** Features listed per anomalous record. */
const STANDOUTS = 3;

/** Scores a parsed file; see the module notes. */
export function scoreDataset(
  dataset: OfflineDataset,
  options: OfflineScoreOptions,
  context: OfflineScoreContext,
): OfflineScoreResult {
  const o = resolveOfflineScoreOptions(options);
  const notes = [...dataset.notes];
  const truth: OfflineTruth = context.truth ?? {
    source: dataset.truthSource,
    windows: dataset.truth,
  };
  const hosts: OfflineHostModel[] = [];
  const records: OfflineRecordScore[] = [];
  const events: ReportEvent[] = [];
  const reportHosts: ReportHost[] = [];
  for (const series of dataset.series) {
    const scored = scoreSeries(dataset.file, series, o, notes);
    hosts.push(scored.model);
    for (const r of scored.records) records.push(r);
    for (const e of scored.events) events.push(e);
    reportHosts.push(scored.reportHost);
  }
  const threshold =
    o.model === 'fused' ? o.openThreshold : o.model === 'bands' ? 0 : (hosts[0]?.forestThreshold ?? NaN);
  let evaluation: EvaluationReport | undefined;
  if (truth.source !== 'none') {
    const points: ScoredPoint[] = records.map((r) => ({
      hostId: r.hostId,
      timeMs: r.timeMs,
      score: r.score,
      isAnomaly: r.isAnomaly,
    }));
    evaluation = evaluateDetection(
      {
        points,
        truth: truth.windows,
        events: events.map((e) => ({ hostId: e.hostId, startMs: e.startMs, endMs: e.endMs })),
      },
      { graceMs: o.graceMs },
    );
  }
  const summary = summarize(records, events.length);
  const report: ReportInput = {
    title: baseName(dataset.file),
    source: dataset.file,
    mode: 'offline',
    generatedAtMs: context.generatedAtMs,
    model: o.model,
    threshold,
    hosts: reportHosts,
    truth: truth.windows.map((w): ReportTruthWindow => ({
      hostId: w.hostId,
      injectionId: w.injectionId,
      anomalyType: w.anomalyType,
      startMs: w.startMs,
      endMs: w.endMs,
      requested: {},
      achieved: {},
      reachedTarget: true,
      shortfall: '',
    })),
    events,
    evaluation,
  };
  return {
    file: dataset.file,
    format: dataset.format,
    options: o,
    threshold,
    hosts,
    records,
    events,
    truth,
    evaluation,
    summary,
    prmonSummary: dataset.prmonSummary,
    notes,
    report,
  };
}

function baseName(path: string): string {
  return path.replace(/\\/g, '/').split('/').pop() || path;
}

/** The features of one series: names, units and one column of values each, without gaps. */
export interface OfflineFeatures {
  readonly names: string[];
  readonly units: string[];
  /** Per feature, one finite value per record. */
  readonly columns: Float64Array[];
}

/**
 * Step 1 of the pipeline: counters to rates, gaps filled. `notes` receives a line per metric
 * with missing values and per metric dropped.
 */
export function buildOfflineFeatures(series: OfflineSeries, notes: string[] = []): OfflineFeatures {
  const names: string[] = [];
  const units: string[] = [];
  const columns: Float64Array[] = [];
  const n = series.timesMs.length;
  const seconds =
    n > 1 && series.metrics.some((m) => m.counter) ? spreadTimesSeconds(series.timesMs) : undefined;
  for (const metric of series.metrics) {
    let missing = 0;
    for (let i = 0; i < n; i++) if (Number.isNaN(metric.values[i]!)) missing++;
    const column = metric.counter ? counterRates(metric.values, seconds!) : metric.values.slice();
    if (!fillGaps(column)) {
      notes.push(
        `${series.hostId}: ${metric.name} has ${metric.counter ? 'fewer than two values: no rate' : 'no value'}: not scored`,
      );
      continue;
    }
    if (missing > 0) {
      notes.push(
        `${series.hostId}: ${metric.name} has ${missing} missing value${missing === 1 ? '' : 's'}: carried forward`,
      );
    }
    names.push(metric.counter ? `${metric.name}_per_second` : metric.name);
    units.push(metric.counter ? (metric.unit === '' ? '/s' : `${metric.unit}/s`) : metric.unit);
    columns.push(column);
  }
  return { names, units, columns };
}

/**
 * Record times in seconds, strictly increasing: a run of m records sharing one time T gets
 * T + k·r/m (k = 0…m−1), with r the smallest positive step between distinct times (1 s
 * when there is none).
 */
function spreadTimesSeconds(timesMs: Float64Array): Float64Array {
  const n = timesMs.length;
  let resolution = Infinity;
  for (let i = 1; i < n; i++) {
    const d = timesMs[i]! - timesMs[i - 1]!;
    if (d > 0 && d < resolution) resolution = d;
  }
  if (resolution === Infinity) resolution = 1000;
  const out = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && timesMs[j + 1] === timesMs[i]) j++;
    const m = j - i + 1;
    for (let k = 0; k < m; k++) out[i + k] = (timesMs[i]! + (k * resolution) / m) / 1000;
    i = j + 1;
  }
  return out;
}

/** Per-second rates of a counter (NaN where there is no value or no previous value). */
function counterRates(values: Float64Array, seconds: Float64Array): Float64Array {
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  let last = NaN;
  let lastT = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    if (!Number.isNaN(last)) {
      const increase = v >= last ? v - last : v;
      out[i] = increase / (seconds[i]! - lastT);
    }
    last = v;
    lastT = seconds[i]!;
  }
  return out;
}

/** Carries values forward over NaNs (backward before the first value); false when all are NaN. */
function fillGaps(column: Float64Array): boolean {
  const n = column.length;
  let first = -1;
  for (let i = 0; i < n; i++) {
    if (!Number.isNaN(column[i]!)) {
      first = i;
      break;
    }
  }
  if (first < 0) return false;
  for (let i = 0; i < first; i++) column[i] = column[first]!;
  for (let i = first + 1; i < n; i++) if (Number.isNaN(column[i]!)) column[i] = column[i - 1]!;
  return true;
}

/** Row-major matrix of the features. */
function featureMatrix(features: OfflineFeatures, n: number): Matrix {
  const d = features.columns.length;
  const data = new Float64Array(n * d);
  features.columns.forEach((col, j) => {
    for (let i = 0; i < n; i++) data[i * d + j] = col[i]!;
  });
  return matrixFromData(data, n, d);
}

/** (x − mean) / std per column, population std, a constant column divided by 1 (scikit-learn's rule). */
function standardScale(X: Matrix): Matrix {
  const { rows: n, cols: d, data } = X;
  const out = new Float64Array(n * d);
  for (let j = 0; j < d; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += data[i * d + j]!;
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const dev = data[i * d + j]! - mean;
      ss += dev * dev;
    }
    const std = Math.sqrt(ss / n);
    // Below a few ulps of the mean the "spread" is rounding noise: treat the column as constant.
    const scale = std > 1e-12 * Math.max(1, Math.abs(mean)) ? std : 1;
    for (let i = 0; i < n; i++) out[i * d + j] = (data[i * d + j]! - mean) / scale;
  }
  return matrixFromData(out, n, d);
}

interface ScoredSeries {
  model: OfflineHostModel;
  records: OfflineRecordScore[];
  events: ReportEvent[];
  reportHost: ReportHost;
}

function scoreSeries(
  file: string,
  series: OfflineSeries,
  o: ResolvedOfflineScoreOptions,
  notes: string[],
): ScoredSeries {
  const n = series.timesMs.length;
  if (n < 2) {
    throw new InputFileError(
      file,
      series.lines[0] ?? 0,
      '',
      `host ${JSON.stringify(series.hostId)} has ${n} record${n === 1 ? '' : 's'}: scoring needs at least 2`,
    );
  }
  const features = buildOfflineFeatures(series, notes);
  const d = features.names.length;
  if (d === 0) {
    throw new InputFileError(
      file,
      0,
      '',
      `host ${JSON.stringify(series.hostId)} has no metric with values to score`,
    );
  }
  const X = featureMatrix(features, n);
  const scaled = o.scaling === 'standard' ? standardScale(X) : new RobustScaler().fit(X).transform(X);

  let forestScores: Float64Array | undefined;
  let forestThreshold: number | undefined;
  if (o.model !== 'bands') {
    const forest = new IsolationForest({
      nEstimators: o.nEstimators,
      contamination: o.contamination,
      seed: o.seed,
    }).fit(scaled);
    const raw = forest.scoreSamples(scaled);
    forestScores = raw.map((v) => -v);
    forestThreshold = -forest.offset;
  }

  const warmup =
    o.bandWarmupPoints === 'auto' ? Math.min(120, Math.max(10, Math.floor(n / 5))) : o.bandWarmupPoints;
  if (warmup >= n && o.model !== 'iforest') {
    notes.push(
      `${series.hostId}: ${n} records do not fill the bands' warm-up of ${warmup}: the bands give no verdict`,
    );
  }
  const bands = new MultiMetricBands(
    { intervalWidth: o.intervalWidth, thresholdMultiplier: o.thresholdMultiplier, warmupPoints: warmup },
    features.names,
  );
  // A forest threshold at or above 1 (every score tied) would be outside fusion's (0, 1).
  const fusionThreshold = Math.min(Math.max(forestThreshold ?? 0.5, 1e-6), 1 - 1e-6);
  const fusion: FusionOptions = {
    mode: 'max',
    iforestWeight: o.model === 'bands' ? 0 : 1,
    bandWeight: o.model === 'iforest' ? 0 : 1,
    iforestThreshold: fusionThreshold,
  };
  const open = o.model === 'fused' ? o.openThreshold : FLAGGED_EPSILON;
  const trackerOptions: AnomalyEventOptions = {
    openThreshold: open,
    closeThreshold: o.model === 'fused' ? Math.min(0.1, open / 2) : FLAGGED_EPSILON / 2,
    closeAfter: o.closeAfter,
    fusion,
  };
  const tracker = new AnomalyEventTracker({ hostId: series.hostId }, trackerOptions);
  const closed: AnomalyEvent[] = [];
  const contextNames = Object.keys(series.context);
  const records: OfflineRecordScore[] = new Array<OfflineRecordScore>(n);
  const scores: number[] = new Array<number>(n);
  const flags: boolean[] = new Array<boolean>(n);
  const row = new Float64Array(d);
  const standoutWeight = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = features.columns[j]![i]!;
    const verdicts = bands.observeValues(row);
    const s = forestScores?.[i];
    const step = tracker.observe({
      seq: BigInt(i + 1),
      timeUnixNano: msToUnixNano(series.timesMs[i]!),
      iforestScore: s,
      bands: verdicts,
    });
    for (const t of step.transitions) if (t.kind === 'closed') closed.push(t.event);
    const score = o.model === 'iforest' ? s! : o.model === 'bands' ? step.fused.bandPart : step.fused.score;
    const isAnomaly = o.model === 'iforest' ? s! > forestThreshold! : step.isAnomaly;
    const standouts = isAnomaly ? pickStandouts(features, scaled, i, verdicts) : [];
    for (const st of standouts) {
      const j = features.names.indexOf(st.feature);
      standoutWeight[j] = standoutWeight[j]! + Math.abs(st.z);
    }
    const ctx: Record<string, string> = {};
    for (const name of contextNames) ctx[name] = series.context[name]![i]!;
    records[i] = {
      hostId: series.hostId,
      line: series.lines[i]!,
      timeMs: series.timesMs[i]!,
      score,
      isAnomaly,
      iforestScore: s ?? NaN,
      bandScore: step.fused.bandPart,
      context: ctx,
      standouts,
    };
    scores[i] = score;
    flags[i] = isAnomaly;
  }
  for (const t of tracker.finish()) if (t.kind === 'closed') closed.push(t.event);

  const events = closed.map((e): ReportEvent => ({
    eventId: e.eventId,
    hostId: e.hostId,
    startMs: unixNanoToMs(e.startUnixNano),
    endMs: unixNanoToMs(e.endUnixNano),
    peakScore: e.peakScore,
    severity: e.severity,
    topMetrics: e.topMetrics.map((m) => m.metric),
  }));
  const shown = reportFeatures(features, scaled, standoutWeight);
  const metrics: Record<string, number[]> = {};
  for (const j of shown) {
    let key = reportMetricKey(features.names[j]!);
    while (key in metrics) key += '_';
    metrics[key] = Array.from(features.columns[j]!);
  }
  return {
    model: {
      hostId: series.hostId,
      records: n,
      features: features.names,
      forestThreshold,
      bandWarmupPoints: warmup,
    },
    records,
    events,
    reportHost: {
      hostId: series.hostId,
      timesMs: Array.from(series.timesMs),
      metrics,
      scores,
      isAnomaly: flags,
    },
  };
}

/**
 * A feature's key in the report: the report's plots use keys as field names in expressions,
 * so anything but letters, digits and `_` (a column named `mem (MB)` or `cpu.user`) becomes `_`.
 */
function reportMetricKey(feature: string): string {
  const key = feature.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(key) ? `_${key}` : key;
}

/** Features out of their band first (farthest first), then by |z|; at most {@link STANDOUTS}. */
function pickStandouts(
  features: OfflineFeatures,
  scaled: Matrix,
  i: number,
  verdicts: readonly MetricBandVerdict[],
): OfflineStandout[] {
  const d = features.names.length;
  const all: Array<OfflineStandout & { distance: number }> = [];
  for (let j = 0; j < d; j++) {
    const v = verdicts[j];
    const outside = v !== undefined && v.status === BandStatus.Anomaly;
    all.push({
      feature: features.names[j]!,
      value: features.columns[j]![i]!,
      z: scaled.data[i * d + j]!,
      outsideBand: outside,
      distance: outside ? v.distance : 0,
    });
  }
  all.sort((a, b) => b.distance - a.distance || Math.abs(b.z) - Math.abs(a.z));
  return all
    .slice(0, STANDOUTS)
    .map(({ feature, value, z, outsideBand }) => ({ feature, value, z, outsideBand }));
}

/**
 * The features worth plotting: those that stood out most in anomalous records, then those
 * with the largest |z| anywhere; at most {@link REPORT_METRICS}, in feature order.
 */
function reportFeatures(features: OfflineFeatures, scaled: Matrix, weight: Float64Array): number[] {
  const d = features.names.length;
  const n = scaled.rows;
  const peak = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const a = Math.abs(scaled.data[i * d + j]!);
      if (a > peak[j]!) peak[j] = a;
    }
  }
  const order = Array.from({ length: d }, (_, j) => j).sort(
    (a, b) => weight[b]! - weight[a]! || peak[b]! - peak[a]! || a - b,
  );
  return order.slice(0, REPORT_METRICS).sort((a, b) => a - b);
}

/** Counts overall and per `phase` (else `state`) value. */
function summarize(records: readonly OfflineRecordScore[], events: number): OfflineScoreSummary {
  const rows = records.length;
  let anomalies = 0;
  for (const r of records) if (r.isAnomaly) anomalies++;
  const first = records[0];
  const groupBy =
    first === undefined
      ? undefined
      : 'phase' in first.context
        ? 'phase'
        : 'state' in first.context
          ? 'state'
          : undefined;
  const groups: OfflineGroupCount[] = [];
  if (groupBy !== undefined) {
    const acc = new Map<string, { rows: number; anomalies: number; scoreSum: number }>();
    for (const r of records) {
      const value = r.context[groupBy] ?? '';
      let g = acc.get(value);
      if (g === undefined) acc.set(value, (g = { rows: 0, anomalies: 0, scoreSum: 0 }));
      g.rows++;
      if (r.isAnomaly) g.anomalies++;
      g.scoreSum += r.score;
    }
    for (const [value, g] of acc) {
      groups.push({
        value,
        rows: g.rows,
        anomalies: g.anomalies,
        share: g.anomalies / g.rows,
        meanScore: g.scoreSum / g.rows,
      });
    }
  }
  return { rows, anomalies, share: rows === 0 ? 0 : anomalies / rows, events, groupBy, groups };
}
