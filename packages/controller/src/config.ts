import { Command } from 'commander';
import type { ControllerOptions } from './controller-server.js';

/**
 * The controller's configuration from flags and environment (flags win):
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--listen HOST:PORT` | `FAULTLINE_CONTROLLER_LISTEN` | 127.0.0.1:15051 |
 * | `--redis URL` | `FAULTLINE_REDIS_URL` | redis://127.0.0.1:16379 |
 * | `--nats URL` | `FAULTLINE_NATS_URL` | none (streams are not created) |
 * | `--metrics-port N` | `FAULTLINE_CONTROLLER_METRICS_PORT` | -1 (off) |
 * | `--metrics-host ADDR` | `FAULTLINE_METRICS_HOST` | 127.0.0.1 |
 * | `--lease-ms N` | `FAULTLINE_AGENT_LEASE_MS` | 15000 |
 * | `--partitions N` | `FAULTLINE_PARTITIONS` | 16 |
 *
 * Values are validated by `resolveControllerOptions`.
 */
export function parseControllerConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): ControllerOptions {
  const cmd = new Command('faultline-controller')
    .description('the Faultline controller: gRPC AgentService + ControlService, state in Redis')
    .option('--listen <host:port>', 'gRPC listen address')
    .option('--redis <url>', 'Redis URL')
    .option('--nats <url>', 'NATS URL: create or update the JetStream streams at start')
    .option('--metrics-port <port>', 'HTTP port for /metrics and /healthz (-1 = off)')
    .option('--metrics-host <addr>', 'address /metrics binds to (0.0.0.0 in a pod)')
    .option('--lease-ms <ms>', 'agent lease TTL')
    .option('--partitions <n>', 'number of sample partitions')
    .exitOverride()
    .parse(argv, { from: 'user' });
  const f = cmd.opts<{
    listen?: string;
    redis?: string;
    nats?: string;
    metricsPort?: string;
    metricsHost?: string;
    leaseMs?: string;
    partitions?: string;
  }>();
  const num = (v: string | undefined): number | undefined =>
    v === undefined || v === '' ? undefined : Number(v);
  return {
    listen: f.listen ?? env.FAULTLINE_CONTROLLER_LISTEN,
    redisUrl: f.redis ?? env.FAULTLINE_REDIS_URL,
    natsUrl: f.nats ?? env.FAULTLINE_NATS_URL,
    metricsPort: num(f.metricsPort ?? env.FAULTLINE_CONTROLLER_METRICS_PORT),
    metricsHost: f.metricsHost ?? env.FAULTLINE_METRICS_HOST,
    leaseMs: num(f.leaseMs ?? env.FAULTLINE_AGENT_LEASE_MS),
    partitions: num(f.partitions ?? env.FAULTLINE_PARTITIONS),
  };
}
