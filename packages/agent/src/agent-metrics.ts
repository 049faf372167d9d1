import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry, Summary } from 'prom-client';

/** The agent's Prometheus metrics (prefix `faultline_agent_`), including its own cpu and RSS. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly samplesTaken: Counter;
  readonly samplingErrors: Counter;
  readonly samplingSkipped: Gauge;
  readonly jitter: Summary;
  readonly published: Gauge;
  readonly spooled: Gauge;
  readonly lost: Gauge;
  readonly spoolBytes: Gauge;
  readonly natsConnected: Gauge;
  readonly natsRefusals: Gauge;
  readonly injectionsRunning: Gauge;
  readonly errors: Counter;
  readonly sampleCost: Summary;
  private server: Server | undefined;

  constructor(labels: { agent: string }) {
    this.registry.setDefaultLabels(labels);
    // The event-loop monitor's default 10 ms resolution alone costs ~0.4% of a core when idle;
    // sampling jitter already measures loop lag, so a coarse monitor is enough.
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'faultline_agent_',
      eventLoopMonitoringPrecision: 100,
    });
    const r = [this.registry];
    this.samplesTaken = new Counter({
      name: 'faultline_agent_samples_taken_total',
      help: 'Samples taken',
      registers: r,
    });
    this.samplingErrors = new Counter({
      name: 'faultline_agent_sampling_errors_total',
      help: 'Sampling ticks that failed',
      registers: r,
    });
    this.samplingSkipped = new Gauge({
      name: 'faultline_agent_sampling_skipped_slots',
      help: 'Sampling slots skipped because a tick overran (current loop)',
      registers: r,
    });
    this.jitter = new Summary({
      name: 'faultline_agent_sampling_jitter_seconds',
      help: 'How late sampling ticks ran',
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: r,
    });
    this.sampleCost = new Summary({
      name: 'faultline_agent_sample_cost_seconds',
      help: 'Time to read one full sample from /proc',
      percentiles: [0.5, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: r,
    });
    this.published = new Gauge({
      name: 'faultline_agent_samples_published',
      help: 'Samples acked by JetStream',
      registers: r,
    });
    this.spooled = new Gauge({
      name: 'faultline_agent_samples_spooled',
      help: 'Samples waiting in the spool',
      registers: r,
    });
    this.lost = new Gauge({
      name: 'faultline_agent_samples_lost',
      help: 'Samples lost (spool full, disk errors)',
      registers: r,
    });
    this.spoolBytes = new Gauge({
      name: 'faultline_agent_spool_bytes',
      help: 'Bytes in the sample spool',
      registers: r,
    });
    this.natsConnected = new Gauge({
      name: 'faultline_agent_nats_connected',
      help: '1 while connected to NATS',
      registers: r,
    });
    this.natsRefusals = new Gauge({
      name: 'faultline_agent_nats_refusals',
      help: 'Times NATS refused the credentials or a publish (not permitted); what it refused stays spooled',
      registers: r,
    });
    this.injectionsRunning = new Gauge({
      name: 'faultline_agent_injections_running',
      help: 'Injections running now',
      registers: r,
    });
    this.errors = new Counter({
      name: 'faultline_agent_errors_total',
      help: 'Errors in background work, by where',
      labelNames: ['where'],
      registers: r,
    });
  }

  /** Serves /metrics and /healthz on 127.0.0.1:`port` (0 = a free port); resolves with the port. */
  async listen(port: number, host = '127.0.0.1', healthy: () => boolean = () => true): Promise<number> {
    const server = createServer((req, res) => {
      if (req.url === '/healthz') {
        const ok = healthy();
        res.writeHead(ok ? 200 : 503).end(ok ? 'ok\n' : 'unhealthy\n');
      } else if (req.url === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else res.writeHead(404).end('not found\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
