// Vitest global setup: every server the test kit starts is recorded in a pid dir for this
// run; teardown kills whatever a crashed worker left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepOrphans } from './src/process-registry.js';

export function setup(): void {
  process.env.FAULTLINE_TESTKIT_PID_DIR = mkdtempSync(join(tmpdir(), 'faultline-testkit-pids-'));
}

export function teardown(): void {
  const killed = sweepOrphans();
  if (killed > 0) console.warn(`testkit: killed ${killed} orphaned server process(es)`);
  const dir = process.env.FAULTLINE_TESTKIT_PID_DIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
}
