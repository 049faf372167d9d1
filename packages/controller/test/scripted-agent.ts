import {
  credentials,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type Plan,
  type ReportProgressRequest,
  type WatchAssignmentsResponse,
} from '@faultline/protocol';

/** How a {@link ScriptedAgent} connects: plaintext without a token unless told. */
export interface ScriptedAgentConnection {
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Sent as `authorization: Bearer <token>`. */
  token?: string;
}

/**
 * A lightweight agent for controller tests: a real gRPC client that registers, holds
 * WatchAssignments (reconnecting when it drops), acks plans, reports truth at the plan's
 * injection times and completion at its end, and confirms halts. It runs no workload.
 */
export class ScriptedAgent {
  readonly client: AgentServiceClient;
  readonly plans: Plan[] = [];
  halts = 0;
  private stream: ClientReadableStream<WatchAssignmentsResponse> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** Set to refuse plans with this reason. */
  refuse: string | undefined;

  constructor(
    readonly agentId: string,
    private address: string,
    readonly labels: Record<string, string> = {},
    private readonly connection: ScriptedAgentConnection = {},
  ) {
    this.client = new AgentServiceClient(
      address,
      connection.credentials ?? credentials.createInsecure(),
      connection.channelOptions ?? {},
    );
  }

  private metadata(): Metadata {
    const m = new Metadata();
    if (this.connection.token !== undefined) m.set('authorization', `Bearer ${this.connection.token}`);
    return m;
  }

  async register(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.client.register(
        {
          agent: {
            agentId: this.agentId,
            hostname: this.agentId,
            labels: this.labels,
            caps: undefined,
            version: 'test',
            cpuCount: 2,
            memoryTotalBytes: 8n << 30n,
            hostIds: [this.agentId],
          },
        },
        this.metadata(),
        { deadline: Date.now() + 5000 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  /** Opens WatchAssignments; reconnects (re-registering) after the stream fails. */
  watch(): void {
    if (this.closed) return;
    const stream = this.client.watchAssignments({ agentId: this.agentId }, this.metadata());
    this.stream = stream;
    stream.on('data', (m: WatchAssignmentsResponse) => this.onAssignment(m));
    stream.on('error', () => this.reconnectSoon());
    stream.on('end', () => this.reconnectSoon());
  }

  private reconnectSoon(): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.register().then(
        () => this.watch(),
        () => this.reconnectSoon(),
      );
    }, 100);
    this.timers.push(t);
  }

  private queue: Array<Omit<ReportProgressRequest, 'agentId'>> = [];
  private sending = false;

  /** Reports go out one at a time, in order; the head is retried until the controller takes it. */
  private report(req: Omit<ReportProgressRequest, 'agentId'>): void {
    this.queue.push(req);
    this.pump();
  }

  private pump(): void {
    const head = this.queue[0];
    if (this.sending || !head || this.closed) return;
    this.sending = true;
    this.client.reportProgress(
      { agentId: this.agentId, ...head },
      this.metadata(),
      { deadline: Date.now() + 2000 },
      (err) => {
        this.sending = false;
        if (err) {
          this.timers.push(setTimeout(() => this.pump(), 100));
          return;
        }
        this.queue.shift();
        this.pump();
      },
    );
  }

  private onAssignment(m: WatchAssignmentsResponse): void {
    const a = m.assignment;
    if (a?.$case === 'plan') this.onPlan(a.value);
    if (a?.$case === 'halt') {
      this.halts++;
      for (const t of this.timers) clearTimeout(t);
      this.timers = [];
      this.report({
        report: {
          $case: 'haltAck',
          value: {
            haltId: a.value.haltId,
            injectionsStopped: 0,
            confirmedUnixNano: BigInt(Date.now()) * 1_000_000n,
          },
        },
      });
    }
  }

  private onPlan(plan: Plan): void {
    const known = this.plans.some((p) => p.planId === plan.planId);
    this.report({
      report: {
        $case: 'planAck',
        value: {
          planId: plan.planId,
          experimentId: plan.experimentId,
          accepted: !this.refuse,
          reason: this.refuse ?? '',
        },
      },
    });
    if (known || this.refuse) return; // a re-sent plan keeps running as it is
    this.plans.push(plan);
    const at = (ns: bigint, fn: () => void): void => {
      this.timers.push(setTimeout(fn, Math.max(0, Number(ns / 1_000_000n) - Date.now())));
    };
    for (const inj of plan.injections) {
      const truth = {
        injectionId: inj.injectionId,
        experimentId: plan.experimentId,
        agentId: this.agentId,
        hostId: this.agentId,
        anomalyType: inj.anomalyType,
        phase: inj.phase,
        requestedStartUnixNano: inj.startUnixNano,
        requestedEndUnixNano: inj.endUnixNano,
        actualStartUnixNano: inj.startUnixNano,
        actualEndUnixNano: 0n,
        requested: inj.workload,
        achieved: undefined,
        reachedTarget: true,
        shortfall: '',
      };
      at(inj.startUnixNano, () => this.report({ report: { $case: 'truth', value: truth } }));
      at(inj.endUnixNano, () =>
        this.report({ report: { $case: 'truth', value: { ...truth, actualEndUnixNano: inj.endUnixNano } } }),
      );
    }
    at(plan.endUnixNano, () =>
      this.report({
        report: {
          $case: 'progress',
          value: {
            planId: plan.planId,
            experimentId: plan.experimentId,
            phase: '',
            state: 'idle',
            injectionsStarted: plan.injections.length,
            injectionsFinished: plan.injections.length,
            done: true,
          },
        },
      }),
    );
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.stream?.cancel();
    this.client.close();
  }
}
