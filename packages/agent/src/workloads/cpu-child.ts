/**
 * Workload process of the `cpu` kind: one busy loop at a duty cycle of one core, paced on
 * its own cpu time (see {@link DutyCycle}) in periods of ~100 ms.
 */
import type { CpuChildConfig } from './child-protocol.js';
import { runWorkloadChild } from './child-runtime.js';
import { DutyCycle } from './pacing.js';

// Written by the busy loop so that the loop has an effect and is not optimised away.
let spin = 1;

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

runWorkloadChild<CpuChildConfig>((config) => {
  const cycle = new DutyCycle(config.duty, config.periodMs);
  const period = (): void => {
    const wallStart = performance.now();
    const cpuStart = cpuMs();
    const budget = cycle.busyBudgetMs();
    const wallEnd = wallStart + config.periodMs;
    let now = wallStart;
    let burned = 0;
    while (burned < budget && now < wallEnd) {
      // A little work between clock reads so the reads do not dominate the loop.
      for (let i = 0; i < 2000; i++) spin = (spin * 1103515245 + 12345) >>> 0;
      now = performance.now();
      burned = cpuMs() - cpuStart;
    }
    setTimeout(
      () => {
        cycle.endPeriod(performance.now() - wallStart, cpuMs() - cpuStart);
        period();
      },
      Math.max(0, wallEnd - performance.now()),
    );
  };
  return period;
});
