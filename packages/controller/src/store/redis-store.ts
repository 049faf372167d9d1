import type { Redis } from 'ioredis';
import {
  AgentInfo,
  AgentStatus,
  Experiment,
  ExperimentState,
  Plan,
  PlanAck,
  PlanProgress,
  TruthWindow,
  WatchExperimentResponse,
} from '@faultline/protocol';

/**
 * Controller state in Redis. Values are protobuf bytes; the key layout (prefix `fl:` by
 * default) is documented in packages/controller/README.md:
 *
 * - `fl:agents` set of agent ids; `fl:agent:<id>` AgentInfo; `fl:agents:leases` sorted set
 *   of agent ids by lease expiry (ms since the epoch); `fl:agents:seen` sorted set of agent
 *   ids by last contact (ms); `fl:agents:experiment` hash agent id → the experiment it runs.
 * - `fl:exps` sorted set of experiment ids by creation ms; `fl:exps:active` set of ids
 *   pending or running; `fl:exp:<id>` Experiment (without truth);
 *   `fl:exp:<id>:plans` hash agent → Plan; `fl:exp:<id>:acks` hash agent → PlanAck;
 *   `fl:exp:<id>:progress` hash agent → PlanProgress; `fl:exp:<id>:truth` hash
 *   injection id → TruthWindow; `fl:exp:<id>:events` stream of WatchExperimentResponse.
 */
export class RedisStore {
  private readonly hashWrites: HashWriteBatcher;

  constructor(
    readonly redis: Redis,
    private readonly prefix = 'fl',
  ) {
    this.hashWrites = new HashWriteBatcher(redis);
  }

  private k(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  // ---- agents ----

  /** Registers or refreshes an agent and (re)starts its lease. */
  async upsertAgent(info: AgentInfo, leaseMs: number, nowNs: bigint): Promise<void> {
    const nowMs = Number(nowNs / 1_000_000n);
    await this.redis
      .multi()
      .sadd(this.k('agents'), info.agentId)
      .set(this.k('agent', info.agentId), Buffer.from(AgentInfo.encode(info).finish()))
      .zadd(this.k('agents', 'leases'), nowMs + leaseMs, info.agentId)
      .zadd(this.k('agents', 'seen'), nowMs, info.agentId)
      .exec();
  }

  /**
   * Renews the leases of many agents (the controller's heartbeat): two sorted sets, so that
   * 10,000 agents cost a few multi-member ZADDs, not two commands each.
   */
  async renewLeases(agentIds: readonly string[], leaseMs: number, nowNs: bigint): Promise<void> {
    if (agentIds.length === 0) return;
    const nowMs = Number(nowNs / 1_000_000n);
    const pipe = this.redis.pipeline();
    for (let i = 0; i < agentIds.length; i += HSET_CHUNK) {
      const leases: (string | number)[] = [];
      const seen: (string | number)[] = [];
      for (const id of agentIds.slice(i, i + HSET_CHUNK)) {
        leases.push(nowMs + leaseMs, id);
        seen.push(nowMs, id);
      }
      pipe.zadd(this.k('agents', 'leases'), ...leases);
      pipe.zadd(this.k('agents', 'seen'), ...seen);
    }
    await pipe.exec();
  }

  async getAgent(agentId: string): Promise<AgentInfo | undefined> {
    const b = await this.redis.getBuffer(this.k('agent', agentId));
    return b ? AgentInfo.decode(b) : undefined;
  }

  /** Every registered agent, with `connected` true while its lease holds. */
  async listAgents(): Promise<AgentStatus[]> {
    const ids = (await this.redis.smembers(this.k('agents'))).sort();
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    pipe.zmscore(this.k('agents', 'leases'), ...ids);
    pipe.zmscore(this.k('agents', 'seen'), ...ids);
    pipe.hmget(this.k('agents', 'experiment'), ...ids);
    for (const id of ids) pipe.getBuffer(this.k('agent', id));
    const res = (await pipe.exec()) ?? [];
    const leases = (res[0]?.[1] ?? []) as (string | null)[];
    const seen = (res[1]?.[1] ?? []) as (string | null)[];
    const experiments = (res[2]?.[1] ?? []) as (string | null)[];
    const nowMs = Date.now();
    const out: AgentStatus[] = [];
    ids.forEach((id, i) => {
      const info = res[3 + i]?.[1] as Buffer | null;
      const exp = experiments[i];
      if (!info) return;
      const expires = Number(leases[i] ?? 0);
      const connected = expires > nowMs;
      out.push({
        info: AgentInfo.decode(info),
        connected,
        lastSeenUnixNano: seen[i] ? BigInt(Math.round(Number(seen[i]))) * 1_000_000n : 0n,
        leaseExpiresUnixNano: connected ? BigInt(Math.round(expires)) * 1_000_000n : 0n,
        experimentId: exp ?? '',
      });
    });
    return out;
  }

  /** Records (or clears, with undefined) the experiment of many agents: one hash, a few commands. */
  async setAgentsExperiment(agentIds: readonly string[], experimentId: string | undefined): Promise<void> {
    if (agentIds.length === 0) return;
    const key = this.k('agents', 'experiment');
    const pipe = this.redis.pipeline();
    for (let i = 0; i < agentIds.length; i += HSET_CHUNK) {
      const ids = agentIds.slice(i, i + HSET_CHUNK);
      if (experimentId) pipe.hset(key, ...ids.flatMap((id) => [id, experimentId]));
      else pipe.hdel(key, ...ids);
    }
    await pipe.exec();
  }

  // ---- experiments ----

  /** Stores a new experiment with its compiled plans, atomically. */
  async createExperiment(exp: Experiment, plans: Plan[]): Promise<void> {
    const m = this.redis.multi();
    m.set(this.k('exp', exp.experimentId), Buffer.from(Experiment.encode({ ...exp, truth: [] }).finish()));
    m.zadd(this.k('exps'), Number(exp.createdUnixNano / 1_000_000n), exp.experimentId);
    m.sadd(this.k('exps', 'active'), exp.experimentId);
    // One multi-field HSET per chunk instead of one command per plan (10,000 agents, one round trip).
    for (let i = 0; i < plans.length; i += HSET_CHUNK) {
      const args: (string | Buffer)[] = [];
      for (const p of plans.slice(i, i + HSET_CHUNK))
        args.push(p.agentId, Buffer.from(Plan.encode(p).finish()));
      m.hset(this.k('exp', exp.experimentId, 'plans'), ...args);
    }
    await m.exec();
  }

  /** The experiment with its truth windows, undefined when unknown. */
  async getExperiment(id: string): Promise<Experiment | undefined> {
    const [expBuf, truth] = await Promise.all([
      this.redis.getBuffer(this.k('exp', id)),
      this.redis.hgetallBuffer(this.k('exp', id, 'truth')),
    ]);
    if (!expBuf) return undefined;
    const exp = Experiment.decode(expBuf);
    exp.truth = Object.values(truth)
      .map((b) => TruthWindow.decode(b))
      .sort((a, b) =>
        a.requestedStartUnixNano === b.requestedStartUnixNano
          ? a.injectionId.localeCompare(b.injectionId)
          : a.requestedStartUnixNano < b.requestedStartUnixNano
            ? -1
            : 1,
      );
    return exp;
  }

  /** Applies `patch` to the stored experiment (single writer: the controller). */
  async updateExperiment(
    id: string,
    patch: Partial<Omit<Experiment, 'truth'>>,
  ): Promise<Experiment | undefined> {
    const buf = await this.redis.getBuffer(this.k('exp', id));
    if (!buf) return undefined;
    const next = { ...Experiment.decode(buf), ...patch, truth: [] };
    const m = this.redis.multi().set(this.k('exp', id), Buffer.from(Experiment.encode(next).finish()));
    const terminal =
      next.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED ||
      next.state === ExperimentState.EXPERIMENT_STATE_FAILED ||
      next.state === ExperimentState.EXPERIMENT_STATE_HALTED;
    if (terminal) m.srem(this.k('exps', 'active'), id);
    await m.exec();
    return next;
  }

  /** Experiments, newest first. */
  async listExperiments(limit = 100): Promise<Experiment[]> {
    const ids = await this.redis.zrevrange(this.k('exps'), 0, limit - 1);
    const out: Experiment[] = [];
    for (const id of ids) {
      const e = await this.getExperiment(id);
      if (e) out.push(e);
    }
    return out;
  }

  async activeExperimentIds(): Promise<string[]> {
    return (await this.redis.smembers(this.k('exps', 'active'))).sort();
  }

  async getPlans(id: string): Promise<Plan[]> {
    const all = await this.redis.hgetallBuffer(this.k('exp', id, 'plans'));
    return Object.values(all)
      .map((b) => Plan.decode(b))
      .sort((a, b) => a.agentId.localeCompare(b.agentId));
  }

  async getPlan(id: string, agentId: string): Promise<Plan | undefined> {
    const b = await this.redis.hgetBuffer(this.k('exp', id, 'plans'), agentId);
    return b ? Plan.decode(b) : undefined;
  }

  /**
   * Records a plan ack. Acks arriving together (a fleet answering one StartExperiment) are
   * written in one pipeline; the promise resolves once this one is stored.
   */
  recordAck(ack: PlanAck, agentId: string): Promise<void> {
    return this.hashWrites.hset(
      this.k('exp', ack.experimentId, 'acks'),
      agentId,
      Buffer.from(PlanAck.encode(ack).finish()),
    );
  }

  async getAcks(id: string): Promise<Map<string, PlanAck>> {
    const all = await this.redis.hgetallBuffer(this.k('exp', id, 'acks'));
    return new Map(Object.entries(all).map(([agent, b]) => [agent, PlanAck.decode(b)]));
  }

  /** Records an agent's progress; batched like {@link recordAck}. */
  recordProgress(progress: PlanProgress, agentId: string): Promise<void> {
    return this.hashWrites.hset(
      this.k('exp', progress.experimentId, 'progress'),
      agentId,
      Buffer.from(PlanProgress.encode(progress).finish()),
    );
  }

  async getProgress(id: string): Promise<Map<string, PlanProgress>> {
    const all = await this.redis.hgetallBuffer(this.k('exp', id, 'progress'));
    return new Map(Object.entries(all).map(([agent, b]) => [agent, PlanProgress.decode(b)]));
  }

  /**
   * Records (or completes) a truth window. Reports may arrive out of order after retries:
   * a window that has ended is never replaced by a report without an end.
   */
  async recordTruth(truth: TruthWindow): Promise<void> {
    const key = this.k('exp', truth.experimentId, 'truth');
    const prev = await this.redis.hgetBuffer(key, truth.injectionId);
    if (prev && truth.actualEndUnixNano === 0n && TruthWindow.decode(prev).actualEndUnixNano !== 0n) return;
    await this.redis.hset(key, truth.injectionId, Buffer.from(TruthWindow.encode(truth).finish()));
  }

  /** Appends to the experiment's event stream (capped at ~10,000 entries). */
  async appendEvent(id: string, event: Omit<WatchExperimentResponse, 'eventId'>): Promise<string> {
    const data = Buffer.from(WatchExperimentResponse.encode({ ...event, eventId: '' }).finish());
    return (await this.redis.xadd(this.k('exp', id, 'events'), 'MAXLEN', '~', '10000', '*', 'e', data)) ?? '';
  }

  /**
   * Events after `afterId` ('0' = from the start). With `blockMs`, waits that long for new
   * ones. Uses its own connection when blocking, so other commands are not held up.
   */
  async readEvents(
    id: string,
    afterId: string,
    blockMs?: number,
    conn: Redis = this.redis,
  ): Promise<WatchExperimentResponse[]> {
    const key = this.k('exp', id, 'events');
    const res =
      blockMs === undefined
        ? await conn.xreadBuffer('COUNT', 1000, 'STREAMS', key, afterId)
        : await conn.xreadBuffer('COUNT', 1000, 'BLOCK', blockMs, 'STREAMS', key, afterId);
    if (!res) return [];
    const out: WatchExperimentResponse[] = [];
    for (const [, entries] of res) {
      for (const [entryId, fields] of entries) {
        const data = fields[1];
        if (!data) continue;
        out.push({ ...WatchExperimentResponse.decode(data), eventId: entryId.toString() });
      }
    }
    return out;
  }
}

/** Fields per HSET command when many are written at once. */
const HSET_CHUNK = 1000;

/**
 * Group commit for hash fields: every `hset` issued in the same turn of the event loop goes
 * out in one pipeline (one multi-field HSET per key and chunk) on the next turn, and each
 * caller's promise settles when that pipeline has been answered. A later write to the same
 * field in the same batch wins, as it would with one command each.
 */
class HashWriteBatcher {
  private pending = new Map<string, Map<string, Buffer>>();
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly redis: Redis) {}

  hset(key: string, field: string, value: Buffer): Promise<void> {
    let fields = this.pending.get(key);
    if (!fields) this.pending.set(key, (fields = new Map()));
    fields.set(field, value);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private flush(): void {
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    this.scheduled = false;
    const pipe = this.redis.pipeline();
    for (const [key, fields] of batch) {
      let args: (string | Buffer)[] = [];
      for (const [field, value] of fields) {
        args.push(field, value);
        if (args.length === 2 * HSET_CHUNK) {
          pipe.hset(key, ...args);
          args = [];
        }
      }
      if (args.length > 0) pipe.hset(key, ...args);
    }
    pipe.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err)?.[0];
        for (const w of waiters) {
          if (failed) w.reject(failed);
          else w.resolve();
        }
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}
