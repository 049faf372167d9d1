/**
 * The detector's own JetStream streams: partition leases and per-host checkpoints. They are
 * plain streams with one message per subject (as a KV bucket is underneath), so that they work
 * on nats-server 2.9 without the KV client:
 *
 * - `FL_DETECTOR_LEASES` (`fl.detector.leases.>`): a lease per partition and a heartbeat per
 *   live replica. `max_age` is the lease TTL: a record that is not rewritten within it expires,
 *   which is how a crashed replica's leases and membership disappear. Claims and renewals are
 *   compare-and-set on the subject's last sequence (`Nats-Expected-Last-Subject-Sequence`).
 * - `FL_DETECTOR_CHECKPOINTS` (`fl.detector.checkpoints.>`): per partition a marker (the stream
 *   sequence of FL_SAMPLES up to which the partition's checkpoint is complete, and the epoch of
 *   the lease that wrote it) and one record per host (its `HostDetector` state).
 *
 * Subjects carry a group name, so independent detector deployments can share a server.
 */
import {
  DiscardPolicy,
  RetentionPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { assertSubjectToken } from '@faultline/protocol';

/** Stream names. */
export const DetectorStreamName = {
  Leases: 'FL_DETECTOR_LEASES',
  Checkpoints: 'FL_DETECTOR_CHECKPOINTS',
} as const;
export type DetectorStreamName = (typeof DetectorStreamName)[keyof typeof DetectorStreamName];

/** A host id as one subject token: base64url of its UTF-8 bytes (no '.', '*', '>' or spaces). */
export function hostSubjectToken(hostId: string): string {
  return Buffer.from(hostId, 'utf8').toString('base64url');
}

/** The inverse of {@link hostSubjectToken}. */
export function hostIdFromSubjectToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** Subjects of the detector's streams; every builder validates its tokens. */
export const detectorSubjects = {
  /** The lease of one partition: `fl.detector.leases.<group>.p.<partition>`. */
  lease(group: string, partition: number): string {
    return `fl.detector.leases.${assertSubjectToken('group', group)}.p.${partition}`;
  },
  /** Every partition lease of a group. */
  leases(group: string): string {
    return `fl.detector.leases.${assertSubjectToken('group', group)}.p.*`;
  },
  /** The heartbeat of one replica: `fl.detector.leases.<group>.m.<replica>`. */
  member(group: string, replicaId: string): string {
    return `fl.detector.leases.${assertSubjectToken('group', group)}.m.${assertSubjectToken('replicaId', replicaId)}`;
  },
  /** Every replica heartbeat of a group. */
  members(group: string): string {
    return `fl.detector.leases.${assertSubjectToken('group', group)}.m.*`;
  },
  /** The checkpoint marker of one partition: `fl.detector.checkpoints.<group>.<partition>`. */
  marker(group: string, partition: number): string {
    return `fl.detector.checkpoints.${assertSubjectToken('group', group)}.${partition}`;
  },
  /** One host's checkpoint: `fl.detector.checkpoints.<group>.<partition>.<host token>`. */
  hostCheckpoint(group: string, partition: number, hostId: string): string {
    return `${detectorSubjects.marker(group, partition)}.${hostSubjectToken(hostId)}`;
  },
  /** Every host checkpoint of a partition. */
  hostCheckpoints(group: string, partition: number): string {
    return `${detectorSubjects.marker(group, partition)}.*`;
  },
} as const;

/** Limits of the detector's streams. */
export interface DetectorStreamOptions {
  /** Lease TTL, ms: the `max_age` of FL_DETECTOR_LEASES. Required. */
  leaseTtlMs: number;
  /** How long a host's checkpoint outlives the host's last write, ms; default 7 days. */
  checkpointMaxAgeMs?: number;
  /** Replicas per stream: 1 on one server, 3 on a cluster. Default 1. */
  replicas?: number;
  /** file (default) or memory storage. */
  storage?: 'file' | 'memory';
}

const NS_PER_MS = 1_000_000;

/** The two stream configurations, with defaults applied. */
export function detectorStreamConfigs(
  options: DetectorStreamOptions,
): Array<Partial<StreamConfig> & { name: string }> {
  const common = {
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas ?? 1,
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    max_msgs_per_subject: 1,
  };
  const leaseNs = Math.round(options.leaseTtlMs) * NS_PER_MS;
  const checkpointNs = Math.round(options.checkpointMaxAgeMs ?? 7 * 24 * 3600 * 1000) * NS_PER_MS;
  return [
    {
      ...common,
      name: DetectorStreamName.Leases,
      subjects: ['fl.detector.leases.>'],
      max_age: leaseNs,
      // The duplicate window may not exceed max_age; lease writes carry no msg id anyway.
      duplicate_window: Math.min(leaseNs, 120_000 * NS_PER_MS),
      description: 'Detector partition leases and replica heartbeats; max_age is the lease TTL',
    },
    {
      ...common,
      name: DetectorStreamName.Checkpoints,
      subjects: ['fl.detector.checkpoints.>'],
      max_age: checkpointNs,
      duplicate_window: Math.min(checkpointNs, 120_000 * NS_PER_MS),
      description: 'Detector checkpoints: a marker per partition and the state of each host',
    },
  ];
}

/**
 * Creates the detector's streams when missing. An existing lease stream whose max_age is not
 * the given lease TTL is updated to it (the last replica to start sets the TTL for all);
 * nothing else of an existing stream is changed.
 */
export async function ensureDetectorStreams(
  jsm: JetStreamManager,
  options: DetectorStreamOptions,
): Promise<void> {
  for (const config of detectorStreamConfigs(options)) {
    let info;
    try {
      info = await jsm.streams.info(config.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    }
    if (info === undefined) {
      await jsm.streams.add(config);
    } else if (config.name === DetectorStreamName.Leases && info.config.max_age !== config.max_age) {
      await jsm.streams.update(config.name, {
        ...info.config,
        max_age: config.max_age as number,
        duplicate_window: config.duplicate_window as number,
      });
    }
  }
}
