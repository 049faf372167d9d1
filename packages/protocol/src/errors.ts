/** Stable codes for protocol failures. */
export const ProtocolErrorCode = {
  MalformedMessage: 'MALFORMED_MESSAGE',
  InvalidSubjectToken: 'INVALID_SUBJECT_TOKEN',
  InvalidPartition: 'INVALID_PARTITION',
  InvalidNatsAuth: 'INVALID_NATS_AUTH',
  NatsRefused: 'NATS_REFUSED',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Base class of every error this package throws. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bytes that are not a valid message of the expected type. Nothing is partially returned. */
export class MalformedMessageError extends ProtocolError {
  override name = 'MalformedMessageError';
  constructor(
    /** The message type that was expected, for example "faultline.v1.SampleBatch". */
    readonly messageType: string,
    /** What was wrong, for example "samples[3].host_id is empty". */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(ProtocolErrorCode.MalformedMessage, `malformed ${messageType}: ${reason}`, options);
  }
}

/** A string that cannot be used as a NATS subject token. */
export class InvalidSubjectTokenError extends ProtocolError {
  override name = 'InvalidSubjectTokenError';
  constructor(
    readonly field: string,
    readonly value: string,
  ) {
    super(
      ProtocolErrorCode.InvalidSubjectToken,
      `${field} must be a non-empty NATS subject token (no '.', '*', '>' or whitespace), got ${JSON.stringify(value)}`,
    );
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}

export function isMalformedMessageError(err: unknown): err is MalformedMessageError {
  return err instanceof MalformedMessageError;
}

/**
 * A NATS security setting that cannot be used: two ways of authenticating at once, a file
 * that is missing, unreadable or malformed. `source` is the flag or environment variable
 * it came from (`--nats-creds`, `FAULTLINE_NATS_PASSWORD_FILE`), and the message names it
 * and the file.
 */
export class InvalidNatsAuthError extends ProtocolError {
  override name = 'InvalidNatsAuthError';
  constructor(
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ProtocolErrorCode.InvalidNatsAuth, message, options);
  }
}

/** What a NATS server refused. */
export type NatsRefusal = 'credentials' | 'publish' | 'subscribe' | 'tls';

/**
 * A NATS server refused this client: its credentials (`Authorization Violation`), a publish
 * or a subscription its permissions do not allow (`subject` names it), or the TLS handshake.
 * The message is one line naming the server and what was refused, for example
 * `NATS at nats://10.0.0.5:4222 refused publish to fl.samples.3.agent-2: Permissions Violation`.
 */
export class NatsRefusedError extends ProtocolError {
  override name = 'NatsRefusedError';
  constructor(
    /** The server URL(s) the client used. */
    readonly server: string,
    readonly refused: NatsRefusal,
    /** The subject of a refused publish or subscription. */
    readonly subject: string | undefined,
    /** The server's reason, for example `Authorization Violation`. */
    readonly reason: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    const what =
      refused === 'credentials'
        ? `NATS at ${server} refused the credentials`
        : refused === 'tls'
          ? `TLS with NATS at ${server} failed`
          : `NATS at ${server} refused ${refused === 'publish' ? 'publish' : 'subscription'} to ${subject ?? '?'}`;
    super(
      ProtocolErrorCode.NatsRefused,
      `${what}: ${reason}${options?.hint ? ` (${options.hint})` : ''}`,
      options,
    );
  }
}

export function isInvalidNatsAuthError(err: unknown): err is InvalidNatsAuthError {
  return err instanceof InvalidNatsAuthError;
}

export function isNatsRefusedError(err: unknown): err is NatsRefusedError {
  return err instanceof NatsRefusedError;
}
