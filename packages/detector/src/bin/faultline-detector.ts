#!/usr/bin/env node
/**
 * `faultline-detector`: one replica of the live detector (see `StreamRunner`). Configuration
 * from flags and environment (`faultline-detector --help`), pino JSON logs on stdout,
 * `/metrics` and `/healthz` over HTTP. SIGTERM or SIGINT: final checkpoints, leases released,
 * connection drained, exit 0. Exit codes: 0 ok, 1 failure, 2 usage error. A NATS server that
 * refuses the credentials or a permission the detector needs at start is one line on stderr
 * naming the server and what it refused, and exit 1.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isInvalidNatsAuthError, natsRefusalOf } from '@faultline/protocol';
import { pino } from 'pino';

import { DETECTOR_USAGE, parseDetectorConfig } from '../config.js';
import { isInvalidOptionsError, isUsageError } from '../errors.js';
import { startMetricsServer } from '../runner/metrics-server.js';
import { StreamRunner } from '../runner/stream-runner.js';

const log = pino({ name: 'faultline-detector' });

async function main(): Promise<number> {
  let config;
  try {
    config = parseDetectorConfig(process.argv.slice(2));
  } catch (err) {
    if (isUsageError(err) || isInvalidOptionsError(err) || isInvalidNatsAuthError(err)) {
      process.stderr.write(`faultline-detector: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(DETECTOR_USAGE);
    return 0;
  }
  log.level = config.logLevel;
  const replicaId = config.runner.replicaId;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.natsUrl.split(',').map((s) => s.trim()),
      name: `faultline-detector ${replicaId}`,
      maxReconnectAttempts: -1,
      // Every output is a JetStream publish, a request: with async traces each one builds two
      // Error objects with stacks up front (about 2% of the detector's CPU at 50,000 samples/s),
      // to enrich the rare timeout, which the runner logs with its partition anyway.
      noAsyncTraces: true,
      ...config.natsAuth.connectionOptions,
    });
  } catch (err) {
    const refused = natsRefusalOf(err, config.natsUrl);
    if (refused === undefined) throw err;
    process.stderr.write(`faultline-detector: ${refused.message}\n`);
    return 1;
  }
  const runner = new StreamRunner(nc, config.runner, { log });
  try {
    await runner.start();
  } catch (err) {
    const refused = natsRefusalOf(err, config.natsUrl);
    if (refused === undefined) throw err;
    process.stderr.write(`faultline-detector: ${refused.message}\n`);
    await nc.close().catch(() => undefined);
    return 1;
  }
  const http =
    config.metricsPort >= 0
      ? await startMetricsServer(runner.metrics.registry, () => runner.health(), {
          port: config.metricsPort,
          host: config.metricsHost,
        })
      : undefined;
  log.info(
    {
      nats: config.natsUrl,
      natsAuth: config.natsAuth.description,
      replicaId,
      group: config.runner.group,
      metricsPort: http?.port ?? -1,
    },
    'detector serving',
  );
  const closedUnexpectedly = await new Promise<boolean>((resolve) => {
    process.once('SIGTERM', () => resolve(false));
    process.once('SIGINT', () => resolve(false));
    void nc.closed().then(() => resolve(true));
  });
  if (closedUnexpectedly) {
    log.error('NATS connection closed for good: exiting');
    await http?.close();
    return 1;
  }
  log.info('shutting down: final checkpoints, releasing leases');
  await runner.stop();
  await http?.close();
  await nc.drain();
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    log.error({ err }, err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
