import { describe, expect, it } from 'vitest';
import {
  decodeSampleBatch,
  decodeTruthWindow,
  encodeSampleBatch,
  encodeTruthWindow,
  HostMetrics,
  MalformedMessageError,
  Sample,
  SampleBatch,
  TruthWindow,
} from './index.js';

function batch(): SampleBatch {
  return SampleBatch.fromPartial({
    agentId: 'agent-1',
    seq: 7n,
    partition: 2,
    sentUnixNano: 1_763_000_000_000_000_000n,
    samples: [
      Sample.fromPartial({
        hostId: 'host-a',
        seq: 1n,
        timeUnixNano: 1_763_000_000_123_456_789n,
        labels: {
          experimentId: 'e1',
          phase: 'memory_spike',
          state: 'working_anomaly_ram_spike',
          injectionId: 'i1',
        },
        host: HostMetrics.fromPartial({ cpuUserSecondsTotal: 123.45, memoryUsedBytes: 2 ** 40, cpuCount: 2 }),
        process: { rssBytes: 268_435_456, nprocs: 5, nthreads: 9, cpuPercent: 49.5 },
        metrics: { power_watts: 212.5 },
      }),
    ],
  });
}

describe('sample batch codec', () => {
  it('round-trips a batch exactly, including ns timestamps beyond 2^53', () => {
    const b = batch();
    const back = decodeSampleBatch(encodeSampleBatch(b));
    expect(back).toEqual(b);
    expect(back.samples[0]!.timeUnixNano).toBe(1_763_000_000_123_456_789n);
  });

  it('rejects truncated bytes with a typed error naming the message type', () => {
    const bytes = encodeSampleBatch(batch());
    const cut = bytes.subarray(0, bytes.length - 5);
    expect(() => decodeSampleBatch(cut)).toThrow(MalformedMessageError);
    expect(() => decodeSampleBatch(cut)).toThrow(/malformed faultline\.v1\.SampleBatch/);
  });

  it('rejects garbage bytes', () => {
    const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    expect(() => decodeSampleBatch(garbage)).toThrow(MalformedMessageError);
  });

  it('rejects well-formed protobuf that breaks the contract, naming the field', () => {
    const noAgent = encodeSampleBatch({ ...batch(), agentId: '' });
    expect(() => decodeSampleBatch(noAgent)).toThrow(/agent_id is empty/);
    const b = batch();
    b.samples[0]!.hostId = '';
    expect(() => decodeSampleBatch(encodeSampleBatch(b))).toThrow(/samples\[0\]\.host_id is empty/);
    expect(() => decodeSampleBatch(encodeSampleBatch({ ...batch(), seq: 0n }))).toThrow(
      /seq must be >= 1, got 0/,
    );
  });
});

describe('truth window codec', () => {
  it('round-trips and rejects an end before the start', () => {
    const t = TruthWindow.fromPartial({
      injectionId: 'i1',
      hostId: 'host-a',
      anomalyType: 'ram_spike',
      actualStartUnixNano: 2_000n,
      actualEndUnixNano: 3_000n,
      requested: {
        kind: {
          $case: 'memory',
          value: { bytes: 256n * 1024n * 1024n, fractionOfRam: 0, rampMs: 0, holdMs: 0 },
        },
      },
      achieved: { peakRssDeltaBytes: 268_000_000 },
    });
    expect(decodeTruthWindow(encodeTruthWindow(t))).toEqual(t);
    const bad = { ...t, actualEndUnixNano: 1_000n };
    expect(() => decodeTruthWindow(encodeTruthWindow(bad))).toThrow(/is before actual_start_unix_nano/);
  });
});
