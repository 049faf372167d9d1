/**
 * The Faultline agent: samples /proc (host and the workload's process tree, in prmon's
 * terms), runs workload plans within local caps as apply/recover pairs that measure what
 * they achieved, and publishes labelled samples and truth windows durably to JetStream.
 *
 * @example
 * ```ts
 * import { Agent, loadLocalPlan } from '@faultline/agent';
 * const agent = new Agent({ agentId: 'host-a', natsUrl: 'nats://127.0.0.1:14222' });
 * await agent.start();
 * const outcome = await agent.runPlan(loadLocalPlan('examples/phased-quick.yaml', agent.options, t0));
 * await agent.stop();
 * ```
 */
export * from './agent.js';
export * from './agent-metrics.js';
export * from './caps.js';
export * from './cgroup.js';
export * from './config.js';
export * from './control-link.js';
export * from './control-credentials.js';
export * from './errors.js';
export * from './executor.js';
export * from './local-plan.js';
export * from './prmon-writer.js';
export * from './proc-sampler.js';
export * from './process-tree.js';
export * from './publisher.js';
export * from './ramlog-writer.js';
export * from './sampling-loop.js';
export * from './simulator/index.js';
export * from './spool.js';
export * from './workloads/index.js';
