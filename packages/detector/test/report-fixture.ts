/**
 * A synthetic report input for the report's tests: three hosts, 600 samples each, one second
 * apart, with planted injections of three types (two of them detected a few seconds late, the
 * `sleep` stall never), one false-positive event, and the evaluation computed from it all with
 * `evaluateDetection`. Seeded: the same input every time.
 */
import { createRng, Severity } from '@faultline/protocol';
import { evaluateDetection, type ScoredPoint } from '../src/evaluation.js';
import type { ReportEvent, ReportHost, ReportInput, ReportTruthWindow } from '../src/report/report-input.js';

/** 2026-01-01T00:00:00Z. */
export const FIXTURE_T0 = 1_767_225_600_000;
export const FIXTURE_SAMPLES = 600;
export const FIXTURE_THRESHOLD = 0.6;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

interface Planted {
  host: string;
  type: 'ram_spike' | 'cpu_surge' | 'sleep';
  /** Sample index of the start, and length in samples. */
  start: number;
  length: number;
  /** Samples between the start and the score crossing the threshold (the detection delay in s). */
  lag: number;
}

export const FIXTURE_INJECTIONS: readonly Planted[] = [
  { host: 'web-1', type: 'ram_spike', start: 120, length: 60, lag: 2 },
  { host: 'web-1', type: 'cpu_surge', start: 400, length: 40, lag: 4 },
  { host: 'web-2', type: 'ram_spike', start: 300, length: 60, lag: 7 },
  { host: 'web-2', type: 'sleep', start: 480, length: 30, lag: Infinity },
  { host: 'db-1', type: 'cpu_surge', start: 200, length: 30, lag: 3 },
];

/** db-1 scores high here without an injection: a false positive event. */
const FALSE_ALARM = { host: 'db-1', start: 520, length: 5 };

const HOSTS = ['web-1', 'web-2', 'db-1'];

const timeOf = (i: number): number => FIXTURE_T0 + i * 1000;

function host(hostId: string, seed: number): ReportHost {
  const rng = createRng(seed);
  const mine = FIXTURE_INJECTIONS.filter((p) => p.host === hostId);
  const timesMs: number[] = [];
  const memory: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  const writes: number[] = [];
  const scores: number[] = [];
  const isAnomaly: boolean[] = [];
  for (let i = 0; i < FIXTURE_SAMPLES; i++) {
    const active = mine.find((p) => i >= p.start && i < p.start + p.length);
    const ram = active?.type === 'ram_spike';
    const surge = active?.type === 'cpu_surge';
    timesMs.push(timeOf(i));
    memory.push(6 * GiB + Math.sin(i / 40) * 0.2 * GiB + rng.normal() * 0.03 * GiB + (ram ? 2.5 * GiB : 0));
    cpu.push(Math.min(1, Math.max(0, 0.3 + 0.05 * rng.normal() + (surge ? 0.6 : 0))));
    rss.push(800 * MiB + rng.normal() * 10 * MiB + (ram ? 2.4 * GiB : 0));
    // The first sample of a series has no rate yet.
    writes.push(i === 0 ? NaN : Math.max(0, 4 * MiB + rng.normal() * 0.5 * MiB));
    const detectable = active !== undefined && i >= active.start + active.lag;
    const alarm =
      hostId === FALSE_ALARM.host && i >= FALSE_ALARM.start && i < FALSE_ALARM.start + FALSE_ALARM.length;
    const base = 0.12 + 0.06 * rng.next();
    const score =
      detectable || alarm ? 0.7 + 0.25 * rng.next() : active?.type === 'sleep' ? base + 0.2 : base;
    // The first 5 samples are the warm-up: not scored.
    scores.push(i < 5 ? NaN : score);
    isAnomaly.push(i >= 5 && score >= FIXTURE_THRESHOLD);
  }
  return {
    hostId,
    timesMs,
    metrics: {
      memory_used_bytes: memory,
      cpu_busy_ratio: cpu,
      process_rss_bytes: rss,
      process_write_bytes_per_second: writes,
    },
    scores,
    isAnomaly,
  };
}

/** Events: each run of flagged samples, closed at its last flagged sample. */
function eventsOf(h: ReportHost): ReportEvent[] {
  const events: ReportEvent[] = [];
  let open = -1;
  let peak = 0;
  for (let i = 0; i <= h.timesMs.length; i++) {
    const flagged = i < h.timesMs.length && h.isAnomaly[i] === true;
    if (flagged) {
      if (open < 0) {
        open = i;
        peak = 0;
      }
      peak = Math.max(peak, h.scores[i] as number);
    } else if (open >= 0) {
      events.push({
        eventId: `${h.hostId}-ev-${events.length + 1}`,
        hostId: h.hostId,
        startMs: h.timesMs[open] as number,
        endMs: h.timesMs[i - 1] as number,
        peakScore: peak,
        severity: peak > 0.9 ? Severity.SEVERITY_HIGH : Severity.SEVERITY_MEDIUM,
        topMetrics: ['memory_used_bytes', 'process_rss_bytes'],
      });
      open = -1;
    }
  }
  return events;
}

function truthOf(p: Planted): ReportTruthWindow {
  const requested: Record<string, number | string> =
    p.type === 'ram_spike'
      ? { workload: 'matmul', sizes: '[600]', matrices: 4, duration_ms: p.length * 1000 }
      : p.type === 'cpu_surge'
        ? { workload: 'cpu', cores: 2, load_percent: 90, duration_ms: p.length * 1000 }
        : { workload: 'stall', extra_ms: 2000, duration_ms: p.length * 1000 };
  const achieved: Record<string, number> =
    p.type === 'ram_spike'
      ? { peak_rss_delta_bytes: 2.4 * GiB, ramp_ms: 1500, hold_ms: (p.length - 2) * 1000 }
      : p.type === 'cpu_surge'
        ? { peak_cpu_percent: 178, mean_cpu_percent: 171.5, hold_ms: p.length * 1000 }
        : { hold_ms: p.length * 1000 };
  const reached = p.type !== 'cpu_surge' || p.host !== 'db-1';
  return {
    hostId: p.host,
    injectionId: `inj-${p.host}-${p.start}`,
    anomalyType: p.type,
    startMs: timeOf(p.start),
    endMs: timeOf(p.start + p.length - 1),
    requested,
    achieved,
    reachedTarget: reached,
    shortfall: reached ? '' : 'cpu cap: 2 cores requested, 1.8 allowed',
  };
}

/** The three-host input; `evaluation` is computed with `evaluateDetection` (grace 5 s). */
export function fixtureReportInput(): ReportInput {
  const hosts = HOSTS.map((h, i) => host(h, 1000 + i));
  const truth = FIXTURE_INJECTIONS.map(truthOf);
  const events = hosts.flatMap(eventsOf);
  const points: ScoredPoint[] = hosts.flatMap((h) =>
    h.timesMs.flatMap((t, i) => {
      const score = h.scores[i] as number;
      return Number.isFinite(score)
        ? [{ hostId: h.hostId, timeMs: t, score, isAnomaly: h.isAnomaly[i] === true }]
        : [];
    }),
  );
  const evaluation = evaluateDetection({ points, truth, events }, { graceMs: 5000 });
  return {
    title: 'mixed-anomalies',
    source: 'exp-fixture',
    mode: 'live',
    generatedAtMs: FIXTURE_T0 + 3_600_000,
    model: 'fused',
    threshold: FIXTURE_THRESHOLD,
    hosts,
    truth,
    events,
    evaluation,
  };
}
