/**
 * Errors of @faultline/detector: one class per failure, `name` set, `cause` kept, a stable
 * `code` from {@link DetectorErrorCode}. Add new failures here, with a guard.
 */

/** Stable error codes. */
export const DetectorErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
} as const;
export type DetectorErrorCode = (typeof DetectorErrorCode)[keyof typeof DetectorErrorCode];

/** Base class of every error this package throws. */
export class DetectorError extends Error {
  override name = 'DetectorError';
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An option out of range or of the wrong form; the message names the field, the range and the value. */
export class InvalidOptionsError extends DetectorError {
  override name = 'InvalidOptionsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(DetectorErrorCode.InvalidOptions, message);
  }
}

export function isDetectorError(err: unknown): err is DetectorError {
  return err instanceof DetectorError;
}

export function isInvalidOptionsError(err: unknown): err is InvalidOptionsError {
  return err instanceof InvalidOptionsError;
}
