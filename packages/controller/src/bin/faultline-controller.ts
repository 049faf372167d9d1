#!/usr/bin/env node
import { CommanderError } from 'commander';
import { pino } from 'pino';
import { parseControllerConfig } from '../config.js';
import { ControllerServer } from '../controller-server.js';
import { isInvalidOptionsError } from '../errors.js';
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
      security: server.security(),
    },
    'controller serving',
  );
  const security = server.security();
  if (!security.tls && (security.controlTokens > 0 || security.agentTokens > 0)) {
    log.warn(
      'tokens are configured without TLS: they cross the network in clear text (set --tls-cert/--tls-key)',
    );
  }
  // Token rotation: edit the token file, then `kill -HUP <pid>`; a bad file keeps the old tokens.
  const onHup = (): void => {
    try {
      log.info({ tokens: server.reloadTokens() }, 'token files re-read');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'token files not re-read; the tokens in force stay');
    }
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.off('SIGHUP', onHup);
  log.info('shutting down');
  await server.stop();
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    // A configuration error is its message (it names the flag and the file); anything else keeps its stack.
    if (isInvalidOptionsError(err)) log.error({ field: err.field }, err.message);
    else log.error({ err }, err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
