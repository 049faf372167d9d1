import { createServer, type Server as HttpServer } from 'node:http';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { Redis } from 'ioredis';
import {
  AgentServiceService,
  ControlServiceService,
  DEFAULT_PARTITIONS,
  type NatsAuthOptions,
  type ResolvedNatsAuth,
} from '@faultline/protocol';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { InvalidOptionsError } from './errors.js';
import { ensureDataPlaneStreams, resolveControllerNatsAuth } from './nats-streams.js';
import { authInterceptor, ControlPlaneAuth, tokenFileReader, type TokenCounts } from './grpc/auth.js';
import { agentService, controlService } from './grpc/services.js';
import { serverTlsCredentials } from './grpc/tls-credentials.js';
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
  /**
   * Credentials, TLS and inbox prefix for `natsUrl` (`--nats-creds`, `--nats-nkey-file`, …);
   * the identity, which names the default inbox prefix, is `controller`. Default none.
   */
  natsAuth?: NatsAuthOptions;
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
  /**
   * PEM certificate (chain) the gRPC server presents; with `tlsKeyFile` it turns TLS on.
   * Default: none, plaintext (the loopback dev stack).
   */
  tlsCertFile?: string;
  /** PEM private key (unencrypted) of `tlsCertFile`; required with it. */
  tlsKeyFile?: string;
  /**
   * PEM CA bundle: when set, every client (agents, CLI, health probes) must present a
   * certificate it signed (mTLS), and agents are identified by their certificate. Needs TLS.
   */
  tlsClientCaFile?: string;
  /**
   * File of ControlService (CLI) tokens, one per line, `#` comments; when set, every
   * ControlService call needs `authorization: Bearer <token>`. Re-read by `reloadTokens()`.
   */
  tokenFile?: string;
  /** File of AgentService tokens, same format; when set, agents need one of them. */
  agentTokenFile?: string;
}

/** Options naming credential files: unset means the feature is off. */
type CredentialFileOptions =
  'tlsCertFile' | 'tlsKeyFile' | 'tlsClientCaFile' | 'tokenFile' | 'agentTokenFile';

export type ResolvedControllerOptions = Required<
  Omit<ControllerOptions, 'scheduler' | 'natsUrl' | 'natsAuth' | CredentialFileOptions>
> & {
  scheduler: SchedulerOptions;
  natsUrl: string | undefined;
  natsAuth: ResolvedNatsAuth;
} & { [K in CredentialFileOptions]: string | undefined };

export function resolveControllerOptions(raw: ControllerOptions = {}): ResolvedControllerOptions {
  const o = {
    listen: raw.listen ?? '127.0.0.1:15051',
    redisUrl: raw.redisUrl ?? 'redis://127.0.0.1:16379',
    natsUrl: raw.natsUrl,
    natsAuth: resolveControllerNatsAuth(raw.natsAuth),
    redisPrefix: raw.redisPrefix ?? 'fl',
    metricsPort: raw.metricsPort ?? -1,
    metricsHost: raw.metricsHost ?? '127.0.0.1',
    leaseMs: raw.leaseMs ?? 15_000,
    heartbeatMs: raw.heartbeatMs ?? 3000,
    partitions: raw.partitions ?? DEFAULT_PARTITIONS,
    scheduler: raw.scheduler ?? {},
    tlsCertFile: raw.tlsCertFile,
    tlsKeyFile: raw.tlsKeyFile,
    tlsClientCaFile: raw.tlsClientCaFile,
    tokenFile: raw.tokenFile,
    agentTokenFile: raw.agentTokenFile,
  };
  checkSecurityOptions(o);
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

/**
 * TLS files come in pairs, mTLS needs TLS, and once either service is authenticated both
 * must be: a token for the CLI with agents let in unauthenticated (or the reverse) is refused.
 */
function checkSecurityOptions(o: ResolvedControllerOptions): void {
  for (const k of ['tlsCertFile', 'tlsKeyFile', 'tlsClientCaFile', 'tokenFile', 'agentTokenFile'] as const) {
    if (o[k] === '') throw new InvalidOptionsError(k, `${k} must be a file path, got ""`);
  }
  if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) {
    throw new InvalidOptionsError(
      o.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile',
      `--tls-cert and --tls-key go together, got only ${o.tlsCertFile === undefined ? '--tls-key' : '--tls-cert'}`,
    );
  }
  const mtls = o.tlsClientCaFile !== undefined;
  if (mtls && o.tlsCertFile === undefined) {
    throw new InvalidOptionsError('tlsClientCaFile', '--tls-client-ca (mTLS) needs --tls-cert and --tls-key');
  }
  const controlAuth = o.tokenFile !== undefined || mtls;
  const agentAuth = o.agentTokenFile !== undefined || mtls;
  if (controlAuth && !agentAuth) {
    throw new InvalidOptionsError(
      'agentTokenFile',
      '--token-file protects ControlService but agents would connect unauthenticated: ' +
        'set --agent-token-file or --tls-client-ca too',
    );
  }
  if (agentAuth && !controlAuth) {
    throw new InvalidOptionsError(
      'tokenFile',
      '--agent-token-file protects AgentService but ControlService (start, halt) would be open: ' +
        'set --token-file or --tls-client-ca too',
    );
  }
}

/** What the control plane's security is, for logs: never a token, only how many. */
export interface ControlPlaneSecurity extends TokenCounts {
  tls: boolean;
  mtls: boolean;
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
  private readonly grpc: Server;
  private readonly auth: ControlPlaneAuth;
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
    const mtls = this.options.tlsClientCaFile !== undefined;
    this.auth = new ControlPlaneAuth(
      tokenFileReader({ tokenFile: this.options.tokenFile, agentTokenFile: this.options.agentTokenFile }),
      mtls,
    );
    const refused = new Counter({
      name: 'faultline_controller_auth_refused_total',
      help: 'Calls refused by authentication or authorization, by method and gRPC status code',
      labelNames: ['method', 'code'],
      registers: [this.registry],
    });
    const authOn = mtls || this.options.tokenFile !== undefined;
    this.grpc = new Server(
      authOn
        ? {
            interceptors: [
              authInterceptor(this.auth, (method, err) => refused.inc({ method, code: err.code })),
            ],
          }
        : {},
    );
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

  /** TLS, mTLS and how many tokens are in force (after `start()`). */
  security(): ControlPlaneSecurity {
    return {
      tls: this.options.tlsCertFile !== undefined,
      mtls: this.auth.mtls,
      ...this.auth.counts(),
    };
  }

  /**
   * Re-reads the token files (rotation: add the new token, reload, move clients over,
   * remove the old one, reload). A file that cannot be read or parsed throws and leaves the
   * tokens in force unchanged.
   */
  reloadTokens(): TokenCounts {
    return this.auth.reload();
  }

  async start(): Promise<void> {
    // Credentials first: a bad file is a configuration error whatever else is reachable.
    const { tlsCertFile, tlsKeyFile, tlsClientCaFile } = this.options;
    const credentials =
      tlsCertFile !== undefined && tlsKeyFile !== undefined
        ? serverTlsCredentials({ certFile: tlsCertFile, keyFile: tlsKeyFile, clientCaFile: tlsClientCaFile })
        : ServerCredentials.createInsecure();
    this.auth.reload();
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
      this.grpc.bindAsync(this.options.listen, credentials, (err, port) =>
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
    await ensureDataPlaneStreams(natsUrl, this.options.natsAuth);
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
