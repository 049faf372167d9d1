/**
 * The Vega-Lite specs of the report's plots, built from the document's data (inline, so a
 * spec renders anywhere: the Vega editor, Altair, our own `writeReport`). Pure. One look for
 * all: the same fonts, colours per anomaly type across plots, red for what the detector
 * flagged, units on every axis.
 */
import type { TopLevelSpec } from 'vega-lite';
import type {
  ReportDelays,
  ReportEventRow,
  ReportInjection,
  ReportMetrics,
  ReportPrCurve,
  ReportRocCurve,
  ReportScopeMetrics,
  ReportSeries,
  ReportSweep,
} from './report-document.js';
import { formatClock, formatDuration, type MetricDisplay } from './report-format.js';

/** Font stack of every plot (the HTML uses the same); resvg picks the first one installed. */
export const PLOT_FONT = "'Liberation Sans', Arial, Helvetica, 'DejaVu Sans', sans-serif";

const INK = '#1f2937';
const MUTED = '#6b7280';
const GRID = '#e5e7eb';
/** Detections: flagged samples and events. */
const FLAGGED = '#dc2626';
const EVENT = '#991b1b';
const SCORE = '#374151';
const LINE = '#2563eb';

/** Colours of anomaly types, in type name order (red is kept for detections). */
const TYPE_PALETTE = [
  '#4c78a8',
  '#f58518',
  '#54a24b',
  '#b279a2',
  '#72b7b2',
  '#eeca3b',
  '#9d755d',
  '#ff9da6',
  '#bab0ac',
  '#17becf',
];

/** Anomaly type → colour, stable for a given set of types. */
export function typeColors(types: readonly string[]): Map<string, string> {
  return new Map(types.map((t, i) => [t, TYPE_PALETTE[i % TYPE_PALETTE.length] as string]));
}

const CONFIG = {
  font: PLOT_FONT,
  background: 'white',
  view: { stroke: GRID },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 'bold' as const,
    labelColor: MUTED,
    titleColor: INK,
    gridColor: GRID,
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
  },
  legend: { labelFontSize: 11, titleFontSize: 12, labelColor: INK, titleColor: INK },
  title: {
    fontSize: 15,
    subtitleFontSize: 12,
    anchor: 'start' as const,
    color: INK,
    subtitleColor: MUTED,
    offset: 12,
  },
};

/**
 * The specs are built from data, as plain objects; Vega-Lite's types cannot follow layered and
 * concatenated specs built that way, and the tests render every spec, which validates it.
 */
const asSpec = (spec: Record<string, unknown>): TopLevelSpec => spec as unknown as TopLevelSpec;

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
const fmt3 = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(3));

/** What {@link hostPlotSpec} draws. */
export interface HostPlotData {
  series: ReportSeries;
  displays: readonly MetricDisplay[];
  truth: readonly ReportInjection[];
  events: readonly ReportEventRow[];
  threshold: number | null;
  colors: ReadonlyMap<string, string>;
}

const PLOT_WIDTH = 980;

/** The title of one panel of a stacked plot: small, bold, left-aligned above the panel. */
function panelTitle(text: string): Record<string, unknown> {
  return { text, anchor: 'start', frame: 'group', fontSize: 12, fontWeight: 'bold', color: INK, offset: 6 };
}

/**
 * One host over time: a lane chart of truth windows and detected events, one panel per metric
 * with the truth windows shaded and flagged samples marked, and the score with the threshold.
 * Time is UTC on a shared axis.
 */
export function hostPlotSpec(d: HostPlotData): TopLevelSpec {
  const times = d.series.timesMs;
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? first;
  const span = Math.max(last - first, 1);
  // Zero-length spans (an event still open, an instant injection) stay visible.
  const minWidth = span / 300;
  // Spans are clipped to the series, so the time axis is exactly the series' range.
  const clipped = (start: number, end: number | null): { start: number; end: number } | null => {
    const e = end ?? last;
    if (e < first || start > last) return null;
    let a = Math.max(start, first);
    const b = Math.min(Math.max(e, a + minWidth), last);
    if (b - a < minWidth) a = Math.max(first, b - minWidth);
    return { start: a, end: b };
  };

  const truthLabel = (type: string): string => `Truth: ${type}`;
  const typeNames = [...d.colors.keys()];
  const legendDomain = [...typeNames.map(truthLabel), 'Detected event', 'Flagged sample'];
  const legendRange = [...typeNames.map((t) => d.colors.get(t) as string), EVENT, FLAGGED];
  const colorScale = { domain: legendDomain, range: legendRange };
  // Every colour encoding names the same scale and legend, so Vega-Lite merges them into one.
  const legend = {
    title: null,
    orient: 'top',
    direction: 'horizontal',
    symbolType: 'square',
    symbolOpacity: 1,
    offset: 6,
  };

  const rows = times.map((t, i) => {
    const row: Record<string, number | boolean | null> = {
      t,
      score: d.series.scores[i] ?? null,
      flagged: d.series.isAnomaly[i] === true,
    };
    for (const m of d.displays) row[m.key] = d.series.metrics[m.key]?.[i] ?? null;
    return row;
  });
  const truth = d.truth.flatMap((w) => {
    const span = clipped(w.startMs, w.endMs);
    return span === null
      ? []
      : [{ lane: 'Ground truth', label: truthLabel(w.anomalyType), id: w.injectionId, ...span }];
  });
  const events = d.events.flatMap((e) => {
    const span = clipped(e.startMs, e.endMs);
    return span === null ? [] : [{ lane: 'Detected', label: 'Detected event', id: e.eventId, ...span }];
  });

  const x = (bottom: boolean): Record<string, unknown> => ({
    field: 't',
    type: 'temporal',
    scale: { type: 'utc', nice: false },
    // A utc scale makes Vega format the ticks in UTC.
    axis: bottom
      ? { title: 'Time (UTC)', format: '%H:%M:%S', labelFlush: true }
      : { title: null, labels: false, ticks: false, domain: false },
  });
  const shading = {
    data: { name: 'truth' },
    mark: { type: 'rect', opacity: 0.16, clip: true },
    encoding: {
      x: { ...x(false), field: 'start' },
      x2: { field: 'end' },
      color: { field: 'label', type: 'nominal', scale: colorScale, legend },
    },
  };
  const flaggedPoints = (field: string, bottom = false): Record<string, unknown> => ({
    data: { name: 'series' },
    transform: [{ filter: 'datum.flagged' }, { filter: `isValid(datum.${field})` }],
    mark: { type: 'circle', size: 16, opacity: 0.9 },
    encoding: {
      x: x(bottom),
      y: { field, type: 'quantitative' },
      color: { datum: 'Flagged sample', scale: colorScale, legend },
    },
  });

  const lanes = {
    height: 44,
    width: PLOT_WIDTH,
    layer: [
      {
        data: { name: 'lanes' },
        mark: { type: 'rect', cornerRadius: 2, height: { band: 0.7 }, clip: true },
        encoding: {
          x: { ...x(false), field: 'start' },
          x2: { field: 'end' },
          y: {
            field: 'lane',
            type: 'nominal',
            sort: ['Ground truth', 'Detected'],
            scale: { domain: ['Ground truth', 'Detected'] },
            axis: { title: null, labelColor: INK, ticks: false, domain: false },
          },
          color: {
            field: 'label',
            type: 'nominal',
            scale: colorScale,
            legend,
          },
        },
      },
    ],
  };

  const metricPanels = d.displays.map((m) => {
    const shownValue = `value_${m.key}`;
    return {
      height: 90,
      width: PLOT_WIDTH,
      title: panelTitle(m.title),
      layer: [
        shading,
        {
          data: { name: 'series' },
          transform: [
            {
              calculate: `isValid(datum['${m.key}']) ? datum['${m.key}'] / ${m.divisor} : null`,
              as: shownValue,
            },
          ],
          mark: { type: 'line', color: LINE, strokeWidth: 1.3, interpolate: 'linear' },
          encoding: {
            x: x(false),
            y: {
              field: shownValue,
              type: 'quantitative',
              scale: { zero: false, nice: true },
              axis: { title: null, tickCount: 4 },
            },
          },
        },
        {
          ...flaggedPoints(shownValue),
          transform: [
            {
              calculate: `isValid(datum['${m.key}']) ? datum['${m.key}'] / ${m.divisor} : null`,
              as: shownValue,
            },
            { filter: 'datum.flagged' },
            { filter: `isValid(datum.${shownValue})` },
          ],
        },
      ],
    };
  });

  // Scores are in [0, 1] for the fused model; other models' scores widen the axis.
  let lo = 0;
  let hi = 1;
  for (const v of d.series.scores) {
    if (v !== null && v < lo) lo = v;
    if (v !== null && v > hi) hi = v;
  }
  const scoreDomain = [lo, hi];
  const scoreLayers: Record<string, unknown>[] = [
    { ...shading, encoding: { ...shading.encoding, x: { ...x(true), field: 'start' } } },
    {
      data: { name: 'series' },
      mark: { type: 'line', color: SCORE, strokeWidth: 1.2 },
      encoding: {
        x: x(true),
        y: {
          field: 'score',
          type: 'quantitative',
          scale: { domain: scoreDomain },
          axis: { title: null, tickCount: 5 },
        },
      },
    },
    flaggedPoints('score', true),
  ];
  if (d.threshold !== null) {
    scoreLayers.push(
      {
        data: { values: [{ threshold: d.threshold }] },
        mark: { type: 'rule', color: FLAGGED, strokeDash: [6, 4], strokeWidth: 1.2 },
        encoding: { y: { field: 'threshold', type: 'quantitative' } },
      },
      {
        data: { values: [{ threshold: d.threshold, label: `threshold ${d.threshold.toFixed(2)}` }] },
        mark: { type: 'text', align: 'right', baseline: 'bottom', dy: -2, color: FLAGGED, fontSize: 10 },
        encoding: {
          y: { field: 'threshold', type: 'quantitative' },
          x: { value: PLOT_WIDTH - 4 },
          text: { field: 'label' },
        },
      },
    );
  }
  const scorePanel = {
    height: 100,
    width: PLOT_WIDTH,
    title: panelTitle(
      `Anomaly score${d.threshold === null ? '' : `, flagged at ≥ ${d.threshold.toFixed(2)}`}`,
    ),
    layer: scoreLayers,
  };

  const flagged = d.series.isAnomaly.filter(Boolean).length;
  const subtitle = [
    `${formatClock(first)} – ${formatClock(last)} UTC · ${d.series.samples} samples${
      d.series.downsampled ? ` (plotted: ${times.length}, downsampled)` : ''
    } · ${plural(d.truth.length, 'truth window')} · ${plural(d.events.length, 'event')} · ${plural(flagged, 'flagged sample')} plotted`,
  ];
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Host ${d.series.hostId}`, subtitle },
    datasets: { series: rows, truth, lanes: [...truth, ...events] },
    config: CONFIG,
    spacing: 14,
    resolve: { scale: { x: 'shared', color: 'shared' } },
    vconcat: [lanes, ...metricPanels, scorePanel],
  });
}

/** The ROC curve with the chance diagonal and the detector's operating point. */
export function rocPlotSpec(roc: ReportRocCurve, threshold: number | null): TopLevelSpec {
  const curve = roc.falsePositiveRate.map((fpr, i) => ({ fpr, tpr: roc.truePositiveRate[i], order: i }));
  const op = roc.operatingPoint;
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'ROC curve', subtitle: `AUC = ${fmt3(roc.auc)}` },
    width: 340,
    height: 300,
    config: CONFIG,
    layer: [
      {
        data: {
          values: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
        mark: { type: 'line', color: '#9ca3af', strokeDash: [4, 4], strokeWidth: 1 },
        encoding: {
          x: { field: 'fpr', type: 'quantitative' },
          y: { field: 'tpr', type: 'quantitative' },
        },
      },
      {
        data: { values: curve },
        mark: { type: 'line', color: LINE, strokeWidth: 2 },
        encoding: {
          x: {
            field: 'fpr',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { title: 'False positive rate' },
          },
          y: {
            field: 'tpr',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { title: 'True positive rate (recall)' },
          },
          order: { field: 'order', type: 'quantitative' },
        },
      },
      {
        data: {
          values: [
            {
              fpr: op.falsePositiveRate,
              tpr: op.truePositiveRate,
              label: threshold === null ? 'detector' : `detector (threshold ${threshold.toFixed(2)})`,
            },
          ],
        },
        layer: [
          { mark: { type: 'point', filled: true, color: FLAGGED, size: 70 } },
          {
            mark: { type: 'text', align: 'left', dx: 8, dy: 10, color: FLAGGED, fontSize: 11 },
            encoding: { text: { field: 'label' } },
          },
        ],
        encoding: {
          x: { field: 'fpr', type: 'quantitative' },
          y: { field: 'tpr', type: 'quantitative' },
        },
      },
    ],
  });
}

/** The precision-recall curve (steps, as average precision sums them) with the random baseline. */
export function prPlotSpec(pr: ReportPrCurve, threshold: number | null): TopLevelSpec {
  const curve = pr.recall.map((recall, i) => ({ recall, precision: pr.precision[i], order: i }));
  const op = pr.operatingPoint;
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'Precision-recall curve',
      subtitle: `Average precision = ${fmt3(pr.averagePrecision)} · random = ${pr.prevalence.toFixed(3)}`,
    },
    width: 340,
    height: 300,
    config: CONFIG,
    layer: [
      {
        data: { values: [{ prevalence: pr.prevalence }] },
        mark: { type: 'rule', color: '#9ca3af', strokeDash: [4, 4] },
        encoding: { y: { field: 'prevalence', type: 'quantitative' } },
      },
      {
        data: { values: curve },
        mark: { type: 'line', color: LINE, strokeWidth: 2, interpolate: 'step-before' },
        encoding: {
          x: {
            field: 'recall',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { title: 'Recall' },
          },
          y: {
            field: 'precision',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { title: 'Precision' },
          },
          order: { field: 'order', type: 'quantitative' },
        },
      },
      {
        data: {
          values: [
            {
              recall: op.recall,
              precision: op.precision,
              label: threshold === null ? 'detector' : `detector (threshold ${threshold.toFixed(2)})`,
            },
          ],
        },
        layer: [
          { mark: { type: 'point', filled: true, color: FLAGGED, size: 70 } },
          {
            mark: { type: 'text', align: 'right', dx: -8, dy: 12, color: FLAGGED, fontSize: 11 },
            encoding: { text: { field: 'label' } },
          },
        ],
        encoding: {
          x: { field: 'recall', type: 'quantitative' },
          y: { field: 'precision', type: 'quantitative' },
        },
      },
    ],
  });
}

function confusionCells(m: ReportScopeMetrics['pointwise']): Record<string, string | number>[] {
  const actualAnomalous = m.tp + m.fn;
  const actualNormal = m.fp + m.tn;
  const share = (n: number, of: number): number => (of > 0 ? n / of : 0);
  const cell = (
    actual: string,
    predicted: string,
    count: number,
    of: number,
  ): Record<string, string | number> => ({
    actual,
    predicted,
    count,
    share: share(count, of),
    percent: `${(100 * share(count, of)).toFixed(1)} % of actual`,
  });
  return [
    cell('Anomalous', 'Anomalous', m.tp, actualAnomalous),
    cell('Anomalous', 'Normal', m.fn, actualAnomalous),
    cell('Normal', 'Anomalous', m.fp, actualNormal),
    cell('Normal', 'Normal', m.tn, actualNormal),
  ];
}

function confusionPanel(title: string, m: ReportScopeMetrics['pointwise']): Record<string, unknown> {
  const classes = ['Anomalous', 'Normal'];
  return {
    title: { text: title, fontSize: 13, anchor: 'middle' },
    width: 220,
    height: 220,
    data: { values: confusionCells(m) },
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        sort: classes,
        axis: { title: 'Predicted', orient: 'top', labelAngle: 0, labelColor: INK },
      },
      y: {
        field: 'actual',
        type: 'nominal',
        sort: classes,
        axis: { title: 'Actual', labelColor: INK },
      },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            scale: { domain: [0, 1], scheme: 'blues' },
            legend: { title: 'Share of actual', format: '.0%', orient: 'bottom', gradientLength: 160 },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 18, fontWeight: 'bold', dy: -8 },
        encoding: {
          text: { field: 'count', type: 'quantitative', format: ',d' },
          color: { condition: { test: 'datum.share > 0.55', value: 'white' }, value: INK },
        },
      },
      {
        mark: { type: 'text', fontSize: 11, dy: 12 },
        encoding: {
          text: { field: 'percent' },
          color: { condition: { test: 'datum.share > 0.55', value: 'white' }, value: MUTED },
        },
      },
    ],
  };
}

/** Point-wise and point-adjusted confusion matrices side by side. */
export function confusionPlotSpec(m: ReportScopeMetrics): TopLevelSpec {
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'Confusion matrix (samples)',
      subtitle: `Point-wise F1 = ${m.pointwise.f1.toFixed(3)} · point-adjusted F1 = ${m.pointAdjusted.f1.toFixed(3)}`,
    },
    config: CONFIG,
    spacing: 40,
    resolve: { scale: { color: 'shared' } },
    hconcat: [confusionPanel('Point-wise', m.pointwise), confusionPanel('Point-adjusted', m.pointAdjusted)],
  });
}

/** Precision, recall, F1 and false positive rate against the threshold, with the detector's and the best-F1 thresholds. */
export function sweepPlotSpec(s: ReportSweep): TopLevelSpec {
  const series: Array<[string, number[]]> = [
    ['Precision', s.precision],
    ['Recall', s.recall],
    ['F1', s.f1],
    ['False positive rate', s.falsePositiveRate],
  ];
  const values = series.flatMap(([metric, ys]) =>
    s.thresholds.map((threshold, i) => ({ threshold, metric, value: ys[i] })),
  );
  const marks: Array<{ threshold: number; label: string; color: string; dash: number[] }> = [];
  if (s.detectorThreshold !== null) {
    marks.push({
      threshold: s.detectorThreshold,
      label: `detector ${s.detectorThreshold.toFixed(2)}`,
      color: FLAGGED,
      dash: [6, 4],
    });
  }
  if (s.bestF1Threshold !== null) {
    marks.push({
      threshold: s.bestF1Threshold,
      label: `best F1 ${s.bestF1Threshold.toFixed(2)}`,
      color: '#15803d',
      dash: [2, 3],
    });
  }
  // Colour and dash encode the same field: one legend shows both.
  const sweepLegend = {
    title: null,
    orient: 'top',
    direction: 'horizontal',
    labelLimit: 300,
    symbolType: 'stroke',
  };
  const layers: Record<string, unknown>[] = [
    {
      data: { values },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: {
          field: 'threshold',
          type: 'quantitative',
          axis: { title: 'Score threshold (flag if score ≥ threshold)' },
        },
        y: {
          field: 'value',
          type: 'quantitative',
          scale: { domain: [0, 1] },
          axis: { title: 'Value (0–1)' },
        },
        color: {
          field: 'metric',
          type: 'nominal',
          scale: {
            domain: series.map(([m]) => m),
            range: ['#2563eb', '#f58518', '#111827', '#9ca3af'],
          },
          legend: sweepLegend,
        },
        strokeDash: {
          field: 'metric',
          type: 'nominal',
          scale: {
            domain: series.map(([m]) => m),
            range: [
              [1, 0],
              [1, 0],
              [1, 0],
              [4, 3],
            ],
          },
          legend: sweepLegend,
        },
      },
    },
  ];
  for (const m of marks) {
    layers.push({
      data: { values: [m] },
      layer: [
        { mark: { type: 'rule', strokeWidth: 1.5, color: m.color, strokeDash: m.dash } },
        {
          mark: {
            type: 'text',
            angle: 270,
            align: 'right',
            baseline: 'bottom',
            dx: -4,
            dy: -3,
            fontSize: 11,
            color: m.color,
          },
          encoding: { y: { value: 0 }, text: { field: 'label' } },
        },
      ],
      encoding: { x: { field: 'threshold', type: 'quantitative' } },
    });
  }
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Threshold sweep', subtitle: 'Point-wise, over every scored sample' },
    width: 620,
    height: 300,
    config: CONFIG,
    layer: layers,
  });
}

/** Whole-number ticks for a count axis: every integer up to 6, else at least 1 apart. */
function countTicks(max: number): Record<string, unknown> {
  return max <= 6 ? { values: Array.from({ length: max + 1 }, (_, i) => i) } : { tickMinStep: 1 };
}

/** The delay histogram, stacked by anomaly type, with the median. */
export function delayPlotSpec(d: ReportDelays, colors: ReadonlyMap<string, string>): TopLevelSpec {
  const values = d.bins.flatMap((b) =>
    Object.entries(b.byType).map(([type, count]) => ({
      from: b.startMs / 1000,
      to: b.endMs / 1000,
      type,
      count,
    })),
  );
  const types = [...colors.keys()];
  const maxCount = d.bins.reduce((m, b) => Math.max(m, b.count), 0);
  const layers: Record<string, unknown>[] = [
    {
      data: { values },
      mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
      encoding: {
        x: {
          field: 'from',
          type: 'quantitative',
          bin: { binned: true, step: d.binWidthMs / 1000 },
          scale: { domain: [0, (d.bins.length * d.binWidthMs) / 1000] },
          axis: { title: 'Detection delay (s): first event open − injection start' },
        },
        x2: { field: 'to' },
        y: {
          field: 'count',
          type: 'quantitative',
          stack: 'zero',
          axis: { title: 'Injections', format: 'd', ...countTicks(maxCount) },
        },
        color: {
          field: 'type',
          type: 'nominal',
          scale: { domain: types, range: types.map((t) => colors.get(t) as string) },
          legend: { title: 'Anomaly type', orient: 'right' },
        },
      },
    },
  ];
  if (d.p50Ms !== null) {
    const rightHalf = d.p50Ms > (d.bins.length * d.binWidthMs) / 2;
    layers.push({
      data: { values: [{ median: d.p50Ms / 1000, label: `median ${formatDuration(d.p50Ms)}` }] },
      layer: [
        { mark: { type: 'rule', color: INK, strokeDash: [4, 3] } },
        {
          mark: {
            type: 'text',
            align: rightHalf ? 'right' : 'left',
            baseline: 'bottom',
            dx: rightHalf ? -4 : 4,
            dy: -3,
            color: INK,
            fontSize: 11,
          },
          encoding: { y: { value: 0 }, text: { field: 'label' } },
        },
      ],
      encoding: { x: { field: 'median', type: 'quantitative' } },
    });
  }
  const detected = d.count;
  const total = d.count + d.undetected;
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'Detection delay',
      subtitle: `${detected} of ${total} injections detected · median ${formatDuration(d.p50Ms)} · p90 ${formatDuration(d.p90Ms)} · bins of ${formatDuration(d.binWidthMs)}`,
    },
    width: 560,
    height: 240,
    config: CONFIG,
    layer: layers,
  });
}

/** Event-wise recall and precision and point-adjusted F1 per anomaly type, grouped bars. */
export function byTypePlotSpec(m: ReportMetrics): TopLevelSpec {
  const measures = ['Event recall', 'Event precision', 'Point-adjusted F1'];
  const values = m.byType.flatMap((t) => [
    {
      type: t.anomalyType,
      measure: measures[0],
      value: t.eventwise.recall,
      detail: `${t.eventwise.detectedInjections}/${t.eventwise.injections}`,
    },
    {
      type: t.anomalyType,
      measure: measures[1],
      value: t.eventwise.precision,
      detail: `${t.eventwise.truePositiveEvents}/${t.eventwise.events}`,
    },
    {
      type: t.anomalyType,
      measure: measures[2],
      value: t.pointAdjusted.f1,
      detail: t.pointAdjusted.f1.toFixed(2),
    },
  ]);
  return asSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Detection by anomaly type', subtitle: 'Labels: detected/injected, right/all events, F1' },
    width: { step: 34 },
    height: 240,
    config: CONFIG,
    data: { values },
    encoding: {
      x: { field: 'type', type: 'nominal', axis: { title: 'Anomaly type', labelAngle: 0, labelColor: INK } },
      xOffset: { field: 'measure', type: 'nominal', sort: measures },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, axis: { title: 'Score (0–1)' } },
      color: {
        field: 'measure',
        type: 'nominal',
        sort: measures,
        scale: { domain: measures, range: ['#2563eb', '#f58518', '#54a24b'] },
        legend: { title: null, orient: 'top', direction: 'horizontal' },
      },
    },
    layer: [
      { mark: { type: 'bar', cornerRadiusEnd: 2 } },
      {
        mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 10, color: INK },
        encoding: { text: { field: 'detail' } },
      },
    ],
  });
}
