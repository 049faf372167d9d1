import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir, type TempDir } from '@faultline/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcReadError } from './errors.js';
import {
  isPartitionName,
  isVirtualBlockDevice,
  parseDiskstats,
  parseFileNr,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  ProcSampler,
  resolveProcSamplerOptions,
} from './proc-sampler.js';

const KiB = 1024;

const PROC_STAT = `cpu  10132153 290696 3084719 46828483 16683 0 25195 175628 0 0
cpu0 2533038 72674 771179 11707120 4170 0 6298 43907 0 0
cpu1 2533038 72674 771180 11707121 4171 0 6299 43907 0 0
cpu2 2533038 72674 771180 11707121 4171 0 6299 43907 0 0
cpu3 2533039 72674 771180 11707121 4171 0 6299 43907 0 0
intr 1462898 0 9 0 0 0 0 3 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 115315937
btime 1700000000
processes 344612
procs_running 3
procs_blocked 1
softirq 6327826 6 1577340 34 29855 159005 0 14 1873211 0 2688361
`;

const LOADAVG = '0.52 0.58 0.59 3/467 12345\n';

const MEMINFO = `MemTotal:       16384000 kB
MemFree:         8000000 kB
MemAvailable:   12000000 kB
Buffers:          100000 kB
Cached:          3000000 kB
SwapCached:            0 kB
Active:          4000000 kB
SwapTotal:       2097148 kB
SwapFree:        2000000 kB
Shmem:             80000 kB
KReclaimable:     250000 kB
Slab:             400000 kB
SReclaimable:     200000 kB
SUnreclaim:       200000 kB
`;

// Whole disks sda, nvme0n1 (18 fields) and vdb (an old kernel's 14 fields); partitions,
// loop, zram and device-mapper devices with non-zero counters that must not be counted.
const DISKSTATS = `   7       0 loop0 511 0 9000 30 0 0 0 0 0 40 30 0 0 0 0 0 0
 252       0 zram0 400 0 3200 0 900 0 7200 0 0 10 10 0 0 0 0 0 0
   8       0 sda 1000 20 20000 800 500 70 8000 900 0 1200 1700 0 0 0 0 0 0
   8       1 sda1 990 20 19000 790 490 70 7900 890 0 1100 1680 0 0 0 0 0 0
   8       2 sda2 10 0 1000 10 10 0 100 10 0 100 20 0 0 0 0 0 0
 259       0 nvme0n1 2000 0 40000 300 1500 0 30000 700 0 900 1000 0 0 0 0 0 0
 259       1 nvme0n1p1 1999 0 39990 299 1499 0 29990 699 0 899 998 0 0 0 0 0 0
 253       0 dm-0 2990 0 59000 1100 1990 0 37890 1600 0 2000 2700 0 0 0 0 0 0
 252      16 vdb 7 0 56 1 3 0 24 2 0 3 3
`;

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9999999     9999    0    0    0     0          0         0  9999999     9999    0    0    0     0       0          0
  eth0: 280818549    7811    0    0    0     0          0         0   624884    5400    0    0    0     0       0          0
 wlan0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
`;

const FILE_NR = '3456\t0\t9223372036854775807\n';

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function writeHostFixture(procRoot: string): void {
  write(join(procRoot, 'stat'), PROC_STAT);
  write(join(procRoot, 'loadavg'), LOADAVG);
  write(join(procRoot, 'meminfo'), MEMINFO);
  write(join(procRoot, 'diskstats'), DISKSTATS);
  write(join(procRoot, 'net/dev'), NET_DEV);
  write(join(procRoot, 'sys/fs/file-nr'), FILE_NR);
}

/** sysfs lists whole block devices only, loop and virtual ones included. */
function writeSysBlock(sysRoot: string): void {
  for (const name of ['loop0', 'zram0', 'sda', 'nvme0n1', 'dm-0', 'vdb'])
    mkdirSync(join(sysRoot, 'block', name), { recursive: true });
}

// Closed-form expectations from the fixtures above (USER_HZ 100).
const expectedHost = {
  cpuUserSecondsTotal: 101321.53,
  cpuNiceSecondsTotal: 2906.96,
  cpuSystemSecondsTotal: 30847.19,
  cpuIdleSecondsTotal: 468284.83,
  cpuIowaitSecondsTotal: 166.83,
  cpuIrqSecondsTotal: 0,
  cpuSoftirqSecondsTotal: 251.95,
  cpuStealSecondsTotal: 1756.28,
  cpuCount: 4,
  contextSwitchesTotal: 115315937,
  forksTotal: 344612,
  procsRunning: 3,
  procsBlocked: 1,
  load1: 0.52,
  load5: 0.58,
  load15: 0.59,
  procsTotal: 467,
  memoryTotalBytes: 16384000 * KiB,
  memoryFreeBytes: 8000000 * KiB,
  memoryAvailableBytes: 12000000 * KiB,
  memoryBuffersBytes: 100000 * KiB,
  // Cached + SReclaimable, as free(1)
  memoryCachedBytes: 3200000 * KiB,
  // total − free − buffers − cached
  memoryUsedBytes: (16384000 - 8000000 - 100000 - 3200000) * KiB,
  swapTotalBytes: 2097148 * KiB,
  swapUsedBytes: 97148 * KiB,
  // sda + nvme0n1 + vdb
  diskReadsCompletedTotal: 1000 + 2000 + 7,
  diskReadBytesTotal: (20000 + 40000 + 56) * 512,
  diskWritesCompletedTotal: 500 + 1500 + 3,
  diskWrittenBytesTotal: (8000 + 30000 + 24) * 512,
  // eth0 + wlan0
  netRxBytesTotal: 280819549,
  netRxPacketsTotal: 7821,
  netTxBytesTotal: 626884,
  netTxPacketsTotal: 5420,
  openFds: 3456,
};

describe('ProcSampler on a fixture /proc', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = tempDir('proc-sampler-');
  });
  afterEach(async () => {
    await dir[Symbol.asyncDispose]();
  });

  const sampler = (sysRoot: string): ProcSampler =>
    new ProcSampler({
      procRoot: join(dir.path, 'proc'),
      sysRoot,
      cgroupRoot: join(dir.path, 'cgroup'),
      clockTicksPerSecond: 100,
      pageSizeBytes: 4096,
    });

  it('reads every host metric, telling whole disks from sysfs', () => {
    writeHostFixture(join(dir.path, 'proc'));
    writeSysBlock(join(dir.path, 'sys'));
    const host = sampler(join(dir.path, 'sys')).sampleHost();
    for (const [key, value] of Object.entries(expectedHost)) {
      expect(host[key as keyof typeof host], key).toBeCloseTo(value, 6);
    }
    expect(Object.keys(host).sort()).toEqual(Object.keys(expectedHost).sort());
  });

  it('tells whole disks by their names when sysfs is absent', () => {
    writeHostFixture(join(dir.path, 'proc'));
    const host = sampler(join(dir.path, 'no-sys')).sampleHost();
    expect(host.diskReadBytesTotal).toBe(expectedHost.diskReadBytesTotal);
    expect(host.diskWritesCompletedTotal).toBe(expectedHost.diskWritesCompletedTotal);
  });

  it('fails with the path when a /proc file is missing', () => {
    writeHostFixture(join(dir.path, 'proc'));
    const s = sampler(join(dir.path, 'sys'));
    const missing = join(dir.path, 'proc', 'meminfo');
    writeFileSync(missing, '');
    expect(() => s.sampleHost()).toThrow(/meminfo: no MemTotal/);
    const other = new ProcSampler({
      procRoot: join(dir.path, 'nowhere'),
      clockTicksPerSecond: 100,
      pageSizeBytes: 4096,
    });
    try {
      other.sampleHost();
      expect.unreachable();
    } catch (err) {
      expect(isProcReadError(err) && err.path).toBe(join(dir.path, 'nowhere', 'stat'));
    }
  });

  it('samples host, tree and cgroup together, with the tree CPU percent over the interval', () => {
    const proc = join(dir.path, 'proc');
    writeHostFixture(proc);
    const stat = (utime: number): string =>
      `77 (w) S 1 77 77 0 -1 0 0 0 0 0 ${utime} 0 0 0 20 0 1 0 100 8192000 1000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
    write(join(proc, '77/stat'), stat(0));
    write(join(proc, '77/io'), 'rchar: 1\nwchar: 2\nread_bytes: 3\nwrite_bytes: 4\n');
    write(join(proc, '77/smaps_rollup'), 'Rss: 4000 kB\nPss: 3000 kB\nSwap: 0 kB\nSwapPss: 0 kB\n');
    write(join(proc, '77/task/77/children'), '');
    write(join(proc, 'self/cgroup'), '0::/agent\n');
    write(join(dir.path, 'cgroup/agent/cgroup.procs'), '77\n');
    write(join(dir.path, 'cgroup/agent/memory.current'), '123456\n');
    const s = sampler(join(dir.path, 'sys'));
    const first = s.sample(77);
    expect(first.host.cpuCount).toBe(4);
    expect(first.process).toMatchObject({
      rssBytes: 1000 * 4096,
      pssBytes: 3000 * KiB,
      nprocs: 1,
      cpuPercent: 0,
    });
    expect(first.cgroup).toMatchObject({ path: '/agent', memoryCurrentBytes: 123456, memoryMaxBytes: 0 });
    write(join(proc, '77/stat'), stat(1_000_000));
    const second = s.sample(77);
    expect(second.process?.utimeSecondsTotal).toBe(10_000);
    expect(second.process?.cpuPercent).toBeGreaterThan(0);
    expect(s.sample().process).toBeUndefined();
    expect(s.sample(78).process).toBeUndefined();
  });
});

describe('host parsers', () => {
  it('parse /proc/stat lines in USER_HZ ticks', () => {
    const stat = parseProcStat(PROC_STAT, 250);
    expect(stat.cpuUserSecondsTotal).toBeCloseTo(10132153 / 250, 9);
    expect(stat.cpuCount).toBe(4);
    // An old kernel's cpu line without steal/guest columns.
    expect(parseProcStat('cpu  100 0 50 1000 5 0 0\ncpu0 100 0 50 1000 5 0 0\n', 100)).toMatchObject({
      cpuUserSecondsTotal: 1,
      cpuStealSecondsTotal: 0,
      cpuCount: 1,
      contextSwitchesTotal: 0,
    });
  });

  it('estimate available memory without MemAvailable and never report negative used', () => {
    const m = parseMeminfo('MemTotal: 1000 kB\nMemFree: 900 kB\nBuffers: 100 kB\nCached: 200 kB\n');
    expect(m.memoryAvailableBytes).toBe(1200 * KiB);
    expect(m.memoryUsedBytes).toBe(0);
  });

  it('read loadavg, file-nr and net/dev', () => {
    expect(parseLoadavg(LOADAVG)).toEqual({ load1: 0.52, load5: 0.58, load15: 0.59, procsTotal: 467 });
    expect(parseFileNr(FILE_NR)).toBe(3456);
    expect(parseNetDev(NET_DEV).netRxPacketsTotal).toBe(7821);
    // Big counters once ran into the interface name.
    expect(parseNetDev('h\nh\n  eth1:12345678901 5 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n').netRxBytesTotal).toBe(
      12345678901,
    );
  });

  it('classify block devices', () => {
    for (const name of ['sda1', 'vdb3', 'xvda1', 'hda2', 'nvme0n1p1', 'mmcblk0p2', 'md0p1']) {
      expect(isPartitionName(name), name).toBe(true);
    }
    for (const name of ['sda', 'vdb', 'xvda', 'nvme0n1', 'mmcblk0', 'sr0', 'nbd0']) {
      expect(isPartitionName(name), name).toBe(false);
    }
    for (const name of ['loop0', 'ram1', 'zram0', 'dm-3', 'md127'])
      expect(isVirtualBlockDevice(name), name).toBe(true);
    for (const name of ['sda', 'nvme0n1', 'mmcblk0']) expect(isVirtualBlockDevice(name), name).toBe(false);
    expect(parseDiskstats(DISKSTATS, (n) => n === 'sda').diskReadsCompletedTotal).toBe(1000);
  });
});

describe('resolveProcSamplerOptions', () => {
  it('applies defaults', () => {
    const o = resolveProcSamplerOptions({ clockTicksPerSecond: 100, pageSizeBytes: 4096 });
    expect(o).toEqual({
      procRoot: '/proc',
      sysRoot: '/sys',
      cgroupRoot: '/sys/fs/cgroup',
      cgroup: 'self',
      clockTicksPerSecond: 100,
      pageSizeBytes: 4096,
      pssRefreshEvery: 1,
      maxHeldProcesses: 256,
    });
    expect(resolveProcSamplerOptions({ procRoot: '/host/proc/' }).procRoot).toBe('/host/proc');
  });

  it('names the field, the allowed values and the value received', () => {
    expect(() => resolveProcSamplerOptions({ cgroup: 'kubepods' })).toThrow(
      `cgroup must be 'self', 'off' or a path starting with '/', got "kubepods"`,
    );
    expect(() => resolveProcSamplerOptions({ clockTicksPerSecond: 0 })).toThrow(
      'clockTicksPerSecond must be an integer in [1, 100000], got 0',
    );
    expect(() => resolveProcSamplerOptions({ sysRoot: '' })).toThrow(
      'sysRoot must be a non-empty path, got ""',
    );
  });
});
