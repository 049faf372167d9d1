/**
 * The simulator's live shell: every interval, a sample of every virtual host at the wall
 * clock, published through one {@link SamplePublisher} (batched, durable, one agent id;
 * `Sample.host_id` is the virtual host). Plans run on the virtual hosts with
 * {@link LiveSimulator.runPlan}; their truth windows go out as a real agent's do.
 *
 * @example
 * ```ts
 * await using live = LiveSimulator.start({ natsUrl: 'nats://127.0.0.1:14222', hosts: 10_000, seed: 42 });
 * const outcome = await live.runPlan(planForOneVirtualHost);
 * console.log(live.stats());
 * ```
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Plan, PlanProgress } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import type { PlanOutcome } from '../executor.js';
import { SamplePublisher, type PublisherConnectionOptions, type SamplePublisherStats } from '../publisher.js';
import { startSamplingLoop, type SamplingLoop, type SamplingTick } from '../sampling-loop.js';
import { Simulator, type SimulatorOptions } from './simulator.js';

/** Options of a {@link LiveSimulator}: the simulator's, plus where and how to publish. */
export interface LiveSimulatorOptions extends SimulatorOptions {
  /** NATS server URL(s). Required. */
  natsUrl: string | string[];
  /** Directory of the publisher's spool. Default `.faultline/simulator/<agentId>`. */
  dataDir?: string;
  /** Cap of the sample spool, bytes. Default 1 GiB. */
  maxSpoolBytes?: number;
  /** Sample partitions (as the detectors use). Default 16. */
  partitions?: number;
  /** Samples per published batch. Default 500; an integer in [1, 100000]. */
  maxBatchSamples?: number;
  /** Publishes outstanding at once. Default 64. */
  maxInFlight?: number;
  /** NATS auth, TLS and name. Default none. */
  connection?: PublisherConnectionOptions;
  /** Wall clock for halts, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Where failures of ticks and of the publisher go, with what failed. Default: a process warning. */
  onError?: (err: unknown, where: string) => void;
}

/** Counters of a live simulator. */
export interface LiveSimulatorStats {
  /** Ticks run, and slots skipped because a tick overran. */
  ticks: number;
  skippedTicks: number;
  samplesGenerated: number;
  /** Time the last tick took (generate and hand to the publisher), and the longest, ms. */
  lastTickMs: number;
  maxTickMs: number;
  plansRunning: number;
  publisher: SamplePublisherStats;
}

/**
 * N virtual hosts sampled every interval and published. Start with {@link LiveSimulator.start};
 * stop with {@link stop} (halts the plans, flushes the publisher).
 */
export class LiveSimulator implements AsyncDisposable {
  readonly simulator: Simulator;
  readonly publisher: SamplePublisher;
  private readonly loop: SamplingLoop;
  private readonly now: () => number;
  private readonly onError: (err: unknown, where: string) => void;
  private samplesGenerated = 0;
  private lastTickMs = 0;
  private maxTickMs = 0;
  private stopped: Promise<void> | undefined;

  private constructor(options: LiveSimulatorOptions) {
    if (options.natsUrl === undefined || options.natsUrl.length === 0) {
      throw new InvalidOptionsError('natsUrl', 'natsUrl must be one or more NATS URLs, got none');
    }
    this.simulator = new Simulator(options);
    const { agentId } = this.simulator.options;
    this.now = options.now ?? Date.now;
    this.onError =
      options.onError ??
      ((err, where) =>
        process.emitWarning(`simulator ${where}: ${err instanceof Error ? err.message : String(err)}`));
    this.publisher = SamplePublisher.open({
      agentId,
      servers: options.natsUrl,
      partitions: options.partitions,
      spool: {
        dir: join(options.dataDir ?? join('.faultline', 'simulator', agentId), 'spool'),
        maxSpoolBytes: options.maxSpoolBytes ?? 2 ** 30,
      },
      maxBatchSamples: options.maxBatchSamples,
      maxInFlight: options.maxInFlight,
      connection: options.connection,
      onError: (err) => this.onError(err, 'publisher'),
    });
    try {
      this.loop = startSamplingLoop({
        intervalMs: this.simulator.options.model.intervalMs,
        onTick: (tick) => this.tick(tick),
        onError: (err, tick) => this.onError(err, `tick ${tick.index}`),
      });
    } catch (err) {
      void this.publisher.close();
      throw err;
    }
  }

  /**
   * Builds the fleet and starts sampling it at once (the first tick is due now). Throws
   * InvalidOptionsError for bad options (the interval must be in [50, 60000] ms live).
   */
  static start(options: LiveSimulatorOptions): LiveSimulator {
    return new LiveSimulator(options);
  }

  private tick(tick: SamplingTick): void {
    const began = performance.now();
    const publisher = this.publisher;
    this.simulator.sampleAll(Math.round(tick.wallTimeMs), (sample) => publisher.publish(sample));
    this.samplesGenerated += this.simulator.size;
    this.lastTickMs = performance.now() - began;
    this.maxTickMs = Math.max(this.maxTickMs, this.lastTickMs);
  }

  /**
   * Runs `plan` on the virtual host its `agentId` names; resolves when it ends or is halted.
   * Truth windows are published as the plan runs. Rejects with UnknownVirtualHostError or
   * InvalidWorkloadError when the plan cannot run.
   */
  runPlan(plan: Plan, callbacks: { onProgress?: (p: PlanProgress) => void } = {}): Promise<PlanOutcome> {
    return new Promise((resolve, reject) => {
      try {
        const added = this.simulator.addPlan(plan, {
          onTruth: (t) => this.publisher.publishTruth(t),
          onProgress: callbacks.onProgress,
          onDone: resolve,
        });
        if (!added)
          reject(new InvalidOptionsError('plan', `plan ${plan.planId} already runs on ${plan.agentId}`));
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Halts every plan (or one experiment's) now; returns how many injections were running. */
  halt(experimentId?: string): number {
    return this.simulator.halt(this.now(), experimentId);
  }

  stats(): LiveSimulatorStats {
    const loop = this.loop.stats();
    return {
      ticks: loop.ticks,
      skippedTicks: loop.skipped,
      samplesGenerated: this.samplesGenerated,
      lastTickMs: this.lastTickMs,
      maxTickMs: this.maxTickMs,
      plansRunning: this.simulator.runningPlans(),
      publisher: this.publisher.stats(),
    };
  }

  /** Resolves true once everything published so far is acknowledged, false after `timeoutMs`. */
  waitDrained(timeoutMs: number): Promise<boolean> {
    this.publisher.flushBatch();
    return this.publisher.waitDrained(timeoutMs);
  }

  /** Stops sampling, halts the plans, and closes the publisher (what is unsent stays in the spool). Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.loop.stop();
      this.halt();
      await this.publisher.close();
    })();
    return this.stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
