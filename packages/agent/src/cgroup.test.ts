import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir, type TempDir } from '@faultline/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  detectCgroupPath,
  parseCgroupCpuStat,
  parseCgroupV2Path,
  parseMemoryMax,
  readCgroupMetrics,
} from './cgroup.js';

const CPU_STAT = `usage_usec 8123456
user_usec 6000000
system_usec 2123456
core_sched.force_idle_usec 0
nr_periods 1200
nr_throttled 37
throttled_usec 1500000
nr_bursts 0
burst_usec 0
`;

// A hybrid host: v1 controllers plus the unified (v2) line.
const SELF_CGROUP = `12:memory:/kubepods/pod1/abc
1:name=systemd:/kubepods/pod1/abc
0::/kubepods/pod1/abc
`;

describe('cgroup', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = tempDir('cgroup-');
  });
  afterEach(async () => {
    await dir[Symbol.asyncDispose]();
  });

  const write = (path: string, text: string): void => {
    const full = join(dir.path, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  };
  const target = (cgroup: string) => ({
    procRoot: join(dir.path, 'proc'),
    cgroupRoot: join(dir.path, 'cg'),
    cgroup,
  });

  it('finds the agent in a non-root cgroup and reads its memory and CPU', () => {
    write('proc/self/cgroup', SELF_CGROUP);
    write('cg/kubepods/pod1/abc/cgroup.procs', '1\n');
    write('cg/kubepods/pod1/abc/memory.current', '52428800\n');
    write('cg/kubepods/pod1/abc/memory.max', '268435456\n');
    write('cg/kubepods/pod1/abc/cpu.stat', CPU_STAT);
    const path = detectCgroupPath(target('self'));
    expect(path).toBe('/kubepods/pod1/abc');
    expect(readCgroupMetrics(join(dir.path, 'cg'), path as string)).toEqual({
      path: '/kubepods/pod1/abc',
      memoryCurrentBytes: 52428800,
      memoryMaxBytes: 268435456,
      cpuUsageSecondsTotal: 8.123456,
      cpuUserSecondsTotal: 6,
      cpuSystemSecondsTotal: 2.123456,
      cpuThrottledSecondsTotal: 1.5,
      cpuNrThrottledTotal: 37,
    });
  });

  it('reports nothing in the host root cgroup', () => {
    write('proc/self/cgroup', '0::/\n');
    write('cg/cgroup.procs', '1\n');
    write('cg/cpu.stat', CPU_STAT);
    expect(detectCgroupPath(target('self'))).toBeUndefined();
  });

  it('reports the root of a cgroup namespace (a container), which has memory.current', () => {
    write('proc/self/cgroup', '0::/\n');
    write('cg/cgroup.procs', '1\n');
    write('cg/memory.current', '1000\n');
    write('cg/memory.max', 'max\n');
    expect(detectCgroupPath(target('self'))).toBe('/');
    expect(readCgroupMetrics(join(dir.path, 'cg'), '/')).toMatchObject({
      memoryCurrentBytes: 1000,
      memoryMaxBytes: 0,
    });
  });

  it('reports nothing on a cgroup v1-only host or when the v2 hierarchy is elsewhere', () => {
    write('proc/self/cgroup', '4:memory:/x\n1:name=systemd:/x\n');
    expect(detectCgroupPath(target('self'))).toBeUndefined();
    write('proc/self/cgroup', '0::/x\n');
    expect(detectCgroupPath(target('self'))).toBeUndefined();
  });

  it("reports a configured path always, and nothing when 'off'", () => {
    expect(detectCgroupPath(target('/fixed/path'))).toBe('/fixed/path');
    write('proc/self/cgroup', SELF_CGROUP);
    write('cg/kubepods/pod1/abc/cgroup.procs', '1\n');
    expect(detectCgroupPath(target('off'))).toBeUndefined();
  });

  it('reads absent files (controllers not enabled) as 0, not as errors', () => {
    expect(readCgroupMetrics(join(dir.path, 'cg'), '/nothing')).toEqual({
      path: '/nothing',
      memoryCurrentBytes: 0,
      memoryMaxBytes: 0,
      cpuUsageSecondsTotal: 0,
      cpuUserSecondsTotal: 0,
      cpuSystemSecondsTotal: 0,
      cpuThrottledSecondsTotal: 0,
      cpuNrThrottledTotal: 0,
    });
  });
});

describe('cgroup parsers', () => {
  it('take the unified line of /proc/self/cgroup', () => {
    expect(parseCgroupV2Path(SELF_CGROUP)).toBe('/kubepods/pod1/abc');
    expect(parseCgroupV2Path('0::/\n')).toBe('/');
    expect(parseCgroupV2Path('3:cpu:/a\n')).toBeUndefined();
  });

  it('read cpu.stat keys and memory.max', () => {
    expect(parseCgroupCpuStat(CPU_STAT)).toEqual({
      usageUsec: 8123456,
      userUsec: 6000000,
      systemUsec: 2123456,
      nrThrottled: 37,
      throttledUsec: 1500000,
    });
    expect(parseCgroupCpuStat('usage_usec 5\n')).toMatchObject({ usageUsec: 5, nrThrottled: 0 });
    expect(parseMemoryMax('max\n')).toBe(0);
    expect(parseMemoryMax('1073741824\n')).toBe(1073741824);
  });
});
