/**
 * The rows of the simulator's dataset files, in the wide layout of `faultline export`: the
 * same columns in the same order (`experiment_id, host_id, seq, time_unix_nano, time`, the
 * labels, every `HostMetrics` field as `host_<field>`, every `ProcessTreeMetrics` field as
 * `process_<field>`, every `CgroupMetrics` field as `cgroup_<field>`, `cgroup_path`, then
 * `metric_<key>` for the simulated metrics), so one reader takes both. Also the rows of the
 * fleet inventory and of the truth windows. Pure text building; CSV is RFC 4180 with CRLF,
 * JSON Lines one object per line, a missing value empty (CSV) or `null` (JSON).
 */
import {
  Achieved,
  CgroupMetrics,
  CpuWorkload,
  HostMetrics,
  IoWorkload,
  MatmulWorkload,
  MemoryWorkload,
  NetworkWorkload,
  ProcessTreeMetrics,
  ProcsWorkload,
  StallWorkload,
  ThreadsWorkload,
  type Sample,
  type TruthWindow,
} from '@faultline/protocol';
import type { VirtualHostSpec } from './fleet-model.js';
import { SIMULATED_METRICS } from './host-metrics-model.js';

/** Dataset file formats the backfill writes. */
export const DATASET_FORMATS = ['csv', 'jsonl'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

type Cell = string | number | bigint | boolean | null;

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function numericKeys(empty: object): string[] {
  return Object.entries(empty)
    .filter(([, v]) => typeof v === 'number')
    .map(([k]) => k);
}

const HOST_KEYS = numericKeys(HostMetrics.fromPartial({})) as Array<keyof HostMetrics>;
const PROCESS_KEYS = numericKeys(ProcessTreeMetrics.fromPartial({}));
const CGROUP_KEYS = numericKeys(CgroupMetrics.fromPartial({}));
const ACHIEVED_KEYS = numericKeys(Achieved.fromPartial({})) as Array<keyof Achieved>;

/** The columns of the samples file (the wide layout of `faultline export`). */
export const SAMPLE_COLUMNS: readonly string[] = [
  'experiment_id',
  'host_id',
  'seq',
  'time_unix_nano',
  'time',
  'phase',
  'state',
  'injection_id',
  'anomaly_type',
  'is_anomaly',
  ...HOST_KEYS.map((k) => `host_${snake(k)}`),
  ...PROCESS_KEYS.map((k) => `process_${snake(k)}`),
  ...CGROUP_KEYS.map((k) => `cgroup_${snake(k)}`),
  'cgroup_path',
  ...SIMULATED_METRICS.map((m) => `metric_${m}`),
];

/** The columns of the inventory file: one row per virtual host. */
export const HOST_COLUMNS: readonly string[] = [
  'host_id',
  'instance_name',
  'region',
  'cell',
  'silo',
  'availability_zone',
  'microservice_name',
  'instance_type',
  'os_version',
  'process',
  'jdk_version',
  'serial_number',
  'server_model',
  'location',
  'idle_watts',
  'max_watts',
  'vcpus',
  'memory_total_bytes',
  'cpu_profile',
];

/** Every workload kind with an empty message of it, for the `requested_<kind>_<field>` columns. */
const WORKLOAD_FIELDS: ReadonlyArray<readonly [string, readonly string[]]> = (
  [
    ['cpu', CpuWorkload.fromPartial({})],
    ['memory', MemoryWorkload.fromPartial({})],
    ['matmul', MatmulWorkload.fromPartial({})],
    ['io', IoWorkload.fromPartial({})],
    ['network', NetworkWorkload.fromPartial({})],
    ['stall', StallWorkload.fromPartial({})],
    ['procs', ProcsWorkload.fromPartial({})],
    ['threads', ThreadsWorkload.fromPartial({})],
  ] as const
).map(([kind, empty]) => [kind, Object.keys(empty)] as const);

/**
 * The columns of the truth file, one row per injection (its latest report), as the truth
 * table of `faultline export`: ids and labels, the four times as text and as exact ns,
 * `duration_seconds`, `reached_target`, `shortfall`, `requested_kind`, the requested workload
 * as `requested_<kind>_<field>`, the achieved values as `achieved_<field>`.
 */
export const TRUTH_COLUMNS: readonly string[] = [
  'experiment_id',
  'injection_id',
  'agent_id',
  'host_id',
  'anomaly_type',
  'phase',
  'requested_start',
  'requested_end',
  'actual_start',
  'actual_end',
  'requested_start_unix_nano',
  'requested_end_unix_nano',
  'actual_start_unix_nano',
  'actual_end_unix_nano',
  'duration_seconds',
  'reached_target',
  'shortfall',
  'requested_kind',
  ...WORKLOAD_FIELDS.flatMap(([kind, keys]) => keys.map((k) => `requested_${kind}_${snake(k)}`)),
  ...ACHIEVED_KEYS.map((k) => `achieved_${snake(k)}`),
];

/** ISO 8601 with milliseconds, UTC; null for 0 (not set). */
function isoTime(ns: bigint): string | null {
  return ns === 0n ? null : new Date(Number(ns / 1_000_000n)).toISOString();
}

const orNull = (s: string): string | null => (s === '' ? null : s);

const csvNumber = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '' : String(v);
const jsonNumber = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? 'null' : String(v);

/**
 * An encoder of sample rows in {@link SAMPLE_COLUMNS} order: the header line (CSV) and one
 * line per sample. Written out field by field, without a row of cells: it is the backfill's
 * hot path.
 */
export function sampleLineEncoder(format: DatasetFormat): { header: string; line(sample: Sample): string } {
  const emptyColumns = PROCESS_KEYS.length + CGROUP_KEYS.length + 1;
  if (format === 'csv') {
    const emptyTail = ','.repeat(emptyColumns);
    const emptyHost = ','.repeat(HOST_KEYS.length);
    return {
      header: SAMPLE_COLUMNS.map((c) => csvField(c)).join(',') + '\r\n',
      line(sample) {
        const l = sample.labels;
        const injection = l?.injectionId ?? '';
        let s =
          csvField(orNull(l?.experimentId ?? '')) +
          ',' +
          csvField(sample.hostId) +
          ',' +
          sample.seq.toString() +
          ',' +
          sample.timeUnixNano.toString() +
          ',' +
          (isoTime(sample.timeUnixNano) ?? '') +
          ',' +
          csvField(orNull(l?.phase ?? '')) +
          ',' +
          csvField(orNull(l?.state ?? '')) +
          ',' +
          csvField(orNull(injection)) +
          ',' +
          csvField(orNull(l?.anomalyType ?? '')) +
          (injection === '' ? ',false' : ',true');
        const host = sample.host;
        if (host === undefined) s += emptyHost;
        else for (const k of HOST_KEYS) s += ',' + csvNumber(host[k]);
        s += emptyTail;
        const metrics = sample.metrics;
        for (const m of SIMULATED_METRICS) s += ',' + csvNumber(metrics[m]);
        return s + '\r\n';
      },
    };
  }
  const key = (i: number): string => `${i === 0 ? '{' : ','}${JSON.stringify(SAMPLE_COLUMNS[i])}:`;
  const head = Array.from({ length: 10 }, (_, i) => key(i));
  const hostKeys = HOST_KEYS.map((_, i) => key(10 + i));
  let nulls = '';
  for (let i = 0; i < emptyColumns; i++) nulls += key(10 + HOST_KEYS.length + i) + 'null';
  const metricKeys = SIMULATED_METRICS.map((_, i) => key(10 + HOST_KEYS.length + emptyColumns + i));
  return {
    header: '',
    line(sample) {
      const l = sample.labels;
      const injection = l?.injectionId ?? '';
      let s =
        head[0]! +
        jsonValue(orNull(l?.experimentId ?? '')) +
        head[1]! +
        JSON.stringify(sample.hostId) +
        head[2]! +
        sample.seq.toString() +
        head[3]! +
        sample.timeUnixNano.toString() +
        head[4]! +
        jsonValue(isoTime(sample.timeUnixNano)) +
        head[5]! +
        jsonValue(orNull(l?.phase ?? '')) +
        head[6]! +
        jsonValue(orNull(l?.state ?? '')) +
        head[7]! +
        jsonValue(orNull(injection)) +
        head[8]! +
        jsonValue(orNull(l?.anomalyType ?? '')) +
        head[9]! +
        (injection === '' ? 'false' : 'true');
      const host = sample.host;
      for (let i = 0; i < HOST_KEYS.length; i++)
        s += hostKeys[i]! + (host === undefined ? 'null' : jsonNumber(host[HOST_KEYS[i]!]));
      s += nulls;
      const metrics = sample.metrics;
      for (let i = 0; i < SIMULATED_METRICS.length; i++)
        s += metricKeys[i]! + jsonNumber(metrics[SIMULATED_METRICS[i]!]);
      return s + '}\n';
    },
  };
}

/** The cells of one inventory row, in {@link HOST_COLUMNS} order. */
export function hostCells(h: VirtualHostSpec): Cell[] {
  return [
    h.hostId,
    h.instanceName,
    h.region,
    h.cell,
    h.silo,
    h.availabilityZone,
    h.microservice,
    h.instanceType,
    h.osVersion,
    h.process,
    h.jdkVersion,
    h.serialNumber,
    h.serverModel,
    h.location,
    h.idleWatts,
    h.maxWatts,
    h.vcpus,
    h.memoryTotalBytes,
    h.cpuProfile,
  ];
}

/** The cells of one truth window, in {@link TRUTH_COLUMNS} order. */
export function truthCells(t: TruthWindow): Cell[] {
  const achieved = t.achieved;
  const kind = t.requested?.kind;
  const ns = (v: bigint): bigint | null => (v > 0n ? v : null);
  const requested: Cell[] = [];
  for (const [name, keys] of WORKLOAD_FIELDS) {
    for (const k of keys) {
      const value = kind?.$case === name ? (kind.value as unknown as Record<string, unknown>)[k] : null;
      requested.push(
        Array.isArray(value)
          ? JSON.stringify(value)
          : typeof value === 'number' ||
              typeof value === 'bigint' ||
              typeof value === 'boolean' ||
              typeof value === 'string'
            ? value
            : null,
      );
    }
  }
  return [
    orNull(t.experimentId),
    t.injectionId,
    orNull(t.agentId),
    t.hostId,
    orNull(t.anomalyType),
    orNull(t.phase),
    isoTime(t.requestedStartUnixNano),
    isoTime(t.requestedEndUnixNano),
    isoTime(t.actualStartUnixNano),
    isoTime(t.actualEndUnixNano),
    ns(t.requestedStartUnixNano),
    ns(t.requestedEndUnixNano),
    ns(t.actualStartUnixNano),
    ns(t.actualEndUnixNano),
    t.actualEndUnixNano > 0n ? Number(t.actualEndUnixNano - t.actualStartUnixNano) / 1e9 : null,
    t.reachedTarget,
    orNull(t.shortfall),
    kind?.$case ?? null,
    ...requested,
    ...ACHIEVED_KEYS.map((k) => (achieved === undefined ? null : achieved[k])),
  ];
}

function csvField(cell: Cell): string {
  if (cell === null) return '';
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : '';
  if (typeof cell !== 'string') return String(cell);
  return /[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

function jsonValue(cell: Cell): string {
  if (cell === null) return 'null';
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : 'null';
  if (typeof cell === 'bigint' || typeof cell === 'boolean') return String(cell);
  return JSON.stringify(cell);
}

/** Turns rows of `columns` into lines of one format: a header (CSV only) and one record per row. */
export interface LineEncoder {
  /** The first line of the file (CSV: the header; JSON Lines: empty). */
  readonly header: string;
  /** One record with its line end. */
  line(cells: readonly Cell[]): string;
}

export function lineEncoder(format: DatasetFormat, columns: readonly string[]): LineEncoder {
  if (format === 'csv') {
    return {
      header: columns.map((c) => csvField(c)).join(',') + '\r\n',
      line: (cells) => {
        let s = csvField(cells[0] ?? null);
        for (let i = 1; i < cells.length; i++) s += ',' + csvField(cells[i] ?? null);
        return s + '\r\n';
      },
    };
  }
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c)}:`);
  return {
    header: '',
    line: (cells) => {
      let s = '';
      for (let i = 0; i < keys.length; i++) s += keys[i]! + jsonValue(cells[i] ?? null);
      return s + '}\n';
    },
  };
}
