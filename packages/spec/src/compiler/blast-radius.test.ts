import { createRng } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { limitConcurrentHosts, type IntervalCandidate } from './blast-radius.js';

interface Interval {
  host: number;
  start: number;
  end: number;
}

/** Most distinct hosts inside some half-open interval at one instant, by a sweep over sorted events. */
function peakDistinctHosts(intervals: readonly Interval[]): number {
  const events: [time: number, delta: number, host: number][] = [];
  for (const i of intervals) events.push([i.start, 1, i.host], [i.end, -1, i.host]);
  // Ends before starts at the same instant: the intervals are half-open.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const perHost = new Map<number, number>();
  let hosts = 0;
  let peak = 0;
  for (const [, delta, host] of events) {
    const before = perHost.get(host) ?? 0;
    perHost.set(host, before + delta);
    if (before === 0 && delta === 1) hosts++;
    if (before === 1 && delta === -1) hosts--;
    peak = Math.max(peak, hosts);
  }
  return peak;
}

function placedIntervals(
  candidates: readonly IntervalCandidate[],
  start: Float64Array,
  end: Float64Array,
): Interval[] {
  const out: Interval[] = [];
  candidates.forEach((c, i) => {
    if (!Number.isNaN(start[i]!)) out.push({ host: c.host, start: start[i]!, end: end[i]! });
  });
  return out;
}

const at = (host: number, startMs: number, endMs: number, boundMs = 1000): IntervalCandidate => ({
  host,
  startMs,
  endMs,
  boundMs,
});

describe('limitConcurrentHosts', () => {
  it('drops what exceeds the limit under policy drop, lowest hosts first', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(1, 0, 10), at(2, 0, 10), at(3, 0, 10)], 4, 2, 'drop');
    expect([...r.startMs]).toEqual([0, 0, NaN, NaN]);
    expect(r).toMatchObject({ dropped: 2, shifted: 0, clipped: 0, peakConcurrentHosts: 2 });
  });

  it('shifts what exceeds the limit to when a host recovers, keeping its length', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(1, 0, 10), at(2, 0, 10), at(3, 0, 4)], 4, 2, 'shift');
    expect([...r.startMs]).toEqual([0, 0, 10, 10]);
    expect([...r.endMs]).toEqual([10, 10, 20, 14]);
    expect(r).toMatchObject({ dropped: 0, shifted: 2, clipped: 0, peakConcurrentHosts: 2 });
  });

  it('clips a shifted injection at its bound, and drops it when it cannot start before', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(1, 0, 10, 15), at(2, 0, 10, 10)], 3, 1, 'shift');
    expect([...r.startMs]).toEqual([0, 10, NaN]);
    expect([...r.endMs]).toEqual([10, 15, NaN]);
    expect(r).toMatchObject({ dropped: 1, shifted: 1, clipped: 1 });
  });

  it('never lets a shifted injection run into the next one of its own host', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(1, 0, 10), at(1, 12, 20)], 2, 1, 'shift');
    expect([...r.startMs]).toEqual([0, 10, 12]);
    expect([...r.endMs]).toEqual([10, 12, 20]);
  });

  it('counts a host once however many of its injections overlap', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(0, 5, 15), at(1, 0, 10)], 2, 2, 'drop');
    expect(r.dropped).toBe(0);
    expect(r.peakConcurrentHosts).toBe(2);
  });

  it('treats intervals as half-open: an end and a start at the same instant do not overlap', () => {
    const r = limitConcurrentHosts([at(0, 0, 10), at(1, 10, 20)], 2, 1, 'drop');
    expect([...r.startMs]).toEqual([0, 10]);
    expect(r.peakConcurrentHosts).toBe(1);
  });

  it('never exceeds the limit, only delays or drops, and accounts for every candidate (random cases)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = createRng(seed);
      const hosts = 1 + rng.int(20);
      const limit = 1 + rng.int(hosts);
      const policy = rng.next() < 0.5 ? 'shift' : 'drop';
      const candidates: IntervalCandidate[] = [];
      for (let h = 0; h < hosts; h++) {
        let t = rng.int(50);
        for (let k = rng.int(6); k > 0; k--) {
          const length = 1 + rng.int(40);
          candidates.push(at(h, t, t + length, 400));
          t += length + rng.int(30);
        }
      }
      const r = limitConcurrentHosts(candidates, hosts, limit, policy);
      const placed = placedIntervals(candidates, r.startMs, r.endMs);
      const peak = peakDistinctHosts(placed);
      expect(peak, `seed ${seed}`).toBeLessThanOrEqual(limit);
      expect(r.peakConcurrentHosts).toBe(peak);
      expect(placed.length + r.dropped).toBe(candidates.length);
      let shifted = 0;
      candidates.forEach((c, i) => {
        const s = r.startMs[i]!;
        if (Number.isNaN(s)) return;
        const length = r.endMs[i]! - s;
        // A plain check: expect() per candidate would dominate the run time.
        if (s < c.startMs || length > c.endMs - c.startMs || r.endMs[i]! > Math.max(c.endMs, c.boundMs)) {
          throw new Error(
            `seed ${seed}: candidate ${i} placed at [${s}, ${r.endMs[i]}) from [${c.startMs}, ${c.endMs})`,
          );
        }
        if (s > c.startMs) shifted++;
      });
      expect(r.shifted).toBe(shifted);
      if (policy === 'drop') expect(shifted).toBe(0);
      // Without the limit nothing is dropped or moved.
      const free = limitConcurrentHosts(candidates, hosts, hosts, policy);
      expect(free.dropped + free.shifted).toBe(0);
    }
  });
});
