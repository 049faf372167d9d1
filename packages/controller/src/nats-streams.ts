/**
 * The controller's part of the data plane: it creates or updates the JetStream streams at
 * start, as the `controller` identity (see nats-permissions.ts).
 *
 * @example
 * ```ts
 * const auth = resolveControllerNatsAuth({ nkeyFile: '/run/secrets/controller.nk' });
 * await ensureDataPlaneStreams('nats://nats:4222', auth); // FL_SAMPLES, FL_TRUTH, …
 * ```
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  ensureStreams,
  isInvalidNatsAuthError,
  natsRefusalOf,
  resolveNatsAuthOptions,
  type NatsAuthOptions,
  type ResolvedNatsAuth,
  type StreamOptions,
} from '@faultline/protocol';
import { InvalidOptionsError } from './errors.js';

/**
 * Validates the controller's NATS security settings (identity `controller` unless given);
 * a bad one is an {@link InvalidOptionsError} on `natsAuth` naming the flag and the file.
 */
export function resolveControllerNatsAuth(raw: NatsAuthOptions = {}): ResolvedNatsAuth {
  try {
    return resolveNatsAuthOptions({ ...raw, identity: raw.identity ?? 'controller' });
  } catch (err) {
    if (isInvalidNatsAuthError(err)) throw new InvalidOptionsError('natsAuth', err.message);
    throw err;
  }
}

/**
 * Connects to `natsUrl` with `auth`, creates or updates the data-plane streams, and
 * disconnects. Throws {@link InvalidOptionsError} (field `natsUrl`) when NATS cannot be
 * reached, or one line naming the server and what it refused (`NATS at nats://… refused
 * the credentials: Authorization Violation`, `… refused publish to
 * $JS.API.STREAM.CREATE.FL_SAMPLES: Permissions Violation`).
 */
export async function ensureDataPlaneStreams(
  natsUrl: string,
  auth: ResolvedNatsAuth,
  options: StreamOptions = {},
): Promise<void> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: natsUrl,
      timeout: 5000,
      name: 'faultline-controller',
      ...auth.connectionOptions,
    });
  } catch (err) {
    const refused = natsRefusalOf(err, natsUrl);
    throw new InvalidOptionsError(
      'natsUrl',
      refused?.message ??
        `cannot reach NATS at ${natsUrl}: ${(err as Error).message} (start it with: faultline dev up)`,
    );
  }
  try {
    await ensureStreams(await jetstreamManager(nc), options);
  } catch (err) {
    const refused = natsRefusalOf(err, natsUrl);
    if (refused === undefined) throw err;
    throw new InvalidOptionsError('natsAuth', refused.message);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
