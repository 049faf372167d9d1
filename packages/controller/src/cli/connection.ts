import type { Command } from 'commander';
import { isInvalidOptionsError } from '../errors.js';
import { readTokenFile, tokenProblem } from '../grpc/auth.js';
import { ControlClient, DEFAULT_CONTROLLER, type ControlClientOptions } from './control-client.js';
import { UsageError } from './usage-error.js';

/** The global flags that say how to reach the controller (commander's camelCase names). */
export interface ConnectionFlags {
  controller?: string;
  tokenFile?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

/**
 * Adds the connection flags to the `faultline` program. There is deliberately no `--token`:
 * a token on a command line ends up in shell history and `ps`; use a file or the environment.
 *
 * | flag | env |
 * |---|---|
 * | `--controller HOST:PORT` | `FAULTLINE_CONTROLLER` |
 * | `--token-file FILE` | `FAULTLINE_TOKEN_FILE`, or the token itself in `FAULTLINE_TOKEN` |
 * | `--tls` | `FAULTLINE_TLS=1` |
 * | `--tls-ca FILE` | `FAULTLINE_TLS_CA` |
 * | `--tls-cert FILE` / `--tls-key FILE` | `FAULTLINE_TLS_CERT` / `FAULTLINE_TLS_KEY` |
 * | `--tls-server-name NAME` | `FAULTLINE_TLS_SERVER_NAME` |
 */
export function addConnectionOptions(program: Command): Command {
  return program
    .option(
      '--controller <host:port>',
      `controller address (default $FAULTLINE_CONTROLLER or ${DEFAULT_CONTROLLER})`,
    )
    .option(
      '--token-file <file>',
      'file whose first token is sent to the controller (default $FAULTLINE_TOKEN, then $FAULTLINE_TOKEN_FILE)',
    )
    .option('--tls', 'connect to the controller over TLS, trusting the system CAs ($FAULTLINE_TLS=1)')
    .option(
      '--tls-ca <file>',
      "PEM CA that signed the controller's certificate; implies --tls ($FAULTLINE_TLS_CA)",
    )
    .option('--tls-cert <file>', 'PEM client certificate for mTLS; implies --tls ($FAULTLINE_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert ($FAULTLINE_TLS_KEY)')
    .option(
      '--tls-server-name <name>',
      "name to verify the controller's certificate against ($FAULTLINE_TLS_SERVER_NAME)",
    );
}

function envFlag(name: string, env: NodeJS.ProcessEnv): boolean {
  const v = (env[name] ?? '').trim().toLowerCase();
  if (v === '' || v === '0' || v === 'false' || v === 'no') return false;
  if (v === '1' || v === 'true' || v === 'yes') return true;
  throw new UsageError(`${name} must be 1 or 0 (true or false), got ${JSON.stringify(env[name])}`);
}

const unset = (v: string | undefined): string | undefined => (v === '' ? undefined : v);

/**
 * The token to send: `--token-file` wins, then `FAULTLINE_TOKEN`, then `FAULTLINE_TOKEN_FILE`.
 * A token file's first token is used (the same format the controller reads).
 */
function resolveToken(flags: ConnectionFlags, env: NodeJS.ProcessEnv): string | undefined {
  if (flags.tokenFile !== undefined) {
    return readTokenFile(flags.tokenFile, { field: 'tokenFile', flag: '--token-file' })[0];
  }
  const literal = unset(env.FAULTLINE_TOKEN)?.trim();
  if (literal !== undefined) {
    const problem = tokenProblem(literal);
    if (problem) throw new UsageError(`FAULTLINE_TOKEN is not usable: ${problem}`);
    return literal;
  }
  const file = unset(env.FAULTLINE_TOKEN_FILE);
  return file === undefined
    ? undefined
    : readTokenFile(file, { field: 'tokenFile', flag: 'FAULTLINE_TOKEN_FILE' })[0];
}

/** The ControlClient options the flags and environment ask for (flags win). */
export function controlClientOptions(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): ControlClientOptions {
  return {
    token: resolveToken(flags, env),
    tls: flags.tls === true || envFlag('FAULTLINE_TLS', env),
    tlsCaFile: flags.tlsCa ?? unset(env.FAULTLINE_TLS_CA),
    tlsCertFile: flags.tlsCert ?? unset(env.FAULTLINE_TLS_CERT),
    tlsKeyFile: flags.tlsKey ?? unset(env.FAULTLINE_TLS_KEY),
    tlsServerName: flags.tlsServerName ?? unset(env.FAULTLINE_TLS_SERVER_NAME),
  };
}

/**
 * A ControlClient for a command, from the global flags and the environment. A missing or
 * malformed credential file is a usage error (exit 2) that names the flag and the file.
 */
export function connectControlClient(cmd: Command, env: NodeJS.ProcessEnv = process.env): ControlClient {
  const flags = cmd.optsWithGlobals<ConnectionFlags>();
  const address = flags.controller ?? unset(env.FAULTLINE_CONTROLLER) ?? DEFAULT_CONTROLLER;
  try {
    return new ControlClient(address, controlClientOptions(flags, env));
  } catch (err) {
    if (isInvalidOptionsError(err)) throw new UsageError(err.message);
    throw err;
  }
}
