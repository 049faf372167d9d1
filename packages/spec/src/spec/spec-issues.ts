import type * as z from 'zod';
import type { SpecProblem } from '../errors.js';

/**
 * The `params` of the custom issues the schema raises: `got` is the value received, already
 * formatted; `missing` says that the field is absent.
 */
export interface IssueParams {
  got?: string;
  missing?: boolean;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Formats a path the way a reader writes it: `spec.anomalies.catalog[1].workload.kind`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** Shows a received value compactly: strings quoted, structures as short JSON. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null) return 'null';
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    json = String(value);
  }
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** Params for a custom issue about `input` (missing when undefined). */
export function receivedParams(input: unknown): IssueParams {
  return input === undefined ? { missing: true } : { got: showValue(input) };
}

const TYPE_PHRASES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  record: 'a mapping',
};

function received(issue: { input?: unknown }): string {
  return issue.input === undefined ? ', but it is missing' : `, got ${showValue(issue.input)}`;
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => (typeof v === 'string' ? v : showValue(v)));
  return shown.length === 1 ? `${shown[0]}` : `one of ${shown.join(', ')}`;
}

/** Turns a zod issue into a {@link SpecProblem} (without a source position). */
export function toSpecProblem(issue: z.core.$ZodIssue): SpecProblem {
  const path = formatPath(issue.path);
  const prefix = path === '' ? '' : `${path}: `;
  switch (issue.code) {
    case 'custom': {
      const params = (issue.params ?? {}) as IssueParams;
      const tail = params.missing
        ? ', but it is missing'
        : params.got !== undefined
          ? `, got ${params.got}`
          : '';
      return { path, message: `${prefix}${issue.message}${tail}` };
    }
    case 'invalid_type':
      return {
        path,
        message: `${prefix}expected ${TYPE_PHRASES[issue.expected] ?? issue.expected}${received(issue)}`,
      };
    case 'invalid_value':
      return { path, message: `${prefix}expected ${oneOf(issue.values)}${received(issue)}` };
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        const input = issue.input as Record<string, unknown> | undefined;
        const options = (issue as { options?: readonly unknown[] }).options ?? [];
        return {
          path,
          message: `${prefix}expected ${oneOf(options)}${received({ input: input?.[issue.discriminator] })}`,
        };
      }
      return { path, message: `${prefix}expected ${issue.message}${received(issue)}` };
    }
    case 'unrecognized_keys': {
      // The schema's objects set the message to the list of known fields.
      const keys = issue.keys.map((k) => formatPath([...issue.path, k]));
      return { path: keys[0] ?? path, message: `${keys.join(', ')}: ${issue.message}` };
    }
    case 'too_small':
      if (issue.origin === 'array') {
        const n = Number(issue.minimum);
        return {
          path,
          message: `${prefix}expected a list of at least ${n} item${n === 1 ? '' : 's'}${received(issue)}`,
        };
      }
      return { path, message: `${prefix}expected at least ${String(issue.minimum)}${received(issue)}` };
    case 'too_big':
      return { path, message: `${prefix}expected at most ${String(issue.maximum)}${received(issue)}` };
    default:
      return { path, message: `${prefix}${issue.message}${received(issue as { input?: unknown })}` };
  }
}
