/**
 * The Faultline controller and the `faultline` CLI: a gRPC server (AgentService,
 * ControlService, grpc.health.v1) with its state in Redis, the scheduler that pushes plans
 * and records truth, and the local dev stack.
 *
 * @example
 * ```ts
 * import { ControllerServer } from '@faultline/controller';
 * import { compileExperiment } from '@faultline/spec';
 * const server = new ControllerServer(compileExperiment, { listen: '127.0.0.1:0', redisUrl });
 * await server.start();
 * ```
 */
export * from './controller-server.js';
export * from './config.js';
export * from './errors.js';
export * from './scheduler.js';
export * from './store/redis-store.js';
export { ControlClient, ControllerCallError, DEFAULT_CONTROLLER } from './cli/control-client.js';
export type { ControlClientOptions } from './cli/control-client.js';
export * from './nats-permissions.js';
export * from './nats-streams.js';
export { runCli, buildProgram } from './cli/main.js';
export type { CliIo } from './cli/io.js';
export * from './dev/dev-stack.js';
