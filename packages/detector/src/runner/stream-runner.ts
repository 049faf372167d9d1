/**
 * The live detector: a replica of the stream runner claims sample partitions with leases
 * (N replicas split P partitions evenly; a dead replica's partitions are taken over when its
 * leases expire), runs a {@link PartitionWorker} per partition it holds, and reports through
 * {@link RunnerMetrics}. Scores go to `fl.scores.<p>`, anomaly events to `fl.anomalies.<p>`,
 * undecodable messages to `fl.dlq.FL_SAMPLES.<p>`.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 * const runner = new StreamRunner(nc, { replicaId: 'det-0', partitions: 16 });
 * await runner.start();
 * // … on SIGTERM:
 * await runner.stop(); // final checkpoints, leases released
 * await nc.drain();
 * ```
 */
import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  assertSubjectToken,
  DEFAULT_PARTITIONS,
  InvalidSubjectTokenError,
  streamConfigs,
  StreamName,
  type StreamOptions,
} from '@faultline/protocol';
import { pino, type Logger } from 'pino';

import { InvalidOptionsError, isLeaseLostError } from '../errors.js';
import { checkInteger, checkObject, describeValue } from '../option-checks.js';
import { CheckpointStore } from './checkpoint-store.js';
import { ensureDetectorStreams } from './detector-streams.js';
import {
  resolveHostDetectorOptions,
  type HostDetectorOptions,
  type ResolvedHostDetectorOptions,
} from './host-detector.js';
import { LeaseTable, planAssignment, type HeldLease } from './partition-leases.js';
import { PartitionWorker, partitionConsumerName } from './partition-worker.js';
import { RunnerMetrics } from './runner-metrics.js';

/** Options of a {@link StreamRunner}; every field is optional. */
export interface StreamRunnerOptions {
  /** This replica's id, unique in its group; a NATS subject token. Default `<hostname>-<pid>`. */
  replicaId?: string;
  /** Consumer group: the replicas of one group share the partitions. A subject token; default `faultline-detector`. */
  group?: string;
  /** Number of sample partitions (as the agents publish them). Integer in [1, 1024]; default 16. */
  partitions?: number;
  /**
   * Lease TTL, ms: a dead replica's partitions are taken over this long after its last
   * renewal; leases are renewed every third of it. Integer in [300, 600000]; default 10000.
   */
  leaseTtlMs?: number;
  /** Time between checkpoints of a partition, ms. Integer in [100, 3600000]; default 30000. */
  checkpointIntervalMs?: number;
  /** Consumer max_ack_pending, messages. Integer in [1, 100000]; default 256. */
  maxAckPending?: number;
  /** Consumer ack_wait, ms. Integer in [1000, 3600000]; default 30000. */
  ackWaitMs?: number;
  /**
   * Messages requested per pull of one partition. What the pulls of all partitions bring
   * ahead of the scoring must stay well under the server's `max_pending` per client (64 MiB
   * by default), or it cuts the replica off as a slow consumer: with 16 partitions and
   * 40 KiB messages, 16 per pull keep it under 20 MiB. Integer in [1, 10000]; default 16.
   */
  fetchBatch?: number;
  /**
   * Most queued messages a partition scores as one group (host by host, which keeps each
   * host's model in the CPU cache under backlog). Integer in [1, 10000]; default 64.
   */
  maxBatchMessages?: number;
  /**
   * How long a partition lets a message wait for others to join its group, ms: up to this
   * much detection latency for fewer, larger groups (a simulator's batches hold one sample of
   * each of many hosts, and a host's model is only warm in the CPU cache for several samples in
   * a row). 0 scores each message as soon as the partition is free. Integer in [0, 1000];
   * default 20.
   */
  batchLingerMs?: number;
  /** Messages per partition whose outputs may be in flight. Integer in [1, 10000]; default 64. */
  maxInFlight?: number;
  /** Scores per ScoreBatch message. Integer in [1, 100000]; default 1000. */
  maxScoresPerMessage?: number;
  /** Time between consumer lag polls, ms. Integer in [100, 3600000]; default 5000. */
  lagPollMs?: number;
  /** Wait before restarting a failed partition worker, ms. Integer in [0, 600000]; default 1000. */
  restartDelayMs?: number;
  /**
   * Create FL_SAMPLES and the other data-plane streams at start when they do not exist yet
   * (existing streams are left as their operator configured them). Default true.
   */
  ensureStreams?: boolean;
  /** Limits of the data-plane streams and the detector's own (replicas, storage). */
  streams?: StreamOptions;
  /** The per-host pipeline: features, forest, bands, events, training. */
  detector?: HostDetectorOptions;
}

/** {@link StreamRunnerOptions} with defaults applied and validated. */
export interface ResolvedStreamRunnerOptions {
  readonly replicaId: string;
  readonly group: string;
  readonly partitions: number;
  readonly leaseTtlMs: number;
  readonly checkpointIntervalMs: number;
  readonly maxAckPending: number;
  readonly ackWaitMs: number;
  readonly fetchBatch: number;
  readonly maxBatchMessages: number;
  readonly batchLingerMs: number;
  readonly maxInFlight: number;
  readonly maxScoresPerMessage: number;
  readonly lagPollMs: number;
  readonly restartDelayMs: number;
  readonly ensureStreams: boolean;
  readonly streams: StreamOptions;
  readonly detector: ResolvedHostDetectorOptions;
}

const RUNNER_KEYS = [
  'replicaId',
  'group',
  'partitions',
  'leaseTtlMs',
  'checkpointIntervalMs',
  'maxAckPending',
  'ackWaitMs',
  'fetchBatch',
  'maxBatchMessages',
  'batchLingerMs',
  'maxInFlight',
  'maxScoresPerMessage',
  'lagPollMs',
  'restartDelayMs',
  'ensureStreams',
  'streams',
  'detector',
];

/** The default replica id: `<hostname>-<pid>`, with characters a subject token cannot hold replaced by `_`. */
export function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}`.replace(/[\s.*>]/g, '_');
}

function checkToken(field: string, value: unknown): string {
  try {
    if (typeof value !== 'string') throw new InvalidSubjectTokenError(field, String(value));
    return assertSubjectToken(field, value);
  } catch {
    throw new InvalidOptionsError(
      field,
      `${field} must be a non-empty NATS subject token (no '.', '*', '>' or whitespace), got ${describeValue(value)}`,
    );
  }
}

/** Applies the defaults of {@link StreamRunnerOptions} and validates; throws {@link InvalidOptionsError}. */
export function resolveStreamRunnerOptions(raw: StreamRunnerOptions = {}): ResolvedStreamRunnerOptions {
  const o = checkObject(raw, 'options');
  for (const key of Object.keys(o)) {
    if (!RUNNER_KEYS.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown StreamRunner option ${JSON.stringify(key)} (expected one of ${RUNNER_KEYS.join(', ')})`,
      );
    }
  }
  const ensure = o['ensureStreams'] ?? true;
  if (typeof ensure !== 'boolean') {
    throw new InvalidOptionsError(
      'ensureStreams',
      `ensureStreams must be a boolean, got ${describeValue(ensure)}`,
    );
  }
  return Object.freeze({
    replicaId: checkToken('replicaId', o['replicaId'] ?? defaultReplicaId()),
    group: checkToken('group', o['group'] ?? 'faultline-detector'),
    partitions: checkInteger(o['partitions'], DEFAULT_PARTITIONS, 'partitions', 1, 1024),
    leaseTtlMs: checkInteger(o['leaseTtlMs'], 10_000, 'leaseTtlMs', 300, 600_000),
    checkpointIntervalMs: checkInteger(
      o['checkpointIntervalMs'],
      30_000,
      'checkpointIntervalMs',
      100,
      3_600_000,
    ),
    maxAckPending: checkInteger(o['maxAckPending'], 256, 'maxAckPending', 1, 100_000),
    ackWaitMs: checkInteger(o['ackWaitMs'], 30_000, 'ackWaitMs', 1000, 3_600_000),
    fetchBatch: checkInteger(o['fetchBatch'], 16, 'fetchBatch', 1, 10_000),
    maxBatchMessages: checkInteger(o['maxBatchMessages'], 64, 'maxBatchMessages', 1, 10_000),
    batchLingerMs: checkInteger(o['batchLingerMs'], 20, 'batchLingerMs', 0, 1000),
    maxInFlight: checkInteger(o['maxInFlight'], 64, 'maxInFlight', 1, 10_000),
    maxScoresPerMessage: checkInteger(o['maxScoresPerMessage'], 1000, 'maxScoresPerMessage', 1, 100_000),
    lagPollMs: checkInteger(o['lagPollMs'], 5000, 'lagPollMs', 100, 3_600_000),
    restartDelayMs: checkInteger(o['restartDelayMs'], 1000, 'restartDelayMs', 0, 600_000),
    ensureStreams: ensure,
    streams: { ...(checkObject(o['streams'], 'streams') as StreamOptions) },
    detector: resolveHostDetectorOptions(checkObject(o['detector'], 'detector') as HostDetectorOptions),
  });
}

/** What `/healthz` reports. */
export interface RunnerHealth {
  /** Started, connected, and not stopping. */
  readonly ok: boolean;
  readonly replicaId: string;
  readonly connected: boolean;
  /** Partitions with a running worker. */
  readonly partitions: number[];
  readonly hosts: number;
  /** Members of the group as last seen. */
  readonly members: string[];
}

/** Collaborators a runner can be given. */
export interface StreamRunnerDeps {
  /** Logger; default a silent pino logger. */
  log?: Logger;
  /** Metrics; default a new {@link RunnerMetrics} with its own registry. */
  metrics?: RunnerMetrics;
  /** Local clock, ms since the epoch; default Date.now. */
  now?: () => number;
}

interface Slot {
  lease: HeldLease;
  /** The running (or stopped) worker; undefined while starting or after a failed start. */
  worker: PartitionWorker | undefined;
  /** Why the last start failed. */
  startFailure: unknown;
  /** Local time after which a failed worker may be restarted; 0 when none is scheduled. */
  restartAtMs: number;
  /** The worker's start while it runs (restoring many hosts takes a while). */
  starting: Promise<void> | undefined;
  /** Set when the lease was lost: a worker still starting is stopped as soon as it has. */
  lost: boolean;
}

/** A detector replica; see the module comment. */
export class StreamRunner {
  readonly options: ResolvedStreamRunnerOptions;
  readonly metrics: RunnerMetrics;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #js: JetStreamClient;
  #jsm: JetStreamManager | undefined;
  #leases: LeaseTable | undefined;
  #store: CheckpointStore | undefined;
  readonly #slots = new Map<number, Slot>();
  #members: string[] = [];
  #tickTimer: NodeJS.Timeout | undefined;
  #lagTimer: NodeJS.Timeout | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #tickRunning: Promise<void> | undefined;
  #started = false;
  #stopping = false;

  constructor(nc: NatsConnection, options: StreamRunnerOptions = {}, deps: StreamRunnerDeps = {}) {
    this.options = resolveStreamRunnerOptions(options);
    this.#nc = nc;
    this.#log = (deps.log ?? pino({ level: 'silent' })).child({ replicaId: this.options.replicaId });
    this.metrics = deps.metrics ?? new RunnerMetrics();
    this.#now = deps.now ?? Date.now;
    this.#js = jetstream(nc);
    this.metrics.setModelAgeSource(() => this.#modelAges());
  }

  get replicaId(): string {
    return this.options.replicaId;
  }

  /** Partitions with a running worker, ascending. */
  ownedPartitions(): number[] {
    return [...this.#slots.entries()]
      .filter(([, s]) => s.worker !== undefined && !s.worker.stopped)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }

  /** Hosts of the running workers. */
  hostIds(): string[] {
    const out: string[] = [];
    for (const slot of this.#slots.values()) if (slot.worker) out.push(...slot.worker.hosts.keys());
    return out;
  }

  health(): RunnerHealth {
    const connected = !this.#nc.isClosed();
    return {
      ok: this.#started && !this.#stopping && connected,
      replicaId: this.options.replicaId,
      connected,
      partitions: this.ownedPartitions(),
      hosts: this.hostIds().length,
      members: [...this.#members],
    };
  }

  /**
   * Ensures the streams, joins the group and takes a first share of the partitions; then
   * keeps renewing, rebalancing and polling lag in the background until {@link stop}.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    const o = this.options;
    this.#jsm = await jetstreamManager(this.#nc);
    if (o.ensureStreams) await createMissingStreams(this.#jsm, o.streams);
    await ensureDetectorStreams(this.#jsm, {
      leaseTtlMs: o.leaseTtlMs,
      ...(o.streams.replicas === undefined ? {} : { replicas: o.streams.replicas }),
      ...(o.streams.storage === undefined ? {} : { storage: o.streams.storage }),
    });
    this.#leases = new LeaseTable(this.#js, this.#jsm, {
      group: o.group,
      replicaId: o.replicaId,
      partitions: o.partitions,
      leaseTtlMs: o.leaseTtlMs,
      now: this.#now,
    });
    this.#store = new CheckpointStore(this.#js, this.#jsm, o.group);
    this.#started = true;
    void this.#nc.closed().then(() => this.#onConnectionClosed());
    void (async () => {
      for await (const s of this.#nc.status()) {
        if (
          s.type === 'disconnect' ||
          s.type === 'reconnect' ||
          s.type === 'error' ||
          s.type === 'slowConsumer'
        ) {
          this.#log.warn({ status: s }, `NATS connection: ${s.type}`);
        }
      }
    })();
    await this.#tick();
    // The first share is running when start resolves.
    await Promise.all([...this.#slots.values()].map((slot) => slot.starting));
    this.#scheduleTick();
    this.#lagTimer = setInterval(() => void this.#pollLag(), o.lagPollMs);
    this.#lagTimer.unref();
    this.#rateTimer = setInterval(() => this.#updateRate(), 1000);
    this.#rateTimer.unref();
    this.#log.info(
      { group: o.group, partitions: o.partitions, leaseTtlMs: o.leaseTtlMs },
      'detector runner started',
    );
  }

  /**
   * Leaves cleanly: stops every worker after a final checkpoint, releases the leases and
   * removes the heartbeat, so the other replicas take the partitions over at once. The NATS
   * connection is left to the caller (drain it afterwards).
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#clearTimers();
    await this.#tickRunning;
    const leases = this.#leases;
    await Promise.all(
      [...this.#slots.entries()].map(async ([p, slot]) => {
        await slot.starting;
        await slot.worker?.stop({ checkpoint: !this.#nc.isClosed() });
        this.#slots.delete(p);
        if (leases !== undefined && !this.#nc.isClosed()) {
          await leases.release(slot.lease).catch((err: unknown) => this.#background('tick', err));
          this.metrics.leaseActions.inc({ action: 'released' });
        }
      }),
    );
    if (leases !== undefined && !this.#nc.isClosed()) {
      await leases.leave().catch((err: unknown) => this.#background('tick', err));
    }
    this.metrics.partitionsOwned.set(0);
    this.#log.info('detector runner stopped; leases released');
  }

  #clearTimers(): void {
    if (this.#tickTimer) clearTimeout(this.#tickTimer);
    if (this.#lagTimer) clearInterval(this.#lagTimer);
    if (this.#rateTimer) clearInterval(this.#rateTimer);
    this.#tickTimer = this.#lagTimer = this.#rateTimer = undefined;
  }

  /** The connection is gone (closed by us or lost for good): stop everything without I/O. */
  #onConnectionClosed(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#clearTimers();
    this.#log.warn('NATS connection closed: the runner stops; its leases expire after the TTL');
    for (const slot of this.#slots.values()) {
      slot.lease.validUntilMs = 0;
      void slot.worker?.stop({ checkpoint: false });
    }
    this.#slots.clear();
    this.metrics.partitionsOwned.set(0);
  }

  #scheduleTick(): void {
    if (this.#stopping) return;
    this.#tickTimer = setTimeout(
      () => {
        this.#tickRunning = this.#tick().finally(() => this.#scheduleTick());
      },
      Math.max(50, Math.floor(this.options.leaseTtlMs / 3)),
    );
    this.#tickTimer.unref();
  }

  #background(stage: 'tick' | 'partition' | 'checkpoint' | 'lag', err: unknown, fields: object = {}): void {
    this.metrics.errors.inc({ stage });
    this.#log.error({ err, stage, ...fields }, `${stage} failed`);
  }

  /** One round: heartbeat, renewals, worker restarts, rebalancing. Never throws. */
  async #tick(): Promise<void> {
    const leases = this.#leases;
    if (leases === undefined || this.#stopping) return;
    try {
      await leases.heartbeat();
      await this.#renewAll(leases);
      if (this.#stopping) return;
      await this.#restartFailed();
      const [members, holders] = await Promise.all([leases.members(), leases.holders()]);
      this.#members = members;
      if (this.#stopping) return;
      const plan = planAssignment({ self: this.options.replicaId, members, holders });
      // Leases of ours that we do not run (a restart under the same id): take them back first.
      const adopt = holders.flatMap((h, p) =>
        h === this.options.replicaId && !this.#slots.has(p) ? [p] : [],
      );
      for (const p of plan.release) await this.#release(p);
      for (const p of [...adopt, ...plan.claim]) {
        if (this.#stopping || this.#slots.size >= plan.quota) break;
        await this.#claim(leases, p);
      }
    } catch (err) {
      this.#background('tick', err);
    } finally {
      this.metrics.partitionsOwned.set(this.ownedPartitions().length);
      this.metrics.hosts.set(this.hostIds().length);
    }
  }

  async #renewAll(leases: LeaseTable): Promise<void> {
    await Promise.all(
      [...this.#slots.entries()].map(async ([p, slot]) => {
        try {
          if (await leases.renew(slot.lease)) {
            this.metrics.leaseActions.inc({ action: 'renewed' });
            return;
          }
          this.#lost(p, slot, 'renewal rejected: another replica holds the lease');
        } catch (err) {
          this.#background('tick', err, { partition: p });
          if (slot.lease.validUntilMs <= this.#now()) this.#lost(p, slot, 'lease expired: renewals failed');
        }
      }),
    );
  }

  #lost(p: number, slot: Slot, reason: string): void {
    this.metrics.leaseActions.inc({ action: 'lost' });
    this.#log.warn({ partition: p, reason }, 'partition lease lost');
    slot.lease.validUntilMs = 0;
    slot.lost = true;
    this.#slots.delete(p);
    void slot.worker?.stop({ checkpoint: false });
  }

  async #restartFailed(): Promise<void> {
    for (const [p, slot] of this.#slots) {
      if (slot.starting !== undefined) continue;
      const worker = slot.worker;
      const failure = worker === undefined ? slot.startFailure : worker.stopped ? worker.failure : undefined;
      if (failure === undefined) continue;
      if (isLeaseLostError(failure)) {
        this.#lost(p, slot, failure.reason);
        continue;
      }
      if (slot.restartAtMs === 0) {
        this.#background('partition', failure, { partition: p });
        slot.restartAtMs = this.#now() + this.options.restartDelayMs;
      }
      if (this.#now() >= slot.restartAtMs) {
        slot.restartAtMs = 0;
        slot.worker = undefined;
        slot.startFailure = undefined;
        // The state in memory may be ahead of what was published: start again from the checkpoint.
        this.#launch(p, slot);
      }
    }
  }

  async #claim(leases: LeaseTable, p: number): Promise<void> {
    const lease = await leases.claim(p);
    if (lease === undefined) return;
    this.metrics.leaseActions.inc({ action: 'claimed' });
    const slot: Slot = {
      lease,
      worker: undefined,
      startFailure: undefined,
      restartAtMs: 0,
      starting: undefined,
      lost: false,
    };
    this.#slots.set(p, slot);
    this.#launch(p, slot);
  }

  /** Starts a slot's worker in the background, so that renewals go on while it restores. */
  #launch(p: number, slot: Slot): void {
    slot.starting = this.#startWorker(p, slot).finally(() => {
      slot.starting = undefined;
    });
  }

  async #startWorker(p: number, slot: Slot): Promise<void> {
    const o = this.options;
    const worker = new PartitionWorker(
      {
        group: o.group,
        replicaId: o.replicaId,
        partition: p,
        detector: o.detector,
        maxAckPending: o.maxAckPending,
        ackWaitMs: o.ackWaitMs,
        fetchBatch: o.fetchBatch,
        maxBatchMessages: o.maxBatchMessages,
        batchLingerMs: o.batchLingerMs,
        maxInFlight: o.maxInFlight,
        checkpointIntervalMs: o.checkpointIntervalMs,
        maxScoresPerMessage: o.maxScoresPerMessage,
      },
      {
        js: this.#js,
        jsm: this.#jsm as JetStreamManager,
        store: this.#store as CheckpointStore,
        lease: slot.lease,
        metrics: this.metrics,
        log: this.#log,
        now: this.#now,
      },
    );
    try {
      await worker.start();
      slot.worker = worker;
      if (slot.lost) await worker.stop({ checkpoint: false });
    } catch (err) {
      await worker.stop({ checkpoint: false });
      // Keep the lease; a later tick retries (or gives the partition up when the lease is lost).
      slot.startFailure = err;
    }
  }

  async #release(p: number): Promise<void> {
    const slot = this.#slots.get(p);
    if (slot === undefined) return;
    this.#slots.delete(p);
    await slot.starting;
    await slot.worker?.stop({ checkpoint: true });
    await this.#leases?.release(slot.lease);
    this.metrics.leaseActions.inc({ action: 'released' });
    this.#log.info({ partition: p }, 'partition released for rebalancing');
  }

  async #pollLag(): Promise<void> {
    const jsm = this.#jsm;
    if (jsm === undefined || this.#stopping) return;
    await Promise.all(
      this.ownedPartitions().map(async (p) => {
        try {
          const info = await jsm.consumers.info(
            StreamName.Samples,
            partitionConsumerName(this.options.group, p),
          );
          this.metrics.consumerPending.set({ partition: String(p) }, info.num_pending);
          this.metrics.consumerAckPending.set({ partition: String(p) }, info.num_ack_pending);
        } catch (err) {
          this.#background('lag', err, { partition: p });
        }
      }),
    );
  }

  #updateRate(): void {
    let n = 0;
    for (const slot of this.#slots.values()) n += slot.worker?.takeScoredCount() ?? 0;
    this.metrics.samplesPerSecond.set(n);
  }

  #modelAges(): number[] {
    const now = this.#now();
    const out: number[] = [];
    for (const slot of this.#slots.values()) {
      for (const host of slot.worker?.hosts.values() ?? []) {
        const at = host.modelFittedAtUnixNano;
        if (at !== undefined) out.push(Math.max(0, (now - Number(at / 1_000_000n)) / 1000));
      }
    }
    return out;
  }
}

/** Creates the data-plane streams that do not exist; leaves existing ones as they are. */
async function createMissingStreams(jsm: JetStreamManager, options: StreamOptions): Promise<void> {
  const existing = new Set<string>();
  for await (const name of jsm.streams.names()) existing.add(name);
  for (const config of streamConfigs(options)) {
    if (!existing.has(config.name)) await jsm.streams.add(config);
  }
}
