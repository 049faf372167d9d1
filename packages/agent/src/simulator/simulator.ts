/**
 * The simulator's pure core: N virtual hosts in one object. Each host has its own seeded
 * generator, metric model and plans; a sample is a function of the seed, the host's history
 * and the time it is asked for. No clock, no I/O: the live loop and the backfill writer bring
 * the times and take the samples.
 *
 * @example
 * ```ts
 * const sim = new Simulator({ seed: 42, hosts: 1000, intervalMs: 1000 });
 * const { plans } = compilePlans(spec, sim.agentInfos(), { startUnixNano: t0, experimentId: 'exp-1' });
 * for (const plan of plans) sim.addPlan(plan, { onTruth: (t) => truths.push(t) });
 * sim.sampleAll(t0Ms, (sample) => publisher.publish(sample));
 * ```
 */
import { createRng, type AgentInfo, type Plan, type Sample, type SampleLabels } from '@faultline/protocol';
import { InvalidOptionsError, UnknownVirtualHostError } from '../errors.js';
import {
  buildFleet,
  virtualAgentInfos,
  type Fleet,
  type FleetOptions,
  type VirtualHostSpec,
} from './fleet-model.js';
import {
  HostMetricsModel,
  noEffects,
  resetEffects,
  resolveMetricModelOptions,
  type MetricModelOptions,
  type ResolvedMetricModelOptions,
} from './host-metrics-model.js';
import { VirtualPlan, type InjectionShare, type VirtualPlanCallbacks } from './virtual-plan.js';

/** Options of a {@link Simulator}: the fleet, the metric model, and how plans run. */
export interface SimulatorOptions extends FleetOptions, MetricModelOptions {
  /** Agent id written into truth windows (and, live, the publisher's id). A NATS subject token. Default `simulator`. */
  agentId?: string;
  /**
   * How long one baseline run of a workload without an end of its own (cpu, io, network,
   * memory without hold) lasts before the loop sleeps, ms, in [1, 600000]. Default 2000, as
   * the real executor.
   */
  baselineRunMs?: number;
  /** Speed of a virtual core at matrix multiplication, flop/s, in [1e6, 1e13]. Default 1e9. */
  matmulFlopsPerSecond?: number;
}

export interface ResolvedSimulatorOptions {
  readonly agentId: string;
  readonly seed: number | string;
  readonly baselineRunMs: number;
  readonly matmulFlopsPerSecond: number;
  readonly model: ResolvedMetricModelOptions;
}

/** Validates the options that are not the fleet's; throws {@link InvalidOptionsError}. */
export function resolveSimulatorOptions(raw: SimulatorOptions = {}): ResolvedSimulatorOptions {
  const agentId = raw.agentId ?? 'simulator';
  if (!/^[^\s.*>]+$/.test(agentId)) {
    throw new InvalidOptionsError(
      'agentId',
      `agentId must be a NATS subject token (no '.', '*', '>' or whitespace), got ${JSON.stringify(agentId)}`,
    );
  }
  const baselineRunMs = raw.baselineRunMs ?? 2000;
  if (!(Number.isFinite(baselineRunMs) && baselineRunMs >= 1 && baselineRunMs <= 600_000)) {
    throw new InvalidOptionsError(
      'baselineRunMs',
      `baselineRunMs must be in [1, 600000], got ${baselineRunMs}`,
    );
  }
  const matmulFlopsPerSecond = raw.matmulFlopsPerSecond ?? 1e9;
  if (!(matmulFlopsPerSecond >= 1e6 && matmulFlopsPerSecond <= 1e13)) {
    throw new InvalidOptionsError(
      'matmulFlopsPerSecond',
      `matmulFlopsPerSecond must be in [1e6, 1e13], got ${matmulFlopsPerSecond}`,
    );
  }
  return {
    agentId,
    seed: raw.seed ?? 0,
    baselineRunMs,
    matmulFlopsPerSecond,
    model: resolveMetricModelOptions(raw),
  };
}

const IDLE: SampleLabels = Object.freeze({
  experimentId: '',
  phase: '',
  state: 'idle',
  injectionId: '',
  anomalyType: '',
});

/**
 * N virtual hosts. Sample each host with {@link sampleHost} (or all with {@link sampleAll})
 * at increasing times; seqs are contiguous per host from 1. Plans compiled for the virtual
 * hosts ({@link agentInfos}) run with {@link addPlan}: their labels, effects and truth windows
 * follow the sample times. Same options and same sample times → identical samples.
 */
export class Simulator {
  readonly options: ResolvedSimulatorOptions;
  readonly fleet: Fleet;
  private readonly models: HostMetricsModel[];
  private readonly seqs: Float64Array;
  /** Per host, the time of its first sample, ms: what its samples give as the agent's start. */
  private readonly firstMs: Float64Array;
  private readonly byId = new Map<string, number>();
  private readonly plans = new Map<number, VirtualPlan[]>();
  private readonly effects = noEffects();
  private readonly shares: InjectionShare[] = [];

  constructor(options: SimulatorOptions = {}) {
    this.options = resolveSimulatorOptions(options);
    this.fleet = buildFleet(options);
    const seed = String(this.options.seed);
    this.models = this.fleet.hosts.map(
      (h) => new HostMetricsModel(h, this.options.model, createRng(`${seed}/metrics/${h.hostId}`)),
    );
    this.seqs = new Float64Array(this.fleet.hosts.length);
    this.firstMs = new Float64Array(this.fleet.hosts.length);
    this.fleet.hosts.forEach((h, i) => this.byId.set(h.hostId, i));
  }

  /** Number of virtual hosts. */
  get size(): number {
    return this.fleet.hosts.length;
  }

  get hosts(): readonly VirtualHostSpec[] {
    return this.fleet.hosts;
  }

  /** The index of a host id, or undefined. */
  indexOf(hostId: string): number | undefined {
    return this.byId.get(hostId);
  }

  /** The virtual hosts as agents, for `compilePlans` (agent id = host id). */
  agentInfos(version = ''): AgentInfo[] {
    return virtualAgentInfos(this.fleet, version);
  }

  /**
   * Runs `plan` on the virtual host named by `plan.agentId` from the next sample on. Adding a
   * plan id that already runs on that host does nothing (and returns false). Throws
   * {@link UnknownVirtualHostError} for an unknown host and `InvalidWorkloadError` for a
   * workload that cannot run.
   */
  addPlan(plan: Plan, callbacks: VirtualPlanCallbacks = {}): boolean {
    const index = this.byId.get(plan.agentId);
    if (index === undefined) throw new UnknownVirtualHostError(plan.agentId, this.size);
    const list = this.plans.get(index) ?? [];
    if (list.some((p) => p.plan.planId === plan.planId && !p.done)) return false;
    const o = this.options;
    const vp = new VirtualPlan(
      plan,
      {
        agentId: o.agentId,
        host: this.fleet.hosts[index]!,
        seed: String(o.seed),
        baselineRunMs: o.baselineRunMs,
        matmulFlopsPerSecond: o.matmulFlopsPerSecond,
      },
      callbacks,
    );
    list.push(vp);
    this.plans.set(index, list);
    return true;
  }

  /** Plans not yet done. */
  runningPlans(): number {
    let n = 0;
    for (const list of this.plans.values()) n += list.length;
    return n;
  }

  /**
   * Halts every plan (or one experiment's) at `timeMs`: running injections end there and
   * report their truth windows now. Returns how many injections were running.
   */
  halt(timeMs: number, experimentId?: string): number {
    let stopped = 0;
    for (const [index, list] of this.plans) {
      for (const p of list) {
        if (experimentId === undefined || p.plan.experimentId === experimentId) stopped += p.halt(timeMs);
      }
      this.prune(index, list);
    }
    return stopped;
  }

  /**
   * Advances every plan to `timeMs` without sampling: injections that ended by then report
   * their truth windows, plans whose time is up end. A backfill calls it at the end of its
   * range.
   */
  settle(timeMs: number): void {
    for (const [index, list] of this.plans) {
      for (const p of list) p.advance(timeMs);
      this.prune(index, list);
    }
  }

  private prune(index: number, list: VirtualPlan[]): void {
    if (!list.some((p) => p.done)) return;
    const left = list.filter((p) => !p.done);
    if (left.length === 0) this.plans.delete(index);
    else this.plans.set(index, left);
  }

  /** The next sample of host `index` at `timeMs` (ms since the epoch, an integer; later than its previous one). */
  sampleHost(index: number, timeMs: number): Sample {
    const host = this.fleet.hosts[index];
    if (host === undefined) throw new RangeError(`host index ${index} is not in [0, ${this.size})`);
    const effects = this.effects;
    resetEffects(effects);
    const shares = this.shares;
    shares.length = 0;
    let labels = IDLE;
    const list = this.plans.get(index);
    if (list !== undefined) {
      for (const p of list) {
        const l = p.step(timeMs, effects, shares);
        if (!p.done) labels = l;
      }
      this.prune(index, list);
    }
    const tick = this.models[index]!.next(timeMs, effects);
    for (const s of shares) s.injection.record(timeMs, s.asked, tick.cpuApplied, tick.memoryApplied);
    const seq = ++this.seqs[index]!;
    if (seq === 1) this.firstMs[index] = timeMs;
    return {
      hostId: host.hostId,
      seq: BigInt(seq),
      agentStartUnixNano: BigInt(Math.round(this.firstMs[index]!)) * 1_000_000n,
      timeUnixNano: BigInt(Math.round(timeMs)) * 1_000_000n,
      labels,
      host: tick.host,
      process: undefined,
      cgroup: undefined,
      metrics: tick.metrics,
    };
  }

  /** Samples every host at `timeMs`, in host order. */
  sampleAll(timeMs: number, emit: (sample: Sample) => void): void {
    for (let i = 0; i < this.fleet.hosts.length; i++) emit(this.sampleHost(i, timeMs));
  }
}
