/**
 * Reports: an experiment graded against its ground truth, as report.json (every figure as
 * data, with the Vega-Lite spec of each plot), a self-contained report.html and plots as SVG
 * and PNG.
 *
 * @example
 * ```ts
 * const input = await collectLiveReportInput({ natsUrl, experimentId: 'exp-42' });
 * const doc = buildReportDocument(input);
 * const { htmlPath } = await writeReport(doc, './exp-42-report');
 * ```
 */
export {
  collectLiveReportInput,
  resolveLiveReportOptions,
  type LiveReportOptions,
  type LiveReportStage,
  type ResolvedLiveReportOptions,
} from './live-report-input.js';
export { MAX_PLOTTED_METRICS } from './plotted-metrics.js';
export {
  buildReportDocument,
  REPORT_FORMAT,
  resolveReportDocumentOptions,
  type ReportDelayBin,
  type ReportDelays,
  type ReportDocument,
  type ReportDocumentOptions,
  type ReportEventRow,
  type ReportHostRow,
  type ReportInjection,
  type ReportMetrics,
  type ReportOverview,
  type ReportPlot,
  type ReportPlotKind,
  type ReportPointScores,
  type ReportPrCurve,
  type ReportRocCurve,
  type ReportScopeMetrics,
  type ReportSeries,
  type ReportSummary,
  type ReportSummaryRow,
  type ReportSweep,
  type ResolvedReportDocumentOptions,
} from './report-document.js';
export { formatDuration, formatFixed, type MetricDisplay } from './report-format.js';
export type { ReportEvent, ReportHost, ReportInput, ReportTruthWindow } from './report-input.js';
export {
  REPORT_HTML_FILE,
  REPORT_JSON_FILE,
  writeReport,
  type WriteReportOptions,
  type WrittenReport,
} from './report-writer.js';
