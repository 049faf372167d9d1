/**
 * Generic CSV layouts with a time column: the NAB-style `timestamp,value` series and the wide
 * layout (a time column, every other numeric column a metric, text columns kept as context).
 * Faultline's own wide export reads as this layout too: its `host_id` column splits the
 * records into hosts and its `is_anomaly` column labels them. Pure.
 */
import { InputFileError } from '../errors.js';
import type { TruthSpan } from '../evaluation.js';
import type { DelimitedTable } from './csv-reader.js';
import {
  buildSeries,
  firstValueRow,
  isNumericColumn,
  phaseWindows,
  windowsFromRuns,
  type MetricColumnSpec,
  type OfflineDataset,
  type OfflineSeries,
  type SelfLabelSource,
} from './offline-dataset.js';
import { findTimeColumn, TIME_COLUMN_NAMES } from './timestamps.js';

/** Column names (case-insensitive) that split a wide file into hosts, when they hold text. */
export const HOST_COLUMN_NAMES: readonly string[] = ['host_id', 'host', 'hostname'];

/**
 * Numeric columns that are never scored (case-insensitive): record numbering, a second time
 * column, and labels.
 */
export const NON_FEATURE_COLUMNS: readonly string[] = ['seq', 'time_unix_nano', 'is_anomaly', 'label'];

const TRUTHY = new Set(['true', '1', 'yes', 'y', 't']);

/** Unit of a column told by its name's suffix (Faultline's names carry units), '' otherwise. */
function unitOf(name: string): string {
  const n = name.toLowerCase().replace(/_total$/, '');
  if (n.endsWith('_bytes')) return 'bytes';
  if (n.endsWith('_seconds')) return 's';
  if (n.endsWith('_mb')) return 'MB';
  if (n.endsWith('_percent') || n.endsWith('_pct')) return '%';
  return '';
}

function requireTimeColumn(table: DelimitedTable): number {
  const time = findTimeColumn(table.header);
  if (time === undefined) {
    throw new InputFileError(
      table.file,
      table.headerLine,
      '',
      `no time column: name one of ${TIME_COLUMN_NAMES.join(', ')} (any case)`,
    );
  }
  return time;
}

/** Whether a header is a `timestamp,value` series: exactly a time column and one other column. */
export function looksLikeSeries(header: readonly string[]): boolean {
  return header.length === 2 && findTimeColumn(header) !== undefined;
}

/** Reads a `timestamp,value` series (the value column may have any name). */
export function readSeries(table: DelimitedTable, hostId: string): OfflineDataset {
  const timeColumn = requireTimeColumn(table);
  if (table.header.length !== 2) {
    throw new InputFileError(
      table.file,
      table.headerLine,
      '',
      `a series has two columns (a time and a value), got ${table.header.length}: ${table.header.join(', ')}`,
    );
  }
  const valueColumn = 1 - timeColumn;
  const series = buildSeries(table, {
    timeColumn,
    defaultHostId: hostId,
    metrics: [{ column: valueColumn, unit: '', counter: false }],
    contextColumns: [],
  });
  return {
    file: table.file,
    format: 'series',
    series,
    truth: [],
    truthSource: 'none',
    prmonSummary: undefined,
    notes: [],
  };
}

/**
 * Reads a wide CSV. A column is numeric when its first non-empty value is a number; every
 * later value must then be a number too (or missing). Numeric columns are metrics (a name
 * ending `_total` is a counter, scored as a rate) except {@link NON_FEATURE_COLUMNS}; text
 * columns are context. Columns without any value are dropped (noted).
 */
export function readWide(table: DelimitedTable, hostId: string): OfflineDataset {
  const { header, file } = table;
  const timeColumn = requireTimeColumn(table);
  const lower = header.map((h) => h.toLowerCase());
  let hostColumn: number | undefined;
  for (const name of HOST_COLUMN_NAMES) {
    const i = lower.indexOf(name);
    if (i >= 0 && i !== timeColumn && !isNumericColumn(table, i) && firstValueRow(table, i) >= 0) {
      hostColumn = i;
      break;
    }
  }
  const metrics: MetricColumnSpec[] = [];
  const contextColumns: number[] = [];
  const notes: string[] = [];
  header.forEach((name, c) => {
    if (c === timeColumn || c === hostColumn) return;
    if (firstValueRow(table, c) < 0) {
      notes.push(`column ${JSON.stringify(name)} has no values: dropped`);
      return;
    }
    if (isNumericColumn(table, c)) {
      if (NON_FEATURE_COLUMNS.includes(name.toLowerCase())) {
        if (name.toLowerCase() === 'is_anomaly' || name.toLowerCase() === 'label') contextColumns.push(c);
        return;
      }
      metrics.push({ column: c, unit: unitOf(name), counter: name.toLowerCase().endsWith('_total') });
    } else {
      contextColumns.push(c);
    }
  });
  if (metrics.length === 0) {
    throw new InputFileError(
      file,
      table.headerLine,
      '',
      'no numeric column to score besides the time column',
    );
  }
  const series = buildSeries(table, {
    timeColumn,
    hostColumn,
    defaultHostId: hostId,
    metrics,
    contextColumns,
  });
  const { truth, source } = selfLabels(series);
  return { file, format: 'wide', series, truth, truthSource: source, prmonSummary: undefined, notes };
}

/** Truth windows from an `is_anomaly` (or `label`) column, else from a `phase` column. */
function selfLabels(series: OfflineSeries[]): { truth: TruthSpan[]; source: SelfLabelSource } {
  const labelKey = (s: OfflineSeries): string | undefined =>
    Object.keys(s.context).find((k) => k.toLowerCase() === 'is_anomaly' || k.toLowerCase() === 'label');
  if (series.some((s) => labelKey(s) !== undefined)) {
    const truth = series.flatMap((s) => {
      const flags = s.context[labelKey(s)!]!;
      const ctx = (name: string): string[] | undefined =>
        s.context[Object.keys(s.context).find((k) => k.toLowerCase() === name) ?? ''];
      const types = ctx('anomaly_type');
      const injections = ctx('injection_id');
      return windowsFromRuns(
        s,
        (i) =>
          TRUTHY.has(flags[i]!.toLowerCase())
            ? `${injections?.[i] ?? ''}\u0000${types?.[i] || 'anomaly'}`
            : undefined,
        (key) => key.slice(key.indexOf('\u0000') + 1),
      );
    });
    return { truth, source: 'label-column' };
  }
  const truth = series.flatMap(phaseWindows);
  return { truth, source: truth.length > 0 ? 'phases' : 'none' };
}
