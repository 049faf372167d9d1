/**
 * The agent's durable JetStream publisher.
 *
 * {@link SamplePublisher} batches samples into `SampleBatch`es on
 * `fl.samples.<partition>.<agent>` and publishes truth windows on
 * `fl.truth.<experiment>.<agent>`. Every message is written to an on-disk {@link Spool}
 * first (write-ahead) and leaves it only when JetStream acknowledged it, so:
 *
 * - while NATS is unreachable (or not up yet when the agent starts) messages accumulate in
 *   the spool, and on reconnect they are sent oldest first, before anything newer;
 * - each message carries `Nats-Msg-Id` (`<agent>:<spool created ms>:<batch seq>` for samples,
 *   `truth:<injection>:<start|end>` for truth), so one that was stored but whose ack was
 *   lost is dropped by the stream's duplicate window when it is replayed;
 * - when the spool cap is hit (or the disk is full) the newest batch is refused: its
 *   samples are counted as lost, reported in the next batch's `lostSamplesTotal` and in
 *   {@link SamplePublisher.stats}. Like a Prometheus counter, that total counts from the
 *   start of the process; batch seqs stay contiguous (a refused batch uses none up) and
 *   continue across restarts, since the spool keeps them.
 *
 * Up to `maxInFlight` publishes are outstanding at once. Stream order is batch order
 * because one connection delivers in order and the server stores in arrival order; after
 * a disconnect or a failure nothing newer is sent until everything unacknowledged has
 * been resent from the oldest, one at a time until the first ack (so a stream that is not
 * ready yet after a server restart rejects only that one), then with the full window.
 * The one case this cannot prevent: the server rejecting a publish while accepting a later
 * one already in flight (a cluster leader change, say). That later batch is then stored
 * first; it is counted in `batchesOutOfOrder`, and every batch still arrives once, with
 * its `seq`, so consumers can tell.
 *
 * @example
 * ```ts
 * const publisher = SamplePublisher.open({
 *   agentId: 'host-1',
 *   servers: 'nats://127.0.0.1:4222',
 *   spool: { dir: '/var/lib/faultline/spool', maxSpoolBytes: 256 * 2 ** 20 },
 * });
 * publisher.publish(sample);          // never throws for lack of NATS or disk
 * publisher.publishTruth(window);
 * metrics.set(publisher.stats());
 * await publisher.close();            // flushes for up to closeTimeoutMs; the rest stays spooled
 * ```
 */
import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import {
  connect,
  InvalidArgumentError,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import {
  DEFAULT_PARTITIONS,
  encodeSampleBatch,
  encodeTruthWindow,
  natsRefusalOf,
  nowUnixNano,
  partitionOf,
  sampleBatchMsgId,
  StreamName,
  subjects,
  type Sample,
  type SampleBatch,
  type TruthWindow,
} from '@faultline/protocol';
import { join } from 'node:path';
import {
  type AgentError,
  InvalidOptionsError,
  NatsConnectionError,
  NatsRefusalError,
  PublisherClosedError,
  PublishFailedError,
} from './errors.js';
import { resolveSpoolOptions, Spool, type SpoolOptions } from './spool.js';

// ---------------------------------------------------------------------------------------
// Envelope: what a spool record holds.

/** A message as the durable publisher stores and sends it. */
export interface OutboundMessage {
  readonly subject: string;
  /** `Nats-Msg-Id`: the stream drops a repeat within its duplicate window. */
  readonly msgId: string;
  /** The stream it must land in (`Nats-Expected-Stream`); any other is an error. */
  readonly stream: string;
  /** How many items (samples, truth windows) it carries, for the counters. */
  readonly items: number;
  readonly payload: Uint8Array;
}

const ENVELOPE_VERSION = 1;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `[u8 version][u32 items][u16 len, subject][u16 len, msgId][u16 len, stream][payload]`. */
function encodeEnvelope(m: OutboundMessage): Uint8Array {
  const subject = utf8.encode(m.subject);
  const msgId = utf8.encode(m.msgId);
  const stream = utf8.encode(m.stream);
  const out = new Uint8Array(11 + subject.length + msgId.length + stream.length + m.payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, ENVELOPE_VERSION);
  view.setUint32(1, m.items, true);
  let at = 5;
  for (const part of [subject, msgId, stream]) {
    view.setUint16(at, part.length, true);
    out.set(part, at + 2);
    at += 2 + part.length;
  }
  out.set(m.payload, at);
  return out;
}

function decodeEnvelope(bytes: Uint8Array): OutboundMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 11 || view.getUint8(0) !== ENVELOPE_VERSION) {
    throw new Error(`unknown spool envelope (version ${bytes[0]}, ${bytes.length} bytes)`);
  }
  const items = view.getUint32(1, true);
  let at = 5;
  const parts: string[] = [];
  for (let i = 0; i < 3; i++) {
    const length = view.getUint16(at, true);
    if (at + 2 + length > bytes.length) throw new Error('truncated spool envelope');
    parts.push(fromUtf8.decode(bytes.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  const [subject, msgId, stream] = parts as [string, string, string];
  return { subject, msgId, stream, items, payload: bytes.subarray(at) };
}

// ---------------------------------------------------------------------------------------
// The generic durable publisher.

/** Sends one message; resolves when the server stored it (`duplicate`: it already had it). */
export type PublishFn = (message: OutboundMessage, timeoutMs: number) => Promise<{ duplicate: boolean }>;

/** Options of a {@link DurablePublisher}. */
export interface DurablePublisherOptions {
  /** Publishes outstanding at once. Default 64; an integer in [1, 4096]. */
  maxInFlight?: number;
  /** How long to wait for the server's ack of one publish, ms. Default 5000; in [100, 600000]. */
  publishTimeoutMs?: number;
  /** Pause before resending after a failed publish while connected, ms; doubles per failed retry. Default 250; in [1, 60000]. */
  retryDelayMs?: number;
  /** Upper bound of that pause, ms. Default 10000; in [retryDelayMs, 600000]. */
  maxRetryDelayMs?: number;
  /** True for an error that resending cannot cure (a message too large): the message is dropped and counted. Default: none is. */
  isPermanent?: (err: unknown) => boolean;
  /** Receives {@link PublishFailedError}s (the first of each run of failures, and every drop). Default: ignore. */
  onError?: (err: AgentError) => void;
}

export interface ResolvedDurablePublisherOptions {
  readonly maxInFlight: number;
  readonly publishTimeoutMs: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly isPermanent: (err: unknown) => boolean;
  readonly onError: (err: AgentError) => void;
}

export const DURABLE_PUBLISHER_DEFAULTS = {
  maxInFlight: 64,
  publishTimeoutMs: 5000,
  retryDelayMs: 250,
  maxRetryDelayMs: 10_000,
} as const;

function integerIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(field, `${field} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming field, range and value. */
export function resolveDurablePublisherOptions(
  raw: DurablePublisherOptions,
): ResolvedDurablePublisherOptions {
  const d = DURABLE_PUBLISHER_DEFAULTS;
  const retryDelayMs = integerIn('retryDelayMs', raw.retryDelayMs ?? d.retryDelayMs, 1, 60_000);
  return {
    maxInFlight: integerIn('maxInFlight', raw.maxInFlight ?? d.maxInFlight, 1, 4096),
    publishTimeoutMs: integerIn('publishTimeoutMs', raw.publishTimeoutMs ?? d.publishTimeoutMs, 100, 600_000),
    retryDelayMs,
    maxRetryDelayMs: integerIn(
      'maxRetryDelayMs',
      raw.maxRetryDelayMs ?? Math.max(d.maxRetryDelayMs, retryDelayMs),
      retryDelayMs,
      600_000,
    ),
    isPermanent: raw.isPermanent ?? (() => false),
    onError: raw.onError ?? (() => {}),
  };
}

/** What {@link DurablePublisher.enqueue} did with a message. */
export type EnqueueResult =
  | { readonly ok: true; readonly seq: number }
  | { readonly ok: false; readonly reason: 'full' | 'write-failed' };

/** Counters and gauges of a {@link DurablePublisher}. Counters are since it was created. */
export interface DurablePublisherStats {
  readonly connected: boolean;
  /** Publishes sent and not yet settled. */
  readonly inFlight: number;
  /** Messages in the spool not yet acknowledged (in flight included), and their items and bytes. */
  readonly pendingMessages: number;
  readonly pendingItems: number;
  readonly pendingBytes: number;
  readonly enqueued: number;
  /** Messages the spool refused (full or disk error), and their items. */
  readonly refused: number;
  readonly itemsRefused: number;
  /** Messages the server acknowledged (each counted once), and their items. */
  readonly published: number;
  readonly itemsPublished: number;
  /** Acks that said the server already had the message: replays absorbed by deduplication. */
  readonly duplicates: number;
  /** Publishes that failed (each attempt counts). */
  readonly failures: number;
  /** Messages stored while an earlier one had been rejected: they are ahead of it in the stream. */
  readonly outOfOrder: number;
  /** Messages dropped because resending could not help, and their items. */
  readonly dropped: number;
  readonly itemsDropped: number;
}

/**
 * Sends what its spool holds, oldest first, with up to `maxInFlight` publishes outstanding,
 * and acknowledges records in the spool only once the server stored them. The owner tells
 * it when the connection comes and goes ({@link setConnected}).
 */
export class DurablePublisher {
  readonly options: ResolvedDurablePublisherOptions;
  private connected = false;
  private stopped = false;
  /** Bumped whenever outstanding sends are written off; their late results are then only facts about storage. */
  private epoch = 0;
  private inFlight = 0;
  /** Highest spool seq handed to the transport in this epoch. */
  private sentThrough: number;
  /** One at a time until the first ack after a (re)connect or failure. */
  private probing = true;
  private recovering = false;
  private retryAttempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Seqs the server stored that are not yet at the spool's head (acks arrive out of order). */
  private readonly stored = new Set<number>();
  private readonly drainWaiters = new Set<() => void>();
  private pendingItems = 0;
  private failureRun = false;
  /** Lowest seq the server rejected (not merely timed out) in this epoch. */
  private rejectedSeq: number | undefined;
  private readonly counters = {
    enqueued: 0,
    refused: 0,
    itemsRefused: 0,
    published: 0,
    itemsPublished: 0,
    duplicates: 0,
    failures: 0,
    outOfOrder: 0,
    dropped: 0,
    itemsDropped: 0,
  };

  constructor(
    readonly spool: Spool,
    private readonly publish: PublishFn,
    options: DurablePublisherOptions = {},
  ) {
    this.options = resolveDurablePublisherOptions(options);
    this.sentThrough = this.restartPoint();
    for (let r = spool.peekAfter(0); r; r = spool.peekAfter(r.seq)) {
      try {
        this.pendingItems += decodeEnvelope(r.payload).items;
      } catch {
        // counted when it comes up for sending
      }
    }
  }

  /** The seq the next enqueued message gets. */
  get nextSeq(): number {
    return this.spool.nextSeq;
  }

  /**
   * Writes `message` to the spool as record `seq`, which must be {@link nextSeq} (callers
   * put the seq into the message), and sends it when its turn comes. Never throws for
   * lack of space: a refusal is returned and counted.
   */
  enqueue(seq: number, message: OutboundMessage): EnqueueResult {
    if (seq !== this.spool.nextSeq) {
      throw new RangeError(`enqueue expected seq ${this.spool.nextSeq}, got ${seq}`);
    }
    const r = this.spool.append(encodeEnvelope(message));
    if (!r.ok) {
      this.counters.refused++;
      this.counters.itemsRefused += message.items;
      return { ok: false, reason: r.reason };
    }
    this.counters.enqueued++;
    this.pendingItems += message.items;
    this.pump();
    return r;
  }

  /** Tells the publisher whether the connection is up. Going down writes off what is in flight. */
  setConnected(connected: boolean): void {
    if (this.stopped || connected === this.connected) return;
    this.connected = connected;
    if (connected) {
      this.pump();
      return;
    }
    // Replies to what is in flight can no longer arrive, and the client discards what it
    // had not written yet: start again from the oldest unacknowledged record.
    this.restartEpoch();
    this.recovering = false;
    this.retryAttempt = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Resolves true once the spool is empty, false if `timeoutMs` passes first or the publisher stops. */
  waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.spool.length === 0) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (drained: boolean): void => {
        clearTimeout(timer);
        this.drainWaiters.delete(check);
        resolve(drained);
      };
      const check = (): void => {
        if (this.spool.length === 0) done(true);
        else if (this.stopped) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.drainWaiters.add(check);
    });
  }

  /** Stops sending; results of outstanding publishes are ignored. The spool is left open to its owner. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const check of [...this.drainWaiters]) check();
  }

  stats(): DurablePublisherStats {
    return {
      connected: this.connected,
      inFlight: this.inFlight,
      pendingMessages: this.spool.length,
      // A record skipped as corrupt takes its unknown item count with it: empty means none.
      pendingItems: this.spool.length === 0 ? 0 : this.pendingItems,
      pendingBytes: this.spool.bytes,
      ...this.counters,
    };
  }

  private restartPoint(): number {
    return (this.spool.firstSeq ?? this.spool.nextSeq) - 1;
  }

  private restartEpoch(): void {
    this.epoch++;
    this.rejectedSeq = undefined;
    this.inFlight = 0;
    this.sentThrough = this.restartPoint();
    this.probing = true;
  }

  private pump(): void {
    if (this.stopped || !this.connected || this.recovering) return;
    const window = this.probing ? 1 : this.options.maxInFlight;
    while (this.inFlight < window) {
      const record = this.spool.peekAfter(this.sentThrough);
      if (record === undefined) return;
      this.sentThrough = record.seq;
      if (this.stored.has(record.seq)) continue;
      let message: OutboundMessage;
      try {
        message = decodeEnvelope(record.payload);
      } catch (err) {
        this.finish(record.seq, 0, 'dropped');
        this.options.onError(new PublishFailedError('?', `spool record ${record.seq}`, true, { cause: err }));
        continue;
      }
      this.send(record.seq, message);
    }
  }

  private send(seq: number, message: OutboundMessage): void {
    const epoch = this.epoch;
    this.inFlight++;
    let sent: Promise<{ duplicate: boolean }>;
    try {
      sent = this.publish(message, this.options.publishTimeoutMs);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (ack) => this.onStored(seq, message, ack.duplicate, epoch),
      (err: unknown) => this.onFailed(seq, message, err, epoch),
    );
  }

  private onStored(seq: number, message: OutboundMessage, duplicate: boolean, epoch: number): void {
    if (this.stopped) return;
    // A late ack from a written-off epoch is still a fact: the message is stored.
    this.finish(seq, message.items, duplicate ? 'duplicate' : 'published');
    if (epoch === this.epoch) {
      if (!duplicate && this.rejectedSeq !== undefined && seq > this.rejectedSeq) this.counters.outOfOrder++;
      this.inFlight--;
      this.probing = false;
      this.retryAttempt = 0;
      this.failureRun = false;
      if (this.recovering && this.inFlight === 0) this.scheduleRetry();
    }
    this.pump();
  }

  private onFailed(seq: number, message: OutboundMessage, err: unknown, epoch: number): void {
    if (this.stopped || epoch !== this.epoch) return;
    this.inFlight--;
    this.counters.failures++;
    if (this.options.isPermanent(err)) {
      this.finish(seq, message.items, 'dropped');
      this.options.onError(new PublishFailedError(message.subject, message.msgId, true, { cause: err }));
      if (this.recovering && this.inFlight === 0) this.scheduleRetry();
      this.pump();
      return;
    }
    // A timed-out publish may well be stored (its ack was lost); a rejected one is not.
    if ((err as Error | undefined)?.name !== 'TimeoutError') {
      this.rejectedSeq = Math.min(seq, this.rejectedSeq ?? seq);
    }
    if (!this.failureRun) {
      this.failureRun = true;
      this.options.onError(new PublishFailedError(message.subject, message.msgId, false, { cause: err }));
    }
    // Stop sending, let the rest settle, then resend from the oldest unacknowledged.
    this.recovering = true;
    if (this.inFlight === 0) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.restartEpoch();
    const delay = Math.min(this.options.retryDelayMs * 2 ** this.retryAttempt, this.options.maxRetryDelayMs);
    this.retryAttempt++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.recovering = false;
      this.pump();
    }, delay);
  }

  /** Records that `seq` is done with and acknowledges the spool's head as far as it can. */
  private finish(seq: number, items: number, how: 'published' | 'duplicate' | 'dropped'): void {
    const head = this.spool.firstSeq;
    if (head === undefined || seq < head || this.stored.has(seq)) return; // already done
    this.stored.add(seq);
    this.pendingItems -= items;
    if (how === 'dropped') {
      this.counters.dropped++;
      this.counters.itemsDropped += items;
    } else {
      this.counters.published++;
      this.counters.itemsPublished += items;
      if (how === 'duplicate') this.counters.duplicates++;
    }
    let through = 0;
    for (
      let s: number | undefined = head;
      s !== undefined && this.stored.has(s);
      s = this.spool.seqAfter(s)
    ) {
      this.stored.delete(s);
      through = s;
    }
    if (through > 0) {
      this.spool.ack(through);
      if (this.spool.length === 0) for (const check of [...this.drainWaiters]) check();
    }
  }
}

// ---------------------------------------------------------------------------------------
// The typed front: samples and truth windows over one NATS connection.

/** NATS connection settings passed through (auth, TLS, name); the reconnect policy is the publisher's. */
export type PublisherConnectionOptions = Omit<
  ConnectionOptions,
  | 'servers'
  | 'port'
  | 'maxReconnectAttempts'
  | 'waitOnFirstConnect'
  | 'reconnectTimeWait'
  | 'reconnectToServer'
>;

/** Options of a {@link SamplePublisher}. */
export interface SamplePublisherOptions extends Omit<DurablePublisherOptions, 'isPermanent'> {
  /** This agent's id: subject token, msg-id prefix and `SampleBatch.agentId`. Required. */
  agentId: string;
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. Required. */
  servers: string | string[];
  /** Number of sample partitions (as the detectors use). Default 16; an integer in [1, 65536]. */
  partitions?: number;
  /**
   * Where unacknowledged messages wait: sample batches in `<dir>/samples` under
   * `maxSpoolBytes`, truth windows in `<dir>/truth` under `maxTruthSpoolBytes`.
   */
  spool: Omit<SpoolOptions, 'onError'>;
  /** Cap of the truth spool, bytes. Default 16 MiB; an integer in [1 KiB, 2^50]. */
  maxTruthSpoolBytes?: number;
  /** Samples per batch: a batch is sealed when it has this many. Default 500; an integer in [1, 100000]. */
  maxBatchSamples?: number;
  /** Longest a sample waits in an open batch, ms. Default 1000; an integer in [1, 60000]. */
  maxBatchDelayMs?: number;
  /**
   * Largest encoded batch, bytes: a bigger one is split in halves (NATS' default
   * max_payload is 1 MiB). Default 900000; an integer in [1 KiB, 64 MiB].
   */
  maxBatchBytes?: number;
  /** Pause between reconnect attempts, ms. Reconnects never give up. Default 2000; an integer in [10, 600000]. */
  reconnectTimeWaitMs?: number;
  /** How long close() waits for the spool to drain while connected, ms. Default 5000; an integer in [0, 600000]. */
  closeTimeoutMs?: number;
  /** Extra NATS connection options (auth, TLS, client name). Default none. */
  connection?: PublisherConnectionOptions;
  /** Clock for `SampleBatch.sentUnixNano`, ns since the epoch. Default the wall clock. */
  clock?: () => bigint;
  /**
   * Receives every failure the publisher survives: spool write errors, a full spool, skipped
   * corrupt spool data, failed publishes, connection failures, data handed in after close.
   * Default: ignore.
   */
  onError?: (err: AgentError) => void;
}

export interface ResolvedSamplePublisherOptions extends ResolvedDurablePublisherOptions {
  readonly agentId: string;
  readonly servers: string[];
  readonly partitions: number;
  readonly spoolDir: string;
  readonly maxSpoolBytes: number;
  readonly maxTruthSpoolBytes: number;
  readonly segmentBytes: number;
  readonly maxBatchSamples: number;
  readonly maxBatchDelayMs: number;
  readonly maxBatchBytes: number;
  readonly reconnectTimeWaitMs: number;
  readonly closeTimeoutMs: number;
  readonly connection: PublisherConnectionOptions;
  readonly clock: () => bigint;
}

export const SAMPLE_PUBLISHER_DEFAULTS = {
  maxTruthSpoolBytes: 16 * 1024 * 1024,
  maxBatchSamples: 500,
  maxBatchDelayMs: 1000,
  maxBatchBytes: 900_000,
  reconnectTimeWaitMs: 2000,
  closeTimeoutMs: 5000,
} as const;

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming field, range and value. */
export function resolveSamplePublisherOptions(raw: SamplePublisherOptions): ResolvedSamplePublisherOptions {
  const d = SAMPLE_PUBLISHER_DEFAULTS;
  if (typeof raw.agentId !== 'string' || !/^[^\s.*>]+$/.test(raw.agentId)) {
    throw new InvalidOptionsError(
      'agentId',
      `agentId must be a non-empty NATS subject token (no '.', '*', '>' or whitespace), got ${JSON.stringify(raw.agentId)}`,
    );
  }
  const servers = typeof raw.servers === 'string' ? [raw.servers] : [...(raw.servers ?? [])];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new InvalidOptionsError(
      'servers',
      `servers must be one or more NATS URLs, got ${JSON.stringify(raw.servers)}`,
    );
  }
  const spool = resolveSpoolOptions(raw.spool ?? { dir: '' });
  return {
    ...resolveDurablePublisherOptions(raw),
    agentId: raw.agentId,
    servers,
    partitions: integerIn('partitions', raw.partitions ?? DEFAULT_PARTITIONS, 1, 65_536),
    spoolDir: spool.dir,
    maxSpoolBytes: spool.maxSpoolBytes,
    segmentBytes: spool.segmentBytes,
    maxTruthSpoolBytes: integerIn(
      'maxTruthSpoolBytes',
      raw.maxTruthSpoolBytes ?? d.maxTruthSpoolBytes,
      1024,
      2 ** 50,
    ),
    maxBatchSamples: integerIn('maxBatchSamples', raw.maxBatchSamples ?? d.maxBatchSamples, 1, 100_000),
    maxBatchDelayMs: integerIn('maxBatchDelayMs', raw.maxBatchDelayMs ?? d.maxBatchDelayMs, 1, 60_000),
    maxBatchBytes: integerIn('maxBatchBytes', raw.maxBatchBytes ?? d.maxBatchBytes, 1024, 64 * 1024 * 1024),
    reconnectTimeWaitMs: integerIn(
      'reconnectTimeWaitMs',
      raw.reconnectTimeWaitMs ?? d.reconnectTimeWaitMs,
      10,
      600_000,
    ),
    closeTimeoutMs: integerIn('closeTimeoutMs', raw.closeTimeoutMs ?? d.closeTimeoutMs, 0, 600_000),
    connection: raw.connection ?? {},
    clock: raw.clock ?? nowUnixNano,
  };
}

/** Counters and gauges of a {@link SamplePublisher} for `/metrics`. Counters are since it was opened. */
export interface SamplePublisherStats {
  readonly connected: boolean;
  /** Samples handed to {@link SamplePublisher.publish}. */
  readonly samplesTaken: number;
  /** Samples the server acknowledged (replays from an earlier run included). */
  readonly samplesPublished: number;
  /** Samples in the spool, not yet acknowledged (in flight included). */
  readonly samplesSpooled: number;
  /** Samples in the open batch, not yet spooled. */
  readonly samplesBuffered: number;
  /** Samples lost: spool full, disk error, dropped as unpublishable, or handed in after close. */
  readonly samplesLost: number;
  readonly batchesSealed: number;
  readonly batchesPublished: number;
  readonly batchesLost: number;
  readonly batchesInFlight: number;
  readonly batchesSpooled: number;
  /** Batch acks that said the stream already had it: replays absorbed by deduplication. */
  readonly batchesDuplicate: number;
  /** Failed publish attempts (they are retried). */
  readonly publishFailures: number;
  /**
   * Batches stored ahead of an earlier one that the server rejected while they were in
   * flight (see the module comment); 0 unless the server rejects publishes mid-stream.
   */
  readonly batchesOutOfOrder: number;
  /** Bytes of unacknowledged sample batches in the spool (what `maxSpoolBytes` caps). */
  readonly spoolBytes: number;
  readonly truthTaken: number;
  readonly truthPublished: number;
  readonly truthSpooled: number;
  readonly truthLost: number;
  /**
   * Refusals by the NATS server: connection attempts whose credentials it refused, and
   * publishes its permissions did not allow (each attempt counts). Nothing refused is lost:
   * it stays in the spool and is retried.
   */
  readonly natsRefusals: number;
}

/** Errors that resending cannot cure: the message is too large for the client or the stream. */
function isPermanentPublishError(err: unknown): boolean {
  if (err instanceof InvalidArgumentError) return true;
  // 10054: message size exceeds maximum allowed; 10097: header size exceeds maximum allowed.
  return err instanceof JetStreamApiError && (err.code === 10054 || err.code === 10097);
}

/**
 * Publishes one agent's samples (batched) and truth windows to JetStream, durably. See the
 * module comment for the guarantees. Open with {@link SamplePublisher.open}.
 */
export class SamplePublisher implements AsyncDisposable {
  readonly options: ResolvedSamplePublisherOptions;
  readonly partition: number;
  readonly subject: string;
  private readonly sampleSpool: Spool;
  private readonly truthSpool: Spool;
  private readonly samples: DurablePublisher;
  private readonly truth: DurablePublisher;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private batch: Sample[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  /** No more data is accepted. */
  private closing = false;
  /** The connection is being torn down: stop reconnecting. */
  private disconnecting = false;
  private closed: Promise<void> | undefined;
  private closedReported = false;
  private readonly counters = {
    samplesTaken: 0,
    samplesLostLocally: 0,
    batchesSealed: 0,
    batchesLost: 0,
    truthTaken: 0,
    truthLost: 0,
    natsRefusals: 0,
  };
  /** Connection attempts that failed in a row, for the back-off of the next. */
  private connectFailures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(options: ResolvedSamplePublisherOptions) {
    this.options = options;
    this.partition = partitionOf(options.agentId, options.partitions);
    this.subject = subjects.samples(this.partition, options.agentId);
    const onError = options.onError;
    const publish: PublishFn = (m, timeoutMs) => {
      const js = this.js;
      if (js === undefined) return Promise.reject(new Error('not connected to NATS'));
      return js
        .publish(m.subject, m.payload, {
          msgID: m.msgId,
          expect: { streamName: m.stream },
          timeout: timeoutMs,
        })
        .catch((err: unknown) => {
          const refused = natsRefusalOf(err, this.options.servers.join(','));
          if (refused === undefined) throw err;
          this.counters.natsRefusals++;
          throw refused;
        });
    };
    const durable = { ...options, isPermanent: isPermanentPublishError };
    this.sampleSpool = Spool.open({
      dir: join(options.spoolDir, 'samples'),
      maxSpoolBytes: options.maxSpoolBytes,
      segmentBytes: options.segmentBytes,
      onError,
    });
    try {
      this.truthSpool = Spool.open({
        dir: join(options.spoolDir, 'truth'),
        maxSpoolBytes: options.maxTruthSpoolBytes,
        segmentBytes: options.segmentBytes,
        onError,
      });
    } catch (err) {
      this.sampleSpool.close();
      throw err;
    }
    this.samples = new DurablePublisher(this.sampleSpool, publish, durable);
    this.truth = new DurablePublisher(this.truthSpool, publish, durable);
  }

  /**
   * Opens the spools (replaying whatever an earlier run left) and starts connecting to NATS
   * in the background: the publisher accepts data at once, even while NATS is down.
   * Throws {@link InvalidOptionsError} or a spool open error (a startup error).
   */
  static open(options: SamplePublisherOptions): SamplePublisher {
    const publisher = new SamplePublisher(resolveSamplePublisherOptions(options));
    publisher.connect();
    return publisher;
  }

  /** Whether the NATS connection is up. */
  get connected(): boolean {
    return this.samples.stats().connected;
  }

  /**
   * Adds `sample` to the open batch (it must not be changed afterwards). Never throws: if
   * the spool cannot take the batch, its samples are counted as lost.
   */
  publish(sample: Sample): void {
    if (this.closing) {
      this.counters.samplesLostLocally++;
      this.reportClosed('a sample');
      return;
    }
    this.counters.samplesTaken++;
    this.batch.push(sample);
    if (this.batch.length >= this.options.maxBatchSamples) {
      this.flushBatch();
    } else if (this.batchTimer === undefined) {
      this.batchTimer = setTimeout(() => this.flushBatch(), this.options.maxBatchDelayMs);
      this.batchTimer.unref();
    }
  }

  /**
   * Publishes a truth window on `fl.truth.<experiment>.<agent>` with msg id
   * `truth:<injection>:start` (no end yet) or `truth:<injection>:end`. Never throws for
   * lack of NATS or disk (a refusal is counted); throws InvalidSubjectTokenError when
   * `experimentId` is not a subject token.
   */
  publishTruth(truth: TruthWindow): void {
    if (this.closing) {
      this.counters.truthLost++;
      this.reportClosed('a truth window');
      return;
    }
    const subject = subjects.truth(truth.experimentId, this.options.agentId);
    this.counters.truthTaken++;
    const edge = truth.actualEndUnixNano === 0n ? 'start' : 'end';
    const r = this.truth.enqueue(this.truth.nextSeq, {
      subject,
      msgId: `truth:${truth.injectionId}:${edge}`,
      stream: StreamName.Truth,
      items: 1,
      payload: encodeTruthWindow(truth),
    });
    if (!r.ok) this.counters.truthLost++;
  }

  /** Seals the open batch now (it is sealed anyway after maxBatchSamples or maxBatchDelayMs). */
  flushBatch(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch.length === 0) return;
    const samples = this.batch;
    this.batch = [];
    this.seal(samples);
  }

  /** Resolves true once every sealed batch and truth window is acknowledged, false after `timeoutMs`. */
  async waitDrained(timeoutMs: number): Promise<boolean> {
    const [a, b] = await Promise.all([
      this.samples.waitDrained(timeoutMs),
      this.truth.waitDrained(timeoutMs),
    ]);
    return a && b;
  }

  stats(): SamplePublisherStats {
    const s = this.samples.stats();
    const t = this.truth.stats();
    return {
      connected: s.connected,
      samplesTaken: this.counters.samplesTaken,
      samplesPublished: s.itemsPublished,
      samplesSpooled: s.pendingItems,
      samplesBuffered: this.batch.length,
      samplesLost: this.samplesLost(),
      batchesSealed: this.counters.batchesSealed,
      batchesPublished: s.published,
      batchesLost: this.counters.batchesLost + s.dropped,
      batchesInFlight: s.inFlight,
      batchesSpooled: s.pendingMessages,
      batchesDuplicate: s.duplicates,
      publishFailures: s.failures + t.failures,
      batchesOutOfOrder: s.outOfOrder,
      spoolBytes: s.pendingBytes,
      truthTaken: this.counters.truthTaken,
      truthPublished: t.itemsPublished,
      truthSpooled: t.pendingItems,
      truthLost: this.counters.truthLost + t.itemsDropped,
      natsRefusals: this.counters.natsRefusals,
    };
  }

  /**
   * Seals the open batch, waits up to `closeTimeoutMs` for the spools to drain (only while
   * connected), then closes the spools and the connection. Whatever was not acknowledged
   * stays in the spool for the next start. Idempotent.
   */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private samplesLost(): number {
    const s = this.samples.stats();
    return this.counters.samplesLostLocally + s.itemsRefused + s.itemsDropped;
  }

  private seal(samples: Sample[]): void {
    const seq = this.samples.nextSeq;
    const batch: SampleBatch = {
      agentId: this.options.agentId,
      seq: BigInt(seq),
      partition: this.partition,
      sentUnixNano: this.options.clock(),
      samples,
      lostSamplesTotal: BigInt(this.samplesLost()),
    };
    const payload = encodeSampleBatch(batch);
    if (payload.length > this.options.maxBatchBytes && samples.length > 1) {
      const half = samples.length >>> 1;
      this.seal(samples.slice(0, half));
      this.seal(samples.slice(half));
      return;
    }
    this.counters.batchesSealed++;
    const r = this.samples.enqueue(seq, {
      subject: this.subject,
      msgId: sampleBatchMsgId(this.options.agentId, seq, this.sampleSpool.createdUnixMs),
      stream: StreamName.Samples,
      items: samples.length,
      payload,
    });
    if (!r.ok) this.counters.batchesLost++;
  }

  private reportClosed(what: string): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.options.onError(new PublisherClosedError(what));
  }

  private setConnected(connected: boolean): void {
    this.samples.setConnected(connected);
    this.truth.setConnected(connected);
  }

  /**
   * Connects in the background. An attempt that fails for good (the server refused the
   * credentials twice in a row, or the connection was closed by the server) is reported and
   * tried again after a back-off, doubling from `reconnectTimeWaitMs` up to a minute, so that
   * fixed or rotated credentials are picked up without a restart; the spool keeps everything
   * meanwhile.
   */
  private connect(): void {
    if (this.disconnecting) return;
    const { connection, servers } = this.options;
    connect({
      name: `faultline-agent/${this.options.agentId}`,
      // Async stack traces cost an Error per request: a tenth of the CPU of a busy publisher.
      noAsyncTraces: true,
      ...connection,
      servers,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      reconnectTimeWait: this.options.reconnectTimeWaitMs,
      // The documented way to stop a connect that has not succeeded yet: throwing here
      // ends the dial loop.
      reconnectToServer: () => {
        if (this.disconnecting) throw new Error('the publisher is closing');
        return null;
      },
    }).then(
      (nc) => this.attach(nc),
      (err: unknown) => this.connectFailed(err),
    );
  }

  private connectFailed(err: unknown): void {
    if (this.disconnecting) return;
    const server = this.options.servers.join(',');
    const refused = natsRefusalOf(err, server);
    if (refused !== undefined) this.counters.natsRefusals++;
    this.options.onError(
      refused !== undefined
        ? new NatsRefusalError(server, refused.message, { cause: refused })
        : new NatsConnectionError(server, { cause: err }),
    );
    const delay = Math.min(this.options.reconnectTimeWaitMs * 2 ** this.connectFailures, 60_000);
    this.connectFailures = Math.min(this.connectFailures + 1, 30);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private attach(nc: NatsConnection): void {
    if (this.disconnecting) {
      void nc.close().catch(() => {});
      return;
    }
    this.nc = nc;
    this.js = jetstream(nc, { timeout: this.options.publishTimeoutMs });
    this.connectFailures = 0;
    void this.watch(nc);
    void nc.closed().then((err) => {
      this.setConnected(false);
      if (this.nc === nc) {
        this.nc = undefined;
        this.js = undefined;
      }
      // Closed for good while still wanted (reconnects never give up, so the server refused
      // the credentials): start over, as after a failed connect.
      if (!this.disconnecting) this.connectFailed(err ?? new Error('the connection was closed'));
    });
    this.setConnected(true);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.setConnected(false);
      else if (status.type === 'reconnect') this.setConnected(true);
    }
  }

  private async doClose(): Promise<void> {
    this.flushBatch();
    this.closing = true;
    if (this.connected) await this.waitDrained(this.options.closeTimeoutMs);
    this.disconnecting = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.samples.stop();
    this.truth.stop();
    this.sampleSpool.close();
    this.truthSpool.close();
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    if (nc) await nc.close().catch(() => {});
  }
}
