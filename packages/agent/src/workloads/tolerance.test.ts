import type { Achieved } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { judgeAchieved, type InjectionEvidence } from './tolerance.js';
import type { ResolvedWorkload } from './workload-spec.js';

const MiB = 1024 * 1024;

function evidence(achieved: Partial<Achieved>, more: Partial<InjectionEvidence> = {}): InjectionEvidence {
  return {
    achieved: {
      peakRssDeltaBytes: 0,
      meanRssDeltaBytes: 0,
      meanCpuPercent: 0,
      peakCpuPercent: 0,
      writeBytesPerSecond: 0,
      readBytesPerSecond: 0,
      netBytesPerSecond: 0,
      rampMs: 0,
      holdMs: 0,
      ...achieved,
    },
    samples: 10,
    durationMs: 2000,
    peakExtraProcesses: 0,
    peakExtraThreads: 0,
    wcharBytesPerSecond: 0,
    notes: [],
    failure: undefined,
    ...more,
  };
}

const memory: ResolvedWorkload = { kind: 'memory', bytes: 256 * MiB, rampMs: 0, holdMs: 0 };
const cpu: ResolvedWorkload = { kind: 'cpu', cores: 1, loadPercent: 50, duties: [0.5], targetCpuPercent: 50 };
const io: ResolvedWorkload = {
  kind: 'io',
  writeBytesPerSecond: 20 * MiB,
  readBytesPerSecond: 0,
  fileSizeBytes: 64 * MiB,
  fsync: true,
  directory: '/dev/shm',
};

describe('judgeAchieved', () => {
  it('accepts memory within ±10 % and says by how much it missed otherwise', () => {
    expect(judgeAchieved(memory, evidence({ peakRssDeltaBytes: 240 * MiB }))).toEqual({
      reachedTarget: true,
      shortfall: '',
    });
    expect(
      judgeAchieved(
        memory,
        evidence({ peakRssDeltaBytes: 128 * MiB }, { notes: ['capped at 128.0 MiB of 256.0 MiB'] }),
      ),
    ).toEqual({
      reachedTarget: false,
      shortfall:
        'peak RSS delta 128.0 MiB is 50.0 % below the requested 256.0 MiB; capped at 128.0 MiB of 256.0 MiB',
    });
  });

  it('accepts cpu within ±10 points per core', () => {
    expect(judgeAchieved(cpu, evidence({ meanCpuPercent: 59.9 })).reachedTarget).toBe(true);
    expect(
      judgeAchieved(cpu, evidence({ meanCpuPercent: 38 }, { runQueueWaitFraction: 0.01 })).shortfall,
    ).toBe('mean cpu 38.0 % of one core, requested 50.0 % (±10 points)');
    expect(
      judgeAchieved(cpu, evidence({ meanCpuPercent: 25 }, { runQueueWaitFraction: 0.42 })).shortfall,
    ).toBe(
      'mean cpu 25.0 % of one core, requested 50.0 % (±10 points); ' +
        'contention: the busy loops were runnable but waiting for a cpu 42 % of the time',
    );
  });

  it('explains an io write rate of zero on a filesystem that does not account it', () => {
    const verdict = judgeAchieved(
      io,
      evidence({ writeBytesPerSecond: 0 }, { wcharBytesPerSecond: 20 * MiB }),
    );
    expect(verdict.reachedTarget).toBe(false);
    expect(verdict.shortfall).toContain('does not account writes to storage');
    expect(judgeAchieved(io, evidence({ writeBytesPerSecond: 18 * MiB })).reachedTarget).toBe(true);
    expect(judgeAchieved(io, evidence({ writeBytesPerSecond: 16 * MiB })).reachedTarget).toBe(false);
  });

  it('puts a failure first and refuses a verdict without a measurement', () => {
    expect(
      judgeAchieved(memory, evidence({ peakRssDeltaBytes: 256 * MiB }, { failure: 'crashed' })).shortfall,
    ).toBe('crashed');
    expect(judgeAchieved(cpu, evidence({}, { samples: 0, durationMs: 40 })).shortfall).toBe(
      'no measurement: the workload ran 40 ms, less than one monitor interval',
    );
  });

  it('judges stall on the time held and bursts on what was alive at once', () => {
    const stall: ResolvedWorkload = { kind: 'stall', extraMs: 2000 };
    expect(judgeAchieved(stall, evidence({ holdMs: 1990 }, { samples: 0 })).reachedTarget).toBe(true);
    expect(judgeAchieved(stall, evidence({ holdMs: 700 }, { samples: 0 })).shortfall).toBe(
      'held 700 ms of the requested 2000 ms',
    );
    const procs: ResolvedWorkload = { kind: 'procs', count: 20, lifetimeMs: 500 };
    expect(judgeAchieved(procs, evidence({}, { peakExtraProcesses: 18 })).reachedTarget).toBe(true);
    expect(judgeAchieved(procs, evidence({}, { peakExtraProcesses: 5 })).reachedTarget).toBe(false);
  });

  it('requires every matmul product and the matrices in memory', () => {
    const matmul: ResolvedWorkload = { kind: 'matmul', sizes: [400], matrices: 3, dots: 5 };
    const expectedBytes = 4 * 400 * 400 * 8;
    // Done before the first monitor tick: the process's own report is the measurement.
    expect(
      judgeAchieved(
        matmul,
        evidence({ peakRssDeltaBytes: expectedBytes }, { dotsDone: 5, expectedBytes, samples: 0 }),
      ).shortfall,
    ).toBe('');
    expect(
      judgeAchieved(matmul, evidence({}, { dotsDone: 0, expectedBytes, samples: 0, durationMs: 40 }))
        .shortfall,
    ).toBe('no measurement: the workload ran 40 ms, less than one monitor interval');
    expect(
      judgeAchieved(matmul, evidence({ peakRssDeltaBytes: expectedBytes }, { dotsDone: 5, expectedBytes }))
        .reachedTarget,
    ).toBe(true);
    expect(
      judgeAchieved(matmul, evidence({ peakRssDeltaBytes: expectedBytes }, { dotsDone: 2, expectedBytes }))
        .shortfall,
    ).toBe('stopped after 2 of 5 dot products');
  });
});
