#!/usr/bin/env node
// Assembles bench/RESULTS.md from the per-benchmark sections in bench/results/*.md (each
// benchmark writes its own section when it runs). Run: node bench/collect.mjs
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const order = [
  'sampler',
  'agent-overhead',
  'fidelity',
  'compile',
  'controller-scale',
  'iforest',
  'bands',
  'live',
  'simulator',
];
const files = readdirSync(join(dir, 'results')).filter((f) => f.endsWith('.md'));
const rank = (f) => {
  const i = order.indexOf(f.replace(/\.md$/, ''));
  return i === -1 ? order.length : i;
};
files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const sections = files.map((f) => readFileSync(join(dir, 'results', f), 'utf8').trim());
const head = `# Benchmark results

Each section is written by its benchmark in \`bench/\` (see bench/README.md for how to run
them) into \`bench/results/<name>.md\`; \`node bench/collect.mjs\` assembles this page. The
machines are shared 2-core VMs: read medians and ratios, and the load average each section
records, rather than single numbers.
`;
writeFileSync(join(dir, 'RESULTS.md'), [head, ...sections].join('\n\n') + '\n');
console.log(
  `bench/RESULTS.md: ${files.length} sections (${files.map((f) => f.replace(/\.md$/, '')).join(', ')})`,
);
