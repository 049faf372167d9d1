/**
 * `collectLiveReportInput`: replays one experiment from JetStream (samples, truth windows,
 * scores and anomaly events), grades it with `evaluateDetection`, and returns the report's
 * input. See docs/report.md.
 */
import { jetstream, type JetStreamClient, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Achieved,
  AnomalyEventState,
  decodeAnomalyEvent,
  decodeSampleBatch,
  decodeScoreBatch,
  decodeTruthWindow,
  StreamName,
  subjects,
  unixNanoToMs,
  type AnomalyEvent,
  type NatsConnectionSecurity,
  type TruthWindow,
} from '@faultline/protocol';
import { InvalidOptionsError, ReportSourceError, UnknownExperimentError } from '../errors.js';
import { evaluateDetection, type DetectedEventSpan, type ScoredPoint } from '../evaluation.js';
import type { MalformedMessage } from '../export/export-experiment.js';
import { replayStream } from '../export/stream-replay.js';
import { TruthWindowSet } from '../export/truth-table.js';
import {
  openNatsSource,
  readStreamInfo,
  resolveExperimentIdOption,
  resolveNatsSource,
  type NatsSource,
} from '../export/nats-source.js';
import {
  checkInteger,
  checkNonEmptyString,
  checkNumber,
  checkObject,
  describeValue,
} from '../option-checks.js';
import { plottedMetrics, rawSampleValues, type RawSampleValues } from './plotted-metrics.js';
import type { ReportEvent, ReportHost, ReportInput, ReportTruthWindow } from './report-input.js';

/** The replay passes, in order. */
export type LiveReportStage = 'truth' | 'samples' | 'scores' | 'events';

/** What {@link collectLiveReportInput} reads and how it grades. */
export interface LiveReportOptions {
  /** NATS server URL, for example `nats://127.0.0.1:14222`. Exactly one of `natsUrl` and `connection`. */
  natsUrl?: string;
  /** An open NATS connection to use instead of `natsUrl`; left open. */
  connection?: NatsConnection;
  /**
   * Credentials, TLS and inbox prefix for the connection to `natsUrl`: the
   * `connectionOptions` of `resolveNatsAuthOptions`. Default none (no authentication).
   */
  natsOptions?: NatsConnectionSecurity;
  /** The experiment; a NATS subject token (no `.`, `*`, `>` or whitespace). Required. */
  experimentId: string;
  /** Report title. Default the experiment id. */
  title?: string;
  /** Called as messages are replayed: `done` of `total` messages of the current `stage`. Default none. */
  onProgress?: (done: number, total: number, stage: LiveReportStage) => void;
  /** Called for each message that cannot be decoded (it is skipped). Default none. */
  onMalformed?: (message: MalformedMessage) => void;
  /** Grace after a window's end in which an event still detects it, ms. Default 5000, range [0, 86_400_000]. */
  graceMs?: number;
  /** Thresholds of the evaluation's sweep. Integer in [2, 10_000], default 101. */
  sweepSteps?: number;
  /** When the report is made, ms since the epoch. Default the time of the call. */
  generatedAtMs?: number;
}

/** {@link LiveReportOptions} with defaults applied and validated. */
export interface ResolvedLiveReportOptions {
  readonly source: NatsSource;
  readonly experimentId: string;
  readonly title: string;
  readonly onProgress: (done: number, total: number, stage: LiveReportStage) => void;
  readonly onMalformed: (message: MalformedMessage) => void;
  readonly graceMs: number;
  readonly sweepSteps: number;
  readonly generatedAtMs: number;
}

const KEYS = [
  'natsUrl',
  'connection',
  'natsOptions',
  'experimentId',
  'title',
  'onProgress',
  'onMalformed',
  'graceMs',
  'sweepSteps',
  'generatedAtMs',
];

function checkFunction<T>(value: unknown, field: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') {
    throw new InvalidOptionsError(field, `${field} must be a function, got ${describeValue(value)}`);
  }
  return value as T;
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field, the range and the value. */
export function resolveLiveReportOptions(raw: LiveReportOptions): ResolvedLiveReportOptions {
  const o = checkObject(raw, 'options');
  for (const key of Object.keys(o)) {
    if (!KEYS.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown report option ${JSON.stringify(key)} (known: ${KEYS.join(', ')})`,
      );
    }
  }
  const source = resolveNatsSource(o);
  const experimentId = resolveExperimentIdOption(o.experimentId);
  return {
    source,
    experimentId,
    title: o.title === undefined ? experimentId : checkNonEmptyString(o.title, 'title'),
    onProgress: checkFunction(o.onProgress, 'onProgress') ?? (() => {}),
    onMalformed: checkFunction(o.onMalformed, 'onMalformed') ?? (() => {}),
    graceMs: checkNumber(o.graceMs, 5_000, 'graceMs', { min: 0, max: 86_400_000 }),
    sweepSteps: checkInteger(o.sweepSteps, 101, 'sweepSteps', 2, 10_000),
    generatedAtMs:
      o.generatedAtMs === undefined
        ? Date.now()
        : checkNumber(o.generatedAtMs, 0, 'generatedAtMs', { min: 0, max: 8.64e15 }),
  };
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One host's samples and scores, keyed by sample seq. */
interface HostAccumulator {
  samples: Map<number, { timeMs: number; values: RawSampleValues }>;
  scores: Map<number, { timeMs: number; score: number; isAnomaly: boolean }>;
}

class Accumulator {
  readonly hosts = new Map<string, HostAccumulator>();
  readonly truth = new TruthWindowSet();
  readonly events = new Map<string, AnomalyEvent>();
  threshold = NaN;
  samples = 0;
  scores = 0;

  host(hostId: string): HostAccumulator {
    let h = this.hosts.get(hostId);
    if (h === undefined) {
      h = { samples: new Map(), scores: new Map() };
      this.hosts.set(hostId, h);
    }
    return h;
  }
}

interface Replayer {
  readonly js: JetStreamClient;
  readonly opts: ResolvedLiveReportOptions;
}

/** Replays `stream` (up to its last message now) through `handle`, reporting progress and malformed messages. */
async function replay(
  r: Replayer,
  info: StreamInfo,
  stage: LiveReportStage,
  filterSubject: string | undefined,
  handle: (data: Uint8Array) => void,
): Promise<void> {
  const stream = info.config.name;
  if (info.state.messages === 0) {
    r.opts.onProgress(0, 0, stage);
    return;
  }
  let done = 0;
  let total = 0;
  const range = {
    endSeq: info.state.last_seq,
    onTotal: (n: number) => {
      total = n;
      r.opts.onProgress(0, n, stage);
    },
    ...(filterSubject === undefined ? {} : { filterSubject }),
  };
  for await (const m of replayStream(r.js, stream, range)) {
    r.opts.onProgress(++done, total, stage);
    try {
      handle(m.data);
    } catch (err) {
      r.opts.onMalformed({ stream, seq: m.seq, subject: m.subject, reason: describe(err) });
    }
  }
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The requested workload flattened: `workload` (its kind), then its set fields, then `duration_ms`. */
function requestedOf(w: TruthWindow): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const kind = w.requested?.kind;
  if (kind !== undefined) {
    out.workload = kind.$case;
    for (const [key, value] of Object.entries(kind.value as unknown as Record<string, unknown>)) {
      const name = snake(key);
      if (typeof value === 'number' && value !== 0) out[name] = value;
      else if (typeof value === 'bigint' && value !== 0n) out[name] = Number(value);
      else if (typeof value === 'string' && value !== '') out[name] = value;
      else if (typeof value === 'boolean' && value) out[name] = 'yes';
      else if (Array.isArray(value) && value.length > 0) out[name] = JSON.stringify(value);
    }
  }
  if (w.requestedEndUnixNano > w.requestedStartUnixNano && w.requestedStartUnixNano > 0n) {
    out.duration_ms = unixNanoToMs(w.requestedEndUnixNano - w.requestedStartUnixNano);
  }
  return out;
}

/** The achieved values that were measured (non-zero), snake_case. */
function achievedOf(w: TruthWindow): Record<string, number> {
  const out: Record<string, number> = {};
  const a = w.achieved ?? Achieved.fromPartial({});
  for (const [key, value] of Object.entries(a)) {
    if (typeof value === 'number' && value !== 0) out[snake(key)] = value;
  }
  return out;
}

function truthWindowOf(w: TruthWindow): ReportTruthWindow {
  return {
    hostId: w.hostId,
    injectionId: w.injectionId,
    anomalyType: w.anomalyType,
    startMs: unixNanoToMs(w.actualStartUnixNano),
    endMs: w.actualEndUnixNano === 0n ? Infinity : unixNanoToMs(w.actualEndUnixNano),
    requested: requestedOf(w),
    achieved: achievedOf(w),
    reachedTarget: w.reachedTarget,
    shortfall: w.shortfall,
  };
}

const isClosed = (e: AnomalyEvent): boolean => e.state === AnomalyEventState.ANOMALY_EVENT_STATE_CLOSED;

/** Joins samples and scores per host, in seq order, and derives the plotted metrics. */
function buildHosts(acc: Accumulator): ReportHost[] {
  const ids = [...acc.hosts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const joined = ids.map((hostId) => {
    const h = acc.hosts.get(hostId) as HostAccumulator;
    const seqs = [...new Set([...h.samples.keys(), ...h.scores.keys()])].sort((a, b) => a - b);
    return {
      hostId,
      timesMs: seqs.map((s) => (h.samples.get(s)?.timeMs ?? h.scores.get(s)?.timeMs) as number),
      values: seqs.map((s) => h.samples.get(s)?.values),
      scores: seqs.map((s) => h.scores.get(s)?.score ?? NaN),
      isAnomaly: seqs.map((s) => h.scores.get(s)?.isAnomaly === true),
    };
  });
  const metrics = plottedMetrics(joined);
  return joined.map((h, i) => ({
    hostId: h.hostId,
    timesMs: h.timesMs,
    metrics: metrics[i] as Record<string, number[]>,
    scores: h.scores,
    isAnomaly: h.isAnomaly,
  }));
}

async function replayAll(r: Replayer, nc: NatsConnection, acc: Accumulator): Promise<void> {
  const id = r.opts.experimentId;
  const infos = {
    truth: await readStreamInfo(nc, StreamName.Truth, ReportSourceError),
    samples: await readStreamInfo(nc, StreamName.Samples, ReportSourceError),
    scores: await readStreamInfo(nc, StreamName.Scores, ReportSourceError),
    events: await readStreamInfo(nc, StreamName.Anomalies, ReportSourceError),
  };
  try {
    await replay(r, infos.truth, 'truth', subjects.truthExperiment(id), (data) =>
      acc.truth.add(decodeTruthWindow(data)),
    );
    await replay(r, infos.samples, 'samples', undefined, (data) => {
      for (const s of decodeSampleBatch(data).samples) {
        if (s.labels?.experimentId !== id) continue;
        acc.samples++;
        acc.host(s.hostId).samples.set(Number(s.seq), {
          timeMs: unixNanoToMs(s.timeUnixNano),
          values: rawSampleValues(s),
        });
      }
    });
    await replay(r, infos.scores, 'scores', undefined, (data) => {
      for (const s of decodeScoreBatch(data).scores) {
        if (s.labels?.experimentId !== id || !Number.isFinite(s.score)) continue;
        acc.scores++;
        acc.threshold = s.threshold;
        acc.host(s.hostId).scores.set(Number(s.sampleSeq), {
          timeMs: unixNanoToMs(s.timeUnixNano),
          score: s.score,
          isAnomaly: s.isAnomaly,
        });
      }
    });
    await replay(r, infos.events, 'events', undefined, (data) => {
      const e = decodeAnomalyEvent(data);
      if (e.experimentId !== id) return;
      const known = acc.events.get(e.eventId);
      // A late OPEN or update never reopens a closed event.
      if (known !== undefined && isClosed(known) && !isClosed(e)) return;
      acc.events.set(e.eventId, e);
    });
  } catch (err) {
    throw new ReportSourceError(`cannot replay the streams on ${nc.getServer()}: ${describe(err)}`, {
      cause: err,
    });
  }
}

/**
 * Replays experiment `experimentId` and returns its report input:
 *
 * - samples of FL_SAMPLES whose label `experiment_id` is the experiment, per host in `seq`
 *   order, with the plotted metrics of {@link plottedMetrics} (counters as rates);
 * - truth windows of `fl.truth.<experiment>.*` (the latest report per injection wins, one
 *   with an end beats one without; a window still running ends at Infinity);
 * - scores of FL_SCORES with the experiment's label, joined to the samples by host and
 *   `sample_seq` (a score without its sample still counts; a sample without a score has score
 *   NaN); the threshold is the last score's;
 * - anomaly events of FL_ANOMALIES with the experiment id, one per event id (the CLOSED state
 *   supersedes OPEN and updates; an open event has `endMs` equal to `startMs`, and is graded
 *   as running on);
 * - the evaluation of the scored samples against the truth windows (undefined without truth).
 *
 * Each stream is replayed once, up to its last message at the start, through an ordered
 * consumer. Throws {@link UnknownExperimentError} when no sample, truth window or score
 * carries the experiment, {@link ReportSourceError} when NATS or a stream cannot be read,
 * and {@link InvalidOptionsError} for bad options.
 *
 * @example
 * ```ts
 * const input = await collectLiveReportInput({ natsUrl: 'nats://127.0.0.1:14222', experimentId: 'exp-42' });
 * await writeReport(buildReportDocument(input), './exp-42-report');
 * ```
 */
export async function collectLiveReportInput(options: LiveReportOptions): Promise<ReportInput> {
  const opts = resolveLiveReportOptions(options);
  const { nc, owned } = await openNatsSource(opts.source, 'faultline-report', ReportSourceError);
  const acc = new Accumulator();
  try {
    await replayAll({ js: jetstream(nc), opts }, nc, acc);
  } finally {
    if (owned) await nc.close().catch(() => undefined);
  }
  if (acc.samples === 0 && acc.scores === 0 && acc.truth.size === 0) {
    throw new UnknownExperimentError(opts.experimentId);
  }

  const hosts = buildHosts(acc);
  const truth = acc.truth.windows().map(truthWindowOf);
  const eventList = [...acc.events.values()].sort((a, b) =>
    a.startUnixNano < b.startUnixNano ? -1 : a.startUnixNano > b.startUnixNano ? 1 : 0,
  );
  const events: ReportEvent[] = eventList.map((e) => {
    const startMs = unixNanoToMs(e.startUnixNano);
    return {
      eventId: e.eventId,
      hostId: e.hostId,
      startMs,
      endMs: isClosed(e) && e.endUnixNano > 0n ? Math.max(startMs, unixNanoToMs(e.endUnixNano)) : startMs,
      peakScore: e.peakScore,
      severity: e.severity,
      topMetrics: e.topMetrics.map((m) => m.metric),
    };
  });

  let evaluation: ReportInput['evaluation'];
  if (truth.length > 0) {
    const points: ScoredPoint[] = [];
    for (const h of hosts) {
      h.timesMs.forEach((timeMs, i) => {
        const score = h.scores[i] as number;
        if (Number.isFinite(score))
          points.push({ hostId: h.hostId, timeMs, score, isAnomaly: h.isAnomaly[i] === true });
      });
    }
    const spans: DetectedEventSpan[] = eventList.map((e, i) => ({
      hostId: e.hostId,
      startMs: (events[i] as ReportEvent).startMs,
      endMs: isClosed(e) ? (events[i] as ReportEvent).endMs : Infinity,
    }));
    evaluation = evaluateDetection(
      { points, truth, events: spans },
      { graceMs: opts.graceMs, sweepSteps: opts.sweepSteps },
    );
  }

  return {
    title: opts.title,
    source: opts.experimentId,
    mode: 'live',
    generatedAtMs: opts.generatedAtMs,
    model: 'fused',
    threshold: acc.threshold,
    hosts,
    truth,
    events,
    evaluation,
  };
}
