import { AnomalyEventState, SampleBatch } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';

import { AnomalyEventTransitionKind, type AnomalyEventTransition } from '../anomaly-events.js';
import { eventMsgId, partitionConsumerName, scoreBatchMsgId } from './partition-worker.js';

const sample = (hostId: string, seq: bigint) => ({ hostId, seq, timeUnixNano: 1n, metrics: { x: 1 } });

describe('output message ids', () => {
  it("name a ScoreBatch by the batch's first host and that host's sequence range, so a rescored batch has the same id", () => {
    const batch = SampleBatch.fromPartial({
      agentId: 'sim-1',
      seq: 7n,
      samples: [sample('h1', 11n), sample('h2', 3n), sample('h1', 12n), sample('h1', 13n)],
    });
    expect(scoreBatchMsgId(batch)).toBe('score:h1:11-13');
    expect(scoreBatchMsgId(batch, 2)).toBe('score:h1:11-13#2');
    expect(scoreBatchMsgId(SampleBatch.fromPartial({ agentId: 'a', seq: 1n }))).toBeUndefined();
    // After a restart of the agent its seqs start over: the run (start ms) keeps ids apart.
    const restarted = SampleBatch.fromPartial({
      agentId: 'sim-1',
      seq: 8n,
      samples: [{ ...sample('h1', 11n), agentStartUnixNano: 1_795_000_000_123_000_000n }],
    });
    expect(scoreBatchMsgId(restarted)).toBe('score:h1:1795000000123:11-11');
  });

  it('name an event transition by its event and kind, and an update also by its sample', () => {
    const t = (kind: AnomalyEventTransition['kind'], seq: bigint): AnomalyEventTransition => ({
      kind,
      seq,
      timeUnixNano: 0n,
      event: {
        eventId: 'h1:201',
        hostId: 'h1',
        experimentId: '',
        state: AnomalyEventState.ANOMALY_EVENT_STATE_OPEN,
        startUnixNano: 0n,
        endUnixNano: 0n,
        peakScore: 1,
        severity: 0,
        topMetrics: [],
        detectorId: '',
        openSampleSeq: 201n,
      },
    });
    expect(eventMsgId(t(AnomalyEventTransitionKind.Opened, 201n))).toBe('event:h1:201:opened');
    expect(eventMsgId(t(AnomalyEventTransitionKind.Updated, 205n))).toBe('event:h1:201:updated:205');
    expect(eventMsgId(t(AnomalyEventTransitionKind.Closed, 240n))).toBe('event:h1:201:closed');
  });

  it('name the durable consumer of a partition after its group', () => {
    expect(partitionConsumerName('faultline-detector', 3)).toBe('faultline-detector-p3');
  });
});
