import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { ProcSampler } from './proc-sampler.js';

const counters = [
  'cpuUserSecondsTotal',
  'cpuNiceSecondsTotal',
  'cpuSystemSecondsTotal',
  'cpuIdleSecondsTotal',
  'cpuIowaitSecondsTotal',
  'cpuIrqSecondsTotal',
  'cpuSoftirqSecondsTotal',
  'cpuStealSecondsTotal',
  'contextSwitchesTotal',
  'forksTotal',
  'diskReadBytesTotal',
  'diskWrittenBytesTotal',
  'diskReadsCompletedTotal',
  'diskWritesCompletedTotal',
  'netRxBytesTotal',
  'netTxBytesTotal',
  'netRxPacketsTotal',
  'netTxPacketsTotal',
] as const;

describe('ProcSampler on the real /proc', () => {
  it('reports counters that never go down between two samples', async () => {
    const sampler = new ProcSampler();
    const a = sampler.sampleHost();
    // Some activity in between: a fork and a synced write.
    await using dir = tempDir('sampler-int-');
    writeFileSync(join(dir.path, 'f'), Buffer.alloc(64 * 1024, 1), { flush: true });
    const b = sampler.sampleHost();
    for (const key of counters) expect(b[key], key).toBeGreaterThanOrEqual(a[key]);
    expect(b.forksTotal).toBeGreaterThan(0);
    expect(b.contextSwitchesTotal).toBeGreaterThan(a.contextSwitchesTotal);
    const cpu = (h: typeof a): number =>
      h.cpuUserSecondsTotal + h.cpuSystemSecondsTotal + h.cpuIdleSecondsTotal + h.cpuIowaitSecondsTotal;
    expect(cpu(a)).toBeGreaterThan(0);
  });

  it('reports memory fields that are consistent with each other', () => {
    const h = new ProcSampler().sampleHost();
    expect(h.memoryTotalBytes).toBeGreaterThan(0);
    expect(h.memoryUsedBytes).toBeGreaterThan(0);
    expect(h.memoryUsedBytes).toBeLessThanOrEqual(h.memoryTotalBytes);
    expect(h.memoryFreeBytes).toBeLessThanOrEqual(h.memoryTotalBytes);
    expect(h.memoryAvailableBytes).toBeLessThanOrEqual(h.memoryTotalBytes);
    expect(h.memoryUsedBytes + h.memoryFreeBytes + h.memoryBuffersBytes + h.memoryCachedBytes).toBe(
      h.memoryTotalBytes,
    );
    expect(h.swapUsedBytes).toBeLessThanOrEqual(h.swapTotalBytes);
  });

  it('counts the online CPUs and sees this process among the tasks', () => {
    const h = new ProcSampler().sampleHost();
    expect(h.cpuCount).toBe(cpus().length);
    expect(h.procsRunning).toBeGreaterThanOrEqual(1);
    expect(h.procsTotal).toBeGreaterThan(1);
    expect(h.openFds).toBeGreaterThan(0);
    expect(h.load1).toBeGreaterThanOrEqual(0);
  });

  it('samples its own process tree with a CPU percent on the second sample', () => {
    const sampler = new ProcSampler();
    sampler.sample(process.pid);
    // Burn 50 ms of CPU (not of wall time: the machine's cores are shared).
    const from = process.cpuUsage();
    while (process.cpuUsage(from).user < 50_000) {
      // busy
    }
    const { process: tree } = sampler.sample(process.pid);
    expect(tree?.nprocs).toBeGreaterThanOrEqual(1);
    expect(tree?.cpuPercent).toBeGreaterThan(0);
  });
});
