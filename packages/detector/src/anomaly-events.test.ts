import { AnomalyEventState, createRng, Severity } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import {
  AnomalyEventTracker,
  anomalyEventId,
  fuseScores,
  resolveAnomalyEventOptions,
  resolveFusionOptions,
  type AnomalyEventOptions,
  type AnomalyEventTransition,
  type FusionSample,
} from './anomaly-events.js';
import { isInvalidOptionsError, isOutOfOrderSampleError } from './errors.js';
import { BandStatus, MultiMetricBands, type MetricBandVerdict } from './forecast-bands.js';

const SECOND = 1_000_000_000n;

/** A band verdict of `metric` at `distance` half-widths (score and severity as the bands give them). */
function verdict(metric: string, distance: number, value = distance): MetricBandVerdict {
  const severity =
    distance <= 1
      ? Severity.SEVERITY_UNSPECIFIED
      : distance < 1.5
        ? Severity.SEVERITY_LOW
        : distance < 2.5
          ? Severity.SEVERITY_MEDIUM
          : distance < 4
            ? Severity.SEVERITY_HIGH
            : Severity.SEVERITY_CRITICAL;
  return {
    metric,
    status: distance > 1 ? BandStatus.Anomaly : BandStatus.Normal,
    value,
    expected: 0,
    lower: -1,
    upper: 1,
    distance,
    score: distance > 1 ? 1 - 1 / distance : 0,
    severity,
    isAnomaly: distance > 1,
  };
}

/** Samples whose fused score is exactly `scores[i]` (forest only: s = 0.5 + score / 2). */
function forestSamples(scores: readonly number[], firstSeq = 1): FusionSample[] {
  return scores.map((score, i) => ({
    seq: BigInt(firstSeq + i),
    timeUnixNano: BigInt(firstSeq + i) * SECOND,
    iforestScore: 0.5 + score / 2,
  }));
}

function track(
  samples: readonly FusionSample[],
  options: AnomalyEventOptions = {},
): { tracker: AnomalyEventTracker; transitions: AnomalyEventTransition[] } {
  const tracker = new AnomalyEventTracker({ hostId: 'h1', experimentId: 'exp', detectorId: 'd0' }, options);
  const transitions = samples.flatMap((s) => tracker.observe(s).transitions);
  return { tracker, transitions };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('fuseScores', () => {
  const bands = [verdict('a', 1.25), verdict('b', 2.5)]; // band scores 0.2 and 0.6

  it('maps the forest score with its threshold to 0 and takes the weighted max', () => {
    const o = resolveFusionOptions();
    // f = (0.75 − 0.5) / 0.5 = 0.5; b = max(0.2, 0.6) = 0.6.
    expect(fuseScores(0.75, bands, o)).toEqual({
      score: 0.6,
      iforestPart: 0.5,
      bandPart: 0.6,
      severity: Severity.SEVERITY_HIGH,
    });
    expect(fuseScores(0.95, bands, o).score).toBeCloseTo(0.9, 12);
    expect(fuseScores(0.4, [], o).score).toBe(0);
    expect(fuseScores(1, [], o).score).toBe(1);
    expect(fuseScores(0.75, bands, resolveFusionOptions({ bandWeight: 0.5 })).score).toBe(0.5);
    // Threshold 0.6: f = (0.8 − 0.6) / 0.4 = 0.5.
    expect(fuseScores(0.8, [], resolveFusionOptions({ iforestThreshold: 0.6 })).iforestPart).toBeCloseTo(
      0.5,
      12,
    );
  });

  it('takes the weighted mean in mean mode, leaving out a detector without an opinion', () => {
    const mean = resolveFusionOptions({ mode: 'mean', iforestWeight: 0.5 });
    // (0.5 × 0.5 + 1 × 0.6) / (0.5 + 1) = 0.85 / 1.5.
    expect(fuseScores(0.75, bands, mean).score).toBeCloseTo(0.85 / 1.5, 12);
    expect(fuseScores(undefined, bands, mean).score).toBeCloseTo(0.6, 12);
    expect(fuseScores(NaN, bands, mean).score).toBeCloseTo(0.6, 12);
    const warming = [{ ...verdict('a', 0), status: BandStatus.Warmup }];
    expect(fuseScores(0.75, warming, mean).score).toBeCloseTo(0.5, 12);
    expect(fuseScores(undefined, [], mean).score).toBe(0);
  });

  it('rejects bad fusion options with the field path', () => {
    const err = thrown(() => resolveAnomalyEventOptions({ fusion: { bandWeight: 2 } }));
    expect(isInvalidOptionsError(err)).toBe(true);
    expect((err as Error).message).toBe('fusion.bandWeight must be in [0, 1], got 2');
    expect((thrown(() => resolveFusionOptions({ iforestWeight: 0, bandWeight: 0 })) as Error).message).toBe(
      'iforestWeight and bandWeight must not both be 0',
    );
    expect((thrown(() => resolveFusionOptions({ mode: 'sum' as 'max' })) as Error).message).toBe(
      'mode must be one of "max", "mean", got "sum"',
    );
  });
});

describe('resolveAnomalyEventOptions', () => {
  it('defaults and keeps closeThreshold under openThreshold', () => {
    expect(resolveAnomalyEventOptions()).toMatchObject({
      openThreshold: 0.3,
      closeThreshold: 0.1,
      minConsecutive: 1,
      closeAfter: 5,
      topMetrics: 3,
    });
    expect(resolveAnomalyEventOptions({ openThreshold: 0.05 }).closeThreshold).toBe(0.025);
    expect((thrown(() => resolveAnomalyEventOptions({ closeThreshold: 0.3 })) as Error).message).toBe(
      'closeThreshold must be in [0, 0.3), got 0.3',
    );
    expect((thrown(() => resolveAnomalyEventOptions({ closeAfter: 0 })) as Error).message).toBe(
      'closeAfter must be an integer in [1, 1000000], got 0',
    );
  });
});

describe('AnomalyEventTracker', () => {
  it('makes one event of a noisy but continuous incident', () => {
    // Open 0.3, close 0.1 after 5: dips to 0.2 (between thresholds) and 0.05 (under close
    // for fewer than 5 samples) do not end it.
    const scores = [0, 0, 0.8, 0.2, 0.9, 0.05, 0.05, 0.7, 0.15, 0.05, 0.5, 0, 0, 0, 0, 0, 0, 0];
    const { transitions } = track(forestSamples(scores));
    expect(transitions.map((t) => t.kind)).toEqual(['opened', 'updated', 'closed']);
    const [opened, updated, closed] = transitions as [
      AnomalyEventTransition,
      AnomalyEventTransition,
      AnomalyEventTransition,
    ];
    expect(opened.event).toMatchObject({
      eventId: 'h1:3',
      hostId: 'h1',
      experimentId: 'exp',
      detectorId: 'd0',
      state: AnomalyEventState.ANOMALY_EVENT_STATE_OPEN,
      startUnixNano: 3n * SECOND,
      endUnixNano: 0n,
      openSampleSeq: 3n,
      severity: Severity.SEVERITY_LOW,
      topMetrics: [],
    });
    expect(opened.event.peakScore).toBeCloseTo(0.8, 12);
    expect(updated.seq).toBe(5n);
    expect(updated.event.peakScore).toBeCloseTo(0.9, 12);
    // Seq 11 (0.5) is the last sample at or above 0.1; seq 16 is the fifth quiet one after it.
    expect(closed.seq).toBe(16n);
    expect(closed.event).toMatchObject({
      eventId: 'h1:3',
      state: AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED,
      startUnixNano: 3n * SECOND,
      endUnixNano: 11n * SECOND,
    });
  });

  it('makes two events of two incidents separated by enough normal samples', () => {
    const scores = [0.9, 0.8, 0, 0, 0, 0, 0, 0.6, 0.7, 0, 0, 0, 0, 0];
    const { transitions } = track(forestSamples(scores));
    const closed = transitions.filter((t) => t.kind === 'closed').map((t) => t.event);
    expect(closed.map((e) => [e.eventId, e.startUnixNano, e.endUnixNano])).toEqual([
      ['h1:1', 1n * SECOND, 2n * SECOND],
      ['h1:8', 8n * SECOND, 9n * SECOND],
    ]);
    // Four quiet samples only: still one event.
    const joined = track(forestSamples([0.9, 0.8, 0, 0, 0, 0, 0.6, 0.7, 0, 0, 0, 0, 0]));
    expect(joined.transitions.filter((t) => t.kind === 'opened')).toHaveLength(1);
  });

  it('needs minConsecutive anomalous samples and starts the event at the first of them', () => {
    const scores = [0, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0];
    const { transitions } = track(forestSamples(scores), { minConsecutive: 3 });
    expect(transitions.map((t) => [t.kind, t.seq])).toEqual([
      ['opened', 7n],
      ['closed', 13n],
    ]);
    expect(transitions[0]?.event).toMatchObject({
      eventId: 'h1:5',
      openSampleSeq: 5n,
      startUnixNano: 5n * SECOND,
    });
  });

  it('emits updates only when the severity rises or the peak grows by minPeakIncrease', () => {
    const sample = (seq: number, distance: number): FusionSample => ({
      seq: BigInt(seq),
      timeUnixNano: BigInt(seq) * SECOND,
      bands: [verdict('cpu', distance)],
    });
    // Band scores: d 1.5 → 0.333 (MEDIUM), 1.52 → 0.342 (< 0.333 + 0.05), 1.7 → 0.412, 3 → 0.667 (HIGH).
    const samples = [sample(1, 1.5), sample(2, 1.52), sample(3, 1.7), sample(4, 1.55), sample(5, 3)];
    const { transitions } = track(samples);
    expect(transitions.map((t) => [t.kind, t.seq, t.event.severity])).toEqual([
      ['opened', 1n, Severity.SEVERITY_MEDIUM],
      ['updated', 3n, Severity.SEVERITY_MEDIUM],
      ['updated', 5n, Severity.SEVERITY_HIGH],
    ]);
  });

  it('names the metrics with the largest share of the band excess, at their farthest point', () => {
    const samples: FusionSample[] = [
      {
        seq: 1n,
        timeUnixNano: SECOND,
        bands: [verdict('cpu', 3, 90), verdict('rss', 1.5, 7), verdict('io', 0.5)],
      },
      {
        seq: 2n,
        timeUnixNano: 2n * SECOND,
        bands: [verdict('cpu', 2, 80), verdict('rss', 1, 6), verdict('io', 0.2)],
      },
    ];
    const { tracker } = track(samples, { topMetrics: 2 });
    // Excess: cpu (3 − 1) + (2 − 1) = 3, rss 0.5, io 0: shares 3/3.5 and 0.5/3.5.
    const event = tracker.current();
    expect(event?.topMetrics.map((m) => m.metric)).toEqual(['cpu', 'rss']);
    expect(event?.topMetrics[0]?.contribution).toBeCloseTo(3 / 3.5, 12);
    expect(event?.topMetrics[1]?.contribution).toBeCloseTo(0.5 / 3.5, 12);
    expect(event?.topMetrics[0]).toMatchObject({ value: 90, expected: 0, lower: -1, upper: 1 });
    expect(event?.severity).toBe(Severity.SEVERITY_HIGH);
  });

  it('rejects samples out of order and closes what is open at the end of a stream', () => {
    const tracker = new AnomalyEventTracker({ hostId: 'h1' });
    tracker.observe(forestSamples([0.9], 5)[0] as FusionSample);
    const err = thrown(() => tracker.observe(forestSamples([0], 5)[0] as FusionSample));
    expect(isOutOfOrderSampleError(err)).toBe(true);
    expect((err as Error).message).toContain('sample 5 of host "h1" is not after sample 5');
    const [closed] = tracker.finish();
    expect(closed?.event).toMatchObject({
      eventId: anomalyEventId('h1', 5n),
      state: AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED,
      endUnixNano: 5n * SECOND,
    });
    expect(tracker.isOpen).toBe(false);
    expect(tracker.finish()).toEqual([]);
  });

  it('turns a noisy memory incident seen by real bands into one event naming the metric', () => {
    const rng = createRng(17);
    const bands = new MultiMetricBands({ warmupPoints: 60 }, ['cpu', 'rss', 'fds']);
    const tracker = new AnomalyEventTracker({ hostId: 'h7' });
    const transitions: AnomalyEventTransition[] = [];
    for (let t = 0; t < 400; t++) {
      // rss ramps up by 40σ over 30 samples, holds with heavy noise, then drops back.
      const incident = t >= 200 && t < 260;
      const rss = 1000 + rng.normal() + (incident ? Math.min(t - 199, 30) * (4 / 3) + 3 * rng.normal() : 0);
      const verdicts = bands.observe({ cpu: 50 + rng.normal(), rss, fds: 120 + rng.normal() });
      transitions.push(
        ...tracker.observe({ seq: BigInt(t), timeUnixNano: BigInt(t) * SECOND, bands: verdicts }).transitions,
      );
    }
    const events = transitions.filter((t) => t.kind === 'opened');
    expect(events).toHaveLength(1);
    const closed = transitions.find((t) => t.kind === 'closed')?.event;
    expect(closed?.topMetrics[0]?.metric).toBe('rss');
    expect(closed?.topMetrics[0]?.contribution).toBeGreaterThan(0.9);
    expect(Number(closed?.startUnixNano ?? 0n) / 1e9).toBeGreaterThanOrEqual(200);
    expect(Number(closed?.startUnixNano ?? 0n) / 1e9).toBeLessThan(210);
  });
});
