import { describe, expect, it } from 'vitest';
import { isInvalidEvaluationInputError, isInvalidOptionsError } from './errors.js';
import {
  averagePrecision,
  bestF1Threshold,
  binaryScores,
  confusionMatrix,
  evaluateDetection,
  percentile,
  pointAdjust,
  precisionRecallCurve,
  resolveEvaluationOptions,
  rocAuc,
  rocCurve,
  thresholdSweep,
  type ScoredPoint,
  type TruthSpan,
} from './evaluation.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

// scikit-learn's documentation example: roc_auc_score = 0.75, average_precision_score = 0.8333.
const SCORES = [0.1, 0.4, 0.35, 0.8];
const LABELS = [0, 0, 1, 1];

describe('binaryScores and confusionMatrix', () => {
  it('computes precision, recall and F1, 0 where undefined', () => {
    // P = 3/4, R = 3/5, F1 = 2·3 / (2·3 + 1 + 2) = 6/9.
    const s = binaryScores({ tp: 3, fp: 1, fn: 2 });
    expect(s.precision).toBe(0.75);
    expect(s.recall).toBe(0.6);
    expect(s.f1).toBeCloseTo(6 / 9, 12);
    expect(binaryScores({ tp: 0, fp: 0, fn: 0 })).toEqual({ precision: 0, recall: 0, f1: 0 });
    expect(binaryScores({ tp: 0, fp: 4, fn: 0 })).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  it('counts each cell', () => {
    expect(confusionMatrix([1, 1, 0, 0, 1], [true, false, true, false, true])).toEqual({
      tp: 2,
      fn: 1,
      fp: 1,
      tn: 1,
    });
  });
});

describe('rocAuc and rocCurve', () => {
  it('gives 0.75 on the 4-point example', () => {
    // Descending: 0.8(+) 0.4(−) 0.35(+) 0.1(−): ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1);
    // trapezoids: .5·.5 + .5·1 = 0.75. Pairs: 3 of 4 (positive, negative) pairs ordered.
    expect(rocAuc(SCORES, LABELS)).toBe(0.75);
    expect(rocCurve(SCORES, LABELS)).toEqual({
      falsePositiveRate: [0, 0, 0.5, 0.5, 1],
      truePositiveRate: [0, 0.5, 0.5, 1, 1],
      thresholds: [Infinity, 0.8, 0.4, 0.35, 0.1],
    });
  });

  it('counts a tied positive/negative pair as half', () => {
    // Positives {0.5, 0.9}, negatives {0.1, 0.5}: pairs 1 + 0.5 + 1 + 1 = 3.5 of 4.
    expect(rocAuc([0.1, 0.5, 0.5, 0.9], [0, 1, 0, 1])).toBe(0.875);
    expect(rocAuc([0.5, 0.5, 0.5], [1, 0, 1])).toBe(0.5);
  });

  it('is 1 for a perfect ranking, 0 for a reversed one, NaN with one class', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(rocAuc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });
});

describe('averagePrecision and precisionRecallCurve', () => {
  it('gives 0.8333 on the 4-point example', () => {
    // Thresholds 0.8: P 1, R .5; 0.4: P .5, R .5; 0.35: P 2/3, R 1; 0.1: P .5, R 1.
    // AP = .5·1 + 0·.5 + .5·(2/3) + 0·.5 = 5/6.
    expect(averagePrecision(SCORES, LABELS)).toBeCloseTo(5 / 6, 12);
    const curve = precisionRecallCurve(SCORES, LABELS);
    expect(curve.thresholds).toEqual([0.8, 0.4, 0.35, 0.1]);
    expect(curve.recall).toEqual([0.5, 0.5, 1, 1]);
    expect(curve.precision[2]).toBeCloseTo(2 / 3, 12);
  });

  it('averages the precision at each positive of a known ranking', () => {
    // Ranking + − + − − +: precision at the positives 1, 2/3, 1/2 → AP = (1 + 2/3 + 1/2) / 3 = 13/18.
    expect(averagePrecision([6, 5, 4, 3, 2, 1], [1, 0, 1, 0, 0, 1])).toBeCloseTo(13 / 18, 12);
  });

  it('steps over tied scores at once', () => {
    // 0.9: P 1, R .5; 0.5 (one + and one − tied): P 2/3, R 1 → AP = .5 + .5·2/3 = 5/6.
    expect(averagePrecision([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toBeCloseTo(5 / 6, 12);
  });

  it('is NaN without positives', () => {
    expect(averagePrecision([0.3, 0.4], [0, 0])).toBeNaN();
    expect(averagePrecision([], [])).toBeNaN();
  });
});

describe('bestF1Threshold and thresholdSweep', () => {
  it('finds the F1-maximising threshold of the 4-point example', () => {
    // F1 at 0.8: 2/3; 0.4: 1/2; 0.35: 4/5; 0.1: 2/3.
    const best = bestF1Threshold(SCORES, LABELS);
    expect(best.threshold).toBe(0.35);
    expect(best.f1).toBeCloseTo(0.8, 12);
    expect(best.precision).toBeCloseTo(2 / 3, 12);
    expect(best.recall).toBe(1);
    expect(bestF1Threshold([0.2, 0.3], [0, 0])).toEqual({
      threshold: Infinity,
      precision: 0,
      recall: 0,
      f1: 0,
    });
  });

  it('keeps the highest threshold among equal F1', () => {
    // F1 at 0.9 (tp 1): 2/3; at 0.5 (tp 1, fp 1): 1/2; at 0.1 (tp 2, fp 2): 2/3 → keeps 0.9.
    expect(bestF1Threshold([0.9, 0.5, 0.1, 0.1], [1, 0, 1, 0]).threshold).toBe(0.9);
  });

  it('sweeps evenly spaced thresholds from the lowest to the highest score', () => {
    // t = 0: tp 2, fp 1; t = 0.5: tp 2, fp 0; t = 1: tp 1, fp 0.
    const sweep = thresholdSweep([0, 0.5, 1], [0, 1, 1], 3);
    expect(sweep.thresholds).toEqual([0, 0.5, 1]);
    expect(sweep.precision.map((p) => Number(p.toFixed(6)))).toEqual([0.666667, 1, 1]);
    expect(sweep.recall).toEqual([1, 1, 0.5]);
    expect(sweep.f1.map((f) => Number(f.toFixed(6)))).toEqual([0.8, 1, 0.666667]);
    expect(sweep.falsePositiveRate).toEqual([1, 0, 0]);
    expect(thresholdSweep([2, 2], [0, 1], 5).thresholds).toEqual([2]);
    expect(thresholdSweep([], [], 5).thresholds).toEqual([]);
  });
});

describe('percentile and pointAdjust', () => {
  it('interpolates between closest ranks', () => {
    // h = 3q: q .5 → 1.5 → 2.5; q .9 → 2.7 → 3 + .7 = 3.7.
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 0.9)).toBeCloseTo(3.7, 12);
    expect(percentile([7], 0.9)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('marks a whole segment detected when one of its points is', () => {
    const adjusted = pointAdjust([0, 1, 0, 0, 0, 1], [0, 0, 0, -1, 1, -1]);
    expect(Array.from(adjusted)).toEqual([1, 1, 1, 0, 0, 1]);
  });
});

describe('evaluateDetection', () => {
  // One host, one point per second at t = 0..19 s. Truth: ram_spike [5, 8] s (points 5–8),
  // sleep [14, 15] s (points 14, 15). Flagged: 7, 8, 9, 12 (score 0.9, others 0.1).
  // Events: [7, 9] s overlaps ram_spike; [12, 12] s matches nothing (4 s after ram_spike's
  // end, beyond the 2 s grace); [16.5, 17] s opens 1.5 s after sleep ends.
  const flagged = new Set([7, 8, 9, 12]);
  const points: ScoredPoint[] = Array.from({ length: 20 }, (_, t) => ({
    hostId: 'h1',
    timeMs: t * 1000,
    score: flagged.has(t) ? 0.9 : 0.1,
    isAnomaly: flagged.has(t),
  }));
  const truth: TruthSpan[] = [
    { hostId: 'h1', injectionId: 'i1', anomalyType: 'ram_spike', startMs: 5000, endMs: 8000 },
    { hostId: 'h1', injectionId: 'i2', anomalyType: 'sleep', startMs: 14000, endMs: 15000 },
  ];
  const events = [
    { hostId: 'h1', startMs: 7000, endMs: 9000 },
    { hostId: 'h1', startMs: 12000, endMs: 12000 },
    { hostId: 'h1', startMs: 16500, endMs: 17000 },
  ];
  const report = evaluateDetection({ points, truth, events }, { graceMs: 2000 });

  it('grades points: TP 7, 8; FP 9, 12; FN 5, 6, 14, 15; 12 TN', () => {
    expect(report.points).toBe(20);
    expect(report.positivePoints).toBe(6);
    expect(report.pointwise.confusion).toEqual({ tp: 2, fp: 2, fn: 4, tn: 12 });
    expect(report.pointwise.precision).toBe(0.5);
    expect(report.pointwise.recall).toBeCloseTo(1 / 3, 12);
    // F1 = 2·2 / (2·2 + 2 + 4) = 0.4.
    expect(report.pointwise.f1).toBeCloseTo(0.4, 12);
  });

  it('point-adjusts: the whole ram_spike window counts as found, sleep does not', () => {
    expect(report.pointAdjusted.confusion).toEqual({ tp: 4, fp: 2, fn: 2, tn: 12 });
    // F1 = 8 / (8 + 2 + 2).
    expect(report.pointAdjusted.f1).toBeCloseTo(2 / 3, 12);
  });

  it('grades events with the grace period and each injection once', () => {
    // Precision 2/3, recall 1, F1 = 2·(2/3)·1 / (2/3 + 1) = 0.8.
    expect(report.eventwise.precision).toBeCloseTo(2 / 3, 12);
    expect(report.eventwise.f1).toBeCloseTo(0.8, 12);
    expect(report.eventwise).toMatchObject({
      recall: 1,
      events: 3,
      truePositiveEvents: 2,
      falsePositiveEvents: 1,
      injections: 2,
      detectedInjections: 2,
    });
    // Delays 7000 − 5000 = 2000 and 16500 − 14000 = 2500: p50 2250, p90 2000 + .9·500.
    expect(report.delay).toEqual({ count: 2, p50Ms: 2250, p90Ms: 2450, meanMs: 2250, maxMs: 2500 });
    expect(
      report.injections.map((i) => [i.injectionId, i.detected, i.delayMs, i.points, i.flaggedPoints]),
    ).toEqual([
      ['i1', true, 2000, 4, 2],
      ['i2', true, 2500, 2, 0],
    ]);
  });

  it('ranks by score: ROC-AUC 50/84 and AP 11/30 with two tied score levels', () => {
    // Positives: 2 at 0.9, 4 at 0.1; negatives: 2 at 0.9, 12 at 0.1. Ordered pairs 2·12 = 24,
    // tied pairs 2·2 + 4·12 = 52 count half: (24 + 26) / (6·14) = 50/84.
    expect(report.rocAuc).toBeCloseTo(50 / 84, 12);
    // AP = (2/6)·(2/4) + (4/6)·(6/20) = 1/6 + 1/5 = 11/30.
    expect(report.prAuc).toBeCloseTo(11 / 30, 12);
    // F1 (2tp / (tp + fp + P)) at 0.9: 4/10; at 0.1 (everything flagged): 12/26.
    expect(report.bestF1.threshold).toBe(0.1);
    expect(report.bestF1.f1).toBeCloseTo(12 / 26, 12);
    expect(report.sweep.thresholds).toHaveLength(101);
  });

  it('grades each anomaly type on its own windows plus the normal data', () => {
    const ram = report.byType.ram_spike;
    const sleep = report.byType.sleep;
    expect(Object.keys(report.byType)).toEqual(['ram_spike', 'sleep']);
    // ram_spike: 18 points (sleep's two left out): TP 7, 8; FP 9, 12; FN 5, 6.
    expect(ram?.points).toBe(18);
    expect(ram?.pointwise.confusion).toEqual({ tp: 2, fp: 2, fn: 2, tn: 12 });
    // Events: [7, 9] TP, [12, 12] FP, [16.5, 17] belongs to sleep only and is left out.
    expect(ram?.eventwise).toMatchObject({
      events: 2,
      truePositiveEvents: 1,
      injections: 1,
      detectedInjections: 1,
    });
    expect(ram?.eventwise.f1).toBeCloseTo(2 / 3, 12);
    expect(ram?.delay.p50Ms).toBe(2000);
    expect(sleep?.points).toBe(16);
    expect(sleep?.pointwise.confusion).toEqual({ tp: 0, fp: 2, fn: 2, tn: 12 });
    expect(sleep?.pointwise.f1).toBe(0);
    expect(sleep?.eventwise).toMatchObject({ precision: 0.5, recall: 1, events: 2 });
    expect(sleep?.delay.p50Ms).toBe(2500);
  });

  it('credits an event after the window only within the grace period', () => {
    const strict = evaluateDetection({ points, truth, events }, { graceMs: 0 });
    expect(strict.eventwise).toMatchObject({ truePositiveEvents: 1, detectedInjections: 1 });
    expect(strict.injections.map((i) => i.detected)).toEqual([true, false]);
    const lenient = evaluateDetection({ points, truth, events }, { graceMs: 5000 });
    // [12, 12] s now opens within 5 s of ram_spike's end: all three events are true positives.
    expect(lenient.eventwise).toMatchObject({ truePositiveEvents: 3, precision: 1, detectedInjections: 2 });
    expect(lenient.injections[0]?.delayMs).toBe(2000);
  });

  it('does not credit an event that opened before an injection, nor one past the grace period', () => {
    const r = evaluateDetection(
      {
        points: [],
        truth: [{ hostId: 'h1', injectionId: 'i', anomalyType: 'cpu', startMs: 10_000, endMs: 20_000 }],
        events: [
          { hostId: 'h1', startMs: 5_000, endMs: 12_000 },
          { hostId: 'h1', startMs: 25_001, endMs: 26_000 },
          { hostId: 'h2', startMs: 11_000, endMs: 12_000 },
        ],
      },
      { graceMs: 5_000 },
    );
    // The first overlaps (a true positive event) but opened before the injection: not a detection.
    expect(r.eventwise).toMatchObject({ events: 3, truePositiveEvents: 1, detectedInjections: 0, recall: 0 });
    expect(r.injections[0]?.detected).toBe(false);
    expect(r.injections[0]?.delayMs).toBeNaN();
    expect(r.delay.p50Ms).toBeNaN();
  });

  it('labels points by host and by the latest of overlapping windows', () => {
    const r = evaluateDetection({
      points: [
        { hostId: 'h1', timeMs: 15, score: 1, isAnomaly: true },
        { hostId: 'h2', timeMs: 15, score: 1, isAnomaly: true },
      ],
      truth: [
        { hostId: 'h1', injectionId: 'a', anomalyType: 'x', startMs: 0, endMs: 100 },
        { hostId: 'h1', injectionId: 'b', anomalyType: 'y', startMs: 10, endMs: 20 },
      ],
      events: [],
    });
    expect(r.pointwise.confusion).toEqual({ tp: 1, fp: 1, fn: 0, tn: 0 });
    expect(r.injections.map((i) => i.points)).toEqual([0, 1]);
    expect(r.byType.x?.points).toBe(1);
    expect(r.byType.y?.points).toBe(2);
  });

  it('returns defined results without positives and on empty input', () => {
    const none = evaluateDetection({
      points: [
        { hostId: 'h', timeMs: 0, score: 0.2, isAnomaly: false },
        { hostId: 'h', timeMs: 1, score: 0.9, isAnomaly: true },
      ],
      truth: [],
      events: [{ hostId: 'h', startMs: 1, endMs: 1 }],
    });
    expect(none.pointwise).toMatchObject({
      precision: 0,
      recall: 0,
      f1: 0,
      confusion: { tp: 0, fp: 1, fn: 0, tn: 1 },
    });
    expect(none.rocAuc).toBeNaN();
    expect(none.prAuc).toBeNaN();
    expect(none.eventwise).toMatchObject({ precision: 0, recall: 0, f1: 0, events: 1, injections: 0 });
    expect(none.bestF1.threshold).toBe(Infinity);
    expect(none.byType).toEqual({});

    const empty = evaluateDetection({ points: [], truth: [], events: [] });
    expect(empty.points).toBe(0);
    expect(empty.pointwise.f1).toBe(0);
    expect(empty.sweep.thresholds).toEqual([]);
    expect(empty.delay.count).toBe(0);
    expect(empty.injections).toEqual([]);
  });

  it('rejects non-finite scores and spans that end before they start', () => {
    const bad = thrown(() =>
      evaluateDetection({
        points: [
          { hostId: 'h', timeMs: 0, score: 0.1, isAnomaly: false },
          { hostId: 'h', timeMs: 1, score: NaN, isAnomaly: false },
        ],
        truth: [],
        events: [],
      }),
    );
    expect(isInvalidEvaluationInputError(bad)).toBe(true);
    expect((bad as Error).message).toBe('points[1].score must be a finite number, got NaN');
    const span = thrown(() =>
      evaluateDetection({
        points: [],
        truth: [{ hostId: 'h', injectionId: 'i', anomalyType: 't', startMs: 10, endMs: 5 }],
        events: [],
      }),
    );
    expect((span as Error).message).toBe('truth[0].endMs must be >= startMs (10), got 5');
    // A window still running (end Infinity) is accepted.
    expect(
      evaluateDetection({
        points: [{ hostId: 'h', timeMs: 50, score: 1, isAnomaly: true }],
        truth: [{ hostId: 'h', injectionId: 'i', anomalyType: 't', startMs: 10, endMs: Infinity }],
        events: [],
      }).pointwise.recall,
    ).toBe(1);
  });

  it('validates its options', () => {
    expect(resolveEvaluationOptions()).toEqual({ graceMs: 5000, sweepSteps: 101 });
    const err = thrown(() => resolveEvaluationOptions({ graceMs: -1 }));
    expect(isInvalidOptionsError(err)).toBe(true);
    expect((err as Error).message).toBe('graceMs must be in [0, 86400000], got -1');
  });
});
