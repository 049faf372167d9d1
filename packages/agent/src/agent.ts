import { hostname } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import {
  assertSubjectToken,
  DEFAULT_PARTITIONS,
  resolveNatsAuthOptions,
  type NatsAuthOptions,
  type ResolvedNatsAuth,
  type Caps,
  type Plan,
  type PlanProgress,
  type Sample,
  type SampleLabels,
  type TruthWindow,
} from '@faultline/protocol';
import { AgentMetrics } from './agent-metrics.js';
import { checkPlan, hostCapacity, resolveCaps, type AgentCapsOptions, type HostCapacity } from './caps.js';
import { InvalidOptionsError } from './errors.js';
import { PlanExecutor, type ExecutorEvent, type PlanOutcome } from './executor.js';
import { PrmonWriter } from './prmon-writer.js';
import { ProcSampler } from './proc-sampler.js';
import { SamplePublisher } from './publisher.js';
import { RamlogWriter } from './ramlog-writer.js';
import { startSamplingLoop, type SamplingLoop, type SamplingTick } from './sampling-loop.js';
import { InjectionRunner } from './workloads/index.js';

/** Options of an {@link Agent}. */
export interface AgentOptions {
  /** Agent id: a NATS subject token. Default the hostname (dots become dashes). */
  agentId?: string;
  /** Host id written into samples. Default the agent id. */
  hostId?: string;
  /** Labels for target selectors (role, zone, ...). Default none. */
  labels?: Record<string, string>;
  /** Directory for the spool and workload scratch files. Default `.faultline/agents/<agentId>`. */
  dataDir?: string;
  /** NATS URL; without it nothing is published (standalone mode still writes files). */
  natsUrl?: string;
  /**
   * Credentials, TLS and inbox prefix for NATS (`--nats-creds`, `--nats-nkey-file`, …).
   * The identity, which names the default inbox prefix `_INBOX_<agentId>`, is the agent id.
   * Default none: no authentication.
   */
  natsAuth?: NatsAuthOptions;
  /** Sample partitions (as the detectors use). Default 16. */
  partitions?: number;
  /** Sampling interval when no plan runs, ms, [50, 60000]. Default 1000. A plan's interval wins while it runs. */
  samplingIntervalMs?: number;
  /** Max bytes of the on-disk sample spool. Default 256 MiB. */
  maxSpoolBytes?: number;
  /** Local caps no plan can exceed. */
  caps?: AgentCapsOptions;
  /** `/proc` root (`/host/proc` in a container). Default `/proc`. */
  procRoot?: string;
  /** `/sys` root. Default `/sys`. */
  sysRoot?: string;
  /** Port for /metrics and /healthz; 0 = a free port, -1 = off. Default -1. */
  metricsPort?: number;
  /** Address /metrics and /healthz bind to; `0.0.0.0` in a pod so Prometheus can scrape. Default 127.0.0.1. */
  metricsHost?: string;
  /** Write the seed's RAM log CSV here while plans run. */
  ramlogPath?: string;
  /** Write prmon-style output into this directory while plans run. */
  prmonDir?: string;
  logger?: Logger;
}

export interface ResolvedAgentOptions {
  agentId: string;
  hostId: string;
  labels: Record<string, string>;
  dataDir: string;
  natsUrl: string | undefined;
  natsAuth: ResolvedNatsAuth;
  partitions: number;
  samplingIntervalMs: number;
  maxSpoolBytes: number;
  caps: Caps;
  procRoot: string;
  sysRoot: string;
  metricsPort: number;
  metricsHost: string;
  ramlogPath: string | undefined;
  prmonDir: string | undefined;
}

export function defaultAgentId(): string {
  return hostname().replace(/[^A-Za-z0-9_-]/g, '-') || 'agent';
}

export function resolveAgentOptions(
  raw: AgentOptions = {},
  host: HostCapacity = hostCapacity(),
): ResolvedAgentOptions {
  const agentId = raw.agentId ?? defaultAgentId();
  assertSubjectToken('agentId', agentId);
  const samplingIntervalMs = raw.samplingIntervalMs ?? 1000;
  if (!(Number.isInteger(samplingIntervalMs) && samplingIntervalMs >= 50 && samplingIntervalMs <= 60_000)) {
    throw new InvalidOptionsError(
      'samplingIntervalMs',
      `samplingIntervalMs must be an integer in [50, 60000], got ${samplingIntervalMs}`,
    );
  }
  const metricsPort = raw.metricsPort ?? -1;
  if (!(Number.isInteger(metricsPort) && metricsPort >= -1 && metricsPort <= 65535)) {
    throw new InvalidOptionsError(
      'metricsPort',
      `metricsPort must be -1 (off) or in [0, 65535], got ${metricsPort}`,
    );
  }
  return {
    agentId,
    hostId: raw.hostId ?? agentId,
    labels: raw.labels ?? {},
    dataDir: raw.dataDir ?? join('.faultline', 'agents', agentId),
    natsUrl: raw.natsUrl,
    natsAuth: resolveNatsAuthOptions({ ...raw.natsAuth, identity: raw.natsAuth?.identity ?? agentId }),
    partitions: raw.partitions ?? DEFAULT_PARTITIONS,
    samplingIntervalMs,
    maxSpoolBytes: raw.maxSpoolBytes ?? 256 * 1024 * 1024,
    caps: resolveCaps(raw.caps, host),
    procRoot: raw.procRoot ?? '/proc',
    sysRoot: raw.sysRoot ?? '/sys',
    metricsPort,
    metricsHost: raw.metricsHost ?? '127.0.0.1',
    ramlogPath: raw.ramlogPath,
    prmonDir: raw.prmonDir,
  };
}

/** What a running plan reports to whoever started it (the controller link). */
export interface PlanCallbacks {
  onTruth?: (t: TruthWindow) => void;
  onProgress?: (p: PlanProgress) => void;
}

/**
 * The agent: samples /proc on a drift-free loop, labels every sample with what the plan is
 * doing, publishes durably to JetStream (when a NATS URL is given), runs plans within its
 * caps, and serves /metrics. Used by `faultline-agent run` (standalone) and `serve`.
 */
export class Agent {
  readonly options: ResolvedAgentOptions;
  readonly metrics: AgentMetrics;
  readonly runner: InjectionRunner;
  readonly log: Logger;
  private readonly sampler: ProcSampler;
  private publisher: SamplePublisher | undefined;
  private loop: SamplingLoop | undefined;
  private loopIntervalMs = 0;
  private seq = 0n;
  /** When this agent started: sample seqs start from 1 again with every start. */
  private readonly startedUnixNano = BigInt(Date.now()) * 1_000_000n;
  private readonly executors = new Map<string, PlanExecutor>();
  private ramlog: RamlogWriter | undefined;
  private prmon: PrmonWriter | undefined;
  private readonly host = hostCapacity();
  metricsPort = 0;

  constructor(options: AgentOptions = {}) {
    this.options = resolveAgentOptions(options);
    this.log = options.logger ?? pino({ name: 'faultline-agent' }).child({ agent: this.options.agentId });
    this.metrics = new AgentMetrics({ agent: this.options.agentId });
    // pss (smaps_rollup) costs ~1 ms per process: re-read it about once a second, not every tick.
    this.sampler = new ProcSampler({
      procRoot: this.options.procRoot,
      sysRoot: this.options.sysRoot,
      pssRefreshEvery: Math.max(1, Math.round(1000 / this.options.samplingIntervalMs)),
    });
    this.runner = new InjectionRunner({
      procRoot: this.options.procRoot,
      workDirectory: join(this.options.dataDir, 'work'),
      agentId: this.options.agentId,
      hostId: this.options.hostId,
      onError: (err, id) => this.error(err, `injection ${id}`),
    });
  }

  /** The one sink for background failures: logged with where, counted in metrics. */
  error(err: unknown, where: string): void {
    this.metrics.errors.inc({ where: where.split(' ')[0] ?? where });
    this.log.error({ err, where }, `${where}: ${err instanceof Error ? err.message : String(err)}`);
  }

  async start(): Promise<void> {
    if (this.options.natsUrl) {
      this.publisher = SamplePublisher.open({
        agentId: this.options.agentId,
        servers: this.options.natsUrl,
        partitions: this.options.partitions,
        spool: { dir: join(this.options.dataDir, 'spool'), maxSpoolBytes: this.options.maxSpoolBytes },
        connection: this.options.natsAuth.connectionOptions,
        onError: (err) => this.error(err, 'publisher'),
      });
      this.log.info(
        { nats: this.options.natsUrl, auth: this.options.natsAuth.description },
        'publishing samples and truth to NATS',
      );
    }
    if (this.options.ramlogPath) this.ramlog = new RamlogWriter(this.options.ramlogPath);
    if (this.options.prmonDir) this.prmon = new PrmonWriter(this.options.prmonDir);
    if (this.options.metricsPort >= 0)
      this.metricsPort = await this.metrics.listen(this.options.metricsPort, this.options.metricsHost);
    this.restartLoop(this.options.samplingIntervalMs);
  }

  private restartLoop(intervalMs: number): void {
    if (this.loop && this.loopIntervalMs === intervalMs) return;
    const old = this.loop;
    if (old) void old.stop();
    this.loopIntervalMs = intervalMs;
    this.loop = startSamplingLoop({
      intervalMs,
      onTick: (tick) => this.tick(tick),
      onError: (err) => {
        this.metrics.samplingErrors.inc();
        this.error(err, 'sampling');
      },
    });
  }

  /** The labels of the newest running plan, or idle. */
  currentLabels(): SampleLabels {
    const executors = [...this.executors.values()];
    return (
      executors[executors.length - 1]?.labels() ?? {
        experimentId: '',
        phase: '',
        state: 'idle',
        injectionId: '',
        anomalyType: '',
      }
    );
  }

  private tick(tick: SamplingTick): void {
    const t0 = performance.now();
    const s = this.sampler.sample(process.pid);
    this.metrics.sampleCost.observe((performance.now() - t0) / 1000);
    this.metrics.jitter.observe(Math.max(0, tick.jitterMs) / 1000);
    const labels = this.currentLabels();
    const sample: Sample = {
      hostId: this.options.hostId,
      seq: ++this.seq,
      agentStartUnixNano: this.startedUnixNano,
      timeUnixNano: BigInt(tick.wallTimeMs) * 1_000_000n,
      labels,
      host: s.host,
      process: s.process,
      cgroup: s.cgroup,
      metrics: {},
    };
    this.metrics.samplesTaken.inc();
    this.publisher?.publish(sample);
    if (this.executors.size > 0 && s.process) {
      this.ramlog?.sample(tick.wallTimeMs, labels.state, s.process.rssBytes);
      this.prmon?.sample(tick.wallTimeMs, labels.phase, s.process, s.host);
    }
    this.refreshGauges();
  }

  private refreshGauges(): void {
    const st = this.publisher?.stats();
    if (st) {
      this.metrics.published.set(st.samplesPublished);
      this.metrics.spooled.set(st.samplesSpooled);
      this.metrics.lost.set(st.samplesLost);
      this.metrics.spoolBytes.set(st.spoolBytes);
      this.metrics.natsConnected.set(st.connected ? 1 : 0);
      this.metrics.natsRefusals.set(st.natsRefusals);
    }
    this.metrics.samplingSkipped.set(this.loop?.stats().skipped ?? 0);
    this.metrics.injectionsRunning.set(this.runner.active().length);
  }

  /** Checks a plan against the caps; throws PlanRefusedError naming the cap. */
  check(plan: Plan): void {
    checkPlan(plan, this.options.caps, this.host);
  }

  /** Whether a plan with this id is running. */
  running(planId: string): boolean {
    return this.executors.has(planId);
  }

  /** Runs a plan (after checking it against the caps) to its end or a halt. */
  async runPlan(plan: Plan, callbacks: PlanCallbacks = {}): Promise<PlanOutcome> {
    this.check(plan);
    const executor = new PlanExecutor(plan, {
      runner: this.runner,
      onTruth: (t) => {
        this.publisher?.publishTruth(t);
        callbacks.onTruth?.(t);
      },
      onProgress: (p) => callbacks.onProgress?.(p),
      onEvent: (e: ExecutorEvent) => this.ramlog?.event(e),
      onError: (err, where) => this.error(err, where),
    });
    this.executors.set(plan.planId, executor);
    if (plan.samplingIntervalMs > 0) this.restartLoop(plan.samplingIntervalMs);
    this.log.info(
      { plan: plan.planId, experiment: plan.experimentId, injections: plan.injections.length },
      'plan started',
    );
    try {
      return await executor.run();
    } finally {
      this.executors.delete(plan.planId);
      if (this.executors.size === 0) this.restartLoop(this.options.samplingIntervalMs);
      this.log.info({ plan: plan.planId }, 'plan ended');
    }
  }

  /** Stops every injection of one experiment (or all, with no id); resolves with how many ran. */
  async halt(experimentId?: string): Promise<number> {
    let stopped = 0;
    for (const ex of [...this.executors.values()]) {
      if (!experimentId || ex.plan.experimentId === experimentId) stopped += await ex.halt();
    }
    if (!experimentId) await this.runner.recoverAll();
    return stopped;
  }

  /** Halts everything, flushes the publisher (what is unsent stays in the spool) and stops. */
  async stop(): Promise<void> {
    await this.halt();
    await this.loop?.stop();
    this.sampler.close();
    this.prmon?.close();
    await this.publisher?.close();
    await this.metrics.close();
  }

  publisherStats(): ReturnType<SamplePublisher['stats']> | undefined {
    return this.publisher?.stats();
  }
}
