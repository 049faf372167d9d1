import type { Workload } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { isInvalidWorkloadError } from '../errors.js';
import { cpuDuties, parsePeer, resolveWorkload, WorkloadDefaults } from './workload-spec.js';

const context = { memTotalBytes: 8 * 1024 ** 3, workDirectory: '/var/lib/faultline' };
const memory = (bytes: bigint, fractionOfRam: number): Workload => ({
  kind: { $case: 'memory', value: { bytes, fractionOfRam, rampMs: 1000, holdMs: 0 } },
});

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isInvalidWorkloadError(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

describe('resolveWorkload', () => {
  it('splits fractional cores into a partial duty', () => {
    expect(cpuDuties(1.5, 60)).toEqual([0.6, 0.3]);
    expect(cpuDuties(2, 100)).toEqual([1, 1]);
    expect(cpuDuties(0.25, 80)).toEqual([0.2]);
    const cpu = resolveWorkload({ kind: { $case: 'cpu', value: { cores: 1.5, loadPercent: 60 } } }, context);
    expect(cpu).toMatchObject({ kind: 'cpu', duties: [0.6, 0.3], targetCpuPercent: 90 });
  });

  it('turns a fraction of RAM into bytes of MemTotal', () => {
    expect(resolveWorkload(memory(0n, 0.25), context)).toEqual({
      kind: 'memory',
      bytes: 2 * 1024 ** 3,
      rampMs: 1000,
      holdMs: 0,
    });
    expect(resolveWorkload(memory(4096n, 0), context)).toMatchObject({ bytes: 4096 });
  });

  it('names the field, the range and the value of what it refuses', () => {
    expect(
      message(() =>
        resolveWorkload({ kind: { $case: 'cpu', value: { cores: 1, loadPercent: 150 } } }, context),
      ),
    ).toBe('workload.cpu.loadPercent must be in (0, 100], got 150');
    expect(message(() => resolveWorkload(memory(4096n, 0.5), context))).toBe(
      'workload.memory.bytes and workload.memory.fractionOfRam are exclusive, got 4096 and 0.5',
    );
    expect(message(() => resolveWorkload(memory(0n, 1.5), context))).toBe(
      'workload.memory.fractionOfRam must be in (0, 1] (or set bytes), got 1.5',
    );
    expect(message(() => resolveWorkload(undefined, context))).toBe(
      'workload must set exactly one kind, got none',
    );
    expect(
      message(() =>
        resolveWorkload(
          { kind: { $case: 'matmul', value: { sizes: [300, 0], matrices: 0, dots: 0 } } },
          context,
        ),
      ),
    ).toBe('workload.matmul.sizes[1] must be in [1, 20000], got 0');
    expect(message(() => resolveWorkload({ kind: { $case: 'stall', value: { extraMs: 0 } } }, context))).toBe(
      'workload.stall.extraMs must be > 0, got 0',
    );
  });

  it('applies the seed defaults to an empty matmul and the work directory to io', () => {
    expect(
      resolveWorkload({ kind: { $case: 'matmul', value: { sizes: [], matrices: 0, dots: 0 } } }, context),
    ).toEqual({
      kind: 'matmul',
      sizes: [...WorkloadDefaults.matmulSizes],
      matrices: 3,
      dots: 5,
    });
    const io = resolveWorkload(
      {
        kind: {
          $case: 'io',
          value: {
            writeBytesPerSecond: 1024n,
            readBytesPerSecond: 0n,
            fileSizeBytes: 0n,
            fsync: true,
            directory: '',
          },
        },
      },
      context,
    );
    expect(io).toMatchObject({
      directory: '/var/lib/faultline',
      fileSizeBytes: 64 * 1024 * 1024,
      fsync: true,
    });
  });

  it('parses peers, IPv6 included, and refuses a missing port', () => {
    expect(parsePeer('10.0.0.2:9000')).toEqual({ host: '10.0.0.2', port: 9000 });
    expect(parsePeer('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(message(() => parsePeer('sink.local'))).toBe(
      'workload.network.peer must be "host:port" with a port in [1, 65535], got "sink.local"',
    );
    expect(
      resolveWorkload({ kind: { $case: 'network', value: { bytesPerSecond: 10n, peer: '' } } }, context),
    ).toMatchObject({ peer: undefined });
  });
});
