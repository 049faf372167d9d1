/**
 * The live detector: stream runner replicas that share the sample partitions with leases,
 * score every sample with a per-host pipeline (features, Isolation Forest, forecast bands,
 * fusion, hysteresis events), publish scores and anomaly events exactly once, checkpoint
 * per-host state, park undecodable messages, and report Prometheus metrics.
 *
 * @example
 * ```ts
 * import { StreamRunner, startMetricsServer } from '@faultline/detector';
 * const runner = new StreamRunner(nc, { replicaId: 'det-0', partitions: 16 });
 * await runner.start();
 * const http = await startMetricsServer(runner.metrics.registry, () => runner.health(), { port: 15053 });
 * ```
 */
export { CheckpointStore } from './checkpoint-store.js';
export type { CheckpointMarker, HostRecord, StoredMarker } from './checkpoint-store.js';
export { DeadLetterHeader, deadLetterMsgId, publishDeadLetter } from './dead-letter.js';
export type { DeadLetter } from './dead-letter.js';
export {
  DetectorStreamName,
  detectorStreamConfigs,
  detectorSubjects,
  ensureDetectorStreams,
  hostIdFromSubjectToken,
  hostSubjectToken,
} from './detector-streams.js';
export type { DetectorStreamOptions } from './detector-streams.js';
export {
  DEFAULT_BAND_OVERRIDES,
  HostDetector,
  mapForestScore,
  ModelFitReason,
  resolveHostDetectorOptions,
  resolveTrainingOptions,
} from './host-detector.js';
export type {
  HostDetectorIdentity,
  HostDetectorOptions,
  HostDetectorState,
  HostScoreOutcome,
  HostScoreResult,
  ResolvedHostDetectorOptions,
  ResolvedTrainingOptions,
  TrainingOptions,
} from './host-detector.js';
export { startMetricsServer } from './metrics-server.js';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.js';
export { isWrongLastSequence, LeaseTable, planAssignment } from './partition-leases.js';
export type {
  AssignmentInput,
  AssignmentPlan,
  HeldLease,
  LeaseRecord,
  LeaseTableOptions,
} from './partition-leases.js';
export { eventMsgId, PartitionWorker, partitionConsumerName, scoreBatchMsgId } from './partition-worker.js';
export type { PartitionWorkerConfig, PartitionWorkerDeps } from './partition-worker.js';
export { RunnerMetrics } from './runner-metrics.js';
export type { RunnerMetricsOptions } from './runner-metrics.js';
export { defaultReplicaId, resolveStreamRunnerOptions, StreamRunner } from './stream-runner.js';
export type {
  ResolvedStreamRunnerOptions,
  RunnerHealth,
  StreamRunnerDeps,
  StreamRunnerOptions,
} from './stream-runner.js';
export { SyntheticHost, syntheticInjectionId } from './synthetic-host.js';
export type { SyntheticAnomaly, SyntheticAnomalyKind, SyntheticHostOptions } from './synthetic-host.js';
