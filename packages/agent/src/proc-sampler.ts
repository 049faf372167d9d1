/**
 * The agent's sampler: host metrics from /proc (the protocol's `HostMetrics`), the workload's
 * process tree in prmon's terms (`ProcessTreeMetrics`) and the agent's cgroup v2
 * (`CgroupMetrics`). Everything is read synchronously, in one pass, from a configurable
 * proc root (`/host/proc` in a container given the host's /proc). Counters are sent raw and
 * cumulative; rates are derived downstream.
 *
 * @example
 * ```ts
 * const sampler = new ProcSampler({ procRoot: '/host/proc', pssRefreshEvery: 20 });
 * const { host, process, cgroup } = sampler.sample(workload.pid);
 * // …
 * sampler.close();
 * ```
 */
import { existsSync } from 'node:fs';
import { HostMetrics, type CgroupMetrics, type ProcessTreeMetrics } from '@faultline/protocol';
import { detectCgroupPath, readCgroupMetrics } from './cgroup.js';
import { InvalidOptionsError, ProcParseError, ProcReadError } from './errors.js';
import { HeldProcFile, kibField } from './proc-files.js';
import {
  ProcessTreeReader,
  resolveProcessTreeReaderOptions,
  toProcessTreeMetrics,
  treeCpuPercent,
  type ProcessTreeReaderOptions,
  type ProcessTreeSnapshot,
} from './process-tree.js';

/** Options of {@link ProcSampler}; those of the process tree reader apply to the tracked trees. */
export interface ProcSamplerOptions extends ProcessTreeReaderOptions {
  /** Where sysfs is mounted; `<sysRoot>/block` tells whole disks from partitions. Default `/sys`. */
  sysRoot?: string;
  /** Where the cgroup2 hierarchy is mounted. Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /**
   * Which cgroup to report: `self` (the agent's own, from `<procRoot>/self/cgroup`, reported
   * only in a non-root cgroup or at the root of a container's cgroup namespace), `off`, or
   * a path relative to `cgroupRoot` starting with `/` (always reported). Default `self`.
   */
  cgroup?: string;
}

export type ResolvedProcSamplerOptions = Required<ProcSamplerOptions>;

function checkPath(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionsError(field, `${field} must be a non-empty path, got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '') || '/';
}

/** Applies defaults to {@link ProcSamplerOptions} and validates them. */
export function resolveProcSamplerOptions(raw: ProcSamplerOptions = {}): ResolvedProcSamplerOptions {
  const tree = resolveProcessTreeReaderOptions(raw);
  const sysRoot = checkPath('sysRoot', raw.sysRoot ?? '/sys');
  const cgroupRoot = checkPath('cgroupRoot', raw.cgroupRoot ?? '/sys/fs/cgroup');
  const cgroup = raw.cgroup ?? 'self';
  if (typeof cgroup !== 'string' || !(cgroup === 'self' || cgroup === 'off' || cgroup.startsWith('/'))) {
    throw new InvalidOptionsError(
      'cgroup',
      `cgroup must be 'self', 'off' or a path starting with '/', got ${JSON.stringify(cgroup)}`,
    );
  }
  return { ...tree, sysRoot, cgroupRoot, cgroup };
}

/**
 * Splits `line` from `from` on runs of spaces and tabs into `out` (reused between calls:
 * regex splits cost ~5× more on these hot paths). Returns the number of fields.
 */
function fields(line: string, from: number, out: string[]): number {
  let n = 0;
  let start = -1;
  for (let i = from; i <= line.length; i++) {
    const c = i < line.length ? line.charCodeAt(i) : 32;
    if (c === 32 || c === 9) {
      if (start >= 0) {
        out[n++] = line.slice(start, i);
        start = -1;
      }
    } else if (start < 0) {
      start = i;
    }
  }
  return n;
}

/** What /proc/stat contributes to `HostMetrics`: CPU seconds over all CPUs, counts. */
export type ProcStatMetrics = Pick<
  HostMetrics,
  | 'cpuUserSecondsTotal'
  | 'cpuNiceSecondsTotal'
  | 'cpuSystemSecondsTotal'
  | 'cpuIdleSecondsTotal'
  | 'cpuIowaitSecondsTotal'
  | 'cpuIrqSecondsTotal'
  | 'cpuSoftirqSecondsTotal'
  | 'cpuStealSecondsTotal'
  | 'cpuCount'
  | 'contextSwitchesTotal'
  | 'forksTotal'
  | 'procsRunning'
  | 'procsBlocked'
>;

function lineValue(text: string, key: string): number {
  const at = text.indexOf('\n' + key + ' ');
  if (at < 0) return 0;
  const end = text.indexOf('\n', at + 1);
  return Number(text.slice(at + key.length + 2, end < 0 ? undefined : end));
}

/**
 * Parses /proc/stat. The aggregate `cpu` line is in USER_HZ ticks (guest time is already
 * inside user and nice); the number of `cpuN` lines is the number of online CPUs.
 */
export function parseProcStat(text: string, clockTicksPerSecond: number): ProcStatMetrics {
  if (!text.startsWith('cpu ')) throw new ProcParseError('/proc/stat', 'does not start with the cpu line');
  const firstEnd = text.indexOf('\n');
  const t: string[] = [];
  const n = fields(text.slice(4, firstEnd < 0 ? undefined : firstEnd), 0, t);
  const seconds = (i: number): number => (i < n ? Number(t[i]) : 0) / clockTicksPerSecond;
  let cpuCount = 0;
  let at = firstEnd;
  while (at >= 0 && text.startsWith('cpu', at + 1)) {
    cpuCount += 1;
    at = text.indexOf('\n', at + 1);
  }
  return {
    cpuUserSecondsTotal: seconds(0),
    cpuNiceSecondsTotal: seconds(1),
    cpuSystemSecondsTotal: seconds(2),
    cpuIdleSecondsTotal: seconds(3),
    cpuIowaitSecondsTotal: seconds(4),
    cpuIrqSecondsTotal: seconds(5),
    cpuSoftirqSecondsTotal: seconds(6),
    cpuStealSecondsTotal: seconds(7),
    cpuCount,
    contextSwitchesTotal: lineValue(text, 'ctxt'),
    forksTotal: lineValue(text, 'processes'),
    procsRunning: lineValue(text, 'procs_running'),
    procsBlocked: lineValue(text, 'procs_blocked'),
  };
}

/** What /proc/loadavg contributes: load averages and the number of tasks (threads included). */
export type LoadavgMetrics = Pick<HostMetrics, 'load1' | 'load5' | 'load15' | 'procsTotal'>;

export function parseLoadavg(text: string): LoadavgMetrics {
  const f = text.trim().split(' ');
  const slash = f[3]?.indexOf('/') ?? -1;
  if (f.length < 4 || slash < 0)
    throw new ProcParseError('/proc/loadavg', `unexpected ${JSON.stringify(text)}`);
  return {
    load1: Number(f[0]),
    load5: Number(f[1]),
    load15: Number(f[2]),
    procsTotal: Number(f[3]?.slice(slash + 1)),
  };
}

/** What /proc/meminfo contributes, bytes. */
export type MeminfoMetrics = Pick<
  HostMetrics,
  | 'memoryTotalBytes'
  | 'memoryUsedBytes'
  | 'memoryFreeBytes'
  | 'memoryCachedBytes'
  | 'memoryAvailableBytes'
  | 'memoryBuffersBytes'
  | 'swapTotalBytes'
  | 'swapUsedBytes'
>;

/**
 * Parses /proc/meminfo the way procps `free` does: cached = Cached + SReclaimable (the
 * reclaimable slab is cache too), used = total − free − buffers − cached (never below 0),
 * swap used = SwapTotal − SwapFree. Without MemAvailable (kernels before 3.14),
 * available is estimated as free + buffers + cached.
 */
export function parseMeminfo(text: string): MeminfoMetrics {
  const total = kibField(text, 'MemTotal');
  const free = kibField(text, 'MemFree');
  if (total === undefined || free === undefined) {
    throw new ProcParseError('/proc/meminfo', 'no MemTotal or MemFree line');
  }
  const buffers = kibField(text, 'Buffers') ?? 0;
  const cached = (kibField(text, 'Cached') ?? 0) + (kibField(text, 'SReclaimable') ?? 0);
  const swapTotal = kibField(text, 'SwapTotal') ?? 0;
  return {
    memoryTotalBytes: total,
    memoryUsedBytes: Math.max(0, total - free - buffers - cached),
    memoryFreeBytes: free,
    memoryCachedBytes: cached,
    memoryAvailableBytes: kibField(text, 'MemAvailable') ?? free + buffers + cached,
    memoryBuffersBytes: buffers,
    swapTotalBytes: swapTotal,
    swapUsedBytes: Math.max(0, swapTotal - (kibField(text, 'SwapFree') ?? 0)),
  };
}

/** What /proc/diskstats contributes: counters over whole physical disks. */
export type DiskstatsMetrics = Pick<
  HostMetrics,
  'diskReadBytesTotal' | 'diskWrittenBytesTotal' | 'diskReadsCompletedTotal' | 'diskWritesCompletedTotal'
>;

/**
 * Block devices whose I/O is not disk I/O or is counted again on other devices: loop and
 * RAM-backed devices (loop, ram, zram) and stacked ones (device-mapper dm-N, md RAID),
 * whose I/O reaches the member disks and shows there.
 */
export function isVirtualBlockDevice(name: string): boolean {
  return /^(?:loop|ram|zram|md)\d+$|^dm-\d+$/.test(name);
}

/**
 * Whether a block device name is a partition, by the kernel's naming rules: a disk name
 * ending in a letter takes the number directly (sda1, vdb2, xvda1), one ending in a digit
 * takes `p` and the number (nvme0n1p1, mmcblk0p2, md0p1). The fallback when sysfs is absent.
 */
export function isPartitionName(name: string): boolean {
  return /^[a-z]*d[a-z]+\d+$/.test(name) || /\dp\d+$/.test(name);
}

/**
 * Parses /proc/diskstats, summing the devices `isWholeDisk` accepts. Sectors are 512 bytes
 * in this file whatever the device's sector size.
 */
export function parseDiskstats(text: string, isWholeDisk: (name: string) => boolean): DiskstatsMetrics {
  const out: DiskstatsMetrics = {
    diskReadBytesTotal: 0,
    diskWrittenBytesTotal: 0,
    diskReadsCompletedTotal: 0,
    diskWritesCompletedTotal: 0,
  };
  const f: string[] = [];
  for (const line of text.split('\n')) {
    const name = fields(line, 0, f) >= 10 ? f[2] : undefined;
    if (name === undefined || !isWholeDisk(name)) continue;
    out.diskReadsCompletedTotal += Number(f[3]);
    out.diskReadBytesTotal += Number(f[5]) * 512;
    out.diskWritesCompletedTotal += Number(f[7]);
    out.diskWrittenBytesTotal += Number(f[9]) * 512;
  }
  return out;
}

/** What /proc/net/dev contributes: counters over every interface but loopback. */
export type NetDevMetrics = Pick<
  HostMetrics,
  'netRxBytesTotal' | 'netTxBytesTotal' | 'netRxPacketsTotal' | 'netTxPacketsTotal'
>;

export function parseNetDev(text: string): NetDevMetrics {
  const out: NetDevMetrics = {
    netRxBytesTotal: 0,
    netTxBytesTotal: 0,
    netRxPacketsTotal: 0,
    netTxPacketsTotal: 0,
  };
  const f: string[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    // The two header lines have '|' and no ':'.
    if (colon < 0) continue;
    if (line.slice(0, colon).trim() === 'lo') continue;
    if (fields(line, colon + 1, f) < 10) continue;
    out.netRxBytesTotal += Number(f[0]);
    out.netRxPacketsTotal += Number(f[1]);
    out.netTxBytesTotal += Number(f[8]);
    out.netTxPacketsTotal += Number(f[9]);
  }
  return out;
}

/** Allocated file handles, the first number of /proc/sys/fs/file-nr. */
export function parseFileNr(text: string): number {
  const value = parseInt(text, 10);
  if (Number.isNaN(value))
    throw new ProcParseError('/proc/sys/fs/file-nr', `unexpected ${JSON.stringify(text)}`);
  return value;
}

/** One sample of everything the sampler reads, shaped as the protocol's `Sample` fields. */
export interface ProcSample {
  host: HostMetrics;
  /** The tracked tree; undefined when no root was given or the root is gone. */
  process: ProcessTreeMetrics | undefined;
  /** The agent's cgroup; undefined when none is reported (see `ProcSamplerOptions.cgroup`). */
  cgroup: CgroupMetrics | undefined;
}

interface TrackedTree {
  reader: ProcessTreeReader;
  last: ProcessTreeSnapshot | undefined;
}

/**
 * Reads host metrics, process trees and the agent's cgroup. Keeps what deltas and caches
 * need: the previous snapshot of each tracked tree (for its CPU percent), per-disk
 * classification, the cgroup path found at construction, and the /proc files it reads
 * every time, held open (see {@link ProcSampler.close}). Synchronous: a full sample is a
 * few dozen small reads, cheaper without the promise machinery.
 */
export class ProcSampler {
  readonly options: ResolvedProcSamplerOptions;
  /** The cgroup this sampler reports, undefined when none. */
  readonly cgroupPath: string | undefined;
  private readonly trees = new Map<number, TrackedTree>();
  private readonly wholeDisk = new Map<string, boolean>();
  private readonly hasSysBlock: boolean;
  // Held open between samples: one pread each instead of open + read + close.
  private readonly files: Record<
    'stat' | 'loadavg' | 'meminfo' | 'diskstats' | 'netDev' | 'fileNr',
    HeldProcFile
  >;
  private readonly isWholeDisk = (name: string): boolean => {
    let whole = this.wholeDisk.get(name);
    if (whole === undefined) {
      whole =
        !isVirtualBlockDevice(name) &&
        (this.hasSysBlock
          ? existsSync(`${this.options.sysRoot}/block/${name.replaceAll('/', '!')}`)
          : !isPartitionName(name));
      this.wholeDisk.set(name, whole);
    }
    return whole;
  };

  constructor(options: ProcSamplerOptions = {}) {
    this.options = resolveProcSamplerOptions(options);
    this.hasSysBlock = existsSync(`${this.options.sysRoot}/block`);
    const { procRoot } = this.options;
    // oneShot for the files one show() call writes; diskstats and net/dev are per-device records.
    this.files = {
      stat: new HeldProcFile(`${procRoot}/stat`, true),
      loadavg: new HeldProcFile(`${procRoot}/loadavg`, true),
      meminfo: new HeldProcFile(`${procRoot}/meminfo`, true),
      diskstats: new HeldProcFile(`${procRoot}/diskstats`, false),
      netDev: new HeldProcFile(`${procRoot}/net/dev`, false),
      fileNr: new HeldProcFile(`${procRoot}/sys/fs/file-nr`, true),
    };
    this.cgroupPath = detectCgroupPath(this.options);
  }

  /** Reads the host's metrics. Throws {@link ProcReadError} or ProcParseError when a /proc file is missing or malformed. */
  sampleHost(): HostMetrics {
    const { files } = this;
    // Assigning into the message's own shape: spreading six parts into a literal costs ~25 µs.
    const host = HostMetrics.create();
    Object.assign(
      host,
      parseProcStat(this.read(files.stat), this.options.clockTicksPerSecond),
      parseLoadavg(this.read(files.loadavg)),
      parseMeminfo(this.read(files.meminfo)),
      parseDiskstats(this.read(files.diskstats), this.isWholeDisk),
      parseNetDev(this.read(files.netDev)),
    );
    host.openFds = parseFileNr(this.read(files.fileNr));
    return host;
  }

  /**
   * Reads the tree rooted at `rootPid`, with its CPU percent since the previous call for
   * the same root (0 on the first). Undefined when the root is gone; the root is then
   * forgotten. `forksTotal`: the host's fork counter read just before, which lets an
   * unchanged tree skip rediscovery (see `ProcessTreeReader.read`); {@link sample} passes it.
   */
  sampleProcessTree(rootPid: number, forksTotal?: number): ProcessTreeMetrics | undefined {
    let tree = this.trees.get(rootPid);
    if (tree === undefined) {
      tree = { reader: new ProcessTreeReader(this.options), last: undefined };
      this.trees.set(rootPid, tree);
    }
    const snapshot = tree.reader.read(rootPid, forksTotal);
    if (snapshot === undefined) {
      this.forgetProcessTree(rootPid);
      return undefined;
    }
    const cpuPercent = tree.last === undefined ? 0 : treeCpuPercent(tree.last, snapshot);
    tree.last = snapshot;
    return toProcessTreeMetrics(snapshot, cpuPercent);
  }

  /** Stops tracking a tree (drops its previous snapshot and caches). */
  forgetProcessTree(rootPid: number): void {
    this.trees.get(rootPid)?.reader.close();
    this.trees.delete(rootPid);
  }

  /** Closes the files held open between samples. The sampler stays usable (it reopens them). */
  close(): void {
    for (const file of Object.values(this.files)) file.close();
    for (const rootPid of [...this.trees.keys()]) this.forgetProcessTree(rootPid);
  }

  /** Reads the agent's cgroup, or undefined when none is reported. */
  sampleCgroup(): CgroupMetrics | undefined {
    return this.cgroupPath === undefined
      ? undefined
      : readCgroupMetrics(this.options.cgroupRoot, this.cgroupPath);
  }

  /** Host, the tree of `rootPid` (when given) and the cgroup, in one pass. */
  sample(rootPid?: number): ProcSample {
    const host = this.sampleHost();
    return {
      host,
      process: rootPid === undefined ? undefined : this.sampleProcessTree(rootPid, host.forksTotal),
      cgroup: this.sampleCgroup(),
    };
  }

  private read(file: HeldProcFile): string {
    try {
      return file.read();
    } catch (err) {
      throw new ProcReadError(file.path, { cause: err });
    }
  }
}
