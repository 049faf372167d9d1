/**
 * Offline detection on files (`faultline score FILE`): readers for the seed RAM log, prmon's
 * output, `timestamp,value` series with NAB-style label windows and wide CSVs; the offline
 * scoring pipeline; `scores.csv` and the report. See docs/score.md.
 *
 * @example
 * ```ts
 * const result = await scoreOffline({ file: 'prmon.txt', model: 'iforest', contamination: 0.1 });
 * result.summary.anomalies;
 * await writeScoreOutputs(result, defaultScoreOutDir('prmon.txt'));
 * ```
 */
export { labelTruth, readLabelWindows } from './label-windows.js';
export type { LabelWindow } from './label-windows.js';
export { OFFLINE_FORMATS } from './offline-dataset.js';
export type {
  OfflineDataset,
  OfflineFormat,
  OfflineMetric,
  OfflineSeries,
  PrmonSummary,
  SelfLabelSource,
} from './offline-dataset.js';
export { detectOfflineFormat, parseOfflineData } from './offline-formats.js';
export type { ParseOfflineOptions } from './offline-formats.js';
export {
  buildOfflineFeatures,
  OFFLINE_MODELS,
  OFFLINE_SCALINGS,
  resolveOfflineScoreOptions,
  scoreDataset,
} from './offline-scoring.js';
export type {
  OfflineFeatures,
  OfflineGroupCount,
  OfflineHostModel,
  OfflineModel,
  OfflineRecordScore,
  OfflineScaling,
  OfflineScoreContext,
  OfflineScoreOptions,
  OfflineScoreResult,
  OfflineScoreSummary,
  OfflineStandout,
  OfflineTruth,
  ResolvedOfflineScoreOptions,
} from './offline-scoring.js';
export { defaultScoreOutDir, renderScoresCsv, scoreOffline, writeScoreOutputs } from './score-offline.js';
export type { ScoreOfflineOptions, ScoreOutputs } from './score-offline.js';
