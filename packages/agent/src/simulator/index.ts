/**
 * The simulator: one process standing in for N virtual hosts. A deterministic fleet (the
 * DevOps dimensions and a server inventory), per host and tick the 20 host metrics and 5
 * process events with their documented distributions, overlays, missing values, power and
 * temperature, and plans applied to virtual hosts with labels and truth windows. Live, it
 * publishes through one SamplePublisher; backfill writes a date range to files.
 *
 * @example
 * ```ts
 * import { Simulator, backfill, LiveSimulator } from '@faultline/agent';
 * const sim = new Simulator({ seed: 42, hosts: 100 });
 * sim.sampleAll(Date.now(), (sample) => console.log(sample.hostId, sample.metrics.cpu_user_percent));
 * ```
 */
export * from './backfill.js';
export * from './dataset-rows.js';
export * from './fleet-catalog.js';
export * from './fleet-model.js';
export * from './host-metrics-model.js';
export * from './live-simulator.js';
export * from './signal-overlay.js';
export * from './simulator.js';
export * from './virtual-injection.js';
export * from './virtual-plan.js';
