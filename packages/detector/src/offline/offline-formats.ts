/**
 * Format detection and reading of the files `faultline score` takes: the seed RAM log, prmon's
 * time series, a `timestamp,value` series, or a wide CSV (see docs/score.md). Pure: the
 * caller reads the files and passes their text.
 *
 * @example
 * ```ts
 * const dataset = parseOfflineData(readFileSync('prmon.txt', 'utf8'), {
 *   file: 'prmon.txt',
 *   prmonSummary: { file: 'prmon.json', text: readFileSync('prmon.json', 'utf8') },
 * });
 * dataset.format; // 'prmon'
 * ```
 */
import { UnknownInputFormatError } from '../errors.js';
import { readDelimited, type DelimitedTable } from './csv-reader.js';
import type { OfflineDataset, OfflineFormat } from './offline-dataset.js';
import { looksLikePrmon, readPrmon } from './prmon-format.js';
import { looksLikeRamlog, readRamlog } from './ramlog-format.js';
import { findTimeColumn, TIME_COLUMN_NAMES } from './timestamps.js';
import { looksLikeSeries, readSeries, readWide } from './wide-format.js';

/** Options of {@link parseOfflineData}. */
export interface ParseOfflineOptions {
  /** The file's name as the user gave it: messages name it, and the host id defaults to its base name. */
  file: string;
  /** The layout, or `'auto'` (default) to detect it from the header ({@link detectOfflineFormat}). */
  format?: OfflineFormat | 'auto';
  /** The host id of a file without a host column. Default: the file's base name. */
  hostId?: string;
  /** prmon's JSON summary, when found beside a prmon file (ignored for other formats). */
  prmonSummary?: { file: string; text: string };
}

/**
 * The layout a header shows, checked in this order: a RAM log (`timestamp`, `state`,
 * `event_type`, `ram_usage_mb`), prmon (`Time` and at least three prmon columns), a series
 * (a time column and one other column), a wide CSV (a time column). Undefined when none fits.
 */
export function detectOfflineFormat(header: readonly string[]): OfflineFormat | undefined {
  if (looksLikeRamlog(header)) return 'ramlog';
  if (looksLikePrmon(header)) return 'prmon';
  if (looksLikeSeries(header)) return 'series';
  if (findTimeColumn(header) !== undefined) return 'wide';
  return undefined;
}

/** The base name of a path (`data/prmon.txt` → `prmon.txt`). */
export function fileBaseName(path: string): string {
  return path.replace(/\\/g, '/').split('/').pop() || path;
}

/**
 * Reads a data file's text into an {@link OfflineDataset}. Throws
 * {@link UnknownInputFormatError} when `format` is `'auto'` and no layout fits, and
 * `InputFileError` (naming file, line and column) for bad content.
 */
export function parseOfflineData(text: string, options: ParseOfflineOptions): OfflineDataset {
  const table: DelimitedTable = readDelimited(text, { file: options.file });
  const format =
    options.format === undefined || options.format === 'auto'
      ? detectOfflineFormat(table.header)
      : options.format;
  if (format === undefined) {
    throw new UnknownInputFormatError(
      options.file,
      `the header (${table.header.slice(0, 8).join(', ')}${table.header.length > 8 ? ', …' : ''}) has no time column ` +
        `(${TIME_COLUMN_NAMES.join(', ')}, or prmon's Time) and is not a RAM log (timestamp,state,event_type,event_details,ram_usage_mb)`,
    );
  }
  const hostId = options.hostId ?? fileBaseName(options.file);
  switch (format) {
    case 'ramlog':
      return readRamlog(table, hostId);
    case 'prmon':
      return readPrmon(table, hostId, options.prmonSummary);
    case 'series':
      return readSeries(table, hostId);
    case 'wide':
      return readWide(table, hostId);
  }
}
