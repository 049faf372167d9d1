/**
 * Units and number formatting of the report: a metric's unit is read from its name's
 * Prometheus-style suffix (`_bytes`, `_bytes_per_second`, `_ratio`, `_percent`, `_seconds`,
 * `_celsius`, `_watts`), and values are shown in a unit fit for their size (GiB, MiB/s, %).
 * Pure: the same numbers always give the same text.
 */

/** The unit of a plotted metric and how to show it. */
export interface MetricDisplay {
  /** The metric's key, e.g. `memory_used_bytes`. */
  key: string;
  /** Human name without the unit, e.g. `Memory used`. */
  label: string;
  /** The base unit read from the key: `bytes`, `bytes/s`, `ratio`, `percent`, `seconds`, `°C`, `W`, `/s` or `` (none). */
  baseUnit: string;
  /** Unit of the shown values, e.g. `GiB`, `MiB/s`, `%`. Empty when unitless. */
  unit: string;
  /** Shown value = raw value / divisor. */
  divisor: number;
  /** Axis title, e.g. `Memory used (GiB)`. */
  title: string;
}

const KNOWN_LABELS: Readonly<Record<string, string>> = {
  memory_used_bytes: 'Memory used',
  cpu_busy_ratio: 'CPU busy',
  process_rss_bytes: 'Process RSS',
  process_write_bytes_per_second: 'Process disk writes',
  disk_written_bytes_per_second: 'Disk writes',
};

const SUFFIXES: ReadonlyArray<readonly [string, string]> = [
  ['_bytes_per_second', 'bytes/s'],
  ['_per_second', '/s'],
  ['_bytes', 'bytes'],
  ['_ratio', 'ratio'],
  ['_percent', 'percent'],
  ['_seconds', 'seconds'],
  ['_celsius', '°C'],
  ['_watts', 'W'],
];

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** The largest binary multiple (1024^k) not above `maxAbs`, with its unit name. */
function binaryScale(maxAbs: number): { divisor: number; unit: string } {
  let k = 0;
  while (k < BINARY_UNITS.length - 1 && maxAbs >= 1024 ** (k + 1)) k++;
  return { divisor: 1024 ** k, unit: BINARY_UNITS[k] as string };
}

/**
 * How to show metric `key` whose values reach `maxAbs` in absolute value: bytes in the
 * binary unit that keeps the largest value in [1, 1024), ratios as percent, others as they are.
 */
export function metricDisplay(key: string, maxAbs: number): MetricDisplay {
  const suffix = SUFFIXES.find(([s]) => key.endsWith(s));
  const baseUnit = suffix?.[1] ?? '';
  const stem = suffix === undefined ? key : key.slice(0, -suffix[0].length);
  const generic = stem.replace(/_/g, ' ');
  const label = KNOWN_LABELS[key] ?? generic.charAt(0).toUpperCase() + generic.slice(1);
  let unit = baseUnit;
  let divisor = 1;
  const finiteMax = Number.isFinite(maxAbs) ? maxAbs : 0;
  if (baseUnit === 'bytes' || baseUnit === 'bytes/s') {
    const s = binaryScale(finiteMax);
    divisor = s.divisor;
    unit = baseUnit === 'bytes' ? s.unit : `${s.unit}/s`;
  } else if (baseUnit === 'ratio') {
    divisor = 0.01;
    unit = '%';
  } else if (baseUnit === 'percent') {
    unit = '%';
  } else if (baseUnit === 'seconds') {
    unit = 's';
  }
  return { key, label, baseUnit, unit, divisor, title: unit === '' ? label : `${label} (${unit})` };
}

const DASH = '—';

/** A number with `digits` decimals (trailing zeros kept), or `—` for null and non-finite values. */
export function formatFixed(value: number | null, digits = 3): string {
  return value === null || !Number.isFinite(value) ? DASH : value.toFixed(digits);
}

/** An integer count with thousands separators (`12,345`), or `—` for null. */
export function formatCount(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return DASH;
  return Math.round(value)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A duration: `850 ms`, `4.2 s`, `3 min 12 s`, `2 h 5 min`; `—` for null. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '-' : '';
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  if (abs < 3_600_000) {
    const min = Math.floor(abs / 60_000);
    const s = Math.round((abs - min * 60_000) / 1000);
    return s === 0 ? `${sign}${min} min` : `${sign}${min} min ${s} s`;
  }
  const h = Math.floor(abs / 3_600_000);
  const min = Math.round((abs - h * 3_600_000) / 60_000);
  return min === 0 ? `${sign}${h} h` : `${sign}${h} h ${min} min`;
}

/** A byte count in the binary unit that fits: `1.50 GiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return DASH;
  const s = binaryScale(Math.abs(bytes));
  const v = bytes / s.divisor;
  return s.divisor === 1 ? `${Math.round(v)} ${s.unit}` : `${v.toFixed(Math.abs(v) < 10 ? 2 : 1)} ${s.unit}`;
}

/** An instant as `2026-01-01 00:00:05 UTC` (ms shown only when not whole seconds); `—` for null. */
export function formatTime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  const iso = new Date(ms).toISOString();
  const wholeSecond = ms % 1000 === 0;
  return `${iso.slice(0, 10)} ${iso.slice(11, wholeSecond ? 19 : 23)} UTC`;
}

/** A time of day as `00:00:05` UTC (ms shown only when not whole seconds). */
export function formatClock(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.slice(11, ms % 1000 === 0 ? 19 : 23);
}

/**
 * A requested or achieved value by its key's unit suffix: `_bytes` as bytes, `_ms` as a
 * duration, `_bytes_per_second` as bytes/s, `_percent` as %, other numbers as they are.
 */
export function formatQuantity(key: string, value: number | string): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return DASH;
  if (key.endsWith('_bytes_per_second')) return `${formatBytes(value)}/s`;
  if (key.endsWith('_bytes')) return formatBytes(value);
  if (key.endsWith('_ms')) return formatDuration(value);
  if (key.endsWith('_percent')) return `${value.toFixed(1)} %`;
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}
