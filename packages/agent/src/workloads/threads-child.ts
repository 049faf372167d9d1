/**
 * Workload process of the `threads` kind: bursts of `count` worker threads, each alive for
 * `lifetimeMs` and idle; a new burst starts as soon as the previous one has exited, so the
 * process holds about `count` extra threads.
 */
import { Worker } from 'node:worker_threads';
import type { BurstChildConfig } from './child-protocol.js';
import { runWorkloadChild } from './child-runtime.js';

function runOne(lifetimeMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(`setTimeout(() => {}, ${Math.round(lifetimeMs)});`, {
      eval: true,
      // Small heaps: the threads are there to be counted, not to hold memory.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
    });
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
}

runWorkloadChild<BurstChildConfig>((config, channel) => () => {
  let started = 0;
  const run = async (): Promise<void> => {
    for (;;) {
      await Promise.all(Array.from({ length: config.count }, () => runOne(config.lifetimeMs)));
      started += config.count;
      channel.progress({ started });
    }
  };
  run().catch((err: unknown) => channel.fail(`thread burst failed: ${(err as Error).message}`));
});
