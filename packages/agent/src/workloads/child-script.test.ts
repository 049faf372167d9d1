import { describe, expect, it } from 'vitest';
import { isWorkloadScriptMissingError } from '../errors.js';
import { workloadScriptPath } from './child-script.js';

describe('workloadScriptPath', () => {
  it('maps a module running from src/ to the compiled script in dist/', () => {
    const path = workloadScriptPath('cpu-child', import.meta.url);
    expect(path).toMatch(/\/packages\/agent\/dist\/workloads\/cpu-child\.js$/);
  });

  it('says to build the package when the compiled script is missing', () => {
    let caught: unknown;
    try {
      workloadScriptPath('memory-child', 'file:///nowhere/packages/agent/src/workloads/injection-runner.ts');
    } catch (err) {
      caught = err;
    }
    expect(isWorkloadScriptMissingError(caught)).toBe(true);
    expect((caught as Error).message).toBe(
      'workload entry script /nowhere/packages/agent/dist/workloads/memory-child.js does not exist: ' +
        'build the agent first (`pnpm build`, or `pnpm exec tsc -b packages/agent`)',
    );
  });
});
