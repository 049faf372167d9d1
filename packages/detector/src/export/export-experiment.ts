/**
 * `exportExperiment`: replays one experiment's samples (FL_SAMPLES) and truth windows
 * (FL_TRUTH) into labelled dataset files and a manifest. See docs/export.md.
 *
 * Two passes over FL_SAMPLES: a scan finds the experiment's hosts, its metric names and the
 * range of stream sequences that holds its samples (and fails before writing anything when
 * the experiment is unknown); the write pass replays only that range. Rows stream through
 * bounded buffers, so memory does not grow with the dataset.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstream, type JetStreamClient, type StreamInfo } from '@nats-io/jetstream';
import {
  decodeSampleBatch,
  decodeTruthWindow,
  StreamName,
  subjects,
  type Sample,
  type SampleBatch,
} from '@faultline/protocol';
import { ExportOutputError, ExportSourceError, isDetectorError, UnknownExperimentError } from '../errors.js';
import { LONG_COLUMNS, LongRowPairer, wideColumns, wideRow, type Row } from './dataset-columns.js';
import { resolveExportOptions, type ExportOptions, type ResolvedExportOptions } from './export-options.js';
import { openNatsSource, readStreamInfo } from './nats-source.js';
import { RAMLOG_COLUMNS, RamlogHostLog } from './ramlog.js';
import { openRowSink, WriteBudget, type RowSink, type RowSinkLimits } from './row-sinks.js';
import { replayStream } from './stream-replay.js';
import { TRUTH_COLUMNS, TruthWindowSet, truthRow } from './truth-table.js';

/** The manifest's file name in the output directory. */
export const MANIFEST_FILE = 'manifest.json';

/** One file an export wrote. */
export interface ExportedFile {
  /** Path relative to the output directory, `/`-separated (`samples.csv`, `ramlog/host-a.csv`). */
  readonly path: string;
  /** `samples` (wide and long layouts), `ramlog` (one per host) or `truth`. */
  readonly kind: 'samples' | 'ramlog' | 'truth';
  /** Data rows (the CSV header not counted). */
  readonly rows: number;
  /** The host of a RAM log file. */
  readonly hostId?: string;
  /** Samples behind a RAM log file: its SAMPLED_STATE rows. */
  readonly samples?: number;
}

/** A message that could not be decoded; the export skipped it. */
export interface MalformedMessage {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly reason: string;
}

/** What an export wrote; also written as `manifest.json` in the output directory. */
export interface ExportManifest {
  readonly experimentId: string;
  readonly layout: ResolvedExportOptions['layout'];
  readonly format: ResolvedExportOptions['format'];
  readonly files: readonly ExportedFile[];
  /** Samples of the experiment exported. */
  readonly samples: number;
  /** Hosts those samples came from. */
  readonly hosts: number;
  /** Truth windows (one per injection). */
  readonly truthWindows: number;
  /** The `metrics` map keys found, in column order (the wide layout's `metric_<key>` columns). */
  readonly metricKeys: readonly string[];
  /** Samples in FL_SAMPLES of other experiments or without an experiment label, skipped. */
  readonly skippedSamples: number;
  /** Messages of FL_SAMPLES and of the experiment's FL_TRUTH subjects that could not be decoded. */
  readonly malformedMessages: number;
  /** The first of them (at most 20), for a look. */
  readonly malformed: readonly MalformedMessage[];
  /** The FL_SAMPLES sequence range that holds the experiment's samples; null when it has none. */
  readonly sampleSeqRange: { readonly first: number; readonly last: number } | null;
}

const MAX_MALFORMED_LISTED = 20;

class MalformedLog {
  count = 0;
  readonly listed: MalformedMessage[] = [];

  add(stream: string, seq: number, subject: string, err: unknown): void {
    this.count++;
    if (this.listed.length < MAX_MALFORMED_LISTED) {
      this.listed.push({ stream, seq, subject, reason: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** What the scan pass learned about the experiment's samples. */
interface SampleScan {
  /** Samples per host, hosts sorted. */
  readonly hosts: ReadonlyMap<string, number>;
  readonly metricKeys: readonly string[];
  readonly samples: number;
  readonly skipped: number;
  readonly range: { first: number; last: number } | null;
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function readTruth(
  js: JetStreamClient,
  experimentId: string,
  endSeq: number,
  malformed: MalformedLog,
): Promise<TruthWindowSet> {
  const truth = new TruthWindowSet();
  if (endSeq === 0) return truth;
  const filterSubject = subjects.truthExperiment(experimentId);
  for await (const m of replayStream(js, StreamName.Truth, { filterSubject, endSeq })) {
    try {
      truth.add(decodeTruthWindow(m.data));
    } catch (err) {
      malformed.add(StreamName.Truth, m.seq, m.subject, err);
    }
  }
  return truth;
}

async function scanSamples(
  js: JetStreamClient,
  opts: ResolvedExportOptions,
  info: StreamInfo,
  malformed: MalformedLog,
): Promise<SampleScan> {
  const hosts = new Map<string, number>();
  const keys = new Set<string>();
  let samples = 0;
  let skipped = 0;
  let first = 0;
  let last = 0;
  let done = 0;
  let total = 0;
  if (info.state.messages > 0) {
    const replay = replayStream(js, StreamName.Samples, {
      endSeq: info.state.last_seq,
      onTotal: (n) => {
        total = n;
        opts.onProgress(0, n, 'scan');
      },
    });
    for await (const m of replay) {
      opts.onProgress(++done, total, 'scan');
      let batch: SampleBatch;
      try {
        batch = decodeSampleBatch(m.data);
      } catch (err) {
        malformed.add(StreamName.Samples, m.seq, m.subject, err);
        continue;
      }
      for (const s of batch.samples) {
        if (s.labels?.experimentId !== opts.experimentId) {
          skipped++;
          continue;
        }
        samples++;
        hosts.set(s.hostId, (hosts.get(s.hostId) ?? 0) + 1);
        for (const key of Object.keys(s.metrics)) keys.add(key);
        if (first === 0) first = m.seq;
        last = m.seq;
      }
    }
  }
  return {
    hosts: new Map([...hosts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    metricKeys: [...keys].sort(),
    samples,
    skipped,
    range: first === 0 ? null : { first, last },
  };
}

/** Writes `rows` in order; returns a promise only when a sink had to write out its buffer. */
function writeRows(sink: RowSink, rows: readonly Row[], from = 0): Promise<void> | undefined {
  for (let i = from; i < rows.length; i++) {
    const pending = sink.write(rows[i]!);
    if (pending !== undefined) return pending.then(() => writeRows(sink, rows, i + 1));
  }
  return undefined;
}

/** Turns the experiment's samples, in stream order, into the files of one layout. */
interface LayoutWriter {
  push(sample: Sample): Promise<void> | undefined;
  finish(): Promise<ExportedFile[]>;
}

class WideWriter implements LayoutWriter {
  private readonly metricIndex: ReadonlyMap<string, number>;

  constructor(
    private readonly sink: RowSink,
    private readonly file: string,
    metricKeys: readonly string[],
  ) {
    this.metricIndex = new Map(metricKeys.map((k, i) => [k, i]));
  }

  push(sample: Sample): Promise<void> | undefined {
    return this.sink.write(wideRow(sample, this.metricIndex));
  }

  async finish(): Promise<ExportedFile[]> {
    await this.sink.close();
    return [{ path: this.file, kind: 'samples', rows: this.sink.rows }];
  }
}

class LongWriter implements LayoutWriter {
  private readonly pairer = new LongRowPairer();

  constructor(
    private readonly sink: RowSink,
    private readonly file: string,
  ) {}

  push(sample: Sample): Promise<void> | undefined {
    return writeRows(this.sink, this.pairer.push(sample));
  }

  async finish(): Promise<ExportedFile[]> {
    for (const rows of this.pairer.finish()) await writeRows(this.sink, rows);
    await this.sink.close();
    return [{ path: this.file, kind: 'samples', rows: this.sink.rows }];
  }
}

interface HostLogFile {
  readonly log: RamlogHostLog;
  readonly sink: RowSink;
  readonly file: string;
}

class RamlogWriter implements LayoutWriter {
  constructor(private readonly logs: ReadonlyMap<string, HostLogFile>) {}

  push(sample: Sample): Promise<void> | undefined {
    const host = this.logs.get(sample.hostId);
    return host === undefined ? undefined : writeRows(host.sink, host.log.push(sample));
  }

  async finish(): Promise<ExportedFile[]> {
    const files: ExportedFile[] = [];
    for (const [hostId, { log, sink, file }] of this.logs) {
      await writeRows(sink, log.finish());
      await sink.close();
      files.push({ path: file, kind: 'ramlog', rows: sink.rows, hostId, samples: log.samples });
    }
    return files;
  }
}

/**
 * File names for hosts: characters other than letters, digits, `.`, `_` and `-` become `_`,
 * and names that would collide (also on case-insensitive file systems) get `-2`, `-3`, ….
 */
export function hostFileNames(hostIds: Iterable<string>): Map<string, string> {
  const used = new Set<string>();
  const out = new Map<string, string>();
  for (const host of hostIds) {
    let base = host.replace(/[^A-Za-z0-9._-]/g, '_');
    if (base.startsWith('.')) base = `_${base}`;
    let name = base;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}`;
    used.add(name.toLowerCase());
    out.set(host, name);
  }
  return out;
}

async function openLayout(
  opts: ResolvedExportOptions,
  scan: SampleScan,
  truth: TruthWindowSet,
  limits: RowSinkLimits,
): Promise<LayoutWriter> {
  const ext = opts.format;
  switch (opts.layout) {
    case 'wide': {
      const file = `samples.${ext}`;
      const sink = await openRowSink(
        opts.format,
        join(opts.outDir, file),
        wideColumns(scan.metricKeys),
        limits,
      );
      return new WideWriter(sink, file, scan.metricKeys);
    }
    case 'long': {
      const file = `measurements.${ext}`;
      return new LongWriter(
        await openRowSink(opts.format, join(opts.outDir, file), LONG_COLUMNS, limits),
        file,
      );
    }
    case 'ramlog': {
      await mkdirOrThrow(join(opts.outDir, 'ramlog'));
      const windows = truth.windows();
      const names = hostFileNames(scan.hosts.keys());
      const logs = new Map<string, HostLogFile>();
      for (const [host, name] of names) {
        const file = `ramlog/${name}.${ext}`;
        const sink = await openRowSink(opts.format, join(opts.outDir, file), RAMLOG_COLUMNS, limits);
        logs.set(host, { log: new RamlogHostLog(host, opts.experimentId, windows), sink, file });
      }
      return new RamlogWriter(logs);
    }
  }
}

async function mkdirOrThrow(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new ExportOutputError(dir, { cause: err });
  }
}

async function writeSamples(
  js: JetStreamClient,
  opts: ResolvedExportOptions,
  scan: SampleScan,
  layout: LayoutWriter,
): Promise<{ samples: number; hosts: number }> {
  const hosts = new Set<string>();
  let samples = 0;
  if (scan.range !== null) {
    let done = 0;
    let total = 0;
    const replay = replayStream(js, StreamName.Samples, {
      startSeq: scan.range.first,
      endSeq: scan.range.last,
      onTotal: (n) => {
        total = n;
        opts.onProgress(0, n, 'write');
      },
    });
    for await (const m of replay) {
      opts.onProgress(++done, total, 'write');
      let batch: SampleBatch;
      try {
        batch = decodeSampleBatch(m.data);
      } catch {
        continue; // counted by the scan
      }
      for (const s of batch.samples) {
        if (s.labels?.experimentId !== opts.experimentId) continue;
        samples++;
        hosts.add(s.hostId);
        const pending = layout.push(s);
        if (pending !== undefined) await pending;
      }
    }
  }
  return { samples, hosts: hosts.size };
}

async function writeTruth(
  opts: ResolvedExportOptions,
  truth: TruthWindowSet,
  limits: RowSinkLimits,
): Promise<ExportedFile> {
  const file = `truth.${opts.format}`;
  const sink = await openRowSink(opts.format, join(opts.outDir, file), TRUTH_COLUMNS, limits);
  await writeRows(sink, truth.windows().map(truthRow));
  await sink.close();
  return { path: file, kind: 'truth', rows: sink.rows };
}

/**
 * Exports one experiment: its samples in the chosen layout and format, `truth.<format>` (one
 * row per truth window), and `manifest.json`, into `outDir`. Samples of other experiments,
 * unlabelled samples and malformed messages are skipped; malformed ones are counted in the
 * manifest. Throws {@link UnknownExperimentError} when no sample and no truth window carries
 * the experiment id (before any file is written), {@link ExportSourceError} when NATS or a
 * stream cannot be read, {@link ExportOutputError} when a file cannot be written, and
 * {@link InvalidOptionsError} for bad options.
 *
 * @example
 * ```ts
 * const manifest = await exportExperiment({
 *   natsUrl: 'nats://127.0.0.1:14222',
 *   experimentId: 'exp-42',
 *   format: 'parquet',
 *   layout: 'wide',
 *   outDir: './exp-42',
 *   onProgress: (done, total, stage) => bar.update(done, { stage }),
 * });
 * console.log(manifest.files); // [{ path: 'samples.parquet', rows: 600, … }, { path: 'truth.parquet', … }]
 * ```
 */
export async function exportExperiment(options: ExportOptions): Promise<ExportManifest> {
  const opts = resolveExportOptions(options);
  const { nc, owned } = await openNatsSource(opts.source, 'faultline-export', ExportSourceError);
  try {
    const samplesInfo = await readStreamInfo(nc, StreamName.Samples, ExportSourceError);
    const truthInfo = await readStreamInfo(nc, StreamName.Truth, ExportSourceError);
    const js = jetstream(nc);
    const malformed = new MalformedLog();
    let truth: TruthWindowSet;
    let scan: SampleScan;
    try {
      truth = await readTruth(js, opts.experimentId, truthInfo.state.last_seq, malformed);
      scan = await scanSamples(js, opts, samplesInfo, malformed);
    } catch (err) {
      throw new ExportSourceError(`cannot replay the streams on ${nc.getServer()}: ${describe(err)}`, {
        cause: err,
      });
    }
    if (scan.samples === 0 && truth.size === 0) throw new UnknownExperimentError(opts.experimentId);

    await mkdirOrThrow(opts.outDir);
    const limits: RowSinkLimits = {
      parquetRowGroupRows: opts.parquetRowGroupRows,
      budget: new WriteBudget(opts.maxBufferedBytes),
    };
    const layout = await openLayout(opts, scan, truth, limits);
    let written: { samples: number; hosts: number };
    try {
      written = await writeSamples(js, opts, scan, layout);
    } catch (err) {
      if (isDetectorError(err)) throw err;
      throw new ExportSourceError(
        `cannot replay ${StreamName.Samples} on ${nc.getServer()}: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
    const files = [...(await layout.finish()), await writeTruth(opts, truth, limits)];

    const manifest: ExportManifest = {
      experimentId: opts.experimentId,
      layout: opts.layout,
      format: opts.format,
      files,
      samples: written.samples,
      hosts: written.hosts,
      truthWindows: truth.size,
      metricKeys: scan.metricKeys,
      skippedSamples: scan.skipped,
      malformedMessages: malformed.count,
      malformed: malformed.listed,
      sampleSeqRange: scan.range,
    };
    const manifestPath = join(opts.outDir, MANIFEST_FILE);
    try {
      await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    } catch (err) {
      throw new ExportOutputError(manifestPath, { cause: err });
    }
    return manifest;
  } finally {
    if (owned) await nc.close().catch(() => undefined);
  }
}
