import type { Command } from 'commander';
import {
  isInvalidNatsAuthError,
  NATS_AUTH_FLAGS,
  natsAuthFromFlags,
  resolveNatsAuthOptions,
  type NatsAuthFlagValues,
  type NatsAuthOptions,
  type ResolvedNatsAuth,
} from '@faultline/protocol';
import { UsageError } from './usage-error.js';

/** Adds `--nats-creds`, `--nats-nkey-file`, `--nats-user`, … (see NATS_AUTH_FLAGS) to a command. */
export function addNatsAuthOptions(cmd: Command): Command {
  for (const f of NATS_AUTH_FLAGS)
    cmd.option(`${f.flag} <${f.arg.toLowerCase()}>`, `${f.help} (env ${f.env})`);
  return cmd;
}

/** The NATS security settings of a command's flags and the environment, not yet validated. */
export function natsAuthOptionsOf(
  flags: NatsAuthFlagValues,
  identity: string,
  env: NodeJS.ProcessEnv = process.env,
): NatsAuthOptions {
  return natsAuthFromFlags(flags, env, identity);
}

/**
 * Validates a command's NATS security settings; a bad one (two ways to authenticate, a
 * missing or malformed file) is a usage error naming the flag and the file.
 */
export function resolveCliNatsAuth(
  flags: NatsAuthFlagValues,
  identity: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedNatsAuth {
  try {
    return resolveNatsAuthOptions(natsAuthOptionsOf(flags, identity, env));
  } catch (err) {
    if (isInvalidNatsAuthError(err)) throw new UsageError(err.message);
    throw err;
  }
}
