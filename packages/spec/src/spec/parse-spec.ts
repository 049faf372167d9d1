import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { InvalidSpecError, SpecSyntaxError, type SpecProblem } from '../errors.js';
import type { ExperimentSpec } from './experiment-spec.js';
import { toSpecProblem } from './spec-issues.js';
import { experimentSpecSchema } from './spec-schema.js';

/** Options of {@link parseExperimentSpec}. */
export interface ParseSpecOptions {
  /** Name of the source (a file name) used in error messages. Default: none. */
  source?: string;
}

/**
 * Validates an experiment spec given as data (for example JSON, or YAML already parsed).
 * Throws {@link InvalidSpecError} listing every problem, each naming its path, the expected
 * form and the value received.
 */
export function validateExperimentSpec(value: unknown, options: ParseSpecOptions = {}): ExperimentSpec {
  const result = experimentSpecSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw new InvalidSpecError(result.error.issues.map(toSpecProblem), options.source);
}

/**
 * Parses and validates an experiment spec written in YAML (one document). Throws
 * {@link SpecSyntaxError} when the text is not YAML, and {@link InvalidSpecError} when it is
 * not a valid spec; the latter's problems carry the line and column of the offending node.
 *
 * @example
 * ```ts
 * const spec = parseExperimentSpec(readFileSync('examples/ram-spike.yaml', 'utf8'), { source: 'ram-spike.yaml' });
 * spec.spec.durationMs; // 900000
 * ```
 */
export function parseExperimentSpec(text: string, options: ParseSpecOptions = {}): ExperimentSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const { line, col } = lineCounter.linePos(syntax.pos[0]);
    throw new SpecSyntaxError(syntax.message, line, col, options.source, { cause: syntax });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new SpecSyntaxError((err as Error).message, undefined, undefined, options.source, { cause: err });
  }
  const result = experimentSpecSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const problem = toSpecProblem(issue);
    return withPosition(problem, doc, issue.path, lineCounter);
  });
  throw new InvalidSpecError(problems, options.source);
}

/** Adds the position of the deepest existing node on `path` (the parent of a missing field). */
function withPosition(
  problem: SpecProblem,
  doc: Document,
  path: readonly PropertyKey[],
  lineCounter: LineCounter,
): SpecProblem {
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range !== undefined && node.range !== null) {
      const { line, col } = lineCounter.linePos(node.range[0]);
      return { ...problem, line, column: col };
    }
  }
  return problem;
}
