import { credentials, Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type Halt,
  type Plan,
  type ReportProgressRequest,
  type WatchAssignmentsResponse,
} from '@faultline/protocol';
import type { Agent } from './agent.js';
import { isPlanRefusedError } from './errors.js';

/** Options of a {@link ControlLink}. */
export interface ControlLinkOptions {
  /** Controller address host:port. */
  controller: string;
  /**
   * Stop every injection when the controller has been unreachable for longer than this, ms;
   * a plan's `dead_man_timeout_ms` overrides it while it runs. Default 15000.
   */
  deadManTimeoutMs?: number;
  /** Pause between reconnect attempts, ms. Default 1000. */
  reconnectDelayMs?: number;
  /** Version string reported at registration. */
  version?: string;
}

type Report = Omit<ReportProgressRequest, 'agentId'>;

/**
 * The agent's side of the control plane: registers, holds WatchAssignments (reconnecting
 * forever), runs the plans it is sent within its caps (refusing with the cap's name),
 * confirms halts, and sends acks, progress and truth in order, retrying the head of the
 * queue until the controller takes it. The stream is also the dead-man switch: when the
 * controller has been gone longer than the timeout, every injection stops.
 */
export class ControlLink {
  private readonly client: AgentServiceClient;
  private stream: ClientReadableStream<WatchAssignmentsResponse> | undefined;
  private readonly queue: Report[] = [];
  private sending = false;
  private closed = false;
  private lastContactMs = Date.now();
  private deadManTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private deadManFired = false;
  private readonly opts: Required<ControlLinkOptions>;
  /** Plans received, by id (a re-sent plan is acked again, never run twice). */
  private readonly plans = new Map<string, Plan>();
  connected = false;

  constructor(
    private readonly agent: Agent,
    options: ControlLinkOptions,
  ) {
    this.opts = { deadManTimeoutMs: 15_000, reconnectDelayMs: 1000, version: '0.1.0', ...options };
    this.client = new AgentServiceClient(this.opts.controller, credentials.createInsecure());
  }

  start(): void {
    this.deadManTimer = setInterval(() => this.checkDeadMan(), 250);
    this.connect();
  }

  private deadManMs(): number {
    let ms = this.opts.deadManTimeoutMs;
    for (const p of this.plans.values()) {
      if (p.deadManTimeoutMs > 0 && this.agent.running(p.planId)) ms = Math.min(ms, p.deadManTimeoutMs);
    }
    return ms;
  }

  private checkDeadMan(): void {
    if (this.connected || this.deadManFired) return;
    const silentMs = Date.now() - this.lastContactMs;
    if (silentMs <= this.deadManMs()) return;
    this.deadManFired = true;
    this.agent.log.warn(
      { silentMs },
      'controller unreachable past the dead-man timeout: stopping every injection',
    );
    void this.agent.halt().catch((err: unknown) => this.agent.error(err, 'dead-man halt'));
  }

  private register(): Promise<void> {
    const o = this.agent.options;
    return new Promise((resolve, reject) =>
      this.client.register(
        {
          agent: {
            agentId: o.agentId,
            hostname: o.hostId,
            labels: o.labels,
            caps: o.caps,
            version: this.opts.version,
            cpuCount: 0,
            memoryTotalBytes: 0n,
            hostIds: [o.hostId],
          },
        },
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  private connect(): void {
    if (this.closed) return;
    this.register().then(
      () => this.watch(),
      (err: unknown) => {
        this.agent.log.debug({ err }, 'register failed; retrying');
        this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    this.connected = false;
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, this.opts.reconnectDelayMs);
  }

  private watch(): void {
    const stream = this.client.watchAssignments({ agentId: this.agent.options.agentId });
    this.stream = stream;
    stream.on('data', (m: WatchAssignmentsResponse) => {
      this.connected = true;
      this.deadManFired = false;
      this.lastContactMs = Date.now();
      this.onAssignment(m);
    });
    stream.on('error', () => this.scheduleReconnect());
    stream.on('end', () => this.scheduleReconnect());
  }

  private onAssignment(m: WatchAssignmentsResponse): void {
    const a = m.assignment;
    if (!a) return;
    if (a.$case === 'plan') this.onPlan(a.value);
    else if (a.$case === 'halt') void this.onHalt(a.value);
    this.pump();
  }

  private onPlan(plan: Plan): void {
    const ack = (accepted: boolean, reason: string): void =>
      this.report({
        report: {
          $case: 'planAck',
          value: { planId: plan.planId, experimentId: plan.experimentId, accepted, reason },
        },
      });
    if (this.plans.has(plan.planId)) return ack(true, '');
    try {
      this.agent.check(plan);
    } catch (err) {
      const reason = isPlanRefusedError(err) ? err.message : `plan rejected: ${(err as Error).message}`;
      this.agent.log.warn({ plan: plan.planId, reason }, 'plan refused');
      return ack(false, reason);
    }
    this.plans.set(plan.planId, plan);
    ack(true, '');
    this.agent
      .runPlan(plan, {
        onTruth: (t) => this.report({ report: { $case: 'truth', value: t } }),
        onProgress: (p) => this.report({ report: { $case: 'progress', value: p } }),
      })
      .catch((err: unknown) => this.agent.error(err, `plan ${plan.planId}`));
  }

  private async onHalt(halt: Halt): Promise<void> {
    const stopped = await this.agent.halt(halt.experimentId || undefined);
    this.report({
      report: {
        $case: 'haltAck',
        value: {
          haltId: halt.haltId,
          injectionsStopped: stopped,
          confirmedUnixNano: BigInt(Date.now()) * 1_000_000n,
        },
      },
    });
  }

  private report(r: Report): void {
    this.queue.push(r);
    this.pump();
  }

  /** Sends the queue in order, one at a time; the head is retried until the controller takes it. */
  private pump(): void {
    const head = this.queue[0];
    if (this.sending || !head || this.closed) return;
    this.sending = true;
    this.client.reportProgress(
      { agentId: this.agent.options.agentId, ...head },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err) => {
        this.sending = false;
        if (err) {
          setTimeout(() => this.pump(), this.opts.reconnectDelayMs).unref();
          return;
        }
        this.queue.shift();
        this.pump();
      },
    );
  }

  /** Reports still waiting to be delivered. */
  pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.closed = true;
    if (this.deadManTimer) clearInterval(this.deadManTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stream?.cancel();
    this.client.close();
  }
}
