import { setMaxListeners } from 'node:events';
import type { Injection, Plan, PlanProgress, SampleLabels, TruthWindow, Workload } from '@faultline/protocol';
import type { InjectionRunner, InjectionStatus } from './workloads/index.js';

/** A line of the seed's RAM log vocabulary, emitted as the plan runs. */
export interface ExecutorEvent {
  /** Wall-clock time, ms since the epoch. */
  timeMs: number;
  type: 'SCRIPT_START' | 'WORKLOAD_START' | 'WORKLOAD_END' | 'SCRIPT_END';
  /** The executor state when the event happened. */
  state: string;
  /** `type:<normal|anomaly type>,size:<matrix size>[,duration:<s>s]` and similar. */
  details: string;
}

/** Options of a {@link PlanExecutor}. */
export interface PlanExecutorOptions {
  /** Runs every workload (baseline and injections) as apply/recover pairs. */
  runner: InjectionRunner;
  /** Wall clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * How long one baseline run of a workload without an end of its own (cpu, io, network,
   * memory without hold) lasts before the loop sleeps, ms. Default 2000.
   */
  baselineRunMs?: number;
  /** Truth windows: once when an injection starts (no end yet), once when it ends. */
  onTruth?: (truth: TruthWindow) => void;
  /** Progress on every state change and at the end (`done`). */
  onProgress?: (progress: PlanProgress) => void;
  /** RAM-log events (SCRIPT_START, WORKLOAD_START, ...). */
  onEvent?: (event: ExecutorEvent) => void;
  /** Failures inside the timeline (a workload that could not start, ...); the plan goes on. */
  onError?: (err: unknown, where: string) => void;
}

/** How a plan run ended. */
export interface PlanOutcome {
  planId: string;
  halted: boolean;
  injectionsStarted: number;
  injectionsFinished: number;
  truth: TruthWindow[];
}

const SELF_ENDING = new Set(['matmul', 'stall', 'procs', 'threads']);

function selfEnding(w: Workload | undefined): boolean {
  const kind = w?.kind;
  if (!kind) return true;
  if (kind.$case === 'memory') return kind.value.holdMs > 0;
  return SELF_ENDING.has(kind.$case);
}

function describeWorkload(type: string, w: Workload | undefined, status?: InjectionStatus): string {
  const parts = [`type:${type}`];
  if (w?.kind?.$case === 'matmul') parts.push(`size:${status?.details.size ?? w.kind.value.sizes[0] ?? ''}`);
  if (w?.kind?.$case === 'stall') parts.push(`sleep_time:${(w.kind.value.extraMs / 1000).toFixed(1)}s`);
  return parts.join(',');
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Follows one plan: the baseline loop (run the workload, then sleep) from the plan's start
 * to its end, and each injection at its absolute start time, recovered at its end (or when
 * its workload finishes by itself). An injection that replaces the baseline pauses the
 * loop while it runs. Every state change updates the labels that samples carry.
 *
 * @example
 * ```ts
 * const executor = new PlanExecutor(plan, { runner, onTruth: (t) => publisher.publishTruth(t) });
 * const outcome = await executor.run();
 * ```
 */
export class PlanExecutor {
  private readonly opts: Required<
    Omit<PlanExecutorOptions, 'onTruth' | 'onProgress' | 'onEvent' | 'onError'>
  > &
    PlanExecutorOptions;
  private readonly abort = new AbortController();
  private state = 'idle';
  private phase = '';
  private readonly activeInjections: Injection[] = [];
  private baselineId: string | undefined;
  private baselineCycle = 0;
  private started = 0;
  private finished = 0;
  private readonly truth = new Map<string, TruthWindow>();
  /** When samples began to carry each injection's label, ns since the epoch. */
  private readonly labelledFrom = new Map<string, bigint>();
  private readonly injectionDone: Array<Promise<void>> = [];
  private timers: NodeJS.Timeout[] = [];
  private halted = false;

  constructor(
    readonly plan: Plan,
    options: PlanExecutorOptions,
  ) {
    this.opts = { now: Date.now, baselineRunMs: 2000, ...options };
    // Every pending sleep listens on the signal: the loop, each injection, each poll.
    setMaxListeners(0, this.abort.signal);
  }

  /** The labels a sample taken now carries. */
  labels(): SampleLabels {
    const inj = this.activeInjections[this.activeInjections.length - 1];
    return {
      experimentId: this.plan.experimentId,
      phase: this.phase,
      state: this.state,
      injectionId: inj?.injectionId ?? '',
      anomalyType: inj?.anomalyType ?? '',
    };
  }

  /** Root pids of the workloads running now. */
  workloadPids(): number[] {
    const ids = [
      ...this.activeInjections.map((i) => i.injectionId),
      ...(this.baselineId ? [this.baselineId] : []),
    ];
    return ids.flatMap((id) => this.opts.runner.status(id)?.pids ?? []);
  }

  private startMs(): number {
    return Number(this.plan.startUnixNano / 1_000_000n);
  }

  private endMs(): number {
    return Number(this.plan.endUnixNano / 1_000_000n);
  }

  /** The state follows from what runs: the newest injection, else the baseline, else idle. */
  private refreshState(final = false): void {
    const top = this.activeInjections[this.activeInjections.length - 1];
    const state = final
      ? 'ending_script'
      : top
        ? `working_anomaly_${top.anomalyType}`
        : this.baselineId
          ? 'working_normal'
          : 'idle';
    if (state === this.state) return;
    this.state = state;
    this.progress(false);
  }

  private progress(done: boolean): void {
    this.opts.onProgress?.({
      planId: this.plan.planId,
      experimentId: this.plan.experimentId,
      phase: this.phase,
      state: this.state,
      injectionsStarted: this.started,
      injectionsFinished: this.finished,
      done,
    });
  }

  private event(type: ExecutorEvent['type'], details: string): void {
    this.opts.onEvent?.({ timeMs: this.opts.now(), type, state: this.state, details });
  }

  private at(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, Math.max(0, ms - this.opts.now())));
  }

  /** Runs the plan to its end (or a halt). */
  async run(): Promise<PlanOutcome> {
    const signal = this.abort.signal;
    await sleep(this.startMs() - this.opts.now(), signal);
    this.event('SCRIPT_START', `plan:${this.plan.planId},experiment:${this.plan.experimentId}`);
    for (const ph of this.plan.phases) {
      this.at(Number(ph.startUnixNano / 1_000_000n), () => {
        this.phase = ph.name;
        this.progress(false);
      });
    }
    for (const inj of this.plan.injections) {
      this.at(Number(inj.startUnixNano / 1_000_000n), () => {
        if (!this.halted) this.injectionDone.push(this.runInjection(inj));
      });
    }
    await this.baselineLoop(signal);
    await Promise.all(this.injectionDone);
    for (const t of this.timers) clearTimeout(t);
    this.refreshState(true);
    this.event('SCRIPT_END', `injections:${this.finished}`);
    this.progress(true);
    return {
      planId: this.plan.planId,
      halted: this.halted,
      injectionsStarted: this.started,
      injectionsFinished: this.finished,
      truth: [...this.truth.values()],
    };
  }

  private replacingActive(): boolean {
    return this.activeInjections.some((i) => i.replacesBaseline);
  }

  private async baselineLoop(signal: AbortSignal): Promise<void> {
    const baseline = this.plan.baseline;
    while (!signal.aborted && this.opts.now() < this.endMs()) {
      if (this.replacingActive() || !baseline?.workload) {
        await sleep(Math.min(100, this.endMs() - this.opts.now()), signal);
        continue;
      }
      await this.runBaselineOnce(baseline.workload, signal);
      if (signal.aborted) break;
      await sleep(Math.min(baseline.sleepMs, this.endMs() - this.opts.now()), signal);
    }
  }

  private async runBaselineOnce(workload: Workload, signal: AbortSignal): Promise<void> {
    const id = `${this.plan.planId}-baseline-${++this.baselineCycle}`;
    this.baselineId = id;
    this.refreshState();
    const began = this.opts.now();
    try {
      const status = await this.opts.runner.apply({
        injectionId: id,
        workload,
        experimentId: this.plan.experimentId,
      });
      if (this.replacingActive() || signal.aborted) {
        // An injection took the baseline's place while this cycle was starting.
        await this.opts.runner.recover(id);
        return;
      }
      this.event('WORKLOAD_START', describeWorkload('normal', workload, status));
      const runFor = Math.min(this.opts.baselineRunMs, this.endMs() - this.opts.now());
      const finished = this.opts.runner.finished(id);
      if (selfEnding(workload)) {
        // Stops early when an injection replaces the baseline, a halt comes, or the plan ends.
        await Promise.race([finished, this.until(() => this.replacingActive(), signal, this.endMs())]);
      } else {
        await Promise.race([
          finished,
          sleep(runFor, signal),
          this.until(() => this.replacingActive(), signal, this.endMs()),
        ]);
      }
      const final = (await this.opts.runner.recover(id)) ?? this.opts.runner.status(id);
      this.event(
        'WORKLOAD_END',
        `${describeWorkload('normal', workload, final)},duration:${((this.opts.now() - began) / 1000).toFixed(2)}s`,
      );
    } catch (err) {
      this.opts.onError?.(err, `baseline ${id}`);
      await sleep(1000, signal);
    } finally {
      this.baselineId = undefined;
      this.refreshState();
    }
  }

  /** Resolves when `cond()` holds, the signal aborts, or `deadlineMs` passes (polling every 50 ms). */
  private async until(cond: () => boolean, signal: AbortSignal, deadlineMs: number): Promise<void> {
    while (!cond() && !signal.aborted && this.opts.now() < deadlineMs) await sleep(50, signal);
  }

  private async runInjection(inj: Injection): Promise<void> {
    const { runner } = this.opts;
    const began = this.opts.now();
    this.labelledFrom.set(inj.injectionId, BigInt(began) * 1_000_000n);
    this.activeInjections.push(inj);
    this.started++;
    this.refreshState();
    try {
      const baseline = this.baselineId;
      if (inj.replacesBaseline && baseline) await runner.recover(baseline);
      const status = await runner.apply({
        injectionId: inj.injectionId,
        workload: inj.workload!,
        experimentId: this.plan.experimentId,
        anomalyType: inj.anomalyType,
        phase: inj.phase,
        requestedStartUnixNano: inj.startUnixNano,
        requestedEndUnixNano: inj.endUnixNano,
      });
      this.event('WORKLOAD_START', describeWorkload(`anomaly_${inj.anomalyType}`, inj.workload, status));
      this.recordTruth(status.truth);
      const endMs = Number(inj.endUnixNano / 1_000_000n);
      await Promise.race([
        runner.finished(inj.injectionId),
        sleep(endMs - this.opts.now(), this.abort.signal),
      ]);
      const final = (await runner.recover(inj.injectionId)) ?? runner.status(inj.injectionId);
      if (final) this.recordTruth(final.truth);
      this.event(
        'WORKLOAD_END',
        `${describeWorkload(`anomaly_${inj.anomalyType}`, inj.workload, final)},duration:${((this.opts.now() - began) / 1000).toFixed(2)}s`,
      );
    } catch (err) {
      this.opts.onError?.(err, `injection ${inj.injectionId}`);
    } finally {
      this.finished++;
      this.activeInjections.splice(this.activeInjections.indexOf(inj), 1);
      this.refreshState();
    }
  }

  /**
   * The truth window starts when samples begin to carry the injection's label: the agent
   * is already spawning the workload then (its processes show in the tree), which is
   * earlier than the runner's start (the workload reporting ready). Labels and truth agree.
   */
  private recordTruth(t: TruthWindow): void {
    const from = this.labelledFrom.get(t.injectionId);
    const start =
      from !== undefined && (t.actualStartUnixNano === 0n || from < t.actualStartUnixNano)
        ? from
        : t.actualStartUnixNano;
    const truth = { ...t, experimentId: this.plan.experimentId, actualStartUnixNano: start };
    this.truth.set(truth.injectionId, truth);
    this.opts.onTruth?.(truth);
  }

  /** Stops every workload of this plan now; resolves with how many injections were running. */
  async halt(): Promise<number> {
    this.halted = true;
    const running = this.activeInjections.length;
    for (const t of this.timers) clearTimeout(t);
    this.abort.abort();
    const ids = [
      ...this.activeInjections.map((i) => i.injectionId),
      ...(this.baselineId ? [this.baselineId] : []),
    ];
    await Promise.all(ids.map((id) => this.opts.runner.recover(id)));
    return running;
  }
}
