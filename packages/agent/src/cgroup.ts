/**
 * The agent's own cgroup (v2): which one it is (from /proc/self/cgroup) and its memory and
 * CPU accounting (memory.current, memory.max, cpu.stat) as the protocol's `CgroupMetrics`.
 *
 * @example
 * ```ts
 * const path = detectCgroupPath({ procRoot: '/proc', cgroupRoot: '/sys/fs/cgroup', cgroup: 'self' });
 * if (path !== undefined) sample.cgroup = readCgroupMetrics('/sys/fs/cgroup', path);
 * ```
 */
import { existsSync } from 'node:fs';
import type { CgroupMetrics } from '@faultline/protocol';
import { ProcReadError } from './errors.js';
import { procFailure, readProcText } from './proc-files.js';

/**
 * The cgroup v2 path of a process from its /proc/<pid>/cgroup text: the `0::<path>` line.
 * Undefined when there is none (a cgroup v1-only host).
 */
export function parseCgroupV2Path(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  }
  return undefined;
}

/** cgroup v2 cpu.stat, microseconds and counts; absent keys are 0. */
export interface CgroupCpuStat {
  usageUsec: number;
  userUsec: number;
  systemUsec: number;
  nrThrottled: number;
  throttledUsec: number;
}

export function parseCgroupCpuStat(text: string): CgroupCpuStat {
  const stat: CgroupCpuStat = { usageUsec: 0, userUsec: 0, systemUsec: 0, nrThrottled: 0, throttledUsec: 0 };
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const value = Number(line.slice(space + 1));
    switch (line.slice(0, space)) {
      case 'usage_usec':
        stat.usageUsec = value;
        break;
      case 'user_usec':
        stat.userUsec = value;
        break;
      case 'system_usec':
        stat.systemUsec = value;
        break;
      case 'nr_throttled':
        stat.nrThrottled = value;
        break;
      case 'throttled_usec':
        stat.throttledUsec = value;
        break;
    }
  }
  return stat;
}

/** memory.max in bytes; "max" (no limit) is 0, as in the protocol. */
export function parseMemoryMax(text: string): number {
  const value = text.trim();
  return value === 'max' ? 0 : Number(value);
}

/** Reads a cgroup file; undefined when it is absent or unreadable (a controller not enabled). */
function readOptional(path: string): string | undefined {
  try {
    return readProcText(path);
  } catch (err) {
    if (procFailure(err) !== undefined) return undefined;
    throw new ProcReadError(path, { cause: err });
  }
}

/**
 * Reads the metrics of the cgroup at `path` (relative to the cgroup2 mount `cgroupRoot`).
 * A file that is absent (the memory or cpu controller is not enabled there) gives 0s.
 */
export function readCgroupMetrics(cgroupRoot: string, path: string): CgroupMetrics {
  const dir = path === '/' ? cgroupRoot : `${cgroupRoot}${path}`;
  const current = readOptional(`${dir}/memory.current`);
  const max = readOptional(`${dir}/memory.max`);
  const cpuText = readOptional(`${dir}/cpu.stat`);
  const cpu = cpuText === undefined ? undefined : parseCgroupCpuStat(cpuText);
  return {
    path,
    memoryCurrentBytes: current === undefined ? 0 : Number(current.trim()),
    memoryMaxBytes: max === undefined ? 0 : parseMemoryMax(max),
    cpuUsageSecondsTotal: (cpu?.usageUsec ?? 0) / 1e6,
    cpuUserSecondsTotal: (cpu?.userUsec ?? 0) / 1e6,
    cpuSystemSecondsTotal: (cpu?.systemUsec ?? 0) / 1e6,
    cpuThrottledSecondsTotal: (cpu?.throttledUsec ?? 0) / 1e6,
    cpuNrThrottledTotal: cpu?.nrThrottled ?? 0,
  };
}

/** Where to look for the cgroup to report (see `ProcSamplerOptions.cgroup`). */
export interface CgroupTarget {
  procRoot: string;
  cgroupRoot: string;
  /** `self`, `off`, or a path relative to `cgroupRoot` starting with `/`. */
  cgroup: string;
}

/**
 * The cgroup path to report, or undefined when none should be. `off`: none. An explicit
 * path: that path, always. `self`: the agent's own cgroup from `<procRoot>/self/cgroup`,
 * reported when it is not the root cgroup, or when it is the root of a cgroup namespace
 * (a container: the mount's root then has memory.current, which the host's root lacks),
 * and only if it exists under `cgroupRoot` (so a cgroup v1 host reports nothing).
 */
export function detectCgroupPath(target: CgroupTarget): string | undefined {
  if (target.cgroup === 'off') return undefined;
  if (target.cgroup !== 'self') return target.cgroup;
  const text = readOptional(`${target.procRoot}/self/cgroup`);
  const path = text === undefined ? undefined : parseCgroupV2Path(text);
  if (path === undefined) return undefined;
  const dir = path === '/' ? target.cgroupRoot : `${target.cgroupRoot}${path}`;
  if (!existsSync(`${dir}/cgroup.procs`)) return undefined;
  if (path === '/' && !existsSync(`${dir}/memory.current`)) return undefined;
  return path;
}
