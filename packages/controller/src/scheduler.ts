import { randomBytes } from 'node:crypto';
import {
  type AgentInfo,
  type Experiment,
  ExperimentState,
  type HaltAck,
  type HaltResponse,
  type Plan,
  type PlanAck,
  type PlanProgress,
  type TruthWindow,
  type WatchAssignmentsResponse,
} from '@faultline/protocol';
import { InvalidArgumentError, NoTargetsError, NotFoundError } from './errors.js';
import type { RedisStore } from './store/redis-store.js';

/** What the scheduler needs from the spec compiler. */
export interface CompiledExperiment {
  name: string;
  plans: Plan[];
  /** What to do when an agent does not ack its plan in time: abort the experiment or go on. */
  onMissingAck: 'abort' | 'continue';
  injectionsPlanned: number;
}

/** Parses a spec and compiles plans for the given agents; throws on an invalid spec. */
export type ExperimentCompiler = (
  specYaml: string,
  agents: AgentInfo[],
  options: { startUnixNano: bigint; experimentId: string },
) => CompiledExperiment;

/** Options of the {@link Scheduler}. */
export interface SchedulerOptions {
  /** Time between StartExperiment and T0, ms, so that plans reach every agent first. Default 2000. */
  startDelayMs?: number;
  /** How long to wait for plan acks, ms. Default 5000. */
  ackTimeoutMs?: number;
  /** How long to wait for halt confirmations, ms. Default 3000. */
  haltTimeoutMs?: number;
  /** After a plan's end, how long to wait for agents' final reports before finishing, ms. Default 10000. */
  finishGraceMs?: number;
  /** Clock in ms since the epoch; injectable for tests. Default Date.now. */
  now?: () => number;
}

/** A live WatchAssignments stream of one agent. */
export interface AgentConnection {
  agentId: string;
  /** What the agent registered with (labels select targets). */
  info: AgentInfo;
  send(message: WatchAssignmentsResponse): void;
}

type Resolver<T> = { resolve: (v: T) => void };

/** Plans sent per turn of the event loop when a start fans out. */
const SEND_SLICE = 500;

const TERMINAL = new Set([
  ExperimentState.EXPERIMENT_STATE_SUCCEEDED,
  ExperimentState.EXPERIMENT_STATE_FAILED,
  ExperimentState.EXPERIMENT_STATE_HALTED,
]);

export function isTerminal(state: ExperimentState): boolean {
  return TERMINAL.has(state);
}

/**
 * Pushes plans to agents, waits for acks, tracks progress and truth, finishes or aborts,
 * and halts. All state lives in Redis, so a restarted controller resumes with
 * {@link Scheduler.resume}: agents keep running their plans meanwhile and re-attach.
 */
export class Scheduler {
  private readonly connections = new Map<string, AgentConnection>();
  private readonly ackWaiters = new Map<string, Resolver<PlanAck>>(); // `${exp}/${agent}`
  private readonly haltWaiters = new Map<string, Map<string, Resolver<HaltAck>>>(); // halt id → agent → resolver
  private readonly finishTimers = new Map<string, NodeJS.Timeout>();
  private readonly opts: Required<SchedulerOptions>;

  constructor(
    private readonly store: RedisStore,
    private readonly compile: ExperimentCompiler,
    options: SchedulerOptions = {},
  ) {
    this.opts = {
      startDelayMs: options.startDelayMs ?? 2000,
      ackTimeoutMs: options.ackTimeoutMs ?? 5000,
      haltTimeoutMs: options.haltTimeoutMs ?? 3000,
      finishGraceMs: options.finishGraceMs ?? 10_000,
      now: options.now ?? Date.now,
    };
  }

  private nowNs(): bigint {
    return BigInt(this.opts.now()) * 1_000_000n;
  }

  connectedAgentIds(): string[] {
    return [...this.connections.keys()].sort();
  }

  /**
   * One heartbeat for every connected agent: a message on each WatchAssignments stream (the
   * agents' dead-man switch) and their leases renewed in one Redis pipeline.
   */
  async heartbeat(leaseMs: number): Promise<void> {
    const nowNs = this.nowNs();
    for (const conn of this.connections.values()) {
      conn.send({ assignment: { $case: 'heartbeat', value: { timeUnixNano: nowNs } } });
    }
    await this.store.renewLeases([...this.connections.keys()], leaseMs, nowNs);
  }

  /** An agent opened WatchAssignments: re-send the plan of any experiment it is part of. */
  async attach(conn: AgentConnection): Promise<void> {
    this.connections.set(conn.agentId, conn);
    for (const id of await this.store.activeExperimentIds()) {
      const plan = await this.store.getPlan(id, conn.agentId);
      if (plan && plan.endUnixNano > this.nowNs()) conn.send({ assignment: { $case: 'plan', value: plan } });
    }
  }

  detach(conn: AgentConnection): void {
    if (this.connections.get(conn.agentId) === conn) this.connections.delete(conn.agentId);
  }

  /** Compiles plans against the connected agents without storing or sending anything. */
  async plan(specYaml: string, startUnixNano?: bigint): Promise<Plan[]> {
    const agents = this.connectedAgents();
    return this.compile(specYaml, agents, {
      startUnixNano: startUnixNano && startUnixNano > 0n ? startUnixNano : this.nowNs(),
      experimentId: 'plan-preview',
    }).plans;
  }

  /**
   * An agent registered again (new labels, caps): an open stream keeps serving it, so the
   * next experiment must see what it registered with now.
   */
  updateAgent(info: AgentInfo): void {
    const conn = this.connections.get(info.agentId);
    if (conn) conn.info = info;
  }

  /** Agents with an open WatchAssignments stream (kept in memory: no Redis scan per start). */
  private connectedAgents(): AgentInfo[] {
    return [...this.connections.values()].map((c) => c.info);
  }

  /** Stores the experiment, pushes the plans, waits for acks; resolves once it runs (or failed). */
  async start(specYaml: string): Promise<Experiment> {
    if (specYaml.trim() === '') throw new InvalidArgumentError('spec_yaml is empty');
    const agents = this.connectedAgents();
    const experimentId = newExperimentId(this.opts.now());
    const startUnixNano = this.nowNs() + BigInt(this.opts.startDelayMs) * 1_000_000n;
    const compiled = this.compile(specYaml, agents, { startUnixNano, experimentId });
    if (compiled.plans.length === 0) {
      throw new NoTargetsError(
        `no connected agent matches the experiment's targets (${agents.length} connected: ${agents.map((a) => a.agentId).join(', ') || 'none'})`,
      );
    }
    const end = compiled.plans.reduce((m, p) => (p.endUnixNano > m ? p.endUnixNano : m), 0n);
    const exp: Experiment = {
      experimentId,
      name: compiled.name,
      specYaml,
      state: ExperimentState.EXPERIMENT_STATE_PENDING,
      createdUnixNano: this.nowNs(),
      startUnixNano,
      endUnixNano: end,
      agentIds: compiled.plans.map((p) => p.agentId),
      injectionsPlanned: compiled.injectionsPlanned,
      truth: [],
      message: 'waiting for plan acks',
    };
    await this.store.createExperiment(exp, compiled.plans);
    await this.event(experimentId, 'state', '', `created with ${compiled.plans.length} agents`);

    const acks = await this.sendPlans(compiled.plans);
    const refused = acks.filter((a) => a.ack && !a.ack.accepted);
    const missing = acks.filter((a) => !a.ack).map((a) => a.agentId);
    for (const r of refused) await this.event(experimentId, 'ack', r.agentId, `refused: ${r.ack!.reason}`);
    const problems = [
      ...refused.map((r) => `${r.agentId} refused its plan: ${r.ack!.reason}`),
      ...missing.map((a) => `${a} did not ack within ${this.opts.ackTimeoutMs} ms`),
    ];
    const accepted = acks.filter((a) => a.ack?.accepted).map((a) => a.agentId);
    // One event for the fleet's acks, not one per agent: at 10,000 agents those would fill
    // the capped event stream and push out everything before them.
    await this.event(
      experimentId,
      'ack',
      '',
      `${accepted.length}/${acks.length} plans accepted` +
        (refused.length > 0 ? `, ${refused.length} refused` : '') +
        (missing.length > 0 ? `, ${missing.length} not acked within ${this.opts.ackTimeoutMs} ms` : ''),
    );
    if (problems.length > 0 && (compiled.onMissingAck === 'abort' || accepted.length === 0)) {
      await this.haltAgents(accepted, experimentId, 'experiment aborted: ' + problems.join('; '));
      await this.finish(experimentId, ExperimentState.EXPERIMENT_STATE_FAILED, problems.join('; '));
      return (await this.store.getExperiment(experimentId))!;
    }
    await this.store.setAgentsExperiment(accepted, experimentId);
    const message = problems.length > 0 ? `running without: ${problems.join('; ')}` : 'running';
    await this.store.updateExperiment(experimentId, {
      state: ExperimentState.EXPERIMENT_STATE_RUNNING,
      agentIds: accepted,
      message,
    });
    await this.event(experimentId, 'state', '', message);
    this.armFinish(experimentId, end);
    return (await this.store.getExperiment(experimentId))!;
  }

  /**
   * Sends each plan on its agent's stream and resolves, in the plans' order, with the acks
   * taken within the ack timeout (none for an agent not connected or silent). One timer for
   * the fleet, not one per agent.
   */
  private sendPlans(plans: Plan[]): Promise<{ agentId: string; ack?: PlanAck }[]> {
    return new Promise((resolve) => {
      const acks = new Map<string, PlanAck>();
      const keys: string[] = [];
      let settled = false;
      const settle = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const key of keys) this.ackWaiters.delete(key);
        resolve(plans.map((p) => ({ agentId: p.agentId, ack: acks.get(p.agentId) })));
      };
      const timer = setTimeout(settle, this.opts.ackTimeoutMs);
      const targets = plans.filter((p) => this.connections.has(p.agentId));
      let outstanding = targets.length;
      if (outstanding === 0) return settle();
      // In slices, yielding between them: the first agents' plans leave (and their acks come
      // back) while the rest are still being encoded.
      const sendFrom = (from: number): void => {
        for (const plan of targets.slice(from, from + SEND_SLICE)) {
          const conn = this.connections.get(plan.agentId);
          if (!conn) {
            // Gone since the start began: it cannot ack.
            if (--outstanding === 0) settle();
            continue;
          }
          const key = `${plan.experimentId}/${plan.agentId}`;
          keys.push(key);
          this.ackWaiters.set(key, {
            resolve: (ack) => {
              if (acks.has(plan.agentId)) return;
              acks.set(plan.agentId, ack);
              if (--outstanding === 0) settle();
            },
          });
          conn.send({ assignment: { $case: 'plan', value: plan } });
        }
        if (from + SEND_SLICE < targets.length && !settled) setImmediate(() => sendFrom(from + SEND_SLICE));
      };
      sendFrom(0);
    });
  }

  private armFinish(experimentId: string, endUnixNano: bigint): void {
    const prev = this.finishTimers.get(experimentId);
    if (prev) clearTimeout(prev);
    const delay = Math.max(0, Number((endUnixNano - this.nowNs()) / 1_000_000n) + this.opts.finishGraceMs);
    const timer = setTimeout(() => {
      this.finishTimers.delete(experimentId);
      void this.finishOnDeadline(experimentId);
    }, delay);
    timer.unref();
    this.finishTimers.set(experimentId, timer);
  }

  private async finishOnDeadline(experimentId: string): Promise<void> {
    const exp = await this.store.getExperiment(experimentId);
    if (!exp || isTerminal(exp.state)) return;
    const progress = await this.store.getProgress(experimentId);
    const silent = exp.agentIds.filter((a) => !progress.get(a)?.done);
    if (silent.length === 0)
      await this.finish(experimentId, ExperimentState.EXPERIMENT_STATE_SUCCEEDED, 'finished');
    else
      await this.finish(
        experimentId,
        ExperimentState.EXPERIMENT_STATE_FAILED,
        `agents did not report completion within ${this.opts.finishGraceMs} ms of the end: ${silent.join(', ')}`,
      );
  }

  private async finish(experimentId: string, state: ExperimentState, message: string): Promise<void> {
    const timer = this.finishTimers.get(experimentId);
    if (timer) clearTimeout(timer);
    this.finishTimers.delete(experimentId);
    const exp = await this.store.updateExperiment(experimentId, {
      state,
      message,
      endUnixNano: this.nowNs(),
    });
    await this.store.setAgentsExperiment(exp?.agentIds ?? [], undefined);
    await this.event(experimentId, 'state', '', `${ExperimentState[state]}: ${message}`);
  }

  /** After a controller restart: re-arm completion of every experiment still active. */
  async resume(): Promise<string[]> {
    const ids = await this.store.activeExperimentIds();
    for (const id of ids) {
      const exp = await this.store.getExperiment(id);
      if (!exp) continue;
      if (exp.state === ExperimentState.EXPERIMENT_STATE_PENDING) {
        // Died while waiting for acks: whoever acked runs the plan; carry on with them.
        const acks = await this.store.getAcks(id);
        const accepted = [...acks.values()].filter((a) => a.accepted).length;
        if (accepted === 0) {
          await this.finish(
            id,
            ExperimentState.EXPERIMENT_STATE_FAILED,
            'controller restarted before any agent acked',
          );
          continue;
        }
        await this.store.updateExperiment(id, {
          state: ExperimentState.EXPERIMENT_STATE_RUNNING,
          message: 'running',
        });
      }
      await this.event(id, 'state', '', 'controller restarted; experiment resumed');
      this.armFinish(id, exp.endUnixNano);
      await this.maybeComplete(id);
    }
    return ids;
  }

  /** ReportProgress from an agent. */
  async report(agentId: string, report: ReportKind): Promise<void> {
    switch (report.$case) {
      case 'planAck': {
        const ack = report.value;
        await this.store.recordAck(ack, agentId);
        this.ackWaiters.get(`${ack.experimentId}/${agentId}`)?.resolve(ack);
        return;
      }
      case 'haltAck':
        this.haltWaiters.get(report.value.haltId)?.get(agentId)?.resolve(report.value);
        return;
      case 'progress':
        await this.onProgress(agentId, report.value);
        return;
      case 'truth':
        await this.onTruth(agentId, report.value);
        return;
    }
  }

  private async onProgress(agentId: string, progress: PlanProgress): Promise<void> {
    await this.store.recordProgress(progress, agentId);
    await this.event(
      progress.experimentId,
      'progress',
      agentId,
      `${progress.phase || '-'} ${progress.state} injections ${progress.injectionsFinished}/${progress.injectionsStarted}${progress.done ? ' done' : ''}`,
    );
    if (progress.done) await this.maybeComplete(progress.experimentId);
  }

  private async maybeComplete(experimentId: string): Promise<void> {
    const exp = await this.store.getExperiment(experimentId);
    if (!exp || exp.state !== ExperimentState.EXPERIMENT_STATE_RUNNING) return;
    const progress = await this.store.getProgress(experimentId);
    if (exp.agentIds.every((a) => progress.get(a)?.done)) {
      await this.finish(experimentId, ExperimentState.EXPERIMENT_STATE_SUCCEEDED, 'finished');
    }
  }

  private async onTruth(agentId: string, truth: TruthWindow): Promise<void> {
    if (truth.experimentId === '' || truth.injectionId === '') {
      throw new InvalidArgumentError(
        `truth from ${agentId} must name experiment_id and injection_id, got ${JSON.stringify(truth.experimentId)} / ${JSON.stringify(truth.injectionId)}`,
      );
    }
    await this.store.recordTruth({ ...truth, agentId });
    const what = truth.actualEndUnixNano === 0n ? 'started' : 'ended';
    await this.event(
      truth.experimentId,
      'truth',
      agentId,
      `${truth.anomalyType} ${truth.injectionId} ${what}`,
    );
  }

  /**
   * Stops every injection of one experiment (or fleet-wide when `experimentId` is empty)
   * and reports how long until the last agent confirmed.
   */
  async halt(experimentId: string, reason: string): Promise<HaltResponse> {
    let agents: string[];
    if (experimentId) {
      const exp = await this.store.getExperiment(experimentId);
      if (!exp) throw new NotFoundError('experiment', experimentId);
      agents = exp.agentIds;
    } else {
      agents = this.connectedAgentIds();
    }
    const res = await this.haltAgents(agents, experimentId, reason || 'halted by operator');
    const ids = experimentId ? [experimentId] : await this.store.activeExperimentIds();
    for (const id of ids) {
      const exp = await this.store.getExperiment(id);
      if (exp && !isTerminal(exp.state)) {
        await this.finish(
          id,
          ExperimentState.EXPERIMENT_STATE_HALTED,
          `${reason || 'halted by operator'} (${res.agentsConfirmed} confirmed in ${res.confirmationMs} ms, ${res.agentsUnconfirmed} unconfirmed)`,
        );
      }
    }
    return res;
  }

  private async haltAgents(agentIds: string[], experimentId: string, reason: string): Promise<HaltResponse> {
    const haltId = `halt-${randomBytes(6).toString('hex')}`;
    const started = this.opts.now();
    const waiters = new Map<string, Resolver<HaltAck>>();
    this.haltWaiters.set(haltId, waiters);
    let last = started;
    const results = await Promise.all(
      agentIds.map(
        (agentId) =>
          new Promise<boolean>((resolve) => {
            const conn = this.connections.get(agentId);
            if (!conn) return resolve(false);
            const timer = setTimeout(() => resolve(false), this.opts.haltTimeoutMs);
            waiters.set(agentId, {
              resolve: () => {
                clearTimeout(timer);
                last = Math.max(last, this.opts.now());
                resolve(true);
              },
            });
            conn.send({ assignment: { $case: 'halt', value: { haltId, experimentId, reason } } });
          }),
      ),
    );
    this.haltWaiters.delete(haltId);
    const confirmed = results.filter(Boolean).length;
    return {
      haltId,
      agentsConfirmed: confirmed,
      agentsUnconfirmed: agentIds.length - confirmed,
      confirmationMs: Math.round(last - started),
    };
  }

  private async event(experimentId: string, kind: string, agentId: string, message: string): Promise<void> {
    await this.store.appendEvent(experimentId, {
      timeUnixNano: this.nowNs(),
      kind,
      agentId,
      message,
      experiment: undefined,
    });
  }

  /** Stops timers (the state stays in Redis). */
  close(): void {
    for (const t of this.finishTimers.values()) clearTimeout(t);
    this.finishTimers.clear();
  }
}

/** The `report` oneof of ReportProgressRequest. */
export type ReportKind =
  | { $case: 'planAck'; value: PlanAck }
  | { $case: 'haltAck'; value: HaltAck }
  | { $case: 'progress'; value: PlanProgress }
  | { $case: 'truth'; value: TruthWindow };

/** `exp-<UTC yyyymmdd-hhmmss>-<4 hex>`: sortable, unique, a valid NATS subject token. */
export function newExperimentId(nowMs: number): string {
  const d = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `exp-${d}-${randomBytes(2).toString('hex')}`;
}
