/**
 * Timestamps of the offline formats, read as ms since the Unix epoch (UTC):
 *
 * - ISO 8601 date-times: `2025-06-01`, `2025-06-01 00:40:00`, `2025-06-01T00:40:00.123Z`,
 *   `2014-04-10 07:15:00.000000`, `2025-06-01T02:40:00+02:00`. A date-time without a zone
 *   (the seed RAM log's `YYYY-MM-DD HH:MM:SS`, NAB's files) is read as UTC.
 * - Epoch numbers, whose unit is told by their size: below 1e11 seconds (prmon's `Time`),
 *   below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Fractions are kept.
 *
 * Pure: no clock, no locale, never `Date.parse` (which reads zone-less text as local time).
 *
 * @example
 * ```ts
 * parseTimestamp('2025-06-01 00:40:00'); // 1748738400000
 * parseTimestamp('1527669447');          // 1527669447000 (seconds)
 * parseTimestamp('yesterday');           // undefined
 * ```
 */

/** Names that mark a time column, in order of preference; matched case-insensitively. */
export const TIME_COLUMN_NAMES: readonly string[] = ['timestamp', 'time', 'ts', 'datetime', 'date'];

/** The header's time column (see {@link TIME_COLUMN_NAMES}), or undefined when there is none. */
export function findTimeColumn(header: readonly string[]): number | undefined {
  const lower = header.map((h) => h.toLowerCase());
  for (const name of TIME_COLUMN_NAMES) {
    const i = lower.indexOf(name);
    if (i >= 0) return i;
  }
  return undefined;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A decimal number written in full (`12`, `-0.5`, `1e6`); undefined for anything else. */
export function parseDecimal(text: string): number | undefined {
  const t = text.trim();
  if (!NUMBER.test(t)) return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** ms since the epoch of an epoch number in seconds, ms, µs or ns (told by its size). */
export function epochToMs(value: number): number {
  const a = Math.abs(value);
  if (a < 1e11) return value * 1000;
  if (a < 1e14) return value;
  if (a < 1e17) return value / 1000;
  return value / 1e6;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** ms since the epoch of an ISO 8601 date-time (UTC when it has no zone); undefined when it is not one. */
export function parseIsoTimestamp(text: string): number | undefined {
  const m = ISO.exec(text.trim());
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const fraction = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = sign * (oh * 60 + om);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second) + fraction - offsetMin * 60_000;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * ms since the epoch of a timestamp cell: an epoch number (unit by size) or an ISO date-time;
 * undefined when it is neither.
 */
export function parseTimestamp(text: string): number | undefined {
  const n = parseDecimal(text);
  if (n !== undefined) return epochToMs(n);
  return parseIsoTimestamp(text);
}

/** ISO 8601 in UTC with milliseconds, as scores.csv writes times. */
export function formatIsoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
