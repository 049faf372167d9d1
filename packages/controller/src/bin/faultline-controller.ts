#!/usr/bin/env node
import { CommanderError } from 'commander';
import { pino } from 'pino';
import { parseControllerConfig } from '../config.js';
import { ControllerServer } from '../controller-server.js';
import { compileExperiment } from '@faultline/spec';

const log = pino({ name: 'faultline-controller' });

async function main(): Promise<number> {
  let options;
  try {
    options = parseControllerConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' ? 0 : 2;
    throw err;
  }
  const server = new ControllerServer(compileExperiment, options, (err, where) =>
    log.error({ err, where }, `${where} failed`),
  );
  await server.start();
  log.info(
    {
      listen: server.options.listen,
      port: server.port,
      redis: server.options.redisUrl,
      metricsPort: server.metricsPort,
    },
    'controller serving',
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  await server.stop();
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    log.error({ err }, err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
