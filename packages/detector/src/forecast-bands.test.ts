import { createRng, Severity } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { InvalidOptionsError, isInvalidOptionsError, isMalformedModelError } from './errors.js';
import {
  BandForecaster,
  bandScoreForDistance,
  BandStatus,
  detectSeasonPeriod,
  MultiMetricBands,
  normalQuantile,
  resolveForecastBandsOptions,
  severityForDistance,
  type BandForecasterState,
  type BandVerdict,
  type ForecastBandsOptions,
  type MetricBandVerdict,
} from './forecast-bands.js';

/** Feeds `n` values of `f(t)` and returns every verdict. */
function feed(forecaster: BandForecaster, n: number, f: (t: number) => number, from = 0): BandVerdict[] {
  const out: BandVerdict[] = [];
  for (let t = from; t < from + n; t++) out.push(forecaster.update(f(t)));
  return out;
}

function countAnomalies(verdicts: readonly BandVerdict[]): number {
  return verdicts.filter((v) => v.isAnomaly).length;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('normalQuantile', () => {
  it("matches known standard normal quantiles within Acklam's relative error 1.2e-9", () => {
    // Reference values: Φ⁻¹(p) to 16 digits (Python's statistics.NormalDist().inv_cdf).
    const known: [number, number][] = [
      [0.975, 1.9599639845400536],
      [0.995, 2.5758293035489],
      [0.9, 1.2815515655446008],
      [0.75, 0.6744897501960817],
      [0.02425, -1.9729610513118845],
      [0.01, -2.3263478740408408],
      [1e-6, -4.753424308822899],
    ];
    for (const [p, z] of known)
      expect(Math.abs(normalQuantile(p) - z)).toBeLessThanOrEqual(1.2e-9 * Math.abs(z));
    expect(normalQuantile(0.5)).toBe(0);
  });

  it('is antisymmetric and defined at the ends', () => {
    for (const p of [1e-9, 0.001, 0.2, 0.4]) expect(normalQuantile(1 - p)).toBeCloseTo(-normalQuantile(p), 8);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.2)).toBeNaN();
    expect(normalQuantile(NaN)).toBeNaN();
  });
});

describe('resolveForecastBandsOptions', () => {
  it("applies the seed's defaults and derives z and the clipping constant", () => {
    const o = resolveForecastBandsOptions();
    expect(o).toMatchObject({
      intervalWidth: 0.95,
      thresholdMultiplier: 2,
      warmupPoints: 120,
      seasonPeriod: 'auto',
      severityCutoffs: [1.5, 2.5, 4],
    });
    expect(o.intervalZ).toBeCloseTo(1.959963984540054, 8);
    // E[min(Z², 4)] = (2Φ(2) − 1) − 4φ(2) + 8(1 − Φ(2)) = 0.920536925636323.
    expect(o.clipConsistency).toBeCloseTo(0.920536925636323, 9);
    expect(resolveForecastBandsOptions({ clipSigmas: 3 }).clipConsistency).toBeCloseTo(0.9950072780344537, 9);
  });

  it('returns an already resolved object as it is', () => {
    const o = resolveForecastBandsOptions({ intervalWidth: 0.8 });
    expect(resolveForecastBandsOptions(o)).toBe(o);
  });

  it('names the field, the range and the value in its errors', () => {
    const cases: [ForecastBandsOptions, string, string][] = [
      [{ intervalWidth: 1.5 }, 'intervalWidth', 'intervalWidth must be in (0, 1), got 1.5'],
      [{ thresholdMultiplier: 0 }, 'thresholdMultiplier', 'thresholdMultiplier must be in (0, 100], got 0'],
      [{ warmupPoints: 5 }, 'warmupPoints', 'warmupPoints must be an integer in [10, 1000000], got 5'],
      [
        { seasonPeriod: 100, warmupPoints: 120 },
        'warmupPoints',
        'warmupPoints must be >= 2 × seasonPeriod (200), got 120',
      ],
      [{ seasonPeriod: 1 }, 'seasonPeriod', 'seasonPeriod must be an integer in [2, 100000], got 1'],
      [
        { seasonPeriod: 'weekly' as 'auto' },
        'seasonPeriod',
        'seasonPeriod must be one of "auto", "none", got "weekly"',
      ],
      [{ minStd: -1 }, 'minStd', 'minStd must be >= 0, got -1'],
      [{ varianceSmoothing: 1 }, 'varianceSmoothing', 'varianceSmoothing must be in (0, 1), got 1'],
      [
        { severityCutoffs: [1, 2, 3] },
        'severityCutoffs',
        'severityCutoffs must be 3 increasing finite numbers above 1, got [1,2,3]',
      ],
    ];
    for (const [raw, field, message] of cases) {
      const err = thrown(() => resolveForecastBandsOptions(raw));
      expect(isInvalidOptionsError(err)).toBe(true);
      expect((err as InvalidOptionsError).field).toBe(field);
      expect((err as Error).message).toBe(message);
    }
  });
});

describe('severityForDistance and bandScoreForDistance', () => {
  it('cut severities at 1.5, 2.5 and 4 half-widths and score 1 − 1/d outside the band', () => {
    const cut = [1.5, 2.5, 4] as const;
    expect(severityForDistance(1, cut)).toBe(Severity.SEVERITY_UNSPECIFIED);
    expect(severityForDistance(1.0001, cut)).toBe(Severity.SEVERITY_LOW);
    expect(severityForDistance(1.5, cut)).toBe(Severity.SEVERITY_MEDIUM);
    expect(severityForDistance(2.5, cut)).toBe(Severity.SEVERITY_HIGH);
    expect(severityForDistance(4, cut)).toBe(Severity.SEVERITY_CRITICAL);
    expect(bandScoreForDistance(0.7)).toBe(0);
    expect(bandScoreForDistance(1)).toBe(0);
    expect(bandScoreForDistance(2)).toBe(0.5);
    expect(bandScoreForDistance(4)).toBe(0.75);
  });
});

describe('detectSeasonPeriod', () => {
  it('finds a planted sine or pulse period and nothing in noise, trends or random walks', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = createRng(seed);
      const sine = Array.from(
        { length: 240 },
        (_, t) => 2 * Math.sin((2 * Math.PI * t) / 24) + rng.normal() + 0.02 * t,
      );
      const pulses = Array.from({ length: 240 }, (_, t) => (t % 17 < 5 ? 8 : 0) + rng.normal());
      const noise = Array.from({ length: 240 }, () => rng.normal());
      const trend = Array.from({ length: 240 }, (_, t) => 0.1 * t + rng.normal());
      let walk = 0;
      const randomWalk = Array.from({ length: 240 }, () => (walk += rng.normal()));
      expect(detectSeasonPeriod(sine)).toBe(24);
      expect(detectSeasonPeriod(pulses)).toBe(17);
      expect(detectSeasonPeriod(noise)).toBe(0);
      expect(detectSeasonPeriod(trend)).toBe(0);
      expect(detectSeasonPeriod(randomWalk)).toBe(0);
    }
  });

  it('returns 0 for constant or too short input', () => {
    expect(detectSeasonPeriod(new Float64Array(100).fill(3))).toBe(0);
    expect(detectSeasonPeriod([1, 2, 1])).toBe(0);
  });
});

describe('BandForecaster', () => {
  it('gives no verdict during warm-up, then one per point', () => {
    const f = new BandForecaster({ warmupPoints: 20 });
    const rng = createRng(1);
    const verdicts = feed(f, 25, () => 10 + rng.normal());
    expect(
      verdicts.slice(0, 20).every((v) => v.status === BandStatus.Warmup && Number.isNaN(v.expected)),
    ).toBe(true);
    expect(f.isWarm).toBe(true);
    for (const v of verdicts.slice(20)) {
      expect([BandStatus.Normal, BandStatus.Anomaly]).toContain(v.status);
      expect(v.lower).toBeLessThan(v.expected);
      expect(v.upper).toBeGreaterThan(v.expected);
    }
  });

  it('tracks a linear trend with noise without raising anomalies after warm-up', () => {
    for (const seed of [11, 12, 13]) {
      const rng = createRng(seed);
      const f = new BandForecaster();
      const verdicts = feed(f, 1120, (t) => 5 + 0.05 * t + rng.normal()).slice(120);
      expect(countAnomalies(verdicts)).toBe(0);
      // The forecast follows the trend: its errors are noise, not a growing lag.
      const meanError = verdicts.reduce((sum, v) => sum + (v.value - v.expected), 0) / verdicts.length;
      expect(Math.abs(meanError)).toBeLessThan(0.15);
      expect(f.residualStd).toBeGreaterThan(0.8);
      expect(f.residualStd).toBeLessThan(1.3);
    }
  });

  it('places a point at d half-widths at distance d, with severity and score to match', () => {
    const rng = createRng(5);
    const f = new BandForecaster();
    feed(f, 300, () => 100 + rng.normal());
    const state = f.snapshot();
    const expectations: [number, Severity][] = [
      [0.9, Severity.SEVERITY_UNSPECIFIED],
      [1.2, Severity.SEVERITY_LOW],
      [2, Severity.SEVERITY_MEDIUM],
      [3, Severity.SEVERITY_HIGH],
      [5, Severity.SEVERITY_CRITICAL],
    ];
    for (const [d, severity] of expectations) {
      const g = BandForecaster.restore(state);
      const { expected, upper } = g.peek();
      const v = g.update(expected - d * (upper - expected));
      expect(v.distance).toBeCloseTo(d, 9);
      expect(v.severity).toBe(severity);
      expect(v.isAnomaly).toBe(d > 1);
      expect(v.score).toBeCloseTo(d > 1 ? 1 - 1 / d : 0, 9);
    }
  });

  it('flags a step with a severity that grows with its size', () => {
    const severities: Severity[] = [];
    const scores: number[] = [];
    // With σ ≈ 1 the band half-width is 3.92: steps at the geometric middle of each severity's range.
    for (const size of [2.5, 4.8, 7.6, 12.4, 25]) {
      const rng = createRng(7);
      const f = new BandForecaster();
      const verdicts = feed(f, 400, (t) => 10 + (t === 300 ? 0 : rng.normal()) + (t >= 300 ? size : 0));
      expect(countAnomalies(verdicts.slice(120, 300))).toBe(0);
      severities.push((verdicts[300] as BandVerdict).severity);
      scores.push((verdicts[300] as BandVerdict).score);
    }
    // A 2.5σ step stays inside the band; then LOW, MEDIUM, HIGH, CRITICAL.
    expect(severities).toEqual([
      Severity.SEVERITY_UNSPECIFIED,
      Severity.SEVERITY_LOW,
      Severity.SEVERITY_MEDIUM,
      Severity.SEVERITY_HIGH,
      Severity.SEVERITY_CRITICAL,
    ]);
    for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeGreaterThan(scores[i - 1] as number);
  });

  it('is barely moved by a huge spike (clipped residual)', () => {
    const noise = createRng(9);
    const values = Array.from({ length: 600 }, () => 50 + noise.normal());
    const f = new BandForecaster();
    const clean = new BandForecaster();
    values.slice(0, 400).forEach((v) => {
      f.update(v);
      clean.update(v);
    });
    const before = f.snapshot();
    const sigma = Math.sqrt(before.variance);
    const o = f.options;
    const spike = f.update(1e6);
    clean.update(values[400] as number);
    expect(spike.severity).toBe(Severity.SEVERITY_CRITICAL);
    const after = f.snapshot();
    // Beyond the damped trend the level moves by ρ·α·k·σ, the variance by at most 1 + ρ·λ(k²/c_k − 1).
    const rho = o.anomalyLearningRate;
    expect(after.level - (before.level + o.trendDamping * before.trend)).toBeCloseTo(
      rho * o.levelSmoothing * o.clipSigmas * sigma,
      9,
    );
    const maxGrowth = 1 + rho * o.varianceSmoothing * ((o.clipSigmas * o.clipSigmas) / o.clipConsistency - 1);
    expect(after.variance / before.variance).toBeLessThanOrEqual(maxGrowth + 1e-12);
    // Afterwards it judges the same noise as a forecaster that never saw the spike.
    const after100 = values.slice(401).map((v) => [f.update(v), clean.update(v)] as const);
    expect(after100.filter(([a, b]) => a.isAnomaly !== b.isAnomaly)).toEqual([]);
    for (const [a, b] of after100.slice(50))
      expect(Math.abs(a.expected - b.expected)).toBeLessThan(0.25 * sigma);
  });

  it('recovers after a long anomaly: the band comes back to its width and stops flagging', () => {
    const rng = createRng(3);
    const f = new BandForecaster();
    const verdicts = feed(f, 500, () => 10 + rng.normal());
    const widthBefore = f.residualStd;
    verdicts.push(...feed(f, 200, () => 40 + rng.normal()));
    verdicts.push(...feed(f, 800, () => 10 + rng.normal()));
    // The shift and the return are both flagged at once...
    expect(verdicts[500]?.severity).toBe(Severity.SEVERITY_CRITICAL);
    expect(verdicts[700]?.isAnomaly).toBe(true);
    // Anomalous points teach the model slowly (anomalyLearningRate), so the shift stays
    // flagged for a good part of its length rather than being absorbed in a few points...
    expect(countAnomalies(verdicts.slice(500, 700))).toBeGreaterThan(50);
    // ...and the state does not blow up: 300 points after the end it is back to normal.
    expect(countAnomalies(verdicts.slice(1000))).toBe(0);
    expect(f.residualStd).toBeLessThan(1.5 * widthBefore);
    expect(f.peek().expected).toBeGreaterThan(9);
    expect(f.peek().expected).toBeLessThan(11);
  });

  it('tracks a sine with its configured period: a tight band that catches spikes the seasonless band misses', () => {
    const spikeAt = (t: number): boolean => t > 300 && t % 97 === 0;
    const run = (seasonPeriod: ForecastBandsOptions['seasonPeriod']) => {
      const rng = createRng(1);
      const f = new BandForecaster({ seasonPeriod });
      const verdicts = feed(
        f,
        2000,
        (t) => 50 + 10 * Math.sin((2 * Math.PI * t) / 50) + rng.normal() + (spikeAt(t) ? 6 : 0),
      );
      const spikes = verdicts.filter((v, t) => spikeAt(t));
      return {
        f,
        caught: countAnomalies(spikes),
        falseAlarms: countAnomalies(verdicts.filter((v, t) => !spikeAt(t))),
        spikes: spikes.length,
      };
    };
    const seasonal = run(50);
    const seasonless = run('none');
    expect(seasonal.f.period).toBe(50);
    expect(seasonless.f.period).toBe(0);
    expect(seasonal.f.residualStd).toBeLessThan(1.3);
    // Without the season the residuals carry the sine: the band widens instead of flagging it...
    expect(seasonless.f.residualStd).toBeGreaterThan(3);
    // ...so it raises no more false alarms than the seasonal model's few, but misses the 6σ spikes.
    expect(seasonal.falseAlarms).toBeLessThanOrEqual(2);
    expect(seasonal.caught).toBeGreaterThanOrEqual(seasonal.spikes - 5);
    expect(seasonless.caught).toBe(0);
  });

  it("detects the period from its warm-up window when seasonPeriod is 'auto'", () => {
    const rng = createRng(4);
    const f = new BandForecaster({ warmupPoints: 240 });
    const verdicts = feed(f, 1000, (t) => 20 + 5 * Math.sin((2 * Math.PI * t) / 24) + rng.normal());
    expect(f.period).toBe(24);
    expect(countAnomalies(verdicts.slice(240))).toBeLessThanOrEqual(1);
    const flat = new BandForecaster({ warmupPoints: 240 });
    feed(flat, 240, () => 20 + rng.normal());
    expect(flat.period).toBe(0);
  });

  it('treats missing values as elapsed time without a verdict', () => {
    const rng = createRng(8);
    const values = Array.from(
      { length: 500 },
      (_, t) => 10 * Math.sin((2 * Math.PI * t) / 20) + rng.normal(),
    );
    const f = new BandForecaster({ seasonPeriod: 20 });
    const complete = new BandForecaster({ seasonPeriod: 20 });
    values.slice(0, 300).forEach((v) => {
      f.update(v);
      complete.update(v);
    });
    const before = f.snapshot();
    const missing = f.update(NaN);
    expect(missing.status).toBe(BandStatus.Missing);
    expect(missing.isAnomaly).toBe(false);
    expect(Number.isFinite(missing.expected)).toBe(true);
    expect(f.snapshot().variance).toBe(before.variance);
    expect(f.snapshot().phase).toBe((before.phase + 1) % 20);
    // The season stays aligned after the gap: forecasts match those of the complete series.
    complete.update(values[300] as number);
    for (const v of values.slice(301)) {
      const a = f.update(v);
      const b = complete.update(v);
      expect(Math.abs(a.expected - b.expected)).toBeLessThan(0.5);
      expect(a.isAnomaly).toBe(b.isAnomaly);
    }
  });

  it('fills gaps in the warm-up window with the last value', () => {
    const f = new BandForecaster({ warmupPoints: 10, seasonPeriod: 'none' });
    // Dropped: nothing to repeat yet.
    expect(f.update(NaN).status).toBe(BandStatus.Warmup);
    // Nine buffered points, two of them repeats of the previous 5.
    for (const v of [5, NaN, 5, 5, NaN, 5, 5, 5, 5]) f.update(v);
    expect(f.isWarm).toBe(false);
    f.update(5);
    expect(f.isWarm).toBe(true);
    expect(f.peek().expected).toBeCloseTo(5, 9);
  });

  it('keeps a band around a constant series (minStd, minRelativeStd)', () => {
    const f = new BandForecaster({ warmupPoints: 10 });
    feed(f, 20, () => 1000);
    const { lower, upper } = f.peek();
    // σ floor = 0.001 × 1000 = 1, half-width = 2 × 1.96 × 1.
    expect(upper - 1000).toBeCloseTo(2 * 1.959963984540054, 6);
    expect(1000 - lower).toBeCloseTo(2 * 1.959963984540054, 6);
    expect(f.update(1003).isAnomaly).toBe(false);
    expect(f.update(1010).isAnomaly).toBe(true);
  });

  it('continues identically after snapshot and restore', () => {
    const rng = createRng(21);
    const options = { seasonPeriod: 12, warmupPoints: 48 } as const;
    const f = new BandForecaster(options);
    const values = Array.from(
      { length: 400 },
      (_, t) => 3 * Math.sin(t / 2) + rng.normal() + (t === 350 ? 9 : 0),
    );
    values.slice(0, 30).forEach((v) => f.update(v));
    const warming = BandForecaster.restore(
      JSON.parse(JSON.stringify(f.snapshot())) as BandForecasterState,
      options,
    );
    values.slice(30, 200).forEach((v) => {
      f.update(v);
      warming.update(v);
    });
    const warm = BandForecaster.restore(f.snapshot(), options);
    for (const v of values.slice(200)) {
      const a = f.update(v);
      expect(warm.update(v)).toEqual(a);
      expect(warming.update(v)).toEqual(a);
    }
  });

  it('refuses an inconsistent snapshot', () => {
    const f = new BandForecaster({ seasonPeriod: 4, warmupPoints: 10 });
    feed(f, 12, (t) => t % 4);
    const state = f.snapshot();
    expect(isMalformedModelError(thrown(() => BandForecaster.restore({ ...state, season: [1, 2] })))).toBe(
      true,
    );
    expect(isMalformedModelError(thrown(() => BandForecaster.restore({ ...state, variance: NaN })))).toBe(
      true,
    );
    expect(isMalformedModelError(thrown(() => BandForecaster.restore({ ...state, version: 2 as 1 })))).toBe(
      true,
    );
  });
});

describe('MultiMetricBands', () => {
  it('keeps one forecaster per metric and flags only the metric that moved', () => {
    const rng = createRng(2);
    const bands = new MultiMetricBands({ warmupPoints: 30 }, ['cpu', 'rss']);
    let last = bands.observe({ cpu: 0.5, rss: 1e9 });
    for (let t = 1; t < 100; t++) {
      last = bands.observe({ cpu: 0.5 + 0.01 * rng.normal(), rss: 1e9 + 1e6 * rng.normal() });
    }
    expect(last.map((v) => v.metric)).toEqual(['cpu', 'rss']);
    expect(last.every((v) => !v.isAnomaly)).toBe(true);
    const jump = bands.observe({ cpu: 0.5, rss: 1.2e9 });
    expect(jump.find((v) => v.metric === 'rss')?.severity).toBe(Severity.SEVERITY_CRITICAL);
    expect(jump.find((v) => v.metric === 'cpu')?.isAnomaly).toBe(false);
  });

  it('takes values in metric order on the hot path, reusing its verdicts', () => {
    const byName = new MultiMetricBands({ warmupPoints: 10 }, ['a', 'b']);
    const byIndex = new MultiMetricBands({ warmupPoints: 10 }, ['a', 'b']);
    let out: MetricBandVerdict[] | undefined;
    for (let t = 0; t < 40; t++) {
      const a = Math.sin(t);
      const b = t % 7 === 3 ? NaN : Math.cos(t);
      const expected = byName.observe({ a, b });
      const reused = byIndex.observeValues(t === 39 ? [a] : [a, b], out);
      if (out !== undefined) expect(reused).toBe(out);
      expect(reused[0]).toEqual(expected[0]);
      if (t < 39) expect(reused[1]).toEqual(expected[1]);
      out = reused;
    }
    // A value beyond the end of the row is missing.
    expect(out?.[1]?.status).toBe(BandStatus.Missing);
  });

  it('adds new metrics as they appear and reads absent ones as missing', () => {
    const bands = new MultiMetricBands({ warmupPoints: 10 });
    for (let t = 0; t < 15; t++) bands.observe({ a: t });
    const verdicts = bands.observe({ b: 1 });
    expect(bands.metrics).toEqual(['a', 'b']);
    expect(verdicts.map((v) => [v.metric, v.status])).toEqual([
      ['a', BandStatus.Missing],
      ['b', BandStatus.Warmup],
    ]);
    const restored = MultiMetricBands.restore(bands.snapshot(), { warmupPoints: 10 });
    expect(restored.metrics).toEqual(['a', 'b']);
    expect(restored.observe({ a: 16, b: 1 })).toEqual(bands.observe({ a: 16, b: 1 }));
  });
});
