/**
 * Errors of @faultline/agent: one class per failure, `name` set, `cause` kept, a stable
 * `code` from {@link AgentErrorCode}. Add new failures here, with a guard.
 */

/** Stable error codes. */
export const AgentErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
  PlanRefused: 'PLAN_REFUSED',
  InvalidPlanFile: 'INVALID_PLAN_FILE',
  InvalidWorkload: 'INVALID_WORKLOAD',
  WorkloadScriptMissing: 'WORKLOAD_SCRIPT_MISSING',
  ProcRead: 'PROC_READ',
  ProcParse: 'PROC_PARSE',
  SpoolOpen: 'SPOOL_OPEN',
  SpoolLocked: 'SPOOL_LOCKED',
  SpoolWrite: 'SPOOL_WRITE',
  SpoolFull: 'SPOOL_FULL',
  SpoolCorrupt: 'SPOOL_CORRUPT',
  PublishFailed: 'PUBLISH_FAILED',
  PublisherClosed: 'PUBLISHER_CLOSED',
  NatsConnection: 'NATS_CONNECTION',
  NatsRefused: 'NATS_REFUSED',
  UnknownVirtualHost: 'UNKNOWN_VIRTUAL_HOST',
  SimulatorOutput: 'SIMULATOR_OUTPUT',
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

/** A /proc (or sysfs, cgroupfs) file the sampler needs could not be read; `path` names it. */
export class ProcReadError extends AgentError {
  override name = 'ProcReadError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(AgentErrorCode.ProcRead, `cannot read ${path}: ${reason}`, options);
  }
}

/** A /proc file had a form the sampler does not understand; `source` names the file. */
export class ProcParseError extends AgentError {
  override name = 'ProcParseError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(AgentErrorCode.ProcParse, `${source}: ${message}`);
  }
}

export function isProcReadError(err: unknown): err is ProcReadError {
  return err instanceof ProcReadError;
}

export function isProcParseError(err: unknown): err is ProcParseError {
  return err instanceof ProcParseError;
}

/**
 * A workload message that cannot run as given (no kind set, a field out of range, both or
 * neither of two exclusive fields); the message names the field, the range and the value.
 */
export class InvalidWorkloadError extends AgentError {
  override name = 'InvalidWorkloadError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(AgentErrorCode.InvalidWorkload, message);
  }
}

export function isInvalidWorkloadError(err: unknown): err is InvalidWorkloadError {
  return err instanceof InvalidWorkloadError;
}

/**
 * The compiled entry script of a workload process is missing: the package was not built
 * (run `pnpm build`, or `pnpm exec tsc -b packages/agent`). `path` is where it was looked for.
 */
export class WorkloadScriptMissingError extends AgentError {
  override name = 'WorkloadScriptMissingError';
  constructor(readonly path: string) {
    super(
      AgentErrorCode.WorkloadScriptMissing,
      `workload entry script ${path} does not exist: build the agent first ` +
        '(`pnpm build`, or `pnpm exec tsc -b packages/agent`)',
    );
  }
}

export function isWorkloadScriptMissingError(err: unknown): err is WorkloadScriptMissingError {
  return err instanceof WorkloadScriptMissingError;
}

/** The spool directory or one of its files could not be created or opened at startup; `dir` names it. */
export class SpoolOpenError extends AgentError {
  override name = 'SpoolOpenError';
  constructor(
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(AgentErrorCode.SpoolOpen, `cannot open the spool in ${dir}: ${reason}`, options);
  }
}

/** Another live process (pid `holderPid`), or this one, already holds the spool in `dir`. */
export class SpoolLockedError extends AgentError {
  override name = 'SpoolLockedError';
  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(AgentErrorCode.SpoolLocked, `the spool in ${dir} is held by process ${holderPid}`);
  }
}

/**
 * A spool write failed (disk full, I/O error): the record was refused and counted as lost.
 * `errno` is the system error code, for example "ENOSPC". Reported, never thrown into callers.
 */
export class SpoolWriteError extends AgentError {
  override name = 'SpoolWriteError';
  readonly errno: string | undefined;
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause;
    const errno = (cause as { code?: unknown } | undefined)?.code;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(AgentErrorCode.SpoolWrite, `cannot write the spool file ${path}: ${reason}`, options);
    this.errno = typeof errno === 'string' ? errno : undefined;
  }
}

/** An append would have taken the spool past its byte cap: the record was refused and counted as lost. */
export class SpoolFullError extends AgentError {
  override name = 'SpoolFullError';
  constructor(
    readonly dir: string,
    readonly maxSpoolBytes: number,
    readonly recordBytes: number,
  ) {
    super(
      AgentErrorCode.SpoolFull,
      `the spool in ${dir} is full (maxSpoolBytes ${maxSpoolBytes}): a record of ${recordBytes} bytes was dropped`,
    );
  }
}

/**
 * A torn or corrupt region of a spool file (a crash mid-write, a bad disk) was found and
 * skipped; `bytes` were not usable from `offset` of `path`. Reported, never thrown.
 */
export class SpoolCorruptError extends AgentError {
  override name = 'SpoolCorruptError';
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly bytes: number,
    readonly reason: string,
  ) {
    super(
      AgentErrorCode.SpoolCorrupt,
      `skipped ${bytes} corrupt bytes at offset ${offset} of ${path}: ${reason}`,
    );
  }
}

/** A JetStream publish of `msgId` to `subject` failed; it stays spooled and is retried. */
export class PublishFailedError extends AgentError {
  override name = 'PublishFailedError';
  constructor(
    readonly subject: string,
    readonly msgId: string,
    /** True when retrying cannot help (the message is too large, the server rejected it as bad): it was dropped. */
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(
      AgentErrorCode.PublishFailed,
      `publish of ${msgId} to ${subject} failed${permanent ? ' permanently, message dropped' : ''}: ${reason}`,
      options,
    );
  }
}

/** Data handed to a publisher after close() began; it was counted as lost. */
export class PublisherClosedError extends AgentError {
  override name = 'PublisherClosedError';
  constructor(readonly what: string) {
    super(AgentErrorCode.PublisherClosed, `${what} handed to a closed publisher was dropped`);
  }
}

/** The NATS connection failed or closed for good; `servers` are the URLs it used. */
export class NatsConnectionError extends AgentError {
  override name = 'NatsConnectionError';
  constructor(
    readonly servers: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(AgentErrorCode.NatsConnection, `NATS connection to ${servers} failed: ${reason}`, options);
  }
}

/**
 * The NATS server refused the agent's credentials (or a connection it needs); the message
 * is the refusal's one line, `NATS at nats://… refused the credentials: Authorization
 * Violation`. The publisher keeps spooling and tries again; `cause` is the protocol's
 * NatsRefusedError.
 */
export class NatsRefusalError extends AgentError {
  override name = 'NatsRefusalError';
  constructor(
    readonly servers: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(AgentErrorCode.NatsRefused, message, options);
  }
}

export function isNatsRefusalError(err: unknown): err is NatsRefusalError {
  return err instanceof NatsRefusalError;
}

export function isSpoolOpenError(err: unknown): err is SpoolOpenError {
  return err instanceof SpoolOpenError;
}

export function isSpoolLockedError(err: unknown): err is SpoolLockedError {
  return err instanceof SpoolLockedError;
}

export function isSpoolWriteError(err: unknown): err is SpoolWriteError {
  return err instanceof SpoolWriteError;
}

export function isSpoolFullError(err: unknown): err is SpoolFullError {
  return err instanceof SpoolFullError;
}

export function isSpoolCorruptError(err: unknown): err is SpoolCorruptError {
  return err instanceof SpoolCorruptError;
}

export function isPublishFailedError(err: unknown): err is PublishFailedError {
  return err instanceof PublishFailedError;
}

export function isPublisherClosedError(err: unknown): err is PublisherClosedError {
  return err instanceof PublisherClosedError;
}

export function isNatsConnectionError(err: unknown): err is NatsConnectionError {
  return err instanceof NatsConnectionError;
}

/** A plan over a local cap; the message names the cap, its limit and what the plan asked. */
export class PlanRefusedError extends AgentError {
  override name = 'PlanRefusedError';
  constructor(
    /** The cap that refused it, e.g. `caps.maxCores`. */
    readonly cap: string,
    message: string,
  ) {
    super(AgentErrorCode.PlanRefused, message);
  }
}

export function isPlanRefusedError(err: unknown): err is PlanRefusedError {
  return err instanceof PlanRefusedError;
}

/** A plan file that cannot be read or compiled; the message names the file, the field and the value. */
export class InvalidPlanFileError extends AgentError {
  override name = 'InvalidPlanFileError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(AgentErrorCode.InvalidPlanFile, message, options);
  }
}

export function isInvalidPlanFileError(err: unknown): err is InvalidPlanFileError {
  return err instanceof InvalidPlanFileError;
}

/** A plan addressed to a host the simulator does not simulate; `hostId` is the plan's agent id. */
export class UnknownVirtualHostError extends AgentError {
  override name = 'UnknownVirtualHostError';
  constructor(
    readonly hostId: string,
    hosts: number,
  ) {
    super(
      AgentErrorCode.UnknownVirtualHost,
      `plan for ${JSON.stringify(hostId)}: no such virtual host among the ${hosts} simulated ` +
        '(compile plans against virtualAgentInfos(fleet))',
    );
  }
}

export function isUnknownVirtualHostError(err: unknown): err is UnknownVirtualHostError {
  return err instanceof UnknownVirtualHostError;
}

/** A simulator output file (backfill) could not be created or written; `path` names it. */
export class SimulatorOutputError extends AgentError {
  override name = 'SimulatorOutputError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(AgentErrorCode.SimulatorOutput, `cannot write ${path}: ${reason}`, options);
  }
}

export function isSimulatorOutputError(err: unknown): err is SimulatorOutputError {
  return err instanceof SimulatorOutputError;
}
