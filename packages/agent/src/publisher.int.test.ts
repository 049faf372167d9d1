import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  decodeSampleBatch,
  decodeTruthWindow,
  ensureStreams,
  msToUnixNano,
  Sample,
  StreamName,
  subjects,
  TruthWindow,
  type SampleBatch,
} from '@faultline/protocol';
import { eventually, startNats, tempDir, type NatsServer } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { isSpoolFullError, type AgentError } from './errors.js';
import { SamplePublisher, type SamplePublisherOptions } from './publisher.js';

const AGENT = 'agent-a';

function sample(seq: number): Sample {
  return Sample.fromPartial({
    hostId: AGENT,
    seq: BigInt(seq),
    timeUnixNano: msToUnixNano(Date.now()),
    labels: { state: 'working_normal', phase: 'baseline1' },
    host: { memoryUsedBytes: 1_000_000 + seq, cpuCount: 2, load1: 0.5 },
  });
}

async function createStreams(url: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    await ensureStreams(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/** Every message of `stream`, in stream sequence order. */
async function readStream(
  url: string,
  stream: string,
): Promise<Array<{ subject: string; data: Uint8Array }>> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: Array<{ subject: string; data: Uint8Array }> = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m) out.push({ subject: m.subject, data: m.data });
    }
    return out;
  } finally {
    await nc.close();
  }
}

async function readBatches(nats: NatsServer): Promise<SampleBatch[]> {
  const messages = await readStream(nats.url, StreamName.Samples);
  return messages.map((m) => decodeSampleBatch(m.data));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function open(
  nats: NatsServer,
  dir: string,
  errors: AgentError[],
  extra: Partial<SamplePublisherOptions> = {},
): SamplePublisher {
  return SamplePublisher.open({
    agentId: AGENT,
    servers: nats.url,
    spool: { dir },
    maxBatchSamples: 10,
    maxBatchDelayMs: 50,
    reconnectTimeWaitMs: 50,
    publishTimeoutMs: 2000,
    retryDelayMs: 20,
    closeTimeoutMs: 2000,
    onError: (err) => errors.push(err),
    ...extra,
  });
}

const drained = (p: SamplePublisher) => (): boolean => {
  const s = p.stats();
  return s.samplesBuffered === 0 && s.batchesSpooled === 0 && s.truthSpooled === 0 && s.batchesInFlight === 0;
};

describe('SamplePublisher (real nats-server)', () => {
  it('spools while NATS is away and replays in order on reconnect: every batch exactly once, samples contiguous', async () => {
    await using nats = await startNats({ jetstream: true });
    await using dir = tempDir('publisher-');
    await createStreams(nats.url);
    const errors: AgentError[] = [];
    const publisher = open(nats, dir.path, errors);
    let taken = 0;
    const producer = setInterval(() => publisher.publish(sample(++taken)), 5);
    try {
      await eventually(() => publisher.stats().batchesPublished >= 5, { name: 'first batches acked' });

      await nats.stop();
      const atStop = taken;
      await eventually(() => !publisher.connected, { name: 'disconnect noticed' });
      await eventually(() => taken >= atStop + 400, {
        name: '~2 s of samples while down',
        timeoutMs: 10_000,
      });
      const whileDown = publisher.stats();
      expect(whileDown.batchesSpooled).toBeGreaterThan(10);
      expect(whileDown.spoolBytes).toBeGreaterThan(0);

      await nats.start();
      await eventually(() => publisher.connected, { name: 'reconnect', timeoutMs: 10_000 });
      const atReconnect = taken;
      await eventually(() => taken >= atReconnect + 50, { name: 'samples after reconnect' });
    } finally {
      clearInterval(producer);
    }
    publisher.flushBatch();
    await eventually(drained(publisher), { name: 'spool drained', timeoutMs: 20_000 });

    const stats = publisher.stats();
    const batches = await readBatches(nats);
    // Stream order is batch order, each batch once, contiguous from 1.
    expect(batches.map((b) => Number(b.seq))).toEqual(range(1, stats.batchesSealed));
    expect(batches.flatMap((b) => b.samples.map((s) => Number(s.seq)))).toEqual(range(1, taken));
    expect(batches.every((b) => b.agentId === AGENT && b.lostSamplesTotal === 0n)).toBe(true);
    expect(stats).toMatchObject({
      samplesTaken: taken,
      samplesPublished: taken,
      samplesLost: 0,
      samplesSpooled: 0,
      batchesLost: 0,
      spoolBytes: 0,
    });
    expect(errors.filter(isSpoolFullError)).toEqual([]);
    await publisher.close();
  });

  it('starts while NATS is down, keeps the spool across its own restart, and drains once NATS is up', async () => {
    await using nats = await startNats({ jetstream: true });
    await using dir = tempDir('publisher-');
    await createStreams(nats.url);
    await nats.stop();
    const errors: AgentError[] = [];

    let publisher = open(nats, dir.path, errors);
    for (let i = 1; i <= 30; i++) publisher.publish(sample(i));
    publisher.publishTruth(
      TruthWindow.fromPartial({
        injectionId: 'inj-1',
        experimentId: 'exp-1',
        agentId: AGENT,
        hostId: AGENT,
        anomalyType: 'ram_spike',
        actualStartUnixNano: msToUnixNano(Date.now()),
      }),
    );
    expect(publisher.connected).toBe(false);
    expect(publisher.stats()).toMatchObject({ batchesSpooled: 3, samplesSpooled: 30, truthSpooled: 1 });
    await publisher.close(); // NATS is down: returns at once, the spool keeps everything

    publisher = open(nats, dir.path, errors);
    expect(publisher.stats()).toMatchObject({ batchesSpooled: 3, samplesSpooled: 30, truthSpooled: 1 });
    for (let i = 31; i <= 50; i++) publisher.publish(sample(i));
    expect(publisher.stats().batchesSpooled).toBe(5);

    await nats.start();
    await eventually(drained(publisher), { name: 'spool drained', timeoutMs: 20_000 });
    const batches = await readBatches(nats);
    expect(batches.map((b) => Number(b.seq))).toEqual(range(1, 5));
    expect(batches.flatMap((b) => b.samples.map((s) => Number(s.seq)))).toEqual(range(1, 50));
    expect(batches[0]!.samples[0]!.labels).toEqual(sample(1).labels);
    expect(batches[0]!.samples[0]!.host?.memoryUsedBytes).toBe(1_000_001);

    const truth = await readStream(nats.url, StreamName.Truth);
    expect(truth.map((m) => m.subject)).toEqual([subjects.truth('exp-1', AGENT)]);
    expect(decodeTruthWindow(truth[0]!.data).injectionId).toBe('inj-1');
    expect(publisher.stats()).toMatchObject({ truthPublished: 1, truthSpooled: 0, truthLost: 0 });
    await publisher.close();
  });

  it('counts what the full spool refused and reports it in the next batch, keeping batch seqs contiguous', async () => {
    await using nats = await startNats({ jetstream: true });
    await using dir = tempDir('publisher-');
    await createStreams(nats.url);
    await nats.stop();
    const errors: AgentError[] = [];
    const publisher = open(nats, dir.path, errors, {
      spool: { dir: dir.path, maxSpoolBytes: 4096 },
      maxBatchSamples: 5,
      maxBatchDelayMs: 60_000,
    });
    for (let i = 1; i <= 100; i++) publisher.publish(sample(i));
    const full = publisher.stats();
    const kept = full.batchesSpooled;
    expect(kept).toBeGreaterThan(1);
    expect(kept).toBeLessThan(20);
    expect(full).toMatchObject({
      batchesSealed: 20,
      batchesLost: 20 - kept,
      samplesLost: 5 * (20 - kept),
      samplesSpooled: 5 * kept,
    });
    expect(full.spoolBytes).toBeLessThanOrEqual(4096);
    expect(errors.filter(isSpoolFullError)).toHaveLength(1);

    await nats.start();
    await eventually(drained(publisher), { name: 'spool drained', timeoutMs: 20_000 });
    for (let i = 101; i <= 105; i++) publisher.publish(sample(i));
    await eventually(drained(publisher), { name: 'last batch acked', timeoutMs: 20_000 });

    const batches = await readBatches(nats);
    expect(batches.map((b) => Number(b.seq))).toEqual(range(1, kept + 1));
    expect(batches.flatMap((b) => b.samples.map((s) => Number(s.seq)))).toEqual([
      ...range(1, 5 * kept),
      ...range(101, 105),
    ]);
    expect(batches.slice(0, kept).every((b) => b.lostSamplesTotal === 0n)).toBe(true);
    expect(batches[kept]!.lostSamplesTotal).toBe(BigInt(5 * (20 - kept)));
    expect(publisher.stats().samplesLost).toBe(5 * (20 - kept));
    await publisher.close();
  });
});
