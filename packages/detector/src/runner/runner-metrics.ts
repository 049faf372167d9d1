/**
 * The stream runner's Prometheus metrics (prom-client), all prefixed `faultline_detector_`:
 * consumer lag per partition, samples scored (and a samples/s gauge), anomaly event
 * transitions, malformed messages, model fits and the model age of the hosts, leases,
 * checkpoints and background errors. One {@link RunnerMetrics} per runner; its `registry` is
 * what `/metrics` serves.
 */
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics } from 'prom-client';

/** Options of {@link RunnerMetrics}. */
export interface RunnerMetricsOptions {
  /** Registry to register in; default a new one. */
  registry?: Registry;
  /** Also collect prom-client's process metrics (cpu, memory, event loop). Default true. */
  processMetrics?: boolean;
}

/** The runner's metrics; see the module comment. */
export class RunnerMetrics {
  readonly registry: Registry;
  /** Messages of a partition not yet delivered to its consumer (consumer info `num_pending`). */
  readonly consumerPending: Gauge<'partition'>;
  /** Messages delivered but not acked yet (consumer info `num_ack_pending`). */
  readonly consumerAckPending: Gauge<'partition'>;
  readonly samplesScored: Counter;
  /** Samples not scored, by reason: `already_scored`, `error`. */
  readonly samplesSkipped: Counter<'reason'>;
  /** Samples scored per second over the last few seconds. */
  readonly samplesPerSecond: Gauge;
  readonly batches: Counter;
  /** Anomaly event transitions published, by kind: `opened`, `updated`, `closed`. */
  readonly eventTransitions: Counter<'kind'>;
  /** Messages on FL_SAMPLES that could not be decoded, parked on the dead-letter subject. */
  readonly malformedMessages: Counter<'partition'>;
  /** Models fitted, by reason: `warmup`, `retrain`. */
  readonly modelFits: Counter<'reason'>;
  /** Per host, the age of its model (now − the sample time it was fitted at), summarised at scrape time. */
  readonly modelAge: Summary;
  /** Time from an event's opening sample to the event's publication. */
  readonly eventOpenDelay: Histogram;
  readonly partitionsOwned: Gauge;
  readonly hosts: Gauge;
  /** Lease actions, by action: `claimed`, `renewed`, `released`, `lost`. */
  readonly leaseActions: Counter<'action'>;
  readonly checkpoints: Counter;
  readonly checkpointBytes: Counter;
  /** Hosts restored from checkpoints, by outcome: `restored`, `malformed`. */
  readonly hostRestores: Counter<'outcome'>;
  /** Failures in background work, by stage: `tick`, `partition`, `checkpoint`, `lag`, `sample`. */
  readonly errors: Counter<'stage'>;
  #modelAges: () => number[] = () => [];

  constructor(options: RunnerMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: registry, prefix: 'faultline_detector_' });
    const registers = [registry];
    this.consumerPending = new Gauge({
      name: 'faultline_detector_consumer_pending_messages',
      help: 'Messages of the partition not yet delivered to the detector (consumer lag)',
      labelNames: ['partition'],
      registers,
    });
    this.consumerAckPending = new Gauge({
      name: 'faultline_detector_consumer_ack_pending_messages',
      help: 'Messages delivered to the detector and not acked yet',
      labelNames: ['partition'],
      registers,
    });
    this.samplesScored = new Counter({
      name: 'faultline_detector_samples_scored_total',
      help: 'Samples scored and published',
      registers,
    });
    this.samplesSkipped = new Counter({
      name: 'faultline_detector_samples_skipped_total',
      help: 'Samples not scored, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.samplesPerSecond = new Gauge({
      name: 'faultline_detector_samples_per_second',
      help: 'Samples scored per second over the last seconds',
      registers,
    });
    this.batches = new Counter({
      name: 'faultline_detector_batches_total',
      help: 'Sample batches processed',
      registers,
    });
    this.eventTransitions = new Counter({
      name: 'faultline_detector_anomaly_events_total',
      help: 'Anomaly event transitions published, by kind (opened, updated, closed)',
      labelNames: ['kind'],
      registers,
    });
    this.malformedMessages = new Counter({
      name: 'faultline_detector_malformed_messages_total',
      help: 'Undecodable messages parked on the dead-letter subject',
      labelNames: ['partition'],
      registers,
    });
    this.modelFits = new Counter({
      name: 'faultline_detector_model_fits_total',
      help: 'Isolation Forest fits, by reason (warmup, retrain)',
      labelNames: ['reason'],
      registers,
    });
    const ages = (): number[] => this.#modelAges();
    this.modelAge = new Summary({
      name: 'faultline_detector_model_age_seconds',
      help: 'Age of each host model (now minus the sample time it was fitted at), at scrape time',
      percentiles: [0, 0.5, 0.9, 1],
      registers,
      collect() {
        this.reset();
        for (const age of ages()) this.observe(age);
      },
    });
    this.eventOpenDelay = new Histogram({
      name: 'faultline_detector_event_open_delay_seconds',
      help: "Time from an anomaly event's opening sample to its publication",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.partitionsOwned = new Gauge({
      name: 'faultline_detector_partitions_owned',
      help: 'Partitions this replica holds a lease on',
      registers,
    });
    this.hosts = new Gauge({
      name: 'faultline_detector_hosts',
      help: 'Hosts this replica keeps a model for',
      registers,
    });
    this.leaseActions = new Counter({
      name: 'faultline_detector_lease_actions_total',
      help: 'Partition lease actions, by action (claimed, renewed, released, lost)',
      labelNames: ['action'],
      registers,
    });
    this.checkpoints = new Counter({
      name: 'faultline_detector_checkpoints_total',
      help: 'Partition checkpoints written',
      registers,
    });
    this.checkpointBytes = new Counter({
      name: 'faultline_detector_checkpoint_bytes_total',
      help: 'Bytes of host state written to checkpoints',
      registers,
    });
    this.hostRestores = new Counter({
      name: 'faultline_detector_host_restores_total',
      help: 'Hosts restored from checkpoints, by outcome (restored, malformed)',
      labelNames: ['outcome'],
      registers,
    });
    this.errors = new Counter({
      name: 'faultline_detector_errors_total',
      help: 'Failures in background work, by stage',
      labelNames: ['stage'],
      registers,
    });
  }

  /** Sets what the model age summary observes at each scrape: one age in seconds per host. */
  setModelAgeSource(source: () => number[]): void {
    this.#modelAges = source;
  }
}
