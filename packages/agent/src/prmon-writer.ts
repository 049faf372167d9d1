import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostMetrics, ProcessTreeMetrics } from '@faultline/protocol';

/**
 * prmon's time-series columns, in prmon's order and units: memory in kB, I/O and network in
 * bytes (since the start), CPU times in seconds, `Time` in Unix seconds, `wtime` seconds
 * since the start. The GPU columns are written as 0 (no GPU is monitored).
 */
export const PRMON_COLUMNS = [
  'Time',
  'gpufbmem',
  'gpumempct',
  'gpusmpct',
  'ngpus',
  'pss',
  'rss',
  'swap',
  'vmem',
  'rchar',
  'read_bytes',
  'wchar',
  'write_bytes',
  'rx_bytes',
  'rx_packets',
  'tx_bytes',
  'tx_packets',
  'stime',
  'utime',
  'wtime',
  'nprocs',
  'nthreads',
] as const;
export type PrmonColumn = (typeof PRMON_COLUMNS)[number];

/** One prmon row from a sample: the tree's metrics and the host's network counters since `net0`. */
export function prmonRow(
  timeMs: number,
  startMs: number,
  p: ProcessTreeMetrics,
  host: HostMetrics,
  net0: HostMetrics,
): Record<PrmonColumn, number> {
  const kb = (b: number): number => Math.round(b / 1024);
  return {
    Time: Math.floor(timeMs / 1000),
    gpufbmem: 0,
    gpumempct: 0,
    gpusmpct: 0,
    ngpus: 0,
    pss: kb(p.pssBytes),
    rss: kb(p.rssBytes),
    swap: kb(p.swapBytes),
    vmem: kb(p.vmemBytes),
    rchar: p.rcharBytesTotal,
    read_bytes: p.readBytesTotal,
    wchar: p.wcharBytesTotal,
    write_bytes: p.writeBytesTotal,
    rx_bytes: host.netRxBytesTotal - net0.netRxBytesTotal,
    rx_packets: host.netRxPacketsTotal - net0.netRxPacketsTotal,
    tx_bytes: host.netTxBytesTotal - net0.netTxBytesTotal,
    tx_packets: host.netTxPacketsTotal - net0.netTxPacketsTotal,
    stime: Number(p.stimeSecondsTotal.toFixed(2)),
    utime: Number(p.utimeSecondsTotal.toFixed(2)),
    wtime: Math.round((timeMs - startMs) / 1000),
    nprocs: p.nprocs,
    nthreads: p.nthreads,
  };
}

class SeriesFile {
  private readonly max = {} as Record<PrmonColumn, number>;
  private readonly sum = {} as Record<PrmonColumn, number>;
  private n = 0;

  constructor(
    readonly txt: string,
    readonly json: string,
  ) {
    writeFileSync(txt, PRMON_COLUMNS.join('\t') + '\n');
  }

  add(row: Record<PrmonColumn, number>): void {
    appendFileSync(this.txt, PRMON_COLUMNS.map((c) => String(row[c])).join('\t') + '\n');
    this.n++;
    for (const c of PRMON_COLUMNS) {
      this.max[c] = Math.max(this.max[c] ?? -Infinity, row[c]);
      this.sum[c] = (this.sum[c] ?? 0) + row[c];
    }
  }

  /** prmon's JSON summary: Max and Avg of every column (Time excluded). */
  writeSummary(): void {
    const cols = PRMON_COLUMNS.filter((c) => c !== 'Time');
    const max = Object.fromEntries(cols.map((c) => [c, this.n ? this.max[c] : 0]));
    const avg = Object.fromEntries(
      cols.map((c) => [c, this.n ? Number((this.sum[c] / this.n).toFixed(2)) : 0]),
    );
    writeFileSync(this.json, JSON.stringify({ Max: max, Avg: avg, samples: this.n }, null, 2) + '\n');
  }
}

/**
 * Writes prmon-style output into a directory: `prmon.txt` (tab-separated time series) and
 * `prmon.json` (Max and Avg) for the whole run, and `prmon_<phase>.txt|json` per phase, as
 * the seed's six-phase dataset was made.
 */
export class PrmonWriter {
  private readonly all: SeriesFile;
  private readonly phases = new Map<string, SeriesFile>();
  private net0: HostMetrics | undefined;
  private startMs: number | undefined;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.all = new SeriesFile(join(dir, 'prmon.txt'), join(dir, 'prmon.json'));
  }

  sample(timeMs: number, phase: string, p: ProcessTreeMetrics, host: HostMetrics): void {
    this.net0 ??= host;
    this.startMs ??= timeMs;
    const row = prmonRow(timeMs, this.startMs, p, host, this.net0);
    this.all.add(row);
    if (phase !== '') {
      const safe = phase.replace(/[^A-Za-z0-9_.-]/g, '_');
      let f = this.phases.get(safe);
      if (!f) {
        f = new SeriesFile(join(this.dir, `prmon_${safe}.txt`), join(this.dir, `prmon_${safe}.json`));
        this.phases.set(safe, f);
      }
      f.add(row);
    }
  }

  /** Writes the JSON summaries. */
  close(): void {
    this.all.writeSummary();
    for (const f of this.phases.values()) f.writeSummary();
  }
}
