import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp directory removed on dispose: `await using dir = tempDir('agent-')`. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

export function tempDir(prefix = 'faultline-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    [Symbol.asyncDispose]: async () => rmSync(path, { recursive: true, force: true }),
  };
}
