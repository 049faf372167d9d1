/**
 * The conversation between the injection runner and a workload process, over the Node IPC
 * channel. The process gets its configuration as JSON in `argv[2]`, prepares (opens files,
 * connects), says `ready`, and starts working only on `start`, so that the runner can take
 * the tree's baseline in between. It may send notes and progress, and when its work is over
 * on its own (a memory hold that ends, a matmul run) it sends `done` and exits. SIGTERM
 * ends it at once through the default action, even inside a busy loop; only the procs
 * process handles it, to reap the processes it spawned first.
 */

/** Runner → workload process. */
export type ParentMessage = { type: 'start' };

/** Workload process → runner. */
export type ChildMessage =
  | { type: 'ready' }
  /** Something the truth window must say: a shortfall (allocation failure, a cap) or a caveat. */
  | { type: 'note'; text: string }
  /** Counters of the work so far (kind-specific names, for example `dotsDone`). */
  | { type: 'progress'; values: Record<string, number> }
  /** The work is over; `peakRssBytes` is the process's VmHWM. The process exits next. */
  | { type: 'done'; peakRssBytes: number }
  /** The work cannot go on; the process exits next with a non-zero code. */
  | { type: 'failed'; reason: string };

export function isChildMessage(value: unknown): value is ChildMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'ready' || type === 'note' || type === 'progress' || type === 'done' || type === 'failed';
}

/** Configuration of the cpu process: one busy loop at `duty` of one core. */
export interface CpuChildConfig {
  duty: number;
  periodMs: number;
}

/** Configuration of the memory process. */
export interface MemoryChildConfig {
  bytes: number;
  rampMs: number;
  holdMs: number;
  /** Stop allocating when MemAvailable would fall below this, bytes. */
  reserveBytes: number;
  /** /proc root, for MemAvailable. */
  procRoot: string;
}

/** Configuration of the matmul process (the size is drawn by the runner). */
export interface MatmulChildConfig {
  size: number;
  matrices: number;
  dots: number;
  seed: number;
}

/** Configuration of the io process. */
export interface IoChildConfig {
  path: string;
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
  fileSizeBytes: number;
  fsync: boolean;
  tickMs: number;
}

/** Configuration of the network process; no peer = start a loopback sink. */
export interface NetworkChildConfig {
  bytesPerSecond: number;
  peer: { host: string; port: number } | undefined;
  tickMs: number;
}

/** Configuration of the procs and threads processes. */
export interface BurstChildConfig {
  count: number;
  lifetimeMs: number;
}
