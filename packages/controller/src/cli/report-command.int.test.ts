import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  AnomalyEvent,
  AnomalyEventState,
  encodeAnomalyEvent,
  encodeSampleBatch,
  encodeScoreBatch,
  encodeTruthWindow,
  ensureStreams,
  partitionOf,
  Sample,
  SampleBatch,
  Score,
  subjects,
  TruthWindow,
} from '@faultline/protocol';
import { startNats, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { reportCommand } from './report-command.js';
import { isUsageError } from './usage-error.js';
import { commandHarness, type CommandHarness } from '../../test/command-harness.js';

const EXP = 'exp-cli';
const HOST = 'h1';
const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z, ns
const at = (seq: number): bigint => T0 + BigInt(seq) * 1_000_000_000n;
/** A ram_spike over samples 10..19, flagged from 12; a sleep over 30..34 never flagged. */
const WINDOWS = [
  { id: 'inj-1', type: 'ram_spike', from: 10, to: 19 },
  { id: 'inj-2', type: 'sleep', from: 30, to: 34 },
];
const scoreAt = (seq: number): number => (seq >= 12 && seq <= 19 ? 0.9 : 0.1);

function cli(): CommandHarness {
  return commandHarness(reportCommand);
}

describe('faultline report', () => {
  it('rejects an experiment id that is no subject token as a usage error', async () => {
    const err = await cli().run(['exp.1', '--out', 'x']);
    expect(isUsageError(err)).toBe(true);
    expect((err as Error).message).toContain('"exp.1"');
  });

  it('says which stream is missing on a NATS server without Faultline streams', async () => {
    await using nats = await startNats({ jetstream: true });
    const err = await cli().run([EXP, '--out', 'unused', '--nats', nats.url]);
    expect((err as Error).message).toContain('cannot read stream FL_TRUTH');
    expect((err as Error).message).toContain('faultline dev up');
  });

  it('writes the report and prints the summary per anomaly type and the path of report.html', async () => {
    await using nats = await startNats({ jetstream: true });
    await using dir = tempDir('faultline-report-cli-');
    const nc = await connect({ servers: nats.url });
    try {
      await ensureStreams(await jetstreamManager(nc), { storage: 'memory' });
      const js = jetstream(nc);
      const p = partitionOf(HOST);
      const samples = Array.from({ length: 40 }, (_, i) =>
        Sample.fromPartial({
          hostId: HOST,
          seq: BigInt(i + 1),
          timeUnixNano: at(i + 1),
          labels: { experimentId: EXP },
          host: { memoryUsedBytes: 4e9 + (scoreAt(i + 1) > 0.5 ? 2e9 : 0) },
        }),
      );
      await js.publish(
        subjects.samples(p, HOST),
        encodeSampleBatch(SampleBatch.fromPartial({ agentId: HOST, seq: 1n, partition: p, samples })),
      );
      for (const w of WINDOWS) {
        const truth = TruthWindow.fromPartial({
          injectionId: w.id,
          experimentId: EXP,
          hostId: HOST,
          anomalyType: w.type,
          actualStartUnixNano: at(w.from),
          actualEndUnixNano: at(w.to),
          reachedTarget: true,
        });
        await js.publish(subjects.truth(EXP, HOST), encodeTruthWindow(truth));
      }
      const scores = samples.map((s) =>
        Score.fromPartial({
          hostId: HOST,
          sampleSeq: s.seq,
          timeUnixNano: s.timeUnixNano,
          score: scoreAt(Number(s.seq)),
          threshold: 0.5,
          isAnomaly: scoreAt(Number(s.seq)) >= 0.5,
          labels: { experimentId: EXP },
        }),
      );
      await js.publish(subjects.scores(p), encodeScoreBatch({ detectorId: 'd', partition: p, scores }));
      const event = AnomalyEvent.fromPartial({
        eventId: 'ev-1',
        hostId: HOST,
        experimentId: EXP,
        state: AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED,
        startUnixNano: at(12),
        endUnixNano: at(19),
        peakScore: 0.9,
      });
      await js.publish(subjects.anomalies(p), encodeAnomalyEvent(event));
    } finally {
      await nc.close();
    }

    const out = join(dir.path, 'report');
    const c = cli();
    expect(await c.run([EXP, '--out', out, '--nats', nats.url])).toBeUndefined();
    // ROC-AUC: 8 positives at 0.9 above all; 7 positives tie with the 25 negatives at 0.1:
    // (8 + 7/2) / 15 = 0.767. AP: 8/15 · 1 + 7/15 · 15/40 = 0.708. Point-adjusted: 10 of 15 found,
    // F1 = 20 / 25 = 0.800.
    expect(c.out.join('')).toBe(
      `report of ${EXP}: 1 host, 40 samples (40 scored, 8 flagged), 2 injections, 1 event\n` +
        'TYPE       INJECTED  DETECTED  MEDIAN DELAY  PRECISION  RECALL\n' +
        'ram_spike  1         1         2.00 s        1.000      1.000\n' +
        'sleep      1         0         —             0.000      0.000\n' +
        'all        2         1         2.00 s        1.000      0.500\n' +
        'precision and recall are event-wise; point-adjusted F1 0.800, ROC-AUC 0.767, PR-AUC 0.708\n' +
        `report: ${join(out, 'report.html')}\n`,
    );
    expect(c.err).toEqual([]);
    for (const f of ['report.html', 'report.json', 'plots/roc.svg', 'plots/roc.png', 'plots/host-h1.png']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
  });
});
