import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';

/** Stream names. */
export const StreamName = {
  Samples: 'FL_SAMPLES',
  Truth: 'FL_TRUTH',
  Anomalies: 'FL_ANOMALIES',
  Scores: 'FL_SCORES',
  DeadLetter: 'FL_DEADLETTER',
} as const;
export type StreamName = (typeof StreamName)[keyof typeof StreamName];

/** Limits of the data-plane streams. */
export interface StreamOptions {
  /** Replicas per stream: 1 on one server, 3 on a cluster. Default 1. */
  replicas?: number;
  /** How long samples and scores are kept, ms. Default 7 days. */
  maxAgeMs?: number;
  /** Max bytes of FL_SAMPLES; -1 = unlimited. Default 8 GiB. */
  maxSampleBytes?: number;
  /** Window in which a repeated Nats-Msg-Id is dropped as a duplicate, ms. Default 10 minutes. */
  duplicateWindowMs?: number;
  /** file (default) or memory storage; memory is for tests. */
  storage?: 'file' | 'memory';
}

const MS = 1_000_000; // JetStream durations are nanoseconds

/** The stream configurations, with defaults applied. Truth is kept without age limit. */
export function streamConfigs(options: StreamOptions = {}): Array<Partial<StreamConfig> & { name: string }> {
  const replicas = options.replicas ?? 1;
  const maxAge = (options.maxAgeMs ?? 7 * 24 * 3600 * 1000) * MS;
  const duplicateWindow = (options.duplicateWindowMs ?? 10 * 60 * 1000) * MS;
  const storage = options.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const common = {
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    storage,
    duplicate_window: duplicateWindow,
  };
  return [
    {
      ...common,
      name: StreamName.Samples,
      subjects: ['fl.samples.>'],
      max_age: maxAge,
      max_bytes: options.maxSampleBytes ?? 8 * 1024 ** 3,
      description: 'Sample batches from agents, fl.samples.<partition>.<agent>',
    },
    {
      ...common,
      name: StreamName.Truth,
      subjects: ['fl.truth.>'],
      max_age: 0,
      description: 'Ground-truth injection windows, fl.truth.<experiment>.<agent>',
    },
    {
      ...common,
      name: StreamName.Anomalies,
      subjects: ['fl.anomalies.>'],
      max_age: maxAge,
      description: 'Anomaly events from detectors, fl.anomalies.<partition>',
    },
    {
      ...common,
      name: StreamName.Scores,
      subjects: ['fl.scores.>'],
      max_age: maxAge,
      description: 'Per-sample scores from detectors, fl.scores.<partition>',
    },
    {
      ...common,
      name: StreamName.DeadLetter,
      subjects: ['fl.dlq.>'],
      max_age: maxAge,
      description: 'Messages that could not be decoded, with their original bytes',
    },
  ];
}

/** Creates the streams, or updates them to the given limits. Idempotent. */
export async function ensureStreams(
  jsm: JetStreamManager,
  options: StreamOptions = {},
): Promise<StreamInfo[]> {
  const infos: StreamInfo[] = [];
  for (const config of streamConfigs(options)) {
    let exists = true;
    try {
      await jsm.streams.info(config.name);
    } catch {
      exists = false;
    }
    infos.push(exists ? await jsm.streams.update(config.name, config) : await jsm.streams.add(config));
  }
  return infos;
}
