/**
 * Errors of @faultline/detector: one class per failure, `name` set, `cause` kept, a stable
 * `code` from {@link DetectorErrorCode}. Add new failures here, with a guard.
 */

/** Stable error codes. */
export const DetectorErrorCode = {
  InvalidOptions: 'INVALID_OPTIONS',
  NotFitted: 'NOT_FITTED',
  ShapeMismatch: 'SHAPE_MISMATCH',
  NonFiniteInput: 'NON_FINITE_INPUT',
  MalformedModel: 'MALFORMED_MODEL',
  MissingMetric: 'MISSING_METRIC',
  OutOfOrderSample: 'OUT_OF_ORDER_SAMPLE',
  InvalidEvaluationInput: 'INVALID_EVALUATION_INPUT',
  UnknownExperiment: 'UNKNOWN_EXPERIMENT',
  ExportSource: 'EXPORT_SOURCE',
  ExportOutput: 'EXPORT_OUTPUT',
  LeaseLost: 'LEASE_LOST',
  MalformedCheckpoint: 'MALFORMED_CHECKPOINT',
  Usage: 'USAGE',
  ReportSource: 'REPORT_SOURCE',
  ReportOutput: 'REPORT_OUTPUT',
  InputFile: 'INPUT_FILE',
  UnknownInputFormat: 'UNKNOWN_INPUT_FORMAT',
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

/** A model was used (scored, predicted, serialised) before `fit`. */
export class NotFittedError extends DetectorError {
  override name = 'NotFittedError';
  constructor(
    /** The model's class name, for example "IsolationForest". */
    readonly model: string,
    /** The method that was called, for example "predict". */
    readonly method: string,
  ) {
    super(DetectorErrorCode.NotFitted, `this ${model} is not fitted yet: call fit(X) before ${method}()`);
  }
}

/** Input of the wrong shape: a column count other than the one fitted, ragged rows, no rows. */
export class ShapeMismatchError extends DetectorError {
  override name = 'ShapeMismatchError';
  constructor(message: string) {
    super(DetectorErrorCode.ShapeMismatch, message);
  }
}

/** A NaN or ±Infinity in input that models need finite; names the first bad row and column. */
export class NonFiniteInputError extends DetectorError {
  override name = 'NonFiniteInputError';
  constructor(
    /** How the input is called in the message, for example "X" or "row". */
    readonly input: string,
    readonly row: number,
    readonly column: number,
    readonly value: number,
  ) {
    super(
      DetectorErrorCode.NonFiniteInput,
      `${input} has ${value} at row ${row}, column ${column}: only finite values are accepted`,
    );
  }
}

/** A serialised model that cannot be loaded: wrong format tag or version, inconsistent tables. */
export class MalformedModelError extends DetectorError {
  override name = 'MalformedModelError';
  constructor(
    /** The model's class name, for example "IsolationForest". */
    readonly model: string,
    /** What was wrong, for example "threshold has 10 entries, expected 12". */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(DetectorErrorCode.MalformedModel, `malformed ${model}: ${reason}`, options);
  }
}

/** A selected metric absent or not finite in a sample while the extractor is told to fail on it. */
export class MissingMetricError extends DetectorError {
  override name = 'MissingMetricError';
  constructor(
    readonly hostId: string,
    readonly metric: string,
    /** The sample's sequence number. */
    readonly seq: bigint,
  ) {
    super(
      DetectorErrorCode.MissingMetric,
      `sample ${seq} of host ${JSON.stringify(hostId)} has no value for ${metric}`,
    );
  }
}

export function isNotFittedError(err: unknown): err is NotFittedError {
  return err instanceof NotFittedError;
}

export function isShapeMismatchError(err: unknown): err is ShapeMismatchError {
  return err instanceof ShapeMismatchError;
}

export function isNonFiniteInputError(err: unknown): err is NonFiniteInputError {
  return err instanceof NonFiniteInputError;
}

export function isMalformedModelError(err: unknown): err is MalformedModelError {
  return err instanceof MalformedModelError;
}

export function isMissingMetricError(err: unknown): err is MissingMetricError {
  return err instanceof MissingMetricError;
}

/** A sample given to a per-host tracker with a sequence number not above the last one seen. */
export class OutOfOrderSampleError extends DetectorError {
  override name = 'OutOfOrderSampleError';
  constructor(
    readonly hostId: string,
    readonly seq: bigint,
    /** The highest sequence number seen before. */
    readonly lastSeq: bigint,
  ) {
    super(
      DetectorErrorCode.OutOfOrderSample,
      `sample ${seq} of host ${JSON.stringify(hostId)} is not after sample ${lastSeq}: samples must come in increasing seq order`,
    );
  }
}

/** Evaluation input that cannot be graded: a non-finite score or time, a window ending before it starts. */
export class InvalidEvaluationInputError extends DetectorError {
  override name = 'InvalidEvaluationInputError';
  constructor(
    /** Where the bad value is, for example "points[12].score". */
    readonly field: string,
    message: string,
  ) {
    super(DetectorErrorCode.InvalidEvaluationInput, message);
  }
}

export function isOutOfOrderSampleError(err: unknown): err is OutOfOrderSampleError {
  return err instanceof OutOfOrderSampleError;
}

export function isInvalidEvaluationInputError(err: unknown): err is InvalidEvaluationInputError {
  return err instanceof InvalidEvaluationInputError;
}

/** An export of an experiment that neither FL_SAMPLES nor FL_TRUTH knows. */
export class UnknownExperimentError extends DetectorError {
  override name = 'UnknownExperimentError';
  constructor(readonly experimentId: string) {
    super(
      DetectorErrorCode.UnknownExperiment,
      `experiment ${JSON.stringify(experimentId)} not found: no sample in FL_SAMPLES and no truth window in FL_TRUTH carries it`,
    );
  }
}

/** The NATS side of an export failed: no server at the URL, a stream missing, a replay error. */
export class ExportSourceError extends DetectorError {
  override name = 'ExportSourceError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(DetectorErrorCode.ExportSource, message, options);
  }
}

/** An export file could not be created or written; names the path. */
export class ExportOutputError extends DetectorError {
  override name = 'ExportOutputError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(DetectorErrorCode.ExportOutput, `cannot write ${path}${reason}`, options);
  }
}

export function isUnknownExperimentError(err: unknown): err is UnknownExperimentError {
  return err instanceof UnknownExperimentError;
}

export function isExportSourceError(err: unknown): err is ExportSourceError {
  return err instanceof ExportSourceError;
}

export function isExportOutputError(err: unknown): err is ExportOutputError {
  return err instanceof ExportOutputError;
}

/**
 * A detector replica no longer holds a partition it was working on: its lease expired or
 * another replica took it. The replica stops that partition at once, without acking.
 */
export class LeaseLostError extends DetectorError {
  override name = 'LeaseLostError';
  constructor(
    readonly partition: number,
    /** Why, for example "renewal rejected: the lease was taken over". */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(DetectorErrorCode.LeaseLost, `lease of partition ${partition} lost: ${reason}`, options);
  }
}

/** A stored per-host checkpoint that cannot be restored: bad JSON, another format, other dimensions. */
export class MalformedCheckpointError extends DetectorError {
  override name = 'MalformedCheckpointError';
  constructor(
    /** The host whose checkpoint it is, when known ('' otherwise). */
    readonly hostId: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      DetectorErrorCode.MalformedCheckpoint,
      `malformed checkpoint${hostId === '' ? '' : ` of host ${JSON.stringify(hostId)}`}: ${reason}`,
      options,
    );
  }
}

/** A command line that cannot be parsed: an unknown flag, a flag without its value. Exit code 2. */
export class UsageError extends DetectorError {
  override name = 'UsageError';
  constructor(message: string) {
    super(DetectorErrorCode.Usage, message);
  }
}

export function isLeaseLostError(err: unknown): err is LeaseLostError {
  return err instanceof LeaseLostError;
}

export function isMalformedCheckpointError(err: unknown): err is MalformedCheckpointError {
  return err instanceof MalformedCheckpointError;
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}

/** The NATS side of a live report failed: no server at the URL, a stream missing, a replay error. */
export class ReportSourceError extends DetectorError {
  override name = 'ReportSourceError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(DetectorErrorCode.ReportSource, message, options);
  }
}

/** A report file (report.html, report.json, a plot) could not be created or written; names the path. */
export class ReportOutputError extends DetectorError {
  override name = 'ReportOutputError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(DetectorErrorCode.ReportOutput, `cannot write ${path}${reason}`, options);
  }
}

export function isReportSourceError(err: unknown): err is ReportSourceError {
  return err instanceof ReportSourceError;
}

export function isReportOutputError(err: unknown): err is ReportOutputError {
  return err instanceof ReportOutputError;
}

/**
 * A data or labels file given to offline scoring that cannot be read or parsed: a missing
 * time column, a non-numeric value where a number is expected, an unparseable timestamp, a
 * ragged row, bad JSON. The message names the file, and the line and column when there is one:
 * `ram.csv:12: column "ram_usage_mb": expected a number, got "12,5"`.
 */
export class InputFileError extends DetectorError {
  override name = 'InputFileError';
  constructor(
    /** The file as it was named to the command. */
    readonly file: string,
    /** 1-based line in the file; 0 when the failure is not on one line (unreadable file). */
    readonly line: number,
    /** The column's name (or `#n` when the header has none); '' when not about one column. */
    readonly column: string,
    /** What is wrong, for example `expected a number, got "abc"`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    const where = line > 0 ? `${file}:${line}` : file;
    const col = column === '' ? '' : ` column ${JSON.stringify(column)}:`;
    super(DetectorErrorCode.InputFile, `${where}:${col} ${reason}`, options);
  }
}

/** A file given to offline scoring whose layout matches none of the formats it reads. */
export class UnknownInputFormatError extends DetectorError {
  override name = 'UnknownInputFormatError';
  constructor(
    readonly file: string,
    /** Why no format fits, for example "no time column (time, timestamp, ts, date, datetime)". */
    readonly reason: string,
  ) {
    super(DetectorErrorCode.UnknownInputFormat, `${file}: unknown format: ${reason}`);
  }
}

export function isInputFileError(err: unknown): err is InputFileError {
  return err instanceof InputFileError;
}

export function isUnknownInputFormatError(err: unknown): err is UnknownInputFormatError {
  return err instanceof UnknownInputFormatError;
}
