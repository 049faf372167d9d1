import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type TempDir } from '@faultline/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from './errors.js';
import {
  parseChildren,
  parsePidStat,
  ProcessTreeReader,
  readProcessTree,
  resolveProcessTreeReaderOptions,
  toProcessTreeMetrics,
  treeCpuPercent,
  type ProcessTreeSnapshot,
} from './process-tree.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const PAGE = 4096;
const HZ = 100;

interface FixturePid {
  pid: number;
  comm: string;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** tid → children pids listed in task/<tid>/children */
  tasks: Record<number, number[]>;
  vsize: number;
  rssPages: number;
  starttime: number;
  smaps?: { rssKiB: number; pssKiB: number; swapKiB: number; swapPssKiB?: number };
  io?: { rchar: number; wchar: number; read: number; write: number };
  status: { vmSwapKiB: number };
}

/** A /proc/<pid>/stat line as the kernel writes it (52 fields). */
function statLine(p: FixturePid): string {
  const f: (string | number)[] = [p.pid, `(${p.comm})`, 'S', p.ppid, p.pid, p.pid, 0, -1, 4194560];
  f.push(1200, 0, 3, 0); // minflt cminflt majflt cmajflt
  f.push(p.utime, p.stime, p.cutime, p.cstime, 20, 0, Object.keys(p.tasks).length, 0, p.starttime, p.vsize);
  f.push(p.rssPages, '18446744073709551615');
  while (f.length < 52) f.push(0);
  return f.join(' ') + '\n';
}

function smapsRollup(m: NonNullable<FixturePid['smaps']>): string {
  const lines = [
    '55cd84a6c000-7fff48d01000 ---p 00000000 00:00 0                          [rollup]',
    `Rss:            ${m.rssKiB} kB`,
    `Pss:            ${m.pssKiB} kB`,
    `Pss_Anon:       ${m.pssKiB} kB`,
    'Shared_Clean:       1588 kB',
    `Swap:           ${m.swapKiB} kB`,
  ];
  if (m.swapPssKiB !== undefined) lines.push(`SwapPss:        ${m.swapPssKiB} kB`);
  lines.push('Locked:                0 kB');
  return lines.join('\n') + '\n';
}

function writePid(root: string, p: FixturePid, withChildrenFiles: boolean): void {
  const dir = join(root, String(p.pid));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'stat'), statLine(p));
  writeFileSync(
    join(dir, 'status'),
    `Name:\t${p.comm}\nVmSize:\t  ${p.vsize / KiB} kB\nVmRSS:\t  ${(p.rssPages * PAGE) / KiB} kB\n` +
      `VmSwap:\t  ${p.status.vmSwapKiB} kB\nThreads:\t${Object.keys(p.tasks).length}\n`,
  );
  if (p.smaps) writeFileSync(join(dir, 'smaps_rollup'), smapsRollup(p.smaps));
  if (p.io) {
    writeFileSync(
      join(dir, 'io'),
      `rchar: ${p.io.rchar}\nwchar: ${p.io.wchar}\nsyscr: 10\nsyscw: 3\nread_bytes: ${p.io.read}\n` +
        `write_bytes: ${p.io.write}\ncancelled_write_bytes: 0\n`,
    );
  }
  for (const [tid, children] of Object.entries(p.tasks)) {
    const task = join(dir, 'task', tid);
    mkdirSync(task, { recursive: true });
    if (withChildrenFiles) writeFileSync(join(task, 'children'), children.map((c) => `${c} `).join(''));
  }
}

/**
 * A tree of 3 processes: 100 (2 threads; thread 102 forked 200), 200 → 300; plus 400, not
 * in the tree. 300 has neither io nor smaps_rollup (as for another user's process).
 */
function fixtureTree(): FixturePid[] {
  return [
    {
      pid: 100,
      comm: 'work (main) x',
      ppid: 1,
      utime: 250,
      stime: 50,
      cutime: 100,
      cstime: 20,
      tasks: { 100: [], 102: [200] },
      vsize: 100 * MiB,
      rssPages: 5000,
      starttime: 5000,
      smaps: { rssKiB: 20000, pssKiB: 15000, swapKiB: 300, swapPssKiB: 200 },
      io: { rchar: 1000, wchar: 2000, read: 4096, write: 8192 },
      status: { vmSwapKiB: 300 },
    },
    {
      pid: 200,
      comm: 'child',
      ppid: 100,
      utime: 400,
      stime: 100,
      cutime: 0,
      cstime: 0,
      tasks: { 200: [300] },
      vsize: 50 * MiB,
      rssPages: 2500,
      starttime: 5100,
      smaps: { rssKiB: 10000, pssKiB: 8000, swapKiB: 150, swapPssKiB: 100 },
      io: { rchar: 500, wchar: 600, read: 0, write: 4096 },
      status: { vmSwapKiB: 150 },
    },
    {
      pid: 300,
      comm: 'grandchild',
      ppid: 200,
      utime: 50,
      stime: 30,
      cutime: 0,
      cstime: 0,
      tasks: { 300: [], 301: [], 302: [] },
      vsize: 10 * MiB,
      rssPages: 1000,
      starttime: 5200,
      status: { vmSwapKiB: 64 },
    },
    {
      pid: 400,
      comm: 'unrelated',
      ppid: 1,
      utime: 9999,
      stime: 9999,
      cutime: 0,
      cstime: 0,
      tasks: { 400: [] },
      vsize: 999 * MiB,
      rssPages: 99999,
      starttime: 10,
      smaps: { rssKiB: 399996, pssKiB: 399996, swapKiB: 0 },
      io: { rchar: 9, wchar: 9, read: 9, write: 9 },
      status: { vmSwapKiB: 0 },
    },
  ];
}

// Expected sums over 100, 200, 300 (closed form from the fixture above).
const expected = {
  pids: [100, 200, 300],
  rssBytes: (5000 + 2500 + 1000) * PAGE,
  // 300's smaps_rollup is unreadable: its pss counts as its rss.
  pssBytes: (15000 + 8000) * KiB + 1000 * PAGE,
  // SwapPss where present; 300 falls back to VmSwap.
  swapBytes: (200 + 100 + 64) * KiB,
  vmemBytes: 160 * MiB,
  rcharBytes: 1500,
  wcharBytes: 2600,
  readBytes: 4096,
  writeBytes: 12288,
  // utime + cutime, stime + cstime, over HZ
  utimeSeconds: (250 + 100 + 400 + 50) / HZ,
  stimeSeconds: (50 + 20 + 100 + 30) / HZ,
  nprocs: 3,
  nthreads: 6,
  restrictedPids: 1,
};

describe('ProcessTreeReader', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = tempDir('proc-tree-');
  });
  afterEach(async () => {
    await dir[Symbol.asyncDispose]();
  });

  const reader = (pssRefreshEvery = 1, maxHeldProcesses = 256): ProcessTreeReader =>
    new ProcessTreeReader({
      procRoot: dir.path,
      clockTicksPerSecond: HZ,
      pageSizeBytes: PAGE,
      pssRefreshEvery,
      maxHeldProcesses,
    });

  it('sums a tree found through the children files of every thread', () => {
    for (const p of fixtureTree()) writePid(dir.path, p, true);
    const snap = reader().read(100);
    expect(snap).toMatchObject(expected);
  });

  it('finds the same tree by scanning ppids when the kernel has no children files', () => {
    for (const p of fixtureTree()) writePid(dir.path, p, false);
    const snap = reader().read(100);
    expect(snap).toMatchObject({ ...expected, pids: [100, 200, 300] });
  });

  it('reads a subtree from any root', () => {
    for (const p of fixtureTree()) writePid(dir.path, p, true);
    const snap = reader().read(200);
    expect(snap?.pids).toEqual([200, 300]);
    expect(snap?.utimeSeconds).toBeCloseTo(4.5, 12);
  });

  it('returns undefined when the root is gone', () => {
    for (const p of fixtureTree()) writePid(dir.path, p, true);
    expect(reader().read(12345)).toBeUndefined();
  });

  it('leaves out a process that disappeared, without an error', () => {
    for (const p of fixtureTree()) writePid(dir.path, p, true);
    rmSync(join(dir.path, '300'), { recursive: true });
    const snap = reader().read(100);
    expect(snap?.pids).toEqual([100, 200]);
    expect(snap?.nthreads).toBe(3);
    expect(snap?.rssBytes).toBe(7500 * PAGE);
  });

  it('re-checks the known members instead of rediscovering while the fork counter stays put', () => {
    const tree = fixtureTree();
    for (const p of tree) writePid(dir.path, p, true);
    // Held files of deleted fixture files would still read; a real process's fail with ESRCH.
    const r = reader(1, 0);
    expect(r.read(100, 7000)?.pids).toEqual([100, 200, 300]);
    // 300 is reparented out of the tree (its parent would have to fork for 500 to appear).
    writePid(dir.path, { ...(tree[2] as FixturePid), ppid: 1 }, true);
    writePid(dir.path, { ...(tree[3] as FixturePid), pid: 500, ppid: 200, tasks: { 500: [] } }, true);
    writePid(dir.path, { ...(tree[1] as FixturePid), tasks: { 200: [300, 500] } }, true);
    expect(r.read(100, 7000)?.pids).toEqual([100, 200]);
    // The counter moved: the children files are read again.
    expect(r.read(100, 7001)?.pids).toEqual([100, 200, 300, 500]);
    rmSync(join(dir.path, '200'), { recursive: true });
    expect(r.read(100, 7001)).toMatchObject({ pids: [100], nprocs: 1, nthreads: 2 });
    // Without a counter, every read discovers.
    expect(r.read(100)?.pids).toEqual([100]);
  });

  it('re-reads smaps_rollup every pssRefreshEvery reads but rss every read', () => {
    const tree = fixtureTree();
    for (const p of tree) writePid(dir.path, p, true);
    const r = reader(2);
    expect(r.read(200)?.pssBytes).toBe(8000 * KiB + 1000 * PAGE);
    const child = tree[1] as FixturePid;
    child.smaps = { rssKiB: 20000, pssKiB: 18000, swapKiB: 0, swapPssKiB: 0 };
    child.rssPages = 5000;
    writePid(dir.path, child, true);
    const second = r.read(200);
    expect(second?.pssBytes).toBe(8000 * KiB + 1000 * PAGE);
    expect(second?.rssBytes).toBe(6000 * PAGE);
    expect(r.read(200)?.pssBytes).toBe(18000 * KiB + 1000 * PAGE);
  });

  it('reads the smaps_rollup of a process new to the tree at once', () => {
    const tree = fixtureTree();
    const child = tree[1] as FixturePid;
    const root = { ...child, tasks: { 200: [] } };
    writePid(dir.path, root, true);
    const r = reader(1000);
    expect(r.read(200)?.pssBytes).toBe(8000 * KiB);
    writePid(dir.path, child, true);
    writePid(dir.path, { ...(tree[2] as FixturePid), smaps: { rssKiB: 1, pssKiB: 700, swapKiB: 0 } }, true);
    expect(r.read(200)?.pssBytes).toBe((8000 + 700) * KiB);
  });
});

describe('parsePidStat', () => {
  it('counts fields from the last parenthesis, so a command may hold spaces and parentheses', () => {
    const tree = fixtureTree();
    const stat = parsePidStat(statLine(tree[0] as FixturePid));
    expect(stat).toEqual({
      ppid: 1,
      utimeTicks: 250,
      stimeTicks: 50,
      cutimeTicks: 100,
      cstimeTicks: 20,
      numThreads: 2,
      startTimeTicks: 5000,
      vsizeBytes: 100 * MiB,
      rssPages: 5000,
    });
  });

  it('rejects a truncated line', () => {
    expect(() => parsePidStat('12 (x) S 1 2')).toThrow(/expected 24\+ fields/);
  });
});

describe('parseChildren', () => {
  it('reads space-separated pids with a trailing space', () => {
    const out: number[] = [7];
    parseChildren('123 4567 ', out);
    parseChildren('', out);
    expect(out).toEqual([7, 123, 4567]);
  });
});

const snapshot = (timeNs: bigint, utime: number, stime: number): ProcessTreeSnapshot => ({
  timeNs,
  wallTimeMs: 0,
  pids: [1],
  pssBytes: 1,
  rssBytes: 2,
  swapBytes: 3,
  vmemBytes: 4,
  rcharBytes: 5,
  wcharBytes: 6,
  readBytes: 7,
  writeBytes: 8,
  utimeSeconds: utime,
  stimeSeconds: stime,
  nprocs: 9,
  nthreads: 10,
  restrictedPids: 0,
});

describe('treeCpuPercent', () => {
  it('is the CPU seconds used per second of wall time, in percent of one core', () => {
    // 2.5 s user + 0.5 s system over 2 s: one and a half cores.
    expect(treeCpuPercent(snapshot(1_000_000_000n, 10, 1), snapshot(3_000_000_000n, 12.5, 1.5))).toBeCloseTo(
      150,
      9,
    );
  });

  it('is 0 when no time passed and never negative', () => {
    expect(treeCpuPercent(snapshot(5n, 1, 1), snapshot(5n, 2, 2))).toBe(0);
    expect(treeCpuPercent(snapshot(0n, 5, 5), snapshot(1_000_000_000n, 1, 1))).toBe(0);
  });
});

describe('toProcessTreeMetrics', () => {
  it('maps every field of the snapshot to the protocol message', () => {
    expect(toProcessTreeMetrics(snapshot(0n, 11, 12), 42)).toEqual({
      pssBytes: 1,
      rssBytes: 2,
      swapBytes: 3,
      vmemBytes: 4,
      rcharBytesTotal: 5,
      wcharBytesTotal: 6,
      readBytesTotal: 7,
      writeBytesTotal: 8,
      utimeSecondsTotal: 11,
      stimeSecondsTotal: 12,
      nprocs: 9,
      nthreads: 10,
      cpuPercent: 42,
    });
  });
});

describe('resolveProcessTreeReaderOptions', () => {
  it('names the field, the range and the value', () => {
    expect(() => resolveProcessTreeReaderOptions({ pssRefreshEvery: 0 })).toThrow(
      'pssRefreshEvery must be an integer in [1, 3600], got 0',
    );
    expect(() => resolveProcessTreeReaderOptions({ pageSizeBytes: 5000 })).toThrow(
      'pageSizeBytes must be a power of two, got 5000',
    );
    try {
      resolveProcessTreeReaderOptions({ procRoot: '' });
      expect.unreachable();
    } catch (err) {
      expect(isInvalidOptionsError(err) && err.field).toBe('procRoot');
    }
  });

  it('defaults to /proc, the system USER_HZ and page size, and fresh pss', () => {
    const o = resolveProcessTreeReaderOptions();
    expect(o.procRoot).toBe('/proc');
    expect(o.pssRefreshEvery).toBe(1);
    expect(o.clockTicksPerSecond).toBeGreaterThan(0);
    expect(o.pageSizeBytes % 1024).toBe(0);
  });
});

describe('readProcessTree', () => {
  it('reads the calling process from the real /proc', () => {
    const snap = readProcessTree(process.pid);
    expect(snap?.pids[0]).toBe(process.pid);
    expect(snap?.rssBytes).toBeGreaterThan(10 * MiB);
    expect(snap?.pssBytes).toBeGreaterThan(0);
    expect(snap?.nthreads).toBeGreaterThanOrEqual(1);
  });
});
