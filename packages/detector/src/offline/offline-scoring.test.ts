import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRng } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from '../errors.js';
import { labelTruth, readLabelWindows } from './label-windows.js';
import { parseOfflineData } from './offline-formats.js';
import {
  buildOfflineFeatures,
  resolveOfflineScoreOptions,
  scoreDataset,
  type OfflineScoreResult,
} from './offline-scoring.js';

const fixture = (name: string): { file: string; text: string } => {
  const file = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  return { file, text: readFileSync(file, 'utf8') };
};

/** The seed's six phases, in order, with their length in records (1 s apart). */
const SYNTHETIC_PHASES: ReadonlyArray<readonly [string, number]> = [
  ['baseline1', 120],
  ['memory_spike', 30],
  ['recovery1', 120],
  ['cpu_surge', 30],
  ['recovery2', 120],
  ['io_burst', 30],
];

/**
 * A prmon time series of the six phases (comma-separated, with the `phase` column of the
 * seed's combined dataset): a quarter of a core and 500 MB of PSS at rest; the memory spike
 * adds 2.5 GB, the CPU surge runs 3.8 cores on 16 threads, the I/O burst writes 200 MB/s.
 */
function syntheticPrmon(seed: number): string {
  const rng = createRng(seed);
  const noise = (sd: number): number => rng.normal() * sd;
  const header =
    'Time,phase,pss,rss,swap,vmem,rchar,read_bytes,wchar,write_bytes,rx_bytes,rx_packets,tx_bytes,tx_packets,stime,utime,wtime,nprocs,nthreads';
  const lines = [header];
  const c = { rchar: 0, read: 0, wchar: 0, write: 0, rx: 0, rxp: 0, tx: 0, txp: 0, stime: 0, utime: 0 };
  let t = 1748736000;
  let wtime = 0;
  for (const [phase, length] of SYNTHETIC_PHASES) {
    for (let k = 0; k < length; k++) {
      const mem = phase === 'memory_spike' ? 3_000_000 : 500_000;
      const cpu = phase === 'cpu_surge' ? 3.8 : 0.25;
      const write = phase === 'io_burst' ? 200e6 : 100e3;
      c.rchar += Math.round(50e3 + noise(5e3));
      c.read += Math.round(4096 + noise(400));
      c.wchar += Math.round(write * (1 + noise(0.05)));
      c.write += Math.round(write * (1 + noise(0.05)));
      c.rx += Math.round(2000 + noise(200));
      c.rxp += 3;
      c.tx += Math.round(1000 + noise(100));
      c.txp += 2;
      c.stime += Math.max(0, 0.05 + noise(0.005));
      c.utime += Math.max(0, cpu + noise(cpu * 0.05));
      const pss = Math.round(mem + noise(mem * 0.01));
      lines.push(
        [
          t,
          phase,
          pss,
          pss + 6000,
          0,
          pss * 3,
          c.rchar,
          c.read,
          c.wchar,
          c.write,
          c.rx,
          c.rxp,
          c.tx,
          c.txp,
          c.stime.toFixed(2),
          c.utime.toFixed(2),
          ++wtime,
          1,
          phase === 'cpu_surge' ? 16 : 4,
        ].join(','),
      );
      t++;
    }
  }
  return lines.join('\n') + '\n';
}

const NOW = Date.UTC(2026, 10, 22);

function group(result: OfflineScoreResult, value: string): { share: number; meanScore: number } {
  const g = result.summary.groups.find((x) => x.value === value);
  if (g === undefined) throw new Error(`no group ${value}`);
  return g;
}

describe('scoreDataset', () => {
  const prmon = parseOfflineData(syntheticPrmon(42), { file: 'prmon_phases.csv' });

  it('turns prmon counters into per-second rates and spreads records that share a second', () => {
    const d = parseOfflineData(
      'Time\tpss\tutime\tnprocs\n100\t5\t0\t1\n101\t5\t2\t1\n101\t5\t3\t1\n102\t5\t3.5\t1\n103\t5\t1\t1\n',
      {
        file: 'p.txt',
        format: 'prmon',
      },
    );
    const f = buildOfflineFeatures(d.series[0]!);
    expect(f.names).toEqual(['pss', 'utime_per_second', 'nprocs']);
    expect(f.units).toEqual(['kB', 's/s', '']);
    // 100→101: 2 s over 1 s; the two records at 101 are 0.5 s apart; a decrease is a reset.
    expect(Array.from(f.columns[1]!)).toEqual([2, 2, 2, 1, 1]);
  });

  it('flags the memory spike and the CPU surge far above the baseline phases (iforest, 10% contamination)', () => {
    const r = scoreDataset(prmon, { model: 'iforest' }, { generatedAtMs: NOW });
    expect(r.summary.rows).toBe(450);
    // contamination 0.1: the fitted threshold leaves 10% of the records above it.
    expect(r.summary.anomalies).toBe(45);
    for (const anomalous of ['memory_spike', 'cpu_surge']) {
      for (const normal of ['baseline1', 'recovery1', 'recovery2']) {
        expect(group(r, anomalous).meanScore, `${anomalous} vs ${normal}`).toBeGreaterThan(
          group(r, normal).meanScore + 0.1,
        );
      }
    }
    const flaggedNormal = ['baseline1', 'recovery1', 'recovery2'].reduce((n, p) => n + group(r, p).share, 0);
    expect(flaggedNormal).toBeLessThan(0.1);
    expect(group(r, 'memory_spike').share + group(r, 'cpu_surge').share).toBeGreaterThan(0.6);
    // What stood out in a memory spike record is memory; in a CPU surge record, CPU.
    const spike = r.records.find((x) => x.isAnomaly && x.context['phase'] === 'memory_spike')!;
    expect(['pss', 'rss', 'vmem']).toContain(spike.standouts[0]!.feature);
    expect(spike.standouts[0]!.z).toBeGreaterThan(3);
    const surge = r.records.find((x) => x.isAnomaly && x.context['phase'] === 'cpu_surge')!;
    expect(['utime_per_second', 'nthreads']).toContain(surge.standouts[0]!.feature);
  });

  it('finds every anomalous phase as an event with the fused model, graded against the phase labels', () => {
    const r = scoreDataset(prmon, { model: 'fused' }, { generatedAtMs: NOW });
    expect(r.truth.source).toBe('phases');
    expect(r.truth.windows.map((w) => w.anomalyType)).toEqual(['memory_spike', 'cpu_surge', 'io_burst']);
    const e = r.evaluation!;
    expect(e.eventwise.recall).toBe(1);
    expect(e.rocAuc).toBeGreaterThan(0.9);
    expect(group(r, 'memory_spike').share).toBeGreaterThan(0.5);
    expect(group(r, 'cpu_surge').share).toBeGreaterThan(0.5);
    expect(group(r, 'baseline1').share).toBeLessThan(0.05);
    expect(r.report).toMatchObject({
      mode: 'offline',
      model: 'fused',
      threshold: 0.3,
      title: 'prmon_phases.csv',
    });
    expect(r.report.hosts[0]!.scores).toHaveLength(450);
    expect(Object.keys(r.report.hosts[0]!.metrics).length).toBeLessThanOrEqual(6);
  });

  it('finds the planted anomaly of a labelled series: event-wise recall 1', () => {
    const { file, text } = fixture('nab-series.csv');
    const labels = fixture('nab-labels.json');
    const d = parseOfflineData(text, { file });
    const windows = readLabelWindows(labels.file, labels.text, file);
    for (const model of ['fused', 'bands', 'iforest'] as const) {
      const r = scoreDataset(
        d,
        { model },
        {
          generatedAtMs: NOW,
          truth: { source: 'labels', windows: labelTruth(windows, [d.series[0]!.hostId]) },
        },
      );
      const e = r.evaluation!;
      expect(e.eventwise.recall, model).toBe(1);
      expect(e.injections[0]!.detected, model).toBe(true);
      // The planted records (250–254) are all flagged.
      const planted = r.records.slice(250, 255);
      expect(
        planted.every((x) => x.isAnomaly),
        model,
      ).toBe(true);
      expect(r.records).toHaveLength(400);
    }
  });

  it('grades a RAM log against its own states', () => {
    const { text } = fixture('ramlog-ram-spike.csv');
    const r = scoreDataset(
      parseOfflineData(text, { file: 'ram.csv' }),
      { model: 'iforest' },
      { generatedAtMs: NOW },
    );
    expect(r.truth.source).toBe('states');
    const spike = r.records.filter((x) => x.context['state'] === 'working_anomaly_ram_spike');
    expect(spike).toHaveLength(5);
    expect(spike.every((x) => x.isAnomaly)).toBe(true);
    expect(r.evaluation!.eventwise.recall).toBe(1);
    expect(r.summary.groupBy).toBe('state');
  });

  it('is deterministic for a seed', () => {
    const a = scoreDataset(prmon, { model: 'fused', seed: 7 }, { generatedAtMs: NOW });
    const b = scoreDataset(prmon, { model: 'fused', seed: 7 }, { generatedAtMs: NOW });
    expect(b.records.map((x) => x.score)).toEqual(a.records.map((x) => x.score));
  });

  it('validates its options with messages naming the field', () => {
    const bad = (o: object): string => {
      try {
        resolveOfflineScoreOptions(o);
      } catch (err) {
        expect(isInvalidOptionsError(err)).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected an InvalidOptionsError');
    };
    expect(bad({ contamination: 0.7 })).toBe(
      "contamination must be 'auto' or a fraction in (0, 0.5], got 0.7",
    );
    expect(bad({ model: 'prophet' })).toBe('model must be one of "iforest", "bands", "fused", got "prophet"');
    expect(bad({ intervalWidth: 1 })).toMatch(/^intervalWidth must be in \(0, 1\), got 1/);
    expect(bad({ seed: -1 })).toBe('seed must be an integer in [0, 4294967295] or a string, got -1');
    expect(resolveOfflineScoreOptions({})).toMatchObject({
      model: 'fused',
      contamination: 0.1,
      seed: 0,
      scaling: 'standard',
    });
  });
});
