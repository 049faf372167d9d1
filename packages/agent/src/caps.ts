import { cpus, totalmem } from 'node:os';
import { Caps, WorkloadKind, type Plan, type Workload } from '@faultline/protocol';
import { InvalidOptionsError, PlanRefusedError } from './errors.js';

/**
 * Local limits that no plan can exceed. The agent enforces them whatever the controller
 * says: a plan over a cap is refused with a reason that names the cap.
 */
export interface AgentCapsOptions {
  /** Max fraction of MemTotal one memory injection may allocate, (0, 1]. Default 0.5. */
  maxMemoryFraction?: number;
  /** Max cores all concurrently running injections may load, (0, cpu count]. Default: the cpu count. */
  maxCores?: number;
  /** Max duration of one injection, ms, [1, 86400000]. Default 3600000 (1 h). */
  maxDurationMs?: number;
  /** Workload kinds allowed (`cpu`, `memory`, ...); empty = all. Default all. */
  allowedKinds?: string[];
  /** Max injections running at once, [1, 1000]. Default 4. */
  maxConcurrentInjections?: number;
}

export interface HostCapacity {
  memTotalBytes: number;
  cpuCount: number;
}

export function hostCapacity(): HostCapacity {
  return { memTotalBytes: totalmem(), cpuCount: cpus().length };
}

const KIND_BY_NAME: Record<string, WorkloadKind> = {
  cpu: WorkloadKind.WORKLOAD_KIND_CPU,
  memory: WorkloadKind.WORKLOAD_KIND_MEMORY,
  matmul: WorkloadKind.WORKLOAD_KIND_MATMUL,
  io: WorkloadKind.WORKLOAD_KIND_IO,
  network: WorkloadKind.WORKLOAD_KIND_NETWORK,
  stall: WorkloadKind.WORKLOAD_KIND_STALL,
  procs: WorkloadKind.WORKLOAD_KIND_PROCS,
  threads: WorkloadKind.WORKLOAD_KIND_THREADS,
};

/** Validates caps; a bad safety setting is a startup error, never a silent fallback. */
export function resolveCaps(raw: AgentCapsOptions = {}, host: HostCapacity = hostCapacity()): Caps {
  const caps: Caps = {
    maxMemoryFraction: raw.maxMemoryFraction ?? 0.5,
    maxCores: raw.maxCores ?? host.cpuCount,
    maxDurationMs: raw.maxDurationMs ?? 3_600_000,
    allowedKinds: [],
    maxConcurrentInjections: raw.maxConcurrentInjections ?? 4,
  };
  if (!(caps.maxMemoryFraction > 0 && caps.maxMemoryFraction <= 1)) {
    throw new InvalidOptionsError(
      'caps.maxMemoryFraction',
      `caps.maxMemoryFraction must be in (0, 1], got ${caps.maxMemoryFraction}`,
    );
  }
  if (!(caps.maxCores > 0 && caps.maxCores <= host.cpuCount)) {
    throw new InvalidOptionsError(
      'caps.maxCores',
      `caps.maxCores must be in (0, ${host.cpuCount}] (the cpu count), got ${caps.maxCores}`,
    );
  }
  if (!(
    Number.isInteger(caps.maxDurationMs) &&
    caps.maxDurationMs >= 1 &&
    caps.maxDurationMs <= 86_400_000
  )) {
    throw new InvalidOptionsError(
      'caps.maxDurationMs',
      `caps.maxDurationMs must be an integer in [1, 86400000], got ${caps.maxDurationMs}`,
    );
  }
  if (!(
    Number.isInteger(caps.maxConcurrentInjections) &&
    caps.maxConcurrentInjections >= 1 &&
    caps.maxConcurrentInjections <= 1000
  )) {
    throw new InvalidOptionsError(
      'caps.maxConcurrentInjections',
      `caps.maxConcurrentInjections must be an integer in [1, 1000], got ${caps.maxConcurrentInjections}`,
    );
  }
  for (const name of raw.allowedKinds ?? []) {
    const kind = KIND_BY_NAME[name];
    if (kind === undefined) {
      throw new InvalidOptionsError(
        'caps.allowedKinds',
        `caps.allowedKinds entries must be one of ${Object.keys(KIND_BY_NAME).join(', ')}, got ${JSON.stringify(name)}`,
      );
    }
    caps.allowedKinds.push(kind);
  }
  return caps;
}

function kindOf(w: Workload | undefined): string | undefined {
  return w?.kind?.$case;
}

function coresOf(w: Workload | undefined): number {
  if (w?.kind?.$case === 'cpu') return w.kind.value.cores * (w.kind.value.loadPercent / 100);
  if (w?.kind?.$case === 'matmul') return 1;
  return 0;
}

function memoryBytesOf(w: Workload | undefined, memTotalBytes: number): number {
  if (w?.kind?.$case !== 'memory') return 0;
  const m = w.kind.value;
  return m.bytes > 0n ? Number(m.bytes) : m.fractionOfRam * memTotalBytes;
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

/**
 * Checks a plan against the caps. Throws {@link PlanRefusedError} naming the first cap the
 * plan exceeds, its limit and what the plan asked for.
 */
export function checkPlan(plan: Plan, caps: Caps, host: HostCapacity = hostCapacity()): void {
  const allowed = new Set(caps.allowedKinds);
  const kindName = (k: string): WorkloadKind => KIND_BY_NAME[k] ?? WorkloadKind.WORKLOAD_KIND_UNSPECIFIED;
  const baselineKind = kindOf(plan.baseline?.workload);
  if (baselineKind && allowed.size > 0 && !allowed.has(kindName(baselineKind))) {
    throw new PlanRefusedError(
      'caps.allowedKinds',
      `caps.allowedKinds does not allow ${baselineKind} (the baseline workload)`,
    );
  }
  const maxMem = caps.maxMemoryFraction * host.memTotalBytes;
  for (const inj of plan.injections) {
    const kind = kindOf(inj.workload);
    if (!kind) throw new PlanRefusedError('workload', `injection ${inj.injectionId} has no workload`);
    if (allowed.size > 0 && !allowed.has(kindName(kind))) {
      throw new PlanRefusedError(
        'caps.allowedKinds',
        `caps.allowedKinds does not allow ${kind} (injection ${inj.injectionId})`,
      );
    }
    const durationMs = Number((inj.endUnixNano - inj.startUnixNano) / 1_000_000n);
    if (durationMs > caps.maxDurationMs) {
      throw new PlanRefusedError(
        'caps.maxDurationMs',
        `caps.maxDurationMs ${caps.maxDurationMs} < ${durationMs} ms requested by injection ${inj.injectionId}`,
      );
    }
    const mem = memoryBytesOf(inj.workload, host.memTotalBytes);
    if (mem > maxMem) {
      throw new PlanRefusedError(
        'caps.maxMemoryFraction',
        `caps.maxMemoryFraction ${caps.maxMemoryFraction} allows ${gib(maxMem)} of ${gib(host.memTotalBytes)}, injection ${inj.injectionId} requests ${gib(mem)}`,
      );
    }
  }
  // Concurrency and total cores over time: a sweep over the injection windows.
  const edges = plan.injections
    .flatMap((inj) => [
      { t: inj.startUnixNano, d: 1, cores: coresOf(inj.workload), id: inj.injectionId },
      { t: inj.endUnixNano, d: -1, cores: -coresOf(inj.workload), id: inj.injectionId },
    ])
    .sort((a, b) => (a.t === b.t ? a.d - b.d : a.t < b.t ? -1 : 1));
  let running = 0;
  let cores = coresOf(plan.baseline?.workload);
  if (cores > caps.maxCores) {
    throw new PlanRefusedError(
      'caps.maxCores',
      `caps.maxCores ${caps.maxCores} < ${cores} cores requested by the baseline`,
    );
  }
  for (const e of edges) {
    running += e.d;
    cores += e.cores;
    if (running > caps.maxConcurrentInjections) {
      throw new PlanRefusedError(
        'caps.maxConcurrentInjections',
        `caps.maxConcurrentInjections ${caps.maxConcurrentInjections} < ${running} injections running at once (at ${e.id})`,
      );
    }
    if (cores > caps.maxCores + 1e-9) {
      throw new PlanRefusedError(
        'caps.maxCores',
        `caps.maxCores ${caps.maxCores} < ${Number(cores.toFixed(3))} cores requested at once (at ${e.id})`,
      );
    }
  }
}
