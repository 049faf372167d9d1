import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { nkeys } from '@nats-io/transport-node';
import {
  NATS_ROLE_IDENTITIES,
  natsUser,
  renderNatsAuthorization,
  type NatsRole,
  type NatsUser,
} from '../nats-permissions.js';
import type { CliIo } from './io.js';
import { UsageError } from './usage-error.js';

interface NatsConfigFlags {
  agents?: string;
  agentsFile?: string;
  secretsDir: string;
  out?: string;
  rotate?: string;
}

/** Identities name files, so they are stricter than subject tokens. */
const IDENTITY = /^[A-Za-z0-9_-]+$/;

const splitList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** The agent ids of `--agents a,b` and `--agents-file FILE` (one per line, `#` comments). */
function agentIds(flags: NatsConfigFlags): string[] {
  const ids: string[] = [];
  if (flags.agents !== undefined) ids.push(...splitList(flags.agents));
  if (flags.agentsFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.agentsFile, 'utf8');
    } catch (err) {
      throw new UsageError(`--agents-file: cannot read ${flags.agentsFile}: ${(err as Error).message}`);
    }
    text.split(/\r?\n/).forEach((line, i) => {
      const id = line.replace(/#.*$/, '').trim();
      if (id === '') return;
      if (/\s/.test(id)) {
        throw new UsageError(
          `--agents-file: ${flags.agentsFile}:${i + 1} holds more than one id: ${JSON.stringify(id)}`,
        );
      }
      ids.push(id);
    });
  }
  const seen = new Set<string>();
  for (const id of ids) {
    if (!IDENTITY.test(id)) {
      throw new UsageError(
        `agent id must be letters, digits, '_' or '-' (it names a NATS user and a seed file), got ${JSON.stringify(id)}`,
      );
    }
    if ((NATS_ROLE_IDENTITIES as readonly string[]).includes(id)) {
      throw new UsageError(`agent id ${JSON.stringify(id)} is the name of a role: give the agent another id`);
    }
    if (seen.has(id)) throw new UsageError(`agent id ${JSON.stringify(id)} is listed twice`);
    seen.add(id);
  }
  return ids;
}

/** Where an identity's nkey seed is kept under the secrets directory. */
export function seedPath(secretsDir: string, role: NatsRole, identity: string): string {
  return role === 'agent' ? join(secretsDir, 'agents', `${identity}.nk`) : join(secretsDir, `${identity}.nk`);
}

/** Writes a secret with mode 0600, replacing any file atomically. */
function writeSecret(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The public key of the seed kept at `path`, or undefined when there is none. */
function existingPublicKey(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const seed = readFileSync(path, 'utf8').trim();
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch (err) {
    throw new UsageError(
      `${path} does not hold a NATS nkey seed (${(err as Error).message}): remove it or list it in --rotate`,
    );
  }
}

const HEADER = (secretsDir: string): string =>
  "# Faultline's NATS users and permissions, written by `faultline nats-config`.\n" +
  `# Public keys only: each identity's nkey seed is in ${secretsDir} (mode 0600), never here.\n` +
  '# Include it from nats-server.conf (`include faultline-users.conf`); after a change, reload\n' +
  '# the server (`nats-server --signal reload`). See docs/security.md, "Data plane".\n';

/**
 * `faultline nats-config --agents a,b | --agents-file FILE --secrets-dir DIR [--out FILE] [--rotate ids]`:
 * a nats-server `authorization` block with one nkey user per identity (controller,
 * detector, cli, every agent) and its permissions, and one nkey seed file per identity.
 * Existing seeds are kept (re-running with more agents adds only theirs); `--rotate` makes
 * new ones for the identities it lists.
 */
export function natsConfigCommand(io: CliIo): Command {
  return new Command('nats-config')
    .description(
      "print a nats-server config with one nkey user per Faultline identity and its permissions, and write each identity's nkey seed file",
    )
    .option('--agents <ids>', 'agent ids, comma-separated')
    .option('--agents-file <file>', 'file of agent ids, one per line (# comments)')
    .requiredOption(
      '--secrets-dir <dir>',
      'where the nkey seeds are kept: <dir>/{controller,detector,cli}.nk and <dir>/agents/<id>.nk',
    )
    .option('--out <file>', 'write the config here instead of stdout')
    .option(
      '--rotate <ids>',
      'make new nkeys for these identities (comma-separated; agent ids or role names)',
    )
    .action((flags: NatsConfigFlags) => {
      const agents = agentIds(flags);
      const rotate = new Set(flags.rotate === undefined ? [] : splitList(flags.rotate));
      const identities: Array<{ role: NatsRole; identity: string }> = [
        ...NATS_ROLE_IDENTITIES.map((r) => ({ role: r as NatsRole, identity: r as string })),
        ...agents.map((id) => ({ role: 'agent' as const, identity: id })),
      ];
      const known = new Set(identities.map((i) => i.identity));
      for (const id of rotate) {
        if (!known.has(id))
          throw new UsageError(`--rotate: ${JSON.stringify(id)} is not among the identities`);
      }
      let created = 0;
      let kept = 0;
      let rotated = 0;
      const users: NatsUser[] = identities.map(({ role, identity }) => {
        const path = seedPath(flags.secretsDir, role, identity);
        const existing = rotate.has(identity) ? undefined : existingPublicKey(path);
        if (existing !== undefined) {
          kept++;
          return natsUser(role, identity, { nkey: existing });
        }
        const pair = nkeys.createUser();
        writeSecret(path, `${new TextDecoder().decode(pair.getSeed())}\n`);
        if (rotate.has(identity)) rotated++;
        else created++;
        return natsUser(role, identity, { nkey: pair.getPublicKey() });
      });
      const text = `${HEADER(flags.secretsDir)}\n${renderNatsAuthorization(users)}`;
      const summary =
        `nats-config: ${users.length} users (controller, detector, cli, ${agents.length} agents); ` +
        `${created} new nkeys, ${kept} kept, ${rotated} rotated; seeds in ${flags.secretsDir}\n`;
      if (flags.out === undefined) {
        io.out(text);
        io.err(summary);
      } else {
        mkdirSync(dirname(flags.out), { recursive: true });
        writeFileSync(flags.out, text);
        io.out(`wrote ${flags.out}\n${summary}`);
      }
    });
}
