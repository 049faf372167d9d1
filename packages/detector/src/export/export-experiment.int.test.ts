import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  encodeSampleBatch,
  encodeTruthWindow,
  ensureStreams,
  partitionOf,
  Sample,
  SampleBatch,
  sampleBatchMsgId,
  subjects,
  TruthWindow,
} from '@faultline/protocol';
import { startNats, tempDir, type NatsServer, type TempDir } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUnknownExperimentError } from '../errors.js';
import { exportExperiment, type ExportManifest } from './export-experiment.js';
import type { ExportLayout } from './export-options.js';
import type { ExportFormat } from './row-sinks.js';

const EXP = 'exp-1';
const HOSTS = ['host-0', 'host-1', 'host-2'];
const N = 200;
const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z
const SEC = 1_000_000_000n;
const MIB = 1024 * 1024;
// Fields per section, from proto/faultline/v1/sample.proto: HostMetrics has 34 numeric
// fields, ProcessTreeMetrics 13, CgroupMetrics 7 (plus its path).
const HOST_FIELDS = 34;
const PROCESS_FIELDS = 13;
const CGROUP_FIELDS = 7;
const ODD_PHASE = 'warm,up "1"\nstart';

/** Windows per host, in sample seq (1-based, end exclusive). */
const WINDOWS = [
  { suffix: 'a', type: 'ram_spike', from: 41, to: 61 },
  { suffix: 'b', type: 'sleep', from: 121, to: 151 },
];

const timeOf = (seq: number): bigint => T0 + BigInt(seq) * SEC;
const injectionOf = (seq: number): { id: string; type: string } | undefined => {
  const w = WINDOWS.find((x) => seq >= x.from && seq < x.to);
  return w && { id: `${EXP}-${w.suffix}`, type: w.type };
};
const injectionId = (host: string, suffix: string): string => `${EXP}-${suffix}-${host}`;
const memoryUsed = (h: number, seq: number): number => 2e9 + h * 1e8 + seq * 1000;
const rss = (h: number, seq: number): number => (100 + h + (injectionOf(seq) ? 400 : 0)) * MIB + seq;

function sample(h: number, seq: number): Sample {
  const host = HOSTS[h]!;
  const inj = injectionOf(seq);
  const state = inj ? `working_anomaly_${inj.type}` : seq % 10 < 5 ? 'working_normal' : 'idle';
  return Sample.fromPartial({
    hostId: host,
    seq: BigInt(seq),
    timeUnixNano: timeOf(seq),
    labels: {
      experimentId: EXP,
      phase: seq <= 10 ? ODD_PHASE : seq <= 100 ? 'baseline1' : 'memory_spike',
      state,
      injectionId: inj ? `${inj.id}-${host}` : '',
      anomalyType: inj?.type ?? '',
    },
    host: { memoryUsedBytes: memoryUsed(h, seq), cpuCount: 4, load1: seq / 100 },
    process: h === 2 ? undefined : { rssBytes: rss(h, seq), nthreads: 3 },
    cgroup: h === 0 ? { path: '/kubepods/pod-a', memoryCurrentBytes: 5e8 } : undefined,
    metrics: h === 1 ? { power_watts: 100 + seq, temperature_celsius: 40 } : {},
  });
}

const measurementsPerSample = (h: number): number =>
  HOST_FIELDS + (h === 2 ? 0 : PROCESS_FIELDS) + (h === 0 ? CGROUP_FIELDS : 0) + (h === 1 ? 2 : 0);

function truth(h: number, w: (typeof WINDOWS)[number], ended: boolean): TruthWindow {
  const host = HOSTS[h]!;
  return TruthWindow.fromPartial({
    injectionId: injectionId(host, w.suffix),
    experimentId: EXP,
    agentId: host,
    hostId: host,
    anomalyType: w.type,
    phase: 'memory_spike',
    requestedStartUnixNano: timeOf(w.from),
    requestedEndUnixNano: timeOf(w.to),
    actualStartUnixNano: timeOf(w.from),
    actualEndUnixNano: ended ? timeOf(w.to) : 0n,
    requested:
      w.type === 'ram_spike'
        ? { kind: { $case: 'matmul', value: { sizes: [600, 700], matrices: 4, dots: 5 } } }
        : { kind: { $case: 'stall', value: { extraMs: 2000 } } },
    achieved: { peakRssDeltaBytes: 400 * MIB, holdMs: 20_000 },
    reachedTarget: ended,
  });
}

let batchSeq = 0;
async function publishBatch(js: JetStreamClient, agent: string, samples: Sample[]): Promise<void> {
  const partition = partitionOf(agent);
  const batch = SampleBatch.fromPartial({ agentId: agent, seq: BigInt(++batchSeq), partition, samples });
  await js.publish(subjects.samples(partition, agent), encodeSampleBatch(batch), {
    msgID: sampleBatchMsgId(agent, batchSeq),
  });
}

/** The synthetic experiment: 3 hosts × 200 samples, 2 windows each, plus noise. */
async function publishExperiment(js: JetStreamClient): Promise<void> {
  // Other experiment and unlabelled samples first, so the experiment's range starts later.
  const other = Array.from({ length: 50 }, (_, i) =>
    Sample.fromPartial({
      hostId: 'other-host',
      seq: BigInt(i + 1),
      timeUnixNano: timeOf(i + 1),
      labels: { experimentId: 'exp-other', state: 'idle' },
      host: { memoryUsedBytes: 1 },
    }),
  );
  await publishBatch(js, 'other-host', other.slice(0, 40));
  await js.publish('fl.samples.0.broken', new Uint8Array([0xff, 0xff, 0xff, 0x01]));
  for (let from = 1; from <= N; from += 10) {
    for (let h = 0; h < HOSTS.length; h++) {
      const samples = Array.from({ length: 10 }, (_, i) => sample(h, from + i));
      if (h === 0 && from === 101) {
        // A batch mixing experiments: only the labelled ones belong to the export.
        samples.push(...other.slice(40));
        samples.push(
          ...Array.from({ length: 20 }, (_, i) =>
            Sample.fromPartial({
              hostId: 'host-0',
              seq: BigInt(1000 + i),
              timeUnixNano: timeOf(1000 + i),
              host: { memoryUsedBytes: 1 },
            }),
          ),
        );
      }
      await publishBatch(js, HOSTS[h]!, samples);
    }
  }
  for (let h = 0; h < HOSTS.length; h++) {
    for (const w of WINDOWS) {
      const subject = subjects.truth(EXP, HOSTS[h]!);
      await js.publish(subject, encodeTruthWindow(truth(h, w, false)));
      await js.publish(subject, encodeTruthWindow(truth(h, w, true)));
    }
  }
  // A late duplicate of a start report must not reopen the window.
  await js.publish(subjects.truth(EXP, 'host-0'), encodeTruthWindow(truth(0, WINDOWS[0]!, false)));
  await js.publish(subjects.truth(EXP, 'agent-bad'), new Uint8Array([0x0a, 0xff]));
  await js.publish(subjects.truth('exp-other', 'other-host'), encodeTruthWindow(truth(0, WINDOWS[1]!, true)));
}

/** A strict RFC 4180 reader: CRLF after every record, quoted fields with doubled quotes. */
function parseCsv(text: string): string[][] {
  const field = /"((?:[^"]|"")*)"|([^",\r\n]*)/y;
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    field.lastIndex = i;
    const m = field.exec(text)!;
    record.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
    i = field.lastIndex;
    if (text[i] === ',') {
      i++;
    } else if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
    } else {
      throw new Error(`expected a comma or CRLF at ${i}, got ${JSON.stringify(text.slice(i, i + 10))}`);
    }
  }
  if (record.length > 0) throw new Error('last record has no CRLF');
  return records;
}

type Rec = Record<string, unknown>;

/** Reads a CSV (own reader) or JSONL file into records keyed by column. */
function readRecords(path: string, format: 'csv' | 'jsonl'): Rec[] {
  const text = readFileSync(path, 'utf8');
  if (format === 'jsonl')
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Rec);
  const [header, ...rows] = parseCsv(text);
  expect(rows.filter((r) => r.length !== header!.length)).toEqual([]);
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]])));
}

const bool = (v: unknown): boolean => v === true || v === 'true';
const num = (v: unknown): number => Number(v);
const empty = (v: unknown): boolean => v === null || v === '' || v === undefined;

async function duckCount(db: DuckDBConnection, sql: string): Promise<number> {
  const r = await db.runAndReadAll(sql);
  return Number(r.getRows()[0]![0]);
}

function reader(path: string, format: ExportFormat): string {
  return format === 'parquet' ? `read_parquet('${path}')` : `read_csv('${path}', header = true)`;
}

describe('exportExperiment', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let out: TempDir;
  let duck: DuckDBConnection;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc), { storage: 'memory' });
    await publishExperiment(jetstream(nc));
    out = tempDir('faultline-export-');
    duck = await (await DuckDBInstance.create(':memory:')).connect();
  });

  afterAll(async () => {
    duck?.closeSync();
    await nc?.close();
    await out?.[Symbol.asyncDispose]();
    await nats?.dispose();
  });

  async function run(
    layout: ExportLayout,
    format: ExportFormat,
  ): Promise<{ dir: string; m: ExportManifest }> {
    const dir = join(out.path, `${layout}-${format}`);
    const progress = new Map<string, [number, number]>();
    const m = await exportExperiment({
      connection: nc,
      experimentId: EXP,
      layout,
      format,
      outDir: dir,
      parquetRowGroupRows: 128, // several row groups per file
      onProgress: (done, total, stage) => progress.set(stage, [done, total]),
    });
    // Progress ends at its total in both passes.
    expect(progress.get('scan')?.[0]).toBe(progress.get('scan')?.[1]);
    expect(progress.get('write')?.[0]).toBe(progress.get('write')?.[1]);
    expect(progress.get('write')![1]).toBeLessThan(progress.get('scan')![1]);
    expect(m.samples).toBe(HOSTS.length * N);
    expect(m.hosts).toBe(HOSTS.length);
    expect(m.skippedSamples).toBe(50 + 20);
    expect(m.malformedMessages).toBe(2);
    expect(m.malformed.map((x) => x.stream).sort()).toEqual(['FL_SAMPLES', 'FL_TRUTH']);
    expect(m.truthWindows).toBe(HOSTS.length * WINDOWS.length);
    expect(m.metricKeys).toEqual(['power_watts', 'temperature_celsius']);
    const onDisk = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
    expect(onDisk).toEqual(m);
    await checkTruth(dir, format, m);
    return { dir, m };
  }

  async function checkTruth(dir: string, format: ExportFormat, m: ExportManifest): Promise<void> {
    const file = m.files.find((f) => f.kind === 'truth')!;
    expect(file).toMatchObject({ path: `truth.${format}`, rows: 6 });
    const path = join(dir, file.path);
    if (format === 'parquet') {
      expect(await duckCount(duck, `select count(*) from read_parquet('${path}')`)).toBe(6);
      // The late start report did not reopen host-0's first window.
      expect(
        await duckCount(
          duck,
          `select actual_end_unix_nano - actual_start_unix_nano from read_parquet('${path}') where injection_id = '${injectionId('host-0', 'a')}'`,
        ),
      ).toBe(20e9);
      expect(
        await duckCount(
          duck,
          `select count(*) from read_parquet('${path}') where requested_matmul_matrices = 4`,
        ),
      ).toBe(3);
      return;
    }
    const rows = readRecords(path, format);
    expect(rows).toHaveLength(6);
    const a0 = rows.find((r) => r.injection_id === injectionId('host-0', 'a'))!;
    expect(num(a0.duration_seconds)).toBe(20);
    expect(bool(a0.reached_target)).toBe(true);
    expect(a0.requested_kind).toBe('matmul');
    expect(a0.requested_matmul_sizes).toBe('[600,700]');
    expect(num(a0.achieved_peak_rss_delta_bytes)).toBe(400 * MIB);
    expect(empty(a0.requested_stall_extra_ms)).toBe(true);
    expect(a0.actual_start).toBe('2026-01-01T00:00:41.000Z');
  }

  for (const format of ['csv', 'jsonl', 'parquet'] as const) {
    it(`writes the wide layout as ${format}: a row per sample, labels during and outside injections`, async () => {
      const { dir, m } = await run('wide', format);
      const file = m.files.find((f) => f.kind === 'samples')!;
      expect(file).toEqual({ path: `samples.${format}`, kind: 'samples', rows: 600 });
      const path = join(dir, file.path);
      const inWindows = WINDOWS.reduce((n, w) => n + (w.to - w.from), 0) * HOSTS.length;
      if (format === 'parquet') {
        expect(await duckCount(duck, `select count(*) from read_parquet('${path}')`)).toBe(600);
        expect(await duckCount(duck, `select count(*) from read_parquet('${path}') where is_anomaly`)).toBe(
          inWindows,
        );
        expect(
          await duckCount(
            duck,
            `select process_rss_bytes from read_parquet('${path}') where host_id = 'host-1' and seq = 50`,
          ),
        ).toBe(rss(1, 50));
        expect(
          await duckCount(
            duck,
            `select epoch_ms("time") from read_parquet('${path}') where host_id = 'host-2' and seq = 7`,
          ),
        ).toBe(Number(timeOf(7) / 1_000_000n));
        expect(
          await duckCount(
            duck,
            `select count(*) from read_parquet('${path}') where process_rss_bytes is null and host_id = 'host-2'`,
          ),
        ).toBe(N);
        expect(
          await duckCount(
            duck,
            `select count(*) from read_parquet('${path}') where phase = '${ODD_PHASE.replace(/'/g, "''")}'`,
          ),
        ).toBe(30);
        return;
      }
      const rows = readRecords(path, format);
      expect(rows).toHaveLength(600);
      if (format === 'csv') {
        // An independent reader agrees.
        expect(await duckCount(duck, `select count(*) from ${reader(path, format)}`)).toBe(600);
      }
      const at = (host: string, seq: number): Rec =>
        rows.find((r) => r.host_id === host && num(r.seq) === seq)!;
      const during = at('host-1', 50);
      expect(bool(during.is_anomaly)).toBe(true);
      expect(during.injection_id).toBe(injectionId('host-1', 'a'));
      expect(during.anomaly_type).toBe('ram_spike');
      expect(during.state).toBe('working_anomaly_ram_spike');
      expect(num(during.process_rss_bytes)).toBe(rss(1, 50));
      expect(num(during.metric_power_watts)).toBe(150);
      expect(during.time).toBe('2026-01-01T00:00:50.000Z');
      const outside = at('host-2', 7);
      expect(bool(outside.is_anomaly)).toBe(false);
      expect(empty(outside.injection_id)).toBe(true);
      expect(empty(outside.anomaly_type)).toBe(true);
      expect(outside.phase).toBe(ODD_PHASE);
      expect(num(outside.host_memory_used_bytes)).toBe(memoryUsed(2, 7));
      expect(empty(outside.process_rss_bytes)).toBe(true);
      expect(empty(outside.metric_power_watts)).toBe(true);
      expect(at('host-0', 1).cgroup_path).toBe('/kubepods/pod-a');
      expect(rows.filter((r) => bool(r.is_anomaly))).toHaveLength(inWindows);
      if (format === 'jsonl') expect(at('host-0', 3).time_unix_nano).toBe(Number(timeOf(3)));
    });

    it(`writes the long layout as ${format}: a row per measurement with its interval`, async () => {
      const { dir, m } = await run('long', format);
      const expected = N * HOSTS.reduce((n, _, h) => n + measurementsPerSample(h), 0);
      const file = m.files.find((f) => f.kind === 'samples')!;
      expect(file).toEqual({ path: `measurements.${format}`, kind: 'samples', rows: expected });
      const path = join(dir, file.path);
      if (format === 'parquet') {
        expect(await duckCount(duck, `select count(*) from read_parquet('${path}')`)).toBe(expected);
        expect(
          await duckCount(
            duck,
            `select epoch_ms(interval_end) - epoch_ms(interval_start) from read_parquet('${path}') where host_id = 'host-1' and measurement = 'metric_power_watts' and value = 150`,
          ),
        ).toBe(1000);
        expect(
          await duckCount(duck, `select count(*) from read_parquet('${path}') where interval_end is null`),
        ).toBe(HOSTS.reduce((n, _, h) => n + measurementsPerSample(h), 0));
        expect(
          await duckCount(
            duck,
            `select count(*) from read_parquet('${path}') where is_anomaly and measurement = 'host_memory_used_bytes'`,
          ),
        ).toBe(WINDOWS.reduce((n, w) => n + (w.to - w.from), 0) * HOSTS.length);
        return;
      }
      const rows = readRecords(path, format);
      expect(rows).toHaveLength(expected);
      const power = rows.filter((r) => r.host_id === 'host-1' && r.measurement === 'metric_power_watts');
      expect(power).toHaveLength(N);
      const p50 = power.find((r) => num(r.value) === 150)!;
      expect(p50).toMatchObject({
        time: '2026-01-01T00:00:50.000Z',
        interval_start: '2026-01-01T00:00:50.000Z',
        interval_end: '2026-01-01T00:00:51.000Z',
        injection_id: injectionId('host-1', 'a'),
      });
      expect(bool(p50.is_anomaly)).toBe(true);
      const last = power.find((r) => num(r.value) === 100 + N)!;
      expect(empty(last.interval_end)).toBe(true);
      const mem = rows.find(
        (r) =>
          r.host_id === 'host-2' &&
          r.measurement === 'host_memory_used_bytes' &&
          r.time === '2026-01-01T00:02:00.000Z',
      )!;
      expect(num(mem.value)).toBe(memoryUsed(2, 120));
      expect(bool(mem.is_anomaly)).toBe(false);
      if (format === 'csv') {
        expect(await duckCount(duck, `select count(*) from ${reader(path, format)}`)).toBe(expected);
      }
    });

    it(`writes the ramlog layout as ${format}: a log per host with its events in order`, async () => {
      const { dir, m } = await run('ramlog', format);
      const logs = m.files.filter((f) => f.kind === 'ramlog');
      expect(logs.map((f) => f.hostId)).toEqual(HOSTS);
      for (const [h, host] of HOSTS.entries()) {
        const file = logs[h]!;
        expect(file.path).toBe(`ramlog/${host}.${format}`);
        expect(file.samples).toBe(N);
        const path = join(dir, file.path);
        let rows: Rec[];
        if (format === 'parquet') {
          const r = await duck.runAndReadAll(
            `select strftime(timezone('UTC', "timestamp"), '%Y-%m-%d %H:%M:%S.%g') as timestamp, state, event_type, event_details, ram_usage_mb from read_parquet('${path}')`,
          );
          rows = r.getRowObjects() as Rec[];
        } else {
          rows = readRecords(path, format);
        }
        expect(rows).toHaveLength(file.rows);
        expect(rows.filter((r) => r.event_type === 'SAMPLED_STATE')).toHaveLength(N);
        const times = rows.map((r) => String(r.timestamp));
        expect([...times].sort()).toEqual(times);
        expect(rows[0]).toMatchObject({ timestamp: '2026-01-01 00:00:01.000', event_type: 'SCRIPT_START' });
        expect(rows[0]!.event_details).toBe(`experiment:${EXP},host:${host}`);
        expect(rows.at(-1)).toMatchObject({
          timestamp: '2026-01-01 00:03:20.000',
          event_type: 'SCRIPT_END',
          state: 'ending_script',
        });
        const anomalies = rows
          .filter((r) => String(r.event_type).startsWith('WORKLOAD_') && String(r.state).includes('anomaly'))
          .map((r) => [r.timestamp, r.event_type, r.event_details]);
        expect(anomalies).toEqual([
          ['2026-01-01 00:00:41.000', 'WORKLOAD_START', `type:ram_spike,injection:${injectionId(host, 'a')}`],
          [
            '2026-01-01 00:01:01.000',
            'WORKLOAD_END',
            `type:ram_spike,injection:${injectionId(host, 'a')},duration:20.000s`,
          ],
          ['2026-01-01 00:02:01.000', 'WORKLOAD_START', `type:sleep,injection:${injectionId(host, 'b')}`],
          [
            '2026-01-01 00:02:31.000',
            'WORKLOAD_END',
            `type:sleep,injection:${injectionId(host, 'b')},duration:30.000s`,
          ],
        ]);
        // Normal workloads come from state changes: working_normal for seq % 10 in 0..4.
        const normal = rows.filter((r) => r.event_details === 'type:normal');
        expect(normal[0]).toMatchObject({
          timestamp: '2026-01-01 00:00:01.000',
          event_type: 'WORKLOAD_START',
        });
        const sampled = rows.find(
          (r) => r.event_type === 'SAMPLED_STATE' && r.timestamp === '2026-01-01 00:00:45.000',
        )!;
        expect(sampled.state).toBe('working_anomaly_ram_spike');
        const expectedMb = h === 2 ? memoryUsed(h, 45) / MIB : rss(h, 45) / MIB;
        expect(num(sampled.ram_usage_mb)).toBeCloseTo(expectedMb, 9);
        expect(empty(rows[0]!.ram_usage_mb)).toBe(true);
      }
    });
  }

  it('names an unknown experiment and writes nothing', async () => {
    const dir = join(out.path, 'unknown');
    const err = await exportExperiment({ connection: nc, experimentId: 'exp-nope', outDir: dir }).catch(
      (e: unknown) => e,
    );
    expect(isUnknownExperimentError(err)).toBe(true);
    expect((err as Error).message).toContain('"exp-nope"');
    expect(existsSync(dir)).toBe(false);
  });

  it('exports an experiment that has truth windows but no samples', async () => {
    const dir = join(out.path, 'truth-only');
    const nc2 = await connect({ servers: nats.url });
    try {
      await jetstream(nc2).publish(
        subjects.truth('exp-quiet', 'a1'),
        encodeTruthWindow(truth(0, WINDOWS[0]!, true)),
      );
    } finally {
      await nc2.close();
    }
    const m = await exportExperiment({
      natsUrl: nats.url,
      experimentId: 'exp-quiet',
      outDir: dir,
      format: 'parquet',
    });
    expect(m.samples).toBe(0);
    expect(m.files).toEqual([
      { path: 'samples.parquet', kind: 'samples', rows: 0 },
      { path: 'truth.parquet', kind: 'truth', rows: 1 },
    ]);
    expect(
      await duckCount(duck, `select count(*) from read_parquet('${join(dir, 'samples.parquet')}')`),
    ).toBe(0);
  });
});
