import { Command } from 'commander';
import { NATS_AUTH_FLAGS, natsAuthFromFlags, type NatsAuthFlagValues } from '@faultline/protocol';
import type { ControllerOptions } from './controller-server.js';

/**
 * The controller's configuration from flags and environment (flags win):
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--listen HOST:PORT` | `FAULTLINE_CONTROLLER_LISTEN` | 127.0.0.1:15051 |
 * | `--redis URL` | `FAULTLINE_REDIS_URL` | redis://127.0.0.1:16379 |
 * | `--nats URL` | `FAULTLINE_NATS_URL` | none (streams are not created) |
 * | `--nats-creds FILE`, `--nats-nkey-file FILE`, `--nats-user NAME` + `--nats-password-file FILE`, `--nats-token-file FILE` | `FAULTLINE_NATS_CREDS`, … (see `NATS_AUTH_FLAGS`) | no authentication |
 * | `--nats-ca FILE`, `--nats-cert FILE`, `--nats-key FILE`, `--nats-inbox-prefix P` | `FAULTLINE_NATS_CA`, … | no TLS; `_INBOX_controller` with credentials |
 * | `--metrics-port N` | `FAULTLINE_CONTROLLER_METRICS_PORT` | -1 (off) |
 * | `--metrics-host ADDR` | `FAULTLINE_METRICS_HOST` | 127.0.0.1 |
 * | `--lease-ms N` | `FAULTLINE_AGENT_LEASE_MS` | 15000 |
 * | `--partitions N` | `FAULTLINE_PARTITIONS` | 16 |
 * | `--tls-cert FILE` | `FAULTLINE_CONTROLLER_TLS_CERT` | none (plaintext) |
 * | `--tls-key FILE` | `FAULTLINE_CONTROLLER_TLS_KEY` | none |
 * | `--tls-client-ca FILE` | `FAULTLINE_CONTROLLER_TLS_CLIENT_CA` | none (no mTLS) |
 * | `--token-file FILE` | `FAULTLINE_CONTROLLER_TOKEN_FILE` | none (CLI unauthenticated) |
 * | `--agent-token-file FILE` | `FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE` | none |
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
    .option('--tls-cert <file>', 'PEM server certificate: serve gRPC over TLS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-client-ca <file>', 'PEM CA: require client certificates it signed (mTLS)')
    .option(
      '--token-file <file>',
      'CLI tokens, one per line: ControlService calls need one (re-read on SIGHUP)',
    )
    .option('--agent-token-file <file>', 'agent tokens, one per line: AgentService calls need one')
    .exitOverride();
  for (const n of NATS_AUTH_FLAGS) {
    cmd.option(`${n.flag} <${n.arg.toLowerCase()}>`, `${n.help} (env ${n.env})`);
  }
  cmd.parse(argv, { from: 'user' });
  const f = cmd.opts<{
    listen?: string;
    redis?: string;
    nats?: string;
    metricsPort?: string;
    metricsHost?: string;
    leaseMs?: string;
    partitions?: string;
    tlsCert?: string;
    tlsKey?: string;
    tlsClientCa?: string;
    tokenFile?: string;
    agentTokenFile?: string;
  }>();
  const num = (v: string | undefined): number | undefined =>
    v === undefined || v === '' ? undefined : Number(v);
  // An empty variable (as manifests leave them) means unset.
  const optionalPath = (v: string | undefined): string | undefined => (v === '' ? undefined : v);
  return {
    listen: f.listen ?? env.FAULTLINE_CONTROLLER_LISTEN,
    redisUrl: f.redis ?? env.FAULTLINE_REDIS_URL,
    natsUrl: f.nats ?? env.FAULTLINE_NATS_URL,
    natsAuth: natsAuthFromFlags(cmd.opts<NatsAuthFlagValues>(), env),
    metricsPort: num(f.metricsPort ?? env.FAULTLINE_CONTROLLER_METRICS_PORT),
    metricsHost: f.metricsHost ?? env.FAULTLINE_METRICS_HOST,
    leaseMs: num(f.leaseMs ?? env.FAULTLINE_AGENT_LEASE_MS),
    partitions: num(f.partitions ?? env.FAULTLINE_PARTITIONS),
    tlsCertFile: optionalPath(f.tlsCert ?? env.FAULTLINE_CONTROLLER_TLS_CERT),
    tlsKeyFile: optionalPath(f.tlsKey ?? env.FAULTLINE_CONTROLLER_TLS_KEY),
    tlsClientCaFile: optionalPath(f.tlsClientCa ?? env.FAULTLINE_CONTROLLER_TLS_CLIENT_CA),
    tokenFile: optionalPath(f.tokenFile ?? env.FAULTLINE_CONTROLLER_TOKEN_FILE),
    agentTokenFile: optionalPath(f.agentTokenFile ?? env.FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE),
  };
}

/**
 * The control plane's security variables, of the controller (`FAULTLINE_CONTROLLER_TLS_*`,
 * `..._TOKEN_FILE`, `..._AGENT_TOKEN_FILE`) and of the agent (`FAULTLINE_AGENT_TLS*`,
 * `FAULTLINE_AGENT_TOKEN_FILE`).
 */
export const CONTROL_PLANE_SECURITY_ENV: readonly string[] = [
  'FAULTLINE_CONTROLLER_TLS_CERT',
  'FAULTLINE_CONTROLLER_TLS_KEY',
  'FAULTLINE_CONTROLLER_TLS_CLIENT_CA',
  'FAULTLINE_CONTROLLER_TOKEN_FILE',
  'FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE',
  'FAULTLINE_AGENT_TLS',
  'FAULTLINE_AGENT_TLS_CA',
  'FAULTLINE_AGENT_TLS_CERT',
  'FAULTLINE_AGENT_TLS_KEY',
  'FAULTLINE_AGENT_TLS_SERVER_NAME',
  'FAULTLINE_AGENT_TOKEN_FILE',
];

/** `env` without {@link CONTROL_PLANE_SECURITY_ENV}: for the plaintext local dev stack. */
export function withoutControlPlaneSecurityEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of CONTROL_PLANE_SECURITY_ENV) delete out[k];
  return out;
}
