/**
 * Ground truth for an export: the latest report of each injection, and the flat truth table
 * (one row per window, the requested workload and the achieved values as columns).
 */
import {
  Achieved,
  CpuWorkload,
  IoWorkload,
  MatmulWorkload,
  MemoryWorkload,
  NetworkWorkload,
  ProcsWorkload,
  StallWorkload,
  ThreadsWorkload,
  type TruthWindow,
} from '@faultline/protocol';
import type { Cell, ColumnType, DatasetColumn, Row } from './dataset-columns.js';

/**
 * The truth windows of one experiment, one per injection id. Agents report a window when an
 * injection starts and again when it ends: the latest report wins, except that a report
 * without an end never replaces one with an end (a late duplicate of the start report).
 */
export class TruthWindowSet {
  private readonly byId = new Map<string, TruthWindow>();

  add(window: TruthWindow): void {
    const known = this.byId.get(window.injectionId);
    if (known !== undefined && known.actualEndUnixNano !== 0n && window.actualEndUnixNano === 0n) return;
    this.byId.set(window.injectionId, window);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Every window, by actual start, then host, then injection id. */
  windows(): TruthWindow[] {
    return [...this.byId.values()].sort(
      (a, b) =>
        compareBig(a.actualStartUnixNano, b.actualStartUnixNano) ||
        compareStr(a.hostId, b.hostId) ||
        compareStr(a.injectionId, b.injectionId),
    );
  }
}

const compareBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const compareStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

type Flattener = (window: TruthWindow) => Cell;

interface TruthField {
  readonly column: DatasetColumn;
  readonly value: Flattener;
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const time = (ns: bigint): bigint | null => (ns > 0n ? ns : null);
const text = (s: string): string | null => (s === '' ? null : s);

function typeOf(value: unknown): ColumnType {
  if (typeof value === 'bigint') return 'int64';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'double';
  return 'string';
}

function cellOf(value: unknown): Cell {
  if (Array.isArray(value)) return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' || typeof value === 'bigint' || typeof value === 'boolean') return value;
  return null;
}

// One group of columns per workload kind, generated from the messages so new fields appear.
const WORKLOAD_KINDS: ReadonlyArray<readonly [string, object]> = [
  ['cpu', CpuWorkload.fromPartial({})],
  ['memory', MemoryWorkload.fromPartial({})],
  ['matmul', MatmulWorkload.fromPartial({})],
  ['io', IoWorkload.fromPartial({})],
  ['network', NetworkWorkload.fromPartial({})],
  ['stall', StallWorkload.fromPartial({})],
  ['procs', ProcsWorkload.fromPartial({})],
  ['threads', ThreadsWorkload.fromPartial({})],
];

function requestedFields(): TruthField[] {
  const out: TruthField[] = [];
  for (const [kind, empty] of WORKLOAD_KINDS) {
    for (const [key, example] of Object.entries(empty)) {
      out.push({
        column: {
          name: `requested_${kind}_${snake(key)}`,
          type: Array.isArray(example) ? 'string' : typeOf(example),
        },
        value: (w) => {
          const k = w.requested?.kind;
          return k?.$case === kind ? cellOf((k.value as unknown as Record<string, unknown>)[key]) : null;
        },
      });
    }
  }
  return out;
}

function achievedFields(): TruthField[] {
  return Object.entries(Achieved.fromPartial({})).map(([key, example]) => ({
    column: { name: `achieved_${snake(key)}`, type: typeOf(example) },
    value: (w) =>
      w.achieved === undefined ? null : cellOf((w.achieved as unknown as Record<string, unknown>)[key]),
  }));
}

const TRUTH_FIELDS: readonly TruthField[] = [
  { column: { name: 'experiment_id', type: 'string' }, value: (w) => text(w.experimentId) },
  { column: { name: 'injection_id', type: 'string' }, value: (w) => w.injectionId },
  { column: { name: 'agent_id', type: 'string' }, value: (w) => text(w.agentId) },
  { column: { name: 'host_id', type: 'string' }, value: (w) => w.hostId },
  { column: { name: 'anomaly_type', type: 'string' }, value: (w) => text(w.anomalyType) },
  { column: { name: 'phase', type: 'string' }, value: (w) => text(w.phase) },
  { column: { name: 'requested_start', type: 'timestamp' }, value: (w) => time(w.requestedStartUnixNano) },
  { column: { name: 'requested_end', type: 'timestamp' }, value: (w) => time(w.requestedEndUnixNano) },
  { column: { name: 'actual_start', type: 'timestamp' }, value: (w) => time(w.actualStartUnixNano) },
  { column: { name: 'actual_end', type: 'timestamp' }, value: (w) => time(w.actualEndUnixNano) },
  {
    column: { name: 'requested_start_unix_nano', type: 'int64' },
    value: (w) => time(w.requestedStartUnixNano),
  },
  { column: { name: 'requested_end_unix_nano', type: 'int64' }, value: (w) => time(w.requestedEndUnixNano) },
  { column: { name: 'actual_start_unix_nano', type: 'int64' }, value: (w) => time(w.actualStartUnixNano) },
  { column: { name: 'actual_end_unix_nano', type: 'int64' }, value: (w) => time(w.actualEndUnixNano) },
  {
    column: { name: 'duration_seconds', type: 'double' },
    value: (w) =>
      w.actualEndUnixNano > 0n ? Number(w.actualEndUnixNano - w.actualStartUnixNano) / 1e9 : null,
  },
  { column: { name: 'reached_target', type: 'bool' }, value: (w) => w.reachedTarget },
  { column: { name: 'shortfall', type: 'string' }, value: (w) => text(w.shortfall) },
  { column: { name: 'requested_kind', type: 'string' }, value: (w) => w.requested?.kind?.$case ?? null },
  ...requestedFields(),
  ...achievedFields(),
];

/**
 * The columns of the truth table: ids and labels, the four times as timestamps and as exact
 * ns, `duration_seconds` (null while running), `reached_target`, `shortfall`,
 * `requested_kind`, then `requested_<kind>_<field>` for every field of every workload kind
 * (null unless the window's workload is of that kind; lists as JSON text) and
 * `achieved_<field>` for every field of `Achieved`.
 */
export const TRUTH_COLUMNS: readonly DatasetColumn[] = TRUTH_FIELDS.map((f) => f.column);

/** The truth table row of one window, in {@link TRUTH_COLUMNS} order. */
export function truthRow(window: TruthWindow): Row {
  return TRUTH_FIELDS.map((f) => f.value(window));
}
