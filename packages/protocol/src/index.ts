/**
 * Faultline's wire contracts: the messages and gRPC services generated from
 * `proto/faultline/v1` (never edit `gen/`: run `pnpm gen`), the NATS subjects and
 * JetStream streams of the data plane, and strict codecs.
 *
 * @example
 * ```ts
 * import { encodeSampleBatch, decodeSampleBatch, subjects, partitionOf } from '@faultline/protocol';
 * const partition = partitionOf('agent-1');
 * await js.publish(subjects.samples(partition, 'agent-1'), encodeSampleBatch(batch), {
 *   msgID: sampleBatchMsgId('agent-1', batch.seq),
 * });
 * const again = decodeSampleBatch(msg.data); // throws MalformedMessageError on bad bytes
 * ```
 */
export * from './gen/faultline/v1/sample.js';
export * from './gen/faultline/v1/plan.js';
export * from './gen/faultline/v1/experiment.js';
export * from './gen/faultline/v1/detection.js';
export * from './gen/faultline/v1/agent_service.js';
export * from './gen/faultline/v1/control_service.js';
export * from './codec.js';
export * from './errors.js';
export * from './subjects.js';
export * from './streams.js';
export * from './time.js';
export * from './random.js';
export * from './nats-auth.js';
