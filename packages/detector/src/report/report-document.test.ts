import { Severity } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { FIXTURE_SAMPLES, FIXTURE_T0, fixtureReportInput } from '../../test/report-fixture.js';
import { isInvalidOptionsError } from '../errors.js';
import type { DetectionMetrics } from '../evaluation.js';
import { buildReportDocument, thinCurve, type ReportDocument } from './report-document.js';
import type { ReportInput } from './report-input.js';

const input = fixtureReportInput();
const evaluation = input.evaluation!;
const doc = buildReportDocument(input);

/** Area under a polyline by the trapezoid rule. */
function trapezoid(xs: readonly number[], ys: readonly number[]): number {
  let area = 0;
  for (let i = 1; i < xs.length; i++) area += ((xs[i]! - xs[i - 1]!) * (ys[i]! + ys[i - 1]!)) / 2;
  return area;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('buildReportDocument', () => {
  it('summarises each anomaly type with the evaluation’s event-wise numbers', () => {
    const types = Object.keys(evaluation.byType).sort();
    expect(types).toEqual(['cpu_surge', 'ram_spike', 'sleep']);
    expect(doc.summary!.rows.map((r) => r.anomalyType)).toEqual(types);
    for (const row of doc.summary!.rows) {
      const m = evaluation.byType[row.anomalyType] as DetectionMetrics;
      expect(row).toEqual({
        anomalyType: row.anomalyType,
        injected: m.eventwise.injections,
        detected: m.eventwise.detectedInjections,
        missed: m.eventwise.injections - m.eventwise.detectedInjections,
        medianDelayMs: Number.isNaN(m.delay.p50Ms) ? null : m.delay.p50Ms,
        precision: m.eventwise.precision,
        recall: m.eventwise.recall,
        f1: m.eventwise.f1,
      });
    }
    // Closed form from the fixture: detection lags of 2, 4, 7 and 3 samples (1 s apart); sleep never.
    expect(doc.summary!.total).toMatchObject({ anomalyType: 'all', injected: 5, detected: 4, missed: 1 });
    expect(doc.summary!.total.medianDelayMs).toBe(3500);
    expect(doc.summary!.rows.map((r) => r.medianDelayMs)).toEqual([3500, 4500, null]);
    // Five events: four detections and one false alarm on db-1.
    expect(doc.summary!.total.precision).toBe(4 / 5);
    expect(doc.summary!.total.recall).toBe(4 / 5);
  });

  it('carries every metric of the evaluation, overall and per type, with null for NaN', () => {
    const m = doc.metrics!.overall;
    expect(m.pointwise).toEqual({
      precision: evaluation.pointwise.precision,
      recall: evaluation.pointwise.recall,
      f1: evaluation.pointwise.f1,
      ...evaluation.pointwise.confusion,
    });
    expect(m.pointAdjusted).toEqual({
      precision: evaluation.pointAdjusted.precision,
      recall: evaluation.pointAdjusted.recall,
      f1: evaluation.pointAdjusted.f1,
      ...evaluation.pointAdjusted.confusion,
    });
    expect(m.eventwise).toEqual(evaluation.eventwise);
    expect(m.rocAuc).toBe(evaluation.rocAuc);
    expect(m.prAuc).toBe(evaluation.prAuc);
    expect(m.bestF1).toEqual(evaluation.bestF1);
    expect(m.delay).toEqual({ ...evaluation.delay });
    // Scored: 3 hosts × 600 samples minus the 5 warm-up samples of each.
    expect(m.points).toBe(3 * (FIXTURE_SAMPLES - 5));
    expect(m.pointwise.tp + m.pointwise.fp + m.pointwise.fn + m.pointwise.tn).toBe(m.points);
    const sleep = doc.metrics!.byType.find((t) => t.anomalyType === 'sleep')!;
    expect(sleep.delay).toEqual({ count: 0, p50Ms: null, p90Ms: null, meanMs: null, maxMs: null });
    expect(sleep.eventwise.detectedInjections).toBe(0);
  });

  it('computes ROC and PR curves whose areas are the evaluation’s AUC and average precision', () => {
    const exact = buildReportDocument(input, { maxCurvePoints: 1_000_000 });
    const roc = exact.roc!;
    expect(roc.falsePositiveRate.length).toBe(roc.exactPoints);
    expect(trapezoid(roc.falsePositiveRate, roc.truePositiveRate)).toBeCloseTo(evaluation.rocAuc, 12);
    expect(roc.thresholds[0]).toBeNull(); // the curve's start at +Infinity
    const pr = exact.pr!;
    let ap = 0;
    for (let i = 0; i < pr.recall.length; i++)
      ap += (pr.recall[i]! - (i > 0 ? pr.recall[i - 1]! : 0)) * pr.precision[i]!;
    expect(ap).toBeCloseTo(evaluation.prAuc, 12);
    const c = evaluation.pointwise.confusion;
    expect(roc.operatingPoint).toEqual({
      falsePositiveRate: c.fp / (c.fp + c.tn),
      truePositiveRate: evaluation.pointwise.recall,
    });
    expect(pr.prevalence).toBe(evaluation.positivePoints / evaluation.points);

    // Thinned for plotting: fewer points, nearly the same area, same ends.
    expect(doc.roc!.exactPoints).toBeGreaterThan(1000);
    expect(doc.roc!.falsePositiveRate.length).toBeLessThanOrEqual(1000);
    expect(trapezoid(doc.roc!.falsePositiveRate, doc.roc!.truePositiveRate)).toBeCloseTo(
      evaluation.rocAuc,
      2,
    );
    expect(doc.roc!.truePositiveRate.at(-1)).toBe(1);
  });

  it('keeps the sweep of the evaluation and marks the detector’s and the best-F1 thresholds', () => {
    expect(doc.sweep).toEqual({
      ...evaluation.sweep,
      detectorThreshold: 0.6,
      bestF1Threshold: evaluation.bestF1.threshold,
    });
    expect(doc.sweep!.thresholds).toHaveLength(101);
  });

  it('bins the detection delays by anomaly type', () => {
    const d = doc.delays!;
    // Largest delay 7 s in at most 20 bins: 500 ms bins, 15 of them.
    expect(d.binWidthMs).toBe(500);
    expect(d.bins).toHaveLength(15);
    expect(d.bins.reduce((n, b) => n + b.count, 0)).toBe(4);
    expect(d.undetected).toBe(1);
    const at = (ms: number) => d.bins.find((b) => b.startMs <= ms && ms < b.endMs)!;
    expect(at(2000).byType).toEqual({ ram_spike: 1 });
    expect(at(3000).byType).toEqual({ cpu_surge: 1 });
    expect(at(4000).byType).toEqual({ cpu_surge: 1 });
    expect(at(7000).byType).toEqual({ ram_spike: 1 });
    expect({ p50: d.p50Ms, p90: d.p90Ms, max: d.maxMs }).toEqual({
      p50: evaluation.delay.p50Ms,
      p90: evaluation.delay.p90Ms,
      max: 7000,
    });
  });

  it('lists the truth windows with their outcome and the events with the window they matched', () => {
    expect(doc.injections).toHaveLength(5);
    for (const w of doc.injections) {
      const o = evaluation.injections.find((x) => x.injectionId === w.injectionId)!;
      expect(w.detected).toBe(o.detected);
      expect(w.delayMs).toBe(o.detected ? o.delayMs : null);
      expect(w.points).toBe(o.points);
      expect(w.flaggedPoints).toBe(o.flaggedPoints);
    }
    expect(doc.injections.map((w) => w.startMs)).toEqual(
      [...doc.injections.map((w) => w.startMs)].sort((a, b) => a - b),
    );
    const spike = doc.injections.find((w) => w.injectionId === 'inj-web-1-120')!;
    expect(spike).toMatchObject({
      running: false,
      durationMs: 59_000,
      reachedTarget: true,
      detected: true,
      delayMs: 2000,
    });
    expect(spike.achieved.peak_rss_delta_bytes).toBe(2.4 * 1024 ** 3);

    expect(doc.events).toHaveLength(5);
    const unmatched = doc.events.filter((e) => e.matchedInjectionId === null);
    expect(unmatched.map((e) => [e.hostId, e.startMs])).toEqual([['db-1', FIXTURE_T0 + 520_000]]);
    expect(doc.events.every((e) => e.severity === 'HIGH' || e.severity === 'MEDIUM')).toBe(true);
  });

  it('plots every host of the fixture and the evaluation figures, each with a unique id and file', () => {
    expect(doc.plots.map((p) => p.id)).toEqual([
      'by-type',
      'roc',
      'pr',
      'confusion',
      'threshold-sweep',
      'delays',
      'host-db-1',
      'host-web-1',
      'host-web-2',
    ]);
    for (const p of doc.plots) {
      expect(p.svg).toBe(`plots/${p.id}.svg`);
      expect(p.png).toBe(`plots/${p.id}.png`);
      expect(p.spec.$schema).toContain('vega-lite/v5');
    }
    expect(doc.hosts.map((h) => [h.hostId, h.plotId, h.truthWindows, h.events])).toEqual([
      ['db-1', 'host-db-1', 1, 2],
      ['web-1', 'host-web-1', 2, 2],
      ['web-2', 'host-web-2', 2, 1],
    ]);
    expect(doc.metricDisplays.map((d) => d.title)).toEqual([
      'Memory used (GiB)',
      'CPU busy (%)',
      'Process RSS (GiB)',
      'Process disk writes (MiB/s)',
    ]);
  });

  it('is JSON-safe: a round trip through JSON gives the same document', () => {
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    // The first write rate of each series has no value: null, not NaN.
    expect(doc.series[0]!.metrics.process_write_bytes_per_second![0]).toBeNull();
    expect(doc.series[0]!.scores[0]).toBeNull();
  });

  it('downsamples long series for plotting but keeps the spikes and the flagged samples', () => {
    const small = buildReportDocument(input, { maxPointsPerHost: 100 });
    const web1 = small.series.find((s) => s.hostId === 'web-1')!;
    expect(web1.samples).toBe(FIXTURE_SAMPLES);
    expect(web1.downsampled).toBe(true);
    expect(web1.timesMs.length).toBeLessThanOrEqual(100);
    expect(web1.timesMs).toEqual([...web1.timesMs].sort((a, b) => a - b));
    const host = input.hosts.find((h) => h.hostId === 'web-1')!;
    const peakMemory = Math.max(...host.metrics.memory_used_bytes!);
    expect(Math.max(...web1.metrics.memory_used_bytes!.map((v) => v ?? -Infinity))).toBe(peakMemory);
    expect(web1.isAnomaly.some(Boolean)).toBe(true);
    expect(web1.timesMs.at(-1)).toBe(host.timesMs.at(-1));
    expect(small.notes.some((n) => n.includes('downsampled'))).toBe(true);
    // The evaluation figures do not change with the plot resolution.
    expect(small.summary).toEqual(doc.summary);
  });

  it('plots at most maxPlottedHosts hosts, those with injections or events first', () => {
    const quiet = {
      hostId: 'aa-quiet',
      timesMs: [FIXTURE_T0],
      metrics: {},
      scores: [0.1],
      isAnomaly: [false],
    };
    const withQuiet: ReportInput = { ...input, hosts: [quiet, ...input.hosts] };
    const two = buildReportDocument(withQuiet, { maxPlottedHosts: 2 });
    expect(two.series.map((s) => s.hostId)).toEqual(['db-1', 'web-1']);
    expect(two.hosts.map((h) => [h.hostId, h.plotId])).toEqual([
      ['aa-quiet', null],
      ['db-1', 'host-db-1'],
      ['web-1', 'host-web-1'],
      ['web-2', null],
    ]);
    expect(two.notes.some((n) => n.startsWith('2 of 4 hosts are not plotted'))).toBe(true);
  });

  it('without ground truth shows the series and events but grades nothing', () => {
    const bare = buildReportDocument({ ...input, truth: [], evaluation: undefined });
    expect(bare.summary).toBeNull();
    expect(bare.metrics).toBeNull();
    expect(bare.roc).toBeNull();
    expect(bare.pr).toBeNull();
    expect(bare.sweep).toBeNull();
    expect(bare.delays).toBeNull();
    expect(bare.plots.every((p) => p.kind === 'host')).toBe(true);
    expect(bare.events.every((e) => e.matchedInjectionId === null)).toBe(true);
    expect(bare.notes.some((n) => n.startsWith('No ground truth'))).toBe(true);
  });

  it('shows a window still running with no end', () => {
    const running = input.truth.map((w, i) => (i === 0 ? { ...w, endMs: Infinity } : w));
    const d: ReportDocument = buildReportDocument({ ...input, truth: running, evaluation: undefined });
    const w = d.injections.find((x) => x.injectionId === input.truth[0]!.injectionId)!;
    expect(w).toMatchObject({ endMs: null, running: true, durationMs: null, detected: null });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('names the severity of events', () => {
    const one = buildReportDocument({
      ...input,
      events: [{ ...input.events[0]!, severity: Severity.SEVERITY_CRITICAL }],
    });
    expect(one.events[0]!.severity).toBe('CRITICAL');
  });

  it('rejects options out of range, naming them', () => {
    const err = thrown(() => buildReportDocument(input, { maxPointsPerHost: 5 }));
    expect(isInvalidOptionsError(err)).toBe(true);
    expect((err as Error).message).toBe('maxPointsPerHost must be an integer in [100, 1000000], got 5');
  });
});

describe('thinCurve', () => {
  it('keeps both ends and at most maxPoints points', () => {
    const n = 5000;
    const xs = Array.from({ length: n }, (_, i) => i / (n - 1));
    const ys = xs.map((x) => Math.sqrt(x));
    const kept = thinCurve(xs, ys, 100);
    expect(kept.length).toBeLessThanOrEqual(100);
    expect(kept[0]).toBe(0);
    expect(kept.at(-1)).toBe(n - 1);
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    expect(thinCurve(xs.slice(0, 50), ys.slice(0, 50), 100)).toHaveLength(50);
  });
});
