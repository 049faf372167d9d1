/**
 * Backfill: the simulator's shell that generates a date range at an interval, with fuzz,
 * straight to dataset files, without NATS. Every host is sampled at `from + k·interval`
 * plus a seeded offset in [0, fuzz] ms, for each k while that slot is before `to`.
 *
 * @example
 * ```ts
 * const manifest = await backfill({
 *   seed: 42, hosts: 100,
 *   fromMs: Date.parse('2026-11-01T00:00:00Z'), toMs: Date.parse('2026-11-02T00:00:00Z'),
 *   intervalMs: 60_000, fuzzMs: 5000, outDir: './dataset', format: 'csv',
 * });
 * // ./dataset/samples.csv (100 × 1440 rows), hosts.csv, truth.csv, manifest.json
 * ```
 */
import { mkdir, open, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng, type Plan, type TruthWindow } from '@faultline/protocol';
import { InvalidOptionsError, SimulatorOutputError } from '../errors.js';
import {
  DATASET_FORMATS,
  HOST_COLUMNS,
  hostCells,
  lineEncoder,
  sampleLineEncoder,
  TRUTH_COLUMNS,
  truthCells,
  type DatasetFormat,
} from './dataset-rows.js';
import { SIMULATED_METRICS, TASK_END_STATES } from './host-metrics-model.js';
import { Simulator, type SimulatorOptions } from './simulator.js';

/** Options of {@link backfill}: the simulator's, plus the range and the output. */
export interface BackfillOptions extends SimulatorOptions {
  /** First slot, ms since the epoch. Required. */
  fromMs: number;
  /** End of the range (exclusive), ms since the epoch; after `fromMs`. Required. */
  toMs: number;
  /** Time between slots, ms, in [1, 86400000]. Default 1000. */
  intervalMs?: number;
  /** Largest random delay of a sample after its slot, ms, in [0, intervalMs). Default 0. */
  fuzzMs?: number;
  /** Output directory, created when missing; files of the same names are replaced. Required. */
  outDir: string;
  /** `csv` or `jsonl`. Default `csv`. */
  format?: DatasetFormat;
  /** Plans compiled for the virtual hosts (`compilePlans(spec, sim.agentInfos(), …)`): their anomalies are in the data. */
  plans?: readonly Plan[];
  /** Called after each slot with the slots done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One file the backfill wrote. */
export interface BackfillFile {
  /** Relative to the output directory. */
  path: string;
  kind: 'samples' | 'hosts' | 'truth' | 'manifest';
  rows: number;
}

/** What the backfill wrote, also saved as `manifest.json`. */
export interface BackfillManifest {
  generator: 'faultline simulate --backfill';
  seed: string;
  from: string;
  to: string;
  intervalMs: number;
  fuzzMs: number;
  format: DatasetFormat;
  hosts: number;
  slots: number;
  samples: number;
  truthWindows: number;
  /** Keys of `Sample.metrics` (the `metric_<key>` columns). */
  metrics: readonly string[];
  /** Text of each `task_end_state` code. */
  taskEndStates: readonly string[];
  files: BackfillFile[];
}

/** Slots in [fromMs, toMs) at `intervalMs`. */
export function backfillSlots(fromMs: number, toMs: number, intervalMs: number): number {
  return Math.max(0, Math.ceil((toMs - fromMs) / intervalMs));
}

/** The backfill's own options, validated, with defaults. */
export interface ResolvedBackfillRange {
  readonly fromMs: number;
  readonly toMs: number;
  readonly intervalMs: number;
  readonly fuzzMs: number;
  readonly format: DatasetFormat;
  readonly outDir: string;
}

/**
 * Applies defaults to the range and output options and validates them (the simulator's own
 * options are validated when it is built); throws {@link InvalidOptionsError}.
 */
export function resolveBackfillOptions(raw: BackfillOptions): ResolvedBackfillRange {
  if (!Number.isSafeInteger(raw.fromMs)) {
    throw new InvalidOptionsError(
      'fromMs',
      `fromMs must be an integer (ms since the epoch), got ${raw.fromMs}`,
    );
  }
  if (!(Number.isSafeInteger(raw.toMs) && raw.toMs > raw.fromMs)) {
    throw new InvalidOptionsError(
      'toMs',
      `toMs must be an integer after fromMs ${raw.fromMs}, got ${raw.toMs}`,
    );
  }
  const intervalMs = raw.intervalMs ?? 1000;
  if (!(Number.isInteger(intervalMs) && intervalMs >= 1 && intervalMs <= 86_400_000)) {
    throw new InvalidOptionsError(
      'intervalMs',
      `intervalMs must be an integer in [1, 86400000], got ${intervalMs}`,
    );
  }
  const fuzzMs = raw.fuzzMs ?? 0;
  if (!(Number.isInteger(fuzzMs) && fuzzMs >= 0 && fuzzMs < intervalMs)) {
    throw new InvalidOptionsError(
      'fuzzMs',
      `fuzzMs must be an integer in [0, intervalMs ${intervalMs}), got ${fuzzMs}`,
    );
  }
  const format = raw.format ?? 'csv';
  if (!DATASET_FORMATS.includes(format)) {
    throw new InvalidOptionsError(
      'format',
      `format must be one of ${DATASET_FORMATS.join(', ')}, got ${String(format)}`,
    );
  }
  if (typeof raw.outDir !== 'string' || raw.outDir === '') {
    throw new InvalidOptionsError(
      'outDir',
      `outDir must be a non-empty path, got ${JSON.stringify(raw.outDir)}`,
    );
  }
  return { fromMs: raw.fromMs, toMs: raw.toMs, intervalMs, fuzzMs, format, outDir: raw.outDir };
}

/** Text written in chunks of about this many characters. */
const CHUNK_CHARS = 1 << 18;

/** A dataset file written in large chunks; failures become {@link SimulatorOutputError}. */
class DatasetFile {
  private buffer: string;
  rows = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    header: string,
  ) {
    this.buffer = header;
  }

  static async create(path: string, header: string): Promise<DatasetFile> {
    try {
      return new DatasetFile(path, await open(path, 'w'), header);
    } catch (err) {
      throw new SimulatorOutputError(path, { cause: err });
    }
  }

  /** Adds one encoded row (with its line end) to the buffer. */
  add(line: string): void {
    this.buffer += line;
    this.rows++;
  }

  /** Whether the buffer is worth writing out. */
  get full(): boolean {
    return this.buffer.length >= CHUNK_CHARS;
  }

  async flush(): Promise<void> {
    if (this.buffer === '') return;
    const text = this.buffer;
    this.buffer = '';
    try {
      await this.handle.write(text);
    } catch (err) {
      throw new SimulatorOutputError(this.path, { cause: err });
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.handle.close().catch(() => {});
    }
  }
}

/**
 * Generates `[fromMs, toMs)` for every virtual host and writes `samples.<ext>` (the wide
 * layout of `faultline export`), `hosts.<ext>` (the inventory), `truth.<ext>` (one row per
 * injection of `plans`; a window still open at `toMs` has no actual end) and
 * `manifest.json`. Throws {@link InvalidOptionsError} before writing anything, and
 * {@link SimulatorOutputError} when a file cannot be written.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillManifest> {
  const { intervalMs, fuzzMs, format } = resolveBackfillOptions(options);
  const sim = new Simulator({ ...options, intervalMs });
  const truth = new Map<string, TruthWindow>();
  const onTruth = (t: TruthWindow): void => {
    const known = truth.get(t.injectionId);
    if (known !== undefined && known.actualEndUnixNano !== 0n && t.actualEndUnixNano === 0n) return;
    truth.set(t.injectionId, t);
  };
  for (const plan of options.plans ?? []) sim.addPlan(plan, { onTruth });

  try {
    await mkdir(options.outDir, { recursive: true });
  } catch (err) {
    throw new SimulatorOutputError(options.outDir, { cause: err });
  }
  const file = (name: string): string => join(options.outDir, `${name}.${format}`);
  const hostEncoder = lineEncoder(format, HOST_COLUMNS);
  const hostsFile = await DatasetFile.create(file('hosts'), hostEncoder.header);
  try {
    for (const h of sim.hosts) {
      hostsFile.add(hostEncoder.line(hostCells(h)));
      if (hostsFile.full) await hostsFile.flush();
    }
  } finally {
    await hostsFile.close();
  }

  const slots = backfillSlots(options.fromMs, options.toMs, intervalMs);
  const fuzz = createRng(`${String(sim.options.seed)}/backfill-fuzz`);
  const sampleEncoder = sampleLineEncoder(format);
  const samples = await DatasetFile.create(file('samples'), sampleEncoder.header);
  try {
    for (let k = 0; k < slots; k++) {
      const slotMs = options.fromMs + k * intervalMs;
      for (let i = 0; i < sim.size; i++) {
        const timeMs = fuzzMs > 0 ? slotMs + fuzz.int(fuzzMs + 1) : slotMs;
        samples.add(sampleEncoder.line(sim.sampleHost(i, timeMs)));
        if (samples.full) await samples.flush();
      }
      options.onProgress?.(k + 1, slots);
    }
  } finally {
    await samples.close();
  }
  sim.settle(options.toMs);

  const truthEncoder = lineEncoder(format, TRUTH_COLUMNS);
  const truthFile = await DatasetFile.create(file('truth'), truthEncoder.header);
  const windows = [...truth.values()].sort(
    (a, b) =>
      Number(a.actualStartUnixNano - b.actualStartUnixNano) ||
      (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0) ||
      (a.injectionId < b.injectionId ? -1 : 1),
  );
  try {
    for (const t of windows) {
      truthFile.add(truthEncoder.line(truthCells(t)));
      if (truthFile.full) await truthFile.flush();
    }
  } finally {
    await truthFile.close();
  }

  const manifest: BackfillManifest = {
    generator: 'faultline simulate --backfill',
    seed: String(sim.options.seed),
    from: new Date(options.fromMs).toISOString(),
    to: new Date(options.toMs).toISOString(),
    intervalMs,
    fuzzMs,
    format,
    hosts: sim.size,
    slots,
    samples: samples.rows,
    truthWindows: windows.length,
    metrics: SIMULATED_METRICS,
    taskEndStates: TASK_END_STATES,
    files: [
      { path: `samples.${format}`, kind: 'samples', rows: samples.rows },
      { path: `hosts.${format}`, kind: 'hosts', rows: hostsFile.rows },
      { path: `truth.${format}`, kind: 'truth', rows: truthFile.rows },
      { path: 'manifest.json', kind: 'manifest', rows: 1 },
    ],
  };
  const manifestPath = join(options.outDir, 'manifest.json');
  try {
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  } catch (err) {
    throw new SimulatorOutputError(manifestPath, { cause: err });
  }
  return manifest;
}
