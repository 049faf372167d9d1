/**
 * Grading detection against ground truth: point-wise and point-adjusted precision, recall and
 * F1, event-wise precision and recall, ROC-AUC, average precision (PR-AUC), detection delay,
 * a confusion matrix and a threshold sweep, overall and per anomaly type. Pure: it takes the
 * scored points, the truth windows and the detected events, and returns numbers.
 *
 * @example
 * ```ts
 * const report = evaluateDetection({
 *   points: [{ hostId: 'h1', timeMs: 1000, score: 0.82, isAnomaly: true }, ...],
 *   truth: [{ hostId: 'h1', injectionId: 'inj-1', anomalyType: 'ram_spike', startMs: 900, endMs: 5000 }],
 *   events: [{ hostId: 'h1', startMs: 1000, endMs: 4000 }],
 * }, { graceMs: 5000 });
 * report.pointwise.f1; report.eventwise.recall; report.byType.ram_spike.delay.p50Ms;
 * ```
 *
 * Conventions
 * -----------
 * - Times are ms since the epoch (`unixNanoToMs` converts the protocol's ns). Windows and
 *   events are closed intervals [startMs, endMs]; `endMs` may be Infinity (still running).
 * - A point is a true anomaly when a truth window of its host contains its time (the one with
 *   the latest start if several do). Scores rank points: higher is more anomalous, and a
 *   threshold t predicts `score >= t` (scikit-learn's convention).
 * - Undefined ratios follow scikit-learn's `zero_division=0`: precision, recall and F1 are 0
 *   when their denominator is 0 (no predicted positives, no true positives). ROC-AUC and
 *   average precision are NaN when the points hold a single class (scikit-learn raises or
 *   warns there); delay percentiles are NaN when no injection was detected.
 * - Per anomaly type, the metrics are computed on that type's windows together with the
 *   normal data: the points outside every window, and the events that match no window.
 *   Points and events that belong only to windows of other types are left out.
 */
import { InvalidEvaluationInputError } from './errors.js';
import { checkInteger, checkNumber, checkObject } from './option-checks.js';

/** A scored sample. */
export interface ScoredPoint {
  hostId: string;
  /** Sample time, ms since the epoch. */
  timeMs: number;
  /** Anomaly score: higher is more anomalous (any finite scale). */
  score: number;
  /** The detector's decision on the point. */
  isAnomaly: boolean;
}

/** A truth window: one injection on one host. */
export interface TruthSpan {
  hostId: string;
  injectionId: string;
  anomalyType: string;
  /** ms since the epoch, inclusive. */
  startMs: number;
  /** ms since the epoch, inclusive; Infinity while running. */
  endMs: number;
}

/** A detected anomaly event. */
export interface DetectedEventSpan {
  hostId: string;
  /** When the event opened, ms since the epoch. */
  startMs: number;
  /** When it ended, ms since the epoch, inclusive; Infinity while open. */
  endMs: number;
}

/** What {@link evaluateDetection} grades. */
export interface EvaluationInput {
  points: readonly ScoredPoint[];
  truth: readonly TruthSpan[];
  events: readonly DetectedEventSpan[];
}

/** Options of {@link evaluateDetection}. */
export interface EvaluationOptions {
  /**
   * An event opening up to this long after a window's end still detects it (and is a true
   * positive). ms, default 5_000, range [0, 86_400_000].
   */
  graceMs?: number;
  /** Thresholds in the sweep, evenly spaced from the lowest to the highest score. Default 101, range [2, 10_000]. */
  sweepSteps?: number;
}

/** {@link EvaluationOptions} with defaults applied and validated. */
export interface ResolvedEvaluationOptions {
  readonly graceMs: number;
  readonly sweepSteps: number;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field. */
export function resolveEvaluationOptions(raw: EvaluationOptions = {}): ResolvedEvaluationOptions {
  const o = checkObject(raw, 'options');
  return Object.freeze({
    graceMs: checkNumber(o.graceMs, 5_000, 'graceMs', { min: 0, max: 86_400_000 }),
    sweepSteps: checkInteger(o.sweepSteps, 101, 'sweepSteps', 2, 10_000),
  });
}

/** Counts of a binary decision against the truth. */
export interface ConfusionMatrix {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Precision, recall and F1 (0 where undefined, see the module conventions). */
export interface BinaryScores {
  precision: number;
  recall: number;
  f1: number;
}

/** Point-wise metrics with their confusion matrix. */
export interface PointMetrics extends BinaryScores {
  confusion: ConfusionMatrix;
}

/** Event-wise metrics. */
export interface EventMetrics extends BinaryScores {
  /** Events graded. */
  events: number;
  /** Events that overlap a truth window or open within `graceMs` after its end. */
  truePositiveEvents: number;
  falsePositiveEvents: number;
  /** Injections graded, each once. */
  injections: number;
  /** Injections in which (or within `graceMs` after which) an event opened. */
  detectedInjections: number;
}

/** Detection delay (event open − injection start) over detected injections. */
export interface DelayStats {
  count: number;
  /** Median, linear interpolation between closest ranks; NaN when count is 0. */
  p50Ms: number;
  /** 90th percentile, same interpolation; NaN when count is 0. */
  p90Ms: number;
  meanMs: number;
  maxMs: number;
}

/** Precision, recall, F1 and false positive rate at evenly spaced thresholds. */
export interface ThresholdSweep {
  /** Increasing thresholds. */
  thresholds: number[];
  precision: number[];
  recall: number[];
  f1: number[];
  falsePositiveRate: number[];
}

/** The threshold with the highest F1 among all distinct scores. */
export interface BestThreshold extends BinaryScores {
  /** Infinity when there are no points or no positives (flag nothing). */
  threshold: number;
}

/** Every metric for one set of points, windows and events. */
export interface DetectionMetrics {
  /** Points graded. */
  points: number;
  /** Of which inside a truth window. */
  positivePoints: number;
  /** From each point's `isAnomaly`. */
  pointwise: PointMetrics;
  /** As `pointwise`, after point adjustment (Xu et al. 2018): see {@link pointAdjust}. */
  pointAdjusted: PointMetrics;
  eventwise: EventMetrics;
  /** Area under the ROC curve of the scores; NaN with a single class. */
  rocAuc: number;
  /** Average precision of the scores (scikit-learn's `average_precision_score`); NaN without positives. */
  prAuc: number;
  delay: DelayStats;
  sweep: ThresholdSweep;
  bestF1: BestThreshold;
}

/** How one injection was detected. */
export interface InjectionOutcome {
  injectionId: string;
  hostId: string;
  anomalyType: string;
  startMs: number;
  endMs: number;
  detected: boolean;
  /** First qualifying event open − window start, ms; NaN when not detected. */
  delayMs: number;
  /** Points inside the window, and of them flagged. */
  points: number;
  flaggedPoints: number;
}

/** The result of {@link evaluateDetection}. */
export interface EvaluationReport extends DetectionMetrics {
  graceMs: number;
  /** The same metrics per anomaly type, in type name order. */
  byType: Record<string, DetectionMetrics>;
  /** One outcome per truth window, in input order. */
  injections: InjectionOutcome[];
}

/** Precision, recall and F1 of a confusion matrix, 0 where a denominator is 0. */
export function binaryScores(c: Pick<ConfusionMatrix, 'tp' | 'fp' | 'fn'>): BinaryScores {
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : 0;
  const f1 = 2 * c.tp + c.fp + c.fn > 0 ? (2 * c.tp) / (2 * c.tp + c.fp + c.fn) : 0;
  return { precision, recall, f1 };
}

/** The confusion matrix of `predictions` against `labels` (truthy = anomalous). */
export function confusionMatrix(
  labels: ArrayLike<number | boolean>,
  predictions: ArrayLike<number | boolean>,
): ConfusionMatrix {
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const truth = Boolean(labels[i]);
    const predicted = Boolean(predictions[i]);
    if (truth) {
      if (predicted) c.tp++;
      else c.fn++;
    } else if (predicted) c.fp++;
    else c.tn++;
  }
  return c;
}

/**
 * Point adjustment (Xu et al., "Unsupervised Anomaly Detection via Variational Auto-Encoder
 * for Seasonal KPIs in Web Applications", WWW 2018): when any point of a true anomaly segment
 * is predicted anomalous, every point of that segment counts as predicted. `segments[i]` is
 * the segment of point i (any integer id), or −1 outside every segment. Returns new predictions.
 */
export function pointAdjust(
  predictions: ArrayLike<number | boolean>,
  segments: ArrayLike<number>,
): Uint8Array {
  const hit = new Set<number>();
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as number;
    if (s >= 0 && predictions[i]) hit.add(s);
  }
  const out = new Uint8Array(segments.length);
  for (let i = 0; i < segments.length; i++) {
    out[i] = predictions[i] || hit.has(segments[i] as number) ? 1 : 0;
  }
  return out;
}

/** Scores split by class, each sorted ascending. */
interface ClassScores {
  positives: Float64Array;
  negatives: Float64Array;
}

function splitScores(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): ClassScores {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) p++;
  const positives = new Float64Array(p);
  const negatives = new Float64Array(labels.length - p);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) positives[a++] = scores[i] as number;
    else negatives[b++] = scores[i] as number;
  }
  positives.sort();
  negatives.sort();
  return { positives, negatives };
}

/**
 * Walks the distinct scores from the highest down, calling `visit` with the threshold and the
 * positives and negatives scored at or above it (ties enter together).
 */
function walkThresholds(s: ClassScores, visit: (threshold: number, tp: number, fp: number) => void): void {
  let i = s.positives.length - 1;
  let j = s.negatives.length - 1;
  while (i >= 0 || j >= 0) {
    const pi = i >= 0 ? (s.positives[i] as number) : -Infinity;
    const nj = j >= 0 ? (s.negatives[j] as number) : -Infinity;
    const t = pi > nj ? pi : nj;
    while (i >= 0 && s.positives[i] === t) i--;
    while (j >= 0 && s.negatives[j] === t) j--;
    visit(t, s.positives.length - 1 - i, s.negatives.length - 1 - j);
  }
}

/** The ROC curve: one point per distinct score (from the highest), after a first (0, 0) at +Infinity. */
export interface RocCurve {
  falsePositiveRate: number[];
  truePositiveRate: number[];
  thresholds: number[];
}

/** The ROC curve of `scores` against `labels`; a rate is NaN when its class is empty. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): RocCurve {
  const s = splitScores(scores, labels);
  const P = s.positives.length;
  const N = s.negatives.length;
  const curve: RocCurve = { falsePositiveRate: [0], truePositiveRate: [0], thresholds: [Infinity] };
  if (P === 0) curve.truePositiveRate[0] = NaN;
  if (N === 0) curve.falsePositiveRate[0] = NaN;
  walkThresholds(s, (t, tp, fp) => {
    curve.thresholds.push(t);
    curve.truePositiveRate.push(tp / P);
    curve.falsePositiveRate.push(fp / N);
  });
  return curve;
}

/**
 * Area under the ROC curve by the trapezoid rule over every distinct threshold; tied scores
 * form one step, which counts a tied positive/negative pair as half a correct ranking.
 * NaN when either class is empty.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const s = splitScores(scores, labels);
  const P = s.positives.length;
  const N = s.negatives.length;
  if (P === 0 || N === 0) return NaN;
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  walkThresholds(s, (_t, tp, fp) => {
    area += ((fp - prevFp) * (tp + prevTp)) / 2;
    prevTp = tp;
    prevFp = fp;
  });
  return area / (P * N);
}

/** The precision-recall curve: one point per distinct score, from the highest (recall rising). */
export interface PrecisionRecallCurve {
  precision: number[];
  recall: number[];
  thresholds: number[];
}

/** The precision-recall curve of `scores`; recall is NaN when there are no positives. */
export function precisionRecallCurve(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
): PrecisionRecallCurve {
  const s = splitScores(scores, labels);
  const P = s.positives.length;
  const curve: PrecisionRecallCurve = { precision: [], recall: [], thresholds: [] };
  walkThresholds(s, (t, tp, fp) => {
    curve.thresholds.push(t);
    curve.precision.push(tp / (tp + fp));
    curve.recall.push(tp / P);
  });
  return curve;
}

/**
 * Average precision, as scikit-learn's `average_precision_score`: AP = Σ (R_k − R_{k−1})·P_k
 * over the distinct thresholds from the highest, R_0 = 0 (no interpolation). NaN without
 * positives.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const s = splitScores(scores, labels);
  const P = s.positives.length;
  if (P === 0) return NaN;
  let ap = 0;
  let prevTp = 0;
  walkThresholds(s, (_t, tp, fp) => {
    ap += ((tp - prevTp) / P) * (tp / (tp + fp));
    prevTp = tp;
  });
  return ap;
}

/**
 * The distinct score with the highest F1 when used as threshold (`score >= t`); on ties the
 * highest such threshold. `threshold` is Infinity when there are no positives.
 */
export function bestF1Threshold(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
): BestThreshold {
  const s = splitScores(scores, labels);
  const P = s.positives.length;
  const best: BestThreshold = { threshold: Infinity, precision: 0, recall: 0, f1: 0 };
  if (P === 0) return best;
  walkThresholds(s, (t, tp, fp) => {
    const f1 = (2 * tp) / (tp + fp + P);
    if (f1 > best.f1) {
      best.threshold = t;
      best.f1 = f1;
      best.precision = tp / (tp + fp);
      best.recall = tp / P;
    }
  });
  return best;
}

/** How many values of the ascending `sorted` are >= `t`. */
function countAtLeast(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

/**
 * Precision, recall, F1 and false positive rate at `steps` thresholds evenly spaced from the
 * lowest to the highest score (one threshold when all scores are equal, none without points).
 */
export function thresholdSweep(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
  steps: number,
): ThresholdSweep {
  const s = splitScores(scores, labels);
  const sweep: ThresholdSweep = { thresholds: [], precision: [], recall: [], f1: [], falsePositiveRate: [] };
  const n = scores.length;
  if (n === 0) return sweep;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = scores[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const count = min === max ? 1 : steps;
  const P = s.positives.length;
  const N = s.negatives.length;
  for (let k = 0; k < count; k++) {
    // The last threshold is exactly the maximum, so the sweep always ends on the top score.
    const t = k === count - 1 ? max : min + ((max - min) * k) / (count - 1);
    const tp = countAtLeast(s.positives, t);
    const fp = countAtLeast(s.negatives, t);
    const scoresAt = binaryScores({ tp, fp, fn: P - tp });
    sweep.thresholds.push(t);
    sweep.precision.push(scoresAt.precision);
    sweep.recall.push(scoresAt.recall);
    sweep.f1.push(scoresAt.f1);
    sweep.falsePositiveRate.push(N > 0 ? fp / N : 0);
  }
  return sweep;
}

/** The q-quantile (q in [0, 1]) of ascending `sorted`, linear between closest ranks; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  return a + (h - lo) * ((sorted[hi] as number) - a);
}

function delayStats(delays: number[]): DelayStats {
  const sorted = Float64Array.from(delays).sort();
  let sum = 0;
  for (const d of sorted) sum += d;
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    meanMs: sorted.length > 0 ? sum / sorted.length : NaN,
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : NaN,
  };
}

function validate(input: EvaluationInput): void {
  const bad = (field: string, what: string, value: unknown): never => {
    throw new InvalidEvaluationInputError(field, `${field} must be ${what}, got ${String(value)}`);
  };
  input.points.forEach((p, i) => {
    if (!Number.isFinite(p.timeMs)) bad(`points[${i}].timeMs`, 'a finite number', p.timeMs);
    if (!Number.isFinite(p.score)) bad(`points[${i}].score`, 'a finite number', p.score);
  });
  const spans = (name: string, list: readonly { startMs: number; endMs: number }[]): void => {
    list.forEach((w, i) => {
      if (!Number.isFinite(w.startMs)) bad(`${name}[${i}].startMs`, 'a finite number', w.startMs);
      if (!(w.endMs >= w.startMs)) bad(`${name}[${i}].endMs`, `>= startMs (${w.startMs})`, w.endMs);
    });
  };
  spans('truth', input.truth);
  spans('events', input.events);
}

/** Truth windows of one host, sorted by start, with the running maximum of their ends. */
interface HostWindows {
  order: number[];
  starts: Float64Array;
  maxEnds: Float64Array;
}

function indexWindows(truth: readonly TruthSpan[]): Map<string, HostWindows> {
  const byHost = new Map<string, number[]>();
  truth.forEach((w, i) => {
    const list = byHost.get(w.hostId);
    if (list === undefined) byHost.set(w.hostId, [i]);
    else list.push(i);
  });
  const index = new Map<string, HostWindows>();
  for (const [host, list] of byHost) {
    list.sort((a, b) => (truth[a] as TruthSpan).startMs - (truth[b] as TruthSpan).startMs || a - b);
    const starts = new Float64Array(list.length);
    const maxEnds = new Float64Array(list.length);
    let running = -Infinity;
    list.forEach((w, k) => {
      const span = truth[w] as TruthSpan;
      starts[k] = span.startMs;
      running = Math.max(running, span.endMs);
      maxEnds[k] = running;
    });
    index.set(host, { order: list, starts, maxEnds });
  }
  return index;
}

/** The window containing time `t` on the host (latest start wins), or −1. */
function windowAt(truth: readonly TruthSpan[], host: HostWindows | undefined, t: number): number {
  if (host === undefined) return -1;
  let lo = 0;
  let hi = host.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((host.starts[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo - 1; k >= 0 && (host.maxEnds[k] as number) >= t; k--) {
    const w = host.order[k] as number;
    if ((truth[w] as TruthSpan).endMs >= t) return w;
  }
  return -1;
}

/** What is shared by the overall and per-type computations. */
interface Graded {
  input: EvaluationInput;
  windowOfPoint: Int32Array;
  /** Per event, the windows it matches (overlap, or opens within grace after the end). */
  eventMatches: number[][];
  /** Per window, the delay of the first event opening in [start, end + grace], or NaN. */
  windowDelay: Float64Array;
  sweepSteps: number;
}

function metricsFor(g: Graded, inWindowSet: (w: number) => boolean): DetectionMetrics {
  const { points, truth } = g.input;
  const selected: number[] = [];
  for (let i = 0; i < points.length; i++) {
    const w = g.windowOfPoint[i] as number;
    if (w < 0 || inWindowSet(w)) selected.push(i);
  }
  const n = selected.length;
  const scores = new Float64Array(n);
  const labels = new Uint8Array(n);
  const predictions = new Uint8Array(n);
  const segments = new Int32Array(n);
  selected.forEach((i, k) => {
    const p = points[i] as ScoredPoint;
    const w = g.windowOfPoint[i] as number;
    scores[k] = p.score;
    labels[k] = w >= 0 ? 1 : 0;
    predictions[k] = p.isAnomaly ? 1 : 0;
    segments[k] = w;
  });
  const pointConfusion = confusionMatrix(labels, predictions);
  const adjustedConfusion = confusionMatrix(labels, pointAdjust(predictions, segments));

  let events = 0;
  let truePositiveEvents = 0;
  for (const matches of g.eventMatches) {
    if (matches.length === 0) {
      events++;
    } else if (matches.some(inWindowSet)) {
      events++;
      truePositiveEvents++;
    }
  }
  let injections = 0;
  const delays: number[] = [];
  for (let w = 0; w < truth.length; w++) {
    if (!inWindowSet(w)) continue;
    injections++;
    const d = g.windowDelay[w] as number;
    if (!Number.isNaN(d)) delays.push(d);
  }
  const eventPrecision = events > 0 ? truePositiveEvents / events : 0;
  const eventRecall = injections > 0 ? delays.length / injections : 0;
  const eventF1 =
    eventPrecision + eventRecall > 0
      ? (2 * eventPrecision * eventRecall) / (eventPrecision + eventRecall)
      : 0;

  return {
    points: n,
    positivePoints: pointConfusion.tp + pointConfusion.fn,
    pointwise: { ...binaryScores(pointConfusion), confusion: pointConfusion },
    pointAdjusted: { ...binaryScores(adjustedConfusion), confusion: adjustedConfusion },
    eventwise: {
      precision: eventPrecision,
      recall: eventRecall,
      f1: eventF1,
      events,
      truePositiveEvents,
      falsePositiveEvents: events - truePositiveEvents,
      injections,
      detectedInjections: delays.length,
    },
    rocAuc: rocAuc(scores, labels),
    prAuc: averagePrecision(scores, labels),
    delay: delayStats(delays),
    sweep: thresholdSweep(scores, labels, g.sweepSteps),
    bestF1: bestF1Threshold(scores, labels),
  };
}

/**
 * Grades `input` (see the module conventions); throws {@link InvalidEvaluationInputError}
 * on a non-finite score or time or a span that ends before it starts, and
 * {@link InvalidOptionsError} on bad options.
 *
 * Event-wise: an event is a true positive when it overlaps a truth window of its host or
 * opens within `graceMs` after the window's end; precision is true positive events over
 * events. Each injection counts once: it is detected when an event of its host opens inside
 * it or within `graceMs` after it, and its delay is the earliest such open minus its start.
 */
export function evaluateDetection(input: EvaluationInput, options: EvaluationOptions = {}): EvaluationReport {
  const o = resolveEvaluationOptions(options);
  validate(input);
  const { points, truth, events } = input;
  const windows = indexWindows(truth);
  const windowOfPoint = new Int32Array(points.length);
  const flagged = new Float64Array(truth.length);
  const inside = new Float64Array(truth.length);
  points.forEach((p, i) => {
    const w = windowAt(truth, windows.get(p.hostId), p.timeMs);
    windowOfPoint[i] = w;
    if (w >= 0) {
      inside[w] = (inside[w] as number) + 1;
      if (p.isAnomaly) flagged[w] = (flagged[w] as number) + 1;
    }
  });

  const windowDelay = new Float64Array(truth.length).fill(NaN);
  const eventMatches = events.map((e) => {
    const matches: number[] = [];
    const host = windows.get(e.hostId);
    if (host === undefined) return matches;
    for (const w of host.order) {
      const span = truth[w] as TruthSpan;
      const overlaps = e.startMs <= span.endMs && e.endMs >= span.startMs;
      const afterEnd = e.startMs > span.endMs && e.startMs <= span.endMs + o.graceMs;
      if (overlaps || afterEnd) matches.push(w);
      if (e.startMs >= span.startMs && e.startMs <= span.endMs + o.graceMs) {
        const delay = e.startMs - span.startMs;
        const known = windowDelay[w] as number;
        if (Number.isNaN(known) || delay < known) windowDelay[w] = delay;
      }
    }
    return matches;
  });

  const graded: Graded = { input, windowOfPoint, eventMatches, windowDelay, sweepSteps: o.sweepSteps };
  const overall = metricsFor(graded, () => true);
  const types = [...new Set(truth.map((w) => w.anomalyType))].sort();
  const byType: Record<string, DetectionMetrics> = {};
  for (const type of types) {
    byType[type] = metricsFor(graded, (w) => (truth[w] as TruthSpan).anomalyType === type);
  }
  const injections = truth.map((w, i): InjectionOutcome => {
    const delayMs = windowDelay[i] as number;
    return {
      injectionId: w.injectionId,
      hostId: w.hostId,
      anomalyType: w.anomalyType,
      startMs: w.startMs,
      endMs: w.endMs,
      detected: !Number.isNaN(delayMs),
      delayMs,
      points: inside[i] as number,
      flaggedPoints: flagged[i] as number,
    };
  });
  return { ...overall, graceMs: o.graceMs, byType, injections };
}
