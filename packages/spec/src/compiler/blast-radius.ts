/** An injection as the blast-radius limiter sees it: a host and a half-open interval, ms. */
export interface IntervalCandidate {
  /** Host index in [0, hostCount). */
  host: number;
  startMs: number;
  /** > startMs. */
  endMs: number;
  /** Latest end it may have (its phase's or the plan's end). A shifted injection never crosses it. */
  boundMs: number;
}

/** Where the limiter placed each candidate, and what it changed. */
export interface ConcurrencyLimitResult {
  /** Placed start per candidate, ms; NaN when the candidate was dropped. */
  startMs: Float64Array;
  /** Placed end per candidate, ms; NaN when the candidate was dropped. */
  endMs: Float64Array;
  /** Candidates placed later than asked. */
  shifted: number;
  /** Candidates dropped (policy `drop`, or no room left before their bound). */
  dropped: number;
  /** Shifted candidates shortened to stay within their bound. */
  clipped: number;
  /** Most hosts anomalous at one instant after limiting. */
  peakConcurrentHosts: number;
}

/** A binary min-heap of (key, value) pairs on typed arrays. */
class MinHeap {
  private keys: Float64Array;
  private values: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.keys = new Float64Array(Math.max(1, capacity));
    this.values = new Int32Array(Math.max(1, capacity));
  }
  peekKey(): number {
    return this.size === 0 ? Infinity : this.keys[0]!;
  }
  push(key: number, value: number): void {
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent]! <= key) break;
      this.keys[i] = this.keys[parent]!;
      this.values[i] = this.values[parent]!;
      i = parent;
    }
    this.keys[i] = key;
    this.values[i] = value;
  }
  /** Removes the smallest pair and returns its value. */
  pop(): number {
    const top = this.values[0]!;
    const key = this.keys[--this.size]!;
    const value = this.values[this.size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.keys[child + 1]! < this.keys[child]!) child++;
      if (this.keys[child]! >= key) break;
      this.keys[i] = this.keys[child]!;
      this.values[i] = this.values[child]!;
      i = child;
    }
    this.keys[i] = key;
    this.values[i] = value;
    return top;
  }
}

/**
 * Caps how many hosts are anomalous at the same instant. A host counts once however many
 * of its injections overlap; intervals are half-open, so one ending at t and another
 * starting at t do not overlap.
 *
 * A sweep over time in order of (start, host, candidate index): a candidate whose host is
 * already anomalous, or that finds fewer than `limit` anomalous hosts, starts as asked.
 * Otherwise policy `drop` drops it, and policy `shift` queues it (first come, first served)
 * until a host recovers; it then starts at that instant and keeps its length, but ends by
 * its bound and before the next injection of its own host, so that a host's injections
 * never pile up; one that cannot start before that is dropped. Deterministic: O(n log n)
 * with no randomness.
 */
export function limitConcurrentHosts(
  candidates: readonly IntervalCandidate[],
  hostCount: number,
  limit: number,
  policy: 'shift' | 'drop',
): ConcurrencyLimitResult {
  const n = candidates.length;
  const placedStart = new Float64Array(n).fill(NaN);
  const placedEnd = new Float64Array(n).fill(NaN);
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    const ca = candidates[a]!;
    const cb = candidates[b]!;
    return ca.startMs - cb.startMs || ca.host - cb.host || a - b;
  });

  // A shifted candidate must end before the next candidate of its host starts.
  const shiftBound = new Float64Array(n);
  const nextStartOfHost = new Float64Array(hostCount).fill(Infinity);
  const lastStartSeen = new Float64Array(hostCount).fill(Infinity);
  for (let k = n - 1; k >= 0; k--) {
    const i = order[k]!;
    const c = candidates[i]!;
    if (c.startMs < lastStartSeen[c.host]!) {
      nextStartOfHost[c.host] = lastStartSeen[c.host]!;
      lastStartSeen[c.host] = c.startMs;
    }
    shiftBound[i] = Math.min(c.boundMs, nextStartOfHost[c.host]!);
  }

  const active = new MinHeap(n);
  const hostActive = new Int32Array(hostCount);
  let activeHosts = 0;
  let peak = 0;
  let shifted = 0;
  let dropped = 0;
  let clipped = 0;
  const queue: number[] = [];
  let head = 0;

  const place = (i: number, start: number, end: number): void => {
    const host = candidates[i]!.host;
    placedStart[i] = start;
    placedEnd[i] = end;
    active.push(end, host);
    if (hostActive[host] === 0) activeHosts++;
    hostActive[host] = hostActive[host]! + 1;
    if (activeHosts > peak) peak = activeHosts;
  };

  const serveQueue = (t: number): void => {
    while (head < queue.length) {
      const i = queue[head]!;
      const c = candidates[i]!;
      if (t >= shiftBound[i]!) {
        dropped++;
        head++;
        continue;
      }
      if (hostActive[c.host]! === 0 && activeHosts >= limit) return;
      const wantedEnd = t + (c.endMs - c.startMs);
      const end = Math.min(wantedEnd, shiftBound[i]!);
      if (end < wantedEnd) clipped++;
      shifted++;
      place(i, t, end);
      head++;
    }
  };

  let k = 0;
  while (k < n || head < queue.length) {
    const nextArrival = k < n ? candidates[order[k]!]!.startMs : Infinity;
    const t = Math.min(nextArrival, active.peekKey());
    if (t === Infinity) {
      // Nothing active and nothing arriving: the queue can never be served (cannot happen
      // with limit >= 1, because a queued candidate implies an active host).
      dropped += queue.length - head;
      break;
    }
    while (active.peekKey() <= t) {
      const host = active.pop();
      hostActive[host] = hostActive[host]! - 1;
      if (hostActive[host] === 0) activeHosts--;
    }
    serveQueue(t);
    while (k < n && candidates[order[k]!]!.startMs === t) {
      const i = order[k++]!;
      const c = candidates[i]!;
      if (hostActive[c.host]! > 0 || (activeHosts < limit && head === queue.length)) {
        place(i, c.startMs, c.endMs);
      } else if (policy === 'drop') {
        dropped++;
      } else {
        queue.push(i);
      }
    }
  }
  return { startMs: placedStart, endMs: placedEnd, shifted, dropped, clipped, peakConcurrentHosts: peak };
}
