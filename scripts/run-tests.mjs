#!/usr/bin/env node
// Runs the whole suite with vitest and closes with the plain summary line
// "N passed, N failed, N skipped" (read by CI). Extra arguments go to vitest.
//
// The end-to-end experiment measures detection quality on real workloads; on 2 cores it must
// not share the machine with other CPU-burning test files, so it runs alone, after the rest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, '.faultline');
mkdirSync(outDir, { recursive: true });
const vitest = join(root, 'node_modules', '.bin', 'vitest');
const ALONE = ['test/experiment.test.ts'];
const extra = process.argv.slice(2);

function run(label, args) {
  const report = join(outDir, `test-results-${process.pid}-${label}.json`);
  const r = spawnSync(
    vitest,
    ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  const counts = { passed: 0, failed: 0, skipped: 0, code: r.status ?? 1 };
  if (existsSync(report)) {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    counts.passed = json.numPassedTests ?? 0;
    counts.skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
    // A test file that fails to load has no failed tests of its own: count it as one failure.
    const brokenFiles = (json.testResults ?? []).filter(
      (s) => s.status === 'failed' && (s.assertionResults ?? []).every((a) => a.status !== 'failed'),
    ).length;
    counts.failed = (json.numFailedTests ?? 0) + brokenFiles;
    rmSync(report, { force: true });
  } else {
    counts.failed = 1;
  }
  if (counts.code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

// With explicit filters, run exactly what was asked, in one go.
const runs =
  extra.length > 0
    ? [run('selected', extra)]
    : [
        run(
          'parallel',
          ALONE.flatMap((f) => ['--exclude', f]),
        ),
        ...ALONE.map((f, i) => run(`alone-${i}`, [f])),
      ];
const total = runs.reduce(
  (t, c) => ({ passed: t.passed + c.passed, failed: t.failed + c.failed, skipped: t.skipped + c.skipped }),
  { passed: 0, failed: 0, skipped: 0 },
);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(runs.every((c) => c.code === 0) ? 0 : 1);
