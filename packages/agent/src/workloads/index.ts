/**
 * Anomaly workloads and the injection runner: each workload of the protocol's `Workload`
 * (cpu, memory, matmul, io, network, stall, procs, threads) runs in its own child processes,
 * as an apply/recover pair keyed by injection id, and ends in a `TruthWindow` of requested
 * versus achieved, measured on the workload's process tree.
 *
 * @example
 * ```ts
 * await using runner = new InjectionRunner();
 * await runner.apply({
 *   injectionId: 'ram-1',
 *   workload: { kind: { $case: 'memory', value: { bytes: 256n << 20n, fractionOfRam: 0, rampMs: 0, holdMs: 0 } } },
 * });
 * const { truth } = (await runner.recover('ram-1'))!;
 * ```
 */
export { InjectionRunner, resolveInjectionRunnerOptions } from './injection-runner.js';
export type {
  InjectionRequest,
  InjectionRunnerOptions,
  InjectionState,
  InjectionStatus,
  ResolvedInjectionRunnerOptions,
} from './injection-runner.js';
export { resolveWorkload, cpuDuties, parsePeer, WorkloadDefaults } from './workload-spec.js';
export type {
  ResolvedWorkload,
  ResolvedCpuWorkload,
  ResolvedMemoryWorkload,
  ResolvedMatmulWorkload,
  ResolvedIoWorkload,
  ResolvedNetworkWorkload,
  ResolvedStallWorkload,
  ResolvedProcsWorkload,
  ResolvedThreadsWorkload,
  WorkloadContext,
  WorkloadKindName,
} from './workload-spec.js';
export { judgeAchieved, WorkloadTolerance } from './tolerance.js';
export type { InjectionEvidence, Judgement } from './tolerance.js';
export { AchievedTracker, sumSnapshots, RAMP_FRACTION } from './achieved-tracker.js';
export type { RampMetric, RampTarget, TrackerSummary } from './achieved-tracker.js';
export { workloadScriptPath } from './child-script.js';
export type { WorkloadScriptName } from './child-script.js';
