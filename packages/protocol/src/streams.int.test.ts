import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import {
  decodeSampleBatch,
  encodeSampleBatch,
  ensureStreams,
  partitionOf,
  SampleBatch,
  sampleBatchMsgId,
  StreamName,
  subjects,
} from './index.js';

describe('JetStream streams (real nats-server)', () => {
  it('creates the streams idempotently and round-trips a sample batch through FL_SAMPLES, deduplicated by msg id', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm);
      const infos = await ensureStreams(jsm); // again: updates in place
      expect(infos.map((i) => i.config.name).sort()).toEqual(Object.values(StreamName).sort());

      const js = jetstream(nc);
      const partition = partitionOf('agent-1');
      const batch = SampleBatch.fromPartial({
        agentId: 'agent-1',
        seq: 1n,
        partition,
        sentUnixNano: 1_763_000_000_000_000_000n,
        samples: [
          {
            hostId: 'agent-1',
            seq: 1n,
            timeUnixNano: 1_763_000_000_000_000_001n,
            labels: { state: 'working_normal' },
            host: { memoryUsedBytes: 1234, cpuCount: 2 },
          },
        ],
      });
      const subject = subjects.samples(partition, 'agent-1');
      const ack = await js.publish(subject, encodeSampleBatch(batch), {
        msgID: sampleBatchMsgId('agent-1', 1n),
      });
      expect(ack.duplicate).toBe(false);
      const again = await js.publish(subject, encodeSampleBatch(batch), {
        msgID: sampleBatchMsgId('agent-1', 1n),
      });
      expect(again.duplicate).toBe(true);

      const info = await jsm.streams.info(StreamName.Samples);
      expect(info.state.messages).toBe(1);
      const msg = await jsm.streams.getMessage(StreamName.Samples, { seq: 1 });
      expect(msg?.subject).toBe(subject);
      expect(decodeSampleBatch(msg!.data)).toEqual(batch);
    } finally {
      await nc.close();
    }
  });
});
