import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AnomalyEvent,
  AnomalyEventState,
  encodeAnomalyEvent,
  encodeSampleBatch,
  encodeScoreBatch,
  encodeTruthWindow,
  ensureStreams,
  partitionOf,
  Sample,
  SampleBatch,
  sampleBatchMsgId,
  Score,
  Severity,
  subjects,
  TruthWindow,
} from '@faultline/protocol';
import { startNats, type NatsServer } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInvalidOptionsError, isUnknownExperimentError } from '../errors.js';
import type { MalformedMessage } from '../export/export-experiment.js';
import { collectLiveReportInput, type LiveReportStage } from './live-report-input.js';
import type { ReportInput } from './report-input.js';

const EXP = 'exp-live';
const N = 60;
const T0_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MiB = 1024 * 1024;
const ms = (seq: number): number => T0_MS + seq * 1000;
const ns = (seq: number): bigint => BigInt(ms(seq)) * 1_000_000n;

/** host-a: an injection over samples 20..29, detected from 22. host-b: one from 40, still running, detected from 42. */
const WINDOWS = { 'host-a': { from: 20, to: 29, lag: 2 }, 'host-b': { from: 40, to: Infinity, lag: 2 } };
type Host = keyof typeof WINDOWS;
const HOSTS = Object.keys(WINDOWS) as Host[];

const inWindow = (h: Host, seq: number): boolean => seq >= WINDOWS[h].from && seq <= WINDOWS[h].to;
const busyAt = (h: Host, seq: number): number => (inWindow(h, seq) ? 0.75 : 0.25);
const scoreAt = (h: Host, seq: number): number =>
  seq >= WINDOWS[h].from + WINDOWS[h].lag && inWindow(h, seq) ? 0.9 : 0.1;

function samplesOf(h: Host): Sample[] {
  let user = 100;
  let idle = 1000;
  const out: Sample[] = [];
  for (let seq = 1; seq <= N; seq++) {
    if (seq > 1) {
      user += 4 * busyAt(h, seq);
      idle += 4 * (1 - busyAt(h, seq));
    }
    out.push(
      Sample.fromPartial({
        hostId: h,
        seq: BigInt(seq),
        timeUnixNano: ns(seq),
        labels: {
          experimentId: EXP,
          state: inWindow(h, seq) ? 'working_anomaly_ram_spike' : 'working_normal',
        },
        host: {
          cpuUserSecondsTotal: user,
          cpuIdleSecondsTotal: idle,
          memoryUsedBytes: 2e9 + seq,
          cpuCount: 4,
        },
        // Only host-a tracks a workload process tree.
        process: h === 'host-a' ? { rssBytes: 100 * MiB, writeBytesTotal: seq * MiB } : undefined,
      }),
    );
  }
  return out;
}

function truthOf(h: Host, ended: boolean): TruthWindow {
  const w = WINDOWS[h];
  return TruthWindow.fromPartial({
    injectionId: `inj-${h}`,
    experimentId: EXP,
    agentId: h,
    hostId: h,
    anomalyType: h === 'host-a' ? 'ram_spike' : 'cpu_surge',
    requestedStartUnixNano: ns(w.from),
    requestedEndUnixNano: ns(w.from + 10),
    actualStartUnixNano: ns(w.from),
    actualEndUnixNano: ended ? ns(w.to) : 0n,
    requested:
      h === 'host-a'
        ? { kind: { $case: 'memory', value: { bytes: 512n * BigInt(MiB), rampMs: 1000 } } }
        : { kind: { $case: 'cpu', value: { cores: 2, loadPercent: 90 } } },
    achieved: ended ? { peakRssDeltaBytes: 500 * MiB, holdMs: 9000 } : undefined,
    reachedTarget: ended,
  });
}

function event(h: Host, state: AnomalyEventState, peak: number, experimentId = EXP): AnomalyEvent {
  const w = WINDOWS[h];
  return AnomalyEvent.fromPartial({
    eventId: `ev-${h}`,
    hostId: h,
    experimentId,
    state,
    startUnixNano: ns(w.from + w.lag),
    endUnixNano: state === AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED ? ns(w.to) : 0n,
    peakScore: peak,
    severity: Severity.SEVERITY_HIGH,
    topMetrics: [
      { metric: 'memory_used_bytes', contribution: 0.8 },
      { metric: 'cpu_busy_ratio', contribution: 0.2 },
    ],
    detectorId: 'det-0',
    openSampleSeq: BigInt(w.from + w.lag),
  });
}

let batchSeq = 0;
async function publishSamples(js: JetStreamClient, agent: string, samples: Sample[]): Promise<void> {
  const partition = partitionOf(agent);
  const batch = SampleBatch.fromPartial({ agentId: agent, seq: BigInt(++batchSeq), partition, samples });
  await js.publish(subjects.samples(partition, agent), encodeSampleBatch(batch), {
    msgID: sampleBatchMsgId(agent, batchSeq),
  });
}

async function publishScores(js: JetStreamClient, h: Host, scores: Score[]): Promise<void> {
  const partition = partitionOf(h);
  await js.publish(subjects.scores(partition), encodeScoreBatch({ detectorId: 'det-0', partition, scores }));
}

const score = (h: Host, seq: number, value: number, experimentId = EXP): Score =>
  Score.fromPartial({
    hostId: h,
    sampleSeq: BigInt(seq),
    timeUnixNano: ns(seq),
    score: value,
    threshold: 0.5,
    isAnomaly: value >= 0.5,
    labels: { experimentId },
  });

async function publishExperiment(js: JetStreamClient): Promise<void> {
  for (const h of HOSTS) {
    const all = samplesOf(h);
    for (let i = 0; i < N; i += 20) await publishSamples(js, h, all.slice(i, i + 20));
  }
  // Another experiment on the same host, and unlabelled samples: not part of the report.
  await publishSamples(js, 'host-a', [
    Sample.fromPartial({
      hostId: 'host-a',
      seq: 1000n,
      timeUnixNano: ns(1000),
      labels: { experimentId: 'other' },
      host: { memoryUsedBytes: 1 },
    }),
    Sample.fromPartial({ hostId: 'host-z', seq: 1n, timeUnixNano: ns(1), host: { memoryUsedBytes: 1 } }),
  ]);

  for (const h of HOSTS) {
    await js.publish(subjects.truth(EXP, h), encodeTruthWindow(truthOf(h, false)));
  }
  await js.publish(subjects.truth(EXP, 'host-a'), encodeTruthWindow(truthOf('host-a', true)));
  // A late duplicate of the start report must not reopen the window.
  await js.publish(subjects.truth(EXP, 'host-a'), encodeTruthWindow(truthOf('host-a', false)));

  for (const h of HOSTS) {
    // The first 5 samples are the detector's warm-up: no score.
    const scores = Array.from({ length: N - 5 }, (_, i) => score(h, i + 6, scoreAt(h, i + 6)));
    // A redelivered score of sample 10, published again later: the last one counts.
    scores[4] = score(h, 10, 0.3);
    await publishScores(js, h, scores.slice(0, 30));
    await publishScores(js, h, [
      ...scores.slice(30),
      score(h, 10, scoreAt(h, 10)),
      score(h, 11, 0.99, 'other'),
    ]);
  }
  await js.publish(subjects.scores(0), new Uint8Array([0xff, 0xff, 0xff])); // undecodable

  const anomalies = (h: Host): string => subjects.anomalies(partitionOf(h));
  await js.publish(
    anomalies('host-a'),
    encodeAnomalyEvent(event('host-a', AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0.7)),
  );
  await js.publish(
    anomalies('host-a'),
    encodeAnomalyEvent(event('host-a', AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0.85)),
  );
  await js.publish(
    anomalies('host-a'),
    encodeAnomalyEvent(event('host-a', AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED, 0.9)),
  );
  // A late update of the closed event must not reopen it.
  await js.publish(
    anomalies('host-a'),
    encodeAnomalyEvent(event('host-a', AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0.8)),
  );
  await js.publish(
    anomalies('host-b'),
    encodeAnomalyEvent(event('host-b', AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0.9)),
  );
  const foreign = {
    ...event('host-b', AnomalyEventState.ANOMALY_EVENT_STATE_OPEN, 0.9, 'other'),
    eventId: 'ev-other',
  };
  await js.publish(anomalies('host-b'), encodeAnomalyEvent(foreign));
}

let nats: NatsServer;
let nc: NatsConnection;
let input: ReportInput;
const stages: Array<[LiveReportStage, number, number]> = [];
const malformed: MalformedMessage[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  nc = await connect({ servers: nats.url });
  await ensureStreams(await jetstreamManager(nc), { storage: 'memory' });
  await publishExperiment(jetstream(nc));
  input = await collectLiveReportInput({
    connection: nc,
    experimentId: EXP,
    title: 'live test',
    generatedAtMs: T0_MS + 3_600_000,
    onProgress: (done, total, stage) => stages.push([stage, done, total]),
    onMalformed: (m) => malformed.push(m),
  });
});

afterAll(async () => {
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

describe('collectLiveReportInput', () => {
  it('replays the experiment’s samples per host, in seq order, with the plotted metrics as rates', () => {
    expect(input).toMatchObject({
      title: 'live test',
      source: EXP,
      mode: 'live',
      model: 'fused',
      threshold: 0.5,
    });
    expect(input.generatedAtMs).toBe(T0_MS + 3_600_000);
    expect(input.hosts.map((h) => h.hostId)).toEqual(['host-a', 'host-b']);
    for (const h of input.hosts) {
      expect(h.timesMs).toEqual(Array.from({ length: N }, (_, i) => ms(i + 1)));
      expect(Object.keys(h.metrics)).toEqual([
        'memory_used_bytes',
        'cpu_busy_ratio',
        'process_rss_bytes',
        'process_write_bytes_per_second',
      ]);
      expect(h.metrics.memory_used_bytes).toEqual(Array.from({ length: N }, (_, i) => 2e9 + i + 1));
      const busy = h.metrics.cpu_busy_ratio!;
      expect(busy[0]).toBeNaN();
      for (let seq = 2; seq <= N; seq++) expect(busy[seq - 1]).toBeCloseTo(busyAt(h.hostId as Host, seq), 12);
    }
    const a = input.hosts[0]!;
    expect(a.metrics.process_write_bytes_per_second!.slice(1)).toEqual(Array(N - 1).fill(MiB));
    expect(a.metrics.process_rss_bytes![0]).toBe(100 * MiB);
    // host-b tracks no process: no values, but the same keys.
    expect(input.hosts[1]!.metrics.process_rss_bytes!.every(Number.isNaN)).toBe(true);
  });

  it('joins the experiment’s scores to the samples, the last delivery of a score winning', () => {
    for (const h of input.hosts) {
      expect(h.scores.slice(0, 5).every(Number.isNaN)).toBe(true);
      for (let seq = 6; seq <= N; seq++) {
        expect(h.scores[seq - 1]).toBe(scoreAt(h.hostId as Host, seq));
        expect(h.isAnomaly[seq - 1]).toBe(scoreAt(h.hostId as Host, seq) >= 0.5);
      }
    }
    expect(input.hosts[0]!.scores[9]).toBe(0.1); // sample 10: 0.3 first, then 0.1
  });

  it('keeps the latest truth report per injection, an ended one over a later start report', () => {
    expect(input.truth).toEqual([
      {
        hostId: 'host-a',
        injectionId: 'inj-host-a',
        anomalyType: 'ram_spike',
        startMs: ms(20),
        endMs: ms(29),
        requested: { workload: 'memory', bytes: 512 * MiB, ramp_ms: 1000, duration_ms: 10_000 },
        achieved: { peak_rss_delta_bytes: 500 * MiB, hold_ms: 9000 },
        reachedTarget: true,
        shortfall: '',
      },
      {
        hostId: 'host-b',
        injectionId: 'inj-host-b',
        anomalyType: 'cpu_surge',
        startMs: ms(40),
        endMs: Infinity,
        requested: { workload: 'cpu', cores: 2, load_percent: 90, duration_ms: 10_000 },
        achieved: {},
        reachedTarget: false,
        shortfall: '',
      },
    ]);
  });

  it('keeps one event per id, CLOSED superseding OPEN, and leaves other experiments out', () => {
    expect(input.events).toEqual([
      {
        eventId: 'ev-host-a',
        hostId: 'host-a',
        startMs: ms(22),
        endMs: ms(29),
        peakScore: 0.9,
        severity: Severity.SEVERITY_HIGH,
        topMetrics: ['memory_used_bytes', 'cpu_busy_ratio'],
      },
      {
        eventId: 'ev-host-b',
        hostId: 'host-b',
        startMs: ms(42),
        endMs: ms(42), // still open
        peakScore: 0.9,
        severity: Severity.SEVERITY_HIGH,
        topMetrics: ['memory_used_bytes', 'cpu_busy_ratio'],
      },
    ]);
  });

  it('grades the scored samples against the truth', () => {
    const e = input.evaluation!;
    // Positives: host-a 20..29 (10), host-b 40..60 (21, still running); flagged from 22 and 42.
    expect(e.pointwise.confusion).toEqual({ tp: 8 + 19, fp: 0, fn: 4, tn: 2 * (N - 5) - 31 });
    expect(e.points).toBe(2 * (N - 5));
    expect(e.eventwise).toMatchObject({
      injections: 2,
      detectedInjections: 2,
      events: 2,
      truePositiveEvents: 2,
    });
    expect(e.delay).toMatchObject({ count: 2, p50Ms: 2000, maxMs: 2000 });
    expect(e.rocAuc).toBeCloseTo(1 - (4 / 31) * 0.5, 12); // the 4 missed positives tie with every negative at 0.1
    expect(Object.keys(e.byType)).toEqual(['cpu_surge', 'ram_spike']);
  });

  it('reports progress per stage and the messages it could not decode', () => {
    const order = [...new Set(stages.map(([s]) => s))];
    expect(order).toEqual(['truth', 'samples', 'scores', 'events']);
    for (const stage of order) {
      const last = stages.filter(([s]) => s === stage).at(-1)!;
      expect(last[1]).toBe(last[2]);
    }
    expect(stages.filter(([s]) => s === 'truth').at(-1)![2]).toBe(4);
    expect(malformed).toHaveLength(1);
    expect(malformed[0]).toMatchObject({ stream: 'FL_SCORES', subject: 'fl.scores.0' });
  });

  it('fails on an experiment no sample, score or truth window carries', async () => {
    const err = await collectLiveReportInput({ connection: nc, experimentId: 'exp-none' }).catch(
      (e: unknown) => e,
    );
    expect(isUnknownExperimentError(err)).toBe(true);
    expect((err as Error).message).toContain('"exp-none"');
  });

  it('rejects bad options, naming them', async () => {
    const bad = await collectLiveReportInput({ connection: nc, experimentId: 'a.b' }).catch(
      (e: unknown) => e,
    );
    expect(isInvalidOptionsError(bad)).toBe(true);
    expect((bad as Error).message).toContain('experimentId must be a NATS subject token');
    const both = await collectLiveReportInput({ connection: nc, natsUrl: nats.url, experimentId: EXP }).catch(
      (e: unknown) => e,
    );
    expect((both as Error).message).toBe('give natsUrl or connection, not both');
  });
});
