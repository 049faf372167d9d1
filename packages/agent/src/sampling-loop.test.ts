import { eventually } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import {
  planNextTick,
  resolveSamplingLoopOptions,
  startSamplingLoop,
  type SamplingTick,
} from './sampling-loop.js';

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // block the event loop on purpose
  }
}

describe('planNextTick', () => {
  it('runs the next slot when it is due or at most half an interval late', () => {
    expect(planNextTick(1000, 100, 3, 1250)).toEqual({ slot: 3, skipped: 0, dueMs: 1300 });
    expect(planNextTick(1000, 100, 3, 1300)).toEqual({ slot: 3, skipped: 0, dueMs: 1300 });
    expect(planNextTick(1000, 100, 3, 1349)).toEqual({ slot: 3, skipped: 0, dueMs: 1300 });
  });

  it('skips slots more than half an interval late and counts them', () => {
    expect(planNextTick(1000, 100, 3, 1351)).toEqual({ slot: 4, skipped: 1, dueMs: 1400 });
    // Stalled for 1 s from slot 3: slots 3..12 are given up, 13 is next.
    expect(planNextTick(1000, 100, 3, 2260)).toEqual({ slot: 13, skipped: 10, dueMs: 2300 });
    expect(planNextTick(1000, 100, 3, 2240)).toEqual({ slot: 12, skipped: 9, dueMs: 2200 });
  });

  it('never goes back to a slot already run', () => {
    expect(planNextTick(0, 50, 10, 0)).toEqual({ slot: 10, skipped: 0, dueMs: 500 });
  });
});

describe('startSamplingLoop', () => {
  it('ticks at start + k·interval', async () => {
    const ticks: SamplingTick[] = [];
    const loop = startSamplingLoop({ intervalMs: 50, onTick: (t) => void ticks.push(t), onError: () => {} });
    await eventually(() => ticks.length >= 5, { name: '5 ticks', timeoutMs: 5000 });
    await loop.stop();
    const first = ticks[0] as SamplingTick;
    for (const [i, t] of ticks.entries()) {
      if (i > 0) expect(t.index).toBeGreaterThan((ticks[i - 1] as SamplingTick).index);
      expect(t.scheduledMs - first.scheduledMs).toBeCloseTo((t.index - first.index) * 50, 6);
      expect(t.jitterMs).toBeCloseTo(t.actualMs - t.scheduledMs, 9);
      expect(t.jitterMs).toBeLessThanOrEqual(25);
    }
    const stats = loop.stats();
    expect(stats.ticks).toBe(ticks.length);
    expect(loop.recentJitterMs()).toEqual(Float64Array.from(ticks.map((t) => t.jitterMs)));
    expect(stats.maxJitterMs).toBe(Math.max(...ticks.map((t) => t.jitterMs)));
  });

  it('skips the slots a blocked event loop missed instead of bunching them', async () => {
    const ticks: SamplingTick[] = [];
    const loop = startSamplingLoop({
      intervalMs: 50,
      onTick: (t) => {
        ticks.push(t);
        if (ticks.length === 2) busyWait(400);
      },
      onError: () => {},
    });
    await eventually(() => ticks.length >= 5, { name: '5 ticks', timeoutMs: 5000 });
    await loop.stop();
    // 400 ms blocked at 50 ms: about 7 slots are given up.
    expect(loop.stats().skipped).toBeGreaterThanOrEqual(5);
    const gaps = ticks.slice(1).map((t, i) => t.actualMs - (ticks[i] as SamplingTick).actualMs);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(20);
  });

  it('sends thrown and rejected errors to onError and goes on', async () => {
    const errors: [unknown, number][] = [];
    let n = 0;
    const loop = startSamplingLoop({
      intervalMs: 50,
      onTick: async () => {
        n += 1;
        if (n === 1) throw new Error('rejected');
      },
      onError: (err, tick) => errors.push([err, tick.index]),
    });
    const syncLoop = startSamplingLoop({
      intervalMs: 50,
      onTick: () => {
        throw new Error('thrown');
      },
      onError: () => {
        throw new Error('the handler failing does not stop the loop either');
      },
    });
    await eventually(() => n >= 3 && syncLoop.stats().errors >= 3, {
      name: 'ticks after errors',
      timeoutMs: 5000,
    });
    await Promise.all([loop.stop(), syncLoop.stop()]);
    expect(errors).toHaveLength(1);
    expect((errors[0]?.[0] as Error).message).toBe('rejected');
    expect(loop.stats().errors).toBe(1);
    expect(syncLoop.stats().ticks).toBe(syncLoop.stats().errors);
  });

  it('never overlaps ticks, and stop() waits for the tick in progress', async () => {
    let active = 0;
    let maxActive = 0;
    let finished = 0;
    const loop = startSamplingLoop({
      intervalMs: 50,
      onTick: async () => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 80));
        active -= 1;
        finished += 1;
      },
      onError: () => {},
    });
    await eventually(() => active === 1 && finished >= 2, { name: 'third tick running', timeoutMs: 5000 });
    await loop.stop();
    expect(active).toBe(0);
    expect(maxActive).toBe(1);
    expect(loop.stats().skipped).toBeGreaterThan(0);
    const ticks = loop.stats().ticks;
    expect(finished).toBe(ticks);
    await new Promise((r) => setTimeout(r, 120));
    expect(loop.stats().ticks).toBe(ticks);
  });
});

describe('resolveSamplingLoopOptions', () => {
  const handlers = { onTick: () => {}, onError: () => {} };

  it('defaults to one second', () => {
    expect(resolveSamplingLoopOptions(handlers).intervalMs).toBe(1000);
  });

  it('names the field, the range and the value', () => {
    expect(() => resolveSamplingLoopOptions({ ...handlers, intervalMs: 10 })).toThrow(
      'intervalMs must be in [50, 60000], got 10',
    );
    expect(() => resolveSamplingLoopOptions({ ...handlers, intervalMs: Number.NaN })).toThrow(
      'intervalMs must be in [50, 60000], got NaN',
    );
  });
});
