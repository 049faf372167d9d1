import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msToUnixNano, type Plan } from '@faultline/protocol';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from '../errors.js';
import { backfill, backfillSlots } from './backfill.js';
import { HOST_COLUMNS, SAMPLE_COLUMNS } from './dataset-rows.js';
import { SIMULATED_METRICS } from './host-metrics-model.js';
import { Simulator } from './simulator.js';

const FROM = Date.parse('2026-11-01T00:00:00Z');
const MINUTE = 60_000;

function csvRows(path: string): string[][] {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\r\n')).toBe(true);
  // No field of these files needs quoting.
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((line) => line.split(','));
}

describe('backfill', () => {
  it('writes one wide row per host and slot of the range, with the inventory and a manifest', async () => {
    await using dir = tempDir('sim-backfill-');
    const manifest = await backfill({
      seed: 7,
      hosts: 5,
      fromMs: FROM,
      toMs: FROM + 10 * MINUTE + 1,
      intervalMs: MINUTE,
      outDir: dir.path,
    });
    // [00:00, 00:10:00.001) holds 11 slots.
    expect(backfillSlots(FROM, FROM + 10 * MINUTE + 1, MINUTE)).toBe(11);
    expect(manifest).toMatchObject({
      hosts: 5,
      slots: 11,
      samples: 55,
      truthWindows: 0,
      format: 'csv',
      fuzzMs: 0,
    });
    const [header, ...rows] = csvRows(join(dir.path, 'samples.csv'));
    expect(header).toEqual(SAMPLE_COLUMNS);
    expect(header!.slice(0, 10)).toEqual([
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
    ]);
    expect(header).toContain('host_memory_used_bytes');
    expect(header).toContain('process_rss_bytes');
    expect(header).toContain('metric_cpu_user_percent');
    expect(rows).toHaveLength(55);
    const col = (name: string): number => header!.indexOf(name);
    expect(rows[0]![col('time')]).toBe('2026-11-01T00:00:00.000Z');
    expect(rows[54]![col('time')]).toBe('2026-11-01T00:10:00.000Z');
    expect(rows[54]![col('seq')]).toBe('11');
    expect(rows[0]![col('state')]).toBe('idle');
    expect(rows[0]![col('is_anomaly')]).toBe('false');
    expect(rows[0]![col('process_rss_bytes')]).toBe('');
    const first = new Simulator({ seed: 7, hosts: 5, intervalMs: MINUTE }).sampleHost(0, FROM);
    expect(rows[0]![col('host_cpu_user_seconds_total')]).toBe(String(first.host!.cpuUserSecondsTotal));
    expect(rows[0]![col('host_forks_total')]).toBe(String(first.host!.forksTotal));
    for (const m of SIMULATED_METRICS) expect(rows[0]![col(`metric_${m}`)], m).toBe(String(first.metrics[m]));
    const cpu = Number(rows[3]![col('metric_cpu_user_percent')]);
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThanOrEqual(100);

    const [hostHeader, ...hosts] = csvRows(join(dir.path, 'hosts.csv'));
    expect(hostHeader).toEqual(HOST_COLUMNS);
    expect(hosts.map((h) => h[0])).toEqual(new Simulator({ seed: 7, hosts: 5 }).hosts.map((h) => h.hostId));
    const written = JSON.parse(readFileSync(join(dir.path, 'manifest.json'), 'utf8')) as {
      metrics: string[];
    };
    expect(written.metrics).toEqual([...SIMULATED_METRICS]);
  });

  it('delays each sample after its slot by at most the fuzz, keeping each host in order', async () => {
    await using dir = tempDir('sim-backfill-');
    await backfill({
      seed: 1,
      hosts: 4,
      fromMs: FROM,
      toMs: FROM + 30 * 5000,
      intervalMs: 5000,
      fuzzMs: 2000,
      outDir: dir.path,
    });
    const [header, ...rows] = csvRows(join(dir.path, 'samples.csv'));
    const t = header!.indexOf('time_unix_nano');
    const offsets = rows.map(
      (r, i) => Number(BigInt(r[t]!) / 1_000_000n) - (FROM + Math.floor(i / 4) * 5000),
    );
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(2000);
    expect(new Set(offsets).size).toBeGreaterThan(50);
    for (let h = 0; h < 4; h++) {
      const times = rows.filter((_, i) => i % 4 === h).map((r) => BigInt(r[t]!));
      for (let i = 1; i < times.length; i++) expect(times[i]! > times[i - 1]!).toBe(true);
    }
  });

  it('writes JSON Lines with every column and null for a missing value', async () => {
    await using dir = tempDir('sim-backfill-');
    await backfill({
      seed: 2,
      hosts: 3,
      fromMs: FROM,
      toMs: FROM + 200_000,
      intervalMs: 1000,
      missingPercent: 20,
      outDir: dir.path,
      format: 'jsonl',
    });
    const lines = readFileSync(join(dir.path, 'samples.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(600);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(records[0]!)).toEqual(SAMPLE_COLUMNS);
    // Each value sits in its column: the first row is the simulator's first sample.
    const first = new Simulator({ seed: 2, hosts: 3, missingPercent: 20 }).sampleHost(0, FROM);
    expect(records[0]).toMatchObject({
      host_id: first.hostId,
      seq: 1,
      time: '2026-11-01T00:00:00.000Z',
      state: 'idle',
      host_memory_used_bytes: first.host!.memoryUsedBytes,
      host_cpu_count: first.host!.cpuCount,
      host_forks_total: first.host!.forksTotal,
      process_rss_bytes: null,
      cgroup_path: null,
    });
    for (const m of SIMULATED_METRICS) expect(records[0]![`metric_${m}`], m).toBe(first.metrics[m] ?? null);
    const cells = records.flatMap((r) => SIMULATED_METRICS.map((m) => r[`metric_${m}`]));
    const missing = cells.filter((v) => v === null).length / cells.length;
    expect(missing).toBeGreaterThan(0.17);
    expect(missing).toBeLessThan(0.23);
    expect(cells.every((v) => v === null || typeof v === 'number')).toBe(true);
  });

  it('puts the anomalies of a plan in the data and its window in the truth file', async () => {
    await using dir = tempDir('sim-backfill-');
    const host = new Simulator({ seed: 3, hosts: 4 }).hosts[2]!.hostId;
    const plan: Plan = {
      planId: `bf-${host}`,
      experimentId: 'bf',
      agentId: host,
      startUnixNano: msToUnixNano(FROM),
      endUnixNano: msToUnixNano(FROM + 60_000),
      samplingIntervalMs: 1000,
      baseline: undefined,
      phases: [],
      injections: [
        {
          injectionId: 'bf-1',
          anomalyType: 'ram_spike',
          startUnixNano: msToUnixNano(FROM + 20_000),
          endUnixNano: msToUnixNano(FROM + 30_000),
          workload: {
            kind: {
              $case: 'memory',
              value: { bytes: 1_000_000_000n, fractionOfRam: 0, rampMs: 0, holdMs: 0 },
            },
          },
          replacesBaseline: true,
          phase: '',
        },
      ],
      deadManTimeoutMs: 0,
    };
    const manifest = await backfill({
      seed: 3,
      hosts: 4,
      fromMs: FROM,
      toMs: FROM + 60_000,
      outDir: dir.path,
      plans: [plan],
    });
    expect(manifest.truthWindows).toBe(1);
    const [header, ...rows] = csvRows(join(dir.path, 'samples.csv'));
    const labelled = rows.filter((r) => r[header!.indexOf('is_anomaly')] === 'true');
    expect(labelled).toHaveLength(10);
    expect(new Set(labelled.map((r) => r[header!.indexOf('host_id')]))).toEqual(new Set([host]));
    expect(labelled[0]![header!.indexOf('state')]).toBe('working_anomaly_ram_spike');
    const [truthHeader, truth] = csvRows(join(dir.path, 'truth.csv'));
    const field = (name: string): string => truth![truthHeader!.indexOf(name)]!;
    expect(field('injection_id')).toBe('bf-1');
    expect(field('actual_start')).toBe('2026-11-01T00:00:20.000Z');
    expect(field('actual_end')).toBe('2026-11-01T00:00:30.000Z');
    expect(field('reached_target')).toBe('true');
    expect(Number(field('achieved_peak_rss_delta_bytes'))).toBe(1e9);
  });

  it('is deterministic: the same options write the same bytes', async () => {
    await using a = tempDir('sim-backfill-');
    await using b = tempDir('sim-backfill-');
    const options = {
      seed: 'same',
      hosts: 6,
      fromMs: FROM,
      toMs: FROM + 120_000,
      fuzzMs: 300,
      format: 'jsonl' as const,
    };
    await backfill({ ...options, outDir: a.path });
    await backfill({ ...options, outDir: b.path });
    const first = readFileSync(join(a.path, 'samples.jsonl'), 'utf8');
    expect(first.length).toBeGreaterThan(100_000);
    expect(readFileSync(join(b.path, 'samples.jsonl'), 'utf8') === first).toBe(true);
  });

  it('refuses a fuzz as long as the interval, and an empty range, before writing anything', async () => {
    const base = {
      fromMs: FROM,
      toMs: FROM + 60_000,
      intervalMs: 1000,
      outDir: '/nonexistent/never-created',
    };
    await expect(backfill({ ...base, fuzzMs: 1000 })).rejects.toThrow(
      'fuzzMs must be an integer in [0, intervalMs 1000), got 1000',
    );
    await expect(backfill({ ...base, toMs: FROM })).rejects.toSatisfy(isInvalidOptionsError);
  });
});
