/**
 * Faultline's private test kit: real servers on free loopback ports, each an
 * AsyncDisposable that always cleans up, and `eventually()` instead of sleeps.
 *
 * @example
 * ```ts
 * await using nats = await startNats({ jetstream: true });
 * await using redis = await startRedis();
 * await eventually(() => consumer.received === 10, { name: 'all samples', timeoutMs: 5000 });
 * ```
 */
export { eventually } from './eventually.js';
export type { EventuallyOptions } from './eventually.js';
export { startNats, NATS_INSTALL_HINT } from './nats.js';
export type { NatsServer, StartNatsOptions } from './nats.js';
export { startRedis, pingRedis, REDIS_INSTALL_HINT } from './redis.js';
export type { RedisServer } from './redis.js';
export { freePort, isListening } from './ports.js';
export { tempDir } from './temp-dir.js';
export type { TempDir } from './temp-dir.js';
export {
  MissingBinaryError,
  requireBinary,
  sweepOrphans,
  spawnTracked,
  stopTracked,
} from './process-registry.js';
export type { TrackedProcess } from './process-registry.js';
export { dockerAvailable } from './docker.js';
export { makeTestCertificates, OPENSSL_INSTALL_HINT } from './certificates.js';
export type { MakeTestCertificatesOptions, TestCertificateFiles, TestCertificates } from './certificates.js';
