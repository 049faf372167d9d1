/**
 * The pacing arithmetic of the workload processes, kept pure (the processes pass in the
 * time and what they did) so that it is unit-tested without burning anything.
 */

/** Memory an allocation ramp should hold `elapsedMs` after its start: linear over `rampMs`. */
export function memoryGoalBytes(targetBytes: number, rampMs: number, elapsedMs: number): number {
  if (rampMs <= 0 || elapsedMs >= rampMs) return targetBytes;
  if (elapsedMs <= 0) return 0;
  return Math.floor((targetBytes * elapsedMs) / rampMs);
}

/**
 * A rate budget (token bucket started empty): `due(nowMs)` is what may be done now to stay on
 * `bytesPerSecond` since `startMs`. When the work falls further behind than `maxDebtMs` of
 * rate (the disk or the peer cannot keep up), the excess is written off instead of being
 * caught up later in a burst, and counted in `forgivenBytes`.
 */
export class RatePacer {
  private doneBytes = 0;
  private forgiven = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly startMs: number,
    private readonly maxDebtMs = 1000,
  ) {}

  /** Bytes to do now to be on schedule (0 when ahead). */
  due(nowMs: number): number {
    const scheduled = (this.bytesPerSecond * Math.max(0, nowMs - this.startMs)) / 1000 - this.forgiven;
    let debt = scheduled - this.doneBytes;
    const maxDebt = (this.bytesPerSecond * this.maxDebtMs) / 1000;
    if (debt > maxDebt) {
      this.forgiven += debt - maxDebt;
      debt = maxDebt;
    }
    return Math.max(0, Math.floor(debt));
  }

  /** Records `bytes` done. */
  done(bytes: number): void {
    this.doneBytes += bytes;
  }

  get totalBytes(): number {
    return this.doneBytes;
  }

  /** Bytes written off because the work fell too far behind. */
  get forgivenBytes(): number {
    return this.forgiven;
  }
}

/**
 * Closed-loop duty cycle of one busy-loop process. Each period the process burns
 * `busyBudgetMs()` of its own cpu time (not wall time: under contention a wall-clock busy
 * loop gets less cpu than it spins) and then sleeps out the period. What a period missed
 * or overshot (a late timer, preemption) is carried into the next, bounded to one period so
 * that a long stall is not caught up in a full-core burst.
 */
export class DutyCycle {
  private debtMs = 0;

  constructor(
    /** Fraction of one core, (0, 1]. */
    readonly duty: number,
    readonly periodMs: number,
  ) {}

  /** Cpu time to burn in the coming period, ms, in [0, periodMs]. */
  busyBudgetMs(): number {
    return Math.min(this.periodMs, Math.max(0, this.duty * this.periodMs + this.debtMs));
  }

  /** Closes a period that lasted `wallMs` (sleep overshoot included) and burned `cpuMs`. */
  endPeriod(wallMs: number, cpuMs: number): void {
    const debt = this.debtMs + this.duty * wallMs - cpuMs;
    this.debtMs = Math.min(this.periodMs, Math.max(-this.periodMs, debt));
  }
}
