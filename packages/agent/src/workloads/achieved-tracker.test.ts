import { describe, expect, it } from 'vitest';
import type { ProcessTreeSnapshot } from '../process-tree.js';
import { AchievedTracker, sumSnapshots } from './achieved-tracker.js';

const MiB = 1024 * 1024;

function snap(ms: number, fields: Partial<ProcessTreeSnapshot> = {}): ProcessTreeSnapshot {
  return {
    timeNs: BigInt(ms) * 1_000_000n,
    wallTimeMs: 1_700_000_000_000 + ms,
    pids: [100],
    pssBytes: 0,
    rssBytes: 40 * MiB,
    swapBytes: 0,
    vmemBytes: 0,
    rcharBytes: 0,
    wcharBytes: 0,
    readBytes: 0,
    writeBytes: 0,
    utimeSeconds: 0,
    stimeSeconds: 0,
    nprocs: 1,
    nthreads: 7,
    restrictedPids: 0,
    ...fields,
  };
}

describe('AchievedTracker', () => {
  it('measures RSS as a delta over the baseline, with the ramp to 90 % and the hold', () => {
    const tracker = new AchievedTracker(snap(0), { metric: 'rssDeltaBytes', value: 100 * MiB });
    const deltas = [30, 60, 95, 100, 100, 100];
    deltas.forEach((d, i) => tracker.add(snap((i + 1) * 100, { rssBytes: (40 + d) * MiB })));
    const { achieved, samples, durationMs } = tracker.summary();
    expect(samples).toBe(6);
    expect(durationMs).toBe(600);
    expect(achieved.peakRssDeltaBytes).toBe(100 * MiB);
    expect(achieved.meanRssDeltaBytes).toBeCloseTo((485 / 6) * MiB, 3);
    // 95 MiB (≥ 90 %) first at 300 ms, last at 600 ms.
    expect(achieved.rampMs).toBe(300);
    expect(achieved.holdMs).toBe(300);
  });

  it('takes a peak from VmHWM that fell between two snapshots', () => {
    const tracker = new AchievedTracker(snap(0), { metric: 'rssDeltaBytes', value: 10 * MiB });
    tracker.add(snap(100, { rssBytes: 41 * MiB }));
    tracker.notePeakRss(52 * MiB);
    expect(tracker.summary().achieved.peakRssDeltaBytes).toBe(12 * MiB);
    expect(tracker.summary().reachedAtMs).toBe(100);
  });

  it('gives cpu in percent of one core, mean over the window and peak per interval', () => {
    const tracker = new AchievedTracker(snap(0, { utimeSeconds: 5 }), { metric: 'cpuPercent', value: 50 });
    tracker.add(snap(1000, { utimeSeconds: 5.3, stimeSeconds: 0.1 })); // 40 %
    tracker.add(snap(2000, { utimeSeconds: 5.9, stimeSeconds: 0.1 })); // 60 %
    const { achieved } = tracker.summary();
    expect(achieved.meanCpuPercent).toBeCloseTo(50, 9);
    expect(achieved.peakCpuPercent).toBeCloseTo(60, 9);
    expect(achieved.rampMs).toBe(2000);
  });

  it('gives I/O as rates over the window, not counting a process that left the tree', () => {
    const tracker = new AchievedTracker(snap(0, { writeBytes: 1000 }), {
      metric: 'writeBytesPerSecond',
      value: 2 * MiB,
    });
    tracker.add(snap(500, { writeBytes: 1000 + MiB, wcharBytes: MiB }));
    tracker.add(snap(1000, { writeBytes: 1000 + 2 * MiB, wcharBytes: 2 * MiB }));
    // A child with 5 MiB of writes left: the sum drops, and that is not negative work.
    tracker.add(snap(1500, { writeBytes: 1000 + 2 * MiB - 5 * MiB, wcharBytes: 2 * MiB }));
    tracker.add(snap(2000, { writeBytes: 1000 + 3 * MiB - 5 * MiB, wcharBytes: 3 * MiB }));
    const summary = tracker.summary();
    expect(summary.achieved.writeBytesPerSecond).toBeCloseTo((3 * MiB) / 2, 6);
    expect(summary.wcharBytesPerSecond).toBeCloseTo((3 * MiB) / 2, 6);
    expect(summary.achieved.rampMs).toBe(500);
  });

  it('counts processes and threads above the baseline', () => {
    const tracker = new AchievedTracker(snap(0), { metric: 'extraProcesses', value: 10 });
    tracker.add(snap(100, { nprocs: 6, nthreads: 12 }));
    tracker.add(snap(200, { nprocs: 11, nthreads: 17 }));
    tracker.add(snap(300, { nprocs: 3, nthreads: 9 }));
    const summary = tracker.summary();
    expect(summary.peakExtraProcesses).toBe(10);
    expect(summary.peakExtraThreads).toBe(10);
    expect(summary.achieved.rampMs).toBe(200);
  });

  it('says nothing was reached when the target never was', () => {
    const tracker = new AchievedTracker(snap(0), { metric: 'rssDeltaBytes', value: 100 * MiB });
    tracker.add(snap(100, { rssBytes: 80 * MiB }));
    expect(tracker.summary().reachedAtMs).toBeUndefined();
    expect(tracker.summary().achieved.rampMs).toBe(0);
    expect(tracker.summary().achieved.holdMs).toBe(0);
  });
});

describe('sumSnapshots', () => {
  it('adds the trees of several roots', () => {
    const sum = sumSnapshots([
      snap(100, { pids: [1, 2], rssBytes: 10, utimeSeconds: 1, nprocs: 2, nthreads: 3 }),
      snap(120, { pids: [3], rssBytes: 5, utimeSeconds: 0.5, nprocs: 1, nthreads: 1 }),
    ]);
    expect(sum).toMatchObject({ pids: [1, 2, 3], rssBytes: 15, utimeSeconds: 1.5, nprocs: 3, nthreads: 4 });
    expect(sum?.timeNs).toBe(120_000_000n);
    expect(sumSnapshots([])).toBeUndefined();
  });
});
