// Plan compiler benchmark: compile time for 10,000 agents.
//
//   pnpm exec tsc -b packages/controller && node bench/compile.bench.mjs [--runs 9]
//
// Cases: examples/mixed.yaml (random mode, independent hosts: one timeline drawn per host)
// and a phased spec rolling across the fleet in waves under a blast radius that forces
// shifts. Reports the median (and min/max) of the measured runs after 2 warm-up runs, and
// writes bench/results/compile.md.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Plan } from '@faultline/protocol';
import { compilePlans } from '../packages/spec/dist/plan-compiler.js';
import { parseExperimentSpec } from '../packages/spec/dist/spec/parse-spec.js';

const AGENTS = 10_000;
const WARMUP_RUNS = 2;
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 9;
const T0 = 1_767_225_600_000_000_000n;

const agents = Array.from({ length: AGENTS }, (_, i) => {
  const id = `host-${String(i).padStart(5, '0')}`;
  return {
    agentId: id,
    hostname: id,
    labels: { role: 'worker', zone: `z${i % 10}` },
    caps: undefined,
    version: '0.1.0',
    cpuCount: 8,
    memoryTotalBytes: 32n * 2n ** 30n,
    hostIds: [id],
  };
});

const PHASED_ROLLING = `apiVersion: faultline/v1
kind: Experiment
metadata: { name: phased-rolling }
spec:
  seed: 11
  sampling: { interval: 1s }
  baseline:
    workload: { kind: matmul, sizes: [300, 350, 450, 500], matrices: 3, dots: 5 }
    sleep: 4s
  warmup: 2m
  anomalies:
    mode: phased
    phases:
      - { name: baseline1, duration: 2m }
      - { name: memory_spike, duration: 2m, injection: { workload: { kind: memory, bytes: 512Mi }, duration: 30s } }
      - { name: recovery1, duration: 2m }
      - { name: cpu_surge, duration: 2m, injection: { workload: { kind: cpu, cores: 2, load: 90 }, duration: 30s } }
      - { name: recovery2, duration: 2m }
      - { name: io_burst, duration: 2m, injection: { workload: { kind: io, writeBytesPerSecond: 64Mi }, duration: 30s } }
    random:
      chance: 1/50
      catalog: [{ name: sleep, stall: { extra: 2s } }]
  coordination: { mode: rolling, waveSize: 1000, interval: 10s }
  blastRadius: { maxConcurrentFraction: 0.25 }
`;

const cases = [
  {
    name: 'mixed.yaml (random, independent)',
    spec: parseExperimentSpec(readFileSync(new URL('../examples/mixed.yaml', import.meta.url), 'utf8')),
  },
  { name: 'phased, rolling waves of 1000, blast radius 0.25', spec: parseExperimentSpec(PHASED_ROLLING) },
];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const rows = [];
for (const c of cases) {
  const options = { startUnixNano: T0, experimentId: 'bench' };
  let result;
  const times = [];
  for (let run = 0; run < WARMUP_RUNS + RUNS; run++) {
    const started = performance.now();
    result = compilePlans(c.spec, agents, options);
    const elapsed = performance.now() - started;
    if (run >= WARMUP_RUNS) times.push(elapsed);
  }
  const encodeStarted = performance.now();
  let bytes = 0;
  for (const plan of result.plans) bytes += Plan.encode(plan).finish().length;
  const encodeMs = performance.now() - encodeStarted;
  const s = result.summary;
  rows.push({
    name: c.name,
    median: median(times),
    min: Math.min(...times),
    max: Math.max(...times),
    injections: s.injections,
    shifted: s.shifted,
    dropped: s.dropped + s.droppedPastEnd,
    peak: `${s.peakConcurrentHosts} / ${s.blastRadiusLimit}`,
    bytes,
    encodeMs,
  });
  console.log(
    `${c.name}: median ${median(times).toFixed(1)} ms over ${RUNS} runs, ${s.injections} injections, ` +
      `encode ${encodeMs.toFixed(1)} ms for ${(bytes / 2 ** 20).toFixed(2)} MiB`,
  );
}

/** A Markdown table laid out the way Prettier lays it out (so the file passes format:check). */
function table(header, rightAligned, body) {
  const widths = header.map((h, c) => Math.max(3, h.length, ...body.map((row) => row[c].length)));
  const cell = (text, c) => (rightAligned[c] ? text.padStart(widths[c]) : text.padEnd(widths[c]));
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = widths.map((w, c) => (rightAligned[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)));
  return [line(header), `| ${rule.join(' | ')} |`, ...body.map(line)];
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  '# Plan compiler: compile time for 10,000 agents',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} with \`node bench/compile.bench.mjs\` on Node ${process.version},`,
  `${os.cpus().length} × ${cpu} (shared; 1-min load average ${os.loadavg()[0].toFixed(1)}). Median of ${RUNS} runs after ${WARMUP_RUNS} warm-up runs;`,
  '`compilePlans` only (the spec is parsed once); encoding all plans with `Plan.encode` measured once.',
  '',
  ...table(
    [
      'case',
      'median ms',
      'min ms',
      'max ms',
      'injections',
      'shifted',
      'dropped',
      'peak hosts / limit',
      'encoded plans',
      'encode ms',
    ],
    [false, true, true, true, true, true, true, true, true, true],
    rows.map((r) => [
      r.name,
      r.median.toFixed(1),
      r.min.toFixed(1),
      r.max.toFixed(1),
      String(r.injections),
      String(r.shifted),
      String(r.dropped),
      r.peak,
      `${(r.bytes / 2 ** 20).toFixed(2)} MiB`,
      r.encodeMs.toFixed(1),
    ]),
  ),
  '',
];
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/compile.md', import.meta.url), lines.join('\n'));
console.log('wrote bench/results/compile.md');
