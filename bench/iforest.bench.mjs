// Benchmark of the detector's Isolation Forest: fit time (100 trees, ψ 256, 20 features) on
// 10k×20 and 100k×20 rows, and single-core scoring throughput at 10k and 100k rows, beside a
// plain-JS baseline (a straightforward isolation forest with one object per node) measured in
// the same run, and scikit-learn 1.2's numbers on this machine class. Medians of >= 5 runs
// after warm-up. Writes bench/results/iforest.md.
//
//   pnpm exec tsc -b packages/detector && node bench/iforest.bench.mjs [--quick]
//
// Targets: fit <= 40 ms; scoring >= 200,000 rows/s.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { IsolationForest, averagePathLength } from '../packages/detector/dist/isolation-forest.js';
import { createRng } from '../packages/protocol/dist/random.js';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 5 : 9;
const WARMUP = 3;
const COLS = 20;
const TREES = 100;
const PSI = 256;

const SKLEARN = {
  fit10k: 77,
  fit100k: 134,
  score10k: 180,
  score100k: 1960,
};
const TARGET_FIT_MS = 40;
const TARGET_ROWS_PER_S = 200_000;

function gaussian(rows, seed) {
  const rng = createRng(seed);
  const data = new Float64Array(rows * COLS);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, rows, cols: COLS };
}

function toPlainRows(m) {
  const out = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

// Medians of wall-clock time and of this process's CPU time (user + system), in ms. The machine
// is shared: under load the wall clock also counts time spent descheduled, CPU time does not.
function median(fn) {
  for (let i = 0; i < WARMUP; i++) fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { wall: mid(wall), cpu: mid(cpu) };
}

// ---- Baseline: the isolation forest one writes first, one object per node --------------

class BaselineForest {
  constructor(nTrees, psi, seed) {
    this.nTrees = nTrees;
    this.psi = psi;
    this.rng = createRng(seed);
    this.trees = [];
  }

  fit(rows) {
    const psi = Math.min(this.psi, rows.length);
    const limit = Math.ceil(Math.log2(Math.max(psi, 2)));
    this.trees = [];
    for (let t = 0; t < this.nTrees; t++) {
      const pool = rows.slice();
      const sample = [];
      for (let i = 0; i < psi; i++) {
        const j = i + this.rng.int(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
        sample.push(pool[i]);
      }
      this.trees.push(this.grow(sample, 0, limit));
    }
    this.c = averagePathLength(psi);
    return this;
  }

  grow(rows, depth, limit) {
    if (depth >= limit || rows.length <= 1) return { size: rows.length };
    const cols = rows[0].length;
    const candidates = [...Array(cols).keys()];
    while (candidates.length > 0) {
      const pick = this.rng.int(candidates.length);
      const feature = candidates[pick];
      const values = rows.map((r) => r[feature]);
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      if (hi > lo) {
        let threshold = lo + this.rng.next() * (hi - lo);
        if (threshold >= hi) threshold = lo;
        return {
          feature,
          threshold,
          left: this.grow(
            rows.filter((r) => r[feature] <= threshold),
            depth + 1,
            limit,
          ),
          right: this.grow(
            rows.filter((r) => r[feature] > threshold),
            depth + 1,
            limit,
          ),
        };
      }
      candidates.splice(pick, 1);
    }
    return { size: rows.length };
  }

  pathLength(node, x, depth) {
    if (node.feature === undefined) return depth + averagePathLength(node.size);
    return this.pathLength(x[node.feature] <= node.threshold ? node.left : node.right, x, depth + 1);
  }

  scoreSamples(rows) {
    return rows.map((x) => {
      let sum = 0;
      for (const tree of this.trees) sum += this.pathLength(tree, x, 0);
      return -Math.pow(2, -sum / (this.trees.length * this.c));
    });
  }
}

// ---- Measurements ------------------------------------------------------------------------

const loadBefore = loadavg()[0];
const X10k = gaussian(10_000, 1);
const X100k = gaussian(100_000, 2);
const rows10k = toPlainRows(X10k);
const rows100k = toPlainRows(X100k);

const ours = new IsolationForest({ nEstimators: TREES, maxSamples: PSI, seed: 7 });
const base = new BaselineForest(TREES, PSI, 7);

const fit10k = median(() => ours.fit(X10k));
const fit100k = median(() => ours.fit(X100k));
const baseFit10k = median(() => base.fit(rows10k));
const baseFit100k = median(() => base.fit(rows100k));

// Both forests scored from a fit on the 10k rows, so they have the same shape.
ours.fit(X10k);
base.fit(rows10k);
const score10k = median(() => ours.scoreSamples(X10k));
const score100k = median(() => ours.scoreSamples(X100k));
const baseScore10k = median(() => base.scoreSamples(rows10k));
const baseScore100k = median(() => base.scoreSamples(rows100k));
// The live path: one row at a time through anomalyScore, no allocation.
const single10k = median(() => {
  let acc = 0;
  for (let i = 0; i < X10k.rows; i++) acc += ours.anomalyScore(X10k.data.subarray(i * COLS, (i + 1) * COLS));
  return acc;
});

// Same semantics, so the same scale of scores: a sanity check that the comparison is fair.
const meanOurs = ours.scoreSamples(X10k).reduce((a, b) => a + b, 0) / X10k.rows;
const meanBase = base.scoreSamples(rows10k).reduce((a, b) => a + b, 0) / X10k.rows;

// ---- Report ------------------------------------------------------------------------------

const rate = (rows, ms) => Math.round((rows / ms) * 1000);
const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtRate = (r) => r.toLocaleString('en-US');
const both = (m, f) => `${f(m.wall)} / ${f(m.cpu)}`;
const yes = (ok) => (ok ? 'yes' : 'no');
const fitRow = (name, m, b, sk) => [
  name,
  both(m, fmtMs),
  both(b, fmtMs),
  sk,
  `≤ ${TARGET_FIT_MS}`,
  `${yes(m.wall <= TARGET_FIT_MS)} / ${yes(m.cpu <= TARGET_FIT_MS)}`,
];
const scoreRow = (name, n, m, b, sk) => [
  name,
  both(m, fmtMs),
  both(b, fmtMs),
  sk,
  `≤ ${(n / TARGET_ROWS_PER_S) * 1000}`,
  `${yes(rate(n, m.wall) >= TARGET_ROWS_PER_S)} / ${yes(rate(n, m.cpu) >= TARGET_ROWS_PER_S)}`,
];
const rateRow = (name, n, m, b, sk) => [
  name,
  both(m, (ms) => fmtRate(rate(n, ms))),
  b === undefined ? '–' : both(b, (ms) => fmtRate(rate(n, ms))),
  sk === undefined ? '–' : fmtRate(rate(n, sk)),
  sk === undefined ? '–' : `≥ ${fmtRate(TARGET_ROWS_PER_S)}`,
  sk === undefined
    ? '–'
    : `${yes(rate(n, m.wall) >= TARGET_ROWS_PER_S)} / ${yes(rate(n, m.cpu) >= TARGET_ROWS_PER_S)}`,
];
const rows = [
  fitRow('fit 10k×20 (ms)', fit10k, baseFit10k, SKLEARN.fit10k),
  fitRow('fit 100k×20 (ms)', fit100k, baseFit100k, SKLEARN.fit100k),
  scoreRow('scoreSamples 10k rows (ms)', 10_000, score10k, baseScore10k, SKLEARN.score10k),
  scoreRow('scoreSamples 100k rows (ms)', 100_000, score100k, baseScore100k, SKLEARN.score100k),
  rateRow('scoring throughput at 10k rows (rows/s)', 10_000, score10k, baseScore10k, SKLEARN.score10k),
  rateRow('scoring throughput at 100k rows (rows/s)', 100_000, score100k, baseScore100k, SKLEARN.score100k),
  rateRow('anomalyScore, one row at a time over 10k rows (rows/s)', 10_000, single10k, undefined, undefined),
];

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  '## Isolation Forest',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu} (${cpus().length} cores, shared), ` +
    `Linux ${release()}, Node ${process.version}; single core. ${TREES} trees, ψ ${PSI}, ${COLS} Gaussian ` +
    `features; median of ${RUNS} runs after ${WARMUP} warm-up runs; 1-minute load average ` +
    `${loadBefore.toFixed(2)} before and ${loadavg()[0].toFixed(2)} after (other work shares the machine). ` +
    'Scoring uses a forest fitted on the ' +
    '10k rows. The baseline is a plain-JS isolation forest with one object per node, recursive ' +
    'build with `Array.filter` and recursive scoring, measured in the same run. scikit-learn ' +
    'numbers are the given reference (1.2, this machine class), not measured here.',
  '',
  'Each cell is wall-clock / process CPU time (medians); "met?" answers for each.',
  '',
  '| measure | ours | plain-JS baseline | scikit-learn 1.2 | target | met? |',
  '|---|---:|---:|---:|---:|:---:|',
  ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  '',
  `Mean scoreSamples on the training rows: ours ${meanOurs.toFixed(4)}, baseline ${meanBase.toFixed(4)} ` +
    '(same algorithm, so the same scale).',
  '',
  "How: one flat typed-array node table for the whole forest; fit gathers each tree's ψ rows into " +
    'a small contiguous block and partitions an Int32Array of row indices in place; scoring walks a ' +
    'branch-free copy of the tables, one 16-byte record per node in breadth-first order (one cache ' +
    'line per step; a leaf holds its path length and tests a NaN column, so a finished walk stays ' +
    'put), eight trees at a time for one row and four rows × two trees in a batch, so that their ' +
    'memory loads overlap.',
  '',
];
const markdown = lines.join('\n');
console.log(markdown);
if (!quick) {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/iforest.md', import.meta.url), `${markdown}`);
}
