import { msToUnixNano, Sample } from '@faultline/protocol';
import { join } from 'node:path';
import { eventually, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { isPublishFailedError, type AgentError } from './errors.js';
import {
  DurablePublisher,
  resolveSamplePublisherOptions,
  SamplePublisher,
  type DurablePublisherOptions,
  type OutboundMessage,
  type PublishFn,
} from './publisher.js';
import { Spool } from './spool.js';

interface Pending {
  readonly message: OutboundMessage;
  readonly resolve: (ack: { duplicate: boolean }) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * An in-memory stand-in for one JetStream stream behind one connection: it handles
 * publishes in arrival order, stores each msg id once (the duplicate window) and can be
 * told to reject a publish, to store one but lose its ack, or to lose everything in flight.
 */
class InMemoryStream {
  readonly stored: OutboundMessage[] = [];
  private readonly ids = new Set<string>();
  readonly pending: Pending[] = [];
  /** Publishes seen, resends included. */
  readonly attempts: string[] = [];
  /** Answer publishes as they come (true) or only on release(). */
  auto = true;
  /** Reject this many of the next publishes without storing them. */
  rejectNext = 0;
  /** Store these msg ids but fail their ack, as when the ack is lost. */
  readonly loseAckOf = new Set<string>();
  maxOutstanding = 0;

  readonly publish: PublishFn = (message) =>
    new Promise((resolve, reject) => {
      this.attempts.push(message.msgId);
      this.pending.push({ message, resolve, reject });
      this.maxOutstanding = Math.max(this.maxOutstanding, this.pending.length);
      if (this.auto) queueMicrotask(() => this.release());
    });

  /** Answers the `n` oldest outstanding publishes, in order. */
  release(n = Infinity): void {
    for (let i = 0; i < n && this.pending.length > 0; i++) {
      const p = this.pending.shift()!;
      if (this.rejectNext > 0) {
        this.rejectNext--;
        p.reject(new Error('no responders'));
        continue;
      }
      const duplicate = this.ids.has(p.message.msgId);
      if (!duplicate) {
        this.ids.add(p.message.msgId);
        this.stored.push(p.message);
      }
      if (this.loseAckOf.delete(p.message.msgId)) p.reject(new Error('timeout'));
      else p.resolve({ duplicate });
    }
  }

  /** The connection died: what was in flight is never answered. */
  loseInFlight(): void {
    this.pending.length = 0;
  }

  storedIds(): string[] {
    return this.stored.map((m) => m.msgId);
  }
}

function message(seq: number, items = 1): OutboundMessage {
  return {
    subject: 'fl.samples.3.a',
    msgId: `a:${seq}`,
    stream: 'FL_SAMPLES',
    items,
    payload: new Uint8Array([seq & 0xff, 1, 2, 3]),
  };
}

function ids(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `a:${from + i}`);
}

async function withPublisher(
  options: DurablePublisherOptions,
  body: (p: DurablePublisher, stream: InMemoryStream, errors: AgentError[]) => Promise<void>,
  wrap: (publish: PublishFn) => PublishFn = (publish) => publish,
): Promise<void> {
  await using dir = tempDir('durable-');
  const spool = Spool.open({ dir: dir.path });
  const stream = new InMemoryStream();
  const errors: AgentError[] = [];
  const p = new DurablePublisher(spool, wrap(stream.publish), {
    retryDelayMs: 1,
    onError: (e) => errors.push(e),
    ...options,
  });
  try {
    await body(p, stream, errors);
  } finally {
    p.stop();
    spool.close();
  }
}

function enqueue(p: DurablePublisher, from: number, to: number): void {
  for (let seq = from; seq <= to; seq++) expect(p.enqueue(seq, message(seq)).ok).toBe(true);
}

describe('DurablePublisher', () => {
  it('probes with one publish, then keeps up to maxInFlight outstanding, and stores everything in order', async () => {
    await withPublisher({ maxInFlight: 8 }, async (p, stream) => {
      stream.auto = false;
      p.setConnected(true);
      enqueue(p, 1, 40);
      expect(stream.pending).toHaveLength(1); // the probe
      stream.release(1);
      await eventually(() => stream.pending.length === 8, { name: 'window open' });
      while (stream.stored.length < 40) {
        stream.release(3);
        await eventually(() => stream.pending.length > 0 || stream.stored.length === 40, { name: 'refill' });
      }
      expect(stream.maxOutstanding).toBe(8);
      expect(stream.storedIds()).toEqual(ids(1, 40));
      expect(p.spool.length).toBe(0);
      expect(p.stats()).toMatchObject({ published: 40, itemsPublished: 40, duplicates: 0, inFlight: 0 });
    });
  });

  it('replays a message that was stored but whose ack was lost; the duplicate window absorbs it', async () => {
    await withPublisher({ maxInFlight: 4 }, async (p, stream, errors) => {
      stream.loseAckOf.add('a:3');
      p.setConnected(true);
      enqueue(p, 1, 10);
      await eventually(() => p.spool.length === 0, { name: 'drained' });
      expect(stream.storedIds()).toEqual(ids(1, 10));
      expect(stream.attempts.filter((id) => id === 'a:3')).toHaveLength(2);
      expect(p.stats()).toMatchObject({ published: 10, duplicates: 1, failures: 1 });
      expect(errors.filter(isPublishFailedError)).toHaveLength(1);
    });
  });

  it('after a reconnect sends the oldest alone until it is stored, so a stream that is not ready keeps the order', async () => {
    await withPublisher({ maxInFlight: 16 }, async (p, stream) => {
      p.setConnected(true);
      enqueue(p, 1, 3);
      await eventually(() => p.spool.length === 0, { name: 'first drained' });
      p.setConnected(false);
      enqueue(p, 4, 30);
      stream.rejectNext = 3; // no responders: the stream is not back yet
      p.setConnected(true);
      await eventually(() => p.spool.length === 0, { name: 'drained after retries' });
      expect(stream.storedIds()).toEqual(ids(1, 30));
      expect(stream.attempts.slice(3, 7)).toEqual(['a:4', 'a:4', 'a:4', 'a:4']);
      expect(p.stats()).toMatchObject({ failures: 3, published: 30, duplicates: 0, outOfOrder: 0 });
    });
  });

  it('counts what the server stored ahead of a publish it rejected mid-window, and still stores each once', async () => {
    await withPublisher({ maxInFlight: 4 }, async (p, stream) => {
      stream.auto = false;
      p.setConnected(true);
      enqueue(p, 1, 10);
      stream.release(1);
      await eventually(() => stream.pending.length === 4, { name: 'window open' }); // 2..5
      stream.rejectNext = 1; // 2 is rejected, 3..5 are stored
      stream.release(4);
      stream.auto = true;
      await eventually(() => p.spool.length === 0, { name: 'drained' });
      expect(stream.storedIds()).toEqual(['a:1', 'a:3', 'a:4', 'a:5', 'a:2', ...ids(6, 10)]);
      expect(p.stats()).toMatchObject({ outOfOrder: 3, published: 10, failures: 1 });
    });
  });

  it('on a disconnect writes off what is in flight and resends it from the oldest on reconnect', async () => {
    await withPublisher({ maxInFlight: 8 }, async (p, stream) => {
      stream.auto = false;
      p.setConnected(true);
      enqueue(p, 1, 20);
      stream.release(1);
      await eventually(() => stream.pending.length === 8, { name: 'window open' });
      stream.release(2); // 1, 2, 3 stored and acked
      await eventually(() => p.spool.firstSeq === 4, { name: 'acked through 3' });

      p.setConnected(false);
      stream.loseInFlight();
      enqueue(p, 21, 25);
      expect(stream.pending).toHaveLength(0);
      expect(p.stats()).toMatchObject({ inFlight: 0, pendingMessages: 22 });

      stream.auto = true;
      p.setConnected(true);
      expect(stream.pending.map((x) => x.message.msgId)).toEqual(['a:4']); // one probe, the oldest
      await eventually(() => p.spool.length === 0, { name: 'drained' });
      expect(stream.storedIds()).toEqual(ids(1, 25));
    });
  });

  it('drops and counts a message that resending cannot cure, and carries on', async () => {
    const tooBig = new Error('message size exceeds maximum allowed');
    await withPublisher(
      { isPermanent: (err) => err === tooBig },
      async (p, stream, errors) => {
        p.setConnected(true);
        p.enqueue(1, message(1, 5));
        p.enqueue(2, message(2, 7));
        p.enqueue(3, message(3, 5));
        await eventually(() => p.spool.length === 0, { name: 'drained' });
        expect(stream.storedIds()).toEqual(['a:1', 'a:3']);
        expect(p.stats()).toMatchObject({ dropped: 1, itemsDropped: 7, published: 2, itemsPublished: 10 });
        const dropped = errors.filter(isPublishFailedError);
        expect(dropped.map((e) => [e.msgId, e.permanent])).toEqual([['a:2', true]]);
      },
      (publish) => (m, t) => (m.msgId === 'a:2' ? Promise.reject(tooBig) : publish(m, t)),
    );
  });

  it('refuses an enqueue whose seq is not the next one', async () => {
    await withPublisher({}, async (p) => {
      expect(() => p.enqueue(2, message(2))).toThrow('enqueue expected seq 1, got 2');
    });
  });
});

describe('SamplePublisher options', () => {
  it('names the field, the range and the value', () => {
    const base = { agentId: 'a', servers: 'nats://127.0.0.1:4222', spool: { dir: '/tmp/x' } };
    expect(() => resolveSamplePublisherOptions({ ...base, maxInFlight: 0 })).toThrow(
      'maxInFlight must be an integer in [1, 4096], got 0',
    );
    expect(() => resolveSamplePublisherOptions({ ...base, maxBatchDelayMs: 1.5 })).toThrow(
      'maxBatchDelayMs must be an integer in [1, 60000], got 1.5',
    );
    expect(() => resolveSamplePublisherOptions({ ...base, agentId: 'a.b' })).toThrow(
      'agentId must be a non-empty NATS subject token',
    );
    expect(() =>
      resolveSamplePublisherOptions({ ...base, spool: { dir: '/tmp/x', maxSpoolBytes: 10 } }),
    ).toThrow('spool.maxSpoolBytes must be an integer in [1024, 1125899906842624], got 10');
    const o = resolveSamplePublisherOptions(base);
    expect(o).toMatchObject({
      maxInFlight: 64,
      maxBatchSamples: 500,
      maxBatchDelayMs: 1000,
      reconnectTimeWaitMs: 2000,
      partitions: 16,
      servers: ['nats://127.0.0.1:4222'],
    });
  });
});

describe('SamplePublisher batching (no server)', () => {
  function sample(seq: number): Sample {
    return Sample.fromPartial({
      hostId: 'a',
      seq: BigInt(seq),
      timeUnixNano: msToUnixNano(1_763_000_000_000 + seq),
      host: { memoryUsedBytes: seq, cpuCount: 2 },
      metrics: { padding_bytes: seq, other_total: seq * 2 },
    });
  }

  it('seals a batch at maxBatchSamples or after maxBatchDelayMs, and splits one larger than maxBatchBytes', async () => {
    await using dir = tempDir('batching-');
    // Nothing listens on port 1: the publisher spools and keeps trying.
    const publisher = SamplePublisher.open({
      agentId: 'a',
      servers: 'nats://127.0.0.1:1',
      spool: { dir: dir.path },
      maxBatchSamples: 30,
      maxBatchDelayMs: 20,
      maxBatchBytes: 1024,
      reconnectTimeWaitMs: 50,
    });
    try {
      for (let i = 1; i <= 5; i++) publisher.publish(sample(i));
      expect(publisher.stats()).toMatchObject({ batchesSealed: 0, samplesBuffered: 5 });
      await eventually(() => publisher.stats().batchesSealed === 1, { name: 'delay seals' });
      expect(publisher.stats()).toMatchObject({ samplesSpooled: 5, samplesBuffered: 0, connected: false });

      // 30 samples of ~70 bytes exceed 1024 bytes: the batch is split into ones that fit.
      for (let i = 6; i <= 35; i++) publisher.publish(sample(i));
      const s = publisher.stats();
      expect(s.samplesSpooled).toBe(35);
      expect(s.samplesBuffered).toBe(0);
      expect(s.batchesSealed).toBeGreaterThanOrEqual(1 + 3);
    } finally {
      await publisher.close();
    }
    const spool = Spool.open({ dir: join(dir.path, 'samples') });
    const sizes: number[] = [];
    for (let r = spool.peekAfter(0); r; r = spool.peekAfter(r.seq)) sizes.push(r.payload.length);
    spool.close();
    expect(sizes.length).toBe(publisher.stats().batchesSealed);
    // Each record is the batch plus a small envelope (subject, msg id, stream name).
    expect(sizes.slice(1).every((n) => n <= 1024 + 64)).toBe(true);
  });
});
