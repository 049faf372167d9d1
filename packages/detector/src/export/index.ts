/**
 * Exports: an experiment's samples and truth windows, replayed from NATS JetStream into
 * labelled datasets (CSV, Parquet, JSON Lines; wide, long or the seed RAM log layout).
 */
export {
  exportExperiment,
  hostFileNames,
  MANIFEST_FILE,
  type ExportedFile,
  type ExportManifest,
  type MalformedMessage,
} from './export-experiment.js';
export {
  EXPORT_LAYOUTS,
  resolveExportOptions,
  type ExportLayout,
  type ExportOptions,
  type ExportStage,
  type ResolvedExportOptions,
} from './export-options.js';
export { EXPORT_FORMATS, type ExportFormat } from './row-sinks.js';
export {
  FIXED_MEASUREMENTS,
  LONG_COLUMNS,
  wideColumns,
  type Cell,
  type ColumnType,
  type DatasetColumn,
  type Row,
} from './dataset-columns.js';
export { RAMLOG_COLUMNS, RamlogEvent, RamlogHostLog } from './ramlog.js';
export { TRUTH_COLUMNS, TruthWindowSet, truthRow } from './truth-table.js';
