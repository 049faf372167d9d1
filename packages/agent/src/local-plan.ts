import { readFileSync } from 'node:fs';
import type { Plan } from '@faultline/protocol';
import { compilePlans, parseExperimentSpec } from '@faultline/spec';
import { InvalidPlanFileError } from './errors.js';

/**
 * Compiles an experiment spec file (`kind: Experiment`, the same format `faultline run`
 * takes) into this machine's plan, for standalone mode. This machine is the only target:
 * the spec's `targets` are ignored. Errors name the file, the field and the value.
 */
export function loadLocalPlan(
  file: string,
  agent: { agentId: string; labels: Record<string, string> },
  startUnixNano: bigint,
): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidPlanFileError(`cannot read plan file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const spec = parseExperimentSpec(text, { source: file });
  const local = { ...spec, spec: { ...spec.spec, targets: { selector: {} } } };
  const experimentId = `local-${new Date(Number(startUnixNano / 1_000_000n)).toISOString().replace(/[-:.]/g, '').slice(0, 15)}`;
  const { plans } = compilePlans(
    local,
    [
      {
        agentId: agent.agentId,
        hostname: agent.agentId,
        labels: agent.labels,
        caps: undefined,
        version: '',
        cpuCount: 0,
        memoryTotalBytes: 0n,
        hostIds: [agent.agentId],
      },
    ],
    { startUnixNano, experimentId },
  );
  const plan = plans[0];
  if (!plan) throw new InvalidPlanFileError(`${file}: the spec compiled to no plan for this machine`);
  return plan;
}
