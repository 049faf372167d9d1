/**
 * The `faultline-detector` configuration from flags and environment (flags win), resolved
 * and validated once at startup. A bad value is a startup error naming the flag or field,
 * never a silent fallback.
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--nats URL` | `FAULTLINE_NATS_URL` | nats://127.0.0.1:4222 |
 * | `--nats-creds FILE`, `--nats-nkey-file FILE`, `--nats-user NAME` + `--nats-password-file FILE`, `--nats-token-file FILE` | `FAULTLINE_NATS_CREDS`, … (see `NATS_AUTH_FLAGS`) | no authentication |
 * | `--nats-ca FILE`, `--nats-cert FILE`, `--nats-key FILE` | `FAULTLINE_NATS_CA`, `FAULTLINE_NATS_CERT`, `FAULTLINE_NATS_KEY` | no TLS |
 * | `--nats-inbox-prefix P` | `FAULTLINE_NATS_INBOX_PREFIX` | `_INBOX_detector` with credentials |
 * | `--replica-id ID` | `FAULTLINE_REPLICA_ID` | `<hostname>-<pid>` |
 * | `--group NAME` | `FAULTLINE_DETECTOR_GROUP` | faultline-detector |
 * | `--partitions N` | `FAULTLINE_PARTITIONS` | 16 |
 * | `--metrics-port N` | `FAULTLINE_DETECTOR_METRICS_PORT` | 15053 (-1 = off, 0 = any free port) |
 * | `--metrics-host ADDR` | `FAULTLINE_DETECTOR_METRICS_HOST` | 0.0.0.0 |
 * | `--lease-ttl-ms N` | `FAULTLINE_DETECTOR_LEASE_TTL_MS` | 10000 |
 * | `--checkpoint-interval-ms N` | `FAULTLINE_DETECTOR_CHECKPOINT_INTERVAL_MS` | 30000 |
 * | `--max-ack-pending N` | `FAULTLINE_DETECTOR_MAX_ACK_PENDING` | 256 |
 * | `--batch-linger-ms N` | `FAULTLINE_DETECTOR_BATCH_LINGER_MS` | 20 |
 * | `--stream-replicas N` | `FAULTLINE_STREAM_REPLICAS` | 1 |
 * | `--log-level LEVEL` | `FAULTLINE_LOG_LEVEL` | info |
 * | `--trees N` | `FAULTLINE_DETECTOR_TREES` | 100 |
 * | `--max-samples auto\|N` | `FAULTLINE_DETECTOR_MAX_SAMPLES` | auto |
 * | `--contamination auto\|F` | `FAULTLINE_DETECTOR_CONTAMINATION` | auto |
 * | `--seed N` | `FAULTLINE_DETECTOR_SEED` | 0 |
 * | `--features a,b,…` | `FAULTLINE_DETECTOR_FEATURES` | the feature extractor's defaults |
 * | `--rolling-window N` | `FAULTLINE_DETECTOR_ROLLING_WINDOW` | 0 (off; else in [2, 10000] samples) |
 * | `--deltas` | `FAULTLINE_DETECTOR_DELTAS` (true\|false\|1\|0) | off |
 * | `--training-samples N` | `FAULTLINE_DETECTOR_TRAINING_SAMPLES` | 120 |
 * | `--retrain-every N` | `FAULTLINE_DETECTOR_RETRAIN_EVERY` | 3600 (0 = never) |
 * | `--retrain-window N` | `FAULTLINE_DETECTOR_RETRAIN_WINDOW` | 256 |
 * | `--open-threshold F` | `FAULTLINE_DETECTOR_OPEN_THRESHOLD` | 0.3 |
 * | `--close-threshold F` | `FAULTLINE_DETECTOR_CLOSE_THRESHOLD` | 0.1 |
 * | `--min-consecutive N` | `FAULTLINE_DETECTOR_MIN_CONSECUTIVE` | 1 |
 * | `--close-after N` | `FAULTLINE_DETECTOR_CLOSE_AFTER` | 5 |
 * | `--iforest-weight F` | `FAULTLINE_DETECTOR_IFOREST_WEIGHT` | 1 |
 * | `--band-weight F` | `FAULTLINE_DETECTOR_BAND_WEIGHT` | 1 |
 * | `--interval-width F` | `FAULTLINE_DETECTOR_INTERVAL_WIDTH` | 0.95 |
 * | `--threshold-multiplier F` | `FAULTLINE_DETECTOR_THRESHOLD_MULTIPLIER` | 2 |
 *
 * @example
 * ```ts
 * const config = parseDetectorConfig(['--nats', 'nats://nats:4222', '--partitions', '32']);
 * if (config !== 'help') new StreamRunner(nc, config.runner);
 * ```
 */
import { parseArgs } from 'node:util';
import {
  NATS_AUTH_FLAGS,
  natsAuthFromFlags,
  resolveNatsAuthOptions,
  type NatsAuthFlagValues,
  type ResolvedNatsAuth,
} from '@faultline/protocol';

import { InvalidOptionsError, UsageError } from './errors.js';
import { describeValue } from './option-checks.js';
import type { HostDetectorOptions } from './runner/host-detector.js';
import {
  resolveStreamRunnerOptions,
  type ResolvedStreamRunnerOptions,
  type StreamRunnerOptions,
} from './runner/stream-runner.js';

/** pino's levels, plus `silent`. */
export type DetectorLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly DetectorLogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** The process configuration. */
export interface DetectorConfig {
  /** NATS server URL(s), comma-separated. */
  readonly natsUrl: string;
  /** Credentials, TLS and inbox prefix for NATS; the identity is `detector`. */
  readonly natsAuth: ResolvedNatsAuth;
  /** Port of /metrics and /healthz: -1 off, 0 any free port. */
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly logLevel: DetectorLogLevel;
  /** The runner's options, resolved. */
  readonly runner: ResolvedStreamRunnerOptions;
}

/** The `--help` text. */
export const DETECTOR_USAGE = `Usage: faultline-detector [options]

Scores the sample streams of NATS JetStream with Isolation Forest and forecast bands, and
publishes scores and anomaly events. Replicas of one group share the partitions.

Connection and replicas:
  --nats URL                   NATS server (env FAULTLINE_NATS_URL; default nats://127.0.0.1:4222)
${NATS_AUTH_FLAGS.map((f) => `  ${`${f.flag} ${f.arg}`.padEnd(29)}${f.help} (env ${f.env})\n`).join('')}  --replica-id ID              this replica's id (env FAULTLINE_REPLICA_ID; default <hostname>-<pid>)
  --group NAME                 replica group (env FAULTLINE_DETECTOR_GROUP; default faultline-detector)
  --partitions N               sample partitions (env FAULTLINE_PARTITIONS; default 16)
  --lease-ttl-ms N             partition lease TTL (env FAULTLINE_DETECTOR_LEASE_TTL_MS; default 10000)
  --checkpoint-interval-ms N   time between checkpoints (env FAULTLINE_DETECTOR_CHECKPOINT_INTERVAL_MS; default 30000)
  --max-ack-pending N          consumer max_ack_pending (env FAULTLINE_DETECTOR_MAX_ACK_PENDING; default 256)
  --batch-linger-ms N          wait for more messages to score together (env FAULTLINE_DETECTOR_BATCH_LINGER_MS; default 20)
  --stream-replicas N          replicas of the streams it creates (env FAULTLINE_STREAM_REPLICAS; default 1)

Observability:
  --metrics-port N             /metrics and /healthz port, -1 off (env FAULTLINE_DETECTOR_METRICS_PORT; default 15053)
  --metrics-host ADDR          their interface (env FAULTLINE_DETECTOR_METRICS_HOST; default 0.0.0.0)
  --log-level LEVEL            fatal|error|warn|info|debug|trace|silent (env FAULTLINE_LOG_LEVEL; default info)

Model:
  --trees N                    Isolation Forest trees (env FAULTLINE_DETECTOR_TREES; default 100)
  --max-samples auto|N         rows per tree (env FAULTLINE_DETECTOR_MAX_SAMPLES; default auto)
  --contamination auto|F       expected outlier share of the training window (env FAULTLINE_DETECTOR_CONTAMINATION; default auto)
  --seed N                     forest seed (env FAULTLINE_DETECTOR_SEED; default 0)
  --features a,b,...           metrics to use, e.g. host.memory_used_bytes,process.rss_bytes (env FAULTLINE_DETECTOR_FEATURES)
  --rolling-window N           add each metric's rolling mean and std over N samples, 0 off (env FAULTLINE_DETECTOR_ROLLING_WINDOW; default 0)
  --deltas                     add each metric's change since the previous sample (env FAULTLINE_DETECTOR_DELTAS=true|false; default off)
  --training-samples N         training window without an experiment warm-up (env FAULTLINE_DETECTOR_TRAINING_SAMPLES; default 120)
  --retrain-every N            samples between refits, 0 never (env FAULTLINE_DETECTOR_RETRAIN_EVERY; default 3600)
  --retrain-window N           unflagged samples a refit uses (env FAULTLINE_DETECTOR_RETRAIN_WINDOW; default 256)
  --open-threshold F           fused score that opens an event (env FAULTLINE_DETECTOR_OPEN_THRESHOLD; default 0.3)
  --close-threshold F          fused score under which an event closes (env FAULTLINE_DETECTOR_CLOSE_THRESHOLD; default 0.1)
  --min-consecutive N          anomalous samples in a row that open an event (env FAULTLINE_DETECTOR_MIN_CONSECUTIVE; default 1)
  --close-after N              samples in a row under the close threshold that close it (env FAULTLINE_DETECTOR_CLOSE_AFTER; default 5)
  --iforest-weight F           weight of the Isolation Forest in the fused score (env FAULTLINE_DETECTOR_IFOREST_WEIGHT; default 1)
  --band-weight F              weight of the forecast bands in the fused score (env FAULTLINE_DETECTOR_BAND_WEIGHT; default 1)
  --interval-width F           forecast band coverage (env FAULTLINE_DETECTOR_INTERVAL_WIDTH; default 0.95)
  --threshold-multiplier F     forecast band widening (env FAULTLINE_DETECTOR_THRESHOLD_MULTIPLIER; default 2)

  -h, --help                   this text
`;

/** Each flag with its environment variable. */
const FLAGS = {
  nats: 'FAULTLINE_NATS_URL',
  'replica-id': 'FAULTLINE_REPLICA_ID',
  group: 'FAULTLINE_DETECTOR_GROUP',
  partitions: 'FAULTLINE_PARTITIONS',
  'metrics-port': 'FAULTLINE_DETECTOR_METRICS_PORT',
  'metrics-host': 'FAULTLINE_DETECTOR_METRICS_HOST',
  'lease-ttl-ms': 'FAULTLINE_DETECTOR_LEASE_TTL_MS',
  'checkpoint-interval-ms': 'FAULTLINE_DETECTOR_CHECKPOINT_INTERVAL_MS',
  'max-ack-pending': 'FAULTLINE_DETECTOR_MAX_ACK_PENDING',
  'batch-linger-ms': 'FAULTLINE_DETECTOR_BATCH_LINGER_MS',
  'stream-replicas': 'FAULTLINE_STREAM_REPLICAS',
  'log-level': 'FAULTLINE_LOG_LEVEL',
  trees: 'FAULTLINE_DETECTOR_TREES',
  'max-samples': 'FAULTLINE_DETECTOR_MAX_SAMPLES',
  contamination: 'FAULTLINE_DETECTOR_CONTAMINATION',
  seed: 'FAULTLINE_DETECTOR_SEED',
  features: 'FAULTLINE_DETECTOR_FEATURES',
  'rolling-window': 'FAULTLINE_DETECTOR_ROLLING_WINDOW',
  'training-samples': 'FAULTLINE_DETECTOR_TRAINING_SAMPLES',
  'retrain-every': 'FAULTLINE_DETECTOR_RETRAIN_EVERY',
  'retrain-window': 'FAULTLINE_DETECTOR_RETRAIN_WINDOW',
  'open-threshold': 'FAULTLINE_DETECTOR_OPEN_THRESHOLD',
  'close-threshold': 'FAULTLINE_DETECTOR_CLOSE_THRESHOLD',
  'min-consecutive': 'FAULTLINE_DETECTOR_MIN_CONSECUTIVE',
  'close-after': 'FAULTLINE_DETECTOR_CLOSE_AFTER',
  'iforest-weight': 'FAULTLINE_DETECTOR_IFOREST_WEIGHT',
  'band-weight': 'FAULTLINE_DETECTOR_BAND_WEIGHT',
  'interval-width': 'FAULTLINE_DETECTOR_INTERVAL_WIDTH',
  'threshold-multiplier': 'FAULTLINE_DETECTOR_THRESHOLD_MULTIPLIER',
} as const;
type Flag = keyof typeof FLAGS;
/** `--deltas` takes no value, so it is not among {@link FLAGS}. */
const DELTAS_ENV = 'FAULTLINE_DETECTOR_DELTAS';

/** `--flag -1` → `--flag=-1`: parseArgs reads a value starting with '-' as another flag. */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (/^--[a-z-]+$/.test(arg) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** `--deltas`, else FAULTLINE_DETECTOR_DELTAS as true|false|1|0; undefined when neither is set. */
function deltasFrom(
  flag: string | boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
): boolean | undefined {
  if (flag === true) return true;
  const raw = env[DELTAS_ENV];
  if (raw === undefined || raw === '') return undefined;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new InvalidOptionsError(
    'features.deltas',
    `${DELTAS_ENV} must be true, false, 1 or 0, got ${describeValue(raw)}`,
  );
}

/**
 * Parses `argv` (without the node and script paths) and `env` into a validated
 * {@link DetectorConfig}, or `'help'` for `--help`. Throws {@link UsageError} for an unknown
 * flag or a flag without its value, and {@link InvalidOptionsError} for a value out of range.
 */
export function parseDetectorConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): DetectorConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }]),
    ) as Record<Flag, { type: 'string' }>;
    const natsAuthOptions = Object.fromEntries(
      NATS_AUTH_FLAGS.map((f) => [f.flag.slice(2), { type: 'string' as const }]),
    );
    values = parseArgs({
      args: joinNegativeValues(argv),
      options: {
        ...options,
        ...natsAuthOptions,
        deltas: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; see faultline-detector --help`);
  }
  if (values['help'] === true) return 'help';

  const get = (flag: Flag): { value: string; source: string } | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { value: fromFlag, source: `--${flag}` };
    const fromEnv = env[FLAGS[flag]];
    return fromEnv === undefined || fromEnv === '' ? undefined : { value: fromEnv, source: FLAGS[flag] };
  };
  const num = (flag: Flag): number | undefined => {
    const v = get(flag);
    if (v === undefined) return undefined;
    const n = Number(v.value.trim());
    if (v.value.trim() === '' || Number.isNaN(n)) {
      throw new InvalidOptionsError(flag, `${v.source} must be a number, got ${describeValue(v.value)}`);
    }
    return n;
  };
  const autoOrNum = (flag: Flag): number | 'auto' | undefined =>
    get(flag)?.value.trim() === 'auto' ? 'auto' : num(flag);
  const str = (flag: Flag): string | undefined => get(flag)?.value;

  const logLevel = (str('log-level') ?? 'info') as DetectorLogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidOptionsError(
      'logLevel',
      `${get('log-level')?.source ?? '--log-level'} must be one of ${LOG_LEVELS.join(', ')}, got ${describeValue(logLevel)}`,
    );
  }
  const metricsPort = num('metrics-port') ?? 15053;
  if (!Number.isInteger(metricsPort) || metricsPort < -1 || metricsPort > 65535) {
    throw new InvalidOptionsError(
      'metricsPort',
      `${get('metrics-port')?.source ?? '--metrics-port'} must be -1 (off) or an integer in [0, 65535], got ${metricsPort}`,
    );
  }
  const natsUrl = str('nats') ?? 'nats://127.0.0.1:4222';
  for (const url of natsUrl.split(',')) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+:\d+$/.test(url.trim())) {
      throw new InvalidOptionsError(
        'natsUrl',
        `--nats must be a nats://host:port URL (or a comma-separated list), got ${describeValue(url)}`,
      );
    }
  }

  const detector: HostDetectorOptions = {};
  const forest: NonNullable<HostDetectorOptions['forest']> = {};
  const trees = num('trees');
  if (trees !== undefined) forest.nEstimators = trees;
  const maxSamples = autoOrNum('max-samples');
  if (maxSamples !== undefined) forest.maxSamples = maxSamples;
  const contamination = autoOrNum('contamination');
  if (contamination !== undefined) forest.contamination = contamination;
  const seed = str('seed');
  if (seed !== undefined) forest.seed = /^\d+$/.test(seed.trim()) ? Number(seed.trim()) : seed;
  if (Object.keys(forest).length > 0) detector.forest = forest;
  const features: NonNullable<HostDetectorOptions['features']> = {};
  const metrics = str('features');
  if (metrics !== undefined) {
    features.metrics = metrics
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
  }
  const rollingWindow = num('rolling-window');
  if (rollingWindow !== undefined) {
    if (
      !Number.isInteger(rollingWindow) ||
      rollingWindow < 0 ||
      rollingWindow === 1 ||
      rollingWindow > 10_000
    ) {
      throw new InvalidOptionsError(
        'features.rollingWindow',
        `${get('rolling-window')?.source ?? '--rolling-window'} must be 0 (off) or an integer in [2, 10000], got ${rollingWindow}`,
      );
    }
    features.rollingWindow = rollingWindow;
  }
  const deltas = deltasFrom(values['deltas'], env);
  if (deltas !== undefined) features.deltas = deltas;
  if (Object.keys(features).length > 0) detector.features = features;
  const training: NonNullable<HostDetectorOptions['training']> = {};
  const trainingSamples = num('training-samples');
  if (trainingSamples !== undefined) training.samples = trainingSamples;
  const retrainEvery = num('retrain-every');
  if (retrainEvery !== undefined) training.retrainEverySamples = retrainEvery;
  const retrainWindow = num('retrain-window');
  if (retrainWindow !== undefined) training.retrainWindow = retrainWindow;
  if (Object.keys(training).length > 0) detector.training = training;
  const events: NonNullable<HostDetectorOptions['events']> = {};
  const openThreshold = num('open-threshold');
  if (openThreshold !== undefined) events.openThreshold = openThreshold;
  const closeThreshold = num('close-threshold');
  if (closeThreshold !== undefined) events.closeThreshold = closeThreshold;
  const minConsecutive = num('min-consecutive');
  if (minConsecutive !== undefined) events.minConsecutive = minConsecutive;
  const closeAfter = num('close-after');
  if (closeAfter !== undefined) events.closeAfter = closeAfter;
  const fusion: NonNullable<NonNullable<HostDetectorOptions['events']>['fusion']> = {};
  const iforestWeight = num('iforest-weight');
  if (iforestWeight !== undefined) fusion.iforestWeight = iforestWeight;
  const bandWeight = num('band-weight');
  if (bandWeight !== undefined) fusion.bandWeight = bandWeight;
  if (Object.keys(fusion).length > 0) events.fusion = fusion;
  if (Object.keys(events).length > 0) detector.events = events;
  const bands: NonNullable<HostDetectorOptions['bands']> = {};
  const intervalWidth = num('interval-width');
  if (intervalWidth !== undefined) bands.intervalWidth = intervalWidth;
  const thresholdMultiplier = num('threshold-multiplier');
  if (thresholdMultiplier !== undefined) bands.thresholdMultiplier = thresholdMultiplier;
  if (Object.keys(bands).length > 0) detector.bands = bands;

  const runner: StreamRunnerOptions = { detector };
  const replicaId = str('replica-id');
  if (replicaId !== undefined) runner.replicaId = replicaId;
  const group = str('group');
  if (group !== undefined) runner.group = group;
  const partitions = num('partitions');
  if (partitions !== undefined) runner.partitions = partitions;
  const leaseTtlMs = num('lease-ttl-ms');
  if (leaseTtlMs !== undefined) runner.leaseTtlMs = leaseTtlMs;
  const checkpointIntervalMs = num('checkpoint-interval-ms');
  if (checkpointIntervalMs !== undefined) runner.checkpointIntervalMs = checkpointIntervalMs;
  const maxAckPending = num('max-ack-pending');
  if (maxAckPending !== undefined) runner.maxAckPending = maxAckPending;
  const batchLingerMs = num('batch-linger-ms');
  if (batchLingerMs !== undefined) runner.batchLingerMs = batchLingerMs;
  const streamReplicas = num('stream-replicas');
  if (streamReplicas !== undefined) {
    if (!Number.isInteger(streamReplicas) || streamReplicas < 1 || streamReplicas > 5) {
      throw new InvalidOptionsError(
        'streams.replicas',
        `${get('stream-replicas')?.source ?? '--stream-replicas'} must be an integer in [1, 5], got ${streamReplicas}`,
      );
    }
    runner.streams = { replicas: streamReplicas };
  }

  const natsAuthFlags: NatsAuthFlagValues = {};
  for (const f of NATS_AUTH_FLAGS) {
    const v = values[f.flag.slice(2)];
    if (typeof v === 'string') natsAuthFlags[f.key] = v;
  }
  const natsAuth = resolveNatsAuthOptions(natsAuthFromFlags(natsAuthFlags, env, 'detector'));

  return Object.freeze({
    natsUrl,
    natsAuth,
    metricsPort,
    metricsHost: str('metrics-host') ?? '0.0.0.0',
    logLevel,
    runner: resolveStreamRunnerOptions(runner),
  });
}
