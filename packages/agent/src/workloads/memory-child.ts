/**
 * Workload process of the `memory` kind: allocates its target in chunks over the ramp and
 * writes one byte per 4 KiB page so that each page is really resident, then stays idle (no
 * cpu: unlike a stressor that keeps rewriting its pages, it must not look like a cpu
 * anomaly) for the hold, or until recovered.
 */
import { readFileSync } from 'node:fs';
import type { MemoryChildConfig } from './child-protocol.js';
import { runWorkloadChild, sleep } from './child-runtime.js';
import { memoryGoalBytes } from './pacing.js';

const PAGE_BYTES = 4096;
/** Largest single allocation, bytes: big enough to be fast, small enough to yield often. */
const MAX_CHUNK_BYTES = 32 * 1024 * 1024;
/** Smallest allocation during a ramp, bytes, so a slow ramp does not make thousands of buffers. */
const MIN_RAMP_CHUNK_BYTES = 1024 * 1024;
const RAMP_TICK_MS = 50;

const held: Uint8Array[] = [];

function memAvailableBytes(procRoot: string): number | undefined {
  try {
    const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync(`${procRoot}/meminfo`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

runWorkloadChild<MemoryChildConfig>((config, channel) => {
  let allocated = 0;

  /** Allocates `bytes` more; false when a cap or a failure stopped it (already noted). */
  const allocate = (bytes: number): boolean => {
    const available = memAvailableBytes(config.procRoot);
    if (available !== undefined && available - bytes < config.reserveBytes) {
      channel.note(
        `capped at ${mib(allocated)} of ${mib(config.bytes)}: MemAvailable ${mib(available)} ` +
          `would fall below the reserve of ${mib(config.reserveBytes)}`,
      );
      return false;
    }
    let chunk: Uint8Array;
    try {
      chunk = new Uint8Array(bytes);
    } catch (err) {
      channel.note(
        `allocation failed after ${mib(allocated)} of ${mib(config.bytes)}: ${(err as Error).message}`,
      );
      return false;
    }
    for (let i = 0; i < bytes; i += PAGE_BYTES) chunk[i] = 1;
    held.push(chunk);
    allocated += bytes;
    return true;
  };

  // Exercise the I/O paths once before `ready`, so that paging in their code does not count as workload memory.
  memAvailableBytes(config.procRoot);
  channel.progress({ allocatedBytes: 0 });

  const run = async (): Promise<void> => {
    const start = performance.now();
    while (allocated < config.bytes) {
      const goal = memoryGoalBytes(config.bytes, config.rampMs, performance.now() - start);
      const missing = goal - allocated;
      const remaining = config.bytes - allocated;
      if (missing >= Math.min(MIN_RAMP_CHUNK_BYTES, remaining)) {
        if (!allocate(Math.min(missing, MAX_CHUNK_BYTES))) break;
        // Yield, so that the IPC channel (and a closed one) is served during a long ramp.
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else {
        await sleep(RAMP_TICK_MS);
      }
    }
    channel.progress({ allocatedBytes: allocated });
    if (config.holdMs > 0) {
      await sleep(config.holdMs);
      channel.finish();
    }
  };
  return () => void run();
});
