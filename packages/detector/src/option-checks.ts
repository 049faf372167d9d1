/**
 * Checks shared by the `resolveXOptions` functions of the detector's pure modules: each
 * returns the value when it is acceptable and otherwise throws an {@link InvalidOptionsError}
 * whose message names the field, the allowed range and the value received, for example
 * `intervalWidth must be in (0, 1), got 1.5`. Internal: not exported from the package.
 */
import { InvalidOptionsError } from './errors.js';

/** A closed or open interval of acceptable numbers; `max` may be `Infinity`. */
export interface NumberRange {
  readonly min: number;
  readonly max: number;
  /** Excludes `min` itself. */
  readonly minOpen?: boolean;
  /** Excludes `max` itself. */
  readonly maxOpen?: boolean;
}

/** Renders a received value for a message: strings quoted, everything else as JSON or String. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `(0, 1]`, `[0, 1)`, or `>= 0` / `> 0` when the range is unbounded above. */
export function describeRange(range: NumberRange): string {
  if (range.max === Infinity) return `${range.minOpen ? '>' : '>='} ${range.min}`;
  return `${range.minOpen ? '(' : '['}${range.min}, ${range.max}${range.maxOpen ? ')' : ']'}`;
}

function inRange(value: number, range: NumberRange): boolean {
  if (range.minOpen ? value <= range.min : value < range.min) return false;
  if (range.max === Infinity) return value < Infinity;
  return range.maxOpen ? value < range.max : value <= range.max;
}

/** A finite number in `range`; `fallback` when `value` is undefined. */
export function checkNumber(value: unknown, fallback: number, field: string, range: NumberRange): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== 'number' || Number.isNaN(v) || !inRange(v, range)) {
    const form = range.max === Infinity ? describeRange(range) : `in ${describeRange(range)}`;
    throw new InvalidOptionsError(field, `${field} must be ${form}, got ${describeValue(v)}`);
  }
  return v;
}

/** An integer in `[min, max]`; `fallback` when `value` is undefined. */
export function checkInteger(
  value: unknown,
  fallback: number,
  field: string,
  min: number,
  max: number,
): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidOptionsError(
      field,
      `${field} must be an integer in [${min}, ${max}], got ${describeValue(v)}`,
    );
  }
  return v;
}

/** One of `choices`; `fallback` when `value` is undefined. */
export function checkChoice<T extends string>(
  value: unknown,
  fallback: T,
  field: string,
  choices: readonly T[],
): T {
  const v = value === undefined ? fallback : value;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    const list = choices.map((c) => JSON.stringify(c)).join(', ');
    throw new InvalidOptionsError(field, `${field} must be one of ${list}, got ${describeValue(v)}`);
  }
  return v as T;
}

/** A string that is not empty. */
export function checkNonEmptyString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionsError(field, `${field} must be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

/** A plain object (or undefined, read as `{}`): the options bag itself or a nested one. */
export function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionsError(field, `${field} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}
