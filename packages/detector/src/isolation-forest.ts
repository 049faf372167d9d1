/**
 * Isolation Forest (Liu, Ting & Zhou 2008) with scikit-learn's semantics, in plain TypeScript:
 * the whole forest lives in flat typed-array node tables and scoring walks them without
 * allocating, so one sample at a time is cheap enough for the live runner.
 *
 * @example
 * ```ts
 * const forest = new IsolationForest({ nEstimators: 100, contamination: 0.05, seed: 42 });
 * forest.fit(fromRows(warmupVectors));
 * forest.predict(X);                 // Int8Array of +1 (inlier) / -1 (outlier)
 * forest.anomalyScore(vector);       // s(x) in (0, 1]; near 1 is anomalous
 * const saved = JSON.stringify(forest.toJSON());
 * IsolationForest.fromJSON(JSON.parse(saved)).anomalyScore(vector); // the same bits
 * ```
 */
import { createRng, type Rng } from '@faultline/protocol';

import {
  InvalidOptionsError,
  MalformedModelError,
  NonFiniteInputError,
  NotFittedError,
  ShapeMismatchError,
} from './errors.js';
import { assertFiniteMatrix, type Matrix } from './matrix.js';
import { checkObject, describeValue } from './option-checks.js';

/** The Euler–Mascheroni constant γ (the value numpy's `euler_gamma` holds). */
export const EULER_GAMMA = 0.5772156649015329;

/**
 * c(n): the average path length of an unsuccessful search in a binary search tree of `n`
 * points, used to normalise isolation depths and to extend a leaf that holds `n` samples.
 * c(n) = 2H(n−1) − 2(n−1)/n with H(i) ≈ ln(i) + γ, and c(1) = c(0) = 0, c(2) = 1, exactly
 * as scikit-learn computes it (so scores match its `score_samples`).
 */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

/** Options of {@link IsolationForest}; every field is optional. */
export interface IsolationForestOptions {
  /**
   * Number of isolation trees in the ensemble. Integer in [1, 10000]. Default 100.
   */
  nEstimators?: number;
  /**
   * Number of training rows drawn to build each tree (ψ in the paper).
   * - `'auto'` (default): min(256, n) for n training rows.
   * - a fraction in (0, 1]: max(1, floor(maxSamples · n)) rows; `1` means all rows.
   * - an integer ≥ 2: that many rows, capped at n (scikit-learn warns and caps too).
   *
   * JavaScript numbers carry no int/float distinction, so `1` is read as the fraction 1.0.
   */
  maxSamples?: 'auto' | number;
  /**
   * Number of columns each tree may split on, drawn without replacement per tree.
   * A fraction in (0, 1] gives max(1, floor(maxFeatures · nFeatures)); an integer ≥ 2 gives
   * that many and must not exceed the number of columns at `fit`. Default 1 (all columns).
   * As with `maxSamples`, `1` is the fraction 1.0; a fraction below 1/nFeatures gives one column.
   */
  maxFeatures?: number;
  /**
   * Expected proportion of outliers in the training data, which sets {@link IsolationForest.offset}.
   * - `'auto'` (default): offset −0.5, as in the original paper and scikit-learn, so a row is an
   *   outlier when s(x) > 0.5.
   * - a fraction in (0, 0.5]: the offset is that percentile (linear interpolation) of the
   *   training rows' `scoreSamples`, so about that fraction of them is predicted −1.
   */
  contamination?: 'auto' | number;
  /** Draw each tree's rows with replacement (true) or without (false, the default). */
  bootstrap?: boolean;
  /**
   * Seed of the generator (`createRng` from `@faultline/protocol`) that draws rows, columns,
   * split columns and thresholds: the same seed and data give the same forest on every
   * platform. An integer in [0, 2³² − 1] or a string (hashed). Default 0.
   */
  seed?: number | string;
}

/** {@link IsolationForestOptions} with defaults applied and ranges checked. */
export interface ResolvedIsolationForestOptions {
  readonly nEstimators: number;
  readonly maxSamples: 'auto' | number;
  readonly maxFeatures: number;
  readonly contamination: 'auto' | number;
  readonly bootstrap: boolean;
  readonly seed: number | string;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'nEstimators',
  'maxSamples',
  'maxFeatures',
  'contamination',
  'bootstrap',
  'seed',
]);

/**
 * Applies the defaults of {@link IsolationForestOptions} and validates every field; throws
 * {@link InvalidOptionsError} naming the field, the allowed range and the value received.
 * Limits that depend on the data (an integer `maxFeatures` above the column count) are checked
 * by `fit`.
 */
export function resolveIsolationForestOptions(
  raw: IsolationForestOptions = {},
): ResolvedIsolationForestOptions {
  const obj = checkObject(raw, 'options') as IsolationForestOptions;
  for (const key of Object.keys(obj)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown IsolationForest option ${JSON.stringify(key)} (expected one of ${[...OPTION_KEYS].join(', ')})`,
      );
    }
  }
  const nEstimators = obj.nEstimators ?? 100;
  if (!Number.isInteger(nEstimators) || nEstimators < 1 || nEstimators > 10_000) {
    throw new InvalidOptionsError(
      'nEstimators',
      `nEstimators must be an integer in [1, 10000], got ${describeValue(nEstimators)}`,
    );
  }
  const maxSamples = obj.maxSamples ?? 'auto';
  if (maxSamples !== 'auto' && !isFractionOrCount(maxSamples)) {
    throw new InvalidOptionsError(
      'maxSamples',
      `maxSamples must be 'auto', a fraction in (0, 1] or an integer >= 2, got ${describeValue(maxSamples)}`,
    );
  }
  const maxFeatures = obj.maxFeatures ?? 1;
  if (!isFractionOrCount(maxFeatures)) {
    throw new InvalidOptionsError(
      'maxFeatures',
      `maxFeatures must be a fraction in (0, 1] or an integer >= 2, got ${describeValue(maxFeatures)}`,
    );
  }
  const contamination = obj.contamination ?? 'auto';
  if (
    contamination !== 'auto' &&
    !(typeof contamination === 'number' && contamination > 0 && contamination <= 0.5)
  ) {
    throw new InvalidOptionsError(
      'contamination',
      `contamination must be 'auto' or a fraction in (0, 0.5], got ${describeValue(contamination)}`,
    );
  }
  const bootstrap = obj.bootstrap ?? false;
  if (typeof bootstrap !== 'boolean') {
    throw new InvalidOptionsError(
      'bootstrap',
      `bootstrap must be a boolean, got ${describeValue(bootstrap)}`,
    );
  }
  const seed = obj.seed ?? 0;
  if (
    typeof seed !== 'string' &&
    !(typeof seed === 'number' && Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)
  ) {
    throw new InvalidOptionsError(
      'seed',
      `seed must be an integer in [0, 4294967295] or a string, got ${describeValue(seed)}`,
    );
  }
  return { nEstimators, maxSamples, maxFeatures, contamination, bootstrap, seed };
}

function isFractionOrCount(v: unknown): v is number {
  return typeof v === 'number' && ((v > 0 && v <= 1) || (Number.isInteger(v) && v >= 2));
}

/**
 * The fitted forest as flat node tables, one entry per node of every tree; tree `t` owns
 * nodes `[treeOffsets[t], treeOffsets[t + 1])` and its root is `treeOffsets[t]`. A row goes
 * to `left` when `x[feature] <= threshold`, else to `right`; the two children of a node are
 * always adjacent (`right = left + 1`) and numbered after their parent.
 */
export interface IsolationForestNodes {
  /** nEstimators + 1 entries; the last is the total node count. */
  readonly treeOffsets: Int32Array;
  /** Column the node splits on; −1 at a leaf. */
  readonly feature: Int32Array;
  /** Split value; 0 at a leaf. */
  readonly threshold: Float64Array;
  /** Child for `x[feature] <= threshold`; −1 at a leaf. */
  readonly left: Int32Array;
  /** Child for `x[feature] > threshold`; −1 at a leaf. */
  readonly right: Int32Array;
  /** Number of training rows (of the tree's draw, repeats counted) that reached the node. */
  readonly nodeSize: Int32Array;
  /** At a leaf, depth + c(nodeSize): the path length credited to rows ending there; 0 elsewhere. */
  readonly pathLength: Float64Array;
}

/** What {@link IsolationForest.toJSON} returns and {@link IsolationForest.fromJSON} accepts. */
export interface IsolationForestJSON {
  readonly format: 'faultline.isolation-forest';
  readonly version: 1;
  readonly options: ResolvedIsolationForestOptions;
  readonly nFeaturesIn: number;
  readonly maxSamplesUsed: number;
  readonly maxFeaturesUsed: number;
  readonly offset: number;
  /** Per tree, the columns it could split on. */
  readonly estimatorsFeatures: number[][];
  /** Each table of {@link IsolationForestNodes} as base64 of its little-endian bytes. */
  readonly nodes: Record<keyof IsolationForestNodes, string>;
}

interface FittedForest {
  readonly nFeaturesIn: number;
  readonly maxSamplesUsed: number;
  readonly maxFeaturesUsed: number;
  readonly offset: number;
  readonly estimatorsFeatures: readonly Int32Array[];
  readonly nodes: IsolationForestNodes;
  /** nEstimators · c(maxSamplesUsed): divides the summed path lengths. */
  readonly normaliser: number;
  readonly walk: WalkTables;
}

/**
 * The node tables rearranged for scoring. Every walk takes exactly `steps` (the forest's
 * height) steps and each step is `node = child[node] + (x[feature[node]] > threshold[node])`:
 * a leaf points to itself with threshold +∞, so a walk that reaches it stays there. No
 * data-dependent branch means no mispredictions, and independent walks can overlap.
 */
interface WalkTables {
  readonly roots: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly child: Int32Array;
  readonly pathLength: Float64Array;
  readonly steps: number;
}

function buildWalkTables(t: IsolationForestNodes): WalkTables {
  const total = t.feature.length;
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const child = new Int32Array(total);
  const depth = new Int32Array(total);
  let steps = 0;
  // Children are numbered after their parent, so one forward pass settles every depth.
  for (let node = 0; node < total; node++) {
    const col = t.feature[node] as number;
    if (col < 0) {
      feature[node] = 0;
      threshold[node] = Infinity;
      child[node] = node;
      continue;
    }
    const left = t.left[node] as number;
    feature[node] = col;
    threshold[node] = t.threshold[node] as number;
    child[node] = left;
    // max(): tables loaded from JSON could give a node two parents; take its longest path.
    const below = (depth[node] as number) + 1;
    if (below > (depth[left] as number)) depth[left] = below;
    if (below > (depth[left + 1] as number)) depth[left + 1] = below;
    if (below > steps) steps = below;
  }
  return {
    roots: t.treeOffsets.subarray(0, t.treeOffsets.length - 1),
    feature,
    threshold,
    child,
    pathLength: t.pathLength,
    steps,
  };
}

/** s(x) from the path lengths summed over all trees. */
function scoreFromPathSum(sum: number, normaliser: number): number {
  // c(ψ) = 0 when ψ = 1: every row is alike, and scikit-learn scores it 0.5.
  return normaliser === 0 ? 0.5 : Math.pow(2, -sum / normaliser);
}

/**
 * Isolation Forest: an unsupervised outlier detector that isolates rows by random axis-aligned
 * splits. Anomalies are few and different, so they are isolated in fewer splits than inliers.
 *
 * Parameters (see {@link IsolationForestOptions}):
 * - `nEstimators`: number, default 100. Number of trees.
 * - `maxSamples`: 'auto' | number, default 'auto'. Rows drawn per tree (ψ): min(256, n) for
 *   'auto', a fraction of n in (0, 1], or an integer count ≥ 2.
 * - `maxFeatures`: number, default 1 (all). Columns available to each tree, fraction or count.
 * - `contamination`: 'auto' | number, default 'auto'. Sets the offset: −0.5 for 'auto', else
 *   the given percentile of the training scores.
 * - `bootstrap`: boolean, default false. Draw rows with replacement.
 * - `seed`: number | string, default 0. Seed of every random draw.
 *
 * Fitted attributes (read them after {@link fit}; they throw {@link NotFittedError} before):
 * - `offset`: number. Subtracted from `scoreSamples` to give `decisionFunction`.
 * - `maxSamplesUsed`: number. The ψ actually used.
 * - `maxFeaturesUsed`: number. Columns each tree could split on.
 * - `nFeaturesIn`: number. Column count seen by `fit`; later input must match.
 * - `estimatorsFeatures`: Int32Array[]. Per tree, the columns it could split on.
 * - `nodes`: {@link IsolationForestNodes}. The node tables of all trees.
 *
 * Notes:
 * Each tree is grown on ψ rows by picking a column at random among those not constant in the
 * node, and a threshold uniformly between that column's minimum and maximum in the node,
 * until a node holds one row or reaches the height limit ceil(log2 ψ). A row's path length
 * h(x) in a tree is the depth of the leaf it lands in plus c(size of that leaf), which
 * estimates the depth the unbuilt subtree would have added. The anomaly score is
 *
 *     s(x) = 2^(−E[h(x)] / c(ψ)),   c(n) = 2H(n−1) − 2(n−1)/n,   H(i) ≈ ln(i) + 0.5772156649
 *
 * with E[h(x)] the mean over trees; s is near 1 for anomalies, well below 0.5 for inliers,
 * and about 0.5 everywhere when nothing stands out. As in scikit-learn, `scoreSamples`
 * returns −s(x) (higher is more normal), `decisionFunction` returns scoreSamples − offset
 * (negative is an outlier) and `predict` returns −1 where it is negative, else +1.
 * Differences from scikit-learn: inputs stay float64 (scikit-learn casts to float32), and
 * draws come from our seeded generator, so forests equal scikit-learn's in distribution, not
 * bit for bit.
 *
 * References:
 * - F. T. Liu, K. M. Ting, Z.-H. Zhou. "Isolation Forest". ICDM 2008, pp. 413–422.
 * - F. T. Liu, K. M. Ting, Z.-H. Zhou. "Isolation-Based Anomaly Detection". ACM TKDD 6(1), 2012.
 * - scikit-learn, `sklearn.ensemble.IsolationForest`.
 *
 * @example
 * ```ts
 * const X = fromRows([[0, 0], [0.1, -0.1], [-0.1, 0.1], [0.05, 0], [8, 8]]);
 * const forest = new IsolationForest({ nEstimators: 50, seed: 1 }).fit(X);
 * forest.predict(X); // Int8Array [1, 1, 1, 1, -1]
 * ```
 */
export class IsolationForest {
  /** The options this forest was built with, after defaults and validation. */
  readonly options: ResolvedIsolationForestOptions;
  #fitted: FittedForest | undefined;

  constructor(options: IsolationForestOptions = {}) {
    this.options = resolveIsolationForestOptions(options);
  }

  /** Whether {@link fit} (or {@link fromJSON}) has run. */
  get isFitted(): boolean {
    return this.#fitted !== undefined;
  }

  /** Subtracted from `scoreSamples` to give `decisionFunction`: −0.5 for contamination 'auto'. */
  get offset(): number {
    return this.#require('offset').offset;
  }

  /** The number of rows each tree was grown on (ψ). */
  get maxSamplesUsed(): number {
    return this.#require('maxSamplesUsed').maxSamplesUsed;
  }

  /** The number of columns each tree could split on. */
  get maxFeaturesUsed(): number {
    return this.#require('maxFeaturesUsed').maxFeaturesUsed;
  }

  /** The number of columns of the training matrix; later input must have as many. */
  get nFeaturesIn(): number {
    return this.#require('nFeaturesIn').nFeaturesIn;
  }

  /** Per tree, the columns it could split on (all columns unless `maxFeatures` < 1). */
  get estimatorsFeatures(): readonly Int32Array[] {
    return this.#require('estimatorsFeatures').estimatorsFeatures;
  }

  /** The node tables of all trees. Treat them as read-only. */
  get nodes(): IsolationForestNodes {
    return this.#require('nodes').nodes;
  }

  /**
   * Grows the forest on `X` (rows are samples) and sets the offset. Returns `this`.
   * Throws {@link ShapeMismatchError} for a matrix with no rows or columns,
   * {@link NonFiniteInputError} naming the row and column of a NaN or infinite value, and
   * {@link InvalidOptionsError} when an integer `maxFeatures` exceeds the column count.
   */
  fit(X: Matrix): this {
    assertFiniteMatrix(X);
    if (X.rows < 1 || X.cols < 1) {
      throw new ShapeMismatchError(
        `X has shape ${X.rows}x${X.cols}: fit needs at least one row and one column`,
      );
    }
    const opts = this.options;
    const n = X.rows;
    const d = X.cols;
    const psi =
      opts.maxSamples === 'auto'
        ? Math.min(256, n)
        : opts.maxSamples <= 1
          ? Math.max(1, Math.floor(opts.maxSamples * n))
          : Math.min(opts.maxSamples, n);
    let k: number;
    if (opts.maxFeatures <= 1) {
      k = Math.max(1, Math.floor(opts.maxFeatures * d));
    } else if (opts.maxFeatures <= d) {
      k = opts.maxFeatures;
    } else {
      throw new InvalidOptionsError(
        'maxFeatures',
        `maxFeatures must be at most the number of columns (${d}), got ${opts.maxFeatures}`,
      );
    }
    const grown = growForest(X, opts.nEstimators, psi, k, opts.bootstrap, createRng(opts.seed));
    const fitted: FittedForest = {
      nFeaturesIn: d,
      maxSamplesUsed: psi,
      maxFeaturesUsed: k,
      offset: -0.5,
      estimatorsFeatures: grown.estimatorsFeatures,
      nodes: grown.nodes,
      normaliser: opts.nEstimators * averagePathLength(psi),
      walk: buildWalkTables(grown.nodes),
    };
    if (opts.contamination !== 'auto') {
      const scores = new Float64Array(n);
      scoreInto(fitted, X.data, n, scores);
      this.#fitted = { ...fitted, offset: percentile(scores, 100 * opts.contamination) };
    } else {
      this.#fitted = fitted;
    }
    return this;
  }

  /**
   * The opposite of the anomaly score of each row, −s(x), in [−1, 0): the lower, the more
   * abnormal (scikit-learn's `score_samples`). Throws {@link NotFittedError} before `fit`,
   * {@link ShapeMismatchError} for a column count other than `nFeaturesIn` and
   * {@link NonFiniteInputError} for NaN or infinite values.
   */
  scoreSamples(X: Matrix): Float64Array {
    const fitted = this.#checkInput(X, 'scoreSamples');
    const out = new Float64Array(X.rows);
    scoreInto(fitted, X.data, X.rows, out);
    return out;
  }

  /** `scoreSamples(X) − offset`: negative for outliers, positive for inliers, 0 on the threshold. */
  decisionFunction(X: Matrix): Float64Array {
    const fitted = this.#checkInput(X, 'decisionFunction');
    const out = new Float64Array(X.rows);
    scoreInto(fitted, X.data, X.rows, out);
    const offset = fitted.offset;
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) - offset;
    return out;
  }

  /** +1 for inliers and −1 for outliers (where `decisionFunction` is negative), per row. */
  predict(X: Matrix): Int8Array {
    const fitted = this.#checkInput(X, 'predict');
    const scores = new Float64Array(X.rows);
    scoreInto(fitted, X.data, X.rows, scores);
    const out = new Int8Array(X.rows);
    const offset = fitted.offset;
    for (let i = 0; i < out.length; i++) out[i] = (scores[i] as number) - offset < 0 ? -1 : 1;
    return out;
  }

  /**
   * The anomaly score s(x) in (0, 1] of one row (`nFeaturesIn` finite values); near 1 is
   * anomalous, and `-anomalyScore(x)` equals `scoreSamples` of that row. Allocates nothing,
   * for scoring a stream one sample at a time.
   */
  anomalyScore(row: ArrayLike<number>): number {
    const fitted = this.#require('anomalyScore');
    const d = fitted.nFeaturesIn;
    if (row.length !== d) {
      throw new ShapeMismatchError(
        `row has ${row.length} values, but this IsolationForest was fitted with ${d} columns`,
      );
    }
    for (let j = 0; j < d; j++) {
      const v = row[j] as number;
      if (v - v !== 0) throw new NonFiniteInputError('row', 0, j, v);
    }
    return scoreOne(fitted, row, 0);
  }

  /**
   * The fitted forest as a plain JSON-safe object (node tables as base64 of little-endian
   * bytes). {@link fromJSON} of it scores every row with the same bits as this forest.
   */
  toJSON(): IsolationForestJSON {
    const f = this.#require('toJSON');
    const t = f.nodes;
    return {
      format: 'faultline.isolation-forest',
      version: 1,
      options: { ...this.options },
      nFeaturesIn: f.nFeaturesIn,
      maxSamplesUsed: f.maxSamplesUsed,
      maxFeaturesUsed: f.maxFeaturesUsed,
      offset: f.offset,
      estimatorsFeatures: f.estimatorsFeatures.map((cols) => Array.from(cols)),
      nodes: {
        treeOffsets: encodeInt32(t.treeOffsets),
        feature: encodeInt32(t.feature),
        threshold: encodeFloat64(t.threshold),
        left: encodeInt32(t.left),
        right: encodeInt32(t.right),
        nodeSize: encodeInt32(t.nodeSize),
        pathLength: encodeFloat64(t.pathLength),
      },
    };
  }

  /**
   * Loads a forest saved by {@link toJSON} (after `JSON.parse`). Checks the format tag, the
   * version and that the tables form valid trees; throws {@link MalformedModelError} otherwise.
   */
  static fromJSON(json: unknown): IsolationForest {
    const { options, fitted } = loadForest(json);
    const forest = new IsolationForest(options);
    forest.#fitted = fitted;
    return forest;
  }

  #require(method: string): FittedForest {
    const fitted = this.#fitted;
    if (fitted === undefined) throw new NotFittedError('IsolationForest', method);
    return fitted;
  }

  #checkInput(X: Matrix, method: string): FittedForest {
    const fitted = this.#require(method);
    if (X.cols !== fitted.nFeaturesIn) {
      throw new ShapeMismatchError(
        `X has ${X.cols} columns, but this IsolationForest was fitted with ${fitted.nFeaturesIn}`,
      );
    }
    assertFiniteMatrix(X);
    return fitted;
  }
}

/** s(x) of the row of `x` starting at `base`. */
function scoreOne(f: FittedForest, x: ArrayLike<number>, base: number): number {
  const { roots, feature, threshold, child, pathLength, steps } = f.walk;
  const nTrees = roots.length;
  let sum = 0;
  let tree = 0;
  // One row walks four trees at once, for the same overlap of loads as in scoreInto; the sum
  // still adds trees in order, so the result has the same bits.
  for (; tree + 4 <= nTrees; tree += 4) {
    let n0 = roots[tree] as number;
    let n1 = roots[tree + 1] as number;
    let n2 = roots[tree + 2] as number;
    let n3 = roots[tree + 3] as number;
    for (let step = 0; step < steps; step++) {
      n0 =
        (child[n0] as number) + +((x[base + (feature[n0] as number)] as number) > (threshold[n0] as number));
      n1 =
        (child[n1] as number) + +((x[base + (feature[n1] as number)] as number) > (threshold[n1] as number));
      n2 =
        (child[n2] as number) + +((x[base + (feature[n2] as number)] as number) > (threshold[n2] as number));
      n3 =
        (child[n3] as number) + +((x[base + (feature[n3] as number)] as number) > (threshold[n3] as number));
    }
    sum += pathLength[n0] as number;
    sum += pathLength[n1] as number;
    sum += pathLength[n2] as number;
    sum += pathLength[n3] as number;
  }
  for (; tree < nTrees; tree++) {
    let node = roots[tree] as number;
    for (let step = 0; step < steps; step++) {
      node =
        (child[node] as number) +
        +((x[base + (feature[node] as number)] as number) > (threshold[node] as number));
    }
    sum += pathLength[node] as number;
  }
  return scoreFromPathSum(sum, f.normaliser);
}

/** Writes −s(x) of each of `rows` rows of `data` (row-major, nFeaturesIn columns) into `out`. */
function scoreInto(f: FittedForest, data: Float64Array, rows: number, out: Float64Array): void {
  const { roots, feature, threshold, child, pathLength, steps } = f.walk;
  const d = f.nFeaturesIn;
  const normaliser = f.normaliser;
  let i = 0;
  // Four rows walk each tree together: their loads are independent, so the CPU overlaps them
  // instead of waiting on one chain of dependent loads. Sums keep the tree order of scoreOne,
  // so both give the same bits.
  for (; i + 4 <= rows; i += 4) {
    const b0 = i * d;
    const b1 = b0 + d;
    const b2 = b1 + d;
    const b3 = b2 + d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let tree = 0; tree < roots.length; tree++) {
      const root = roots[tree] as number;
      let n0 = root;
      let n1 = root;
      let n2 = root;
      let n3 = root;
      for (let step = 0; step < steps; step++) {
        n0 =
          (child[n0] as number) +
          +((data[b0 + (feature[n0] as number)] as number) > (threshold[n0] as number));
        n1 =
          (child[n1] as number) +
          +((data[b1 + (feature[n1] as number)] as number) > (threshold[n1] as number));
        n2 =
          (child[n2] as number) +
          +((data[b2 + (feature[n2] as number)] as number) > (threshold[n2] as number));
        n3 =
          (child[n3] as number) +
          +((data[b3 + (feature[n3] as number)] as number) > (threshold[n3] as number));
      }
      s0 += pathLength[n0] as number;
      s1 += pathLength[n1] as number;
      s2 += pathLength[n2] as number;
      s3 += pathLength[n3] as number;
    }
    out[i] = -scoreFromPathSum(s0, normaliser);
    out[i + 1] = -scoreFromPathSum(s1, normaliser);
    out[i + 2] = -scoreFromPathSum(s2, normaliser);
    out[i + 3] = -scoreFromPathSum(s3, normaliser);
  }
  for (; i < rows; i++) out[i] = -scoreOne(f, data, i * d);
}

interface GrownForest {
  readonly nodes: IsolationForestNodes;
  readonly estimatorsFeatures: Int32Array[];
}

/**
 * Grows `nTrees` isolation trees of `psi` rows and `k` columns each. Per tree, the drawn rows'
 * values of the tree's columns are gathered into a small local block so that splits scan
 * contiguous memory, and rows are partitioned in place in an index array.
 */
function growForest(
  X: Matrix,
  nTrees: number,
  psi: number,
  k: number,
  bootstrap: boolean,
  rng: Rng,
): GrownForest {
  const n = X.rows;
  const d = X.cols;
  const data = X.data;
  const maxDepth = Math.ceil(Math.log2(Math.max(psi, 2)));
  const perTree = 2 * psi - 1;
  const capacity = nTrees * perTree;
  const feature = new Int32Array(capacity);
  const threshold = new Float64Array(capacity);
  const left = new Int32Array(capacity);
  const right = new Int32Array(capacity);
  const nodeSize = new Int32Array(capacity);
  const pathLength = new Float64Array(capacity);
  const treeOffsets = new Int32Array(nTrees + 1);
  const estimatorsFeatures: Int32Array[] = [];

  // A permutation carried over from tree to tree: a partial Fisher–Yates shuffle of any
  // permutation draws a uniform subset, so it never needs resetting (O(ψ) per tree, not O(n)).
  const rowPerm = new Int32Array(n);
  for (let i = 0; i < n; i++) rowPerm[i] = i;
  const colPerm = new Int32Array(d);
  for (let j = 0; j < d; j++) colPerm[j] = j;
  const drawn = new Int32Array(psi);
  const block = new Float64Array(psi * k);
  const order = new Int32Array(psi);
  const candidates = new Int32Array(k);
  // Depth-first stack: a node pushes two children after popping itself, so depth + 2 suffices.
  const stackNode = new Int32Array(maxDepth + 2);
  const stackStart = new Int32Array(maxDepth + 2);
  const stackEnd = new Int32Array(maxDepth + 2);
  const stackDepth = new Int32Array(maxDepth + 2);

  let next = 0;
  for (let tree = 0; tree < nTrees; tree++) {
    if (bootstrap) {
      for (let i = 0; i < psi; i++) drawn[i] = rng.int(n);
    } else if (psi === n) {
      // Splits depend on the set of rows only, not their order: no shuffle needed.
      drawn.set(rowPerm);
    } else {
      for (let i = 0; i < psi; i++) {
        const j = i + rng.int(n - i);
        const tmp = rowPerm[i] as number;
        rowPerm[i] = rowPerm[j] as number;
        rowPerm[j] = tmp;
        drawn[i] = rowPerm[i] as number;
      }
    }
    if (k < d) {
      for (let j = 0; j < k; j++) {
        const r = j + rng.int(d - j);
        const tmp = colPerm[j] as number;
        colPerm[j] = colPerm[r] as number;
        colPerm[r] = tmp;
      }
    }
    const cols = colPerm.slice(0, k);
    estimatorsFeatures.push(cols);
    for (let i = 0; i < psi; i++) {
      const src = (drawn[i] as number) * d;
      const dst = i * k;
      for (let j = 0; j < k; j++) block[dst + j] = data[src + (cols[j] as number)] as number;
      order[i] = i;
    }

    const root = next++;
    treeOffsets[tree] = root;
    let top = 0;
    stackNode[0] = root;
    stackStart[0] = 0;
    stackEnd[0] = psi;
    stackDepth[0] = 0;
    top = 1;
    while (top > 0) {
      top--;
      const node = stackNode[top] as number;
      const start = stackStart[top] as number;
      const end = stackEnd[top] as number;
      const depth = stackDepth[top] as number;
      const size = end - start;
      nodeSize[node] = size;

      let splitCol = -1;
      let lo = 0;
      let hi = 0;
      if (depth < maxDepth && size > 1) {
        for (let j = 0; j < k; j++) candidates[j] = j;
        let remaining = k;
        while (remaining > 0) {
          const r = rng.int(remaining);
          const c = candidates[r] as number;
          lo = Infinity;
          hi = -Infinity;
          for (let p = start; p < end; p++) {
            const v = block[(order[p] as number) * k + c] as number;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
          if (hi > lo) {
            splitCol = c;
            break;
          }
          // Constant in this node: never draw it again here.
          candidates[r] = candidates[remaining - 1] as number;
          candidates[remaining - 1] = c;
          remaining--;
        }
      }

      if (splitCol < 0) {
        feature[node] = -1;
        threshold[node] = 0;
        left[node] = -1;
        right[node] = -1;
        pathLength[node] = depth + averagePathLength(size);
        continue;
      }

      let thr = lo + rng.next() * (hi - lo);
      // Rounding can land on hi, which would leave the right child empty.
      if (thr >= hi) thr = lo;
      let i = start;
      let j = end - 1;
      while (i <= j) {
        const oi = order[i] as number;
        if ((block[oi * k + splitCol] as number) <= thr) {
          i++;
        } else {
          order[i] = order[j] as number;
          order[j] = oi;
          j--;
        }
      }
      const childL = next;
      next += 2;
      feature[node] = cols[splitCol] as number;
      threshold[node] = thr;
      left[node] = childL;
      right[node] = childL + 1;
      pathLength[node] = 0;

      stackNode[top] = childL + 1;
      stackStart[top] = i;
      stackEnd[top] = end;
      stackDepth[top] = depth + 1;
      top++;
      stackNode[top] = childL;
      stackStart[top] = start;
      stackEnd[top] = i;
      stackDepth[top] = depth + 1;
      top++;
    }
  }
  treeOffsets[nTrees] = next;

  return {
    nodes: {
      treeOffsets,
      feature: feature.slice(0, next),
      threshold: threshold.slice(0, next),
      left: left.slice(0, next),
      right: right.slice(0, next),
      nodeSize: nodeSize.slice(0, next),
      pathLength: pathLength.slice(0, next),
    },
    estimatorsFeatures,
  };
}

/** numpy's default percentile (linear interpolation between closest ranks), q in [0, 100]. */
function percentile(values: Float64Array, q: number): number {
  const sorted = Float64Array.from(values).sort();
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

function encodeInt32(values: Int32Array): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setInt32(i * 4, values[i] as number, true);
  return Buffer.from(view.buffer).toString('base64');
}

function encodeFloat64(values: Float64Array): string {
  const view = new DataView(new ArrayBuffer(values.length * 8));
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i] as number, true);
  return Buffer.from(view.buffer).toString('base64');
}

function decodeBytes(field: string, value: unknown, width: number): DataView {
  if (typeof value !== 'string') throw malformed(`nodes.${field} must be a base64 string`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length % width !== 0) {
    throw malformed(`nodes.${field} has ${bytes.length} bytes, not a multiple of ${width}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

function decodeInt32(field: string, value: unknown): Int32Array {
  const view = decodeBytes(field, value, 4);
  const out = new Int32Array(view.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

function decodeFloat64(field: string, value: unknown): Float64Array {
  const view = decodeBytes(field, value, 8);
  const out = new Float64Array(view.byteLength / 8);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

function malformed(reason: string, cause?: unknown): MalformedModelError {
  return new MalformedModelError('IsolationForest', reason, cause === undefined ? undefined : { cause });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function loadForest(json: unknown): { options: ResolvedIsolationForestOptions; fitted: FittedForest } {
  if (!isRecord(json)) throw malformed('expected an object');
  if (json['format'] !== 'faultline.isolation-forest') {
    throw malformed(`format must be "faultline.isolation-forest", got ${JSON.stringify(json['format'])}`);
  }
  if (json['version'] !== 1) throw malformed(`unsupported version ${JSON.stringify(json['version'])}`);
  let options: ResolvedIsolationForestOptions;
  try {
    options = resolveIsolationForestOptions(json['options'] as IsolationForestOptions);
  } catch (err) {
    throw malformed('options are invalid', err);
  }
  const d = json['nFeaturesIn'];
  const psi = json['maxSamplesUsed'];
  const k = json['maxFeaturesUsed'];
  const offset = json['offset'];
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1)
    throw malformed('nFeaturesIn must be an integer >= 1');
  if (typeof psi !== 'number' || !Number.isInteger(psi) || psi < 1) {
    throw malformed('maxSamplesUsed must be an integer >= 1');
  }
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > d) {
    throw malformed(`maxFeaturesUsed must be an integer in [1, ${d}]`);
  }
  if (typeof offset !== 'number' || !Number.isFinite(offset))
    throw malformed('offset must be a finite number');
  const rawNodes = json['nodes'];
  if (!isRecord(rawNodes)) throw malformed('nodes must be an object');
  const nodes: IsolationForestNodes = {
    treeOffsets: decodeInt32('treeOffsets', rawNodes['treeOffsets']),
    feature: decodeInt32('feature', rawNodes['feature']),
    threshold: decodeFloat64('threshold', rawNodes['threshold']),
    left: decodeInt32('left', rawNodes['left']),
    right: decodeInt32('right', rawNodes['right']),
    nodeSize: decodeInt32('nodeSize', rawNodes['nodeSize']),
    pathLength: decodeFloat64('pathLength', rawNodes['pathLength']),
  };
  const nTrees = options.nEstimators;
  checkNodes(nodes, nTrees, d);
  const rawFeatures = json['estimatorsFeatures'];
  if (!Array.isArray(rawFeatures) || rawFeatures.length !== nTrees) {
    throw malformed(`estimatorsFeatures must be an array of ${nTrees} arrays`);
  }
  const estimatorsFeatures = rawFeatures.map((cols: unknown, t) => {
    if (
      !Array.isArray(cols) ||
      cols.length !== k ||
      !cols.every((c) => typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < d)
    ) {
      throw malformed(`estimatorsFeatures[${t}] must hold ${k} column indices in [0, ${d})`);
    }
    return Int32Array.from(cols as number[]);
  });
  const fitted: FittedForest = {
    nFeaturesIn: d,
    maxSamplesUsed: psi,
    maxFeaturesUsed: k,
    offset,
    estimatorsFeatures,
    nodes,
    normaliser: nTrees * averagePathLength(psi),
    walk: buildWalkTables(nodes),
  };
  return { options, fitted };
}

/** Rejects tables whose walks could leave the tree, loop, or read outside a row. */
function checkNodes(t: IsolationForestNodes, nTrees: number, d: number): void {
  const total = t.feature.length;
  for (const key of ['threshold', 'left', 'right', 'nodeSize', 'pathLength'] as const) {
    if (t[key].length !== total) {
      throw malformed(`nodes.${key} has ${t[key].length} entries, expected ${total}`);
    }
  }
  if (t.treeOffsets.length !== nTrees + 1) {
    throw malformed(`nodes.treeOffsets has ${t.treeOffsets.length} entries, expected ${nTrees + 1}`);
  }
  if (t.treeOffsets[0] !== 0 || t.treeOffsets[nTrees] !== total) {
    throw malformed(`nodes.treeOffsets must run from 0 to ${total}`);
  }
  for (let tree = 0; tree < nTrees; tree++) {
    const start = t.treeOffsets[tree] as number;
    const end = t.treeOffsets[tree + 1] as number;
    if (end <= start) throw malformed(`tree ${tree} has no nodes`);
    for (let node = start; node < end; node++) {
      const col = t.feature[node] as number;
      if (col === -1) {
        if (!Number.isFinite(t.pathLength[node] as number))
          throw malformed(`leaf ${node} has no finite path length`);
        continue;
      }
      const l = t.left[node] as number;
      const r = t.right[node] as number;
      // Children numbered after their parent and inside the tree: every walk ends at a leaf.
      if (col < 0 || col >= d || l <= node || r !== l + 1 || r >= end) {
        throw malformed(`node ${node} of tree ${tree} has an invalid column or child`);
      }
      if (Number.isNaN(t.threshold[node] as number)) throw malformed(`node ${node} has a NaN threshold`);
    }
  }
}
