// Forecast bands: cost of one point update, for one metric and for 30 metrics per sample.
//
//   pnpm exec tsc -b packages/detector && node bench/bands.bench.mjs [--runs 7] [--points 1000000]
//
// Prints a markdown section and writes it to bench/results/bands.md. Each case is run once to
// warm the JIT, then `runs` times; the median ns/point is reported with the min and max.
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BandForecaster,
  MultiMetricBands,
  createBandVerdict,
} from '../packages/detector/dist/forecast-bands.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RUNS = flag('runs', 7);
const LOAD_BEFORE = loadavg()[0];
const POINTS = flag('points', 1_000_000);
const METRICS = 30;
const SAMPLES = Math.max(1, Math.floor(POINTS / METRICS));

// Deterministic input: a daily-like cycle of 60 samples, a slow trend and xorshift noise.
let state = 0x9e3779b9;
const noise = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return ((state >>> 0) / 4294967296 - 0.5) * 2;
};
const series = (n, phase) => {
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++)
    out[t] = 100 + 10 * Math.sin((2 * Math.PI * (t + phase)) / 60) + 0.001 * t + noise();
  return out;
};

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `body` (which returns how many points it processed) RUNS + 1 times; ns/point per run. */
function measure(setup, body) {
  const results = [];
  for (let r = 0; r <= RUNS; r++) {
    const ctx = setup();
    const start = process.hrtime.bigint();
    const points = body(ctx);
    const ns = Number(process.hrtime.bigint() - start);
    if (r > 0) results.push(ns / points);
  }
  return { median: median(results), min: Math.min(...results), max: Math.max(...results) };
}

const options = { seasonPeriod: 60, warmupPoints: 180 };
const single = series(POINTS, 0);
const warmed = (values) => {
  const f = new BandForecaster(options);
  for (let t = 0; t < 1000; t++) f.update(values[t]);
  return f;
};

const cases = [];

cases.push({
  name: '1 metric, `update(value, out)` (reused verdict)',
  ...measure(
    () => ({ f: warmed(single), out: createBandVerdict() }),
    ({ f, out }) => {
      let flagged = 0;
      for (let t = 0; t < POINTS; t++) if (f.update(single[t], out).isAnomaly) flagged++;
      if (flagged < 0) throw new Error('unreachable');
      return POINTS;
    },
  ),
});

cases.push({
  name: '1 metric, `update(value)` (new verdict each point)',
  ...measure(
    () => ({ f: warmed(single) }),
    ({ f }) => {
      let flagged = 0;
      for (let t = 0; t < POINTS; t++) if (f.update(single[t]).isAnomaly) flagged++;
      if (flagged < 0) throw new Error('unreachable');
      return POINTS;
    },
  ),
});

const names = Array.from({ length: METRICS }, (_, m) => `metric_${m}`);
const columns = names.map((_, m) => series(SAMPLES, m * 7));
const samples = Array.from({ length: SAMPLES }, (_, t) => {
  const sample = {};
  names.forEach((name, m) => (sample[name] = columns[m][t]));
  return sample;
});

cases.push({
  name: `${METRICS} metrics, \`MultiMetricBands.observe(sample)\``,
  ...measure(
    () => {
      const bands = new MultiMetricBands(options, names);
      for (let t = 0; t < 1000; t++) bands.observe(samples[t % SAMPLES]);
      return { bands };
    },
    ({ bands }) => {
      let flagged = 0;
      for (let t = 0; t < SAMPLES; t++) for (const v of bands.observe(samples[t])) if (v.isAnomaly) flagged++;
      if (flagged < 0) throw new Error('unreachable');
      return SAMPLES * METRICS;
    },
  ),
});

const rows = Array.from({ length: SAMPLES }, (_, t) => Float64Array.from(columns, (c) => c[t]));

cases.push({
  name: `${METRICS} metrics, \`MultiMetricBands.observeValues(row, out)\``,
  ...measure(
    () => {
      const bands = new MultiMetricBands(options, names);
      for (let t = 0; t < 1000; t++) bands.observeValues(rows[t % SAMPLES]);
      return { bands, out: bands.observeValues(rows[0]) };
    },
    ({ bands, out }) => {
      let flagged = 0;
      for (let t = 0; t < SAMPLES; t++)
        for (const v of bands.observeValues(rows[t], out)) if (v.isAnomaly) flagged++;
      if (flagged < 0) throw new Error('unreachable');
      return SAMPLES * METRICS;
    },
  ),
});

cases.push({
  name: `${METRICS} metrics, one \`BandForecaster\` each over typed columns`,
  ...measure(
    () => ({
      forecasters: columns.map((c) => warmed(c)),
      outs: names.map(() => createBandVerdict()),
    }),
    ({ forecasters, outs }) => {
      let flagged = 0;
      for (let t = 0; t < SAMPLES; t++) {
        for (let m = 0; m < METRICS; m++)
          if (forecasters[m].update(columns[m][t], outs[m]).isAnomaly) flagged++;
      }
      if (flagged < 0) throw new Error('unreachable');
      return SAMPLES * METRICS;
    },
  ),
});

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  '## Forecast bands: cost per point update',
  '',
  `Node ${process.version} on ${process.platform}/${process.arch}, ${cpu} (${cpus().length} logical cores, shared).`,
  `Options: \`seasonPeriod: 60, warmupPoints: 180\` (damped trend + season + residual variance per point).`,
  `${POINTS.toLocaleString('en-US')} points per run, median of ${RUNS} runs after one warm-up run.`,
  `1-minute load average ${LOAD_BEFORE.toFixed(1)} before and ${loadavg()[0].toFixed(1)} after the runs: with the`,
  'cores shared, a load above their count means other work ran meanwhile and the numbers are upper bounds.',
  '',
  '| case | ns/point (median) | min | max | ns/sample of 30 |',
  '|---|---:|---:|---:|---:|',
  ...cases.map(
    (c) =>
      `| ${c.name} | ${c.median.toFixed(1)} | ${c.min.toFixed(1)} | ${c.max.toFixed(1)} | ${
        c.name.startsWith(`${METRICS} `) ? (c.median * METRICS).toFixed(0) : ''
      } |`,
  ),
  '',
  '`observe(sample)` takes a record built key by key, as a decoder would; V8 keeps such a 30-key',
  'record in dictionary mode, so enumerating it (to find new metrics) and reading it by name',
  'cost more than the update itself. `observeValues(row, out)` (values in `metrics` order, verdicts',
  'reused) is the hot path. For scale: 10,000 hosts × 30 metrics at 1 Hz is 300,000 points/s,',
  'about 2.5% of one core at 80 ns/point.',
  '',
  'Reproduce: `pnpm exec tsc -b packages/detector && node bench/bands.bench.mjs`.',
  '',
];
const markdown = lines.join('\n');
process.stdout.write(markdown);
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'bands.md');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `# Forecast bands benchmark\n\n${markdown}`);
