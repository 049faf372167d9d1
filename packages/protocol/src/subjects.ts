import { InvalidSubjectTokenError, ProtocolError, ProtocolErrorCode } from './errors.js';

/** Default number of sample partitions. Detector replicas claim whole partitions. */
export const DEFAULT_PARTITIONS = 16;

const TOKEN = /^[^\s.*>]+$/;

/** Throws {@link InvalidSubjectTokenError} unless `value` is a usable subject token. */
export function assertSubjectToken(field: string, value: string): string {
  if (!TOKEN.test(value)) throw new InvalidSubjectTokenError(field, value);
  return value;
}

function assertPartition(partition: number, partitions?: number): void {
  const ok =
    Number.isInteger(partition) && partition >= 0 && (partitions === undefined || partition < partitions);
  if (!ok) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidPartition,
      `partition must be an integer in [0, ${partitions ?? '∞'}), got ${partition}`,
    );
  }
}

/**
 * The partition an agent publishes to: FNV-1a of the agent id modulo `partitions`.
 * Stable across processes and versions, so a host's series always lands in one partition.
 */
export function partitionOf(agentId: string, partitions: number = DEFAULT_PARTITIONS): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidPartition,
      `partitions must be an integer >= 1, got ${partitions}`,
    );
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < agentId.length; i++) {
    h ^= agentId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** Subject names of the data plane. Every builder validates its tokens. */
export const subjects = {
  /** Sample batches of one agent: `fl.samples.<partition>.<agent>`. */
  samples(partition: number, agentId: string): string {
    assertPartition(partition);
    return `fl.samples.${partition}.${assertSubjectToken('agentId', agentId)}`;
  },
  /** Filter for one partition's samples (one consumer per partition): `fl.samples.<partition>.*`. */
  samplesPartition(partition: number): string {
    assertPartition(partition);
    return `fl.samples.${partition}.*`;
  },
  /** Truth events of one agent in one experiment: `fl.truth.<experiment>.<agent>`. */
  truth(experimentId: string, agentId: string): string {
    return `fl.truth.${assertSubjectToken('experimentId', experimentId)}.${assertSubjectToken('agentId', agentId)}`;
  },
  /** Truth events of one experiment: `fl.truth.<experiment>.*`. */
  truthExperiment(experimentId: string): string {
    return `fl.truth.${assertSubjectToken('experimentId', experimentId)}.*`;
  },
  /** Anomaly events found in one partition: `fl.anomalies.<partition>`. */
  anomalies(partition: number): string {
    assertPartition(partition);
    return `fl.anomalies.${partition}`;
  },
  /** Score batches of one partition: `fl.scores.<partition>`. */
  scores(partition: number): string {
    assertPartition(partition);
    return `fl.scores.${partition}`;
  },
  /** Messages that could not be decoded, parked with the original bytes: `fl.dlq.<stream>.<partition>`. */
  deadLetter(stream: string, partition: number): string {
    assertPartition(partition);
    return `fl.dlq.${assertSubjectToken('stream', stream)}.${partition}`;
  },
} as const;

/**
 * The JetStream message id of a sample batch, the key of server-side dedup: `<agent>:<seq>`,
 * or `<agent>:<spool>:<seq>` with the creation time (ms) of the agent's spool, whose seqs
 * start over when the directory is new (a pod that lost its data dir must not have its first
 * batches taken for duplicates of the lost ones').
 */
export function sampleBatchMsgId(agentId: string, seq: bigint | number, spoolCreatedMs = 0): string {
  return spoolCreatedMs > 0 ? `${agentId}:${spoolCreatedMs}:${seq}` : `${agentId}:${seq}`;
}
