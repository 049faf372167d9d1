import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a built binary of ours; the suite runs after `pnpm build`. */
export function builtBin(pkg: string, bin: string): string {
  const path = fileURLToPath(new URL(`../packages/${pkg}/dist/bin/${bin}.js`, import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing: run pnpm build (npm test does it for you)`);
  return path;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `faultline ARGS` as a user would and collects its output. */
export function faultline(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [builtBin('controller', 'faultline'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
