/**
 * A drift-free periodic loop for the sampler: tick k is due at start + k·interval on the
 * monotonic clock, each timer is armed for the time left to its slot (so lateness never
 * accumulates), a slot more than half an interval late is skipped and counted rather than
 * run in a bunch, ticks never overlap, and a failing tick goes to one error handler.
 *
 * @example
 * ```ts
 * const loop = startSamplingLoop({
 *   intervalMs: 1000,
 *   onTick: (tick) => publish(sampler.sample(pid), tick.wallTimeMs),
 *   onError: (err, tick) => log.error({ err, slot: tick.index }, 'sample failed'),
 * });
 * // …
 * await loop.stop();
 * ```
 */
import { performance } from 'node:perf_hooks';
import { InvalidOptionsError } from './errors.js';

/** One tick of the loop, passed to `onTick`. */
export interface SamplingTick {
  /** Slot k: the tick was due at start + k·interval. Skipped slots leave gaps in k. */
  index: number;
  /** When the tick was due, ms on the `performance.now()` clock. */
  scheduledMs: number;
  /** When it ran, ms on the `performance.now()` clock. */
  actualMs: number;
  /** actualMs − scheduledMs: how late the tick ran (can be slightly negative: timers round). */
  jitterMs: number;
  /** When it ran, ms since the Unix epoch (`Date.now()`): the sample's timestamp. */
  wallTimeMs: number;
}

/** Options of {@link startSamplingLoop}. */
export interface SamplingLoopOptions {
  /** Period, ms. Default 1000; range [50, 60000]. */
  intervalMs?: number;
  /**
   * Called at each tick. A returned promise is awaited before the next tick is scheduled,
   * so ticks never overlap; a tick that overruns makes the loop skip the slots it covered.
   */
  onTick: (tick: SamplingTick) => void | Promise<void>;
  /** Receives whatever `onTick` throws or rejects with. The loop goes on. */
  onError: (err: unknown, tick: SamplingTick) => void;
}

export type ResolvedSamplingLoopOptions = Required<SamplingLoopOptions>;

/** Applies defaults to {@link SamplingLoopOptions} and validates them. */
export function resolveSamplingLoopOptions(raw: SamplingLoopOptions): ResolvedSamplingLoopOptions {
  const intervalMs = raw.intervalMs ?? 1000;
  if (typeof intervalMs !== 'number' || !(intervalMs >= 50 && intervalMs <= 60_000)) {
    throw new InvalidOptionsError(
      'intervalMs',
      `intervalMs must be in [50, 60000], got ${String(intervalMs)}`,
    );
  }
  if (typeof raw.onTick !== 'function') {
    throw new InvalidOptionsError('onTick', 'onTick must be a function');
  }
  if (typeof raw.onError !== 'function') {
    throw new InvalidOptionsError('onError', 'onError must be a function');
  }
  return { intervalMs, onTick: raw.onTick, onError: raw.onError };
}

/** Which slot to run next and when, from {@link planNextTick}. */
export interface TickPlan {
  /** The slot to run. */
  slot: number;
  /** Slots given up because they were more than half an interval late. */
  skipped: number;
  /** When `slot` is due, ms on the loop's clock (≤ now: run it now). */
  dueMs: number;
}

/**
 * The scheduling rule, without clock or timers: slots before `fromSlot` are done; the next
 * tick is the first slot k ≥ fromSlot due no earlier than `nowMs − intervalMs/2`. So a tick
 * runs at most half an interval late, consecutive ticks are at least about half an interval
 * apart (no bunching after a stall), and every slot given up is counted.
 */
export function planNextTick(startMs: number, intervalMs: number, fromSlot: number, nowMs: number): TickPlan {
  const earliest = Math.ceil((nowMs - intervalMs / 2 - startMs) / intervalMs);
  const slot = Math.max(fromSlot, earliest);
  return { slot, skipped: slot - fromSlot, dueMs: startMs + slot * intervalMs };
}

/** Counters of a running loop. */
export interface SamplingLoopStats {
  /** Ticks run. */
  ticks: number;
  /** Slots skipped because the loop was too late for them. */
  skipped: number;
  /** Ticks that failed (their errors went to `onError`). */
  errors: number;
  /** Jitter of the last tick, ms (NaN before the first). */
  lastJitterMs: number;
  /** Largest jitter seen, ms (NaN before the first tick). */
  maxJitterMs: number;
}

/** A running loop. */
export interface SamplingLoop {
  readonly intervalMs: number;
  /** A copy of the counters. */
  stats(): SamplingLoopStats;
  /** The jitter of the most recent ticks (up to 4096), oldest first, ms. */
  recentJitterMs(): Float64Array;
  /** Stops scheduling; resolves when a tick in progress has finished. Idempotent. */
  stop(): Promise<void>;
}

const JITTER_WINDOW = 4096;

/** Starts a loop whose first tick is due at once. See {@link SamplingLoopOptions}. */
export function startSamplingLoop(raw: SamplingLoopOptions): SamplingLoop {
  const { intervalMs, onTick, onError } = resolveSamplingLoopOptions(raw);
  const startMs = performance.now();
  const jitter = new Float64Array(JITTER_WINDOW);
  const stats: SamplingLoopStats = { ticks: 0, skipped: 0, errors: 0, lastJitterMs: NaN, maxJitterMs: NaN };
  let nextSlot = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const fail = (err: unknown, tick: SamplingTick): void => {
    stats.errors += 1;
    try {
      onError(err, tick);
    } catch {
      // The error handler is the last resort: nothing else may stop the loop.
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    const now = performance.now();
    const plan = planNextTick(startMs, intervalMs, nextSlot, now);
    stats.skipped += plan.skipped;
    nextSlot = plan.slot;
    // Timers count whole ms from the event loop's cached time, so they may fire a little
    // early: fire() re-checks and re-arms.
    timer = setTimeout(fire, Math.max(0, plan.dueMs - now));
  };

  const fire = (): void => {
    timer = undefined;
    if (stopped) return;
    const now = performance.now();
    const plan = planNextTick(startMs, intervalMs, nextSlot, now);
    stats.skipped += plan.skipped;
    nextSlot = plan.slot;
    if (plan.dueMs - now > 0.5) {
      timer = setTimeout(fire, plan.dueMs - now);
      return;
    }
    const slot = nextSlot;
    nextSlot = slot + 1;
    const scheduledMs = plan.dueMs;
    const tick: SamplingTick = {
      index: slot,
      scheduledMs,
      actualMs: now,
      jitterMs: now - scheduledMs,
      wallTimeMs: Date.now(),
    };
    jitter[stats.ticks % JITTER_WINDOW] = tick.jitterMs;
    stats.ticks += 1;
    stats.lastJitterMs = tick.jitterMs;
    if (!(tick.jitterMs <= stats.maxJitterMs)) stats.maxJitterMs = tick.jitterMs;
    let result: void | Promise<void>;
    try {
      result = onTick(tick);
    } catch (err) {
      fail(err, tick);
      schedule();
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      running = Promise.resolve(result).then(
        () => undefined,
        (err: unknown) => fail(err, tick),
      );
      void running.then(() => {
        running = undefined;
        schedule();
      });
      return;
    }
    schedule();
  };

  schedule();

  return {
    intervalMs,
    stats: () => ({ ...stats }),
    recentJitterMs: () => {
      const n = Math.min(stats.ticks, JITTER_WINDOW);
      const out = new Float64Array(n);
      const first = stats.ticks - n;
      for (let i = 0; i < n; i++) out[i] = jitter[(first + i) % JITTER_WINDOW] as number;
      return out;
    },
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
