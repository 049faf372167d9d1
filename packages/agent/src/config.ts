import { Command, InvalidArgumentError } from 'commander';
import { NATS_AUTH_FLAGS, natsAuthFromFlags, type NatsAuthFlagValues } from '@faultline/protocol';
import type { AgentCapsOptions } from './caps.js';
import type { AgentOptions } from './agent.js';
import type { ControlCredentialsOptions } from './control-credentials.js';
import { InvalidOptionsError } from './errors.js';

/**
 * Node flags the agent is launched with (the container image's entrypoint, `faultline dev
 * up`, the overhead benchmark): young-generation semi-spaces of 2 MiB instead of V8's
 * 16 MiB. The agent's heap is small and short-lived garbage is cheap to scavenge, so this
 * costs nothing measurable in cpu and keeps the start-up RSS peak (before V8's first full
 * collection) about 7 MB lower, under the 80 MB target.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** Parses "250ms", "15s", "2m", "1h" or plain ms into ms. */
export function parseDurationMs(flag: string): (value: string) => number {
  return (value: string) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (!m)
      throw new InvalidArgumentError(
        `${flag} must be a duration like 500ms, 15s or 2m, got ${JSON.stringify(value)}`,
      );
    const n = Number(m[1]);
    const unit = m[2] ?? 'ms';
    return Math.round(n * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1));
  };
}

function parseNumber(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n))
      throw new InvalidArgumentError(`${flag} must be a number, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** "role=worker,zone=a" → { role: 'worker', zone: 'a' }. */
export function parseLabels(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').filter((p) => p.trim() !== '')) {
    const [k, v] = part.split('=');
    if (!k || v === undefined) {
      throw new InvalidArgumentError(
        `--labels must be key=value pairs separated by commas, got ${JSON.stringify(value)}`,
      );
    }
    out[k.trim()] = v.trim();
  }
  return out;
}

/** Flags every agent command takes (env fallbacks noted in their help). */
export interface CommonAgentFlags extends NatsAuthFlagValues {
  agentId?: string;
  labels?: Record<string, string>;
  nats?: string;
  dataDir?: string;
  metricsPort?: number;
  metricsHost?: string;
  partitions?: number;
  procRoot?: string;
  sysRoot?: string;
  interval?: number;
  maxSpoolBytes?: number;
  maxMemoryFraction?: number;
  maxCores?: number;
  maxDuration?: number;
  allowedKinds?: string;
  maxConcurrentInjections?: number;
}

export function addCommonAgentFlags(cmd: Command): Command {
  cmd
    .option(
      '--agent-id <id>',
      'agent id, a NATS subject token (env FAULTLINE_AGENT_ID; default the hostname)',
    )
    .option('--labels <k=v,...>', 'labels for target selectors (env FAULTLINE_AGENT_LABELS)', parseLabels)
    .option('--nats <url>', 'publish samples and truth to this NATS server (env FAULTLINE_NATS_URL)');
  for (const f of NATS_AUTH_FLAGS) {
    cmd.option(`${f.flag} <${f.arg.toLowerCase()}>`, `${f.help} (env ${f.env})`);
  }
  return cmd
    .option('--data-dir <dir>', 'spool and scratch directory (default .faultline/agents/<id>)')
    .option(
      '--metrics-port <port>',
      'serve /metrics and /healthz on this port (0 = any free port)',
      parseNumber('--metrics-port'),
    )
    .option('--metrics-host <addr>', 'address /metrics binds to, 0.0.0.0 in a pod (default 127.0.0.1)')
    .option(
      '--partitions <n>',
      'sample partitions, as the detectors use (env FAULTLINE_PARTITIONS; default 16)',
      parseNumber('--partitions'),
    )
    .option('--proc-root <dir>', '/proc root, e.g. /host/proc in a container (env FAULTLINE_PROC_ROOT)')
    .option('--sys-root <dir>', '/sys root (env FAULTLINE_SYS_ROOT)')
    .option(
      '--interval <duration>',
      'sampling interval when no plan runs (default 1s)',
      parseDurationMs('--interval'),
    )
    .option(
      '--max-spool-bytes <n>',
      'cap of the on-disk spool (default 256 MiB)',
      parseNumber('--max-spool-bytes'),
    )
    .option(
      '--max-memory-fraction <f>',
      'cap: max fraction of RAM one injection may take (default 0.5)',
      parseNumber('--max-memory-fraction'),
    )
    .option(
      '--max-cores <n>',
      'cap: max cores injections may load at once (default: all)',
      parseNumber('--max-cores'),
    )
    .option(
      '--max-duration <duration>',
      'cap: max duration of one injection (default 1h)',
      parseDurationMs('--max-duration'),
    )
    .option('--allowed-kinds <list>', 'cap: comma-separated workload kinds allowed (default all)')
    .option(
      '--max-concurrent-injections <n>',
      'cap: max injections at once (default 4)',
      parseNumber('--max-concurrent-injections'),
    );
}

/** Turns flags and environment into AgentOptions (validated later by resolveAgentOptions). */
export function agentOptionsFrom(
  flags: CommonAgentFlags,
  env: NodeJS.ProcessEnv = process.env,
): AgentOptions {
  const caps: AgentCapsOptions = {
    maxMemoryFraction: flags.maxMemoryFraction,
    maxCores: flags.maxCores,
    maxDurationMs: flags.maxDuration,
    allowedKinds: flags.allowedKinds
      ?.split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
    maxConcurrentInjections: flags.maxConcurrentInjections,
  };
  return {
    agentId: flags.agentId ?? env.FAULTLINE_AGENT_ID,
    labels:
      flags.labels ?? (env.FAULTLINE_AGENT_LABELS ? parseLabels(env.FAULTLINE_AGENT_LABELS) : undefined),
    natsUrl: flags.nats ?? env.FAULTLINE_NATS_URL,
    natsAuth: natsAuthFromFlags(flags, env),
    dataDir: flags.dataDir,
    metricsPort: flags.metricsPort,
    metricsHost: flags.metricsHost ?? env.FAULTLINE_METRICS_HOST,
    partitions: flags.partitions ?? (env.FAULTLINE_PARTITIONS ? Number(env.FAULTLINE_PARTITIONS) : undefined),
    procRoot: flags.procRoot ?? env.FAULTLINE_PROC_ROOT,
    sysRoot: flags.sysRoot ?? env.FAULTLINE_SYS_ROOT,
    samplingIntervalMs: flags.interval,
    maxSpoolBytes: flags.maxSpoolBytes,
    caps,
  };
}

/** `serve` flags for the controller connection's TLS and token (see ControlCredentialsOptions). */
export interface ControlSecurityFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  tokenFile?: string;
}

/**
 * Adds the controller connection's security flags; all off by default (the dev stack):
 *
 * | flag | env |
 * |---|---|
 * | `--tls` | `FAULTLINE_AGENT_TLS=1` |
 * | `--tls-ca FILE` | `FAULTLINE_AGENT_TLS_CA` |
 * | `--tls-cert FILE` / `--tls-key FILE` | `FAULTLINE_AGENT_TLS_CERT` / `FAULTLINE_AGENT_TLS_KEY` |
 * | `--tls-server-name NAME` | `FAULTLINE_AGENT_TLS_SERVER_NAME` |
 * | `--token-file FILE` | `FAULTLINE_AGENT_TOKEN_FILE` |
 */
export function addControlSecurityFlags(cmd: Command): Command {
  return cmd
    .option(
      '--tls',
      'connect to the controller over TLS, trusting the system CAs (env FAULTLINE_AGENT_TLS=1)',
    )
    .option(
      '--tls-ca <file>',
      "PEM CA that signed the controller's certificate; implies --tls (env FAULTLINE_AGENT_TLS_CA)",
    )
    .option(
      '--tls-cert <file>',
      'PEM client certificate for mTLS, CN or DNS SAN = the agent id (env FAULTLINE_AGENT_TLS_CERT)',
    )
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env FAULTLINE_AGENT_TLS_KEY)')
    .option(
      '--tls-server-name <name>',
      "name to verify the controller's certificate against (env FAULTLINE_AGENT_TLS_SERVER_NAME)",
    )
    .option(
      '--token-file <file>',
      "agent token for the controller's --agent-token-file, first line used (env FAULTLINE_AGENT_TOKEN_FILE)",
    );
}

/** Turns the security flags and environment into ControlLink options (flags win; files are read by ControlLink). */
export function controlSecurityFrom(
  flags: ControlSecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
): ControlCredentialsOptions {
  const unset = (v: string | undefined): string | undefined => (v === '' ? undefined : v);
  const tlsEnv = (env.FAULTLINE_AGENT_TLS ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'true', 'false', 'yes', 'no'].includes(tlsEnv)) {
    throw new InvalidOptionsError(
      'tls',
      `FAULTLINE_AGENT_TLS must be 1 or 0 (true or false), got ${JSON.stringify(env.FAULTLINE_AGENT_TLS)}`,
    );
  }
  return {
    tls: flags.tls === true || ['1', 'true', 'yes'].includes(tlsEnv),
    tlsCaFile: flags.tlsCa ?? unset(env.FAULTLINE_AGENT_TLS_CA),
    tlsCertFile: flags.tlsCert ?? unset(env.FAULTLINE_AGENT_TLS_CERT),
    tlsKeyFile: flags.tlsKey ?? unset(env.FAULTLINE_AGENT_TLS_KEY),
    tlsServerName: flags.tlsServerName ?? unset(env.FAULTLINE_AGENT_TLS_SERVER_NAME),
    tokenFile: flags.tokenFile ?? unset(env.FAULTLINE_AGENT_TOKEN_FILE),
  };
}
