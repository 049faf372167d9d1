/**
 * One partition's worker: restores the partition's hosts from their checkpoints, consumes
 * `fl.samples.<p>.*` through the partition's durable pull consumer, scores every sample with
 * its host's {@link HostDetector}, publishes the scores and anomaly events, acks, and
 * checkpoints periodically. It runs while its replica holds the partition's lease.
 *
 * Exactly-once outputs
 * --------------------
 * A message is acked only after its outputs are stored (their publish acks returned). Outputs
 * carry deterministic JetStream message ids, `score:<host>:<first>-<last>` (the message's first
 * host and that host's sequence range in it) and `event:<eventId>:<transition>`, and
 * checkpoints are consistent cuts: the marker's stream sequence S is written after every output
 * of every message up to S is stored, together with the state of every host as of S. A new
 * owner restores that state, recreates the consumer from S + 1 and scores the messages after
 * S again; the same state and the same samples give the same outputs with the same ids, which
 * the streams drop as duplicates (within their duplicate window), so after a failover every
 * sample is still scored exactly once.
 *
 * Batching
 * --------
 * Messages are queued as they arrive and scored in groups: everything queued when the worker
 * gets to it (up to `maxBatchMessages`), host by host. A host's state depends only on its own
 * samples in order, so the results are those of one message at a time; but a simulator's
 * batch carries one sample of each of many hosts, and scoring a host's samples of several
 * messages together ({@link HostDetector.scoreAll}) fetches its model from memory once for all
 * of them. Under backlog the groups grow and so does the throughput; when the partition is
 * quiet each message is scored as it comes.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  decodeSampleBatch,
  encodeAnomalyEvent,
  encodeScoreBatch,
  isMalformedMessageError,
  StreamName,
  subjects,
  type Sample,
  type SampleBatch,
  type Score,
} from '@faultline/protocol';
import type { Logger } from 'pino';

import { AnomalyEventTransitionKind, runTag, type AnomalyEventTransition } from '../anomaly-events.js';
import { LeaseLostError, isDetectorError } from '../errors.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { publishDeadLetter } from './dead-letter.js';
import { HostDetector, type ResolvedHostDetectorOptions } from './host-detector.js';
import type { HeldLease } from './partition-leases.js';
import type { RunnerMetrics } from './runner-metrics.js';

/** What a worker needs to know (resolved by the runner). */
export interface PartitionWorkerConfig {
  readonly group: string;
  readonly replicaId: string;
  readonly partition: number;
  readonly detector: ResolvedHostDetectorOptions;
  /** Consumer max_ack_pending, messages. */
  readonly maxAckPending: number;
  /** Consumer ack_wait, ms. */
  readonly ackWaitMs: number;
  /** Messages requested per pull. */
  readonly fetchBatch: number;
  /** Most queued messages scored as one group. */
  readonly maxBatchMessages: number;
  /** How long the oldest queued message may wait for others to join its group, ms. */
  readonly batchLingerMs: number;
  /** Messages whose outputs may be in flight before the worker waits. */
  readonly maxInFlight: number;
  /** Time between checkpoints, ms. */
  readonly checkpointIntervalMs: number;
  /** Scores per ScoreBatch message; a message with more samples is split. */
  readonly maxScoresPerMessage: number;
}

/** The worker's collaborators. */
export interface PartitionWorkerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly store: CheckpointStore;
  readonly lease: HeldLease;
  readonly metrics: RunnerMetrics;
  readonly log: Logger;
  /** Local clock, ms since the epoch. */
  readonly now: () => number;
}

/** The durable consumer name of a partition. */
export function partitionConsumerName(group: string, partition: number): string {
  return `${group}-p${partition}`;
}

/** The message id of the ScoreBatch (chunk `chunk`) of a sample batch; see the module comment. */
export function scoreBatchMsgId(batch: SampleBatch, chunk = 0): string | undefined {
  const first = batch.samples[0];
  if (first === undefined) return undefined;
  let lo = first.seq;
  let hi = first.seq;
  for (const s of batch.samples) {
    if (s.hostId !== first.hostId) continue;
    if (s.seq < lo) lo = s.seq;
    if (s.seq > hi) hi = s.seq;
  }
  return `score:${first.hostId}:${runTag(first.agentStartUnixNano)}${lo}-${hi}${chunk > 0 ? `#${chunk}` : ''}`;
}

/** The message id of an event transition: `event:<id>:opened|closed`, `event:<id>:updated:<seq>`. */
export function eventMsgId(t: AnomalyEventTransition): string {
  const base = `event:${t.event.eventId}:${t.kind}`;
  return t.kind === AnomalyEventTransitionKind.Updated ? `${base}:${t.seq}` : base;
}

const NS_PER_MS = 1_000_000;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A decoded message on its way through a group. */
interface Pending {
  readonly msg: JsMsg;
  readonly batch: SampleBatch;
  /** Scores by sample index; holes for samples not scored. */
  readonly scores: Array<Score | undefined>;
  readonly transitions: AnomalyEventTransition[];
}

/** One host's samples in a group, in order, with where each came from. */
interface HostSamples {
  readonly samples: Sample[];
  readonly items: Pending[];
  readonly indexes: number[];
}

/** Consumes and scores one partition; see the module comment. */
export class PartitionWorker {
  readonly config: PartitionWorkerConfig;
  readonly #d: PartitionWorkerDeps;
  readonly #hosts = new Map<string, HostDetector>();
  readonly #dirty = new Set<HostDetector>();
  #queue: JsMsg[] = [];
  /** When the oldest message of the queue arrived (local ms). */
  #queuedSinceMs = 0;
  #inflight: Array<Promise<void>> = [];
  #messages: ConsumerMessages | undefined;
  #pumping: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #failure: unknown;
  #markerRevision = 0;
  #markerSeq = 0;
  #maxStreamSeq = 0;
  #lastCheckpointMs = 0;
  #scoredSinceTick = 0;

  constructor(config: PartitionWorkerConfig, deps: PartitionWorkerDeps) {
    this.config = config;
    this.#d = deps;
  }

  get partition(): number {
    return this.config.partition;
  }

  get lease(): HeldLease {
    return this.#d.lease;
  }

  /** The error that stopped the worker, if one did. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Whether the worker stopped (asked to, or on a failure). */
  get stopped(): boolean {
    return this.#stopping;
  }

  /** The hosts of the partition this worker scores. */
  get hosts(): ReadonlyMap<string, HostDetector> {
    return this.#hosts;
  }

  /** Samples scored since the last call (for the samples/s gauge). */
  takeScoredCount(): number {
    const n = this.#scoredSinceTick;
    this.#scoredSinceTick = 0;
    return n;
  }

  /**
   * Restores the hosts from the partition's checkpoint, fences the marker with this lease's
   * epoch, recreates the consumer from the marker and starts consuming in the background.
   */
  async start(): Promise<void> {
    const { store, lease, log, metrics, js } = this.#d;
    const p = this.partition;
    const marker = await store.readMarker(p);
    if (marker?.malformed !== undefined) {
      log.warn(
        { partition: p, reason: marker.malformed },
        'checkpoint marker unreadable: the partition is replayed from its first message',
      );
    }
    const records = await store.readHosts(p);
    for (const [i, record] of records.entries()) {
      // Refitting restored models is CPU work: let lease renewals and other partitions run.
      if (i % 8 === 7) await yieldToEventLoop();
      try {
        const state: unknown = JSON.parse(new TextDecoder().decode(record.data));
        const host = HostDetector.restore(state, this.config.detector, { detectorId: this.config.replicaId });
        this.#hosts.set(host.hostId, host);
        metrics.hostRestores.inc({ outcome: 'restored' });
      } catch (err) {
        metrics.hostRestores.inc({ outcome: 'malformed' });
        log.warn(
          { err, partition: p, hostId: record.hostId },
          'host checkpoint not restored: the host starts afresh',
        );
      }
    }
    this.#markerSeq = marker?.streamSeq ?? 0;
    this.#maxStreamSeq = this.#markerSeq;
    const revision = await store.writeMarker(
      p,
      { streamSeq: this.#markerSeq, epoch: lease.epoch, owner: this.config.replicaId },
      marker?.revision ?? 0,
    );
    if (revision === undefined) throw new LeaseLostError(p, 'the checkpoint marker moved while claiming');
    this.#markerRevision = revision;
    this.#lastCheckpointMs = this.#d.now();
    await this.#recreateConsumer(this.#markerSeq + 1);
    const consumer = await js.consumers.get(StreamName.Samples, partitionConsumerName(this.config.group, p));
    const messages = await consumer.consume({
      max_messages: this.config.fetchBatch,
      callback: (m) => this.#enqueue(m),
    });
    this.#messages = messages;
    void (async () => {
      for await (const status of messages.status()) {
        if (status.type !== 'heartbeat' && status.type !== 'next') {
          log.debug({ partition: p, status }, 'consumer status');
        }
      }
    })();
    void messages.closed().then((err) => {
      if (!this.#stopping) this.#fail(err ?? new Error(`the consumer of partition ${p} stopped`));
    });
    // Checkpoints also come due while the partition is quiet.
    this.#timer = setInterval(
      () => this.#kick(),
      Math.max(50, Math.min(1000, this.config.checkpointIntervalMs)),
    );
    this.#timer.unref();
    log.info(
      { partition: p, epoch: lease.epoch, hosts: this.#hosts.size, fromStreamSeq: this.#markerSeq + 1 },
      'partition started',
    );
  }

  /**
   * Stops consuming, finishes the group being scored, waits for the outputs in flight and,
   * when `checkpoint` is set and the lease is still valid, writes a final checkpoint (a clean
   * hand-over: the next owner has nothing to score again).
   */
  async stop(options: { checkpoint: boolean }): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#messages?.close().catch(() => undefined);
    await this.#pumping;
    this.#queue = [];
    try {
      await this.#drain();
      if (options.checkpoint) await this.#checkpoint();
    } catch (err) {
      if (this.#failure === undefined && options.checkpoint) {
        this.#d.metrics.errors.inc({ stage: 'checkpoint' });
        this.#d.log.warn({ err, partition: this.partition }, 'final checkpoint failed');
      }
    }
  }

  async #recreateConsumer(startSeq: number): Promise<void> {
    const { jsm } = this.#d;
    const name = partitionConsumerName(this.config.group, this.partition);
    // The checkpoint, not the consumer's ack floor, says where to resume: start afresh there.
    try {
      await jsm.consumers.delete(StreamName.Samples, name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    await jsm.consumers.add(StreamName.Samples, {
      durable_name: name,
      filter_subject: subjects.samplesPartition(this.partition),
      ack_policy: AckPolicy.Explicit,
      ack_wait: this.config.ackWaitMs * NS_PER_MS,
      max_ack_pending: this.config.maxAckPending,
      ...(startSeq > 1
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
  }

  #enqueue(m: JsMsg): void {
    if (this.#stopping) return;
    if (this.#queue.length === 0) this.#queuedSinceMs = this.#d.now();
    this.#queue.push(m);
    this.#kick();
  }

  /** Starts the pump unless it runs: it scores what is queued, and checkpoints when due. */
  #kick(): void {
    if (this.#pumping !== undefined || this.#stopping) return;
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = undefined;
      if (this.#queue.length > 0 && !this.#stopping) this.#kick();
    });
  }

  async #pump(): Promise<void> {
    // Let the messages that arrive in the same I/O turn join the group.
    await yieldToEventLoop();
    try {
      while (this.#queue.length > 0 && !this.#stopping) {
        const linger = this.config.batchLingerMs - (this.#d.now() - this.#queuedSinceMs);
        if (linger > 0 && this.#queue.length < this.config.maxBatchMessages) {
          await new Promise<void>((resolve) => setTimeout(resolve, linger));
          if (this.#stopping) break;
        }
        const group = this.#queue.splice(0, this.config.maxBatchMessages);
        this.#queuedSinceMs = this.#d.now();
        await this.#process(group);
      }
      if (!this.#stopping && this.#d.now() - this.#lastCheckpointMs >= this.config.checkpointIntervalMs) {
        await this.#checkpoint();
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    if (this.#failure === undefined) this.#failure = err;
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    void this.#messages?.close().catch(() => undefined);
  }

  #assertLease(): void {
    if (this.#d.lease.validUntilMs <= this.#d.now()) {
      throw new LeaseLostError(this.partition, 'the lease was not renewed in time');
    }
  }

  #host(hostId: string): HostDetector {
    let host = this.#hosts.get(hostId);
    if (host === undefined) {
      host = new HostDetector(hostId, this.config.detector, { detectorId: this.config.replicaId });
      this.#hosts.set(hostId, host);
    }
    return host;
  }

  /** Scores a group of messages host by host, then publishes each message's outputs and acks it when stored. */
  async #process(group: JsMsg[]): Promise<void> {
    this.#assertLease();
    const { metrics } = this.#d;
    const pending: Pending[] = [];
    const byHost = new Map<string, HostSamples>();
    for (const m of group) {
      if (m.seq > this.#maxStreamSeq) this.#maxStreamSeq = m.seq;
      let batch: SampleBatch;
      try {
        batch = decodeSampleBatch(m.data);
      } catch (err) {
        if (!isMalformedMessageError(err)) throw err;
        await this.#park(m, err);
        continue;
      }
      const item: Pending = {
        msg: m,
        batch,
        scores: new Array<Score | undefined>(batch.samples.length),
        transitions: [],
      };
      pending.push(item);
      const samples = batch.samples;
      for (let index = 0; index < samples.length; index++) {
        const sample = samples[index] as Sample;
        let list = byHost.get(sample.hostId);
        if (list === undefined) byHost.set(sample.hostId, (list = { samples: [], items: [], indexes: [] }));
        list.samples.push(sample);
        list.items.push(item);
        list.indexes.push(index);
      }
    }

    for (const [hostId, list] of byHost) {
      const host = this.#host(hostId);
      const outcomes = host.scoreAll(list.samples);
      for (let k = 0; k < outcomes.length; k++) {
        const result = outcomes[k];
        if (result === undefined) {
          metrics.samplesSkipped.inc({ reason: 'already_scored' });
          continue;
        }
        if (isDetectorError(result)) {
          metrics.samplesSkipped.inc({ reason: 'error' });
          metrics.errors.inc({ stage: 'sample' });
          this.#d.log.debug(
            { err: result, hostId, seq: String((list.samples[k] as Sample).seq) },
            'sample not scored',
          );
          continue;
        }
        this.#dirty.add(host);
        const item = list.items[k] as Pending;
        item.scores[list.indexes[k] as number] = result.score;
        if (result.fitted !== undefined) metrics.modelFits.inc({ reason: result.fitted });
        for (const t of result.transitions) item.transitions.push(t);
      }
    }

    for (const item of pending) await this.#publish(item);
  }

  /** Parks an undecodable message on the dead-letter subject, then terminates it. */
  async #park(m: JsMsg, err: Error & { reason: string; code: string }): Promise<void> {
    this.#d.metrics.malformedMessages.inc({ partition: String(this.partition) });
    this.#d.log.warn(
      { partition: this.partition, subject: m.subject, streamSeq: m.seq, reason: err.reason },
      'malformed sample batch parked on the dead-letter subject',
    );
    const parked = publishDeadLetter(this.#d.js, {
      stream: StreamName.Samples,
      partition: this.partition,
      subject: m.subject,
      sequence: m.seq,
      data: m.data,
      error: err,
      detectorId: this.config.replicaId,
    });
    await this.#track(parked.then(() => m.term()));
  }

  async #publish(item: Pending): Promise<void> {
    const { js, metrics } = this.#d;
    const outputs: Array<Promise<unknown>> = [];
    const opened: bigint[] = [];
    for (const t of item.transitions) {
      outputs.push(
        js.publish(subjects.anomalies(this.partition), encodeAnomalyEvent(t.event), { msgID: eventMsgId(t) }),
      );
      metrics.eventTransitions.inc({ kind: t.kind });
      if (t.kind === AnomalyEventTransitionKind.Opened) opened.push(t.timeUnixNano);
    }
    const scores = item.scores.filter((s): s is Score => s !== undefined);
    const max = this.config.maxScoresPerMessage;
    for (let at = 0, chunk = 0; at < scores.length; at += max, chunk++) {
      outputs.push(
        js.publish(
          subjects.scores(this.partition),
          encodeScoreBatch({
            detectorId: this.config.replicaId,
            partition: this.partition,
            scores: scores.slice(at, at + max),
          }),
          { msgID: scoreBatchMsgId(item.batch, chunk) as string },
        ),
      );
    }
    metrics.batches.inc();
    metrics.samplesScored.inc(scores.length);
    this.#scoredSinceTick += scores.length;
    const m = item.msg;
    await this.#track(
      Promise.all(outputs).then(() => {
        m.ack();
        if (opened.length > 0) {
          const now = this.#d.now();
          for (const t of opened) metrics.eventOpenDelay.observe((now - Number(t / 1_000_000n)) / 1000);
        }
      }),
    );
  }

  /** Adds a message's pending outputs; waits for the oldest when too many are in flight. */
  async #track(done: Promise<void>): Promise<void> {
    this.#inflight.push(done.catch((err: unknown) => this.#fail(err)));
    if (this.#inflight.length >= this.config.maxInFlight) await this.#inflight.shift();
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #drain(): Promise<void> {
    const pending = this.#inflight;
    this.#inflight = [];
    await Promise.all(pending);
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Writes a consistent cut: every output up to the cut stored, then the dirty hosts, then the marker. */
  async #checkpoint(): Promise<void> {
    await this.#drain();
    const { store, metrics, lease } = this.#d;
    this.#lastCheckpointMs = this.#d.now();
    const cut = this.#maxStreamSeq;
    if (cut === this.#markerSeq && this.#dirty.size === 0) return;
    this.#assertLease();
    const encoder = new TextEncoder();
    const records: Array<{ hostId: string; data: Uint8Array }> = [];
    // Scoring waits for the checkpoint (the pump runs it), so the hosts stay at the cut while
    // the snapshots yield to lease renewals.
    for (const h of this.#dirty) {
      if (records.length % 16 === 15) await yieldToEventLoop();
      records.push({ hostId: h.hostId, data: encoder.encode(JSON.stringify(h.snapshot())) });
    }
    this.#dirty.clear();
    await Promise.all(records.map((r) => store.writeHost(this.partition, r.hostId, r.data)));
    this.#assertLease();
    const revision = await store.writeMarker(
      this.partition,
      { streamSeq: cut, epoch: lease.epoch, owner: this.config.replicaId },
      this.#markerRevision,
    );
    if (revision === undefined) {
      throw new LeaseLostError(this.partition, 'another replica moved the checkpoint marker');
    }
    this.#markerRevision = revision;
    this.#markerSeq = cut;
    metrics.checkpoints.inc();
    metrics.checkpointBytes.inc(records.reduce((n, r) => n + r.data.length, 0));
  }
}
