import {
  Metadata,
  status,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type Halt,
  type Plan,
  type ReportProgressRequest,
  type StreamReportsRequest,
  type StreamReportsResponse,
  type WatchAssignmentsResponse,
} from '@faultline/protocol';
import type { Agent } from './agent.js';
import { loadControlCredentials, type ControlCredentialsOptions } from './control-credentials.js';
import { isPlanRefusedError } from './errors.js';

/**
 * Options of a {@link ControlLink}. TLS and the token (see {@link ControlCredentialsOptions})
 * are off by default; their files are read by the constructor.
 */
export interface ControlLinkOptions extends ControlCredentialsOptions {
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

/** A report waiting for the controller's answer, numbered in the order it was made. */
interface QueuedReport {
  seq: bigint;
  report: Report;
}

/**
 * The agent's side of the control plane: registers, holds WatchAssignments (reconnecting
 * forever), runs the plans it is sent within its caps (refusing with the cap's name),
 * confirms halts, and sends acks, progress and truth in order on StreamReports, sending
 * again from the first unanswered one whenever that stream is reopened. WatchAssignments is
 * also the dead-man switch: when the controller has been gone longer than the timeout,
 * every injection stops.
 */
export class ControlLink {
  private readonly client: AgentServiceClient;
  private stream: ClientReadableStream<WatchAssignmentsResponse> | undefined;
  private reports: ClientDuplexStream<StreamReportsRequest, StreamReportsResponse> | undefined;
  private reportsTimer: NodeJS.Timeout | undefined;
  /** Reports not answered yet, oldest first; the first `written` of them are on the stream. */
  private readonly queue: QueuedReport[] = [];
  private written = 0;
  private nextSeq = 1n;
  private closed = false;
  private lastContactMs = Date.now();
  private deadManTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private deadManFired = false;
  private readonly opts: Required<
    Pick<ControlLinkOptions, 'controller' | 'deadManTimeoutMs' | 'reconnectDelayMs' | 'version'>
  >;
  private readonly token: string | undefined;
  /** The failure logged last while (re)connecting, so that a lasting one is logged once. */
  private lastFailure: string | undefined;
  /** Plans received, by id (a re-sent plan is acked again, never run twice). */
  private readonly plans = new Map<string, Plan>();
  connected = false;
  /**
   * Why the last registration failed ("UNAUTHENTICATED: ...", "UNAVAILABLE: ..."), cleared
   * when one succeeds.
   */
  lastError: string | undefined;

  constructor(
    private readonly agent: Agent,
    options: ControlLinkOptions,
  ) {
    this.opts = {
      controller: options.controller,
      deadManTimeoutMs: options.deadManTimeoutMs ?? 15_000,
      reconnectDelayMs: options.reconnectDelayMs ?? 1000,
      version: options.version ?? '0.1.0',
    };
    const creds = loadControlCredentials(options);
    this.token = creds.token;
    this.client = new AgentServiceClient(this.opts.controller, creds.credentials, creds.channelOptions);
  }

  private metadata(): Metadata {
    const m = new Metadata();
    if (this.token !== undefined) m.set('authorization', `Bearer ${this.token}`);
    return m;
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
        this.metadata(),
        { deadline: Date.now() + 5000 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  private connect(): void {
    if (this.closed) return;
    this.register().then(
      () => {
        this.lastError = undefined;
        this.lastFailure = undefined;
        this.watch();
        this.openReports();
      },
      (err: unknown) => {
        this.onRegisterFailed(err);
        this.scheduleReconnect();
      },
    );
  }

  /** Logs a refusal or an unreachable controller once (not on every retry), with its status. */
  private onRegisterFailed(err: unknown): void {
    const se = err as Partial<ServiceError>;
    const code = se.code === undefined ? 'ERROR' : (status[se.code] ?? String(se.code));
    this.lastError = `${code}: ${se.details || se.message || String(err)}`;
    if (this.lastFailure === code) {
      this.agent.log.debug({ err: this.lastError }, 'register failed; retrying');
      return;
    }
    this.lastFailure = code;
    this.agent.log.warn(
      { controller: this.opts.controller, err: this.lastError },
      se.code === status.UNAUTHENTICATED || se.code === status.PERMISSION_DENIED
        ? 'the controller refused this agent; retrying'
        : 'cannot register with the controller; retrying',
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
    const stream = this.client.watchAssignments({ agentId: this.agent.options.agentId }, this.metadata());
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

  private report(report: Report): void {
    this.queue.push({ seq: this.nextSeq++, report });
    this.pump();
  }

  /** Opens StreamReports unless it is open; what was not answered on the last one goes again. */
  private openReports(): void {
    if (this.closed || this.reports) return;
    const stream = this.client.streamReports(this.metadata());
    this.reports = stream;
    this.written = 0;
    stream.on('data', (m: StreamReportsResponse) => this.onAnswer(m));
    const lost = (): void => {
      if (this.reports !== stream) return;
      this.reports = undefined;
      this.written = 0;
      if (this.closed || this.reportsTimer) return;
      this.reportsTimer = setTimeout(() => {
        this.reportsTimer = undefined;
        this.openReports();
      }, this.opts.reconnectDelayMs);
    };
    stream.on('error', lost);
    stream.on('end', lost);
    this.pump();
  }

  /** Answers come in the order reports were sent: drop every report up to the one answered. */
  private onAnswer(m: StreamReportsResponse): void {
    while (this.queue.length > 0 && this.queue[0]!.seq <= m.seq) {
      const done = this.queue.shift()!;
      this.written = Math.max(0, this.written - 1);
      if (done.seq === m.seq && m.code !== status.OK) {
        this.agent.log.warn(
          { seq: m.seq, code: m.code, report: done.report.report?.$case, reason: m.message },
          'controller refused a report',
        );
      }
    }
  }

  /** Writes every queued report not on the stream yet. */
  private pump(): void {
    const stream = this.reports;
    if (!stream || this.closed) return;
    const agentId = this.agent.options.agentId;
    while (this.written < this.queue.length) {
      const q = this.queue[this.written++]!;
      stream.write({ seq: q.seq, report: { agentId, ...q.report } });
    }
  }

  /** Reports still waiting to be delivered. */
  pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.closed = true;
    if (this.deadManTimer) clearInterval(this.deadManTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.reportsTimer) clearTimeout(this.reportsTimer);
    this.stream?.cancel();
    this.reports?.cancel();
    this.client.close();
  }
}
