import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function check(dir: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts/gen-proto.mjs'), '--check'], {
    cwd: dir,
    env: { ...process.env, FAULTLINE_GEN_ROOT: dir },
    encoding: 'utf8',
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('pnpm gen:check', () => {
  it('passes on the committed tree and fails, saying to run pnpm gen, when a .proto changed without regenerating', async () => {
    await using dir = tempDir('faultline-gencheck-');
    for (const f of ['buf.yaml', 'buf.gen.yaml', 'proto', 'packages/protocol/src/gen']) {
      cpSync(join(root, f), join(dir.path, f), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(dir.path, 'node_modules'));

    const clean = check(dir.path);
    expect(clean.output).toContain('is up to date');
    expect(clean.status).toBe(0);

    appendFileSync(
      join(dir.path, 'proto/faultline/v1/sample.proto'),
      '\n// A message added without regenerating.\nmessage Unregenerated {\n  string x = 1;\n}\n',
    );
    const stale = check(dir.path);
    expect(stale.status).toBe(1);
    expect(stale.output).toContain('run pnpm gen');
    expect(stale.output).toContain('faultline/v1/sample.ts');
  });
});
