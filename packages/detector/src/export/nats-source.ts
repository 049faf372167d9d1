/**
 * Where `faultline export` and `faultline report` read an experiment from: a NATS URL (with
 * its credentials) the command connects to itself, or a connection the caller owns. One
 * resolver for the options and one way to connect and to read a stream's info, each failure
 * an error of the caller's class (ExportSourceError, ReportSourceError) in one line.
 */
import { jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { assertSubjectToken, natsRefusalOf, type NatsConnectionSecurity } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import { checkNonEmptyString, checkObject } from '../option-checks.js';

/** The resolved source of an export or report. */
export type NatsSource =
  | { readonly natsUrl: string; readonly natsOptions: NatsConnectionSecurity }
  | { readonly connection: NatsConnection };

/** The error class a failure to read the source becomes. */
export type SourceErrorClass = new (message: string, options?: { cause?: unknown }) => Error;

/**
 * The source of raw options holding `natsUrl` (and `natsOptions`) or `connection`, exactly
 * one of them; throws {@link InvalidOptionsError} otherwise.
 */
export function resolveNatsSource(o: Record<string, unknown>): NatsSource {
  const hasUrl = o.natsUrl !== undefined;
  if (hasUrl === (o.connection !== undefined)) {
    throw new InvalidOptionsError(
      'natsUrl',
      hasUrl ? 'give natsUrl or connection, not both' : 'natsUrl or connection is required',
    );
  }
  return hasUrl
    ? {
        natsUrl: checkNonEmptyString(o.natsUrl, 'natsUrl'),
        natsOptions: checkObject(o.natsOptions, 'natsOptions') as NatsConnectionSecurity,
      }
    : { connection: o.connection as NatsConnection };
}

/** `experimentId`, which must be a NATS subject token (it is part of the subjects read). */
export function resolveExperimentIdOption(value: unknown): string {
  const experimentId = checkNonEmptyString(value, 'experimentId');
  try {
    assertSubjectToken('experimentId', experimentId);
  } catch {
    throw new InvalidOptionsError(
      'experimentId',
      `experimentId must be a NATS subject token (no '.', '*', '>' or whitespace), got ${JSON.stringify(experimentId)}`,
    );
  }
  return experimentId;
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The source's connection; `owned` when it was opened here (the caller closes it then). */
export async function openNatsSource(
  source: NatsSource,
  clientName: string,
  SourceError: SourceErrorClass,
): Promise<{ nc: NatsConnection; owned: boolean }> {
  if ('connection' in source) return { nc: source.connection, owned: false };
  const url = source.natsUrl;
  try {
    return { nc: await connect({ servers: url, name: clientName, ...source.natsOptions }), owned: true };
  } catch (err) {
    const refused = natsRefusalOf(err, url);
    if (refused) throw new SourceError(refused.message, { cause: err });
    throw new SourceError(`cannot connect to NATS at ${url}: ${describe(err)}`, { cause: err });
  }
}

/** The info of one of Faultline's streams, or a SourceError saying why it cannot be read. */
export async function readStreamInfo(
  nc: NatsConnection,
  stream: string,
  SourceError: SourceErrorClass,
): Promise<StreamInfo> {
  try {
    const jsm = await jetstreamManager(nc);
    return await jsm.streams.info(stream);
  } catch (err) {
    const refused = natsRefusalOf(err, nc.getServer());
    if (refused) throw new SourceError(refused.message, { cause: err });
    throw new SourceError(
      `cannot read stream ${stream} on ${nc.getServer()}: ${describe(err)} (is this Faultline's NATS? \`faultline dev up\` creates the streams)`,
      { cause: err },
    );
  }
}
