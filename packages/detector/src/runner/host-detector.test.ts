import { AnomalyEventState, Sample as SampleMessage, type Sample } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';

import { AnomalyEventTransitionKind, type AnomalyEventTransition } from '../anomaly-events.js';
import {
  InvalidOptionsError,
  isDetectorError,
  isMissingMetricError,
  MalformedCheckpointError,
} from '../errors.js';
import {
  decodeFloat64,
  encodeFloat64,
  HostDetector,
  mapForestScore,
  resolveHostDetectorOptions,
  type HostDetectorOptions,
  type HostScoreOutcome,
  type HostScoreResult,
} from './host-detector.js';
import { SyntheticHost, type SyntheticAnomaly } from './synthetic-host.js';

const T0 = 1_763_000_000_000_000_000n;
const ANOMALIES: SyntheticAnomaly[] = [
  { kind: 'memory_spike', start: 200, length: 30 },
  { kind: 'cpu_surge', start: 300, length: 30 },
];

function run(detector: HostDetector, samples: readonly Sample[]): HostScoreResult[] {
  return samples.map((s) => {
    const r = detector.score(s);
    if (r === undefined) throw new Error(`sample ${s.seq} was skipped`);
    return r;
  });
}

function isResult(r: HostScoreOutcome): r is HostScoreResult {
  return r !== undefined && !isDetectorError(r);
}

function transitions(results: readonly HostScoreResult[]): AnomalyEventTransition[] {
  return results.flatMap((r) => r.transitions);
}

describe('HostDetector', () => {
  it('opens exactly one event for a planted memory spike and one for a CPU surge, on their first samples', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const samples = new SyntheticHost({ hostId: 'h', seed, startUnixNano: T0, anomalies: ANOMALIES }).take(
        420,
      );
      const all = transitions(run(new HostDetector('h', {}, { detectorId: 'det-0' }), samples));
      const opened = all.filter((t) => t.kind === AnomalyEventTransitionKind.Opened);
      expect(
        opened.map((t) => Number(t.event.openSampleSeq)),
        `seed ${seed}`,
      ).toEqual([201, 301]);
      const closed = all.filter((t) => t.kind === AnomalyEventTransitionKind.Closed);
      expect(closed.map((t) => t.event.eventId)).toEqual(opened.map((t) => t.event.eventId));
      expect(closed.every((t) => t.event.state === AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED)).toBe(true);
      expect(opened[0]!.event.topMetrics[0]!.metric).toMatch(/^host\.memory_(used|available)_bytes$/);
      expect(opened[1]!.event.topMetrics.map((m) => m.metric)).toContain('host.cpu_user_seconds_total:rate');
      expect(opened.every((t) => t.event.detectorId === 'det-0' && t.event.hostId === 'h')).toBe(true);
    }
  });

  it('scores every sample, with the forest score 0 until the first model and above 0 after', () => {
    const samples = new SyntheticHost({ hostId: 'h', seed: 9, startUnixNano: T0 }).take(60);
    const detector = new HostDetector('h', { training: { samples: 50, minSamples: 8 } });
    const results = run(detector, samples);
    // The first sample yields no vector (rates need two), so the 50th vector comes with sample index 50.
    expect(results.findIndex((r) => r.fitted !== undefined)).toBe(50);
    expect(results[50]!.fitted).toBe('warmup');
    expect(results.slice(0, 51).every((r) => r.score.iforestScore === 0)).toBe(true);
    expect(results.slice(51).every((r) => r.score.iforestScore > 0 && r.score.iforestScore <= 1)).toBe(true);
    expect(results.map((r) => Number(r.score.sampleSeq))).toEqual(samples.map((s) => Number(s.seq)));
    expect(results[59]!.score.threshold).toBe(0.3);
    expect(detector.modelFittedAtUnixNano).toBe(samples[50]!.timeUnixNano);
  });

  it("fits on an experiment's warm-up window, not on the first N samples, and leaves injected samples out", () => {
    const samples = new SyntheticHost({
      hostId: 'h',
      seed: 4,
      startUnixNano: T0,
      experimentId: 'exp-1',
      warmupSamples: 150,
    }).take(170);
    // Label 40 warm-up samples as injected (as if an injection had been recorded there).
    for (const s of samples.slice(60, 100))
      s.labels = { ...s.labels!, injectionId: 'inj-1', anomalyType: 'x' };
    const detector = new HostDetector('h', { training: { samples: 120 } });
    const results = run(detector, samples);
    expect(results.findIndex((r) => r.fitted !== undefined)).toBe(150);
    const state = detector.snapshot();
    // 149 warm-up vectors (sample 0 gives none), 40 of them injected.
    expect(decodeFloat64(state.model!.rows).length / detector.options.features.metrics.length).toBe(109);
  });

  it("collects a new experiment's warm-up while the old model keeps scoring, and refits when it ends", () => {
    const samples = new SyntheticHost({ hostId: 'h', seed: 5, startUnixNano: T0 }).take(300);
    samples.forEach((s, i) => {
      s.labels =
        i < 200
          ? { ...s.labels!, experimentId: '' }
          : { ...s.labels!, experimentId: 'exp-2', phase: i < 260 ? 'warmup' : 'main' };
    });
    const detector = new HostDetector('h');
    const results = run(detector, samples);
    expect(results.flatMap((r, i) => (r.fitted ? [[i, r.fitted]] : []))).toEqual([
      [120, 'warmup'],
      [260, 'warmup'],
    ]);
    expect(results.slice(200, 260).every((r) => r.score.iforestScore > 0)).toBe(true);
  });

  it('refits every retrainEverySamples on the vectors it did not flag', () => {
    const samples = new SyntheticHost({
      hostId: 'h',
      seed: 6,
      startUnixNano: T0,
      anomalies: [ANOMALIES[0]!],
    }).take(420);
    const detector = new HostDetector('h', { training: { retrainEverySamples: 100, retrainWindow: 64 } });
    const results = run(detector, samples);
    const fits = results.flatMap((r, i) => (r.fitted ? [[i, r.fitted] as const] : []));
    expect(fits.map(([, why]) => why)).toEqual(['warmup', 'retrain', 'retrain']);
    // 100 samples after the previous fit, plus the host's offset of less than 100 / 4.
    expect(fits[0]![0]).toBe(120);
    expect(fits[1]![0] - fits[0]![0]).toBeGreaterThanOrEqual(100);
    expect(fits[1]![0] - fits[0]![0]).toBeLessThan(125);
    expect(fits[2]![0] - fits[1]![0]).toBeGreaterThanOrEqual(100);
    expect(fits[2]![0] - fits[1]![0]).toBeLessThan(125);
    expect(detector.fits).toBe(3);
    // The spike (samples 200..229, 3.4 GiB more memory) never enters the refit window.
    const used = detector.metricNames.indexOf('host.memory_used_bytes');
    const d = detector.options.features.metrics.length;
    const rows = decodeFloat64(detector.snapshot().model!.rows);
    expect(rows.length / d).toBe(64);
    for (let i = 0; i < rows.length / d; i++) expect(rows[i * d + used]).toBeLessThan(5 * 1024 ** 3);
  });

  it('spreads the refits of hosts that started together', () => {
    const firstRetrain = Array.from({ length: 20 }, (_, h) => {
      const samples = new SyntheticHost({ hostId: `host-${h}`, seed: h, startUnixNano: T0 }).take(400);
      const results = run(new HostDetector(`host-${h}`, { training: { retrainEverySamples: 200 } }), samples);
      return results.findIndex((r) => r.fitted === 'retrain');
    });
    for (const i of firstRetrain) {
      expect(i).toBeGreaterThanOrEqual(320);
      expect(i).toBeLessThan(370);
    }
    expect(new Set(firstRetrain).size).toBeGreaterThanOrEqual(15);
  });

  it('continues from a snapshot exactly as if it had never stopped, even inside an open event', () => {
    const samples = new SyntheticHost({ hostId: 'h', seed: 7, startUnixNano: T0, anomalies: ANOMALIES }).take(
      420,
    );
    const options: HostDetectorOptions = {
      features: { rollingWindow: 5, deltas: true },
      training: { retrainEverySamples: 150 },
    };
    const straight = run(new HostDetector('h', options, { detectorId: 'a' }), samples);

    const first = new HostDetector('h', options, { detectorId: 'a' });
    const before = run(first, samples.slice(0, 215));
    expect(first.openEvent()).toBeDefined(); // the memory spike is open at sample 214
    const saved = JSON.parse(JSON.stringify(first.snapshot())) as unknown;
    const resumed = HostDetector.restore(saved, options, { detectorId: 'b' });
    expect(resumed.lastSeq).toBe(215n);
    expect(resumed.openEvent()?.eventId).toBe(first.openEvent()?.eventId);
    const after = run(resumed, samples.slice(215));

    const joined = [...before, ...after];
    for (let i = 0; i < samples.length; i++) {
      expect(joined[i]!.score.score, `score ${i}`).toBeCloseTo(straight[i]!.score.score, 9);
      expect(joined[i]!.score.iforestScore, `iforest ${i}`).toBeCloseTo(straight[i]!.score.iforestScore, 9);
      expect(joined[i]!.score.isAnomaly).toBe(straight[i]!.score.isAnomaly);
    }
    const key = (t: AnomalyEventTransition): string => `${t.kind}:${t.event.eventId}:${t.seq}`;
    expect(transitions(joined).map(key)).toEqual(transitions(straight).map(key));
    expect(transitions(after).some((t) => t.kind === AnomalyEventTransitionKind.Closed)).toBe(true);
  });

  it('skips samples at or below the last scored sequence number, and samples of other hosts', () => {
    const samples = new SyntheticHost({ hostId: 'h', seed: 1, startUnixNano: T0 }).take(3);
    const detector = new HostDetector('h');
    run(detector, samples);
    expect(detector.score(samples[1]!)).toBeUndefined();
    expect(detector.score(samples[2]!)).toBeUndefined();
    expect(detector.score({ ...samples[2]!, hostId: 'other', seq: 99n })).toBeUndefined();
    expect(detector.scoredSamples).toBe(3);
  });

  it("scores a restarted agent's samples from seq 1 again, closing the event its previous run left open", () => {
    const spike: SyntheticAnomaly[] = [{ kind: 'memory_spike', start: 200, length: 100 }];
    const before = new SyntheticHost({ hostId: 'h', seed: 3, startUnixNano: T0, anomalies: spike }).take(230);
    // The agent starts again 1000 s later: seqs from 1, a later agentStartUnixNano.
    const T1 = T0 + 1_000_000_000_000n;
    const after = new SyntheticHost({ hostId: 'h', seed: 4, startUnixNano: T1 }).take(40);
    expect(after[0]!.seq).toBe(1n);
    expect(after[0]!.agentStartUnixNano).toBeGreaterThan(before[0]!.agentStartUnixNano);

    const detector = new HostDetector('h');
    run(detector, before);
    const open = detector.openEvent();
    expect(open).toBeDefined();
    const first = detector.score(after[0]!);
    expect(first).toBeDefined();
    const closed = first!.transitions.filter((t) => t.kind === AnomalyEventTransitionKind.Closed);
    expect(closed.map((t) => t.event.eventId)).toEqual([open!.eventId]);
    run(detector, after.slice(1));
    expect(detector.scoredSamples).toBe(270);
    expect(detector.lastSeq).toBe(40n);

    // Redeliveries of either run, and a late sample of the earlier run, are skipped.
    expect(detector.score(after[20]!)).toBeUndefined();
    expect(detector.score(before[229]!)).toBeUndefined();
    expect(detector.score({ ...before[229]!, seq: 500n })).toBeUndefined();
    // A checkpoint keeps the run: restored, it skips what it has and scores what comes next.
    const restored = HostDetector.restore(JSON.parse(JSON.stringify(detector.snapshot())) as unknown);
    expect(restored.score(after[39]!)).toBeUndefined();
    const next = new SyntheticHost({ hostId: 'h', seed: 4, startUnixNano: T1 }).take(41)[40]!;
    expect(restored.score(next)).toBeDefined();

    // scoreAll across the restart gives what one at a time gives.
    const all = [...before, ...after];
    const one = run(new HostDetector('h'), all);
    const together = new HostDetector('h').scoreAll(all);
    expect(together.every(isResult)).toBe(true);
    const key = (t: AnomalyEventTransition): string => `${t.kind}:${t.event.eventId}:${t.seq}`;
    expect(transitions(together.filter(isResult)).map(key)).toEqual(transitions(one).map(key));
  });

  it('scores with scoreAll exactly as one sample at a time, across refits, skips and missing metrics', () => {
    const options: HostDetectorOptions = {
      features: {
        metrics: ['host.load1', 'host.memory_used_bytes', 'host.cpu_user_seconds_total', 'process.rss_bytes'],
        missing: 'error',
      },
      forest: { nEstimators: 20, contamination: 0.05 },
      training: { samples: 40, minSamples: 16, retrainEverySamples: 30, retrainWindow: 32 },
    };
    const generated = new SyntheticHost({
      hostId: 'h',
      seed: 4,
      startUnixNano: T0,
      anomalies: ANOMALIES,
    }).take(360);
    // Redeliveries, a sample of another host, and samples without a process section (missing).
    const samples = generated.flatMap((s, i) => {
      if (i % 23 === 9) return [{ ...s, process: undefined }];
      if (i % 31 === 4) return [s, s];
      if (i % 47 === 2) return [s, { ...s, hostId: 'other' }];
      return [s];
    });
    const outcome = (run: () => HostScoreResult | undefined): HostScoreOutcome => {
      try {
        return run();
      } catch (err) {
        if (!isDetectorError(err)) throw err;
        return err;
      }
    };
    const one = new HostDetector('h', options, { detectorId: 'd' });
    const expected = samples.map((s) => outcome(() => one.score(s)));
    const many = new HostDetector('h', options, { detectorId: 'd' });
    const got: HostScoreOutcome[] = [];
    // Batches of 1 to 96 samples (more than one internal chunk of 64).
    for (let at = 0, n = 1; at < samples.length; at += n, n = (n * 7) % 97) {
      got.push(...many.scoreAll(samples.slice(at, at + n)));
    }
    expect(got).toHaveLength(expected.length);
    // Every kind of outcome is there, and refits happen inside batches.
    expect(got.filter((r) => r === undefined).length).toBeGreaterThan(10);
    expect(got.filter((r) => isMissingMetricError(r)).length).toBe(16);
    expect(got.filter((r) => isResult(r) && r.fitted === 'retrain').length).toBeGreaterThanOrEqual(8);
    expect(transitions(got.filter(isResult)).length).toBeGreaterThanOrEqual(4);
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i];
      const g = got[i];
      if (isResult(e) && isResult(g)) {
        expect(g.score, `sample ${i}`).toEqual(e.score);
        expect(Object.is(g.score.iforestScore, e.score.iforestScore)).toBe(true);
        expect(g.transitions).toEqual(e.transitions);
        expect(g.fitted).toBe(e.fitted);
      } else if (isDetectorError(e)) {
        expect(isDetectorError(g) && g.message).toBe(e.message);
      } else {
        expect(g, `sample ${i}`).toBe(e);
      }
    }
    expect(JSON.stringify(many.snapshot())).toBe(JSON.stringify(one.snapshot()));
    expect(many.scoredSamples).toBe(one.scoredSamples);
    expect(many.fits).toBe(one.fits);
  });

  it('refuses a snapshot taken with other features, or that is not one', () => {
    const detector = new HostDetector('h');
    run(detector, new SyntheticHost({ hostId: 'h', seed: 1, startUnixNano: T0 }).take(10));
    const state = detector.snapshot();
    expect(() => HostDetector.restore(state, { features: { metrics: ['host.load1'] } })).toThrow(
      MalformedCheckpointError,
    );
    expect(() => HostDetector.restore(state, { features: { metrics: ['host.load1'] } })).toThrow(
      /malformed checkpoint of host "h": holds 17 band states, the options give 1 metrics/,
    );
    expect(() => HostDetector.restore({ ...state, format: 'x' })).toThrow(
      /format must be "faultline.host-detector"/,
    );
    expect(() => HostDetector.restore(null)).toThrow(MalformedCheckpointError);
  });

  it('validates its options, naming the field with its part', () => {
    expect(() => resolveHostDetectorOptions({ forest: { nEstimators: 0 } })).toThrow(
      'forest.nEstimators must be an integer in [1, 10000], got 0',
    );
    expect(() => resolveHostDetectorOptions({ training: { samples: 50, minSamples: 60 } })).toThrow(
      'training.minSamples must be an integer in [8, 50], got 60',
    );
    expect(() => resolveHostDetectorOptions({ bands: { intervalWidth: 1.5 } })).toThrow(
      'bands.intervalWidth must be in (0, 1), got 1.5',
    );
    expect(() => resolveHostDetectorOptions({ events: { openThreshold: 0 } })).toThrow(InvalidOptionsError);
    expect(() => resolveHostDetectorOptions({ nope: 1 } as HostDetectorOptions)).toThrow(
      /unknown HostDetector option "nope"/,
    );
    const resolved = resolveHostDetectorOptions({});
    expect(resolved.training).toEqual({
      samples: 120,
      warmupPhases: ['warmup', 'baseline', 'baseline1'],
      minSamples: 32,
      maxSamples: 1024,
      retrainEverySamples: 3600,
      retrainWindow: 256,
    });
    expect(resolved.bandOverrides['host.procs_running']?.minStd).toBe(1);
    expect(resolveHostDetectorOptions(resolved)).toBe(resolved);
  });

  it('floors the bands of process-tree metrics that sat still through the warm-up', () => {
    const MiB = 2 ** 20;
    // 60 flat samples (70 MiB, 0 % CPU), then 20 with +2 MiB and one 10 ms clock tick in 50 ms
    // (20 %), then 20 with a 128 MiB spike
    const samples = Array.from({ length: 100 }, (_, i) =>
      SampleMessage.fromPartial({
        hostId: 'h',
        seq: BigInt(i + 1),
        timeUnixNano: T0 + BigInt(i) * 50_000_000n,
        process: {
          rssBytes: 70 * MiB + (i >= 60 ? 2 * MiB : 0) + (i >= 80 ? 128 * MiB : 0),
          cpuPercent: i >= 60 && i % 2 === 0 ? 20 : 0,
        },
      }),
    );
    const options: HostDetectorOptions = {
      features: { metrics: ['process.rss_bytes', 'process.cpu_percent'] },
      bands: { warmupPoints: 40 },
      events: { fusion: { iforestWeight: 0 } },
    };
    const results = run(new HostDetector('h', options), samples);
    expect(results.slice(40, 80).filter((r) => r.score.isAnomaly)).toEqual([]);
    expect(results[80]!.score.isAnomaly).toBe(true);
    expect(transitions(results).map((t) => t.kind)).toEqual([AnomalyEventTransitionKind.Opened]);
    // without the floors the same wiggles are anomalous
    const unfloored = run(new HostDetector('h', { ...options, bandOverrides: {} }), samples);
    expect(unfloored.slice(60, 80).filter((r) => r.score.isAnomaly).length).toBeGreaterThan(10);
  });

  it('still detects the spike with a contamination fraction, whose fitted threshold is mapped onto the fusion', () => {
    const samples = new SyntheticHost({
      hostId: 'h',
      seed: 2,
      startUnixNano: T0,
      anomalies: [ANOMALIES[0]!],
    }).take(260);
    const opened = transitions(
      run(new HostDetector('h', { forest: { contamination: 0.02 } }), samples),
    ).filter((t) => t.kind === AnomalyEventTransitionKind.Opened);
    expect(opened.map((t) => Number(t.event.openSampleSeq))).toEqual([201]);
  });
});

describe('mapForestScore', () => {
  it('sends the fitted threshold to the fusion threshold, 0 to 0 and 1 to 1, linearly on each side', () => {
    expect(mapForestScore(0.6, 0.6, 0.5)).toBe(0.5);
    expect(mapForestScore(1, 0.6, 0.5)).toBe(1);
    expect(mapForestScore(0, 0.6, 0.5)).toBe(0);
    expect(mapForestScore(0.8, 0.6, 0.5)).toBeCloseTo(0.75, 12);
    expect(mapForestScore(0.3, 0.6, 0.5)).toBeCloseTo(0.25, 12);
    expect(mapForestScore(0.7, 0.5, 0.5)).toBeCloseTo(0.7, 12);
  });
});

describe('encodeFloat64', () => {
  it('round-trips values bit for bit through little-endian base64', () => {
    const values = Float64Array.from([0, -0, 1.5, -1e308, 5e-324, Math.PI]);
    const back = decodeFloat64(encodeFloat64(values));
    expect([...back]).toEqual([...values]);
    expect(Object.is(back[1], -0)).toBe(true);
    expect(encodeFloat64(Float64Array.from([1]))).toBe(
      Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]).toString('base64'),
    );
    expect(() => decodeFloat64(Buffer.from([1, 2, 3]).toString('base64'))).toThrow(/not a multiple of 8/);
  });
});
