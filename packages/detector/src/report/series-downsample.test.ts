import { describe, expect, it } from 'vitest';
import { downsampleIndices } from './series-downsample.js';

describe('downsampleIndices', () => {
  it('keeps every sample of a short series', () => {
    expect(downsampleIndices(5, [[1, 2, 3, 4, 5]], 10)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps at most maxPoints samples, the last one, and every track’s extremes', () => {
    const n = 10_000;
    const a = Array.from({ length: n }, (_, i) => Math.sin(i / 100));
    const b = Array.from({ length: n }, () => 0);
    a[4321] = 50; // a one-sample spike
    b[777] = -3; // a one-sample dip in another track
    b[9000] = NaN; // never an extreme
    const kept = downsampleIndices(n, [a, b], 200);
    expect(kept.length).toBeLessThanOrEqual(200);
    expect(kept).toContain(4321);
    expect(kept).toContain(777);
    expect(kept).not.toContain(9000);
    expect(kept[0]).toBe(0);
    expect(kept.at(-1)).toBe(n - 1);
    expect(kept).toEqual([...new Set(kept)].sort((x, y) => x - y));
  });
});
