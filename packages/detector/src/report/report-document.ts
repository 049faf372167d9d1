/**
 * The report document: every figure a Faultline report shows, as data, with the Vega-Lite
 * spec of each plot. {@link buildReportDocument} is pure (no I/O, no clock); `writeReport`
 * turns a document into report.json, report.html and plots. See docs/report.md.
 *
 * The document is JSON-safe: undefined quantities (an AUC with a single class, the delay of
 * an undetected injection, a missing metric value) are `null`, never NaN or Infinity, so
 * `JSON.parse(JSON.stringify(doc))` equals `doc`.
 */
import { severityToJSON, type Severity } from '@faultline/protocol';
import type { TopLevelSpec } from 'vega-lite';
import {
  precisionRecallCurve,
  rocCurve,
  type DelayStats,
  type DetectionMetrics,
  type EvaluationReport,
  type InjectionOutcome,
  type PointMetrics,
} from '../evaluation.js';
import { hostFileNames } from '../export/export-experiment.js';
import { checkInteger, checkObject } from '../option-checks.js';
import { metricDisplay, type MetricDisplay } from './report-format.js';
import {
  byTypePlotSpec,
  confusionPlotSpec,
  delayPlotSpec,
  hostPlotSpec,
  prPlotSpec,
  rocPlotSpec,
  sweepPlotSpec,
  typeColors,
} from './report-plots.js';
import type { ReportHost, ReportInput, ReportTruthWindow } from './report-input.js';
import { downsampleIndices } from './series-downsample.js';

/** The `format` tag of every report document; changes when the layout changes incompatibly. */
export const REPORT_FORMAT = 'faultline-report/1';

/** Options of {@link buildReportDocument}. */
export interface ReportDocumentOptions {
  /**
   * Points per host series at most, in the document and its plots; longer series are
   * downsampled by bucketed extrema (each bucket keeps its first sample and the minimum and
   * maximum of every metric, the score and the verdict). Integer in [100, 1_000_000],
   * default 2000.
   */
  maxPointsPerHost?: number;
  /**
   * Hosts whose series are included and plotted; every host is still in the hosts table.
   * Hosts with truth windows or events come first, then the others, each by id. Integer in
   * [0, 10_000], default 20.
   */
  maxPlottedHosts?: number;
  /** Points of the ROC and PR curves at most (exact curves, thinned). Integer in [10, 1_000_000], default 1000. */
  maxCurvePoints?: number;
  /** Bars of the delay histogram at most. Integer in [1, 200], default 20. */
  maxDelayBins?: number;
}

/** {@link ReportDocumentOptions} with defaults applied and validated. */
export interface ResolvedReportDocumentOptions {
  readonly maxPointsPerHost: number;
  readonly maxPlottedHosts: number;
  readonly maxCurvePoints: number;
  readonly maxDelayBins: number;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field, the range and the value. */
export function resolveReportDocumentOptions(raw: ReportDocumentOptions = {}): ResolvedReportDocumentOptions {
  const o = checkObject(raw, 'options');
  return Object.freeze({
    maxPointsPerHost: checkInteger(o.maxPointsPerHost, 2000, 'maxPointsPerHost', 100, 1_000_000),
    maxPlottedHosts: checkInteger(o.maxPlottedHosts, 20, 'maxPlottedHosts', 0, 10_000),
    maxCurvePoints: checkInteger(o.maxCurvePoints, 1000, 'maxCurvePoints', 10, 1_000_000),
    maxDelayBins: checkInteger(o.maxDelayBins, 20, 'maxDelayBins', 1, 200),
  });
}

/** Counts and span of what the report covers. */
export interface ReportOverview {
  hosts: number;
  /** Samples over all hosts (before downsampling). */
  samples: number;
  /** Of which scored by the detector. */
  scoredSamples: number;
  /** Of which flagged anomalous. */
  flaggedSamples: number;
  truthWindows: number;
  /** Anomaly types of the truth windows, sorted. */
  anomalyTypes: string[];
  events: number;
  /** First and last sample time over all hosts, ms since the epoch; null without samples. */
  startMs: number | null;
  endMs: number | null;
  /** The evaluation's grace after a window's end, ms; null without evaluation. */
  graceMs: number | null;
}

/** One row of the summary table: one anomaly type, or every type together (`anomalyType` `all`). */
export interface ReportSummaryRow {
  anomalyType: string;
  /** Injections (truth windows) of the type. */
  injected: number;
  /** Of which detected by an event (event-wise). */
  detected: number;
  missed: number;
  /** Median detection delay over the detected ones, ms; null when none was detected. */
  medianDelayMs: number | null;
  /** Event-wise precision, recall and F1 (see evaluation.ts). */
  precision: number;
  recall: number;
  f1: number;
}

/** The summary table: one row per anomaly type (by name) and the total over every type. */
export interface ReportSummary {
  rows: ReportSummaryRow[];
  total: ReportSummaryRow;
}

/** Precision, recall, F1 and the confusion matrix of point verdicts. */
export interface ReportPointScores {
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Every metric of one scope: all types (`anomalyType` null) or one type. */
export interface ReportScopeMetrics {
  anomalyType: string | null;
  points: number;
  positivePoints: number;
  pointwise: ReportPointScores;
  pointAdjusted: ReportPointScores;
  eventwise: {
    precision: number;
    recall: number;
    f1: number;
    events: number;
    truePositiveEvents: number;
    falsePositiveEvents: number;
    injections: number;
    detectedInjections: number;
  };
  rocAuc: number | null;
  prAuc: number | null;
  delay: {
    count: number;
    p50Ms: number | null;
    p90Ms: number | null;
    meanMs: number | null;
    maxMs: number | null;
  };
  bestF1: { threshold: number | null; precision: number; recall: number; f1: number };
}

/** The metrics overall and per anomaly type (by name). */
export interface ReportMetrics {
  overall: ReportScopeMetrics;
  byType: ReportScopeMetrics[];
}

/**
 * The ROC curve of the scored samples (a sample is positive when a truth window of its host
 * contains its time), thinned to at most `maxCurvePoints` points; `thresholds[0]` is null
 * (the curve's start at +Infinity).
 */
export interface ReportRocCurve {
  auc: number | null;
  falsePositiveRate: number[];
  truePositiveRate: number[];
  thresholds: (number | null)[];
  /** Points of the exact curve. */
  exactPoints: number;
  /** The detector's point-wise verdicts as a point of the plane. */
  operatingPoint: { falsePositiveRate: number; truePositiveRate: number };
}

/** The precision-recall curve of the scored samples (as the ROC curve), thinned. */
export interface ReportPrCurve {
  averagePrecision: number | null;
  recall: number[];
  precision: number[];
  thresholds: number[];
  exactPoints: number;
  /** Positive share of the scored samples: the precision of a random detector. */
  prevalence: number;
  operatingPoint: { recall: number; precision: number };
}

/** The evaluation's threshold sweep, with the detector's threshold and the best-F1 threshold. */
export interface ReportSweep {
  thresholds: number[];
  precision: number[];
  recall: number[];
  f1: number[];
  falsePositiveRate: number[];
  detectorThreshold: number | null;
  bestF1Threshold: number | null;
}

/** One bar of the delay histogram: delays in [startMs, endMs). */
export interface ReportDelayBin {
  startMs: number;
  endMs: number;
  count: number;
  /** Count per anomaly type (types without a delay in the bin left out). */
  byType: Record<string, number>;
}

/** Detection delays (event open − injection start) of the detected injections. */
export interface ReportDelays {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  meanMs: number | null;
  maxMs: number | null;
  /** Injections never detected. */
  undetected: number;
  /** 1, 2 or 5 × 10^k ms, at least 100 ms, so that at most `maxDelayBins` bins hold every delay. */
  binWidthMs: number;
  /** Consecutive bins from 0 to the bin holding the largest delay (one bin when none was detected). */
  bins: ReportDelayBin[];
}

/** One host in the hosts table. */
export interface ReportHostRow {
  hostId: string;
  samples: number;
  scoredSamples: number;
  flaggedSamples: number;
  truthWindows: number;
  detectedInjections: number;
  events: number;
  /** Id of the host's plot; null when the host is not plotted (see `maxPlottedHosts`). */
  plotId: string | null;
}

/** One plotted host's series, downsampled to at most `maxPointsPerHost` points. */
export interface ReportSeries {
  hostId: string;
  /** Samples before downsampling. */
  samples: number;
  downsampled: boolean;
  timesMs: number[];
  /** Metric key → values (null where missing); the keys of `metricDisplays`. */
  metrics: Record<string, (number | null)[]>;
  /** Score per point, null where the sample was not scored. */
  scores: (number | null)[];
  isAnomaly: boolean[];
}

/** A truth window with its outcome. */
export interface ReportInjection {
  injectionId: string;
  hostId: string;
  anomalyType: string;
  startMs: number;
  /** null while still running. */
  endMs: number | null;
  running: boolean;
  durationMs: number | null;
  requested: Record<string, number | string | null>;
  achieved: Record<string, number | null>;
  reachedTarget: boolean;
  shortfall: string;
  /** null without evaluation. */
  detected: boolean | null;
  delayMs: number | null;
  /** Scored samples inside the window, and of them flagged; null without evaluation. */
  points: number | null;
  flaggedPoints: number | null;
}

/** A detected anomaly event. */
export interface ReportEventRow {
  eventId: string;
  hostId: string;
  startMs: number;
  endMs: number;
  durationMs: number;
  peakScore: number | null;
  /** `LOW`, `MEDIUM`, `HIGH`, `CRITICAL` or `UNSPECIFIED`. */
  severity: string;
  topMetrics: string[];
  /**
   * The first truth window (by start) of its host that the event overlaps or opens within the
   * grace after; null when it matches none (a false positive) or there is no truth.
   */
  matchedInjectionId: string | null;
}

/** Kinds of plots. */
export type ReportPlotKind = 'host' | 'roc' | 'pr' | 'confusion' | 'sweep' | 'delays' | 'by-type';

/** One plot: its Vega-Lite spec (data inline) and the files `writeReport` renders it to. */
export interface ReportPlot {
  /** Unique, file-name safe: `roc`, `host-web-1`, …. */
  id: string;
  kind: ReportPlotKind;
  title: string;
  /** One sentence on how to read it. */
  caption: string;
  /** The host of a `host` plot, else null. */
  hostId: string | null;
  /** Paths relative to the output directory. */
  svg: string;
  png: string;
  spec: TopLevelSpec;
}

/** Everything a report shows. */
export interface ReportDocument {
  format: typeof REPORT_FORMAT;
  title: string;
  source: string;
  mode: 'live' | 'offline';
  generatedAtMs: number;
  /** `generatedAtMs` as an ISO 8601 UTC string. */
  generatedAt: string;
  model: string;
  threshold: number | null;
  overview: ReportOverview;
  /** null without evaluation (no ground truth). */
  summary: ReportSummary | null;
  metrics: ReportMetrics | null;
  roc: ReportRocCurve | null;
  pr: ReportPrCurve | null;
  sweep: ReportSweep | null;
  delays: ReportDelays | null;
  /** How each plotted metric is shown (unit, scale), in plot order. */
  metricDisplays: MetricDisplay[];
  hosts: ReportHostRow[];
  series: ReportSeries[];
  injections: ReportInjection[];
  events: ReportEventRow[];
  plots: ReportPlot[];
  /** Remarks shown under the header (downsampling, hosts left out, what is missing). */
  notes: string[];
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

function pointScores(m: PointMetrics): ReportPointScores {
  const { precision, recall, f1 } = m;
  return { precision, recall, f1, ...m.confusion };
}

function delayNumbers(d: DelayStats): ReportScopeMetrics['delay'] {
  return {
    count: d.count,
    p50Ms: finiteOrNull(d.p50Ms),
    p90Ms: finiteOrNull(d.p90Ms),
    meanMs: finiteOrNull(d.meanMs),
    maxMs: finiteOrNull(d.maxMs),
  };
}

function scopeMetrics(m: DetectionMetrics, anomalyType: string | null): ReportScopeMetrics {
  return {
    anomalyType,
    points: m.points,
    positivePoints: m.positivePoints,
    pointwise: pointScores(m.pointwise),
    pointAdjusted: pointScores(m.pointAdjusted),
    eventwise: { ...m.eventwise },
    rocAuc: finiteOrNull(m.rocAuc),
    prAuc: finiteOrNull(m.prAuc),
    delay: delayNumbers(m.delay),
    bestF1: { ...m.bestF1, threshold: finiteOrNull(m.bestF1.threshold) },
  };
}

function summaryRow(anomalyType: string, m: DetectionMetrics): ReportSummaryRow {
  const e = m.eventwise;
  return {
    anomalyType,
    injected: e.injections,
    detected: e.detectedInjections,
    missed: e.injections - e.detectedInjections,
    medianDelayMs: finiteOrNull(m.delay.p50Ms),
    precision: e.precision,
    recall: e.recall,
    f1: e.f1,
  };
}

/** Windows grouped by host. */
function windowsByHost(truth: readonly ReportTruthWindow[]): Map<string, ReportTruthWindow[]> {
  const out = new Map<string, ReportTruthWindow[]>();
  for (const w of truth) {
    const list = out.get(w.hostId);
    if (list === undefined) out.set(w.hostId, [w]);
    else list.push(w);
  }
  return out;
}

function inAnyWindow(windows: readonly ReportTruthWindow[] | undefined, t: number): boolean {
  if (windows === undefined) return false;
  for (const w of windows) if (t >= w.startMs && t <= w.endMs) return true;
  return false;
}

/**
 * Indices of a curve's points to plot: the first and last, and every point at least `step`
 * (Manhattan distance) from the last kept one; `step` doubles until at most `maxPoints` remain.
 */
export function thinCurve(xs: readonly number[], ys: readonly number[], maxPoints: number): number[] {
  const n = xs.length;
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  let step = 2 / maxPoints;
  for (;;) {
    const kept = [0];
    let lx = xs[0] as number;
    let ly = ys[0] as number;
    for (let i = 1; i < n - 1; i++) {
      const x = xs[i] as number;
      const y = ys[i] as number;
      if (Math.abs(x - lx) + Math.abs(y - ly) >= step) {
        kept.push(i);
        lx = x;
        ly = y;
      }
    }
    kept.push(n - 1);
    if (kept.length <= maxPoints) return kept;
    step *= 2;
  }
}

/** The scored samples of every host with their labels (inside a truth window of the host). */
function labelledScores(input: ReportInput): { scores: Float64Array; labels: Uint8Array } {
  const byHost = windowsByHost(input.truth);
  const scores: number[] = [];
  const labels: number[] = [];
  for (const h of input.hosts) {
    const windows = byHost.get(h.hostId);
    for (let i = 0; i < h.timesMs.length; i++) {
      const s = h.scores[i] as number;
      if (!Number.isFinite(s)) continue;
      scores.push(s);
      labels.push(inAnyWindow(windows, h.timesMs[i] as number) ? 1 : 0);
    }
  }
  return { scores: Float64Array.from(scores), labels: Uint8Array.from(labels) };
}

function buildCurves(
  input: ReportInput,
  evaluation: EvaluationReport,
  maxPoints: number,
): { roc: ReportRocCurve | null; pr: ReportPrCurve | null } {
  const { scores, labels } = labelledScores(input);
  let positives = 0;
  for (const l of labels) positives += l;
  const negatives = labels.length - positives;
  const c = evaluation.pointwise.confusion;
  let roc: ReportRocCurve | null = null;
  if (positives > 0 && negatives > 0) {
    const exact = rocCurve(scores, labels);
    const keep = thinCurve(exact.falsePositiveRate, exact.truePositiveRate, maxPoints);
    roc = {
      auc: finiteOrNull(evaluation.rocAuc),
      falsePositiveRate: keep.map((i) => exact.falsePositiveRate[i] as number),
      truePositiveRate: keep.map((i) => exact.truePositiveRate[i] as number),
      thresholds: keep.map((i) => finiteOrNull(exact.thresholds[i] as number)),
      exactPoints: exact.thresholds.length,
      operatingPoint: {
        falsePositiveRate: c.fp + c.tn > 0 ? c.fp / (c.fp + c.tn) : 0,
        truePositiveRate: evaluation.pointwise.recall,
      },
    };
  }
  let pr: ReportPrCurve | null = null;
  if (positives > 0) {
    const exact = precisionRecallCurve(scores, labels);
    const keep = thinCurve(exact.recall, exact.precision, maxPoints);
    pr = {
      averagePrecision: finiteOrNull(evaluation.prAuc),
      recall: keep.map((i) => exact.recall[i] as number),
      precision: keep.map((i) => exact.precision[i] as number),
      thresholds: keep.map((i) => exact.thresholds[i] as number),
      exactPoints: exact.thresholds.length,
      prevalence: positives / labels.length,
      operatingPoint: { recall: evaluation.pointwise.recall, precision: evaluation.pointwise.precision },
    };
  }
  return { roc, pr };
}

/**
 * 1, 2 or 5 × 10^k ms (at least 100 ms): the smallest such width whose half-open bins from 0
 * hold `maxMs` in at most `maxBins` bins.
 */
function niceBinWidth(maxMs: number, maxBins: number): number {
  for (let pow = 100; ; pow *= 10) {
    for (const m of [1, 2, 5]) {
      const w = m * pow;
      if (Math.floor(maxMs / w) + 1 <= maxBins) return w;
    }
  }
}

function buildDelays(evaluation: EvaluationReport, maxBins: number): ReportDelays {
  const detected = evaluation.injections.filter((o) => o.detected && Number.isFinite(o.delayMs));
  const maxMs = detected.reduce((m, o) => Math.max(m, o.delayMs), 0);
  const binWidthMs = niceBinWidth(maxMs, maxBins);
  const binCount = Math.floor(maxMs / binWidthMs) + 1;
  const bins: ReportDelayBin[] = Array.from({ length: binCount }, (_, k) => ({
    startMs: k * binWidthMs,
    endMs: (k + 1) * binWidthMs,
    count: 0,
    byType: {},
  }));
  for (const o of detected) {
    const k = Math.floor(Math.max(0, o.delayMs) / binWidthMs);
    const bin = bins[k] as ReportDelayBin;
    bin.count++;
    bin.byType[o.anomalyType] = (bin.byType[o.anomalyType] ?? 0) + 1;
  }
  const d = delayNumbers(evaluation.delay);
  return {
    count: d.count,
    p50Ms: d.p50Ms,
    p90Ms: d.p90Ms,
    meanMs: d.meanMs,
    maxMs: d.maxMs,
    undetected: evaluation.injections.length - detected.length,
    binWidthMs,
    bins,
  };
}

const outcomeKey = (hostId: string, injectionId: string): string => `${hostId}\u0000${injectionId}`;

function buildInjections(input: ReportInput): ReportInjection[] {
  const outcomes = new Map<string, InjectionOutcome>();
  for (const o of input.evaluation?.injections ?? []) outcomes.set(outcomeKey(o.hostId, o.injectionId), o);
  const rows = input.truth.map((w): ReportInjection => {
    const o = outcomes.get(outcomeKey(w.hostId, w.injectionId));
    const running = !Number.isFinite(w.endMs);
    return {
      injectionId: w.injectionId,
      hostId: w.hostId,
      anomalyType: w.anomalyType,
      startMs: w.startMs,
      endMs: running ? null : w.endMs,
      running,
      durationMs: running ? null : w.endMs - w.startMs,
      requested: Object.fromEntries(
        Object.entries(w.requested).map(([k, v]) => [k, typeof v === 'number' ? finiteOrNull(v) : v]),
      ),
      achieved: Object.fromEntries(Object.entries(w.achieved).map(([k, v]) => [k, finiteOrNull(v)])),
      reachedTarget: w.reachedTarget,
      shortfall: w.shortfall,
      detected: o === undefined ? null : o.detected,
      delayMs: o === undefined ? null : finiteOrNull(o.delayMs),
      points: o === undefined ? null : o.points,
      flaggedPoints: o === undefined ? null : o.flaggedPoints,
    };
  });
  return rows.sort(
    (a, b) => a.startMs - b.startMs || cmp(a.hostId, b.hostId) || cmp(a.injectionId, b.injectionId),
  );
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function severityName(s: Severity): string {
  const name = severityToJSON(s);
  return name.startsWith('SEVERITY_') ? name.slice('SEVERITY_'.length) : name;
}

function buildEvents(input: ReportInput, graceMs: number): ReportEventRow[] {
  const byHost = windowsByHost(input.truth);
  for (const list of byHost.values()) list.sort((a, b) => a.startMs - b.startMs);
  return input.events
    .map((e): ReportEventRow => {
      const match = (byHost.get(e.hostId) ?? []).find(
        (w) => e.startMs <= w.endMs + graceMs && e.endMs >= w.startMs,
      );
      return {
        eventId: e.eventId,
        hostId: e.hostId,
        startMs: e.startMs,
        endMs: e.endMs,
        durationMs: e.endMs - e.startMs,
        peakScore: finiteOrNull(e.peakScore),
        severity: severityName(e.severity),
        topMetrics: [...e.topMetrics],
        matchedInjectionId: match?.injectionId ?? null,
      };
    })
    .sort((a, b) => a.startMs - b.startMs || cmp(a.hostId, b.hostId) || cmp(a.eventId, b.eventId));
}

function tally(keys: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of keys) out.set(k, (out.get(k) ?? 0) + 1);
  return out;
}

function countTrue(values: readonly boolean[]): number {
  let n = 0;
  for (const v of values) if (v) n++;
  return n;
}

function countFinite(values: readonly number[]): number {
  let n = 0;
  for (const v of values) if (Number.isFinite(v)) n++;
  return n;
}

/** The metric keys of the hosts, in first-seen order, with the largest absolute value of each. */
function metricExtents(hosts: readonly ReportHost[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of hosts) {
    for (const [key, values] of Object.entries(h.metrics)) {
      let max = out.get(key) ?? 0;
      for (const v of values) if (Number.isFinite(v) && Math.abs(v) > max) max = Math.abs(v);
      out.set(key, max);
    }
  }
  return out;
}

function downsampleHost(h: ReportHost, keys: readonly string[], maxPoints: number): ReportSeries {
  const n = h.timesMs.length;
  const verdicts = Float64Array.from(h.isAnomaly, (v) => (v ? 1 : 0));
  const tracks: ArrayLike<number>[] = [...keys.map((k) => h.metrics[k] ?? []), h.scores, verdicts];
  const keep = downsampleIndices(n, tracks, maxPoints);
  const pick = (values: readonly number[] | undefined): (number | null)[] =>
    keep.map((i) => {
      const v = values?.[i];
      return v === undefined ? null : finiteOrNull(v);
    });
  return {
    hostId: h.hostId,
    samples: n,
    downsampled: keep.length < n,
    timesMs: keep.map((i) => h.timesMs[i] as number),
    metrics: Object.fromEntries(keys.map((k) => [k, pick(h.metrics[k])])),
    scores: pick(h.scores),
    isAnomaly: keep.map((i) => h.isAnomaly[i] === true),
  };
}

/** Hosts to plot: those with truth windows or events first, then the others, each by id. */
function plottedHosts(input: ReportInput, max: number): ReportHost[] {
  const busy = new Set<string>([...input.truth.map((w) => w.hostId), ...input.events.map((e) => e.hostId)]);
  const ordered = [...input.hosts].sort(
    (a, b) => Number(busy.has(b.hostId)) - Number(busy.has(a.hostId)) || cmp(a.hostId, b.hostId),
  );
  return ordered.slice(0, max);
}

function plot(
  id: string,
  kind: ReportPlotKind,
  title: string,
  caption: string,
  spec: TopLevelSpec,
  hostId: string | null = null,
): ReportPlot {
  return { id, kind, title, caption, hostId, svg: `plots/${id}.svg`, png: `plots/${id}.png`, spec };
}

/**
 * Builds the report document of `input`: tables, curves, histogram, downsampled series and
 * one Vega-Lite spec per plot. Pure. Without an evaluation (no ground truth) the summary,
 * metrics, curves, sweep and delays are null and only the host plots are made.
 *
 * The ROC and PR curves are computed from the hosts' scored samples (a sample is positive
 * when a truth window of its host contains its time): the same points `evaluateDetection`
 * grades when the evaluation was made from the hosts' series, as `collectLiveReportInput` does.
 *
 * @example
 * ```ts
 * const doc = buildReportDocument(input);
 * doc.summary?.rows; // [{ anomalyType: 'ram_spike', injected: 4, detected: 3, medianDelayMs: 4000, … }]
 * await writeReport(doc, 'out');
 * ```
 */
export function buildReportDocument(input: ReportInput, options: ReportDocumentOptions = {}): ReportDocument {
  const o = resolveReportDocumentOptions(options);
  const evaluation = input.evaluation;
  const anomalyTypes = [...new Set(input.truth.map((w) => w.anomalyType))].sort(cmp);
  const colors = typeColors(anomalyTypes);
  const threshold = finiteOrNull(input.threshold);
  const notes: string[] = [];

  let samples = 0;
  let scoredSamples = 0;
  let flaggedSamples = 0;
  let startMs = Infinity;
  let endMs = -Infinity;
  for (const h of input.hosts) {
    samples += h.timesMs.length;
    scoredSamples += countFinite(h.scores);
    flaggedSamples += countTrue(h.isAnomaly);
    for (const t of h.timesMs) {
      if (t < startMs) startMs = t;
      if (t > endMs) endMs = t;
    }
  }

  const injections = buildInjections(input);
  const events = buildEvents(input, evaluation?.graceMs ?? 0);

  const extents = metricExtents(input.hosts);
  const metricDisplays = [...extents].map(([key, max]) => metricDisplay(key, max));
  const keys = metricDisplays.map((d) => d.key);

  const chosen = plottedHosts(input, o.maxPlottedHosts);
  const names = hostFileNames(chosen.map((h) => h.hostId));
  const series = chosen.map((h) => downsampleHost(h, keys, o.maxPointsPerHost));
  const plotIds = new Map(chosen.map((h) => [h.hostId, `host-${names.get(h.hostId) as string}`]));

  const windowsOf = tally(injections.map((w) => w.hostId));
  const detectedOf = tally(injections.filter((w) => w.detected === true).map((w) => w.hostId));
  const eventsOf = tally(events.map((e) => e.hostId));
  const hosts = [...input.hosts]
    .sort((a, b) => cmp(a.hostId, b.hostId))
    .map((h): ReportHostRow => ({
      hostId: h.hostId,
      samples: h.timesMs.length,
      scoredSamples: countFinite(h.scores),
      flaggedSamples: countTrue(h.isAnomaly),
      truthWindows: windowsOf.get(h.hostId) ?? 0,
      detectedInjections: detectedOf.get(h.hostId) ?? 0,
      events: eventsOf.get(h.hostId) ?? 0,
      plotId: plotIds.get(h.hostId) ?? null,
    }));

  const downsampled = series.filter((s) => s.downsampled).length;
  if (downsampled > 0) {
    notes.push(
      `${downsampled} of ${series.length} plotted host series are longer than ${o.maxPointsPerHost} samples and are downsampled for plotting (each bucket keeps its first sample and every metric's minimum and maximum); the evaluation uses every sample.`,
    );
  }
  if (chosen.length < input.hosts.length) {
    notes.push(
      `${input.hosts.length - chosen.length} of ${input.hosts.length} hosts are not plotted (at most ${o.maxPlottedHosts}; hosts with injections or events first); every host is in the hosts table.`,
    );
  }
  if (evaluation === undefined) {
    notes.push('No ground truth: nothing to grade against, so only the series and the events are shown.');
  }
  if (scoredSamples === 0 && samples > 0) notes.push('No sample was scored by the detector.');

  const plots: ReportPlot[] = [];
  let summary: ReportSummary | null = null;
  let metrics: ReportMetrics | null = null;
  let roc: ReportRocCurve | null = null;
  let pr: ReportPrCurve | null = null;
  let sweep: ReportSweep | null = null;
  let delays: ReportDelays | null = null;
  if (evaluation !== undefined) {
    const types = Object.keys(evaluation.byType).sort(cmp);
    summary = {
      rows: types.map((t) => summaryRow(t, evaluation.byType[t] as DetectionMetrics)),
      total: summaryRow('all', evaluation),
    };
    metrics = {
      overall: scopeMetrics(evaluation, null),
      byType: types.map((t) => scopeMetrics(evaluation.byType[t] as DetectionMetrics, t)),
    };
    ({ roc, pr } = buildCurves(input, evaluation, o.maxCurvePoints));
    sweep = {
      ...evaluation.sweep,
      detectorThreshold: threshold,
      bestF1Threshold: finiteOrNull(evaluation.bestF1.threshold),
    };
    delays = buildDelays(evaluation, o.maxDelayBins);

    if (types.length > 0) {
      plots.push(
        plot(
          'by-type',
          'by-type',
          'Detection by anomaly type',
          'Event-wise recall and precision and point-adjusted F1 of each anomaly type; higher is better.',
          byTypePlotSpec(metrics),
        ),
      );
    }
    if (roc !== null) {
      plots.push(
        plot(
          'roc',
          'roc',
          'ROC curve',
          'True positive rate against false positive rate as the score threshold falls; the dot is the detector at its threshold, the diagonal a random detector.',
          rocPlotSpec(roc, threshold),
        ),
      );
    }
    if (pr !== null) {
      plots.push(
        plot(
          'pr',
          'pr',
          'Precision-recall curve',
          'Precision against recall as the score threshold falls; the dashed line is the precision of a random detector (the share of anomalous samples).',
          prPlotSpec(pr, threshold),
        ),
      );
    }
    plots.push(
      plot(
        'confusion',
        'confusion',
        'Confusion matrix (samples)',
        'Samples by actual and predicted class, point-wise and after point adjustment; the colour is the share of the actual class.',
        confusionPlotSpec(metrics.overall),
      ),
    );
    if (sweep.thresholds.length > 0) {
      plots.push(
        plot(
          'threshold-sweep',
          'sweep',
          'Threshold sweep',
          'Point-wise precision, recall, F1 and false positive rate if the detector flagged every sample scoring at or above the threshold.',
          sweepPlotSpec(sweep),
        ),
      );
    }
    plots.push(
      plot(
        'delays',
        'delays',
        'Detection delay',
        'Time from each injection’s start to the first event that detected it, stacked by anomaly type.',
        delayPlotSpec(delays, colors),
      ),
    );
  }

  for (const s of series) {
    const id = plotIds.get(s.hostId) as string;
    plots.push(
      plot(
        id,
        'host',
        `Host ${s.hostId}`,
        'Top: ground-truth windows and detected events. Below: each metric and the anomaly score, truth windows shaded, flagged samples in red, the threshold dashed.',
        hostPlotSpec({
          series: s,
          displays: metricDisplays,
          truth: injections.filter((w) => w.hostId === s.hostId),
          events: events.filter((e) => e.hostId === s.hostId),
          threshold,
          colors,
        }),
        s.hostId,
      ),
    );
  }

  return {
    format: REPORT_FORMAT,
    title: input.title,
    source: input.source,
    mode: input.mode,
    generatedAtMs: input.generatedAtMs,
    generatedAt: new Date(input.generatedAtMs).toISOString(),
    model: input.model,
    threshold,
    overview: {
      hosts: input.hosts.length,
      samples,
      scoredSamples,
      flaggedSamples,
      truthWindows: input.truth.length,
      anomalyTypes,
      events: input.events.length,
      startMs: samples > 0 ? startMs : null,
      endMs: samples > 0 ? endMs : null,
      graceMs: evaluation?.graceMs ?? null,
    },
    summary,
    metrics,
    roc,
    pr,
    sweep,
    delays,
    metricDisplays,
    hosts,
    series,
    injections,
    events,
    plots,
    notes,
  };
}
