import type { Workload } from '@faultline/protocol';
import { InvalidWorkloadError } from '../errors.js';

/**
 * A protocol `Workload` checked and turned into plain numbers, with the defaults applied.
 * This is what the workload processes run and what achieved values are judged against.
 */
export type ResolvedWorkload =
  | ResolvedCpuWorkload
  | ResolvedMemoryWorkload
  | ResolvedMatmulWorkload
  | ResolvedIoWorkload
  | ResolvedNetworkWorkload
  | ResolvedStallWorkload
  | ResolvedProcsWorkload
  | ResolvedThreadsWorkload;

export type WorkloadKindName = ResolvedWorkload['kind'];

export interface ResolvedCpuWorkload {
  kind: 'cpu';
  cores: number;
  loadPercent: number;
  /**
   * Duty cycle of each busy-loop process, in (0, 1]: one per whole core at `loadPercent`,
   * plus one for a fractional core at the fraction of that load (1.5 cores at 60 % → [0.6, 0.3]).
   */
  duties: number[];
  /** cores × loadPercent: the expected cpu of the tree in percent of one core. */
  targetCpuPercent: number;
}

export interface ResolvedMemoryWorkload {
  kind: 'memory';
  /** Bytes to allocate and touch. */
  bytes: number;
  rampMs: number;
  /** Time to hold after the ramp, ms; 0 = until recovered. */
  holdMs: number;
}

export interface ResolvedMatmulWorkload {
  kind: 'matmul';
  /** Candidate matrix sizes; one is drawn per run. */
  sizes: number[];
  matrices: number;
  dots: number;
}

export interface ResolvedIoWorkload {
  kind: 'io';
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
  fileSizeBytes: number;
  fsync: boolean;
  /** Directory of the scratch file (the runner's work directory when the workload names none). */
  directory: string;
}

export interface ResolvedNetworkWorkload {
  kind: 'network';
  bytesPerSecond: number;
  /** The peer sink; undefined = a loopback sink the workload starts itself. */
  peer: { host: string; port: number } | undefined;
}

export interface ResolvedStallWorkload {
  kind: 'stall';
  extraMs: number;
}

export interface ResolvedProcsWorkload {
  kind: 'procs';
  /** Processes alive at once in each burst. */
  count: number;
  /** Life of each process, ms. */
  lifetimeMs: number;
}

export interface ResolvedThreadsWorkload {
  kind: 'threads';
  /** Worker threads alive at once in each burst. */
  count: number;
  /** Life of each thread, ms. */
  lifetimeMs: number;
}

/** Defaults for fields a workload leaves at zero (proto3's "unset"). */
export const WorkloadDefaults = {
  /** matmul sizes: the seed's normal sizes scaled by 1/10 (3000–5000 there). */
  matmulSizes: [300, 350, 450, 500] as readonly number[],
  /** matmul matrices, as in the seed's normal loop. */
  matmulMatrices: 3,
  /** matmul dot products, as in the seed's normal loop. */
  matmulDots: 5,
  /** io scratch file size, bytes (64 MiB). */
  ioFileSizeBytes: 64 * 1024 * 1024,
  /** Life of each process or thread of a burst, ms. */
  burstLifetimeMs: 500,
} as const;

/** What resolving a workload needs to know about the host and the agent. */
export interface WorkloadContext {
  /** MemTotal, bytes, for `fraction_of_ram`. */
  memTotalBytes: number;
  /** Directory for scratch files when an io workload names none. */
  workDirectory: string;
}

const MAX_CORES = 1024;
const MAX_MATRIX_SIZE = 20_000;
const MAX_MATRICES = 64;
const MAX_DOTS = 100_000;
const MAX_PROCS = 10_000;
const MAX_THREADS = 1_000;
const MIN_FILE_SIZE_BYTES = 64 * 1024;

/**
 * Checks a protocol workload and applies defaults. Throws {@link InvalidWorkloadError}
 * naming the field, the allowed range and the value received. Pure: the host facts come in
 * `context`.
 */
export function resolveWorkload(workload: Workload | undefined, context: WorkloadContext): ResolvedWorkload {
  const kind = workload?.kind;
  if (kind === undefined)
    throw new InvalidWorkloadError('workload', 'workload must set exactly one kind, got none');
  switch (kind.$case) {
    case 'cpu': {
      const { cores, loadPercent } = kind.value;
      if (!(Number.isFinite(cores) && cores > 0 && cores <= MAX_CORES)) {
        throw invalid('workload.cpu.cores', `in (0, ${MAX_CORES}]`, cores);
      }
      if (!(Number.isFinite(loadPercent) && loadPercent > 0 && loadPercent <= 100)) {
        throw invalid('workload.cpu.loadPercent', 'in (0, 100]', loadPercent);
      }
      return {
        kind: 'cpu',
        cores,
        loadPercent,
        duties: cpuDuties(cores, loadPercent),
        targetCpuPercent: cores * loadPercent,
      };
    }
    case 'memory': {
      const { fractionOfRam, rampMs, holdMs } = kind.value;
      const bytes = toSafeNumber('workload.memory.bytes', kind.value.bytes);
      if (bytes > 0 && fractionOfRam !== 0) {
        throw new InvalidWorkloadError(
          'workload.memory',
          `workload.memory.bytes and workload.memory.fractionOfRam are exclusive, got ${bytes} and ${fractionOfRam}`,
        );
      }
      let target = bytes;
      if (bytes === 0) {
        if (!(Number.isFinite(fractionOfRam) && fractionOfRam > 0 && fractionOfRam <= 1)) {
          throw invalid('workload.memory.fractionOfRam', 'in (0, 1] (or set bytes)', fractionOfRam);
        }
        target = Math.floor(context.memTotalBytes * fractionOfRam);
      }
      return { kind: 'memory', bytes: target, rampMs, holdMs };
    }
    case 'matmul': {
      const sizes = kind.value.sizes.length > 0 ? [...kind.value.sizes] : [...WorkloadDefaults.matmulSizes];
      sizes.forEach((size, i) => {
        if (!(Number.isInteger(size) && size >= 1 && size <= MAX_MATRIX_SIZE)) {
          throw invalid(`workload.matmul.sizes[${i}]`, `in [1, ${MAX_MATRIX_SIZE}]`, size);
        }
      });
      const matrices = kind.value.matrices === 0 ? WorkloadDefaults.matmulMatrices : kind.value.matrices;
      if (matrices > MAX_MATRICES)
        throw invalid('workload.matmul.matrices', `in [1, ${MAX_MATRICES}]`, matrices);
      const dots = kind.value.dots === 0 ? WorkloadDefaults.matmulDots : kind.value.dots;
      if (dots > MAX_DOTS) throw invalid('workload.matmul.dots', `in [1, ${MAX_DOTS}]`, dots);
      return { kind: 'matmul', sizes, matrices, dots };
    }
    case 'io': {
      const writeBytesPerSecond = toSafeNumber(
        'workload.io.writeBytesPerSecond',
        kind.value.writeBytesPerSecond,
      );
      const readBytesPerSecond = toSafeNumber(
        'workload.io.readBytesPerSecond',
        kind.value.readBytesPerSecond,
      );
      if (writeBytesPerSecond === 0 && readBytesPerSecond === 0) {
        throw new InvalidWorkloadError(
          'workload.io',
          'workload.io needs writeBytesPerSecond or readBytesPerSecond > 0, got both 0',
        );
      }
      const rawSize = toSafeNumber('workload.io.fileSizeBytes', kind.value.fileSizeBytes);
      const fileSizeBytes = rawSize === 0 ? WorkloadDefaults.ioFileSizeBytes : rawSize;
      if (fileSizeBytes < MIN_FILE_SIZE_BYTES) {
        throw invalid(
          'workload.io.fileSizeBytes',
          `>= ${MIN_FILE_SIZE_BYTES} (or 0 for the default)`,
          fileSizeBytes,
        );
      }
      const directory = kind.value.directory === '' ? context.workDirectory : kind.value.directory;
      return {
        kind: 'io',
        writeBytesPerSecond,
        readBytesPerSecond,
        fileSizeBytes,
        fsync: kind.value.fsync,
        directory,
      };
    }
    case 'network': {
      const bytesPerSecond = toSafeNumber('workload.network.bytesPerSecond', kind.value.bytesPerSecond);
      if (bytesPerSecond === 0) throw invalid('workload.network.bytesPerSecond', '> 0', bytesPerSecond);
      return {
        kind: 'network',
        bytesPerSecond,
        peer: kind.value.peer === '' ? undefined : parsePeer(kind.value.peer),
      };
    }
    case 'stall': {
      if (kind.value.extraMs === 0) throw invalid('workload.stall.extraMs', '> 0', 0);
      return { kind: 'stall', extraMs: kind.value.extraMs };
    }
    case 'procs': {
      const { count } = kind.value;
      if (!(count >= 1 && count <= MAX_PROCS))
        throw invalid('workload.procs.count', `in [1, ${MAX_PROCS}]`, count);
      const lifetimeMs =
        kind.value.lifetimeMs === 0 ? WorkloadDefaults.burstLifetimeMs : kind.value.lifetimeMs;
      return { kind: 'procs', count, lifetimeMs };
    }
    case 'threads': {
      const { count } = kind.value;
      if (!(count >= 1 && count <= MAX_THREADS))
        throw invalid('workload.threads.count', `in [1, ${MAX_THREADS}]`, count);
      const lifetimeMs =
        kind.value.lifetimeMs === 0 ? WorkloadDefaults.burstLifetimeMs : kind.value.lifetimeMs;
      return { kind: 'threads', count, lifetimeMs };
    }
  }
}

/**
 * Splits `cores` at `loadPercent` into one duty cycle per busy-loop process: a full core at
 * the load for each whole core, and the fractional core as a partial duty.
 */
export function cpuDuties(cores: number, loadPercent: number): number[] {
  const load = loadPercent / 100;
  const whole = Math.floor(cores);
  const duties: number[] = new Array<number>(whole).fill(load);
  const fraction = cores - whole;
  // Below a thousandth of a core the process would cost more than it burns.
  if (fraction * load >= 0.001) duties.push(fraction * load);
  return duties;
}

/** Parses "host:port" or "[v6]:port". */
export function parsePeer(peer: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(peer);
  const port = match ? Number(match[3]) : NaN;
  const host = match ? (match[1] ?? match[2]) : undefined;
  if (host === undefined || !(port >= 1 && port <= 65535)) {
    throw new InvalidWorkloadError(
      'workload.network.peer',
      `workload.network.peer must be "host:port" with a port in [1, 65535], got ${JSON.stringify(peer)}`,
    );
  }
  return { host, port };
}

function toSafeNumber(field: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw invalid(field, `in [0, ${Number.MAX_SAFE_INTEGER}]`, value);
  return Number(value);
}

function invalid(field: string, range: string, value: number | bigint): InvalidWorkloadError {
  return new InvalidWorkloadError(field, `${field} must be ${range}, got ${String(value)}`);
}
