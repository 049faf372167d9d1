/** Stable codes for protocol failures. */
export const ProtocolErrorCode = {
  MalformedMessage: 'MALFORMED_MESSAGE',
  InvalidSubjectToken: 'INVALID_SUBJECT_TOKEN',
  InvalidPartition: 'INVALID_PARTITION',
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
