import type { AgentInfo } from '@faultline/protocol';
import type { CoordinationSpec } from '../spec/experiment-spec.js';
import { compareIds } from './target-selection.js';

/**
 * The delay, ms, that coordination adds to every injection of each agent (agents in the
 * order given, which is by agent id):
 * - `independent`, `simultaneous`: 0 (independent hosts differ by their own random draws);
 * - `rolling`: agents form waves of `waveSize` in order; wave w starts `w × interval` late;
 * - `cascade`: agents are grouped by the value of `label`, groups sorted by value, agents
 *   without the label last; group g starts `g × delay` late.
 */
export function coordinationDelays(
  coordination: CoordinationSpec,
  agents: readonly AgentInfo[],
): Float64Array {
  const delays = new Float64Array(agents.length);
  switch (coordination.mode) {
    case 'independent':
    case 'simultaneous':
      return delays;
    case 'rolling':
      for (let i = 0; i < agents.length; i++) {
        delays[i] = Math.floor(i / coordination.waveSize) * coordination.intervalMs;
      }
      return delays;
    case 'cascade': {
      const values = [
        ...new Set(agents.map((a) => a.labels[coordination.label]).filter((v) => v !== undefined)),
      ];
      values.sort(compareIds);
      const group = new Map(values.map((v, g) => [v, g]));
      for (let i = 0; i < agents.length; i++) {
        const value = agents[i]!.labels[coordination.label];
        const g = value === undefined ? values.length : group.get(value)!;
        delays[i] = g * coordination.delayMs;
      }
      return delays;
    }
  }
}
