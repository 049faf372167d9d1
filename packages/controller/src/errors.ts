/**
 * Errors of @faultline/controller: one class per failure, `name` set, `cause` kept, a stable
 * `code` from {@link ControllerErrorCode}. Add new failures here, with a guard.
 */

/** Stable error codes. */
export const ControllerErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
  DevStack: 'DEV_STACK',
  NotFound: 'NOT_FOUND',
  NoTargets: 'NO_TARGETS',
  InvalidArgument: 'INVALID_ARGUMENT',
  Unauthenticated: 'UNAUTHENTICATED',
  PermissionDenied: 'PERMISSION_DENIED',
} as const;
export type ControllerErrorCode = (typeof ControllerErrorCode)[keyof typeof ControllerErrorCode];

/** Base class of every error this package throws. */
export class ControllerError extends Error {
  override name = 'ControllerError';
  constructor(
    readonly code: ControllerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An option out of range or of the wrong form; the message names the field, the range and the value. */
export class InvalidOptionsError extends ControllerError {
  override name = 'InvalidOptionsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(ControllerErrorCode.InvalidOptions, message);
  }
}

export function isControllerError(err: unknown): err is ControllerError {
  return err instanceof ControllerError;
}

export function isInvalidOptionsError(err: unknown): err is InvalidOptionsError {
  return err instanceof InvalidOptionsError;
}

/** The local stack could not be started, probed or stopped; the message says which service and why. */
export class DevStackError extends ControllerError {
  override name = 'DevStackError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ControllerErrorCode.DevStack, message, options);
  }
}

export function isDevStackError(err: unknown): err is DevStackError {
  return err instanceof DevStackError;
}

/** An experiment or agent that does not exist; the message names it. */
export class NotFoundError extends ControllerError {
  override name = 'NotFoundError';
  constructor(
    readonly what: string,
    readonly id: string,
    /** What the caller should do about it, appended to the message. */
    hint?: string,
  ) {
    super(ControllerErrorCode.NotFound, `${what} ${JSON.stringify(id)} not found${hint ? `: ${hint}` : ''}`);
  }
}

/** An experiment that selects no connected agent. */
export class NoTargetsError extends ControllerError {
  override name = 'NoTargetsError';
  constructor(message: string) {
    super(ControllerErrorCode.NoTargets, message);
  }
}

/** A request field that is missing or malformed; the message names the field and the value. */
export class InvalidArgumentError extends ControllerError {
  override name = 'InvalidArgumentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ControllerErrorCode.InvalidArgument, message, options);
  }
}

export function isNotFoundError(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

/**
 * A call without valid credentials where the controller requires them (no token, a token
 * not in the token file, a malformed authorization header); the message says what is missing
 * or wrong and never contains the token.
 */
export class UnauthenticatedError extends ControllerError {
  override name = 'UnauthenticatedError';
  constructor(message: string) {
    super(ControllerErrorCode.Unauthenticated, message);
  }
}

export function isUnauthenticatedError(err: unknown): err is UnauthenticatedError {
  return err instanceof UnauthenticatedError;
}

/** An authenticated caller acting beyond its identity (an agent certificate used for another agent id). */
export class PermissionDeniedError extends ControllerError {
  override name = 'PermissionDeniedError';
  constructor(message: string) {
    super(ControllerErrorCode.PermissionDenied, message);
  }
}

export function isPermissionDeniedError(err: unknown): err is PermissionDeniedError {
  return err instanceof PermissionDeniedError;
}
