/**
 * prmon's time-series output (`prmon --filename prmon.txt`): tab-separated, a header line,
 * `Time` in epoch seconds, then memory gauges in kB (`pss`, `rss`, `swap`, `vmem`),
 * cumulative I/O and network counters (`rchar`, `read_bytes`, `wchar`, `write_bytes`,
 * `rx_bytes`, `rx_packets`, `tx_bytes`, `tx_packets`), cumulative CPU seconds (`stime`,
 * `utime`), the wall clock `wtime`, process and thread counts, and GPU columns when prmon
 * watched GPUs. The same columns comma-separated, with a `phase` text column (the seed's
 * six-phase dataset), read the same way. Its JSON summary (`--json-summary`), when given,
 * adds the peak and average values. Pure.
 */
import { InputFileError } from '../errors.js';
import type { DelimitedTable } from './csv-reader.js';
import {
  buildSeries,
  isNumericColumn,
  phaseWindows,
  type MetricColumnSpec,
  type OfflineDataset,
  type PrmonSummary,
} from './offline-dataset.js';

/** What prmon writes in each column: unit, and whether it is a cumulative counter. */
export const PRMON_COLUMNS: Readonly<Record<string, { unit: string; counter: boolean }>> = {
  pss: { unit: 'kB', counter: false },
  rss: { unit: 'kB', counter: false },
  swap: { unit: 'kB', counter: false },
  vmem: { unit: 'kB', counter: false },
  rchar: { unit: 'bytes', counter: true },
  read_bytes: { unit: 'bytes', counter: true },
  wchar: { unit: 'bytes', counter: true },
  write_bytes: { unit: 'bytes', counter: true },
  rx_bytes: { unit: 'bytes', counter: true },
  rx_packets: { unit: 'packets', counter: true },
  tx_bytes: { unit: 'bytes', counter: true },
  tx_packets: { unit: 'packets', counter: true },
  stime: { unit: 's', counter: true },
  utime: { unit: 's', counter: true },
  nprocs: { unit: '', counter: false },
  nthreads: { unit: '', counter: false },
  gpufbmem: { unit: 'kB', counter: false },
  gpumempct: { unit: '%', counter: false },
  gpusmpct: { unit: '%', counter: false },
  ngpus: { unit: '', counter: false },
};

/**
 * Columns that are not scored: `wtime` is the run's wall clock (seconds since prmon started),
 * which would only tell the forest where in the run a record is.
 */
export const PRMON_CLOCK_COLUMNS: readonly string[] = ['wtime'];

/** Whether a header is prmon's: a `Time` column and at least three of prmon's metric columns. */
export function looksLikePrmon(header: readonly string[]): boolean {
  if (!header.includes('Time')) return false;
  return header.filter((h) => h in PRMON_COLUMNS).length >= 3;
}

/** Reads a prmon time series (and its summary's text, when found beside it). */
export function readPrmon(
  table: DelimitedTable,
  hostId: string,
  summary?: { file: string; text: string },
): OfflineDataset {
  const { header, file } = table;
  const timeColumn = header.indexOf('Time');
  if (timeColumn < 0) {
    throw new InputFileError(file, table.headerLine, '', 'no "Time" column: prmon output starts with Time');
  }
  const metrics: MetricColumnSpec[] = [];
  const contextColumns: number[] = [];
  const notes: string[] = [];
  header.forEach((name, c) => {
    if (c === timeColumn || PRMON_CLOCK_COLUMNS.includes(name)) return;
    const known = PRMON_COLUMNS[name];
    if (known !== undefined) {
      metrics.push({ column: c, unit: known.unit, counter: known.counter });
    } else if (isNumericColumn(table, c)) {
      metrics.push({ column: c, unit: '', counter: false });
      notes.push(`column ${JSON.stringify(name)} is not one of prmon's: scored as a gauge`);
    } else {
      contextColumns.push(c);
    }
  });
  const series = buildSeries(table, { timeColumn, defaultHostId: hostId, metrics, contextColumns });
  const truth = series.flatMap(phaseWindows);
  return {
    file,
    format: 'prmon',
    series,
    truth,
    truthSource: truth.length > 0 ? 'phases' : 'none',
    prmonSummary: summary === undefined ? undefined : readPrmonSummary(summary.file, summary.text),
    notes,
  };
}

/**
 * Reads prmon's JSON summary: `{"Max": {...}, "Avg": {...}, "HW": {...}, "prmon": {"Version": ...}}`.
 * Throws {@link InputFileError} naming the file (and the line of a JSON syntax error).
 */
export function readPrmonSummary(file: string, text: string): PrmonSummary {
  const json = parseJsonFile(file, text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InputFileError(file, 0, '', 'expected a JSON object with "Max" and "Avg" sections');
  }
  const o = json as Record<string, unknown>;
  const section = (key: string): Record<string, number> => {
    const s = o[key];
    if (s === undefined) return {};
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      throw new InputFileError(file, 0, '', `"${key}" must be an object of numbers`);
    }
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    return out;
  };
  const max = section('Max');
  const avg = section('Avg');
  if (Object.keys(max).length === 0 && Object.keys(avg).length === 0) {
    throw new InputFileError(file, 0, '', 'not a prmon summary: no "Max" or "Avg" values');
  }
  const meta = o['prmon'];
  const version =
    typeof meta === 'object' &&
    meta !== null &&
    typeof (meta as Record<string, unknown>)['Version'] === 'string'
      ? ((meta as Record<string, unknown>)['Version'] as string)
      : undefined;
  return { file, version, max, avg };
}

/**
 * `JSON.parse` whose syntax errors become {@link InputFileError}s naming the file and, when
 * the engine reports a position, its line.
 */
export function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(message);
    const lineMatch = /line (\d+)/.exec(message);
    let line = 0;
    if (lineMatch !== null) line = Number(lineMatch[1]);
    else if (pos !== null) line = text.slice(0, Number(pos[1])).split('\n').length;
    throw new InputFileError(file, line, '', `invalid JSON: ${message}`, { cause: err });
  }
}
