import { describe, expect, it } from 'vitest';
import { createRng } from './random.js';

describe('createRng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng('42');
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it('draws uniform numbers in [0, 1) with the right mean and variance', () => {
    const r = createRng(7);
    let sum = 0;
    let sq = 0;
    let min = Infinity;
    let max = -Infinity;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
      sq += x * x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(sq / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 2);
  });

  it('draws integers in range and normals with mean 0 and sd 1', () => {
    const r = createRng(1);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[r.int(3)]!++;
    for (const k of counts) expect(k).toBeGreaterThan(9_500);
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < 50_000; i++) {
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    expect(sum / 50_000).toBeCloseTo(0, 1);
    expect(Math.sqrt(sq / 50_000)).toBeCloseTo(1, 1);
    expect(() => r.int(0)).toThrow(/positive integer, got 0/);
  });
});
