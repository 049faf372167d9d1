import type { Rng } from '@faultline/protocol';
import type { AnomalySpec } from '../spec/experiment-spec.js';

/** A span of the experiment in which random anomalies may start, ms from T0. */
export interface DrawWindow {
  startMs: number;
  endMs: number;
  /** Phase name the anomalies belong to; empty outside phased mode. */
  phase: string;
}

/** One anomaly occurrence drawn for a timeline, ms from T0. */
export interface Occurrence {
  startMs: number;
  durationMs: number;
  anomaly: AnomalySpec;
  /** The end of the window it was drawn in; coordination shifts never cross it. */
  windowEndMs: number;
  phase: string;
}

/** The occurrences of one timeline and the number of cycles that were drawn for. */
export interface Draws {
  occurrences: Occurrence[];
  cycles: number;
}

/**
 * Turns a per-cycle chance into timed occurrences, the way the seeds' loop does, on a
 * nominal clock: inside each window a cycle starts at the window start; while a whole
 * nominal cycle fits before the window end, the cycle is anomalous with probability
 * `chance` (one draw), an anomaly is then picked by weight (a second draw) and lasts its
 * duration (clipped at the window end), after which the next cycle starts; a normal cycle
 * lasts `cycleMs`.
 */
export function drawRandomOccurrences(
  rng: Rng,
  chance: number,
  catalog: readonly AnomalySpec[],
  windows: readonly DrawWindow[],
  cycleMs: number,
): Draws {
  const cumulative: number[] = [];
  let total = 0;
  for (const entry of catalog) {
    total += entry.weight;
    cumulative.push(total);
  }
  const occurrences: Occurrence[] = [];
  let cycles = 0;
  for (const window of windows) {
    let t = window.startMs;
    while (t + cycleMs <= window.endMs) {
      cycles++;
      if (rng.next() >= chance) {
        t += cycleMs;
        continue;
      }
      const r = rng.next() * total;
      let pick = 0;
      while (pick < cumulative.length - 1 && cumulative[pick]! <= r) pick++;
      const anomaly = catalog[pick]!;
      const durationMs = Math.min(anomaly.durationMs, window.endMs - t);
      occurrences.push({ startMs: t, durationMs, anomaly, windowEndMs: window.endMs, phase: window.phase });
      t += durationMs;
    }
  }
  return { occurrences, cycles };
}
