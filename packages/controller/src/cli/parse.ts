import { UsageError } from './usage-error.js';

/** A commander argument parser for a TCP port that names the flag on error. */
export function parsePort(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new UsageError(`${flag} must be an integer in [1, 65535], got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** A commander argument parser for a positive integer that names the flag on error. */
export function parsePositiveInt(flag: string, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new UsageError(`${flag} must be an integer in [0, ${max}], got ${JSON.stringify(value)}`);
    }
    return n;
  };
}
