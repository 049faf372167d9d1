#!/usr/bin/env node
// Regenerates packages/protocol/src/gen from proto/ with buf + ts-proto (buf.gen.yaml).
// `--check` generates into a temp dir and fails when the committed code differs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// FAULTLINE_GEN_ROOT points the script at another checkout (the test of this check uses it).
const root = process.env.FAULTLINE_GEN_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const genDir = 'packages/protocol/src/gen';
const check = process.argv.includes('--check');
const buf = join(root, 'node_modules', '.bin', 'buf');

function run(args, cwd) {
  const r = spawnSync(buf, args, { cwd, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

run(['lint'], root);

if (!check) {
  rmSync(join(root, genDir), { recursive: true, force: true });
  run(['generate'], root);
  console.log(`generated ${listFiles(join(root, genDir)).length} files in ${genDir}`);
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'faultline-gen-'));
  try {
    run(['generate', '--output', tmp], root);
    const fresh = join(tmp, genDir);
    const committed = join(root, genDir);
    const a = listFiles(fresh).map((f) => relative(fresh, f));
    const b = listFiles(committed).map((f) => relative(committed, f));
    const differing = [...new Set([...a, ...b])].filter((f) => {
      const pa = join(fresh, f);
      const pb = join(committed, f);
      return !existsSync(pa) || !existsSync(pb) || !readFileSync(pa).equals(readFileSync(pb));
    });
    if (differing.length > 0) {
      console.error(
        `error: the generated code in ${genDir} differs from what proto/ generates ` +
          `(${differing.join(', ')}): run pnpm gen and commit the result`,
      );
      process.exit(1);
    }
    console.log(`${genDir} is up to date with proto/`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
