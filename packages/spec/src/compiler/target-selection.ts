import { createRng, type AgentInfo } from '@faultline/protocol';
import { NoTargetsError } from '../errors.js';
import type { TargetsSpec } from '../spec/experiment-spec.js';

/** The agents an experiment runs on. */
export interface TargetSelection {
  /** How many agents matched the selector, before count/fraction. */
  matched: number;
  /** The selected agents, sorted by agent id. */
  agents: AgentInfo[];
}

/** Orders strings by UTF-16 code units, the same on every platform and locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeSelector(selector: Record<string, string>): string {
  const pairs = Object.keys(selector)
    .sort(compareIds)
    .map((k) => `${k}=${selector[k]}`);
  return pairs.length === 0 ? 'any agent' : `{${pairs.join(', ')}}`;
}

/**
 * Selects the targets of an experiment: the agents whose labels include every pair of the
 * selector, sorted by agent id; with `count` or `fraction` (rounded up), a seeded shuffle
 * of those picks the subset, which is sorted by agent id again. The result depends only
 * on the spec, the seed and the set of agents, not on their order.
 *
 * Throws {@link NoTargetsError} when no agent matches or fewer than `count` do.
 */
export function selectTargets(
  targets: TargetsSpec,
  agents: readonly AgentInfo[],
  seed: number | string,
): TargetSelection {
  const selector = Object.entries(targets.selector);
  const matching = agents
    .filter((agent) => selector.every(([key, value]) => agent.labels[key] === value))
    .sort((a, b) => compareIds(a.agentId, b.agentId));
  const matched = matching.length;
  if (matched === 0) {
    throw new NoTargetsError(
      `spec.targets.selector ${describeSelector(targets.selector)} matches none of the ${agents.length} agents`,
    );
  }
  let wanted = matched;
  if (targets.count !== undefined) {
    if (targets.count > matched) {
      throw new NoTargetsError(
        `spec.targets.count is ${targets.count} but only ${matched} agents match ${describeSelector(targets.selector)}`,
      );
    }
    wanted = targets.count;
  } else if (targets.fraction !== undefined) {
    // The epsilon keeps 0.3 × 10 at 3 despite binary floating point.
    wanted = Math.max(1, Math.min(matched, Math.ceil(targets.fraction * matched - 1e-9)));
  }
  if (wanted === matched) return { matched, agents: matching };
  const rng = createRng(`${String(seed)}/targets`);
  const pool = matching.slice();
  for (let i = 0; i < wanted; i++) {
    const j = i + rng.int(pool.length - i);
    const picked = pool[j]!;
    pool[j] = pool[i]!;
    pool[i] = picked;
  }
  return { matched, agents: pool.slice(0, wanted).sort((a, b) => compareIds(a.agentId, b.agentId)) };
}
