#!/usr/bin/env node
// Runs the whole suite with vitest and closes with the plain summary line
// "N passed, N failed, N skipped" (read by CI). Extra arguments go to vitest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, '.faultline');
mkdirSync(outDir, { recursive: true });
const report = join(outDir, `test-results-${process.pid}.json`);
const vitest = join(root, 'node_modules', '.bin', 'vitest');

const r = spawnSync(
  vitest,
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
  // A test file that fails to load has no failed tests of its own: count it as one failure.
  const brokenFiles = (json.testResults ?? []).filter(
    (s) => s.status === 'failed' && (s.assertionResults ?? []).every((a) => a.status !== 'failed'),
  ).length;
  failed = (json.numFailedTests ?? 0) + brokenFiles;
  rmSync(report, { force: true });
} else {
  failed = 1;
}
const code = r.status ?? 1;
if (code !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
