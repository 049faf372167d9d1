/**
 * Workload process of the `procs` kind: bursts of `count` short-lived processes, each alive
 * for `lifetimeMs`; a new burst starts as soon as the previous one has exited, so the tree
 * holds about `count` extra processes and forks `count` per lifetime. The processes are
 * `sleep` (the lightest process there is), or Node itself where `sleep` is missing. On
 * SIGTERM it kills and reaps its processes before it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { BurstChildConfig } from './child-protocol.js';
import { runWorkloadChild } from './child-runtime.js';

type Launcher = (lifetimeMs: number) => { command: string; args: string[] };

const sleepLauncher: Launcher = (ms) => ({ command: 'sleep', args: [(ms / 1000).toFixed(3)] });
const nodeLauncher: Launcher = (ms) => ({
  command: process.execPath,
  args: ['-e', `setTimeout(() => {}, ${Math.round(ms)})`],
});

const alive = new Set<ChildProcess>();

function runOne(launcher: Launcher, lifetimeMs: number): Promise<'ok' | 'missing'> {
  return new Promise((resolve, reject) => {
    const { command, args } = launcher(lifetimeMs);
    const child = spawn(command, args, { stdio: 'ignore' });
    alive.add(child);
    child.once('error', (err: NodeJS.ErrnoException) => {
      alive.delete(child);
      if (err.code === 'ENOENT') resolve('missing');
      else reject(err);
    });
    child.once('exit', () => {
      alive.delete(child);
      resolve('ok');
    });
  });
}

// Stopped, reap the burst before going: orphans would wait for init to reap them, and an
// init that is slow at it (or a container's PID 1 that never does) would leave them behind.
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
  const exits = [...alive].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of alive) child.kill('SIGKILL');
  void Promise.all(exits).then(() => process.exit(0));
});

runWorkloadChild<BurstChildConfig>((config, channel) => () => {
  let launcher = sleepLauncher;
  let spawned = 0;
  const run = async (): Promise<void> => {
    while (!stopping) {
      const burst = await Promise.all(
        Array.from({ length: config.count }, () => runOne(launcher, config.lifetimeMs)),
      );
      if (burst.includes('missing')) {
        if (launcher === nodeLauncher)
          throw new Error('cannot spawn processes: neither sleep nor node found');
        channel.note('`sleep` is not on PATH: bursts are of Node processes, which take longer to start');
        launcher = nodeLauncher;
      }
      spawned += config.count;
      channel.progress({ spawned });
    }
  };
  run().catch((err: unknown) => channel.fail(`process burst failed: ${(err as Error).message}`));
});
