/**
 * Who may do what on Faultline's NATS: the subjects each role publishes and subscribes to,
 * and a nats-server `authorization` block with one user per identity. Pure: no keys are
 * made and no files written here (`faultline nats-config` does that).
 *
 * | role | publishes | JetStream API |
 * |---|---|---|
 * | `agent` (one user per agent id) | `fl.samples.*.<id>`, `fl.truth.*.<id>` | none |
 * | `controller` | nothing on the data plane | creates, updates and reads the FL_* streams |
 * | `detector` | `fl.scores.>`, `fl.anomalies.>`, `fl.dlq.>`, `fl.detector.>` | consumes FL_SAMPLES, owns FL_DETECTOR_* |
 * | `cli` | nothing | reads FL_SAMPLES, FL_TRUTH, FL_SCORES, FL_ANOMALIES (ephemeral ordered consumers) |
 *
 * Every identity subscribes only to its own reply inboxes, `_INBOX_<identity>.>` (the
 * prefix each Faultline process uses once it has credentials), so no identity can read the
 * replies (acks, replayed samples) of another.
 *
 * @example
 * ```ts
 * const text = renderNatsAuthorization([
 *   natsUser('controller', 'controller', { nkey: 'UA…' }),
 *   natsUser('agent', 'host-1', { nkey: 'UB…' }),
 * ]);
 * ```
 */
import { StreamName } from '@faultline/protocol';
import { DetectorStreamName } from '@faultline/detector';

/** A kind of Faultline process, with its permissions. */
export type NatsRole = 'controller' | 'detector' | 'cli' | 'agent';

/** The fixed identities of the non-agent roles (their user names and inbox suffixes). */
export const NATS_ROLE_IDENTITIES = ['controller', 'detector', 'cli'] as const;

/** Allowed subjects of one user. */
export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** How a user proves who it is: an nkey (public key only in the config) or a password. */
export type NatsUserAuth = { readonly nkey: string } | { readonly password: string };

/** One user of the generated `authorization` block. */
export interface NatsUser {
  readonly role: NatsRole;
  /** The agent's id, or the role's name. */
  readonly identity: string;
  readonly auth: NatsUserAuth;
  readonly permissions: NatsPermissions;
}

const DATA_STREAMS = [
  StreamName.Samples,
  StreamName.Truth,
  StreamName.Anomalies,
  StreamName.Scores,
  StreamName.DeadLetter,
] as const;
/** The streams `faultline export` and `report` replay. */
const READ_STREAMS = [StreamName.Samples, StreamName.Truth, StreamName.Scores, StreamName.Anomalies] as const;

/** The inbox subjects an identity may subscribe to. */
export function inboxSubjects(identity: string): string {
  return `_INBOX_${identity}.>`;
}

/** API subjects that read a stream through ephemeral consumers: create, read, fetch, delete. */
function readerApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
  ];
}

/**
 * The permissions of a role; `identity` is the agent's id for `agent` (a subject token)
 * and names the inbox of every role.
 */
export function natsRolePermissions(role: NatsRole, identity: string): NatsPermissions {
  const inbox = [inboxSubjects(identity)];
  switch (role) {
    case 'agent':
      // A JetStream publish is a request: its ack comes back on the agent's own inbox.
      return { publish: [`fl.samples.*.${identity}`, `fl.truth.*.${identity}`], subscribe: inbox };
    case 'controller':
      return {
        publish: [
          '$JS.API.INFO',
          '$JS.API.STREAM.NAMES',
          '$JS.API.STREAM.LIST',
          ...DATA_STREAMS.flatMap((s) => [
            `$JS.API.STREAM.INFO.${s}`,
            `$JS.API.STREAM.CREATE.${s}`,
            `$JS.API.STREAM.UPDATE.${s}`,
          ]),
        ],
        subscribe: inbox,
      };
    case 'detector': {
      const leases = DetectorStreamName.Leases;
      const checkpoints = DetectorStreamName.Checkpoints;
      const samples = StreamName.Samples;
      return {
        publish: [
          'fl.scores.>',
          'fl.anomalies.>',
          'fl.dlq.>',
          'fl.detector.>',
          '$JS.API.INFO',
          '$JS.API.STREAM.NAMES',
          // Creates a missing data-plane stream (never changes an existing one), so that the
          // detector may start before the controller.
          ...DATA_STREAMS.flatMap((s) => [`$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.CREATE.${s}`]),
          ...[leases, checkpoints].flatMap((s) => [
            `$JS.API.STREAM.INFO.${s}`,
            `$JS.API.STREAM.CREATE.${s}`,
            `$JS.API.STREAM.MSG.GET.${s}`,
          ]),
          `$JS.API.STREAM.UPDATE.${leases}`,
          `$JS.API.STREAM.PURGE.${leases}`,
          // Durable pull consumers per partition: created, replaced, read, fetched, acked.
          `$JS.API.CONSUMER.CREATE.${samples}.>`,
          `$JS.API.CONSUMER.DURABLE.CREATE.${samples}.*`,
          `$JS.API.CONSUMER.DELETE.${samples}.*`,
          `$JS.API.CONSUMER.INFO.${samples}.*`,
          `$JS.API.CONSUMER.MSG.NEXT.${samples}.*`,
          `$JS.ACK.${samples}.>`,
          // Checkpoints are read back through ephemeral ordered consumers.
          ...readerApi(checkpoints).filter((s) => !s.startsWith('$JS.API.STREAM.INFO.')),
        ],
        subscribe: inbox,
      };
    }
    case 'cli':
      return {
        publish: ['$JS.API.INFO', '$JS.API.STREAM.NAMES', ...READ_STREAMS.flatMap(readerApi)],
        subscribe: inbox,
      };
  }
}

/** A user of `role` with its permissions. */
export function natsUser(role: NatsRole, identity: string, auth: NatsUserAuth): NatsUser {
  return { role, identity, auth, permissions: natsRolePermissions(role, identity) };
}

const ROLE_NOTES: Record<NatsRole, string> = {
  controller: 'creates and updates the FL_* streams',
  detector: 'consumes FL_SAMPLES; publishes scores, anomalies, dead letters; owns FL_DETECTOR_*',
  cli: 'reads the streams for export and report; publishes nothing',
  agent: 'publishes its own samples and truth only',
};

const quote = (s: string): string => JSON.stringify(s);
const list = (items: readonly string[], indent: string): string =>
  items.length === 0 ? '[]' : `[\n${items.map((s) => `${indent}  ${quote(s)}`).join(',\n')}\n${indent}]`;

/**
 * A nats-server `authorization { users = [...] }` block for `users`, one entry each with
 * its role as a comment. With nkey users it holds public keys only: it is not a secret.
 */
export function renderNatsAuthorization(users: readonly NatsUser[]): string {
  const entries = users.map((u) => {
    const who =
      'nkey' in u.auth
        ? `nkey: ${u.auth.nkey}`
        : `user: ${quote(u.identity)}, password: ${quote(u.auth.password)}`;
    const note =
      u.role === 'agent' ? `agent ${u.identity}: ${ROLE_NOTES.agent}` : `${u.role}: ${ROLE_NOTES[u.role]}`;
    return (
      `    # ${note}\n` +
      `    {\n` +
      `      ${who}\n` +
      `      permissions: {\n` +
      `        publish: { allow: ${list(u.permissions.publish, '        ')} }\n` +
      `        subscribe: { allow: ${list(u.permissions.subscribe, '        ')} }\n` +
      `      }\n` +
      `    }`
    );
  });
  return `authorization {\n  users = [\n${entries.join('\n')}\n  ]\n}\n`;
}
