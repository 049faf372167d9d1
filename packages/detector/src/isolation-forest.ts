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
 * The node tables rearranged for scoring, one 16-byte record per node: a step of a walk reads
 * one cache line instead of one per table, and a node takes 16 bytes instead of 24. The live
 * runner scores a host's samples after other hosts', so its forest is mostly out of the CPU
 * caches and the lines a walk touches are what scoring costs. Each tree's records are in
 * breadth-first order, so that its top levels share lines.
 *
 * Record `n` is `value[2n]` (float64) and `link[4n + 2]`, `link[4n + 3]` (int32 views of the
 * same bytes). An inner node holds its threshold, its split column and its left child (the
 * right child is the next record). A leaf holds its path length, the column `nFeaturesIn`
 * (where the copy of the row being scored holds NaN) and itself: `NaN > v` is false, so a walk
 * that reaches a leaf stays there. Every walk takes exactly `steps` (the forest's height) steps
 * of `node = link[4n + 3] + (x[link[4n + 2]] > value[2n])`: no data-dependent branch means no
 * mispredictions, and independent walks can overlap.
 */
interface WalkTables {
  readonly roots: Int32Array;
  readonly value: Float64Array;
  readonly link: Int32Array;
  readonly steps: number;
  /** Scratch for one row: its nFeaturesIn values, then NaN (the leaves' column). */
  readonly row: Float64Array;
  /** Scratch for four rows of nFeaturesIn + 1 values, each ending in NaN. */
  readonly rows4: Float64Array;
  /** Scratch for the four rows' path length sums. */
  readonly sums4: Float64Array;
}

function buildWalkTables(t: IsolationForestNodes, d: number): WalkTables {
  const total = t.feature.length;
  const nTrees = t.treeOffsets.length - 1;
  // Children are numbered after their parent, so one forward pass settles every depth.
  const depth = new Int32Array(total);
  let steps = 0;
  for (let node = 0; node < total; node++) {
    const left = t.left[node] as number;
    if ((t.feature[node] as number) < 0) continue;
    // max(): tables loaded from JSON could give a node two parents; take its longest path.
    const below = (depth[node] as number) + 1;
    if (below > (depth[left] as number)) depth[left] = below;
    if (below > (depth[left + 1] as number)) depth[left + 1] = below;
    if (below > steps) steps = below;
  }
  // Breadth-first renumbering. A child pair gets its records when it is first reached; tables
  // loaded from JSON could share a pair between parents (then they share its records), or
  // overlap two pairs (then the node in both is copied): at most nTrees + 2·total records.
  const pairAt = new Int32Array(total).fill(-1);
  const queue = new Int32Array(2 * total + nTrees);
  const placed = new Int32Array(2 * total + nTrees);
  let records = 0;
  let tail = 0;
  const roots = new Int32Array(nTrees);
  for (let tree = 0; tree < nTrees; tree++) {
    roots[tree] = records;
    queue[tail] = t.treeOffsets[tree] as number;
    placed[tail++] = records++;
  }
  for (let head = 0; head < tail; head++) {
    const node = queue[head] as number;
    if ((t.feature[node] as number) < 0) continue;
    const left = t.left[node] as number;
    if ((pairAt[left] as number) >= 0) continue;
    pairAt[left] = records;
    queue[tail] = left;
    placed[tail++] = records++;
    queue[tail] = left + 1;
    placed[tail++] = records++;
  }
  const buffer = new ArrayBuffer(16 * records);
  const value = new Float64Array(buffer);
  const link = new Int32Array(buffer);
  for (let head = 0; head < tail; head++) {
    const node = queue[head] as number;
    const at = placed[head] as number;
    const col = t.feature[node] as number;
    if (col < 0) {
      value[2 * at] = t.pathLength[node] as number;
      link[4 * at + 2] = d;
      link[4 * at + 3] = at;
    } else {
      value[2 * at] = t.threshold[node] as number;
      link[4 * at + 2] = col;
      link[4 * at + 3] = pairAt[t.left[node] as number] as number;
    }
  }
  const row = new Float64Array(d + 1);
  row[d] = NaN;
  const rows4 = new Float64Array(4 * (d + 1));
  for (let r = 1; r <= 4; r++) rows4[r * (d + 1) - 1] = NaN;
  return { roots, value, link, steps, row, rows4, sums4: new Float64Array(4) };
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
      walk: buildWalkTables(grown.nodes, d),
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
    const x = fitted.walk.row;
    for (let j = 0; j < d; j++) {
      const v = row[j] as number;
      if (v - v !== 0) throw new NonFiniteInputError('row', 0, j, v);
      x[j] = v;
    }
    return scoreFromPathSum(pathSum(fitted.walk, x, 0), fitted.normaliser);
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

/** The summed path lengths of the row in `x` from `base` (nFeaturesIn values, then NaN) over every tree. */
function pathSum(w: WalkTables, x: Float64Array, base: number): number {
  const { roots, value, link, steps } = w;
  const nTrees = roots.length;
  let sum = 0;
  let tree = 0;
  // Eight trees at once: a forest that is not in the CPU caches costs a miss per step, and
  // eight independent walks keep eight of them in flight. The sum still adds trees in order,
  // so every way of scoring a row gives the same bits.
  for (; tree + 8 <= nTrees; tree += 8) {
    let n0 = roots[tree] as number;
    let n1 = roots[tree + 1] as number;
    let n2 = roots[tree + 2] as number;
    let n3 = roots[tree + 3] as number;
    let n4 = roots[tree + 4] as number;
    let n5 = roots[tree + 5] as number;
    let n6 = roots[tree + 6] as number;
    let n7 = roots[tree + 7] as number;
    for (let step = 0; step < steps; step++) {
      n0 =
        (link[4 * n0 + 3] as number) +
        +((x[base + (link[4 * n0 + 2] as number)] as number) > (value[2 * n0] as number));
      n1 =
        (link[4 * n1 + 3] as number) +
        +((x[base + (link[4 * n1 + 2] as number)] as number) > (value[2 * n1] as number));
      n2 =
        (link[4 * n2 + 3] as number) +
        +((x[base + (link[4 * n2 + 2] as number)] as number) > (value[2 * n2] as number));
      n3 =
        (link[4 * n3 + 3] as number) +
        +((x[base + (link[4 * n3 + 2] as number)] as number) > (value[2 * n3] as number));
      n4 =
        (link[4 * n4 + 3] as number) +
        +((x[base + (link[4 * n4 + 2] as number)] as number) > (value[2 * n4] as number));
      n5 =
        (link[4 * n5 + 3] as number) +
        +((x[base + (link[4 * n5 + 2] as number)] as number) > (value[2 * n5] as number));
      n6 =
        (link[4 * n6 + 3] as number) +
        +((x[base + (link[4 * n6 + 2] as number)] as number) > (value[2 * n6] as number));
      n7 =
        (link[4 * n7 + 3] as number) +
        +((x[base + (link[4 * n7 + 2] as number)] as number) > (value[2 * n7] as number));
    }
    sum += value[2 * n0] as number;
    sum += value[2 * n1] as number;
    sum += value[2 * n2] as number;
    sum += value[2 * n3] as number;
    sum += value[2 * n4] as number;
    sum += value[2 * n5] as number;
    sum += value[2 * n6] as number;
    sum += value[2 * n7] as number;
  }
  for (; tree < nTrees; tree++) {
    let node = roots[tree] as number;
    for (let step = 0; step < steps; step++) {
      node =
        (link[4 * node + 3] as number) +
        +((x[base + (link[4 * node + 2] as number)] as number) > (value[2 * node] as number));
    }
    sum += value[2 * node] as number;
  }
  return sum;
}

/**
 * Sums the path lengths of the four rows in `w.rows4` into `w.sums4`. Two trees at a time, each
 * walked by the four rows together: the rows share the tree's lines, and eight walks keep
 * misses in flight. Every row's sum adds trees in order, as pathSum does: the same bits.
 */
function pathSums4(w: WalkTables): void {
  const { roots, value, link, steps, rows4: x, sums4 } = w;
  const nTrees = roots.length;
  const b1 = x.length >> 2;
  const b2 = 2 * b1;
  const b3 = 3 * b1;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let tree = 0;
  for (; tree + 2 <= nTrees; tree += 2) {
    const r = roots[tree] as number;
    const q = roots[tree + 1] as number;
    let n0 = r;
    let n1 = r;
    let n2 = r;
    let n3 = r;
    let m0 = q;
    let m1 = q;
    let m2 = q;
    let m3 = q;
    for (let step = 0; step < steps; step++) {
      n0 =
        (link[4 * n0 + 3] as number) +
        +((x[link[4 * n0 + 2] as number] as number) > (value[2 * n0] as number));
      n1 =
        (link[4 * n1 + 3] as number) +
        +((x[b1 + (link[4 * n1 + 2] as number)] as number) > (value[2 * n1] as number));
      n2 =
        (link[4 * n2 + 3] as number) +
        +((x[b2 + (link[4 * n2 + 2] as number)] as number) > (value[2 * n2] as number));
      n3 =
        (link[4 * n3 + 3] as number) +
        +((x[b3 + (link[4 * n3 + 2] as number)] as number) > (value[2 * n3] as number));
      m0 =
        (link[4 * m0 + 3] as number) +
        +((x[link[4 * m0 + 2] as number] as number) > (value[2 * m0] as number));
      m1 =
        (link[4 * m1 + 3] as number) +
        +((x[b1 + (link[4 * m1 + 2] as number)] as number) > (value[2 * m1] as number));
      m2 =
        (link[4 * m2 + 3] as number) +
        +((x[b2 + (link[4 * m2 + 2] as number)] as number) > (value[2 * m2] as number));
      m3 =
        (link[4 * m3 + 3] as number) +
        +((x[b3 + (link[4 * m3 + 2] as number)] as number) > (value[2 * m3] as number));
    }
    s0 += value[2 * n0] as number;
    s0 += value[2 * m0] as number;
    s1 += value[2 * n1] as number;
    s1 += value[2 * m1] as number;
    s2 += value[2 * n2] as number;
    s2 += value[2 * m2] as number;
    s3 += value[2 * n3] as number;
    s3 += value[2 * m3] as number;
  }
  if (tree < nTrees) {
    const r = roots[tree] as number;
    let n0 = r;
    let n1 = r;
    let n2 = r;
    let n3 = r;
    for (let step = 0; step < steps; step++) {
      n0 =
        (link[4 * n0 + 3] as number) +
        +((x[link[4 * n0 + 2] as number] as number) > (value[2 * n0] as number));
      n1 =
        (link[4 * n1 + 3] as number) +
        +((x[b1 + (link[4 * n1 + 2] as number)] as number) > (value[2 * n1] as number));
      n2 =
        (link[4 * n2 + 3] as number) +
        +((x[b2 + (link[4 * n2 + 2] as number)] as number) > (value[2 * n2] as number));
      n3 =
        (link[4 * n3 + 3] as number) +
        +((x[b3 + (link[4 * n3 + 2] as number)] as number) > (value[2 * n3] as number));
    }
    s0 += value[2 * n0] as number;
    s1 += value[2 * n1] as number;
    s2 += value[2 * n2] as number;
    s3 += value[2 * n3] as number;
  }
  sums4[0] = s0;
  sums4[1] = s1;
  sums4[2] = s2;
  sums4[3] = s3;
}

/** Writes −s(x) of each of `rows` rows of `data` (row-major, nFeaturesIn columns) into `out`. */
function scoreInto(f: FittedForest, data: Float64Array, rows: number, out: Float64Array): void {
  const w = f.walk;
  const { rows4, sums4, row } = w;
  const d = f.nFeaturesIn;
  const stride = d + 1;
  const normaliser = f.normaliser;
  let i = 0;
  // Four rows at a time; two or three left over are padded with copies of the last.
  for (; rows - i >= 2; i += 4) {
    const n = Math.min(4, rows - i);
    for (let r = 0; r < 4; r++) {
      const src = (i + Math.min(r, n - 1)) * d;
      const dst = r * stride;
      for (let j = 0; j < d; j++) rows4[dst + j] = data[src + j] as number;
    }
    pathSums4(w);
    for (let r = 0; r < n; r++) out[i + r] = -scoreFromPathSum(sums4[r] as number, normaliser);
  }
  if (i < rows) {
    for (let j = 0; j < d; j++) row[j] = data[i * d + j] as number;
    out[i] = -scoreFromPathSum(pathSum(w, row, 0), normaliser);
  }
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
    walk: buildWalkTables(nodes, d),
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
