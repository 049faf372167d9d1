import { createRng } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';

import {
  isInvalidOptionsError,
  isMalformedModelError,
  isNonFiniteInputError,
  isNotFittedError,
  isShapeMismatchError,
  NonFiniteInputError,
} from './errors.js';
import {
  averagePathLength,
  EULER_GAMMA,
  IsolationForest,
  resolveIsolationForestOptions,
  type IsolationForestJSON,
  type IsolationForestNodes,
} from './isolation-forest.js';
import { fromRows, matrixFromData, rowView, type Matrix } from './matrix.js';

/** H(m) by summation, smallest terms first. */
function harmonic(m: number): number {
  let h = 0;
  for (let k = m; k >= 1; k--) h += 1 / k;
  return h;
}

/** c(n) from the definition with exact harmonic numbers. */
function exactC(n: number): number {
  return 2 * harmonic(n - 1) - (2 * (n - 1)) / n;
}

/** Gaussian rows N(0, 1)^cols. */
function gaussian(rows: number, cols: number, seed: number): Matrix {
  const rng = createRng(seed);
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return matrixFromData(data, rows, cols);
}

/** ROC-AUC by the Mann–Whitney statistic: P(score of a positive > score of a negative). */
function rocAuc(scores: ArrayLike<number>, positive: (i: number) => boolean): number {
  let pos = 0;
  let neg = 0;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let rankSumPos = 0;
  for (let r = 0; r < order.length;) {
    let end = r;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[r]!]) end++;
    const midRank = (r + end) / 2 + 1;
    for (let k = r; k <= end; k++) {
      if (positive(order[k]!)) {
        pos++;
        rankSumPos += midRank;
      } else {
        neg++;
      }
    }
    r = end + 1;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

function depths(t: IsolationForestNodes): Int32Array {
  const depth = new Int32Array(t.feature.length);
  for (let node = 0; node < t.feature.length; node++) {
    if (t.feature[node]! >= 0) {
      depth[t.left[node]!] = depth[node]! + 1;
      depth[t.right[node]!] = depth[node]! + 1;
    }
  }
  return depth;
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    )
  );
}

describe('averagePathLength', () => {
  it('has the closed-form values c(0) = c(1) = 0, c(2) = 1, c(256) ≈ 10.2448', () => {
    expect(averagePathLength(0)).toBe(0);
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    // 2(ln 2 + γ) − 4/3, 2(ln 3 + γ) − 6/4, 2(ln 9 + γ) − 18/10 and 2(ln 255 + γ) − 510/256,
    // evaluated separately to 16 digits.
    expect(Math.abs(averagePathLength(3) - 1.207392357589623)).toBeLessThan(1e-9);
    expect(Math.abs(averagePathLength(4) - 1.8516559071392855)).toBeLessThan(1e-9);
    expect(Math.abs(averagePathLength(10) - 3.748880484475505)).toBeLessThan(1e-9);
    expect(Math.abs(averagePathLength(256) - 10.244770920119917)).toBeLessThan(1e-9);
    expect(averagePathLength(256).toFixed(4)).toBe('10.2448');
  });

  it('equals the definition with summed harmonic numbers where H is exact (n <= 2)', () => {
    expect(Math.abs(averagePathLength(1) - 0)).toBeLessThan(1e-9);
    expect(Math.abs(averagePathLength(2) - exactC(2))).toBeLessThan(1e-9);
  });

  it('differs from the summed definition by exactly 2(H(n−1) − ln(n−1) − γ), within (1/n, 1/(n−1))', () => {
    for (let n = 3; n <= 300; n++) {
      const m = n - 1;
      const gap = exactC(n) - averagePathLength(n);
      // 1/(2(m+1)) < H(m) − ln m − γ < 1/(2m) for every m >= 1.
      expect(gap).toBeGreaterThan(1 / n);
      expect(gap).toBeLessThan(1 / m);
      if (m >= 10) {
        // The Euler–Maclaurin series of H(m) − ln m − γ; the next term is below 1e-10 here.
        const series = 1 / (2 * m) - 1 / (12 * m ** 2) + 1 / (120 * m ** 4) - 1 / (252 * m ** 6);
        expect(Math.abs(gap - 2 * series)).toBeLessThan(1e-9);
      }
    }
    expect(EULER_GAMMA).toBeCloseTo(0.5772156649, 10);
  });
});

describe('resolveIsolationForestOptions', () => {
  it("applies scikit-learn's defaults", () => {
    expect(resolveIsolationForestOptions()).toEqual({
      nEstimators: 100,
      maxSamples: 'auto',
      maxFeatures: 1,
      contamination: 'auto',
      bootstrap: false,
      seed: 0,
    });
  });

  it.each([
    [{ nEstimators: 0 }, 'nEstimators must be an integer in [1, 10000], got 0'],
    [{ maxSamples: 2.5 }, "maxSamples must be 'auto', a fraction in (0, 1] or an integer >= 2, got 2.5"],
    [{ maxSamples: 0 }, "maxSamples must be 'auto', a fraction in (0, 1] or an integer >= 2, got 0"],
    [{ maxFeatures: -1 }, 'maxFeatures must be a fraction in (0, 1] or an integer >= 2, got -1'],
    [{ contamination: 0.6 }, "contamination must be 'auto' or a fraction in (0, 0.5], got 0.6"],
    [{ seed: 1.5 }, 'seed must be an integer in [0, 4294967295] or a string, got 1.5'],
    [{ n_estimators: 10 }, 'unknown IsolationForest option "n_estimators"'],
  ])('rejects %j with a message naming the field and range', (raw, message) => {
    let caught: unknown;
    try {
      resolveIsolationForestOptions(raw as never);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidOptionsError(caught)).toBe(true);
    expect((caught as Error).message).toContain(message);
  });
});

describe('IsolationForest', () => {
  it('gives the planted outliers the lowest decision values and predicts them -1', () => {
    const rng = createRng(11);
    const rows: number[][] = [];
    for (let i = 0; i < 200; i++) rows.push([rng.normal(), rng.normal()]);
    const outliers = [
      [8, 8],
      [-9, 7],
      [10, -10],
      [0, 12],
    ];
    rows.push(...outliers);
    const X = fromRows(rows);
    const forest = new IsolationForest({ seed: 3 }).fit(X);
    const decision = forest.decisionFunction(X);
    const lowest = Array.from(decision.keys())
      .sort((a, b) => decision[a]! - decision[b]!)
      .slice(0, 4);
    expect(lowest.sort((a, b) => a - b)).toEqual([200, 201, 202, 203]);
    const labels = forest.predict(X);
    expect(Array.from(labels.slice(200))).toEqual([-1, -1, -1, -1]);
    const inlierFlags = Array.from(labels.slice(0, 200)).filter((v) => v === -1).length;
    expect(inlierFlags).toBeLessThan(20);
    expect(forest.offset).toBe(-0.5);
    for (const o of outliers) expect(forest.anomalyScore(o)).toBeGreaterThan(0.6);
  });

  it('does what its doc example says', () => {
    const X = fromRows([
      [0, 0],
      [0.1, -0.1],
      [-0.1, 0.1],
      [0.05, 0],
      [8, 8],
    ]);
    const forest = new IsolationForest({ nEstimators: 50, seed: 1 }).fit(X);
    expect(Array.from(forest.predict(X))).toEqual([1, 1, 1, 1, -1]);
  });

  it('separates far uniform outliers from Gaussian inliers with ROC-AUC >= 0.95', () => {
    const inliers = gaussian(2000, 10, 21);
    const rng = createRng(22);
    const data = new Float64Array(2050 * 10);
    data.set(inliers.data);
    for (let i = 2000 * 10; i < data.length; i++) data[i] = (rng.next() * 2 - 1) * 6;
    const X = matrixFromData(data, 2050, 10);
    const forest = new IsolationForest({ seed: 5 }).fit(X);
    const anomaly = forest.scoreSamples(X).map((s) => -s);
    const auc = rocAuc(anomaly, (i) => i >= 2000);
    expect(auc).toBeGreaterThanOrEqual(0.95);
  });

  it('is deterministic for a seed and differs for another seed', () => {
    const X = gaussian(500, 5, 1);
    const a = new IsolationForest({ seed: 42 }).fit(X).scoreSamples(X);
    const b = new IsolationForest({ seed: 42 }).fit(X).scoreSamples(X);
    const c = new IsolationForest({ seed: 43 }).fit(X).scoreSamples(X);
    expect(sameBits(a, b)).toBe(true);
    expect(sameBits(a, c)).toBe(false);
    const bootA = new IsolationForest({ seed: 'exp-1', bootstrap: true }).fit(X).scoreSamples(X);
    const bootB = new IsolationForest({ seed: 'exp-1', bootstrap: true }).fit(X).scoreSamples(X);
    expect(sameBits(bootA, bootB)).toBe(true);
  });

  it('flags about the contamination fraction of the training rows', () => {
    const X = gaussian(1000, 4, 7);
    const forest = new IsolationForest({ contamination: 0.1, seed: 9 }).fit(X);
    const flagged = Array.from(forest.predict(X)).filter((v) => v === -1).length;
    expect(flagged).toBeGreaterThanOrEqual(90);
    expect(flagged).toBeLessThanOrEqual(110);
    // The offset is the 10th percentile of the training scores (linear interpolation).
    const sorted = forest.scoreSamples(X).sort();
    const pos = 0.1 * 999;
    const expected = sorted[99]! + (sorted[100]! - sorted[99]!) * (pos - 99);
    expect(forest.offset).toBeCloseTo(expected, 12);
  });

  it('scores every row 0.5 when there is nothing to isolate', () => {
    const constant = fromRows(Array.from({ length: 50 }, () => [3, 3, 3]));
    const forest = new IsolationForest({ nEstimators: 10 }).fit(constant);
    // Each tree is one leaf of ψ = 50 rows: h = c(50), so s = 2^(−c(50)/c(50)) = 0.5.
    expect(Array.from(forest.scoreSamples(constant))).toEqual(new Array(50).fill(-0.5));
    expect(forest.anomalyScore([100, -100, 0])).toBe(0.5);
    expect(Array.from(forest.predict(constant))).toEqual(new Array(50).fill(1));
    // Two distinct rows: ψ = 2, height 1, both leaves hold one row at depth 1 and c(2) = 1.
    const two = new IsolationForest({ nEstimators: 5 }).fit(fromRows([[0], [1]]));
    expect(Array.from(two.scoreSamples(fromRows([[0], [1], [7]])))).toEqual([-0.5, -0.5, -0.5]);
    // One row: ψ = 1 and c(1) = 0; scikit-learn scores 0.5.
    expect(new IsolationForest().fit(fromRows([[1, 2]])).anomalyScore([5, 5])).toBe(0.5);
  });

  it('grows trees of at most ceil(log2 ψ) levels on ψ = min(256, n) rows', () => {
    const X = gaussian(3000, 3, 2);
    const forest = new IsolationForest({ nEstimators: 20, seed: 1 }).fit(X);
    expect(forest.maxSamplesUsed).toBe(256);
    expect(forest.nFeaturesIn).toBe(3);
    const t = forest.nodes;
    const depth = depths(t);
    for (let tree = 0; tree < 20; tree++) {
      const root = t.treeOffsets[tree]!;
      expect(t.nodeSize[root]).toBe(256);
      let leafRows = 0;
      for (let node = root; node < t.treeOffsets[tree + 1]!; node++) {
        expect(depth[node]).toBeLessThanOrEqual(8);
        if (t.feature[node] === -1) {
          leafRows += t.nodeSize[node]!;
          expect(t.pathLength[node]).toBe(depth[node]! + averagePathLength(t.nodeSize[node]!));
        } else {
          expect(t.right[node]).toBe(t.left[node]! + 1);
          expect(t.nodeSize[t.left[node]!]! + t.nodeSize[t.right[node]!]!).toBe(t.nodeSize[node]);
        }
      }
      expect(leafRows).toBe(256);
    }
    expect(new IsolationForest({ maxSamples: 0.5 }).fit(gaussian(100, 2, 1)).maxSamplesUsed).toBe(50);
    expect(new IsolationForest({ maxSamples: 64 }).fit(gaussian(100, 2, 1)).maxSamplesUsed).toBe(64);
    expect(new IsolationForest({ maxSamples: 500 }).fit(gaussian(100, 2, 1)).maxSamplesUsed).toBe(100);
  });

  it('splits each tree on its own maxFeatures columns only', () => {
    const X = gaussian(400, 10, 4);
    const forest = new IsolationForest({ nEstimators: 30, maxFeatures: 0.3, seed: 8 }).fit(X);
    expect(forest.maxFeaturesUsed).toBe(3);
    const t = forest.nodes;
    forest.estimatorsFeatures.forEach((cols, tree) => {
      expect(new Set(cols).size).toBe(3);
      for (let node = t.treeOffsets[tree]!; node < t.treeOffsets[tree + 1]!; node++) {
        if (t.feature[node] !== -1) expect(Array.from(cols)).toContain(t.feature[node]);
      }
    });
    expect(() => new IsolationForest({ maxFeatures: 11 }).fit(X)).toThrow(
      'maxFeatures must be at most the number of columns (10), got 11',
    );
  });

  it('gives anomalyScore(row) the same bits as -scoreSamples for that row', () => {
    const X = gaussian(103, 6, 5);
    const forest = new IsolationForest({ seed: 12 }).fit(X);
    const scores = forest.scoreSamples(X);
    for (let i = 0; i < X.rows; i++) {
      expect(forest.anomalyScore(rowView(X, i))).toBe(-scores[i]!);
      expect(forest.anomalyScore(Array.from(rowView(X, i)))).toBe(-scores[i]!);
    }
    const decision = forest.decisionFunction(X);
    for (let i = 0; i < X.rows; i++) expect(decision[i]).toBe(scores[i]! + 0.5);
  });

  it('round-trips through JSON with bit-identical scores', () => {
    const X = gaussian(700, 8, 13);
    const forest = new IsolationForest({ contamination: 0.05, maxFeatures: 0.5, seed: 77 }).fit(X);
    const json = forest.toJSON();
    const text = JSON.stringify(json);
    const loaded = IsolationForest.fromJSON(JSON.parse(text));
    expect(sameBits(loaded.scoreSamples(X), forest.scoreSamples(X))).toBe(true);
    const probe = gaussian(50, 8, 99);
    expect(sameBits(loaded.decisionFunction(probe), forest.decisionFunction(probe))).toBe(true);
    expect(loaded.offset).toBe(forest.offset);
    expect(loaded.options).toEqual(forest.options);
    expect(JSON.stringify(loaded.toJSON())).toBe(text);
  });

  it('scores saved tables whose child pairs are shared or overlap as the trees they describe', () => {
    // One tree of 8 nodes on 2 columns: node 1's children are (3, 4) and node 2's are (4, 5),
    // so node 4 (depth 2 on both paths) has two parents.
    const b64 = (a: Int32Array | Float64Array): string =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
    const feature = Int32Array.from([0, 1, 1, -1, 0, -1, -1, -1]);
    const threshold = Float64Array.from([0, 0, 1, 0, -1, 0, 0, 0]);
    const left = Int32Array.from([1, 3, 4, -1, 6, -1, -1, -1]);
    const right = Int32Array.from([2, 4, 5, -1, 7, -1, -1, -1]);
    const pathLength = Float64Array.from([0, 0, 0, 2, 0, 2.25, 3, 3.5]);
    const json: IsolationForestJSON = {
      format: 'faultline.isolation-forest',
      version: 1,
      options: resolveIsolationForestOptions({ nEstimators: 1 }),
      nFeaturesIn: 2,
      maxSamplesUsed: 8,
      maxFeaturesUsed: 2,
      offset: -0.5,
      estimatorsFeatures: [[0, 1]],
      nodes: {
        treeOffsets: b64(Int32Array.from([0, 8])),
        feature: b64(feature),
        threshold: b64(threshold),
        left: b64(left),
        right: b64(right),
        nodeSize: b64(Int32Array.from([8, 5, 3, 1, 4, 1, 2, 2])),
        pathLength: b64(pathLength),
      },
    };
    const forest = IsolationForest.fromJSON(json);
    const rows: Array<[number[], number]> = [
      [[-1, -1], 2], // 0 → 1 → 3
      [[-2, 0.5], 3], // 0 → 1 → 4 → 6
      [[-0.5, 0.5], 3.5], // 0 → 1 → 4 → 7
      [[1, 0.5], 3.5], // 0 → 2 → 4 → 7
      [[1, 2], 2.25], // 0 → 2 → 5
    ];
    const X = fromRows(rows.map(([x]) => x));
    const batch = forest.scoreSamples(X);
    rows.forEach(([x, h], i) => {
      const expected = Math.pow(2, -h / averagePathLength(8));
      expect(forest.anomalyScore(x)).toBe(expected);
      expect(batch[i]).toBe(-expected);
    });
  });

  it('refuses malformed saved forests', () => {
    const forest = new IsolationForest({ nEstimators: 3, seed: 1 }).fit(gaussian(40, 2, 1));
    const json = forest.toJSON();
    const broken: unknown[] = [
      null,
      { ...json, format: 'other' },
      { ...json, version: 2 },
      { ...json, options: { ...json.options, nEstimators: 4 } },
      { ...json, nodes: { ...json.nodes, threshold: json.nodes.threshold.slice(0, 8) } },
    ];
    // A child pointing back at its parent would make a walk loop forever.
    const left = Buffer.from(json.nodes.left, 'base64');
    left.writeInt32LE(0, 0);
    broken.push({
      ...json,
      nodes: { ...json.nodes, left: left.toString('base64') },
    } satisfies IsolationForestJSON);
    for (const b of broken) {
      let caught: unknown;
      try {
        IsolationForest.fromJSON(b);
      } catch (err) {
        caught = err;
      }
      expect(isMalformedModelError(caught), JSON.stringify(b)?.slice(0, 80)).toBe(true);
    }
  });

  it('fails clearly before fit, on a wrong column count and on NaN', () => {
    const forest = new IsolationForest({ nEstimators: 5 });
    const X = gaussian(20, 3, 1);
    expect(() => forest.predict(X)).toThrow(
      'this IsolationForest is not fitted yet: call fit(X) before predict()',
    );
    let caught: unknown;
    try {
      forest.anomalyScore([1, 2, 3]);
    } catch (err) {
      caught = err;
    }
    expect(isNotFittedError(caught)).toBe(true);
    expect(() => forest.offset).toThrow('before offset()');

    forest.fit(X);
    try {
      forest.scoreSamples(gaussian(4, 2, 1));
    } catch (err) {
      caught = err;
    }
    expect(isShapeMismatchError(caught)).toBe(true);
    expect((caught as Error).message).toBe('X has 2 columns, but this IsolationForest was fitted with 3');
    expect(() => forest.anomalyScore([1, 2])).toThrow('row has 2 values');

    const bad = gaussian(5, 3, 2);
    bad.data[3 * 3 + 1] = NaN;
    try {
      forest.decisionFunction(bad);
    } catch (err) {
      caught = err;
    }
    expect(isNonFiniteInputError(caught)).toBe(true);
    expect(caught).toMatchObject({ row: 3, column: 1 });
    expect((caught as NonFiniteInputError).message).toBe(
      'X has NaN at row 3, column 1: only finite values are accepted',
    );
    expect(() => new IsolationForest().fit(bad)).toThrow('X has NaN at row 3, column 1');
    expect(() => forest.anomalyScore([0, Infinity, 0])).toThrow('row has Infinity at row 0, column 1');
    expect(() => new IsolationForest().fit(matrixFromData(new Float64Array(0), 0, 3))).toThrow(
      'fit needs at least one row',
    );
    expect(forest.scoreSamples(matrixFromData(new Float64Array(0), 0, 3))).toHaveLength(0);
  });
});
