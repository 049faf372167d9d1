/**
 * The in-memory form of a file given to `faultline score`: one or more hosts' series (times,
 * numeric metrics, text context such as `phase` or `state`) and the truth windows the file
 * labels itself with. The format readers build it with {@link buildSeries}; the scorer reads
 * it. Pure.
 */
import { InputFileError } from '../errors.js';
import type { TruthSpan } from '../evaluation.js';
import type { DelimitedTable } from './csv-reader.js';
import { formatIsoUtc, parseDecimal, parseTimestamp } from './timestamps.js';

/** The file layouts `faultline score` reads (see docs/score.md). */
export const OFFLINE_FORMATS = ['ramlog', 'prmon', 'series', 'wide'] as const;
export type OfflineFormat = (typeof OFFLINE_FORMATS)[number];

/** One numeric column of a series. */
export interface OfflineMetric {
  /** The column's name in the file. */
  readonly name: string;
  /** Unit of the values as written (`kB`, `bytes`, `s`, `MB`), '' when the format does not say. */
  readonly unit: string;
  /**
   * A cumulative counter (prmon's `utime`, `read_bytes`, …; a wide column ending `_total`):
   * scored as its per-second rate, named `<name>_per_second`.
   */
  readonly counter: boolean;
  /** One value per record, as written; NaN where the file has no value (an empty cell, `NaN`, `NA`). */
  readonly values: Float64Array;
}

/** The records of one host, in time order. */
export interface OfflineSeries {
  readonly hostId: string;
  /** Time of each record, ms since the epoch; non-decreasing. */
  readonly timesMs: Float64Array;
  /** The 1-based line each record starts on. */
  readonly lines: Int32Array;
  readonly metrics: OfflineMetric[];
  /** Text columns kept for display and labels (`phase`, `state`, …): one value per record. */
  readonly context: Record<string, string[]>;
}

/** Where a dataset's own truth windows come from. */
export type SelfLabelSource = 'none' | 'states' | 'phases' | 'label-column';

/** prmon's JSON summary (`--json-summary`), when it was found beside the time series. */
export interface PrmonSummary {
  /** The summary file's name. */
  readonly file: string;
  /** prmon's version, when the summary says. */
  readonly version: string | undefined;
  /** `Max` section: peak values (memory in kB, counters at their final value). */
  readonly max: Record<string, number>;
  /** `Avg` section: average values (memory in kB, counters as average per-second rates). */
  readonly avg: Record<string, number>;
}

/** A parsed file. */
export interface OfflineDataset {
  /** The file as named by the user. */
  readonly file: string;
  readonly format: OfflineFormat;
  readonly series: OfflineSeries[];
  /** Truth windows the file labels itself with (RAM log states, phases, an `is_anomaly` column). */
  readonly truth: TruthSpan[];
  readonly truthSource: SelfLabelSource;
  readonly prmonSummary: PrmonSummary | undefined;
  /** What the reader did that the user should know: columns dropped, missing values. */
  readonly notes: string[];
}

/** Cell texts read as a missing value (case-insensitive, after trimming). */
const MISSING = new Set(['', 'nan', 'na', 'n/a', 'null', 'none']);

/** Whether a cell holds no value (see docs/score.md: empty, NaN, NA, N/A, null, None). */
export function isMissingCell(text: string): boolean {
  return MISSING.has(text.trim().toLowerCase());
}

/** A metric column to read, as a format reader describes it. */
export interface MetricColumnSpec {
  readonly column: number;
  readonly unit: string;
  readonly counter: boolean;
}

/** What {@link buildSeries} reads from a table. */
export interface SeriesSpec {
  readonly timeColumn: number;
  /** A column whose values split the records into hosts; undefined for one host. */
  readonly hostColumn?: number | undefined;
  /** The host id when there is no host column (the file's base name). */
  readonly defaultHostId: string;
  readonly metrics: readonly MetricColumnSpec[];
  readonly contextColumns: readonly number[];
  /** Which records to keep (all when undefined), by row index. */
  readonly keepRow?: ((row: string[], index: number) => boolean) | undefined;
}

/**
 * Reads the records of `table` that `spec.keepRow` keeps into one series per host, in file
 * order. Throws {@link InputFileError} naming file, line and column for an unparseable
 * timestamp, a non-numeric value in a metric column, or a record earlier than the previous
 * record of its host.
 */
export function buildSeries(table: DelimitedTable, spec: SeriesSpec): OfflineSeries[] {
  const { file, header, rows, lines } = table;
  const byHost = new Map<string, number[]>();
  rows.forEach((row, r) => {
    if (spec.keepRow !== undefined && !spec.keepRow(row, r)) return;
    const host = spec.hostColumn === undefined ? spec.defaultHostId : row[spec.hostColumn]!.trim();
    if (host === '') {
      throw new InputFileError(file, lines[r]!, header[spec.hostColumn!]!, 'the host is empty');
    }
    let list = byHost.get(host);
    if (list === undefined) byHost.set(host, (list = []));
    list.push(r);
  });
  const timeName = header[spec.timeColumn]!;
  const out: OfflineSeries[] = [];
  for (const [hostId, indices] of byHost) {
    const n = indices.length;
    const timesMs = new Float64Array(n);
    const recordLines = new Int32Array(n);
    indices.forEach((r, k) => {
      const text = rows[r]![spec.timeColumn]!;
      const t = parseTimestamp(text);
      if (t === undefined) {
        throw new InputFileError(
          file,
          lines[r]!,
          timeName,
          `cannot read ${JSON.stringify(text)} as a timestamp (expected an ISO 8601 date-time or epoch seconds/ms)`,
        );
      }
      if (k > 0 && t < timesMs[k - 1]!) {
        throw new InputFileError(
          file,
          lines[r]!,
          timeName,
          `time ${formatIsoUtc(t)} is before the previous record's ${formatIsoUtc(timesMs[k - 1]!)} ` +
            `(line ${recordLines[k - 1]}): records must be in time order`,
        );
      }
      timesMs[k] = t;
      recordLines[k] = lines[r]!;
    });
    const metrics = spec.metrics.map((m): OfflineMetric => {
      const values = new Float64Array(n);
      indices.forEach((r, k) => {
        const text = rows[r]![m.column]!;
        if (isMissingCell(text)) {
          values[k] = NaN;
          return;
        }
        const v = parseDecimal(text);
        if (v === undefined) {
          throw new InputFileError(
            file,
            lines[r]!,
            header[m.column]!,
            `expected a number, got ${JSON.stringify(text)}`,
          );
        }
        values[k] = v;
      });
      return { name: header[m.column]!, unit: m.unit, counter: m.counter, values };
    });
    const context: Record<string, string[]> = {};
    for (const c of spec.contextColumns) context[header[c]!] = indices.map((r) => rows[r]![c]!.trim());
    out.push({ hostId, timesMs, lines: recordLines, metrics, context });
  }
  return out;
}

/**
 * The index of the first row whose cell in `column` is not missing, or -1: the reader's
 * evidence for whether a column holds numbers or text.
 */
export function firstValueRow(table: DelimitedTable, column: number): number {
  return table.rows.findIndex((row) => !isMissingCell(row[column]!));
}

/**
 * Whether a column holds numbers: its first non-missing value is a number. A later text value
 * in such a column is then an error, never a silent missing value.
 */
export function isNumericColumn(table: DelimitedTable, column: number): boolean {
  const r = firstValueRow(table, column);
  return r >= 0 && parseDecimal(table.rows[r]![column]!) !== undefined;
}

/**
 * Truth windows from runs of consecutive records for which `label(i)` gives the same
 * non-undefined key: each run is one window from its first to its last record's time, of
 * anomaly type `type(key)`. Injection ids are `<type>-<n>` (n counting from 1 per host).
 */
export function windowsFromRuns(
  series: OfflineSeries,
  label: (i: number) => string | undefined,
  type: (key: string) => string,
): TruthSpan[] {
  const out: TruthSpan[] = [];
  const counts = new Map<string, number>();
  const n = series.timesMs.length;
  let i = 0;
  while (i < n) {
    const key = label(i);
    if (key === undefined) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < n && label(j + 1) === key) j++;
    const anomalyType = type(key);
    const count = (counts.get(anomalyType) ?? 0) + 1;
    counts.set(anomalyType, count);
    out.push({
      hostId: series.hostId,
      injectionId: `${anomalyType}-${count}`,
      anomalyType,
      startMs: series.timesMs[i]!,
      endMs: series.timesMs[j]!,
    });
    i = j + 1;
  }
  return out;
}

/** Phase names that are normal operation; every other phase is labelled anomalous. */
const NORMAL_PHASE = /^(baseline|recovery|normal|warm-?up|warm_up|idle|cool-?down|cool_down)/i;

/** Whether a phase name (`memory_spike`, `recovery1`) labels anomalous records. */
export function isAnomalousPhase(phase: string): boolean {
  return phase !== '' && !NORMAL_PHASE.test(phase);
}

/** Truth windows from a `phase` context column: one per run of an anomalous phase. */
export function phaseWindows(series: OfflineSeries): TruthSpan[] {
  const phases = series.context['phase'];
  if (phases === undefined) return [];
  return windowsFromRuns(
    series,
    (i) => (isAnomalousPhase(phases[i]!) ? phases[i] : undefined),
    (key) => key,
  );
}
