import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  decodeSampleBatch,
  decodeTruthWindow,
  ensureStreams,
  msToUnixNano,
  partitionOf,
  StreamName,
  subjects,
  type Plan,
} from '@faultline/protocol';
import { eventually, startNats, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { LiveSimulator } from './live-simulator.js';

async function readStream(
  url: string,
  stream: string,
): Promise<Array<{ subject: string; data: Uint8Array }>> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: Array<{ subject: string; data: Uint8Array }> = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m) out.push({ subject: m.subject, data: m.data });
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe('LiveSimulator', () => {
  it('publishes 1,000 virtual hosts through one publisher with contiguous per-host seqs, and a plan’s truth', async () => {
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc));
    await nc.close();
    await using dir = tempDir('sim-live-');
    const errors: string[] = [];
    const live = LiveSimulator.start({
      natsUrl: nats.url,
      agentId: 'sim-int',
      hosts: 1000,
      seed: 5,
      intervalMs: 1000,
      dataDir: dir.path,
      onError: (err, where) => errors.push(`${where}: ${String(err)}`),
    });
    const target = live.simulator.hosts[123]!.hostId;
    const now = Date.now();
    const plan: Plan = {
      planId: `live-${target}`,
      experimentId: 'live-exp',
      agentId: target,
      startUnixNano: msToUnixNano(now),
      endUnixNano: msToUnixNano(now + 2500),
      samplingIntervalMs: 1000,
      baseline: undefined,
      phases: [],
      injections: [
        {
          injectionId: 'live-1',
          anomalyType: 'ram_spike',
          startUnixNano: msToUnixNano(now + 200),
          endUnixNano: msToUnixNano(now + 2200),
          workload: {
            kind: {
              $case: 'memory',
              value: { bytes: 3_000_000_000n, fractionOfRam: 0, rampMs: 0, holdMs: 0 },
            },
          },
          replacesBaseline: true,
          phase: '',
        },
      ],
      deadManTimeoutMs: 0,
    };
    const outcome = await live.runPlan(plan);
    expect(outcome).toMatchObject({ halted: false, injectionsStarted: 1, injectionsFinished: 1 });
    await eventually(() => live.stats().ticks >= 4, { name: '4 ticks', timeoutMs: 15_000 });
    await live.stop();
    const stats = live.stats();
    expect(errors).toEqual([]);
    expect(stats.publisher.samplesLost).toBe(0);
    expect(stats.publisher.samplesPublished).toBe(stats.samplesGenerated);

    const messages = await readStream(nats.url, StreamName.Samples);
    const subject = subjects.samples(partitionOf('sim-int'), 'sim-int');
    expect(new Set(messages.map((m) => m.subject))).toEqual(new Set([subject]));
    const batches = messages.map((m) => decodeSampleBatch(m.data));
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => BigInt(i + 1)));
    const seqs = new Map<string, bigint[]>();
    let labelled = 0;
    for (const b of batches) {
      expect(b.agentId).toBe('sim-int');
      for (const s of b.samples) {
        seqs.set(s.hostId, [...(seqs.get(s.hostId) ?? []), s.seq]);
        if (s.labels?.injectionId === 'live-1') {
          labelled++;
          expect(s.hostId).toBe(target);
          expect(s.host!.memoryUsedBytes).toBeGreaterThanOrEqual(3e9);
        }
      }
    }
    expect(seqs.size).toBe(1000);
    const ticks = stats.ticks;
    expect(stats.samplesGenerated).toBe(1000 * ticks);
    for (const [host, list] of seqs) {
      expect(list, host).toEqual(Array.from({ length: ticks }, (_, i) => BigInt(i + 1)));
    }
    expect(labelled).toBeGreaterThanOrEqual(1);

    const truth = (await readStream(nats.url, StreamName.Truth)).map((m) => decodeTruthWindow(m.data));
    expect(truth.map((t) => [t.injectionId, t.hostId, t.agentId, t.actualEndUnixNano === 0n])).toEqual([
      ['live-1', target, 'sim-int', true],
      ['live-1', target, 'sim-int', false],
    ]);
    expect(truth[1]!.reachedTarget).toBe(true);
  });
});
