/**
 * A plan running on one virtual host, in virtual time: the same timeline and labels as the
 * real {@link PlanExecutor} (the baseline loop of work then sleep, paused while an injection
 * that replaces it runs; each injection from its start to its end or its own end; the state
 * of the newest running injection, else `working_normal` or `idle`), evaluated at each tick
 * instead of with timers. Pure: the ticks bring the time.
 */
import {
  seedFromString,
  type Plan,
  type PlanProgress,
  type SampleLabels,
  type TruthWindow,
} from '@faultline/protocol';
import type { PlanOutcome } from '../executor.js';
import { resolveWorkload, type ResolvedWorkload } from '../workloads/workload-spec.js';
import type { VirtualHostSpec } from './fleet-model.js';
import type { HostEffects } from './host-metrics-model.js';
import {
  addWorkloadEffect,
  selfDurationMs,
  VirtualInjection,
  type CappedEffect,
} from './virtual-injection.js';

/** What a plan reports as it runs, as a real agent's plan does. */
export interface VirtualPlanCallbacks {
  /** Truth windows: once when an injection starts (no end yet), once when it ends. */
  onTruth?: (truth: TruthWindow) => void;
  /** Progress on every change of phase or state, and at the end (`done`). */
  onProgress?: (progress: PlanProgress) => void;
  /** The plan's end (or halt). */
  onDone?: (outcome: PlanOutcome) => void;
}

/** What a virtual plan needs to know about where it runs. */
export interface VirtualPlanContext {
  readonly agentId: string;
  readonly host: VirtualHostSpec;
  /** Seeds the matmul size draws. */
  readonly seed: string;
  /** How long one baseline run of a workload without an end of its own lasts, ms. */
  readonly baselineRunMs: number;
  readonly matmulFlopsPerSecond: number;
}

/** What one running injection asked of the host at a tick. */
export interface InjectionShare {
  readonly injection: VirtualInjection;
  readonly asked: CappedEffect;
}

/** The fmix32 finaliser of MurmurHash3: a cheap, well-mixed integer hash. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

const WORK_DIRECTORY = '/virtual';

/**
 * One plan on one virtual host. Construct it (the workloads are checked: an invalid one
 * throws `InvalidWorkloadError`), then call {@link step} at each tick of the host, in time
 * order.
 */
export class VirtualPlan {
  readonly startMs: number;
  readonly endMs: number;
  readonly injections: readonly VirtualInjection[];
  private readonly baseline: ResolvedWorkload | undefined;
  private readonly baselineSizes: readonly number[];
  private readonly sleepMs: number;
  private readonly baseHash: number;
  private haltedAtMs = Infinity;
  private started = 0;
  private finished = 0;
  private lastState = '';
  private lastPhase = '';
  private finalTruth = new Map<string, TruthWindow>();
  /** True once the plan has ended (or was halted) and reported it. */
  done = false;
  // The baseline cycle the last tick was in: cycles start at `anchorMs` and run work then sleep.
  private anchorMs = NaN;
  private cycle = 0;
  private cycleStartMs = 0;
  private cycleWorkMs = 0;

  constructor(
    readonly plan: Plan,
    private readonly context: VirtualPlanContext,
    private readonly callbacks: VirtualPlanCallbacks = {},
  ) {
    const resolveContext = { memTotalBytes: context.host.memoryTotalBytes, workDirectory: WORK_DIRECTORY };
    this.startMs = Number(plan.startUnixNano / 1_000_000n);
    this.endMs = Number(plan.endUnixNano / 1_000_000n);
    this.sleepMs = plan.baseline?.sleepMs ?? 0;
    this.baseline = plan.baseline?.workload
      ? resolveWorkload(plan.baseline.workload, resolveContext)
      : undefined;
    this.baselineSizes = this.baseline?.kind === 'matmul' ? this.baseline.sizes : [0];
    this.baseHash = seedFromString(`${context.seed}/${plan.planId}/baseline`);
    this.injections = plan.injections.map((inj) => {
      const workload = resolveWorkload(inj.workload, resolveContext);
      const size =
        workload.kind === 'matmul'
          ? workload.sizes[
              seedFromString(`${context.seed}/${plan.planId}/${inj.injectionId}`) % workload.sizes.length
            ]!
          : 0;
      return new VirtualInjection(inj, workload, size, context);
    });
  }

  private ids(): { experimentId: string; agentId: string; hostId: string } {
    return {
      experimentId: this.plan.experimentId,
      agentId: this.context.agentId,
      hostId: this.context.host.hostId,
    };
  }

  private emitTruth(inj: VirtualInjection): void {
    const truth = inj.truth(this.ids());
    if (truth.actualEndUnixNano !== 0n) this.finalTruth.set(truth.injectionId, truth);
    this.callbacks.onTruth?.(truth);
  }

  /** Starts and ends injections up to `timeMs`, and ends the plan when its time is up. */
  private update(timeMs: number): void {
    if (this.done || timeMs < this.startMs) return;
    let running = false;
    for (const inj of this.injections) {
      if (inj.state === 'pending' && timeMs >= inj.startMs && inj.startMs < this.haltedAtMs) {
        inj.state = 'active';
        this.started++;
        this.emitTruth(inj);
      }
      if (inj.state === 'active' && timeMs >= inj.endMs) {
        inj.state = 'done';
        this.finished++;
        this.emitTruth(inj);
      }
      if (inj.state === 'active') running = true;
    }
    if (!running && timeMs >= Math.min(this.endMs, this.haltedAtMs)) {
      this.done = true;
      this.progress('ending_script', this.lastPhase, true);
      this.callbacks.onDone?.({
        planId: this.plan.planId,
        halted: this.haltedAtMs !== Infinity,
        injectionsStarted: this.started,
        injectionsFinished: this.finished,
        truth: [...this.finalTruth.values()],
      });
    }
  }

  /**
   * Advances the timeline to `timeMs` without a sample: injections that ended by then report
   * their truth windows, and the plan ends when its time is up.
   */
  advance(timeMs: number): void {
    this.update(timeMs);
  }

  /**
   * Stops the plan at `timeMs`: running injections end there (their truth windows are
   * reported now), pending ones never start. Returns how many were running.
   */
  halt(timeMs: number): number {
    if (this.done) return 0;
    this.haltedAtMs = Math.min(this.haltedAtMs, timeMs);
    let running = 0;
    for (const inj of this.injections) {
      if (inj.state === 'active') {
        running++;
        inj.halt(timeMs);
      }
    }
    this.update(timeMs);
    return running;
  }

  /**
   * One tick at `timeMs`: advances the timeline, adds the effects of what runs (the baseline
   * workload and the injections) to `effects`, lists the injections' shares in `shares` (to
   * be recorded once the host model says what it took), and returns the sample's labels.
   */
  step(timeMs: number, effects: HostEffects, shares: InjectionShare[]): SampleLabels {
    this.update(timeMs);
    if (timeMs < this.startMs || this.done) {
      return {
        experimentId: this.plan.experimentId,
        phase: '',
        state: 'idle',
        injectionId: '',
        anomalyType: '',
      };
    }
    let newest: VirtualInjection | undefined;
    for (const inj of this.injections) {
      if (inj.state !== 'active' || !inj.activeAt(timeMs)) continue;
      shares.push({ injection: inj, asked: inj.contribute(timeMs, effects) });
      if (newest === undefined || inj.startMs >= newest.startMs) newest = inj;
    }
    const working = this.baselineAt(timeMs, effects);
    const phase = this.phaseAt(timeMs);
    const state = newest
      ? `working_anomaly_${newest.injection.anomalyType}`
      : working
        ? 'working_normal'
        : 'idle';
    if (state !== this.lastState || phase !== this.lastPhase) this.progress(state, phase, false);
    return {
      experimentId: this.plan.experimentId,
      phase,
      state,
      injectionId: newest?.injection.injectionId ?? '',
      anomalyType: newest?.injection.anomalyType ?? '',
    };
  }

  private progress(state: string, phase: string, done: boolean): void {
    this.lastState = state;
    this.lastPhase = phase;
    this.callbacks.onProgress?.({
      planId: this.plan.planId,
      experimentId: this.plan.experimentId,
      phase,
      state,
      injectionsStarted: this.started,
      injectionsFinished: this.finished,
      done,
    });
  }

  /** The phase that began last at or before `timeMs` (phases tile the plan). */
  private phaseAt(timeMs: number): string {
    let name = '';
    let latest = -Infinity;
    for (const p of this.plan.phases) {
      const start = Number(p.startUnixNano / 1_000_000n);
      if (start <= timeMs && start >= latest) {
        latest = start;
        name = p.name;
      }
    }
    return name;
  }

  /** How long baseline cycle `k` (from `anchor`) works, ms; Infinity for a workload that never ends by itself. */
  private workMs(anchorMs: number, k: number): number {
    const w = this.baseline!;
    if (
      w.kind === 'cpu' ||
      w.kind === 'io' ||
      w.kind === 'network' ||
      (w.kind === 'memory' && w.holdMs === 0)
    ) {
      return this.context.baselineRunMs;
    }
    if (w.kind === 'procs' || w.kind === 'threads') return Infinity;
    return selfDurationMs(w, this.cycleSize(anchorMs, k), this.context);
  }

  /** The matrix size of baseline cycle `k` (a fresh draw per run, as the real workload makes). */
  private cycleSize(anchorMs: number, k: number): number {
    const sizes = this.baselineSizes;
    return sizes[mix32(this.baseHash ^ mix32(anchorMs | 0) ^ mix32(k + 1)) % sizes.length]!;
  }

  /**
   * Whether the baseline works at `timeMs`, adding its effect to `effects` when it does. The
   * loop runs from the plan's start to its end, pauses while an injection that replaces it
   * runs, and starts a new cycle when such an injection ends.
   */
  private baselineAt(timeMs: number, effects: HostEffects): boolean {
    if (this.baseline === undefined || timeMs >= this.endMs || timeMs >= this.haltedAtMs) return false;
    let anchor = this.startMs;
    for (const inj of this.injections) {
      if (!inj.injection.replacesBaseline || inj.state === 'pending') continue;
      if (inj.activeAt(timeMs)) return false;
      if (inj.endMs <= timeMs && inj.endMs > anchor) anchor = inj.endMs;
    }
    if (anchor !== this.anchorMs || timeMs < this.cycleStartMs) {
      this.anchorMs = anchor;
      this.cycle = 0;
      this.cycleStartMs = anchor;
      this.cycleWorkMs = this.workMs(anchor, 0);
    }
    if (this.baseline.kind === 'matmul') {
      while (this.cycleStartMs + this.cycleWorkMs + this.sleepMs <= timeMs) {
        this.cycleStartMs += this.cycleWorkMs + this.sleepMs;
        this.cycle++;
        this.cycleWorkMs = this.workMs(anchor, this.cycle);
      }
    } else if (Number.isFinite(this.cycleWorkMs)) {
      // Every cycle is alike: jump straight to the one holding timeMs.
      const period = this.cycleWorkMs + this.sleepMs;
      this.cycleStartMs = anchor + Math.floor((timeMs - anchor) / period) * period;
    }
    const elapsed = timeMs - this.cycleStartMs;
    if (elapsed >= this.cycleWorkMs) return false;
    addWorkloadEffect(this.baseline, elapsed, this.cycleSize(anchor, this.cycle), effects);
    return true;
  }
}
