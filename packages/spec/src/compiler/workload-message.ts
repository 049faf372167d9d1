import type { Workload } from '@faultline/protocol';
import type { WorkloadSpec } from '../spec/experiment-spec.js';

/** Converts a normalised spec workload to its protocol message. */
export function toWorkloadMessage(w: WorkloadSpec): Workload {
  switch (w.kind) {
    case 'cpu':
      return { kind: { $case: 'cpu', value: { cores: w.cores, loadPercent: w.loadPercent } } };
    case 'memory':
      return {
        kind: {
          $case: 'memory',
          value: {
            bytes: BigInt(w.bytes ?? 0),
            fractionOfRam: w.fraction ?? 0,
            rampMs: w.rampMs,
            holdMs: w.holdMs,
          },
        },
      };
    case 'matmul':
      return {
        kind: { $case: 'matmul', value: { sizes: w.sizes.slice(), matrices: w.matrices, dots: w.dots } },
      };
    case 'io':
      return {
        kind: {
          $case: 'io',
          value: {
            writeBytesPerSecond: BigInt(w.writeBytesPerSecond),
            readBytesPerSecond: BigInt(w.readBytesPerSecond),
            fileSizeBytes: BigInt(w.fileSizeBytes),
            fsync: w.fsync,
            directory: w.directory,
          },
        },
      };
    case 'network':
      return {
        kind: { $case: 'network', value: { bytesPerSecond: BigInt(w.bytesPerSecond), peer: w.peer } },
      };
    case 'stall':
      return { kind: { $case: 'stall', value: { extraMs: w.extraMs } } };
    case 'procs':
      return { kind: { $case: 'procs', value: { count: w.count, lifetimeMs: w.lifetimeMs } } };
    case 'threads':
      return { kind: { $case: 'threads', value: { count: w.count, lifetimeMs: w.lifetimeMs } } };
  }
}
