import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Servers started by the test kit, tracked so that none outlives the test run: an exit
 * hook kills what this process started, and {@link sweepOrphans} (run by the suite's
 * global teardown) kills what a crashed worker left behind, from pid files.
 */
const live = new Set<ChildProcess>();
let hooked = false;

export function pidDir(): string {
  const dir = process.env.FAULTLINE_TESTKIT_PID_DIR ?? join(tmpdir(), 'faultline-testkit-pids');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Thrown when a server binary is not installed; the message is the exact install command. */
export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError';
  constructor(
    readonly binary: string,
    readonly installHint: string,
  ) {
    super(`${binary} was not found on PATH. Install it with: ${installHint}`);
  }
}

export function requireBinary(binary: string, installHint: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') throw new MissingBinaryError(binary, installHint);
  return path;
}

export interface TrackedProcess {
  child: ChildProcess;
  /** Output so far (stdout and stderr), for error messages. */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

export function spawnTracked(command: string, args: string[], cwd?: string): TrackedProcess {
  hook();
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  live.add(child);
  const pidFile = child.pid === undefined ? undefined : join(pidDir(), `${child.pid}.pid`);
  if (pidFile) writeFileSync(pidFile, `${child.pid}\n${command}\n`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      if (pidFile) rmSync(pidFile, { force: true });
      resolve(code);
    });
    child.once('error', () => {
      live.delete(child);
      if (pidFile) rmSync(pidFile, { force: true });
      resolve(null);
    });
  });
  return { child, output: () => out, exited };
}

/** Stops a tracked process: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopTracked(p: TrackedProcess, graceMs = 3000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Kills every process a previous (possibly crashed) run recorded and did not stop. */
export function sweepOrphans(): number {
  let killed = 0;
  for (const name of readdirSync(pidDir())) {
    const file = join(pidDir(), name);
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    try {
      if (pid > 0) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
    } catch {
      // not running any more
    }
    rmSync(file, { force: true });
  }
  return killed;
}
