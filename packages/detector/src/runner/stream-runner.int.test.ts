import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AnomalyEventState,
  decodeAnomalyEvent,
  decodeScoreBatch,
  encodeSampleBatch,
  partitionOf,
  sampleBatchMsgId,
  StreamName,
  subjects,
  type AnomalyEvent,
  type Sample,
} from '@faultline/protocol';
import { eventually, startNats } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';

import { DeadLetterHeader } from './dead-letter.js';
import { detectorSubjects } from './detector-streams.js';
import { LeaseTable } from './partition-leases.js';
import { StreamRunner, type StreamRunnerOptions } from './stream-runner.js';
import { SyntheticHost, type SyntheticAnomaly } from './synthetic-host.js';

const T0 = 1_763_000_000_000_000_000n;
const ANOMALIES: SyntheticAnomaly[] = [
  { kind: 'memory_spike', start: 200, length: 30 },
  { kind: 'cpu_surge', start: 300, length: 30 },
];

/**
 * Options that keep the suite fast: frequent checkpoints, memory streams. Leases are long
 * unless a test needs a takeover (a short lease could lapse on a loaded machine and restart
 * a partition, which is correct but changes the counters these tests read).
 */
function fastOptions(replicaId: string, partitions: number, leaseTtlMs = 10_000): StreamRunnerOptions {
  return {
    replicaId,
    partitions,
    leaseTtlMs,
    checkpointIntervalMs: 300,
    lagPollMs: 200,
    restartDelayMs: 100,
    streams: { storage: 'memory' },
  };
}

/** Publishes each host's samples as batches of `batchSize` on its partition, deduplicated by batch id. */
async function publishSamples(
  js: JetStreamClient,
  perHost: ReadonlyMap<string, Sample[]>,
  partitions: number,
  batchSize: number,
  firstBatchSeq = 1,
): Promise<void> {
  for (const [hostId, samples] of perHost) {
    const partition = partitionOf(hostId, partitions);
    const pending: Array<Promise<unknown>> = [];
    for (let at = 0, seq = firstBatchSeq; at < samples.length; at += batchSize, seq++) {
      const batch = {
        agentId: hostId,
        seq: BigInt(seq),
        partition,
        sentUnixNano: T0,
        samples: samples.slice(at, at + batchSize),
        lostSamplesTotal: 0n,
      };
      pending.push(
        js.publish(subjects.samples(partition, hostId), encodeSampleBatch(batch), {
          msgID: sampleBatchMsgId(hostId, seq),
        }),
      );
    }
    await Promise.all(pending);
  }
}

/** Every message of a stream, in order. */
async function readStream(
  nc: NatsConnection,
  stream: string,
): Promise<Array<{ subject: string; data: Uint8Array; headers: Map<string, string> }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const count = info.state.messages;
  if (count === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: Array<{ subject: string; data: Uint8Array; headers: Map<string, string> }> = [];
  const messages = await consumer.fetch({ max_messages: count, expires: 5000 });
  for await (const m of messages) {
    const headers = new Map<string, string>();
    for (const [k, v] of m.headers ?? []) headers.set(k, v[0] ?? '');
    out.push({ subject: m.subject, data: m.data, headers });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

interface ScoreTally {
  /** (host, seq) → how many times it was scored. */
  readonly counts: Map<string, number>;
  /** host → the detector ids that scored it. */
  readonly detectors: Map<string, Set<string>>;
  readonly total: number;
}

async function tallyScores(nc: NatsConnection): Promise<ScoreTally> {
  const counts = new Map<string, number>();
  const detectors = new Map<string, Set<string>>();
  let total = 0;
  for (const m of await readStream(nc, StreamName.Scores)) {
    const batch = decodeScoreBatch(m.data);
    for (const s of batch.scores) {
      const key = `${s.hostId}#${s.sampleSeq}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const set = detectors.get(s.hostId) ?? new Set<string>();
      set.add(batch.detectorId);
      detectors.set(s.hostId, set);
      total++;
    }
  }
  return { counts, detectors, total };
}

async function scoredCount(nc: NatsConnection): Promise<number> {
  return (await tallyScores(nc)).total;
}

async function readEvents(nc: NatsConnection): Promise<AnomalyEvent[]> {
  return (await readStream(nc, StreamName.Anomalies)).map((m) => decodeAnomalyEvent(m.data));
}

/** Host ids whose partitions cover every partition at least once. */
function hostsCoveringPartitions(partitions: number, perPartition: number): string[] {
  const byPartition = new Map<number, string[]>();
  for (
    let i = 0;
    byPartition.size < partitions || [...byPartition.values()].some((h) => h.length < perPartition);
    i++
  ) {
    const id = `host-${i}`;
    const p = partitionOf(id, partitions);
    const list = byPartition.get(p) ?? [];
    if (list.length < perPartition) list.push(id);
    byPartition.set(p, list);
  }
  return [...byPartition.values()].flat();
}

describe('StreamRunner (real nats-server)', () => {
  it('gives a planted memory spike and a CPU surge exactly one anomaly event each, opened within 3 samples of onset', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    const runner = new StreamRunner(nc, fastOptions('r1', 4));
    try {
      await runner.start();
      const js = jetstream(nc);
      // host-a has no experiment (first-N training), host-b an experiment with a warm-up phase.
      const perHost = new Map<string, Sample[]>([
        [
          'host-a',
          new SyntheticHost({ hostId: 'host-a', seed: 11, startUnixNano: T0, anomalies: ANOMALIES }).take(
            420,
          ),
        ],
        [
          'host-b',
          new SyntheticHost({
            hostId: 'host-b',
            seed: 12,
            startUnixNano: T0,
            anomalies: ANOMALIES,
            experimentId: 'exp-1',
            warmupSamples: 150,
          }).take(420),
        ],
      ]);
      await publishSamples(js, perHost, 4, 20);
      await eventually(async () => (await scoredCount(nc)) === 840, {
        timeoutMs: 20_000,
        name: '840 scores',
      });

      const events = await readEvents(nc);
      for (const hostId of ['host-a', 'host-b']) {
        const mine = events.filter((e) => e.hostId === hostId);
        const ids = [...new Set(mine.map((e) => e.eventId))];
        expect(ids, `events of ${hostId}`).toHaveLength(2);
        const opened = ids
          .map((id) => mine.find((e) => e.eventId === id)!)
          .sort((a, b) => Number(a.openSampleSeq - b.openSampleSeq));
        // Sample index 200 is seq 201: the memory spike; index 300 is seq 301: the CPU surge.
        expect(Number(opened[0]!.openSampleSeq)).toBeGreaterThanOrEqual(201);
        expect(Number(opened[0]!.openSampleSeq)).toBeLessThanOrEqual(203);
        expect(Number(opened[1]!.openSampleSeq)).toBeGreaterThanOrEqual(301);
        expect(Number(opened[1]!.openSampleSeq)).toBeLessThanOrEqual(303);
        expect(opened[0]!.topMetrics.map((m) => m.metric).join(',')).toMatch(/memory/);
        expect(opened[1]!.topMetrics.map((m) => m.metric).join(',')).toMatch(/cpu_(user|system)/);
        for (const id of ids) {
          const states = mine.filter((e) => e.eventId === id).map((e) => e.state);
          expect(states[0]).toBe(AnomalyEventState.ANOMALY_EVENT_STATE_OPEN);
          expect(states.at(-1)).toBe(AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED);
        }
        expect(mine.every((e) => e.experimentId === (hostId === 'host-b' ? 'exp-1' : ''))).toBe(true);
      }
      const metrics = await runner.metrics.registry.metrics();
      expect(metrics).toMatch(/faultline_detector_samples_scored_total 840/);
      expect(metrics).toMatch(/faultline_detector_anomaly_events_total\{kind="opened"\} 4/);
      expect(metrics).toMatch(/faultline_detector_model_fits_total\{reason="warmup"\} 2/);
    } finally {
      await runner.stop();
      await nc.close();
    }
  });

  it('splits the partitions between two replicas, and after one crashes every sample is still scored exactly once', async () => {
    await using nats = await startNats({ jetstream: true });
    const partitions = 8;
    const hosts = hostsCoveringPartitions(partitions, 1);
    const nc1 = await connect({ servers: nats.url });
    const nc2 = await connect({ servers: nats.url });
    const r1 = new StreamRunner(nc1, fastOptions('r1', partitions, 1200));
    const r2 = new StreamRunner(nc2, fastOptions('r2', partitions, 1200));
    try {
      await r1.start();
      await r2.start();
      await eventually(() => r1.ownedPartitions().length === 4 && r2.ownedPartitions().length === 4, {
        timeoutMs: 10_000,
        name: 'an even split of 8 partitions',
      });
      expect([...r1.ownedPartitions(), ...r2.ownedPartitions()].sort((a, b) => a - b)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7,
      ]);

      const js = jetstream(nc1);
      const generators = new Map(
        hosts.map((h, i) => [h, new SyntheticHost({ hostId: h, seed: i, startUnixNano: T0 })]),
      );
      const take = (n: number): Map<string, Sample[]> =>
        new Map(hosts.map((h) => [h, generators.get(h)!.take(n)]));
      await publishSamples(js, take(200), partitions, 10, 1);
      await eventually(async () => (await scoredCount(nc1)) === hosts.length * 200, {
        timeoutMs: 20_000,
        name: 'the first 200 samples of every host scored',
      });
      const before = await tallyScores(nc1);
      for (const h of hosts) expect(before.detectors.get(h)?.size, `replicas that scored ${h}`).toBe(1);
      const owners = new Set([...before.detectors.values()].flatMap((s) => [...s]));
      expect(owners).toEqual(new Set(['r1', 'r2']));

      // The crash: r2's connection goes away mid-stream, leases unreleased. The rest is
      // published a round of batches at a time, so that r2 is still scoring when it dies.
      const rest = take(300);
      const more = (async () => {
        for (let round = 0; round < 30; round++) {
          const slice = new Map([...rest].map(([h, s]) => [h, s.slice(round * 10, round * 10 + 10)]));
          await publishSamples(js, slice, partitions, 10, 21 + round);
        }
      })();
      await eventually(async () => (await scoredCount(nc1)) > hosts.length * 260, {
        timeoutMs: 20_000,
        name: 'progress',
      });
      await nc2.close();
      await more;
      await eventually(() => r1.ownedPartitions().length === partitions, {
        timeoutMs: 10_000,
        name: 'r1 taking over every partition',
      });
      const total = hosts.length * 500;
      await eventually(async () => (await tallyScores(nc1)).counts.size === total, {
        timeoutMs: 20_000,
        name: `${total} distinct samples scored`,
      });
      const after = await tallyScores(nc1);
      expect(after.counts.size).toBe(total);
      expect([...after.counts.values()].filter((n) => n > 1)).toEqual([]);
      expect(after.total).toBe(total);
    } finally {
      await r1.stop();
      await r2.stop();
      await nc1.close();
      if (!nc2.isClosed()) await nc2.close();
    }
  });

  it('hands over cleanly on stop: final checkpoint, leases released, and the next replica scores nothing twice', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc1 = await connect({ servers: nats.url });
    const r1 = new StreamRunner(nc1, { ...fastOptions('r1', 2), checkpointIntervalMs: 60_000 });
    const nc2 = await connect({ servers: nats.url });
    const r2 = new StreamRunner(nc2, fastOptions('r2', 2));
    try {
      await r1.start();
      const js = jetstream(nc1);
      const hosts = hostsCoveringPartitions(2, 1);
      const generators = new Map(
        hosts.map((h, i) => [h, new SyntheticHost({ hostId: h, seed: 20 + i, startUnixNano: T0 })]),
      );
      const take = (n: number): Map<string, Sample[]> =>
        new Map(hosts.map((h) => [h, generators.get(h)!.take(n)]));
      await publishSamples(js, take(150), 2, 10, 1);
      await eventually(async () => (await scoredCount(nc1)) === 300, {
        timeoutMs: 15_000,
        name: '300 scores',
      });
      await eventually(
        async () => /consumer_pending_messages\{partition="1"\} 0/.test(await r1.metrics.registry.metrics()),
        {
          timeoutMs: 5000,
          name: 'the lag gauge',
        },
      );
      await r1.stop();
      const leases = new LeaseTable(jetstream(nc1), await jetstreamManager(nc1), {
        group: 'faultline-detector',
        replicaId: 'observer',
        partitions: 2,
        leaseTtlMs: 1200,
      });
      expect(await leases.holders()).toEqual([undefined, undefined]);
      expect(await leases.members()).toEqual([]);

      await r2.start();
      expect(r2.ownedPartitions()).toEqual([0, 1]);
      await publishSamples(js, take(50), 2, 10, 16);
      await eventually(async () => (await scoredCount(nc1)) === 400, {
        timeoutMs: 15_000,
        name: '400 scores',
      });
      const m2 = await r2.metrics.registry.metrics();
      expect(m2).toMatch(/faultline_detector_samples_scored_total 100\n/);
      expect(m2).toMatch(/faultline_detector_host_restores_total\{outcome="restored"\} 2/);
      // Restored models: no second warm-up fit.
      expect(m2).not.toMatch(/model_fits_total\{reason="warmup"\}/);
      const tally = await tallyScores(nc1);
      expect(tally.counts.size).toBe(400);
    } finally {
      await r1.stop();
      await r2.stop();
      await nc1.close();
      await nc2.close();
    }
  });

  it('survives a corrupt checkpoint: the partition is replayed from its start and the host restarts afresh', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    const first = new StreamRunner(nc, fastOptions('r1', 1));
    await first.start(); // creates the streams
    await first.stop();
    const js = jetstream(nc);
    await js.publish(detectorSubjects.marker('faultline-detector', 0), new TextEncoder().encode('{not json'));
    await js.publish(
      detectorSubjects.hostCheckpoint('faultline-detector', 0, 'host-a'),
      new TextEncoder().encode('[]'),
    );
    const runner = new StreamRunner(nc, fastOptions('r2', 1));
    try {
      await runner.start();
      expect(runner.ownedPartitions()).toEqual([0]);
      const samples = new SyntheticHost({ hostId: 'host-a', seed: 8, startUnixNano: T0 }).take(40);
      await publishSamples(js, new Map([['host-a', samples]]), 1, 10);
      await eventually(async () => (await scoredCount(nc)) === 40, { timeoutMs: 15_000, name: '40 scores' });
      expect(await runner.metrics.registry.metrics()).toMatch(/host_restores_total\{outcome="malformed"\} 1/);
    } finally {
      await runner.stop();
      await nc.close();
    }
  });

  it('parks malformed messages on the dead-letter subject with their bytes, counts them, and keeps the partition flowing', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    const runner = new StreamRunner(nc, fastOptions('r1', 1));
    try {
      await runner.start();
      const js = jetstream(nc);
      const samples = new SyntheticHost({ hostId: 'host-a', seed: 3, startUnixNano: T0 }).take(60);
      await publishSamples(js, new Map([['host-a', samples.slice(0, 30)]]), 1, 10, 1);
      const garbage = [
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]),
        new TextEncoder().encode('not protobuf at all'),
      ];
      const garbageSeqs: number[] = [];
      for (const bytes of garbage)
        garbageSeqs.push((await js.publish(subjects.samples(0, 'bad-agent'), bytes)).seq);
      await publishSamples(js, new Map([['host-a', samples.slice(30)]]), 1, 10, 4);

      await eventually(async () => (await scoredCount(nc)) === 60, {
        timeoutMs: 15_000,
        name: 'all 60 samples scored',
      });
      const parked = await readStream(nc, StreamName.DeadLetter);
      expect(parked.map((m) => m.subject)).toEqual([
        subjects.deadLetter('FL_SAMPLES', 0),
        subjects.deadLetter('FL_SAMPLES', 0),
      ]);
      expect(parked.map((m) => [...m.data])).toEqual(garbage.map((g) => [...g]));
      expect(parked.map((m) => m.headers.get(DeadLetterHeader.OriginalSequence))).toEqual(
        garbageSeqs.map(String),
      );
      for (const m of parked) {
        expect(m.headers.get(DeadLetterHeader.Error)).toBe('MalformedMessageError');
        expect(m.headers.get(DeadLetterHeader.ErrorCode)).toBe('MALFORMED_MESSAGE');
        expect(m.headers.get(DeadLetterHeader.OriginalSubject)).toBe(subjects.samples(0, 'bad-agent'));
        expect(m.headers.get(DeadLetterHeader.OriginalStream)).toBe('FL_SAMPLES');
      }
      expect(await runner.metrics.registry.metrics()).toMatch(
        /faultline_detector_malformed_messages_total\{partition="0"\} 2/,
      );
      await eventually(
        async () => {
          const info = await (
            await jetstreamManager(nc)
          ).consumers.info(StreamName.Samples, 'faultline-detector-p0');
          return info.num_pending === 0 && info.num_ack_pending === 0;
        },
        { timeoutMs: 5000, name: 'every message acked or terminated' },
      );
    } finally {
      await runner.stop();
      await nc.close();
    }
  });
});
