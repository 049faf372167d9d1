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
  InvalidSpec: 'INVALID_SPEC',
  SpecSyntax: 'SPEC_SYNTAX',
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
  ) {
    super(ControllerErrorCode.NotFound, `${what} ${JSON.stringify(id)} not found`);
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

/** One problem of an experiment spec: the path, a complete message, and where in the YAML. */
export interface SpecProblem {
  /** Dotted path, for example `spec.anomalies.catalog[1].workload.kind`. */
  path: string;
  /** Names the path, the expected form and the value received. */
  message: string;
  /** 1-based line in the YAML source, when known. */
  line?: number;
  /** 1-based column in the YAML source, when known. */
  column?: number;
}

/** A spec that is well-formed YAML but not a valid experiment; `issues` lists every problem found. */
export class InvalidSpecError extends ControllerError {
  override name = 'InvalidSpecError';
  constructor(
    readonly issues: readonly SpecProblem[],
    /** File name or other label of the source, when known. */
    readonly source?: string,
  ) {
    const where = source === undefined ? '' : ` ${source}`;
    const lines = issues.map((i) => `  ${i.line === undefined ? '' : `line ${i.line}: `}${i.message}`);
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
    super(
      ControllerErrorCode.InvalidSpec,
      `invalid experiment spec${where} (${count}):\n${lines.join('\n')}`,
    );
  }
}

export function isInvalidSpecError(err: unknown): err is InvalidSpecError {
  return err instanceof InvalidSpecError;
}

/** A spec that is not readable YAML (or not exactly one document); names the line and column. */
export class SpecSyntaxError extends ControllerError {
  override name = 'SpecSyntaxError';
  constructor(
    readonly reason: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly source?: string,
    options?: { cause?: unknown },
  ) {
    const at = [source, line, column].filter((x) => x !== undefined).join(':');
    super(ControllerErrorCode.SpecSyntax, `${at === '' ? '' : `${at}: `}invalid YAML: ${reason}`, options);
  }
}

export function isSpecSyntaxError(err: unknown): err is SpecSyntaxError {
  return err instanceof SpecSyntaxError;
}
