import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WorkloadScriptMissingError } from '../errors.js';

/** The entry scripts of the workload processes, beside this module once built. */
export type WorkloadScriptName =
  | 'cpu-child'
  | 'memory-child'
  | 'matmul-child'
  | 'io-child'
  | 'network-child'
  | 'procs-child'
  | 'threads-child';

/**
 * Path of a workload process's compiled entry script (`dist/workloads/<name>.js`). When the
 * calling module runs from sources (under vitest, `moduleUrl` ends in `.ts`), the script is
 * still the compiled one: `/src/` is mapped to `/dist/`, so the package must have been built.
 * Throws {@link WorkloadScriptMissingError} when the file is not there.
 */
export function workloadScriptPath(name: WorkloadScriptName, moduleUrl: string = import.meta.url): string {
  let path = fileURLToPath(new URL(`./${name}.js`, moduleUrl));
  if (moduleUrl.endsWith('.ts')) {
    const at = path.lastIndexOf('/src/');
    if (at >= 0) path = `${path.slice(0, at)}/dist/${path.slice(at + '/src/'.length)}`;
  }
  if (!existsSync(path)) throw new WorkloadScriptMissingError(path);
  return path;
}
