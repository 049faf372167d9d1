/**
 * The columns of the exported datasets and the pure functions that turn samples into rows.
 * Column names are stable: every `HostMetrics` field is `host_<field>`, every
 * `ProcessTreeMetrics` field `process_<field>`, every `CgroupMetrics` field `cgroup_<field>`
 * (the protobuf field names in snake_case, units in the names), and a key of the free-form
 * `metrics` map is `metric_<key>`. docs/export.md lists them.
 */
import {
  CgroupMetrics,
  HostMetrics,
  ProcessTreeMetrics,
  type Sample,
  type SampleLabels,
} from '@faultline/protocol';

/**
 * The type of a column's cells. `timestamp` cells are ns since the epoch (`bigint`); CSV and
 * JSONL write them as text (see {@link DatasetColumn.timeText}), Parquet as
 * TIMESTAMP(MILLIS, UTC).
 */
export type ColumnType = 'string' | 'double' | 'int64' | 'bool' | 'timestamp';

/** One column of a dataset file. */
export interface DatasetColumn {
  readonly name: string;
  readonly type: ColumnType;
  /**
   * Text form of a `timestamp` column in CSV and JSONL: `iso` is ISO 8601 in UTC with
   * milliseconds (`2026-11-03T10:00:00.123Z`), `log` the seed RAM log's
   * `YYYY-MM-DD HH:MM:SS.mmm` (UTC). Default `iso`.
   */
  readonly timeText?: 'iso' | 'log';
}

/** One cell: `null` is a missing value (an absent section, an empty label, a non-finite number). */
export type Cell = string | number | bigint | boolean | null;
/** One row, its cells in column order. */
export type Row = Cell[];

/** A numeric field of a sample section: its column name and its camelCase key in the TS type. */
interface SectionField {
  readonly column: string;
  readonly key: string;
}

function sectionFields(prefix: string, empty: object): readonly SectionField[] {
  const out: SectionField[] = [];
  for (const [key, value] of Object.entries(empty)) {
    if (typeof value !== 'number') continue;
    out.push({ column: `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`, key });
  }
  return out;
}

const HOST_FIELDS = sectionFields('host', HostMetrics.fromPartial({}));
const PROCESS_FIELDS = sectionFields('process', ProcessTreeMetrics.fromPartial({}));
const CGROUP_FIELDS = sectionFields('cgroup', CgroupMetrics.fromPartial({}));

/** Prefix of the columns (wide) and measurements (long) of the free-form `metrics` map. */
export const METRIC_PREFIX = 'metric_';

/** The measurement names of every fixed sample field, in column order. */
export const FIXED_MEASUREMENTS: readonly string[] = [
  ...HOST_FIELDS,
  ...PROCESS_FIELDS,
  ...CGROUP_FIELDS,
].map((f) => f.column);

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const orNull = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

/** The label columns every layout carries, after its own leading columns. */
export const LABEL_COLUMNS: readonly DatasetColumn[] = [
  { name: 'phase', type: 'string' },
  { name: 'state', type: 'string' },
  { name: 'injection_id', type: 'string' },
  { name: 'anomaly_type', type: 'string' },
  { name: 'is_anomaly', type: 'bool' },
];

/** The cells of {@link LABEL_COLUMNS}: empty labels are null; `is_anomaly` is whether an injection id is set. */
export function labelCells(labels: SampleLabels | undefined): Row {
  const injection = orNull(labels?.injectionId);
  return [
    orNull(labels?.phase),
    orNull(labels?.state),
    injection,
    orNull(labels?.anomalyType),
    injection !== null,
  ];
}

function readField(section: object, key: string): number {
  return (section as Record<string, number>)[key] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// wide

/**
 * The columns of the wide layout: `experiment_id, host_id, seq, time_unix_nano, time`, the
 * labels, every host, process and cgroup field (always present, null when the sample lacks the
 * section), `cgroup_path`, then `metric_<key>` for each of `metricKeys` in the order given.
 */
export function wideColumns(metricKeys: readonly string[]): DatasetColumn[] {
  return [
    { name: 'experiment_id', type: 'string' },
    { name: 'host_id', type: 'string' },
    { name: 'seq', type: 'int64' },
    { name: 'time_unix_nano', type: 'int64' },
    { name: 'time', type: 'timestamp' },
    ...LABEL_COLUMNS,
    ...HOST_FIELDS.map((f): DatasetColumn => ({ name: f.column, type: 'double' })),
    ...PROCESS_FIELDS.map((f): DatasetColumn => ({ name: f.column, type: 'double' })),
    ...CGROUP_FIELDS.map((f): DatasetColumn => ({ name: f.column, type: 'double' })),
    { name: 'cgroup_path', type: 'string' },
    ...metricKeys.map((k): DatasetColumn => ({ name: `${METRIC_PREFIX}${k}`, type: 'double' })),
  ];
}

function pushSection(row: Row, fields: readonly SectionField[], section: object | undefined): void {
  for (const f of fields) row.push(section === undefined ? null : finite(readField(section, f.key)));
}

/**
 * The wide row of one sample. `metricIndex` maps each metric key to its position among the
 * metric columns (the order of `metricKeys` given to {@link wideColumns}); keys not in it are
 * left out.
 */
export function wideRow(sample: Sample, metricIndex: ReadonlyMap<string, number>): Row {
  const row: Row = [
    orNull(sample.labels?.experimentId),
    sample.hostId,
    sample.seq,
    sample.timeUnixNano,
    sample.timeUnixNano,
    ...labelCells(sample.labels),
  ];
  pushSection(row, HOST_FIELDS, sample.host);
  pushSection(row, PROCESS_FIELDS, sample.process);
  pushSection(row, CGROUP_FIELDS, sample.cgroup);
  row.push(sample.cgroup === undefined ? null : orNull(sample.cgroup.path));
  const base = row.length;
  for (let i = 0; i < metricIndex.size; i++) row.push(null);
  for (const [key, value] of Object.entries(sample.metrics)) {
    const i = metricIndex.get(key);
    if (i !== undefined) row[base + i] = finite(value);
  }
  return row;
}

// ---------------------------------------------------------------------------------------------
// long

/**
 * The columns of the long layout: one row per host, time and measurement, with the interval
 * from this sample to the host's next one (`interval_end` is null for a host's last sample).
 */
export const LONG_COLUMNS: readonly DatasetColumn[] = [
  { name: 'experiment_id', type: 'string' },
  { name: 'host_id', type: 'string' },
  { name: 'time', type: 'timestamp' },
  { name: 'interval_start', type: 'timestamp' },
  { name: 'interval_end', type: 'timestamp' },
  { name: 'measurement', type: 'string' },
  { name: 'value', type: 'double' },
  ...LABEL_COLUMNS,
];

/**
 * Calls `visit` for every measurement present in `sample`, in wide column order: every field
 * of each section the sample has, then its `metrics` map in key order. Returns the count.
 */
export function forEachMeasurement(sample: Sample, visit: (name: string, value: number) => void): number {
  let n = 0;
  const section = (fields: readonly SectionField[], s: object | undefined): void => {
    if (s === undefined) return;
    for (const f of fields) {
      visit(f.column, readField(s, f.key));
      n++;
    }
  };
  section(HOST_FIELDS, sample.host);
  section(PROCESS_FIELDS, sample.process);
  section(CGROUP_FIELDS, sample.cgroup);
  for (const key of Object.keys(sample.metrics).sort()) {
    visit(`${METRIC_PREFIX}${key}`, sample.metrics[key]!);
    n++;
  }
  return n;
}

/** The long rows of one sample, given when its interval ends (null: unknown, the host's last sample). */
export function longRows(sample: Sample, intervalEnd: bigint | null): Row[] {
  const rows: Row[] = [];
  const labels = labelCells(sample.labels);
  const experiment = orNull(sample.labels?.experimentId);
  forEachMeasurement(sample, (name, value) => {
    rows.push([
      experiment,
      sample.hostId,
      sample.timeUnixNano,
      sample.timeUnixNano,
      intervalEnd,
      name,
      finite(value),
      ...labels,
    ]);
  });
  return rows;
}

/**
 * Pairs each sample with its host's next one, so that long rows can carry their interval.
 * Holds one sample per host: memory is constant per host.
 */
export class LongRowPairer {
  private readonly pending = new Map<string, Sample>();

  /** Takes the next sample (of any host); returns the rows of that host's previous sample, if any. */
  push(sample: Sample): Row[] {
    const previous = this.pending.get(sample.hostId);
    this.pending.set(sample.hostId, sample);
    return previous === undefined ? [] : longRows(previous, sample.timeUnixNano);
  }

  /** The rows of every host's last sample (interval_end null), host by host in the order they first appeared. */
  *finish(): Generator<Row[]> {
    for (const s of this.pending.values()) yield longRows(s, null);
    this.pending.clear();
  }
}
