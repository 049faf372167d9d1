#!/usr/bin/env node
// Idempotent set-up behind `npm run demo` and `npm test`: pnpm (pinned, installed under
// .faultline/tools without root), dependencies, nats-server and redis-server (Debian
// packages: installed when run as root, else the exact command is printed), and the build.
// `--tests` also makes sure of chromium (Debian's), which the report's browser test drives.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.split('@')[1];
const toolsDir = join(root, '.faultline', 'tools');
const quiet = process.argv.includes('--quiet');

function say(msg) {
  if (!quiet) console.log(`bootstrap: ${msg}`);
}

function fail(msg) {
  console.error(`bootstrap: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: opts.capture ? 'pipe' : 'inherit',
    encoding: 'utf8',
    ...opts,
  });
  if (r.error) return { status: 127, stdout: '', stderr: String(r.error) };
  return r;
}

function has(binary) {
  return run('sh', ['-c', `command -v ${binary}`], { capture: true }).status === 0;
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  fail(
    `Node >= 20.19 is required, this is ${process.version}. Install Node 24 LTS from nodejs.org or your package manager.`,
  );
}

// 1. pnpm, pinned by package.json's packageManager.
const pnpm = join(toolsDir, 'node_modules', '.bin', 'pnpm');
const pnpmOk = existsSync(pnpm) && run(pnpm, ['--version'], { capture: true }).stdout?.trim() === pnpmVersion;
if (!pnpmOk) {
  say(`installing pnpm ${pnpmVersion} into .faultline/tools`);
  mkdirSync(toolsDir, { recursive: true });
  const r = run('npm', [
    'install',
    '--no-save',
    '--no-audit',
    '--no-fund',
    '--prefix',
    toolsDir,
    `pnpm@${pnpmVersion}`,
  ]);
  if (r.status !== 0) fail(`could not install pnpm ${pnpmVersion} with npm (exit ${r.status})`);
}

// 2. Dependencies, exactly as locked.
say('installing dependencies (pnpm install --frozen-lockfile)');
if (run(pnpm, ['install', '--frozen-lockfile', '--reporter=silent']).status !== 0) {
  fail('pnpm install failed; see the output above');
}

// 3. nats-server and redis-server from the OS packages.
const wanted = [
  ['nats-server', 'nats-server'],
  ['redis-server', 'redis-server'],
];
// The tests also render the report in Chromium and make throwaway TLS certificates with openssl.
if (process.argv.includes('--tests')) wanted.push(['chromium', 'chromium'], ['openssl', 'openssl']);
const missing = wanted.filter(([bin]) => !has(bin));
if (missing.length > 0) {
  const names = missing.map(([, p]) => p).join(' ');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot)
    fail(`missing ${names}. Install with: sudo apt-get update && sudo apt-get install -y ${names}`);
  if (!has('apt-get'))
    fail(`missing ${names} and apt-get is not available: install ${names} with your OS package manager`);
  say(`installing ${names} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], { env }).status !== 0) fail('apt-get update failed');
  if (run('apt-get', ['install', '-y', '-qq', ...missing.map(([, p]) => p)], { env }).status !== 0) {
    fail(`apt-get install -y ${names} failed`);
  }
}

// 4. Build the whole tree (incremental).
say('building (tsc -b)');
if (run(pnpm, ['run', '--silent', 'build']).status !== 0) fail('the build failed; see the errors above');
say('ready');
