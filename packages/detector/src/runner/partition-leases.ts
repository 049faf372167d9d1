/**
 * Partition leases: which detector replica owns which sample partition. Each lease is the
 * last message on its subject of `FL_DETECTOR_LEASES` (see `detector-streams.ts`); a replica
 * claims a free partition by compare-and-set on that subject, renews it the same way every
 * third of the TTL, and releases it by writing a `released` record. A replica that dies stops
 * renewing, its records expire after the TTL (the stream's `max_age`) and the others take its
 * partitions over. {@link planAssignment} decides, from the live replicas, which partitions a
 * replica should claim or give back so that N replicas split P partitions evenly.
 *
 * @example
 * ```ts
 * const table = new LeaseTable(js, jsm, { group: 'faultline-detector', replicaId: 'det-0', partitions: 16, leaseTtlMs: 10_000 });
 * await table.heartbeat();
 * const plan = planAssignment({ self: 'det-0', members: await table.members(), holders: await table.holders() });
 * for (const p of plan.claim) await table.claim(p);
 * ```
 */
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

import { detectorSubjects, DetectorStreamName } from './detector-streams.js';

/** The current record of one partition's lease. */
export interface LeaseRecord {
  readonly partition: number;
  /** The replica that wrote it. */
  readonly owner: string;
  /** `held` while the owner works on the partition, `released` once it gave it back. */
  readonly state: 'held' | 'released';
  /** Stream sequence of the claim that started this tenure: the fencing token of its writes. */
  readonly epoch: number;
  /** Stream sequence of the record itself, for the next compare-and-set. */
  readonly revision: number;
}

/** A lease this replica holds. */
export interface HeldLease {
  readonly partition: number;
  readonly epoch: number;
  revision: number;
  /**
   * Local time (ms since the epoch) until which the lease is certainly still ours: the time
   * the last successful write was sent plus 90% of the TTL. Past it, work on the partition
   * must stop: other replicas may already own it.
   */
  validUntilMs: number;
}

/** Options of a {@link LeaseTable}. */
export interface LeaseTableOptions {
  /** Consumer group: replicas of one group share partitions. A subject token. */
  group: string;
  /** This replica's id, unique in the group. A subject token. */
  replicaId: string;
  /** Number of sample partitions. */
  partitions: number;
  /** Lease TTL, ms; the lease stream's max_age must be the same. */
  leaseTtlMs: number;
  /** Local clock, ms since the epoch; default Date.now. */
  now?: () => number;
}

interface LeaseValue {
  owner: string;
  state: 'held' | 'released';
  epoch: number;
}

const WRONG_LAST_SEQUENCE = 10071;

/** Whether a JetStream publish failed on its expected last subject sequence (someone wrote first). */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

/** The lease records of a group, with compare-and-set claims, renewals and releases. */
export class LeaseTable {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #o: LeaseTableOptions;
  readonly #now: () => number;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  constructor(js: JetStreamClient, jsm: JetStreamManager, options: LeaseTableOptions) {
    this.#js = js;
    this.#jsm = jsm;
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get replicaId(): string {
    return this.#o.replicaId;
  }

  /** Writes this replica's heartbeat, which keeps it among the {@link members} for one TTL. */
  async heartbeat(): Promise<void> {
    await this.#js.publish(
      detectorSubjects.member(this.#o.group, this.#o.replicaId),
      this.#encoder.encode(JSON.stringify({ replicaId: this.#o.replicaId })),
    );
  }

  /** Removes this replica's heartbeat at once (a clean shutdown), so the others rebalance sooner. */
  async leave(): Promise<void> {
    await this.#jsm.streams.purge(DetectorStreamName.Leases, {
      filter: detectorSubjects.member(this.#o.group, this.#o.replicaId),
    });
  }

  /** Ids of the replicas whose heartbeat has not expired, sorted. */
  async members(): Promise<string[]> {
    const info = await this.#jsm.streams.info(DetectorStreamName.Leases, {
      subjects_filter: detectorSubjects.members(this.#o.group),
    });
    const prefix = detectorSubjects.members(this.#o.group).slice(0, -1);
    return Object.keys(info.state.subjects ?? {})
      .map((s) => s.slice(prefix.length))
      .sort();
  }

  /** The current record of every partition that has one (expired leases have none). */
  async records(): Promise<Map<number, LeaseRecord>> {
    const info = await this.#jsm.streams.info(DetectorStreamName.Leases, {
      subjects_filter: detectorSubjects.leases(this.#o.group),
    });
    const prefix = detectorSubjects.leases(this.#o.group).slice(0, -1);
    const partitions = Object.keys(info.state.subjects ?? {})
      .map((s) => Number(s.slice(prefix.length)))
      .filter((p) => Number.isInteger(p) && p >= 0 && p < this.#o.partitions);
    const found = await Promise.all(partitions.map((p) => this.read(p)));
    const out = new Map<number, LeaseRecord>();
    for (const r of found) if (r !== undefined) out.set(r.partition, r);
    return out;
  }

  /** Who holds each partition (undefined where it is free: no record, or released). */
  async holders(): Promise<Array<string | undefined>> {
    const records = await this.records();
    const out: Array<string | undefined> = [];
    for (let p = 0; p < this.#o.partitions; p++) {
      const r = records.get(p);
      out.push(r !== undefined && r.state === 'held' ? r.owner : undefined);
    }
    return out;
  }

  /** The current record of one partition's lease, if any. */
  async read(partition: number): Promise<LeaseRecord | undefined> {
    const msg = await this.#jsm.streams.getMessage(DetectorStreamName.Leases, {
      last_by_subj: detectorSubjects.lease(this.#o.group, partition),
    });
    if (msg === null) return undefined;
    try {
      const v = JSON.parse(this.#decoder.decode(msg.data)) as LeaseValue;
      return { partition, owner: v.owner, state: v.state, epoch: v.epoch, revision: msg.seq };
    } catch {
      // An unreadable record still occupies the subject: report it released so it can be claimed.
      return { partition, owner: '', state: 'released', epoch: 0, revision: msg.seq };
    }
  }

  /**
   * Claims a partition that is free (no record, or a released one). Returns the lease, or
   * undefined when another replica holds it or got there first.
   */
  async claim(partition: number): Promise<HeldLease | undefined> {
    const current = await this.read(partition);
    if (current !== undefined && current.state === 'held' && current.owner !== this.#o.replicaId) {
      return undefined;
    }
    const sentAt = this.#now();
    try {
      const ack = await this.#js.publish(
        detectorSubjects.lease(this.#o.group, partition),
        this.#encode({ owner: this.#o.replicaId, state: 'held', epoch: 0 }),
        { expect: { lastSubjectSequence: current?.revision ?? 0 } },
      );
      // The claim's own sequence is the epoch; later renewals carry it.
      return { partition, epoch: ack.seq, revision: ack.seq, validUntilMs: this.#validUntil(sentAt) };
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw err;
    }
  }

  /**
   * Renews a held lease. Returns false when it was lost (the record changed: it expired and
   * was claimed, or was overwritten); throws on other failures (the lease may still be ours
   * until `validUntilMs`).
   */
  async renew(lease: HeldLease): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const sentAt = this.#now();
      try {
        const ack = await this.#js.publish(
          detectorSubjects.lease(this.#o.group, lease.partition),
          this.#encode({ owner: this.#o.replicaId, state: 'held', epoch: lease.epoch }),
          { expect: { lastSubjectSequence: lease.revision } },
        );
        lease.revision = ack.seq;
        lease.validUntilMs = this.#validUntil(sentAt);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // A renewal whose ack was lost (a reconnect) was stored all the same: the record is
        // still ours, one revision on. Anything else is another tenure.
        const current = await this.read(lease.partition);
        const ours =
          current !== undefined &&
          current.state === 'held' &&
          current.owner === this.#o.replicaId &&
          current.epoch === lease.epoch;
        if (!ours || attempt > 0) {
          lease.validUntilMs = 0;
          return false;
        }
        lease.revision = current.revision;
      }
    }
  }

  /** Gives a held lease back (compare-and-set: a lease already lost stays with its new owner). */
  async release(lease: HeldLease): Promise<void> {
    lease.validUntilMs = 0;
    try {
      await this.#js.publish(
        detectorSubjects.lease(this.#o.group, lease.partition),
        this.#encode({ owner: this.#o.replicaId, state: 'released', epoch: lease.epoch }),
        { expect: { lastSubjectSequence: lease.revision } },
      );
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
    }
  }

  #validUntil(sentAt: number): number {
    return sentAt + Math.floor(this.#o.leaseTtlMs * 0.9);
  }

  #encode(value: LeaseValue): Uint8Array {
    return this.#encoder.encode(JSON.stringify(value));
  }
}

/** Input of {@link planAssignment}. */
export interface AssignmentInput {
  /** This replica's id. */
  self: string;
  /** Live replicas (this one is added when missing). */
  members: readonly string[];
  /** Per partition, the replica holding it, or undefined when it is free. */
  holders: ReadonlyArray<string | undefined>;
}

/** What a replica should do to move towards an even split. */
export interface AssignmentPlan {
  /** This replica's fair share: ⌊P/N⌋, plus one for the first P mod N replicas in id order. */
  quota: number;
  /** Free partitions to claim, best first. */
  claim: number[];
  /** Held partitions to give back. */
  release: number[];
}

/**
 * Plans one replica's step towards an even split of P partitions over the N live replicas:
 * each replica's quota is ⌊P/N⌋, plus one for the first P mod N in sorted id order, so the
 * quotas add up to P. A replica above its quota releases the excess (partitions it does not
 * prefer first); one below claims free partitions, preferring those with p mod N equal to
 * its rank, so that replicas starting together contend little. Partitions held by replicas
 * that are no longer live are not free: they become free when their lease expires.
 */
export function planAssignment(input: AssignmentInput): AssignmentPlan {
  const members = [...new Set([...input.members, input.self])].sort();
  const n = members.length;
  const rank = members.indexOf(input.self);
  const total = input.holders.length;
  const quota = Math.floor(total / n) + (rank < total % n ? 1 : 0);
  const preferred = (p: number): boolean => p % n === rank;
  const mine: number[] = [];
  const free: number[] = [];
  input.holders.forEach((holder, p) => {
    if (holder === input.self) mine.push(p);
    else if (holder === undefined) free.push(p);
  });
  const byPreference = (a: number, b: number): number => Number(preferred(b)) - Number(preferred(a)) || a - b;
  if (mine.length > quota) {
    const release = [...mine]
      .sort(byPreference)
      .reverse()
      .slice(0, mine.length - quota);
    return { quota, claim: [], release: release.sort((a, b) => a - b) };
  }
  return { quota, claim: free.sort(byPreference).slice(0, quota - mine.length), release: [] };
}
