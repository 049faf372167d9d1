/**
 * Process-tree metrics in prmon's terms: a root pid and all its descendants, summed.
 *
 * Per process it reads `/proc/<pid>/stat` (utime+cutime, stime+cstime, threads, vsize,
 * rss), `/proc/<pid>/io` (rchar, wchar, read_bytes, write_bytes) and `/proc/<pid>/smaps_rollup`
 * (Pss, SwapPss or Swap). Descendants are found through `/proc/<pid>/task/<tid>/children`
 * when the kernel has it, else by scanning every `/proc/<pid>/stat` for its ppid.
 *
 * @example
 * ```ts
 * const before = readProcessTree(child.pid);
 * // … later …
 * const after = readProcessTree(child.pid);
 * if (before && after) console.log(after.rssBytes, treeCpuPercent(before, after));
 * ```
 */
import { existsSync, readdirSync } from 'node:fs';
import type { ProcessTreeMetrics } from '@faultline/protocol';
import { InvalidOptionsError, ProcParseError, ProcReadError } from './errors.js';
import {
  HeldProcFile,
  kibField,
  procFailure,
  readProcText,
  systemClockTicksPerSecond,
  systemPageSizeBytes,
} from './proc-files.js';

/**
 * A snapshot of a process tree (the root pid and all its descendants), in prmon's terms.
 * Memory values are summed over the live processes; I/O and CPU values are cumulative
 * counters that include children already reaped by a process of the tree (the kernel
 * folds a reaped child's CPU time into its parent's cutime/cstime and its I/O into the
 * parent's /proc/<pid>/io), so they only drop when a process leaves the tree unreaped.
 */
export interface ProcessTreeSnapshot {
  /** When the tree was read, `process.hrtime.bigint()` (monotonic, ns): use it for deltas. */
  timeNs: bigint;
  /** When the tree was read, ms since the Unix epoch (`Date.now()`). */
  wallTimeMs: number;
  /** The pids read, root first, then descendants breadth-first. */
  pids: number[];
  /** Proportional set size, bytes (from smaps_rollup; see {@link ProcessTreeReaderOptions.pssRefreshEvery}). */
  pssBytes: number;
  /** Resident set size, bytes (the sum double-counts shared pages, as prmon's does). */
  rssBytes: number;
  /** Swapped-out memory, bytes: SwapPss when the kernel has it (4.3+), else Swap. */
  swapBytes: number;
  /** Virtual memory size, bytes. */
  vmemBytes: number;
  /** Bytes read/written through read(2)/write(2)-like calls, including cache hits. */
  rcharBytes: number;
  wcharBytes: number;
  /** Bytes actually fetched from / sent to the storage layer. */
  readBytes: number;
  writeBytes: number;
  /** CPU time in user and kernel mode, seconds (utime+cutime, stime+cstime, as prmon). */
  utimeSeconds: number;
  stimeSeconds: number;
  /** Processes in the tree (= pids.length). */
  nprocs: number;
  /** Threads over all processes of the tree. */
  nthreads: number;
  /**
   * Processes whose /proc/<pid>/io or smaps_rollup could not be read (another user's, without
   * CAP_SYS_PTRACE, or a kernel without them): their I/O counts as 0 and their pss as their
   * rss (an upper bound), their swap as VmSwap.
   */
  restrictedPids: number;
}

/** Options of {@link ProcessTreeReader}. */
export interface ProcessTreeReaderOptions {
  /** Where procfs is mounted. Default `/proc`; `/host/proc` in a container given the host's. */
  procRoot?: string;
  /** USER_HZ, ticks per second of /proc tick counts. Default `getconf CLK_TCK` (100 if it fails). Range [1, 100000]. */
  clockTicksPerSecond?: number;
  /** Page size, bytes. Default `getconf PAGESIZE` (4096 if it fails). A power of two in [1024, 1048576]. */
  pageSizeBytes?: number;
  /**
   * How often each process's smaps_rollup (pss, swap) is re-read, in reads of the tree:
   * 1 = every read (prmon's behaviour), n = every n-th read, reusing the last values in
   * between. A process new to the tree is always read at once. smaps_rollup walks the page
   * tables, so it costs ~0.5 ms for an idle Node process and more the larger its RSS:
   * raise this at sub-second intervals. rss, vmem, I/O and CPU are always fresh.
   * Default 1, integer in [1, 3600].
   */
  pssRefreshEvery?: number;
  /**
   * For how many processes the reader keeps `stat` and `io` open between reads (2 file
   * descriptors each): a held file costs one pread instead of open + read + close. Members
   * beyond it are read by opening. Default 256, integer in [0, 65536]; 0 holds nothing.
   */
  maxHeldProcesses?: number;
}

export type ResolvedProcessTreeReaderOptions = Required<ProcessTreeReaderOptions>;

function checkInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(field, `${field} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Applies defaults to {@link ProcessTreeReaderOptions} and validates them. */
export function resolveProcessTreeReaderOptions(
  raw: ProcessTreeReaderOptions = {},
): ResolvedProcessTreeReaderOptions {
  const procRoot = raw.procRoot ?? '/proc';
  if (typeof procRoot !== 'string' || procRoot === '') {
    throw new InvalidOptionsError(
      'procRoot',
      `procRoot must be a non-empty path, got ${JSON.stringify(procRoot)}`,
    );
  }
  const clockTicksPerSecond = raw.clockTicksPerSecond ?? systemClockTicksPerSecond();
  checkInteger('clockTicksPerSecond', clockTicksPerSecond, 1, 100_000);
  const pageSizeBytes = raw.pageSizeBytes ?? systemPageSizeBytes();
  checkInteger('pageSizeBytes', pageSizeBytes, 1024, 1_048_576);
  if ((pageSizeBytes & (pageSizeBytes - 1)) !== 0) {
    throw new InvalidOptionsError(
      'pageSizeBytes',
      `pageSizeBytes must be a power of two, got ${pageSizeBytes}`,
    );
  }
  const pssRefreshEvery = raw.pssRefreshEvery ?? 1;
  checkInteger('pssRefreshEvery', pssRefreshEvery, 1, 3600);
  const maxHeldProcesses = raw.maxHeldProcesses ?? 256;
  checkInteger('maxHeldProcesses', maxHeldProcesses, 0, 65_536);
  return {
    procRoot: procRoot.replace(/\/+$/, '') || '/',
    clockTicksPerSecond,
    pageSizeBytes,
    pssRefreshEvery,
    maxHeldProcesses,
  };
}

/** The fields of /proc/<pid>/stat the tree needs (see proc(5)). Times in ticks, vsize in bytes, rss in pages. */
export interface PidStat {
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
  cutimeTicks: number;
  cstimeTicks: number;
  numThreads: number;
  startTimeTicks: number;
  vsizeBytes: number;
  rssPages: number;
}

/** Parses /proc/<pid>/stat. The command name may hold spaces and ')', so fields count from the last ')'. */
export function parsePidStat(text: string): PidStat {
  // Field n (1-based, proc(5)) for n in 3..24, located by one scan: splitting all 52
  // fields costs ~4× more, and this runs for every process at every sample.
  const f = new Array<number>(25);
  let field = 3;
  let start = text.lastIndexOf(')') + 2;
  if (start >= 2) {
    for (let i = start; i <= text.length && field <= 24; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 32;
      if (c === 32 || c === 10) {
        f[field++] = Number(text.slice(start, i));
        start = i + 1;
      }
    }
  }
  if (field <= 24) {
    throw new ProcParseError(
      '/proc/<pid>/stat',
      `expected 24+ fields, got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  return {
    ppid: f[4] as number,
    utimeTicks: f[14] as number,
    stimeTicks: f[15] as number,
    cutimeTicks: f[16] as number,
    cstimeTicks: f[17] as number,
    numThreads: f[20] as number,
    startTimeTicks: f[22] as number,
    vsizeBytes: f[23] as number,
    rssPages: f[24] as number,
  };
}

/** Value of a `key: 123` line (as in /proc/<pid>/io); undefined when absent. */
function plainField(text: string, key: string): number | undefined {
  let at = text.startsWith(key + ':') ? 0 : text.indexOf('\n' + key + ':');
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const end = text.indexOf('\n', at);
  return Number(text.slice(at + key.length + 1, end < 0 ? undefined : end));
}

/** Memory of one process from /proc/<pid>/smaps_rollup, bytes. */
export interface SmapsRollup {
  pssBytes: number;
  rssBytes: number;
  /** SwapPss when present (kernel 4.3+), else Swap. */
  swapBytes: number;
}

export function parseSmapsRollup(text: string): SmapsRollup {
  const pssBytes = kibField(text, 'Pss');
  if (pssBytes === undefined) throw new ProcParseError('/proc/<pid>/smaps_rollup', 'no Pss line');
  return {
    pssBytes,
    rssBytes: kibField(text, 'Rss') ?? 0,
    swapBytes: kibField(text, 'SwapPss') ?? kibField(text, 'Swap') ?? 0,
  };
}

/** I/O counters of one process from /proc/<pid>/io, bytes. */
export interface PidIo {
  rcharBytes: number;
  wcharBytes: number;
  readBytes: number;
  writeBytes: number;
}

export function parsePidIo(text: string): PidIo {
  const rchar = plainField(text, 'rchar');
  if (rchar === undefined) throw new ProcParseError('/proc/<pid>/io', 'no rchar line');
  return {
    rcharBytes: rchar,
    wcharBytes: plainField(text, 'wchar') ?? 0,
    readBytes: plainField(text, 'read_bytes') ?? 0,
    writeBytes: plainField(text, 'write_bytes') ?? 0,
  };
}

/** The memory lines of /proc/<pid>/status, bytes; the fallback when smaps_rollup is unreadable. */
export interface PidStatusMemory {
  rssBytes: number;
  vmemBytes: number;
  swapBytes: number;
  threads: number;
}

export function parsePidStatus(text: string): PidStatusMemory {
  return {
    rssBytes: kibField(text, 'VmRSS') ?? 0,
    vmemBytes: kibField(text, 'VmSize') ?? 0,
    swapBytes: kibField(text, 'VmSwap') ?? 0,
    threads: plainField(text, 'Threads') ?? 0,
  };
}

/** Appends the pids of a /proc/<pid>/task/<tid>/children file ("12 34 ") to `into`. */
export function parseChildren(text: string, into: number[]): void {
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      into.push(Number(text.slice(start, i)));
      start = -1;
    }
  }
}

/** What the reader keeps about a member between reads. */
interface Member {
  startTimeTicks: number;
  /** Held `stat` and `io`, or undefined beyond `maxHeldProcesses`. */
  files: { stat: HeldProcFile; io: HeldProcFile } | undefined;
  pssBytes: number;
  swapBytes: number;
  /** The read at which smaps_rollup was last read; −∞ when never. */
  pssReadAt: number;
  seenAt: number;
}

/** The tree as last discovered, valid while the host's fork counter stays where it was. */
interface Membership {
  rootPid: number;
  forksTotal: number;
  pids: number[];
  parents: number[];
  startTimes: number[];
}

const GONE = Symbol('gone');
const DENIED = Symbol('denied');

/**
 * Reads process trees. Keeps, per member, its held `stat` and `io` files and last
 * smaps_rollup values (for `pssRefreshEvery`); the last membership of the tree (see
 * {@link ProcessTreeReader.read}); and whether the kernel has the `children` files. Use one
 * reader per tracked tree, and {@link ProcessTreeReader.close} it when done.
 */
export class ProcessTreeReader {
  readonly options: ResolvedProcessTreeReaderOptions;
  private hasChildrenFiles: boolean | undefined;
  private readonly members = new Map<number, Member>();
  private held = 0;
  private membership: Membership | undefined;
  private reads = 0;

  constructor(options: ProcessTreeReaderOptions = {}) {
    this.options = resolveProcessTreeReaderOptions(options);
  }

  /**
   * Reads the tree rooted at `rootPid`; undefined when the root is gone (its files are then
   * closed). A process that disappears mid-read is left out, never an error.
   *
   * `forksTotal`, when given, is the host's fork counter (`processes` in /proc/stat, which
   * counts every process and thread created) read just before this call. A process joins a
   * tree only by being forked by a member, so while that counter has not moved since the
   * previous read of the same root, the reader re-checks the known members (still alive,
   * same parent, same start time) instead of listing every thread's children again, which
   * for Node processes (7–11 threads each) is most of the cost.
   */
  read(rootPid: number, forksTotal?: number): ProcessTreeSnapshot | undefined {
    const reads = ++this.reads;
    const { procRoot, clockTicksPerSecond, pageSizeBytes } = this.options;
    const timeNs = process.hrtime.bigint();
    const wallTimeMs = Date.now();
    const known = this.membership;
    const reuse = known !== undefined && known.rootPid === rootPid && known.forksTotal === forksTotal;

    const snap: ProcessTreeSnapshot = {
      timeNs,
      wallTimeMs,
      pids: [],
      pssBytes: 0,
      rssBytes: 0,
      swapBytes: 0,
      vmemBytes: 0,
      rcharBytes: 0,
      wcharBytes: 0,
      readBytes: 0,
      writeBytes: 0,
      utimeSeconds: 0,
      stimeSeconds: 0,
      nprocs: 0,
      nthreads: 0,
      restrictedPids: 0,
    };
    let utimeTicks = 0;
    let stimeTicks = 0;
    const queue: number[] = reuse ? known.pids : [rootPid];
    const parents: number[] = reuse ? known.parents : [0];
    const next: Membership = {
      rootPid,
      forksTotal: forksTotal ?? NaN,
      pids: [],
      parents: [],
      startTimes: [],
    };
    const kept = new Set<number>();
    const seen = new Set<number>(queue);
    let byParent: Map<number, number[]> | undefined;
    const children: number[] = [];

    for (let i = 0; i < queue.length; i++) {
      const pid = queue[i] as number;
      const parent = parents[i] as number;
      // Known members whose parent left the tree were reparented out of it with it.
      if (i > 0 && !kept.has(parent)) continue;
      const base = `${procRoot}/${pid}`;
      const found = this.readStat(pid, base, !reuse);
      if (found === undefined) {
        if (i > 0) continue;
        this.close();
        return undefined;
      }
      const { member, stat } = found;
      if (reuse && i > 0 && (stat.ppid !== parent || stat.startTimeTicks !== known.startTimes[i])) continue;

      // A missing file is either a process that just ended (its directory went with it) or
      // a kernel without that file (io without TASK_IO_ACCOUNTING, smaps_rollup before 4.14).
      const io = this.readText(`${base}/io`, true, member.files?.io);
      if (io === GONE && !existsSync(base)) continue;
      let restricted = typeof io !== 'string';
      if (reads - member.pssReadAt >= this.options.pssRefreshEvery) {
        const memory = this.readMemory(base, stat, pageSizeBytes);
        if (memory === GONE && !existsSync(base)) continue;
        if (typeof memory === 'symbol') {
          restricted = true;
          member.pssReadAt = -Infinity;
        } else {
          member.pssBytes = memory.pssBytes;
          member.swapBytes = memory.swapBytes;
          member.pssReadAt = reads;
        }
      }

      children.length = 0;
      if (!reuse && this.listChildren(pid, stat, children) === GONE) continue;

      // Every file of this process was read: count it.
      const rssBytes = stat.rssPages * pageSizeBytes;
      member.seenAt = reads;
      kept.add(pid);
      next.pids.push(pid);
      next.parents.push(parent);
      next.startTimes.push(stat.startTimeTicks);
      snap.rssBytes += rssBytes;
      snap.vmemBytes += stat.vsizeBytes;
      snap.nthreads += stat.numThreads;
      utimeTicks += stat.utimeTicks + stat.cutimeTicks;
      stimeTicks += stat.stimeTicks + stat.cstimeTicks;
      if (typeof io === 'string') {
        const c = parsePidIo(io);
        snap.rcharBytes += c.rcharBytes;
        snap.wcharBytes += c.wcharBytes;
        snap.readBytes += c.readBytes;
        snap.writeBytes += c.writeBytes;
      }
      if (member.pssReadAt !== -Infinity) {
        snap.pssBytes += member.pssBytes;
        snap.swapBytes += member.swapBytes;
      } else {
        const status = this.readText(`${base}/status`);
        snap.pssBytes += rssBytes;
        if (typeof status === 'string') snap.swapBytes += parsePidStatus(status).swapBytes;
      }
      if (restricted) snap.restrictedPids += 1;

      if (reuse) continue;
      if (this.hasChildrenFiles === false) {
        byParent ??= this.scanParents();
        children.push(...(byParent.get(pid) ?? []));
      }
      for (const child of children) {
        if (seen.has(child)) continue;
        seen.add(child);
        queue.push(child);
        parents.push(pid);
      }
    }

    for (const [pid, member] of this.members) if (member.seenAt !== reads) this.drop(pid, member);
    this.membership = forksTotal === undefined ? undefined : next;
    snap.pids = next.pids;
    snap.nprocs = next.pids.length;
    snap.utimeSeconds = utimeTicks / clockTicksPerSecond;
    snap.stimeSeconds = stimeTicks / clockTicksPerSecond;
    return snap;
  }

  /** Closes every held file. The reader stays usable (it reopens what it needs). */
  close(): void {
    for (const [pid, member] of this.members) this.drop(pid, member);
    this.membership = undefined;
  }

  /**
   * Reads the stat of `pid` through its member's held file, or opens it for a new member.
   * A held file that fails belonged to a process now gone; in discovery `pid` may name a
   * new process (a reused pid), so it is then looked up afresh.
   */
  private readStat(
    pid: number,
    base: string,
    mayBeNew: boolean,
  ): { member: Member; stat: PidStat } | undefined {
    let member = this.members.get(pid);
    let text: string | typeof GONE | typeof DENIED = GONE;
    if (member !== undefined) {
      text = this.readText(`${base}/stat`, true, member.files?.stat);
      if (typeof text !== 'string' && member.files !== undefined) {
        this.drop(pid, member);
        member = undefined;
        if (!mayBeNew) return undefined;
      }
    }
    if (member === undefined) {
      const files =
        this.held < this.options.maxHeldProcesses
          ? { stat: new HeldProcFile(`${base}/stat`, true), io: new HeldProcFile(`${base}/io`, true) }
          : undefined;
      text = this.readText(`${base}/stat`, true, files?.stat);
      if (typeof text !== 'string') {
        files?.stat.close();
        return undefined;
      }
      member = { startTimeTicks: NaN, files, pssBytes: 0, swapBytes: 0, pssReadAt: -Infinity, seenAt: 0 };
      if (files !== undefined) this.held += 1;
      this.members.set(pid, member);
    }
    if (typeof text !== 'string') return undefined;
    const stat = parsePidStat(text);
    // Without a held file, a changed start time is a reused pid: its smaps values are stale.
    if (stat.startTimeTicks !== member.startTimeTicks) {
      member.startTimeTicks = stat.startTimeTicks;
      member.pssReadAt = -Infinity;
    }
    return { member, stat };
  }

  private drop(pid: number, member: Member): void {
    if (member.files !== undefined) {
      member.files.stat.close();
      member.files.io.close();
      this.held -= 1;
    }
    this.members.delete(pid);
  }

  private readText(path: string, oneShot = true, held?: HeldProcFile): string | typeof GONE | typeof DENIED {
    try {
      return held === undefined ? readProcText(path, oneShot) : held.read();
    } catch (err) {
      const failure = procFailure(err);
      if (failure === 'gone') return GONE;
      if (failure === 'denied') return DENIED;
      throw new ProcReadError(path, { cause: err });
    }
  }

  private readMemory(
    base: string,
    stat: PidStat,
    pageSizeBytes: number,
  ): { pssBytes: number; swapBytes: number } | typeof GONE | typeof DENIED {
    const text = this.readText(`${base}/smaps_rollup`);
    if (typeof text !== 'string') return text;
    // A zombie (or a kernel thread) has no mappings: an empty file.
    if (text === '') return { pssBytes: stat.rssPages * pageSizeBytes, swapBytes: 0 };
    const { pssBytes, swapBytes } = parseSmapsRollup(text);
    return { pssBytes, swapBytes };
  }

  /** Appends the children of `pid` (all its threads' children) to `into`, unless the kernel lacks the files. */
  private listChildren(pid: number, stat: PidStat, into: number[]): typeof GONE | undefined {
    if (this.hasChildrenFiles === false) return undefined;
    const task = `${this.options.procRoot}/${pid}/task`;
    // Most processes of a workload are single-threaded: skip listing the task dir then.
    const tids = stat.numThreads === 1 ? [String(pid)] : this.readTids(task);
    if (tids === GONE) return GONE;
    for (const tid of tids) {
      // One record per child: may take several reads.
      const text = this.readText(`${task}/${tid}/children`, false);
      if (typeof text === 'string') {
        this.hasChildrenFiles = true;
        parseChildren(text, into);
      } else if (text === GONE) {
        // Either the thread just ended or the kernel lacks CONFIG_PROC_CHILDREN.
        if (this.hasChildrenFiles === undefined && existsSync(`${task}/${tid}`)) {
          this.hasChildrenFiles = false;
          return undefined;
        }
        if (stat.numThreads === 1) return GONE;
      }
    }
    return undefined;
  }

  private readTids(task: string): string[] | typeof GONE {
    try {
      return readdirSync(task);
    } catch (err) {
      if (procFailure(err) !== undefined) return GONE;
      throw new ProcReadError(task, { cause: err });
    }
  }

  /** The fallback without `children` files: every process's ppid, from every /proc/<pid>/stat. */
  private scanParents(): Map<number, number[]> {
    const { procRoot } = this.options;
    const byParent = new Map<number, number[]>();
    let names: string[];
    try {
      names = readdirSync(procRoot);
    } catch (err) {
      throw new ProcReadError(procRoot, { cause: err });
    }
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const text = this.readText(`${procRoot}/${name}/stat`);
      if (typeof text !== 'string') continue;
      const { ppid } = parsePidStat(text);
      const list = byParent.get(ppid);
      if (list === undefined) byParent.set(ppid, [Number(name)]);
      else list.push(Number(name));
    }
    return byParent;
  }
}

/**
 * Reads the tree rooted at `rootPid` once, everything fresh; undefined when the root is
 * gone. A process that disappears mid-read is left out, never an error.
 */
export function readProcessTree(rootPid: number, procRoot = '/proc'): ProcessTreeSnapshot | undefined {
  return new ProcessTreeReader({ procRoot, maxHeldProcesses: 0 }).read(rootPid);
}

/**
 * CPU use of the tree between two snapshots, in percent of one core (pidusage semantics:
 * 200 is two cores busy): Δ(utime + stime) / Δt × 100. 0 when no time passed, and never
 * negative (a process that left the tree unreaped takes its CPU time with it).
 */
export function treeCpuPercent(prev: ProcessTreeSnapshot, next: ProcessTreeSnapshot): number {
  const dtSeconds = Number(next.timeNs - prev.timeNs) / 1e9;
  if (!(dtSeconds > 0)) return 0;
  const cpuSeconds = next.utimeSeconds + next.stimeSeconds - (prev.utimeSeconds + prev.stimeSeconds);
  return Math.max(0, (cpuSeconds / dtSeconds) * 100);
}

/** The protocol message for a snapshot and its CPU percent (from {@link treeCpuPercent}). */
export function toProcessTreeMetrics(snapshot: ProcessTreeSnapshot, cpuPercent: number): ProcessTreeMetrics {
  return {
    pssBytes: snapshot.pssBytes,
    rssBytes: snapshot.rssBytes,
    swapBytes: snapshot.swapBytes,
    vmemBytes: snapshot.vmemBytes,
    rcharBytesTotal: snapshot.rcharBytes,
    wcharBytesTotal: snapshot.wcharBytes,
    readBytesTotal: snapshot.readBytes,
    writeBytesTotal: snapshot.writeBytes,
    utimeSecondsTotal: snapshot.utimeSeconds,
    stimeSecondsTotal: snapshot.stimeSeconds,
    nprocs: snapshot.nprocs,
    nthreads: snapshot.nthreads,
    cpuPercent,
  };
}
