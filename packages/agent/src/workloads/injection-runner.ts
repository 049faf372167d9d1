import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Achieved, TruthWindow, Workload } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import { readProcessTree, type ProcessTreeSnapshot } from '../process-tree.js';
import { AchievedTracker, sumSnapshots, type RampTarget, type TrackerSummary } from './achieved-tracker.js';
import type {
  BurstChildConfig,
  ChildMessage,
  CpuChildConfig,
  IoChildConfig,
  MatmulChildConfig,
  MemoryChildConfig,
  NetworkChildConfig,
} from './child-protocol.js';
import { workloadScriptPath, type WorkloadScriptName } from './child-script.js';
import { readRunQueueWaitNs } from './run-queue-wait.js';
import { judgeAchieved, type Judgement } from './tolerance.js';
import { describeExit, WorkloadProcess, type ProcessExit } from './workload-process.js';
import { resolveWorkload, type ResolvedWorkload, type WorkloadKindName } from './workload-spec.js';

/** Options of an {@link InjectionRunner}. */
export interface InjectionRunnerOptions {
  /** Interval between two measurements of each running injection's process tree, ms. Default 250; range [10, 60000]. */
  monitorIntervalMs?: number;
  /**
   * Time between SIGTERM and SIGKILL when a workload is stopped, ms. Default 300; range
   * [0, 600], so that a halt (with the reaping of what the workload spawned) completes
   * within one second.
   */
  killGraceMs?: number;
  /** Time a workload process has to start and say it is ready, ms. Default 15000; range [100, 120000]. */
  startTimeoutMs?: number;
  /** Root of the proc filesystem (`/host/proc` in a container). Default `/proc`. */
  procRoot?: string;
  /** Directory for io scratch files when a workload names none (created when missing). Default the OS temp directory. */
  workDirectory?: string;
  /** MemTotal for `fraction_of_ram`, bytes. Default `os.totalmem()`; range > 0. */
  memTotalBytes?: number;
  /**
   * A memory workload stops allocating (and says so) when MemAvailable would fall below
   * this, bytes. Default 256 MiB; range >= 0.
   */
  memoryReserveBytes?: number;
  /** Finished injections remembered for `status()` and idempotent `apply()`. Default 1024; range [1, 1000000]. */
  maxFinishedInjections?: number;
  /** Agent id written into truth windows. Default ''. */
  agentId?: string;
  /** Host id written into truth windows. Default ''. */
  hostId?: string;
  /** Wall clock for actual start and end, ns since the epoch. Default `Date.now()` in ns. */
  clock?: () => bigint;
  /** Uniform [0, 1) source for the matmul size draw and matrix seed. Default `Math.random`. */
  random?: () => number;
  /** Where errors of the background monitor go (with the injection). Default: a process warning. */
  onError?: (err: unknown, injectionId: string) => void;
}

export type ResolvedInjectionRunnerOptions = Required<InjectionRunnerOptions>;

/** Applies defaults to {@link InjectionRunnerOptions} and validates them. */
export function resolveInjectionRunnerOptions(
  raw: InjectionRunnerOptions = {},
): ResolvedInjectionRunnerOptions {
  const options: ResolvedInjectionRunnerOptions = {
    monitorIntervalMs: raw.monitorIntervalMs ?? 250,
    killGraceMs: raw.killGraceMs ?? 300,
    startTimeoutMs: raw.startTimeoutMs ?? 15_000,
    procRoot: raw.procRoot ?? '/proc',
    workDirectory: raw.workDirectory ?? tmpdir(),
    memTotalBytes: raw.memTotalBytes ?? totalmem(),
    memoryReserveBytes: raw.memoryReserveBytes ?? 256 * 1024 * 1024,
    maxFinishedInjections: raw.maxFinishedInjections ?? 1024,
    agentId: raw.agentId ?? '',
    hostId: raw.hostId ?? '',
    clock: raw.clock ?? (() => BigInt(Date.now()) * 1_000_000n),
    random: raw.random ?? Math.random,
    onError:
      raw.onError ??
      ((err, injectionId) =>
        process.emitWarning(`injection ${injectionId}: ${err instanceof Error ? err.message : String(err)}`)),
  };
  inRange('monitorIntervalMs', options.monitorIntervalMs, 10, 60_000);
  inRange('killGraceMs', options.killGraceMs, 0, 600);
  inRange('startTimeoutMs', options.startTimeoutMs, 100, 120_000);
  inRange('memoryReserveBytes', options.memoryReserveBytes, 0, Number.MAX_SAFE_INTEGER);
  inRange('maxFinishedInjections', options.maxFinishedInjections, 1, 1_000_000);
  if (!(Number.isFinite(options.memTotalBytes) && options.memTotalBytes > 0)) {
    throw new InvalidOptionsError('memTotalBytes', `memTotalBytes must be > 0, got ${options.memTotalBytes}`);
  }
  for (const field of ['procRoot', 'workDirectory'] as const) {
    if (options[field] === '')
      throw new InvalidOptionsError(field, `${field} must be a non-empty path, got ''`);
  }
  return options;
}

function inRange(field: string, value: number, min: number, max: number): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new InvalidOptionsError(field, `${field} must be in [${min}, ${max}], got ${value}`);
  }
}

/** One injection to apply: the workload and the labels its truth window carries. */
export interface InjectionRequest {
  /** Key of the apply/recover pair. */
  injectionId: string;
  workload: Workload;
  experimentId?: string;
  anomalyType?: string;
  phase?: string;
  requestedStartUnixNano?: bigint;
  requestedEndUnixNano?: bigint;
}

/** `starting`: processes spawned, not yet working; `running`; `finished`: over, for whatever reason. */
export type InjectionState = 'starting' | 'running' | 'finished';

/** What the runner knows about one injection. */
export interface InjectionStatus {
  injectionId: string;
  kind: WorkloadKindName;
  state: InjectionState;
  /** Root pids of the workload processes (none for `stall`). */
  pids: number[];
  /** Ground truth so far; `actualEndUnixNano` is 0 while it runs. */
  truth: TruthWindow;
  /** Caveats the workload reported that do not make a shortfall by themselves. */
  notes: string[];
  /**
   * Kind-specific facts: matmul `size`, `expectedBytes`, `dotsDone`; memory `allocatedBytes`;
   * procs/threads `peakExtraProcesses`/`peakExtraThreads`; all measured kinds `samples`.
   */
  details: Record<string, number>;
}

/**
 * Runs anomaly injections as apply/recover pairs keyed by injection id. Each workload runs in
 * its own child processes, so what it uses is measured on its own process tree at
 * `monitorIntervalMs`, against the tree's baseline taken after the processes started and
 * before they began to work; each injection ends with a protocol `TruthWindow` of requested
 * versus achieved.
 *
 * - `apply` is idempotent: applying an id again (running or finished) returns that
 *   injection, it never starts a second workload.
 * - `recover` of an unknown or finished id is success. Stopping takes SIGTERM and, after
 *   `killGraceMs`, SIGKILL: within a second.
 * - Workloads with an end of their own (memory with a hold, matmul, stall) finish by
 *   themselves; `finished(id)` waits for that.
 *
 * @example
 * ```ts
 * await using runner = new InjectionRunner({ monitorIntervalMs: 100 });
 * await runner.apply({ injectionId: 'inj-1', workload: { kind: { $case: 'cpu', value: { cores: 1, loadPercent: 50 } } } });
 * // ... later
 * const status = await runner.recover('inj-1');
 * console.log(status?.truth.achieved?.meanCpuPercent, status?.truth.reachedTarget);
 * ```
 */
export class InjectionRunner implements AsyncDisposable {
  readonly options: ResolvedInjectionRunnerOptions;
  private readonly injections = new Map<string, ActiveInjection>();
  private monitor: NodeJS.Timeout | undefined;
  private errors = 0;

  constructor(options: InjectionRunnerOptions = {}) {
    this.options = resolveInjectionRunnerOptions(options);
  }

  /**
   * Starts an injection and resolves once its workload is working (or failed to start: then
   * the status is `finished` with the reason in `truth.shortfall`). Rejects, recording
   * nothing, on an invalid workload (`InvalidWorkloadError`) or an unbuilt package
   * (`WorkloadScriptMissingError`).
   */
  async apply(request: InjectionRequest): Promise<InjectionStatus> {
    const existing = this.injections.get(request.injectionId);
    if (existing) {
      await existing.started;
      return existing.status();
    }
    const workload = resolveWorkload(request.workload, {
      memTotalBytes: this.options.memTotalBytes,
      workDirectory: this.options.workDirectory,
    });
    const launch = planLaunch(request.injectionId, workload, this.options);
    const injection = new ActiveInjection(request, workload, launch, this.options, () =>
      this.ensureMonitor(),
    );
    this.injections.set(request.injectionId, injection);
    void injection.done.then(() => this.forgetOldFinished());
    await injection.started;
    return injection.status();
  }

  /**
   * Stops an injection and resolves with its final status; undefined for an id this runner
   * does not know (recovering what is gone is success).
   */
  async recover(injectionId: string): Promise<InjectionStatus | undefined> {
    const injection = this.injections.get(injectionId);
    if (!injection) return undefined;
    await injection.stop();
    return injection.status();
  }

  /** Stops every injection (a halt); resolves with their final statuses. */
  async recoverAll(): Promise<InjectionStatus[]> {
    const all = [...this.injections.values()];
    await Promise.all(all.map((injection) => injection.stop()));
    return all.map((injection) => injection.status());
  }

  status(injectionId: string): InjectionStatus | undefined {
    return this.injections.get(injectionId)?.status();
  }

  /** Resolves when the injection has finished (on its own or recovered); undefined for an unknown id. */
  async finished(injectionId: string): Promise<InjectionStatus | undefined> {
    const injection = this.injections.get(injectionId);
    if (!injection) return undefined;
    await injection.done;
    return injection.status();
  }

  /** Ids of the injections not finished yet. */
  active(): string[] {
    return [...this.injections.values()]
      .filter((i) => i.state !== 'finished')
      .map((i) => i.request.injectionId);
  }

  /** Errors the background monitor met (each also went to `onError`). */
  get monitorErrors(): number {
    return this.errors;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.recoverAll();
    this.stopMonitor();
  }

  private ensureMonitor(): void {
    if (this.monitor) return;
    this.monitor = setInterval(() => this.tick(), this.options.monitorIntervalMs);
  }

  private stopMonitor(): void {
    if (this.monitor) clearInterval(this.monitor);
    this.monitor = undefined;
  }

  private tick(): void {
    let running = 0;
    for (const injection of this.injections.values()) {
      if (injection.state !== 'running') continue;
      running++;
      try {
        injection.sample();
      } catch (err) {
        this.errors++;
        this.options.onError(err, injection.request.injectionId);
      }
    }
    if (running === 0) this.stopMonitor();
  }

  private forgetOldFinished(): void {
    const finished = [...this.injections.values()].filter((i) => i.state === 'finished');
    for (const old of finished.slice(0, Math.max(0, finished.length - this.options.maxFinishedInjections))) {
      this.injections.delete(old.request.injectionId);
    }
  }
}

/** How an injection's processes are started: one entry per process. */
interface Launch {
  processes: { script: string; config: unknown; execArgv?: string[] }[];
  rampTarget: RampTarget | undefined;
  /** Reset and read VmHWM: kinds whose peak can fall between two snapshots. */
  trackPeakRss: boolean;
  /** io scratch file, removed when the injection ends. */
  scratchFile?: string;
  /** A directory to create first (the runner's own work directory; a workload's own must exist). */
  ensureDirectory?: string;
  details: Record<string, number>;
}

const CPU_PERIOD_MS = 100;
const PACING_TICK_MS = 100;

function planLaunch(
  injectionId: string,
  workload: ResolvedWorkload,
  options: ResolvedInjectionRunnerOptions,
): Launch {
  const script = (name: WorkloadScriptName): string => workloadScriptPath(name);
  switch (workload.kind) {
    case 'cpu': {
      const path = script('cpu-child');
      return {
        processes: workload.duties.map((duty) => ({
          script: path,
          config: { duty, periodMs: CPU_PERIOD_MS } satisfies CpuChildConfig,
        })),
        rampTarget: { metric: 'cpuPercent', value: workload.targetCpuPercent },
        trackPeakRss: false,
        details: {},
      };
    }
    case 'memory': {
      const config: MemoryChildConfig = {
        bytes: workload.bytes,
        rampMs: workload.rampMs,
        holdMs: workload.holdMs,
        reserveBytes: options.memoryReserveBytes,
        procRoot: options.procRoot,
      };
      return {
        // Without the JIT, compiling the page-touching loop pages in no compiler code (~4 MiB
        // of the node binary that would count as allocated memory).
        processes: [{ script: script('memory-child'), config, execArgv: ['--jitless'] }],
        rampTarget: { metric: 'rssDeltaBytes', value: workload.bytes },
        trackPeakRss: true,
        details: {},
      };
    }
    case 'matmul': {
      const size =
        workload.sizes[Math.floor(options.random() * workload.sizes.length)] ?? workload.sizes[0] ?? 1;
      const expectedBytes = (workload.matrices + 1) * size * size * 8;
      const config: MatmulChildConfig = {
        size,
        matrices: workload.matrices,
        dots: workload.dots,
        seed: Math.floor(options.random() * 2 ** 32),
      };
      return {
        processes: [{ script: script('matmul-child'), config }],
        rampTarget: { metric: 'rssDeltaBytes', value: expectedBytes },
        trackPeakRss: true,
        details: { size, expectedBytes },
      };
    }
    case 'io': {
      const safeId = injectionId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
      const scratchFile = join(
        workload.directory,
        `faultline-io-${safeId}-${process.pid}-${Date.now()}.scratch`,
      );
      const config: IoChildConfig = {
        path: scratchFile,
        writeBytesPerSecond: workload.writeBytesPerSecond,
        readBytesPerSecond: workload.readBytesPerSecond,
        fileSizeBytes: workload.fileSizeBytes,
        fsync: workload.fsync,
        tickMs: PACING_TICK_MS,
      };
      return {
        processes: [{ script: script('io-child'), config }],
        rampTarget:
          workload.writeBytesPerSecond > 0
            ? { metric: 'writeBytesPerSecond', value: workload.writeBytesPerSecond }
            : { metric: 'readBytesPerSecond', value: workload.readBytesPerSecond },
        trackPeakRss: false,
        scratchFile,
        ensureDirectory: workload.directory === options.workDirectory ? workload.directory : undefined,
        details: {},
      };
    }
    case 'network': {
      const config: NetworkChildConfig = {
        bytesPerSecond: workload.bytesPerSecond,
        peer: workload.peer,
        tickMs: PACING_TICK_MS,
      };
      return {
        processes: [{ script: script('network-child'), config }],
        rampTarget: { metric: 'wcharBytesPerSecond', value: workload.bytesPerSecond },
        trackPeakRss: false,
        details: {},
      };
    }
    case 'procs':
    case 'threads': {
      const config: BurstChildConfig = { count: workload.count, lifetimeMs: workload.lifetimeMs };
      return {
        processes: [{ script: script(workload.kind === 'procs' ? 'procs-child' : 'threads-child'), config }],
        rampTarget: {
          metric: workload.kind === 'procs' ? 'extraProcesses' : 'extraThreads',
          value: workload.count,
        },
        trackPeakRss: false,
        details: {},
      };
    }
    case 'stall':
      return { processes: [], rampTarget: undefined, trackPeakRss: false, details: {} };
  }
}

/** One injection's life: start, measure, stop, judge. */
class ActiveInjection {
  state: InjectionState = 'starting';
  /** Resolves when the workload is working or has failed to start. */
  readonly started: Promise<void>;
  /** Resolves when the injection is over. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private processes: WorkloadProcess[] = [];
  private tracker: AchievedTracker | undefined;
  private startNs = 0n;
  private endNs = 0n;
  private startMonotonicMs = 0;
  private endMonotonicMs = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private failure: string | undefined;
  private readonly childNotes: string[] = [];
  private readonly progress: Record<string, number> = {};
  private readonly processesDone = new Set<number>();
  private peakRssBytes = 0;
  private finishing: Promise<void> | undefined;
  private final: InjectionStatus | undefined;
  /** Run-queue wait of the root processes (ns) at the baseline and at the last reading, with when (ms). */
  private waitBaseline: { ns: number; atMs: number } | undefined;
  private waitLast: { ns: number; atMs: number } | undefined;

  constructor(
    readonly request: InjectionRequest,
    private readonly workload: ResolvedWorkload,
    private readonly launch: Launch,
    private readonly options: ResolvedInjectionRunnerOptions,
    private readonly onRunning: () => void,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.started = this.start();
  }

  private async start(): Promise<void> {
    if (this.launch.processes.length === 0) {
      this.markStarted();
      this.stallTimer = setTimeout(
        () => void this.finish(),
        this.workload.kind === 'stall' ? this.workload.extraMs : 0,
      );
      return;
    }
    try {
      if (this.launch.ensureDirectory) mkdirSync(this.launch.ensureDirectory, { recursive: true });
      for (const { script, config, execArgv } of this.launch.processes) {
        const child = new WorkloadProcess(
          script,
          config,
          (message) => this.onChildMessage(child, message),
          execArgv,
        );
        this.processes.push(child);
        void child.exited.then((exit) => this.onChildExit(child, exit));
      }
      await withTimeout(
        Promise.all(this.processes.map((p) => p.ready)),
        this.options.startTimeoutMs,
        `not ready within ${this.options.startTimeoutMs} ms`,
      );
    } catch (err) {
      if (!this.stopping)
        this.failure = `failed to start: ${err instanceof Error ? err.message : String(err)}`;
      await this.finish();
      return;
    }
    if (this.stopping) {
      await this.finish();
      return;
    }
    let baseline: ProcessTreeSnapshot | undefined;
    try {
      baseline = this.snapshot();
    } catch (err) {
      this.failure = `failed to start: cannot read the process tree: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (baseline === undefined) {
      this.failure ??= 'failed to start: the workload processes were gone before they started';
      await this.finish();
      return;
    }
    if (this.launch.trackPeakRss) for (const p of this.processes) resetPeakRss(this.options.procRoot, p.pid);
    this.tracker = new AchievedTracker(baseline, this.launch.rampTarget);
    this.waitBaseline = this.readWait();
    for (const p of this.processes) p.start();
    this.markStarted();
  }

  private markStarted(): void {
    this.startNs = this.options.clock();
    this.startMonotonicMs = performance.now();
    this.state = 'running';
    this.onRunning();
  }

  /** Measures the tree once (the runner's monitor calls this). */
  sample(): void {
    if (this.state !== 'running' || !this.tracker) return;
    const snapshot = this.snapshot();
    if (snapshot) this.tracker.add(snapshot);
    this.waitLast = this.readWait() ?? this.waitLast;
  }

  private readWait(): { ns: number; atMs: number } | undefined {
    let ns = 0;
    for (const p of this.processes) {
      const wait = readRunQueueWaitNs(this.options.procRoot, p.pid);
      if (wait === undefined) return undefined;
      ns += wait;
    }
    return { ns, atMs: performance.now() };
  }

  /** Share of the time the root processes were runnable but had no cpu, in [0, 1]. */
  private runQueueWaitFraction(): number | undefined {
    const from = this.waitBaseline;
    const to = this.waitLast;
    if (!from || !to || to.atMs <= from.atMs) return undefined;
    return (to.ns - from.ns) / 1e6 / ((to.atMs - from.atMs) * this.processes.length);
  }

  async stop(): Promise<void> {
    if (this.state === 'finished') return;
    this.stopping = true;
    if (this.state === 'starting') {
      await Promise.all(this.processes.map((p) => p.stop(this.options.killGraceMs)));
      await this.started;
      await this.done;
      return;
    }
    await this.finish();
  }

  /** Ends the injection once: last measurement, processes stopped, scratch removed, verdict kept. */
  private finish(): Promise<void> {
    this.finishing ??= (async () => {
      if (this.stallTimer) clearTimeout(this.stallTimer);
      if (this.state === 'running') {
        try {
          this.sample();
        } catch (err) {
          this.options.onError(err, this.request.injectionId);
        }
        if (this.launch.trackPeakRss) {
          for (const p of this.processes) {
            const peak = readPeakRss(this.options.procRoot, p.pid);
            if (peak !== undefined) this.peakRssBytes = Math.max(this.peakRssBytes, peak);
          }
        }
      }
      await Promise.all(this.processes.map((p) => p.stop(this.options.killGraceMs)));
      if (this.launch.scratchFile) {
        try {
          rmSync(this.launch.scratchFile, { force: true });
        } catch (err) {
          this.options.onError(err, this.request.injectionId);
        }
      }
      if (this.state === 'running') {
        this.endNs = this.options.clock();
        this.endMonotonicMs = performance.now();
      } else {
        // Never started: an empty window where it failed, so that no reader takes it for running.
        this.startNs = this.endNs = this.options.clock();
      }
      this.final = this.buildStatus('finished');
      this.state = 'finished';
      this.resolveDone();
    })();
    return this.finishing;
  }

  private onChildMessage(child: WorkloadProcess, message: ChildMessage): void {
    switch (message.type) {
      case 'note':
        this.childNotes.push(message.text);
        break;
      case 'progress':
        Object.assign(this.progress, message.values);
        break;
      case 'done':
        this.peakRssBytes = Math.max(this.peakRssBytes, message.peakRssBytes);
        this.processesDone.add(child.pid);
        break;
      case 'failed':
        this.failure ??= `workload process ${child.pid} failed: ${message.reason}`;
        break;
      case 'ready':
        break;
    }
  }

  private onChildExit(child: WorkloadProcess, exit: ProcessExit): void {
    if (this.stopping || this.state !== 'running') return;
    if (!this.processesDone.has(child.pid)) {
      const stderr = child.stderrTail();
      this.failure ??=
        `workload process ${child.pid} ended unexpectedly (${describeExit(exit)})` +
        (stderr ? `: ${stderr}` : '');
      // The work is broken: stop the rest of it.
      void this.finish();
      return;
    }
    if (this.processes.every((p) => this.processesDone.has(p.pid))) void this.finish();
  }

  private snapshot(): ProcessTreeSnapshot | undefined {
    const trees: ProcessTreeSnapshot[] = [];
    for (const p of this.processes) {
      const tree = readProcessTree(p.pid, this.options.procRoot);
      if (tree) trees.push(tree);
    }
    return sumSnapshots(trees);
  }

  status(): InjectionStatus {
    return this.final ?? this.buildStatus(this.state);
  }

  private buildStatus(state: InjectionState): InjectionStatus {
    const summary = this.measure();
    const notes = [...this.childNotes];
    const wait = this.runQueueWaitFraction();
    const judgement: Judgement =
      this.state === 'starting' && this.failure === undefined
        ? { reachedTarget: false, shortfall: 'not started yet' }
        : judgeAchieved(this.workload, {
            achieved: summary.achieved,
            samples: summary.samples,
            durationMs: summary.durationMs,
            peakExtraProcesses: summary.peakExtraProcesses,
            peakExtraThreads: summary.peakExtraThreads,
            wcharBytesPerSecond: summary.wcharBytesPerSecond,
            notes,
            failure:
              this.failure ??
              (this.stopping && this.tracker === undefined && this.workload.kind !== 'stall'
                ? 'recovered before it started'
                : undefined),
            dotsDone: this.progress.dotsDone ?? (this.workload.kind === 'matmul' ? 0 : undefined),
            runQueueWaitFraction: wait,
            expectedBytes: this.launch.details.expectedBytes,
          });
    const r = this.request;
    return {
      injectionId: r.injectionId,
      kind: this.workload.kind,
      state,
      pids: this.processes.map((p) => p.pid),
      truth: {
        injectionId: r.injectionId,
        experimentId: r.experimentId ?? '',
        agentId: this.options.agentId,
        hostId: this.options.hostId,
        anomalyType: r.anomalyType ?? '',
        phase: r.phase ?? '',
        requestedStartUnixNano: r.requestedStartUnixNano ?? 0n,
        requestedEndUnixNano: r.requestedEndUnixNano ?? 0n,
        actualStartUnixNano: this.startNs,
        actualEndUnixNano: this.endNs,
        requested: r.workload,
        achieved: summary.achieved,
        reachedTarget: judgement.reachedTarget,
        shortfall: judgement.shortfall,
      },
      notes: judgement.reachedTarget ? notes : [],
      details: {
        ...this.launch.details,
        ...this.progress,
        samples: summary.samples,
        ...(wait === undefined ? {} : { runQueueWaitPercent: wait * 100 }),
        peakExtraProcesses: summary.peakExtraProcesses,
        peakExtraThreads: summary.peakExtraThreads,
      },
    };
  }

  private measure(): TrackerSummary {
    if (this.workload.kind === 'stall') {
      const end =
        this.state === 'finished' || this.endMonotonicMs > 0 ? this.endMonotonicMs : performance.now();
      const heldMs = this.startMonotonicMs > 0 ? Math.max(0, end - this.startMonotonicMs) : 0;
      return emptySummary({ holdMs: Math.round(heldMs) }, heldMs);
    }
    if (!this.tracker) return emptySummary({}, 0);
    if (this.peakRssBytes > 0) this.tracker.notePeakRss(this.peakRssBytes);
    const summary = this.tracker.summary();
    if (this.workload.kind === 'network') summary.achieved.netBytesPerSecond = summary.wcharBytesPerSecond;
    return summary;
  }
}

function emptySummary(achieved: Partial<Achieved>, durationMs: number): TrackerSummary {
  return {
    achieved: {
      peakRssDeltaBytes: 0,
      meanRssDeltaBytes: 0,
      meanCpuPercent: 0,
      peakCpuPercent: 0,
      writeBytesPerSecond: 0,
      readBytesPerSecond: 0,
      netBytesPerSecond: 0,
      rampMs: 0,
      holdMs: 0,
      ...achieved,
    },
    samples: 0,
    durationMs,
    peakExtraProcesses: 0,
    peakExtraThreads: 0,
    wcharBytesPerSecond: 0,
    rcharBytesPerSecond: 0,
    reachedAtMs: undefined,
  };
}

/** Resets a process's VmHWM to its current RSS (Linux ≥ 4.0); best effort. */
function resetPeakRss(procRoot: string, pid: number): void {
  try {
    writeFileSync(`${procRoot}/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted or not supported: the peak then also covers the process's start-up.
  }
}

function readPeakRss(procRoot: string, pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`${procRoot}/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
