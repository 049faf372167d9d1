/**
 * Errors of @faultline/agent: one class per failure, `name` set, `cause` kept, a stable
 * `code` from {@link AgentErrorCode}. Add new failures here, with a guard.
 */

/** Stable error codes. */
export const AgentErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

/** Base class of every error this package throws. */
export class AgentError extends Error {
  override name = 'AgentError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An option out of range or of the wrong form; the message names the field, the range and the value. */
export class InvalidOptionsError extends AgentError {
  override name = 'InvalidOptionsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(AgentErrorCode.InvalidOptions, message);
  }
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError;
}

export function isInvalidOptionsError(err: unknown): err is InvalidOptionsError {
  return err instanceof InvalidOptionsError;
}
