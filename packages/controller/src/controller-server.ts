import { createServer, type Server as HttpServer } from 'node:http';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { Redis } from 'ioredis';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  AgentServiceService,
  ControlServiceService,
  DEFAULT_PARTITIONS,
  ensureStreams,
} from '@faultline/protocol';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { InvalidOptionsError } from './errors.js';
import { agentService, controlService } from './grpc/services.js';
import { Scheduler, type ExperimentCompiler, type SchedulerOptions } from './scheduler.js';
import { RedisStore } from './store/redis-store.js';

/** Options of the controller process. */
export interface ControllerOptions {
  /** gRPC listen address host:port; port 0 picks a free one. Default 127.0.0.1:15051. */
  listen?: string;
  /** Redis URL. Default redis://127.0.0.1:16379 (the dev stack's). */
  redisUrl?: string;
  /**
   * NATS URL; when set, the controller creates or updates the JetStream streams at start
   * (FL_SAMPLES, FL_TRUTH, FL_ANOMALIES, FL_SCORES, FL_DEADLETTER). Default: none.
   */
  natsUrl?: string;
  /** Key prefix in Redis. Default "fl". */
  redisPrefix?: string;
  /** HTTP port for /metrics and /healthz; 0 picks a free one, -1 disables. Default -1. */
  metricsPort?: number;
  /** Address /metrics and /healthz bind to; `0.0.0.0` in a pod. Default 127.0.0.1. */
  metricsHost?: string;
  /** Agent lease TTL, ms, [1000, 600000]. Default 15000. */
  leaseMs?: number;
  /** Heartbeat interval on WatchAssignments, ms; must be < leaseMs / 2. Default 3000. */
  heartbeatMs?: number;
  /** Sample partitions, [1, 1024]. Default 16. */
  partitions?: number;
  scheduler?: SchedulerOptions;
}

export type ResolvedControllerOptions = Required<Omit<ControllerOptions, 'scheduler' | 'natsUrl'>> & {
  scheduler: SchedulerOptions;
  natsUrl: string | undefined;
};

export function resolveControllerOptions(raw: ControllerOptions = {}): ResolvedControllerOptions {
  const o = {
    listen: raw.listen ?? '127.0.0.1:15051',
    redisUrl: raw.redisUrl ?? 'redis://127.0.0.1:16379',
    natsUrl: raw.natsUrl,
    redisPrefix: raw.redisPrefix ?? 'fl',
    metricsPort: raw.metricsPort ?? -1,
    metricsHost: raw.metricsHost ?? '127.0.0.1',
    leaseMs: raw.leaseMs ?? 15_000,
    heartbeatMs: raw.heartbeatMs ?? 3000,
    partitions: raw.partitions ?? DEFAULT_PARTITIONS,
    scheduler: raw.scheduler ?? {},
  };
  if (!/^[^:]+:\d+$/.test(o.listen)) {
    throw new InvalidOptionsError('listen', `listen must be host:port, got ${JSON.stringify(o.listen)}`);
  }
  if (!Number.isInteger(o.leaseMs) || o.leaseMs < 1000 || o.leaseMs > 600_000) {
    throw new InvalidOptionsError(
      'leaseMs',
      `leaseMs must be an integer in [1000, 600000], got ${o.leaseMs}`,
    );
  }
  if (!(o.heartbeatMs > 0 && o.heartbeatMs < o.leaseMs / 2)) {
    throw new InvalidOptionsError(
      'heartbeatMs',
      `heartbeatMs must be in (0, leaseMs/2 = ${o.leaseMs / 2}), got ${o.heartbeatMs}`,
    );
  }
  if (!Number.isInteger(o.partitions) || o.partitions < 1 || o.partitions > 1024) {
    throw new InvalidOptionsError(
      'partitions',
      `partitions must be an integer in [1, 1024], got ${o.partitions}`,
    );
  }
  if (!Number.isInteger(o.metricsPort) || o.metricsPort < -1 || o.metricsPort > 65535) {
    throw new InvalidOptionsError(
      'metricsPort',
      `metricsPort must be -1 (off) or in [0, 65535], got ${o.metricsPort}`,
    );
  }
  return o;
}

/** Logs and counts background errors; the one sink for failures outside a request. */
export type ErrorSink = (err: unknown, where: string) => void;

/**
 * The controller: gRPC AgentService + ControlService + grpc.health.v1, state in Redis,
 * Prometheus metrics. `start()` resumes experiments left active by a previous process.
 */
export class ControllerServer {
  readonly options: ResolvedControllerOptions;
  readonly registry = new Registry();
  private readonly grpc = new Server();
  private readonly redis: Redis;
  private readonly duplicates = new Set<Redis>();
  readonly store: RedisStore;
  readonly scheduler: Scheduler;
  private http: HttpServer | undefined;
  private readonly errors: Counter;
  private heartbeat: NodeJS.Timeout | undefined;
  port = 0;
  metricsPort = 0;

  constructor(
    compile: ExperimentCompiler,
    options: ControllerOptions = {},
    private readonly onError: ErrorSink = () => {},
  ) {
    this.options = resolveControllerOptions(options);
    this.redis = new Redis(this.options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.redis.on('error', () => {}); // surfaced through failing commands
    this.store = new RedisStore(this.redis, this.options.redisPrefix);
    this.scheduler = new Scheduler(this.store, compile, this.options.scheduler);
    collectDefaultMetrics({ register: this.registry, prefix: 'faultline_controller_' });
    this.errors = new Counter({
      name: 'faultline_controller_errors_total',
      help: 'Errors in request handlers and background loops, by where they happened',
      labelNames: ['where'],
      registers: [this.registry],
    });
  }

  private reportError(err: unknown, where: string): void {
    this.errors.inc({ where });
    this.onError(err, where);
  }

  async start(): Promise<void> {
    try {
      await this.redis.connect();
      await this.redis.ping();
    } catch (err) {
      throw new InvalidOptionsError(
        'redisUrl',
        `cannot reach Redis at ${this.options.redisUrl}: ${(err as Error).message} (start it with: faultline dev up)`,
      );
    }
    const ctx = {
      store: this.store,
      scheduler: this.scheduler,
      duplicateRedis: () => {
        const r = this.redis.duplicate();
        r.on('error', () => {});
        this.duplicates.add(r);
        r.on('end', () => this.duplicates.delete(r));
        return r;
      },
      leaseMs: this.options.leaseMs,
      partitions: this.options.partitions,
      nowNs: () => BigInt(Date.now()) * 1_000_000n,
      onError: (err: unknown, where: string) => this.reportError(err, where),
    };
    this.grpc.addService(AgentServiceService, agentService(ctx));
    this.grpc.addService(ControlServiceService, controlService(ctx));
    const health = new HealthImplementation({
      '': 'SERVING',
      'faultline.v1.AgentService': 'SERVING',
      'faultline.v1.ControlService': 'SERVING',
    });
    health.addToServer(this.grpc);
    this.port = await new Promise<number>((resolve, reject) =>
      this.grpc.bindAsync(this.options.listen, ServerCredentials.createInsecure(), (err, port) =>
        err
          ? reject(
              new InvalidOptionsError('listen', `cannot listen on ${this.options.listen}: ${err.message}`),
            )
          : resolve(port),
      ),
    );
    if (this.options.natsUrl) await this.ensureStreams(this.options.natsUrl);
    await this.scheduler.resume();
    this.heartbeat = setInterval(() => {
      this.scheduler
        .heartbeat(this.options.leaseMs)
        .catch((err: unknown) => this.reportError(err, 'heartbeat'));
    }, this.options.heartbeatMs);
    if (this.options.metricsPort >= 0) await this.startHttp();
  }

  private async ensureStreams(natsUrl: string): Promise<void> {
    let nc;
    try {
      nc = await connect({ servers: natsUrl, timeout: 5000 });
    } catch (err) {
      throw new InvalidOptionsError(
        'natsUrl',
        `cannot reach NATS at ${natsUrl}: ${(err as Error).message} (start it with: faultline dev up)`,
      );
    }
    try {
      await ensureStreams(await jetstreamManager(nc));
    } finally {
      await nc.close();
    }
  }

  private async startHttp(): Promise<void> {
    this.http = createServer((req, res) => {
      if (req.url === '/healthz') {
        this.redis.ping().then(
          () => res.writeHead(200).end('ok\n'),
          (err: Error) => res.writeHead(503).end(`redis: ${err.message}\n`),
        );
      } else if (req.url === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else res.writeHead(404).end('not found\n');
    });
    const http = this.http;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.options.metricsPort, this.options.metricsHost, () => resolve());
    });
    const addr = http.address();
    this.metricsPort = typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Stops serving; experiments stay in Redis for the next controller. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.scheduler.close();
    // Agents hold WatchAssignments open forever: give unary calls a moment, then cut streams.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.grpc.forceShutdown();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    for (const r of this.duplicates) r.disconnect();
    this.redis.disconnect();
  }
}
