/** A command used wrongly (bad flag value, missing argument): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
