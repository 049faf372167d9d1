/**
 * Forecast bands: the role Prophet plays in the seed's real-time detector (a forecast, a
 * prediction interval of `intervalWidth`, widened by `thresholdMultiplier`, severities LOW to
 * CRITICAL), made online. Each metric gets a {@link BandForecaster}: a damped-trend
 * Holt-Winters model with additive seasonality, updated in O(1) per point, never refitted.
 *
 * @example
 * ```ts
 * const bands = new MultiMetricBands({ intervalWidth: 0.95, thresholdMultiplier: 2 });
 * for (const sample of samples) {
 *   for (const v of bands.observe({ cpu: sample.cpu, rss: sample.rss })) {
 *     if (v.isAnomaly) console.log(v.metric, v.value, 'outside', v.lower, v.upper, v.severity);
 *   }
 * }
 * ```
 *
 * Notes
 * -----
 * One-step forecast, with level ℓ, trend b, seasonal terms s (period m samples, none when
 * m = 0), damping φ and smoothing α, β, γ (Holt-Winters' additive damped method in the
 * error-correction form of Hyndman & Athanasopoulos, "Forecasting: Principles and Practice"):
 *
 *     ŷ_t = ℓ + φ·b + s[t mod m]          e = y_t − ŷ_t
 *     ℓ ← ℓ + φ·b + α·ẽ     b ← φ·b + α·β·ẽ     s[t mod m] ← s[t mod m] + γ·ẽ
 *
 * where ẽ = clamp(e, −k·σ, k·σ) is the residual clipped at `clipSigmas` = k residual standard
 * deviations (the robust Holt-Winters filter of Gelper, Fried & Croux, "Robust forecasting
 * with exponential and Holt-Winters smoothing", J. Forecasting 29, 2010). The residual
 * variance is an exponentially weighted mean of the clipped squared residuals,
 *
 *     v ← (1 − λ)·v + λ·ẽ² / c_k,     c_k = E[min(Z², k²)] for Z ~ N(0, 1),
 *
 * so that it stays unbiased on Gaussian residuals. For a point outside the decision band
 * every weight (α, β, γ, λ) is further multiplied by `anomalyLearningRate` ρ. That is how
 * anomalies do not poison the state: a spike of any size moves the level by at most ρ·α·k·σ
 * and the variance by at most a factor 1 + ρ·λ·(k²/c_k − 1). A lasting shift is still
 * absorbed, slowly (the clipped updates pull the level and widen the band a little every
 * point), rather than flagged for ever, and the band narrows again afterwards: with the
 * defaults a 30σ shift is flagged for about 75 points.
 *
 * With σ = max(√v, `minStd`, `minRelativeStd`·|ŷ|) and z = Φ⁻¹((1 + `intervalWidth`) / 2),
 * the prediction interval is ŷ ± z·σ and the decision band is ŷ ± h with
 * h = `thresholdMultiplier`·z·σ. A point is anomalous when its distance d = |e| / h exceeds 1;
 * its severity is LOW for d < 1.5, MEDIUM for d < 2.5, HIGH for d < 4 and CRITICAL beyond
 * (`severityCutoffs`), and its band score is 1 − 1/d (0 inside the band, 0.5 at twice the
 * half-width, tending to 1).
 *
 * Warm-up: the first `warmupPoints` values are only buffered. When the buffer is full, the
 * season period is detected by autocorrelation if `seasonPeriod` is `'auto'`
 * ({@link detectSeasonPeriod}), a least-squares line gives the initial level and trend, the
 * mean detrended value per phase the seasonal terms, 1.4826·MAD of the fit residuals the
 * initial σ (their RMS when the MAD is 0), and the filter is run once over the buffer. Only
 * then are verdicts given.
 *
 * Missing values (NaN, ±Infinity) only advance time (the phase, and the level by the damped
 * trend); during warm-up they repeat the last buffered value (or are dropped
 * before the first one).
 */
import { Severity } from '@faultline/protocol';
import { InvalidOptionsError, MalformedModelError } from './errors.js';
import { checkChoice, checkInteger, checkNumber, checkObject, describeValue } from './option-checks.js';

/** Options of a {@link BandForecaster} (and of every forecaster of a {@link MultiMetricBands}). */
export interface ForecastBandsOptions {
  /**
   * Coverage of the prediction interval, as Prophet's `interval_width`. Unitless, default
   * 0.95, range (0, 1). The interval is ŷ ± z·σ with z = Φ⁻¹((1 + intervalWidth) / 2).
   */
  intervalWidth?: number;
  /**
   * Widening of the prediction interval into the decision band, as the seed's
   * `threshold_multiplier` (lower is more sensitive). Unitless, default 2.0, range (0, 100].
   */
  thresholdMultiplier?: number;
  /**
   * Points buffered before the first verdict; the season period and initial state come from
   * them. Samples, default 120, range [10, 1_000_000]; at least twice a numeric
   * `seasonPeriod`.
   */
  warmupPoints?: number;
  /**
   * Length of the seasonal cycle in samples (an integer in [2, 100_000]), `'auto'` to detect
   * it once from the warm-up window by autocorrelation (periods from 2 to warmupPoints / 3, so
   * that the window holds three cycles; none when no significant peak), or `'none'`.
   * Default `'auto'`.
   */
  seasonPeriod?: number | 'auto' | 'none';
  /**
   * Minimum autocorrelation of the detrended warm-up window at a lag, and minimum rise of the
   * autocorrelation from its lowest value at shorter lags, for `'auto'` to accept that lag
   * as the period. Unitless, default 0.3, range (0, 1).
   */
  minSeasonalAutocorrelation?: number;
  /** Level smoothing α. Unitless, default 0.2, range (0, 1]. */
  levelSmoothing?: number;
  /** Trend smoothing β (the trend moves by α·β·ẽ per point). Unitless, default 0.05, range [0, 1]. */
  trendSmoothing?: number;
  /** Trend damping φ (1 is Holt's undamped trend). Unitless, default 0.98, range (0, 1]. */
  trendDamping?: number;
  /** Seasonal smoothing γ. Unitless, default 0.1, range [0, 1]. */
  seasonalSmoothing?: number;
  /**
   * Weight λ of the newest squared residual in the residual variance. Unitless, default 0.02
   * (a memory of about 50 points), range (0, 1).
   */
  varianceSmoothing?: number;
  /**
   * Residuals are clipped at ±clipSigmas·σ before they update the state. Residual standard
   * deviations, default 2 (Huber's usual constant), range [0.5, 100].
   */
  clipSigmas?: number;
  /**
   * Factor on every smoothing weight (α, β, γ, λ) for points outside the decision band, so
   * that an anomaly teaches the model slowly. Unitless, default 0.25, range [0, 1]. At 1 a
   * lasting shift is absorbed within a few dozen points; at 0 nothing is learnt from
   * anomalous points, so a shift beyond the band is flagged until it ends.
   */
  anomalyLearningRate?: number;
  /**
   * Distances (in decision-band half-widths) at which severity becomes MEDIUM, HIGH and
   * CRITICAL; below the first it is LOW. Three increasing numbers above 1, default
   * [1.5, 2.5, 4].
   */
  severityCutoffs?: readonly [number, number, number];
  /** Floor of σ in the metric's unit, so a constant series still has a band. Default 1e-9, range >= 0. */
  minStd?: number;
  /** Floor of σ relative to |ŷ|. Unitless, default 0.001, range [0, 1]. */
  minRelativeStd?: number;
}

/** {@link ForecastBandsOptions} with defaults applied, validated, plus derived constants. */
export interface ResolvedForecastBandsOptions {
  readonly intervalWidth: number;
  readonly thresholdMultiplier: number;
  readonly warmupPoints: number;
  readonly seasonPeriod: number | 'auto' | 'none';
  readonly minSeasonalAutocorrelation: number;
  readonly levelSmoothing: number;
  readonly trendSmoothing: number;
  readonly trendDamping: number;
  readonly seasonalSmoothing: number;
  readonly varianceSmoothing: number;
  readonly clipSigmas: number;
  readonly anomalyLearningRate: number;
  readonly severityCutoffs: readonly [number, number, number];
  readonly minStd: number;
  readonly minRelativeStd: number;
  /** z = Φ⁻¹((1 + intervalWidth) / 2): 1.96 for 0.95. */
  readonly intervalZ: number;
  /** c_k = E[min(Z², clipSigmas²)] for a standard normal Z: 0.9205 for k = 2. */
  readonly clipConsistency: number;
}

const resolvedOptions = new WeakSet<object>();

/**
 * Applies defaults to `raw` and validates every field; throws {@link InvalidOptionsError}
 * naming the field, its range and the value, e.g. `intervalWidth must be in (0, 1), got 1.5`.
 */
export function resolveForecastBandsOptions(raw: ForecastBandsOptions = {}): ResolvedForecastBandsOptions {
  if (resolvedOptions.has(raw)) return raw as ResolvedForecastBandsOptions;
  const o = checkObject(raw, 'options');
  const intervalWidth = checkNumber(o.intervalWidth, 0.95, 'intervalWidth', {
    min: 0,
    max: 1,
    minOpen: true,
    maxOpen: true,
  });
  const thresholdMultiplier = checkNumber(o.thresholdMultiplier, 2, 'thresholdMultiplier', {
    min: 0,
    max: 100,
    minOpen: true,
  });
  const warmupPoints = checkInteger(o.warmupPoints, 120, 'warmupPoints', 10, 1_000_000);
  let seasonPeriod: number | 'auto' | 'none';
  if (typeof o.seasonPeriod === 'number') {
    seasonPeriod = checkInteger(o.seasonPeriod, 0, 'seasonPeriod', 2, 100_000);
    if (warmupPoints < 2 * seasonPeriod) {
      throw new InvalidOptionsError(
        'warmupPoints',
        `warmupPoints must be >= 2 × seasonPeriod (${2 * seasonPeriod}), got ${warmupPoints}`,
      );
    }
  } else {
    seasonPeriod = checkChoice<'auto' | 'none'>(o.seasonPeriod, 'auto', 'seasonPeriod', ['auto', 'none']);
  }
  const unit = { min: 0, max: 1 };
  const openUnit = { min: 0, max: 1, minOpen: true, maxOpen: true };
  const minSeasonalAutocorrelation = checkNumber(
    o.minSeasonalAutocorrelation,
    0.3,
    'minSeasonalAutocorrelation',
    openUnit,
  );
  const levelSmoothing = checkNumber(o.levelSmoothing, 0.2, 'levelSmoothing', { ...unit, minOpen: true });
  const trendSmoothing = checkNumber(o.trendSmoothing, 0.05, 'trendSmoothing', unit);
  const trendDamping = checkNumber(o.trendDamping, 0.98, 'trendDamping', { ...unit, minOpen: true });
  const seasonalSmoothing = checkNumber(o.seasonalSmoothing, 0.1, 'seasonalSmoothing', unit);
  const varianceSmoothing = checkNumber(o.varianceSmoothing, 0.02, 'varianceSmoothing', openUnit);
  const clipSigmas = checkNumber(o.clipSigmas, 2, 'clipSigmas', { min: 0.5, max: 100 });
  const anomalyLearningRate = checkNumber(o.anomalyLearningRate, 0.25, 'anomalyLearningRate', unit);
  const severityCutoffs = checkCutoffs(o.severityCutoffs);
  const minStd = checkNumber(o.minStd, 1e-9, 'minStd', { min: 0, max: Infinity });
  const minRelativeStd = checkNumber(o.minRelativeStd, 0.001, 'minRelativeStd', unit);
  const resolved: ResolvedForecastBandsOptions = Object.freeze({
    intervalWidth,
    thresholdMultiplier,
    warmupPoints,
    seasonPeriod,
    minSeasonalAutocorrelation,
    levelSmoothing,
    trendSmoothing,
    trendDamping,
    seasonalSmoothing,
    varianceSmoothing,
    clipSigmas,
    anomalyLearningRate,
    severityCutoffs,
    minStd,
    minRelativeStd,
    intervalZ: normalQuantile((1 + intervalWidth) / 2),
    clipConsistency: clippedSquareMean(clipSigmas),
  });
  resolvedOptions.add(resolved);
  return resolved;
}

function checkCutoffs(value: unknown): readonly [number, number, number] {
  if (value === undefined) return Object.freeze([1.5, 2.5, 4] as const);
  const ok =
    Array.isArray(value) &&
    value.length === 3 &&
    value.every((c) => typeof c === 'number' && Number.isFinite(c)) &&
    (value[0] as number) > 1 &&
    (value[0] as number) < (value[1] as number) &&
    (value[1] as number) < (value[2] as number);
  if (!ok) {
    throw new InvalidOptionsError(
      'severityCutoffs',
      `severityCutoffs must be 3 increasing finite numbers above 1, got ${describeValue(value)}`,
    );
  }
  const [a, b, c] = value as number[];
  return Object.freeze([a as number, b as number, c as number] as const);
}

/**
 * The standard normal quantile Φ⁻¹(p) by Acklam's rational approximation (relative error
 * below 1.2e-9). Returns −Infinity for 0, Infinity for 1 and NaN outside [0, 1].
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const pLow = 0.02425;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return tailRatio(q);
  }
  if (p > 1 - pLow) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -tailRatio(q);
  }
  const q = p - 0.5;
  const r = q * q;
  const num =
    (((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r +
      1.38357751867269e2) *
      r -
      3.066479806614716e1) *
      r +
      2.506628277459239) *
    q;
  const den =
    ((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r +
      6.680131188771972e1) *
      r -
      1.328068155288572e1) *
      r +
    1;
  return num / den;
}

function tailRatio(q: number): number {
  const num =
    ((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) *
      q +
      4.374664141464968) *
      q +
    2.938163982698783;
  const den =
    (((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) *
      q +
    1;
  return num / den;
}

/** E[min(Z², k²)] for Z ~ N(0, 1), by Simpson's rule on [0, k] (exact to ~1e-10 for k ≤ 100). */
function clippedSquareMean(k: number): number {
  const steps = 2000;
  const hStep = k / steps;
  let tails = 0;
  let mass = 0;
  for (let i = 0; i <= steps; i++) {
    const z = i * hStep;
    const w = i === 0 || i === steps ? 1 : i % 2 === 1 ? 4 : 2;
    const pdf = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
    tails += w * z * z * pdf;
    mass += w * pdf;
  }
  const inner = (2 * tails * hStep) / 3;
  const central = (2 * mass * hStep) / 3;
  return inner + k * k * (1 - central);
}

/** Options of {@link detectSeasonPeriod}. */
export interface SeasonDetectionOptions {
  /** Shortest period considered, samples; default 2. */
  minPeriod?: number;
  /** Longest period considered, samples; default floor(n / 3) (three cycles in the window). */
  maxPeriod?: number;
  /** See {@link ForecastBandsOptions.minSeasonalAutocorrelation}; default 0.3. */
  minAutocorrelation?: number;
}

/**
 * The season period of `values` in samples, or 0 when there is none. The series is detrended
 * by a least-squares line and its sample autocorrelation r(l) computed up to `maxPeriod` + 1.
 * A lag qualifies when r(l) is a local maximum (r(l) ≥ r(l − 1), r(l) ≥ r(l + 1)), reaches
 * `minAutocorrelation`, and rises by at least `minAutocorrelation` above the lowest r at
 * shorter lags (so the slow decay of a smooth, non-periodic series is not read as a cycle).
 * The first qualifying lag marks the first cycle; the highest qualifying peak below 1.5 times
 * it is kept, and the period is then the one of it ± 2 whose per-phase means explain the most
 * variance (adjusted R²), since noise blurs the flat top of the peak. O(n · maxPeriod), once.
 */
export function detectSeasonPeriod(values: ArrayLike<number>, options: SeasonDetectionOptions = {}): number {
  const n = values.length;
  const minPeriod = Math.max(2, options.minPeriod ?? 2);
  const maxPeriod = Math.min(options.maxPeriod ?? Math.floor(n / 3), n - 2);
  const threshold = options.minAutocorrelation ?? 0.3;
  if (n < 4 || maxPeriod < minPeriod) return 0;
  const { intercept, slope } = fitLine(values);
  const x = new Float64Array(n);
  let energy = 0;
  for (let t = 0; t < n; t++) {
    const d = (values[t] as number) - intercept - slope * t;
    x[t] = d;
    energy += d * d;
  }
  if (!(energy > 0)) return 0;
  const lastLag = maxPeriod + 1;
  const acf = new Float64Array(lastLag + 1);
  acf[0] = 1;
  for (let lag = 1; lag <= lastLag; lag++) {
    let sum = 0;
    for (let t = 0; t + lag < n; t++) sum += (x[t] as number) * (x[t + lag] as number);
    acf[lag] = sum / energy;
  }
  // The first peak that qualifies marks the first cycle; noise can split its top, so the
  // highest qualifying peak below 1.5 times its lag is taken (later cycles repeat it).
  let best = 0;
  let bestAcf = -Infinity;
  let lowest = Infinity;
  for (let lag = 1; lag <= maxPeriod; lag++) {
    if (best > 0 && lag >= 1.5 * best) break;
    const r = acf[lag] as number;
    if (
      lag >= minPeriod &&
      r >= threshold &&
      r - lowest >= threshold &&
      r >= (acf[lag - 1] as number) &&
      r >= (acf[lag + 1] as number) &&
      r > bestAcf
    ) {
      best = lag;
      bestAcf = r;
    }
    if (r < lowest) lowest = r;
  }
  if (best === 0) return 0;
  // The top of an autocorrelation peak is flat, so noise can move it by a lag or two; the
  // neighbouring periods are compared by how much of the variance their folded means explain.
  let refined = best;
  let bestFit = -Infinity;
  for (let p = Math.max(minPeriod, best - 2); p <= Math.min(maxPeriod, best + 2); p++) {
    const fit = foldedFit(x, energy, p);
    if (fit > bestFit) {
      bestFit = fit;
      refined = p;
    }
  }
  return refined;
}

/** Adjusted R² of the per-phase means of `x` (zero-mean, sum of squares `energy`) at `period`. */
function foldedFit(x: Float64Array, energy: number, period: number): number {
  const n = x.length;
  const sums = new Float64Array(period);
  const counts = new Float64Array(period);
  for (let t = 0; t < n; t++) {
    const j = t % period;
    sums[j] = (sums[j] as number) + (x[t] as number);
    counts[j] = (counts[j] as number) + 1;
  }
  let explained = 0;
  for (let j = 0; j < period; j++)
    explained += ((sums[j] as number) * (sums[j] as number)) / (counts[j] as number);
  return 1 - (energy - explained) / (n - period) / (energy / (n - 1));
}

function fitLine(values: ArrayLike<number>): { intercept: number; slope: number } {
  const n = values.length;
  const tMean = (n - 1) / 2;
  let yMean = 0;
  for (let t = 0; t < n; t++) yMean += values[t] as number;
  yMean /= n;
  let sxy = 0;
  let sxx = 0;
  for (let t = 0; t < n; t++) {
    const dt = t - tMean;
    sxy += dt * ((values[t] as number) - yMean);
    sxx += dt * dt;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { intercept: yMean - slope * tMean, slope };
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Where a forecaster is with a point. */
export const BandStatus = {
  /** Still buffering the warm-up window: no forecast, no verdict. */
  Warmup: 'warmup',
  /** The value was missing (NaN or ±Infinity): a forecast but no verdict. */
  Missing: 'missing',
  /** Inside the decision band. */
  Normal: 'normal',
  /** Outside the decision band. */
  Anomaly: 'anomaly',
} as const;
export type BandStatus = (typeof BandStatus)[keyof typeof BandStatus];

/** A forecaster's verdict on one point. */
export interface BandVerdict {
  status: BandStatus;
  /** The observed value, as given. */
  value: number;
  /** The one-step forecast ŷ; NaN during warm-up. */
  expected: number;
  /** Lower edge of the decision band ŷ − h; NaN during warm-up. */
  lower: number;
  /** Upper edge of the decision band ŷ + h; NaN during warm-up. */
  upper: number;
  /** |value − ŷ| / h: above 1 is outside the band; 0 during warm-up and for missing values. */
  distance: number;
  /** Band score in [0, 1]: 0 inside the band, 1 − 1/distance outside. */
  score: number;
  /** LOW..CRITICAL when anomalous, SEVERITY_UNSPECIFIED otherwise. */
  severity: Severity;
  isAnomaly: boolean;
}

/** A {@link BandVerdict} of one named metric. */
export interface MetricBandVerdict extends BandVerdict {
  metric: string;
}

/** A fresh verdict object to reuse with {@link BandForecaster.update}. */
export function createBandVerdict(): BandVerdict {
  return {
    status: BandStatus.Warmup,
    value: NaN,
    expected: NaN,
    lower: NaN,
    upper: NaN,
    distance: 0,
    score: 0,
    severity: Severity.SEVERITY_UNSPECIFIED,
    isAnomaly: false,
  };
}

/** A per-metric verdict in its warm-up state (no value yet), to be filled by an observation. */
export function createMetricVerdict(metric: string): MetricBandVerdict {
  return {
    metric,
    status: BandStatus.Warmup,
    value: NaN,
    expected: NaN,
    lower: NaN,
    upper: NaN,
    distance: 0,
    score: 0,
    severity: Severity.SEVERITY_UNSPECIFIED,
    isAnomaly: false,
  };
}

/** Severity of a point at `distance` decision-band half-widths from its forecast. */
export function severityForDistance(distance: number, cutoffs: readonly [number, number, number]): Severity {
  if (!(distance > 1)) return Severity.SEVERITY_UNSPECIFIED;
  if (distance < cutoffs[0]) return Severity.SEVERITY_LOW;
  if (distance < cutoffs[1]) return Severity.SEVERITY_MEDIUM;
  if (distance < cutoffs[2]) return Severity.SEVERITY_HIGH;
  return Severity.SEVERITY_CRITICAL;
}

/** Band score of a point at `distance` half-widths: 0 up to 1, then 1 − 1/distance. */
export function bandScoreForDistance(distance: number): number {
  return distance > 1 ? 1 - 1 / distance : 0;
}

/** A forecaster's state as plain data, for checkpoints; see {@link BandForecaster.snapshot}. */
export interface BandForecasterState {
  readonly version: 1;
  /** Points seen, missing ones included. */
  readonly count: number;
  /** The warm-up buffer while warming up; empty afterwards. */
  readonly warmup: readonly number[];
  /** Season period in samples, 0 for none; −1 while warming up. */
  readonly period: number;
  readonly phase: number;
  readonly level: number;
  readonly trend: number;
  readonly variance: number;
  readonly season: readonly number[];
}

/**
 * One metric's online forecaster and band. Parameters: see {@link ForecastBandsOptions}; the
 * model and the decision rule: see the module notes.
 *
 * Fitted state (after warm-up): `period`, and the level, trend, seasonal terms and residual
 * variance, all updated by {@link update} in O(1).
 */
export class BandForecaster {
  readonly options: ResolvedForecastBandsOptions;
  private count = 0;
  private warmupBuffer: Float64Array | null;
  private warmupFill = 0;
  private seasonPeriod = -1;
  private phase = 0;
  private level = 0;
  private trend = 0;
  private variance = 0;
  private season: Float64Array = new Float64Array(0);
  private readonly halfWidthFactor: number;

  constructor(options: ForecastBandsOptions = {}) {
    this.options = resolveForecastBandsOptions(options);
    this.warmupBuffer = new Float64Array(this.options.warmupPoints);
    this.halfWidthFactor = this.options.intervalZ * this.options.thresholdMultiplier;
  }

  /** True once the warm-up window is complete and verdicts are given. */
  get isWarm(): boolean {
    return this.warmupBuffer === null;
  }

  /** Season period in samples (0 for none); undefined while warming up. */
  get period(): number | undefined {
    return this.seasonPeriod < 0 ? undefined : this.seasonPeriod;
  }

  /** Points seen so far, missing ones included. */
  get pointsSeen(): number {
    return this.count;
  }

  /** Current residual standard deviation σ before the floors; NaN while warming up. */
  get residualStd(): number {
    return this.isWarm ? Math.sqrt(this.variance) : NaN;
  }

  /**
   * Feeds the next point and returns the verdict on it (judged against the forecast made
   * before it was seen). Pass `out` to reuse a verdict object on hot paths.
   */
  update(value: number, out: BandVerdict = createBandVerdict()): BandVerdict {
    this.count++;
    const buffer = this.warmupBuffer;
    if (buffer !== null) {
      out.status = BandStatus.Warmup;
      out.value = value;
      out.expected = NaN;
      out.lower = NaN;
      out.upper = NaN;
      out.distance = 0;
      out.score = 0;
      out.severity = Severity.SEVERITY_UNSPECIFIED;
      out.isAnomaly = false;
      let v = value;
      if (!Number.isFinite(v)) {
        if (this.warmupFill === 0) return out;
        v = buffer[this.warmupFill - 1] as number;
      }
      buffer[this.warmupFill++] = v;
      if (this.warmupFill === buffer.length) this.initialise(buffer);
      return out;
    }
    this.step(value, out);
    return out;
  }

  /** The forecast and decision band for the next point, without consuming it; NaNs while warming up. */
  peek(): { expected: number; lower: number; upper: number } {
    if (!this.isWarm) return { expected: NaN, lower: NaN, upper: NaN };
    const expected = this.level + this.options.trendDamping * this.trend + this.seasonalTerm();
    const half = this.halfWidthFactor * this.sigmaFor(expected);
    return { expected, lower: expected - half, upper: expected + half };
  }

  /** The state as plain data (JSON-safe when finite), to checkpoint and {@link restore} later. */
  snapshot(): BandForecasterState {
    return {
      version: 1,
      count: this.count,
      warmup: this.warmupBuffer === null ? [] : Array.from(this.warmupBuffer.subarray(0, this.warmupFill)),
      period: this.seasonPeriod,
      phase: this.phase,
      level: this.level,
      trend: this.trend,
      variance: this.variance,
      season: Array.from(this.season),
    };
  }

  /**
   * A forecaster with `state` and `options` (which should be those it was taken with); throws
   * {@link MalformedModelError} when the state is inconsistent.
   */
  static restore(state: BandForecasterState, options: ForecastBandsOptions = {}): BandForecaster {
    const f = new BandForecaster(options);
    const bad = (reason: string): never => {
      throw new MalformedModelError('BandForecaster', reason);
    };
    if (state.version !== 1) bad(`unknown state version ${describeValue(state.version)}`);
    if (!Number.isInteger(state.count) || state.count < 0) bad(`count must be a non-negative integer`);
    f.count = state.count;
    if (state.period < 0) {
      if (state.warmup.length >= f.options.warmupPoints) {
        bad(`warm-up holds ${state.warmup.length} points, warmupPoints is ${f.options.warmupPoints}`);
      }
      (f.warmupBuffer as Float64Array).set(state.warmup);
      f.warmupFill = state.warmup.length;
      return f;
    }
    if (!Number.isInteger(state.period) || state.season.length !== state.period) {
      bad(`season has ${state.season.length} terms, period is ${state.period}`);
    }
    if (
      state.period > 0 &&
      !(Number.isInteger(state.phase) && state.phase >= 0 && state.phase < state.period)
    ) {
      bad(`phase ${state.phase} is outside [0, ${state.period})`);
    }
    if (![state.level, state.trend, state.variance].every(Number.isFinite) || state.variance < 0) {
      bad('level, trend and variance must be finite, variance >= 0');
    }
    f.warmupBuffer = null;
    f.seasonPeriod = state.period;
    f.phase = state.phase;
    f.level = state.level;
    f.trend = state.trend;
    f.variance = state.variance;
    f.season = Float64Array.from(state.season);
    return f;
  }

  private seasonalTerm(): number {
    return this.seasonPeriod > 0 ? (this.season[this.phase] as number) : 0;
  }

  private sigmaFor(expected: number): number {
    const o = this.options;
    const raw = Math.sqrt(this.variance);
    const rel = o.minRelativeStd * Math.abs(expected);
    return raw > rel ? (raw > o.minStd ? raw : o.minStd) : rel > o.minStd ? rel : o.minStd;
  }

  /** One filter step on a warm model; fills `out` when given. */
  private step(value: number, out: BandVerdict | null): void {
    const o = this.options;
    const damped = o.trendDamping * this.trend;
    const base = this.level + damped;
    const period = this.seasonPeriod;
    const expected = period > 0 ? base + (this.season[this.phase] as number) : base;
    const sigma = this.sigmaFor(expected);
    const half = this.halfWidthFactor * sigma;
    if (!Number.isFinite(value)) {
      this.level = base;
      this.trend = damped;
      if (period > 0) this.phase = this.phase + 1 === period ? 0 : this.phase + 1;
      if (out !== null) {
        out.status = BandStatus.Missing;
        out.value = value;
        out.expected = expected;
        out.lower = expected - half;
        out.upper = expected + half;
        out.distance = 0;
        out.score = 0;
        out.severity = Severity.SEVERITY_UNSPECIFIED;
        out.isAnomaly = false;
      }
      return;
    }
    const e = value - expected;
    const distance = Math.abs(e) / half;
    const anomalous = distance > 1;
    const limit = o.clipSigmas * sigma;
    const clipped = e > limit ? limit : e < -limit ? -limit : e;
    const rate = anomalous ? o.anomalyLearningRate : 1;
    const alpha = rate * o.levelSmoothing;
    const lambda = rate * o.varianceSmoothing;
    this.level = base + alpha * clipped;
    this.trend = damped + alpha * o.trendSmoothing * clipped;
    if (period > 0) {
      this.season[this.phase] = (this.season[this.phase] as number) + rate * o.seasonalSmoothing * clipped;
      this.phase = this.phase + 1 === period ? 0 : this.phase + 1;
    }
    this.variance = (1 - lambda) * this.variance + (lambda * clipped * clipped) / o.clipConsistency;
    if (out !== null) {
      out.status = anomalous ? BandStatus.Anomaly : BandStatus.Normal;
      out.value = value;
      out.expected = expected;
      out.lower = expected - half;
      out.upper = expected + half;
      out.distance = distance;
      out.score = anomalous ? 1 - 1 / distance : 0;
      out.severity = anomalous
        ? severityForDistance(distance, o.severityCutoffs)
        : Severity.SEVERITY_UNSPECIFIED;
      out.isAnomaly = anomalous;
    }
  }

  private initialise(buffer: Float64Array): void {
    const o = this.options;
    const n = buffer.length;
    let period = 0;
    if (typeof o.seasonPeriod === 'number') period = o.seasonPeriod;
    else if (o.seasonPeriod === 'auto') {
      period = detectSeasonPeriod(buffer, { minAutocorrelation: o.minSeasonalAutocorrelation });
    }
    const { intercept, slope } = fitLine(buffer);
    const season = new Float64Array(period);
    if (period > 0) {
      const counts = new Float64Array(period);
      for (let t = 0; t < n; t++) {
        const j = t % period;
        season[j] = (season[j] as number) + (buffer[t] as number) - intercept - slope * t;
        counts[j] = (counts[j] as number) + 1;
      }
      let mean = 0;
      for (let j = 0; j < period; j++) {
        season[j] = (season[j] as number) / (counts[j] as number);
        mean += season[j] as number;
      }
      mean /= period;
      for (let j = 0; j < period; j++) season[j] = (season[j] as number) - mean;
    }
    const residuals = new Float64Array(n);
    let squares = 0;
    for (let t = 0; t < n; t++) {
      const r =
        (buffer[t] as number) - intercept - slope * t - (period > 0 ? (season[t % period] as number) : 0);
      residuals[t] = r;
      squares += r * r;
    }
    residuals.sort();
    const center = median(residuals);
    for (let t = 0; t < n; t++) residuals[t] = Math.abs((residuals[t] as number) - center);
    residuals.sort();
    const robustStd = 1.4826 * median(residuals);
    this.variance = robustStd > 0 ? robustStd * robustStd : squares / n;
    this.seasonPeriod = period;
    this.season = season;
    this.phase = 0;
    this.trend = slope;
    this.level = intercept - o.trendDamping * slope;
    for (let t = 0; t < n; t++) this.step(buffer[t] as number, null);
    this.warmupBuffer = null;
  }
}

/** Options of a {@link MultiMetricBands}: the same for every metric. */
export type MultiMetricBandsOptions = ForecastBandsOptions;

/**
 * One {@link BandForecaster} per named metric. Metrics are added the first time they appear;
 * a known metric absent from a sample counts as a missing value for it.
 */
export class MultiMetricBands {
  readonly options: ResolvedForecastBandsOptions;
  private readonly names: string[] = [];
  private readonly list: BandForecaster[] = [];
  private readonly index = new Map<string, number>();

  /** `metrics` creates those forecasters up front, in that order (verdicts follow it). */
  constructor(options: MultiMetricBandsOptions = {}, metrics: readonly string[] = []) {
    this.options = resolveForecastBandsOptions(options);
    for (const m of metrics) this.add(m, new BandForecaster(this.options));
  }

  /** The metrics known so far, in verdict order. */
  get metrics(): readonly string[] {
    return this.names;
  }

  /** The forecaster of `metric`, if known. */
  forecaster(metric: string): BandForecaster | undefined {
    const i = this.index.get(metric);
    return i === undefined ? undefined : this.list[i];
  }

  /** Feeds one sample (metric name → value) and returns one verdict per known metric. */
  observe(values: Readonly<Record<string, number | undefined>>): MetricBandVerdict[] {
    for (const metric in values) {
      if (!this.index.has(metric)) this.add(metric, new BandForecaster(this.options));
    }
    const verdicts: MetricBandVerdict[] = new Array<MetricBandVerdict>(this.names.length);
    for (let i = 0; i < this.names.length; i++) {
      const metric = this.names[i] as string;
      const verdict = createMetricVerdict(metric);
      (this.list[i] as BandForecaster).update(values[metric] ?? NaN, verdict);
      verdicts[i] = verdict;
    }
    return verdicts;
  }

  /**
   * The hot-path form of {@link observe}: `values[i]` is the value of `metrics[i]` (NaN or
   * absent beyond the end: missing), no metric is added, and the verdicts of `out` (from a
   * previous call) are reused when given.
   */
  observeValues(values: ArrayLike<number>, out?: MetricBandVerdict[]): MetricBandVerdict[] {
    const n = this.names.length;
    const verdicts = out ?? new Array<MetricBandVerdict>(n);
    for (let i = 0; i < n; i++) {
      let verdict = verdicts[i];
      if (verdict === undefined || verdict.metric !== this.names[i]) {
        verdict = createMetricVerdict(this.names[i] as string);
        verdicts[i] = verdict;
      }
      (this.list[i] as BandForecaster).update(i < values.length ? (values[i] as number) : NaN, verdict);
    }
    verdicts.length = n;
    return verdicts;
  }

  /** Every forecaster's state, by metric, for checkpoints. */
  snapshot(): Record<string, BandForecasterState> {
    const out: Record<string, BandForecasterState> = {};
    this.names.forEach((m, i) => (out[m] = (this.list[i] as BandForecaster).snapshot()));
    return out;
  }

  /** A helper with the forecasters of `states` (see {@link BandForecaster.restore}). */
  static restore(
    states: Readonly<Record<string, BandForecasterState>>,
    options: MultiMetricBandsOptions = {},
  ): MultiMetricBands {
    const bands = new MultiMetricBands(options);
    for (const [metric, state] of Object.entries(states)) {
      bands.add(metric, BandForecaster.restore(state, bands.options));
    }
    return bands;
  }

  private add(metric: string, forecaster: BandForecaster): void {
    this.index.set(metric, this.names.length);
    this.names.push(metric);
    this.list.push(forecaster);
  }
}
