/**
 * Errors of @faultline/spec: one class per failure, `name` set, `cause` kept, a stable `code`
 * from {@link SpecErrorCode}.
 */

/** Stable error codes. */
export const SpecErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
  InvalidSpec: 'INVALID_SPEC',
  SpecSyntax: 'SPEC_SYNTAX',
  NoTargets: 'NO_TARGETS',
} as const;
export type SpecErrorCode = (typeof SpecErrorCode)[keyof typeof SpecErrorCode];

/** Base class of every error this package throws. */
export class SpecError extends Error {
  override name = 'SpecError';
  constructor(
    readonly code: SpecErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isSpecError(err: unknown): err is SpecError {
  return err instanceof SpecError;
}

/** A compile option out of range or of the wrong form; the message names the field and the value. */
export class InvalidOptionsError extends SpecError {
  override name = 'InvalidOptionsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(SpecErrorCode.InvalidOptions, message);
  }
}

export function isInvalidOptionsError(err: unknown): err is InvalidOptionsError {
  return err instanceof InvalidOptionsError;
}

/** The experiment's targets select no agent (or fewer than its `count`). */
export class NoTargetsError extends SpecError {
  override name = 'NoTargetsError';
  constructor(message: string) {
    super(SpecErrorCode.NoTargets, message);
  }
}

export function isNoTargetsError(err: unknown): err is NoTargetsError {
  return err instanceof NoTargetsError;
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
export class InvalidSpecError extends SpecError {
  override name = 'InvalidSpecError';
  constructor(
    readonly issues: readonly SpecProblem[],
    /** File name or other label of the source, when known. */
    readonly source?: string,
  ) {
    const where = source === undefined ? '' : ` ${source}`;
    const lines = issues.map((i) => `  ${i.line === undefined ? '' : `line ${i.line}: `}${i.message}`);
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
    super(SpecErrorCode.InvalidSpec, `invalid experiment spec${where} (${count}):\n${lines.join('\n')}`);
  }
}

export function isInvalidSpecError(err: unknown): err is InvalidSpecError {
  return err instanceof InvalidSpecError;
}

/** A spec that is not readable YAML (or not exactly one document); names the line and column. */
export class SpecSyntaxError extends SpecError {
  override name = 'SpecSyntaxError';
  constructor(
    readonly reason: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly source?: string,
    options?: { cause?: unknown },
  ) {
    const at = [source, line, column].filter((x) => x !== undefined).join(':');
    super(SpecErrorCode.SpecSyntax, `${at === '' ? '' : `${at}: `}invalid YAML: ${reason}`, options);
  }
}

export function isSpecSyntaxError(err: unknown): err is SpecSyntaxError {
  return err instanceof SpecSyntaxError;
}
